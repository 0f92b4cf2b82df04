"""The Overview's headline numbers and trend from DuckDB aggregates equal the polars definitions:
`Store.closed_deal_counts_in_scope` + `kpis.closed_summary` against `kpis.deal_summary`, and
`Store.won_by_month_in_scope` against `kpis.won_revenue(by="month")`, on the demo over scopes,
periods (all time, half-open, empty, one day) and on generated deals through a real store (null
amounts, creation and close days, negative cycles, even and odd counts); the whole view against the
same numbers computed from the scoped deals."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data.store import TABLES, ImportWrite, Store
from metrics import kpis, schema
from metrics._common import close_day
from ui.filters import Filters
from ui.views import overview, scope_of
from tests.store_builder import DEMO_AS_OF

AS_OF = DEMO_AS_OF   # the date of the shared `demo` fixture (tests/conftest.py)
SUMMARY = ["won_deals", "lost_deals", "won_revenue", "win_rate", "avg_won_deal", "median_cycle_days"]
PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 7, 1), date(2026, 9, 30)),
           (date(2026, 10, 15), date(2026, 11, 10)), (date(2026, 1, 1), date(2026, 1, 1)),
           (date(2019, 1, 1), date(2019, 3, 31)), (date(2025, 2, 14), None), (None, date(2026, 3, 15)),
           (date(2026, 5, 1), date(2026, 4, 1))]


def _scopes(store: Store) -> list[dict]:
    dims = store.dimension_values()
    return [
        {}, {"teams": dims["teams"][:1]}, {"teams": dims["teams"][1:3]}, {"regions": dims["regions"][:1]},
        {"reps": [dims["reps"][0][0]]}, {"reps": [dims["reps"][0][0], dims["reps"][3][0]]},
        {"products": dims["products"][:1]}, {"segments": dims["segments"][:1]}, {"teams": ["no such team"]},
    ]


def _summaries_match(store: Store, scope: dict, periods: list) -> None:
    deals = store.deal_facts_in_scope(scope)
    counts = store.closed_deal_counts_in_scope(scope, periods)
    for k, (lo, hi) in enumerate(periods):
        want = kpis.deal_summary(deals, as_of=AS_OF, period_from=lo, period_to=hi).select(SUMMARY)
        got = kpis.closed_summary(counts.filter(pl.col("period") == k).drop("period"))
        assert_frame_equal(got, want)
    by_period = kpis.closed_summary(counts, by="period")
    assert by_period["period"].to_list() == sorted(counts["period"].unique().to_list())


def _months_match(store: Store, scope: dict, first: date, last: date) -> None:
    keyed = store.deal_facts_in_scope(scope).with_columns(close_day().dt.truncate("1mo").alias("month"))
    want = kpis.won_revenue(keyed, period_from=first, period_to=last, by="month").filter(pl.col("won_deals") > 0)
    got = store.won_by_month_in_scope(scope, first, last).with_columns(pl.col("won_revenue").fill_null(0.0))
    assert_frame_equal(got, want.select(got.columns), check_dtypes=False)


def test_closed_summary_of_store_counts_equals_deal_summary(demo):
    for scope in _scopes(demo):
        _summaries_match(demo, scope, PERIODS)
        _summaries_match(demo, scope, PERIODS[1:3])
    assert demo.closed_deal_counts_in_scope({}, []).height == 0


def test_won_by_month_equals_won_revenue_by_month(demo):
    for scope in _scopes(demo):
        for first, last in ((date(2015, 1, 1), date(2030, 12, 31)), (date(2025, 12, 1), date(2026, 11, 30)),
                            (date(2026, 11, 1), date(2026, 11, 30)), (date(2019, 1, 1), date(2019, 12, 31))):
            _months_match(demo, scope, first, last)


def test_closed_summary_median_of_even_odd_and_no_cycles():
    counts = pl.DataFrame({"status": ["won", "won", "won", "lost", "won"], "cycle_days": [3, 10, 20, None, None],
                           "deals": [1, 2, 1, 4, 2], "won_amount": [5.0, 30.0, 2.0, None, None],
                           "won_amounts": [1, 2, 1, 0, 0]})
    row = kpis.closed_summary(counts).row(0, named=True)
    # cycles 3, 10, 10, 20 (the two without a cycle left out): median (10 + 10) / 2
    assert row == {"won_deals": 6, "lost_deals": 4, "won_revenue": 37.0, "win_rate": 0.6,
                   "avg_won_deal": 37.0 / 4, "median_cycle_days": 10.0}
    row = kpis.closed_summary(counts.filter(pl.col("cycle_days") != 20)).row(0, named=True)
    assert row["median_cycle_days"] == 10.0 and row["won_deals"] == 3
    row = kpis.closed_summary(counts.filter(pl.col("cycle_days").is_in([3, 20]))).row(0, named=True)
    assert row["median_cycle_days"] == 11.5
    empty = kpis.closed_summary(counts.clear()).row(0, named=True)
    assert empty == {"won_deals": 0, "lost_deals": 0, "won_revenue": 0.0, "win_rate": None, "avg_won_deal": None,
                     "median_cycle_days": None}


def _write(store: Store, kind: str, rows: list[dict]) -> None:
    frame = schema.frame(kind, rows).select(TABLES[kind].columns)
    store.apply_import(ImportWrite(kind=kind, file_name=f"{kind}.csv", sha256=f"{kind}{len(rows)}",
                                   rows=frame, rows_read=frame.height))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_deals_through_a_store(tmp_path, seed):
    rng = np.random.default_rng(seed)
    n, start = int(rng.integers(1, 300)), date(2024, 1, 1)
    created = [None if rng.random() < 0.1 else start + timedelta(days=int(d)) for d in rng.integers(0, 200, n)]
    close = [None if rng.random() < 0.1 else start + timedelta(days=int(d)) for d in rng.integers(-20, 260, n)]
    status = rng.choice(["open", "won", "lost"], n, p=[0.3, 0.4, 0.3])
    amount = rng.integers(1, 500, n) * (100.0 if seed % 2 else 0.01)   # odd seeds whole, even seeds cents
    rows = [{"deal_id": f"D{i:04d}", "name": f"D{i}", "status": str(s), "stage": "Won" if s == "won" else "Lead",
             "amount": None if rng.random() < 0.15 else float(a), "created_on": c, "close_date": d,
             "closed_on": d if s != "open" and rng.random() < 0.5 else None, "currency": "EUR",
             "owner_rep_id": ("r1", "r2")[i % 2]}
            for i, (s, a, c, d) in enumerate(zip(status, amount, created, close))]
    store = Store(tmp_path / "gen.duckdb")
    try:
        _write(store, "deals", rows)
        periods = [(None, None), (date(2024, 2, 1), date(2024, 4, 30)), (date(2024, 5, 1), None),
                   (None, date(2024, 1, 31)), (date(2030, 1, 1), date(2030, 3, 31))]
        for scope in ({}, {"reps": ["r1"]}):
            deals = store.deal_facts_in_scope(scope)
            counts = store.closed_deal_counts_in_scope(scope, periods)
            for k, (lo, hi) in enumerate(periods):
                want = kpis.deal_summary(deals, as_of=AS_OF, period_from=lo, period_to=hi).select(SUMMARY)
                got = kpis.closed_summary(counts.filter(pl.col("period") == k).drop("period"))
                if seed % 2:
                    assert_frame_equal(got, want)
                else:   # cents: sums in another order may differ in the last bit
                    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)
            keyed = deals.with_columns(close_day().dt.truncate("1mo").alias("month"))
            want = kpis.won_revenue(keyed, period_from=date(2023, 1, 1), period_to=date(2025, 1, 31), by="month")
            got = store.won_by_month_in_scope(scope, date(2023, 1, 1), date(2025, 1, 31))
            assert_frame_equal(got.with_columns(pl.col("won_revenue").fill_null(0.0)),
                               want.filter(pl.col("won_deals") > 0).select(got.columns),
                               check_dtypes=False, check_exact=not seed % 2 == 0, rel_tol=1e-12)
    finally:
        store.close()


def _headline_plain(deals: pl.DataFrame, start: date | None, end: date | None) -> dict:
    row = kpis.deal_summary(deals, as_of=AS_OF, period_from=start, period_to=end).row(0, named=True)
    return {"won_revenue": row["won_revenue"] or 0.0, "win_rate": row["win_rate"],
            "avg_won_deal": row["avg_won_deal"], "sales_cycle": row["median_cycle_days"]}


def test_overview_view_equals_the_deal_summary(demo):
    """The view's headline numbers, previous period and trend equal the definitions applied to the
    scoped deals (as the view computed them before reading aggregates)."""
    windows = [("this_quarter", date(2026, 10, 1), date(2026, 12, 31)), ("custom", date(2026, 10, 15), date(2026, 11, 10)),
               ("custom", date(2026, 12, 1), date(2026, 12, 31)), ("all_time", None, None),
               ("custom", date(2019, 1, 1), date(2019, 3, 31))]
    for scope in _scopes(demo):
        for as_of in (AS_OF, date(2026, 5, 17)):
            for preset, lo, hi in windows:
                f = Filters(preset, lo, hi, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})
                v = overview.compute(demo, f)
                deals = demo.deal_facts_in_scope(scope_of(f))
                if deals.height == 0:
                    assert v.empty
                    continue
                now = _headline_plain(deals, lo, hi)
                assert {k: v.kpis[k] for k in now} == now
                p_from, p_to, how = overview.comparison_window(f)
                if how != "none":
                    assert {k: v.previous[k] for k in now} == _headline_plain(deals, p_from, p_to)
                window = overview.trend_window(f, deals.select(close_day().min()).item())
                if window is None:
                    assert v.trend.height == 0
                    continue
                last = overview._month_end(window[1])
                keyed = deals.with_columns(close_day().dt.truncate("1mo").alias("month"))
                won = kpis.won_revenue(keyed, period_from=window[0], period_to=last, by="month")
                want = (v.trend.select("month").join(won, on="month", how="left")
                        .select("month", pl.col("won_revenue").fill_null(0.0), pl.col("won_deals").fill_null(0)))
                assert_frame_equal(v.trend.select("month", "won_revenue", "won_deals"), want, check_dtypes=False)

"""The Forecast, History and Customers views read aggregates the store computes in DuckDB; each equals
the pure polars definition in metrics/ applied to the scoped rows, and each view equals what it gives
when computed the plain way (whole scoped tables handed to the metrics), on the demo company over
several scopes and periods and on generated data.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import changes, forecast, funnel
from ui.filters import Filters
from ui.views import forecast as fv
from ui.views import load, scope_of
from ui.views.customers import single_currency
from tests.store_builder import DEMO_AS_OF, demo_scopes

AS_OF = DEMO_AS_OF   # the date of the shared `demo` fixture (tests/conftest.py)


_scopes = demo_scopes


def _filters() -> list[Filters]:
    return [
        Filters("this_quarter", date(2026, 10, 1), date(2026, 12, 31), as_of=AS_OF),
        Filters("custom", date(2026, 10, 15), date(2026, 11, 10), as_of=AS_OF),      # over, cut at its end
        Filters("custom", date(2026, 11, 1), date(2027, 3, 31), as_of=AS_OF),
        Filters("custom", date(2026, 12, 1), date(2026, 12, 31), as_of=AS_OF),        # not started
        Filters("all_time", None, None, as_of=AS_OF),
    ]


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    assert_frame_equal(a.sort(keys, nulls_last=True), b.select(a.columns).sort(keys, nulls_last=True),
                       check_dtypes=False)


def _reach_by_day_plain(history: pl.DataFrame, stages: pl.DataFrame, days: list[date]) -> pl.DataFrame:
    """The definition spelled out: history_reach of the rows entered on or before each day."""
    frames = []
    for day in days:
        upto = history.filter(pl.col("entered_at").cast(pl.Date) <= day)
        frames.append(funnel.history_reach(upto, stages).select(
            "deal_id", pl.lit(day, pl.Date).alias("snapshot_date"), "hist_idx"))
    return pl.concat(frames, how="vertical")


# ------------------------------------------------------------------ forecast: store aggregates
def test_deal_facts_narrowed_to_some_columns(demo):
    scope = _scopes(demo)[1]
    cols = ("amount", "status", "closed_on")
    _same(demo.deal_facts_in_scope(scope, columns=cols), demo.deals_in_scope(scope).select(cols),
          list(cols))
    named = ("deal_id", "name", "batch_id")        # the Meeting page's extra columns
    _same(demo.deal_facts_in_scope(scope, columns=named), demo.deals_in_scope(scope).select(named), ["deal_id"])
    with pytest.raises(ValueError):
        demo.deal_facts_in_scope(scope, columns=("lost_reason",))


# ------------------------------------------------------------------ forecast: generated data
def _generated(seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Deals, stage history, stages and weekly snapshots with random stages, dates and statuses."""
    rng = np.random.default_rng(seed)
    n, start = 400, date(2024, 1, 1)
    names = ["Lead", "Qualified", "Proposal", "Negotiation"]
    stages = pl.DataFrame({"name": names + ["Won", "Lost"], "position": [1, 2, 3, 4, 5, 6],
                           "probability": [0.1, 0.2, 0.5, 0.7, 1.0, 0.0],
                           "is_won": [False] * 4 + [True, False], "is_lost": [False] * 5 + [True]})
    status = rng.choice(["open", "won", "lost"], n, p=[0.4, 0.35, 0.25])
    created = [start + timedelta(days=int(d)) for d in rng.integers(0, 150, n)]
    close = [c + timedelta(days=int(d)) for c, d in zip(created, rng.integers(5, 120, n))]
    deals = pl.DataFrame({
        "deal_id": [f"D{i:04d}" for i in range(n)], "amount": rng.integers(1, 50, n).astype(float) * 100,
        "status": status, "stage": rng.choice(names, n), "created_on": created, "close_date": close,
        "closed_on": [c if s != "open" and rng.random() < 0.7 else None for c, s in zip(close, status)],
        "probability": [None if rng.random() < 0.5 else float(p) for p in rng.random(n)],
    })
    hist_rows = []
    for i, c in enumerate(created):
        for k in range(int(rng.integers(0, 5))):
            hist_rows.append({"deal_id": f"D{i:04d}", "stage": str(rng.choice(names + ["Won", "Elsewhere"])),
                              "entered_at": datetime.combine(c, datetime.min.time()) + timedelta(days=int(rng.integers(0, 90)), hours=k)})
    history = pl.DataFrame(hist_rows)
    snap_rows = []
    for w in range(10):
        day = date(2024, 3, 3) + timedelta(days=7 * w)
        for i in rng.choice(n, 250, replace=False):
            for batch in range(int(rng.integers(1, 3))):
                snap_rows.append({"snapshot_date": day, "deal_id": f"D{int(i):04d}", "batch_id": w * 10 + batch,
                                  "stage": str(rng.choice(names)), "status": str(rng.choice(["open", "won", "lost"])),
                                  "amount": float(rng.integers(1, 50) * 100),
                                  "close_date": day + timedelta(days=int(rng.integers(-20, 80))), "owner_rep_id": "r"})
    return deals, history, stages, pl.DataFrame(snap_rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_forecast_accuracy_from_reaches_equals_the_history_rows(seed):
    deals, history, stages, snaps = _generated(seed)
    days = changes.snapshot_dates(snaps)
    reaches = _reach_by_day_plain(history, stages, days)
    _same(changes.history_reach_by_day(history, stages, days), reaches, ["snapshot_date", "deal_id"])
    for p_from, p_to, as_of in ((date(2024, 4, 1), date(2024, 6, 30), date(2024, 5, 20)),
                                (date(2024, 3, 1), date(2024, 4, 15), date(2024, 6, 1)),
                                (date(2024, 1, 1), date(2024, 12, 31), date(2024, 12, 31))):
        kw = {"as_of": as_of, "period_from": p_from, "period_to": p_to}
        plain = changes.forecast_accuracy(deals, history, stages, snaps, **kw)
        assert plain.height > 0
        assert_frame_equal(changes.forecast_accuracy(deals, None, stages, snaps, reaches=reaches, **kw), plain)
        # only the snapshots before the cut, already reduced to the latest upload, give the same
        cut = changes.latest_rows(snaps.sort("snapshot_date", "deal_id", "batch_id")).filter(
            pl.col("snapshot_date") < min(p_to, as_of))
        assert_frame_equal(changes.forecast_accuracy(deals, history, stages, cut, **kw), plain)


# ------------------------------------------------------------------ forecast: the view
def _forecast_plain(store: Store, f: Filters) -> dict[str, pl.DataFrame]:
    """The Forecast view's frames computed from the whole scoped tables, as the view used to."""
    fr = load(store, f, tables=("deals", "reps", "targets", "stage_history", "accounts"))
    plan = dict(deals=fr.deals, targets=fr.targets, reps=fr.reps, activities=fr.activities, as_of=f.as_of)
    monthly = forecast.plan_vs_actual(**plan, period_from=f.period_from, period_to=f.period_to, grain="month")
    out = {"monthly": monthly.select("period_start", "period_end", "target", "actual", "attainment", "pipeline")}
    if not f.bounded:
        return out
    fc = forecast.forecasts(fr.deals, fr.stage_history, fr.stages, as_of=f.as_of, period_from=f.period_from,
                            period_to=f.period_to)
    out["forecasts"] = fc.select("method", *fv.FORECAST_COLUMNS)
    span = dict(period_from=f.period_from, period_to=f.period_to, grain=None)
    total = forecast.plan_vs_actual(**plan, **span)
    out["total"] = total.row(0, named=True) if total.height else {}
    names = fr.reps.select("rep_id", pl.col("name").alias("rep"), "team")
    reps = forecast.plan_vs_actual(**plan, **span, scope="rep").rename({"scope_id": "rep_id"}).join(
        names, on="rep_id", how="left").with_columns(pl.coalesce("rep", "rep_id").alias("rep"))
    out["reps"] = fv._with_status(reps).select("rep_id", "rep", "team", *fv._PLAN_COLUMNS, "status")
    teams = forecast.plan_vs_actual(**plan, **span, scope="team").rename({"scope_id": "team"})
    out["teams"] = fv._with_status(teams).select("team", *fv._PLAN_COLUMNS, "status")
    out["previous"] = fv._previous(fr.deals, fr.targets, fr.reps, f)
    out["month_forecasts"] = fv._month_forecasts(fr.deals, funnel.history_reach(fr.stage_history, fr.stages),
                                                 forecast.historical_training(fr.deals, fr.stage_history, fr.stages,
                                                                              as_of=f.as_of), fr.stages, f)
    out["open_deals"] = fv._open_deals(fr.deals, names, fr.accounts, f)
    out["currency"] = single_currency(fr.deals)
    # the snapshot rows in scope, with deals since deleted in the CRM by their snapshot owner (as the
    # History and Meeting pages count them)
    out["accuracy_points"] = changes.forecast_accuracy(
        fr.deals, fr.stage_history, fr.stages, store.snapshots_with_removed_in_scope(scope_of(f)), as_of=f.as_of,
        period_from=f.period_from, period_to=f.period_to)
    return out


def test_forecast_view_equals_the_plain_computation(demo):
    for scope in _scopes(demo)[:6]:
        for f in _filters():
            f = Filters(f.preset, f.period_from, f.period_to, as_of=f.as_of, **{k: tuple(v) for k, v in scope.items()})
            v = fv.compute(demo, f)
            want = _forecast_plain(demo, f)
            assert_frame_equal(v.monthly, want["monthly"])
            assert v.win_rate == forecast.historical_win_rate(demo.deals_in_scope(scope_of(f)), as_of=f.as_of)
            if f.bounded:
                assert_frame_equal(v.forecasts, want["forecasts"])
                assert_frame_equal(v.accuracy_points, want["accuracy_points"])
                for name in ("reps", "teams", "month_forecasts", "open_deals"):
                    assert_frame_equal(getattr(v, name), want[name])
                for name in ("total", "previous"):
                    got, expected = getattr(v, name), want[name]
                    assert got.keys() == expected.keys()
                    for key, value in expected.items():
                        assert got[key] == pytest.approx(value, rel=1e-12) if isinstance(value, float) else \
                            got[key] == value, (name, key)
                assert v.currency == want["currency"]


# ------------------------------------------------------------------ customers: activity coverage
COVERAGE_PERIODS = [
    (None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 10, 15), date(2026, 12, 31)),
    (date(2026, 10, 1), date(2026, 11, 10)), (date(2026, 9, 20), date(2026, 11, 10)),
    (date(2026, 11, 3), date(2026, 11, 20)), (date(2026, 11, 1), date(2026, 11, 30)),
    (date(2025, 2, 14), None), (None, date(2026, 3, 15)), (date(2026, 5, 1), date(2026, 4, 1)),
]


def _coverage_matches(store: Store, scopes: list[dict], periods, as_ofs) -> None:
    from metrics import tiering

    for scope in scopes:
        deals, acts = store.deals_in_scope(scope), store.activities_in_scope(scope)
        tiers = tiering.abc_tiers(deals, store.accounts_in_scope(scope))
        for start, end in periods:
            for as_of in as_ofs:
                counts, last = store.activity_coverage_in_scope(scope, tiers, start, end, as_of)
                want = tiering.tier_activity_counts(tiers, deals, acts, period_from=start, period_to=end)
                _same(counts, want, ["rep_id", "tier"])
                _same(last, tiering.last_activity(deals, acts, as_of=as_of), ["account_id"])


def test_month_edges_cover_the_days_outside_whole_months():
    for start, end in COVERAGE_PERIODS + [(date(2024, 2, 1), date(2024, 2, 29)), (date(2024, 2, 2), date(2024, 2, 28)),
                                          (date(2024, 1, 31), date(2024, 3, 1))]:
        edges = Store._month_edges(start, end)
        if start is None and end is None:
            assert edges == []
            continue
        lo, hi = start or date(2024, 1, 1), end or date(2027, 12, 31)
        edge_days = {lo_ + timedelta(days=i) for lo_, hi_ in edges for i in range((hi_ - lo_).days + 1)}
        days = {lo + timedelta(days=i) for i in range(max((hi - lo).days + 1, 0))}
        whole = {d for d in days if (start is None or d.replace(day=1) >= start)
                 and (end is None or (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1) <= end)}
        assert edge_days == days - whole and not edge_days & whole


def test_activity_coverage_over_whole_and_partial_months(demo):
    _coverage_matches(demo, _scopes(demo), COVERAGE_PERIODS[:6], [AS_OF])
    _coverage_matches(demo, _scopes(demo)[:3], COVERAGE_PERIODS, [date(2026, 11, 1), date(2026, 10, 17), date(2030, 1, 1)])


def _months_match(store: Store) -> None:
    """The derived table equals the activities counted per rep, account (else deal) and month."""
    acts = store.frame("activities")
    day = pl.col("occurred_at").cast(pl.Date)
    want = acts.group_by(
        "rep_id", "account_id", pl.when(pl.col("account_id").is_null()).then(pl.col("deal_id")).alias("deal_id"),
        day.dt.truncate("1mo").alias("month"),
    ).agg(pl.len().cast(pl.Int64).alias("activities"), day.max().alias("last_day"))
    got = store.cursor().sql("SELECT * FROM activity_months").pl()
    _same(got, want, ["rep_id", "account_id", "deal_id", "month"])


def test_activity_months_follow_import_undo_clear_and_open(tmp_path):
    from tests.test_store_views import _write

    path = tmp_path / "months.duckdb"
    store = Store(path)
    _write(store, "reps", [{"rep_id": "R1", "team": "A"}, {"rep_id": "R2", "team": "B"}])
    _write(store, "accounts", [{"account_id": "AC1", "size": "SMB"}, {"account_id": "AC2", "size": "Enterprise"}])
    _write(store, "deals", [{"deal_id": "D1", "account_id": "AC2", "owner_rep_id": "R1", "status": "won",
                             "amount": 100.0, "close_date": "2024-05-20"},
                            {"deal_id": "D2", "account_id": "AC1", "owner_rep_id": "R2", "status": "won",
                             "amount": 10.0, "close_date": "2024-06-02"}])
    first = _write(store, "activities", [
        {"activity_id": f"X{i}", "rep_id": "R1" if i % 3 else "R2", "account_id": ["AC1", "AC2", None][i % 3],
         "deal_id": ["D1", None, "D1", "D2", "D9"][i % 5], "kind": "call",
         "occurred_at": None if i == 7 else f"2024-{4 + i % 3:02d}-{i % 28 + 1:02d} 1{i % 10}:00:00"}
        for i in range(60)])
    _months_match(store)
    scopes = [{}, {"segments": ["SMB"]}, {"teams": ["B"]}]
    periods = [(None, None), (date(2024, 5, 1), date(2024, 5, 31)), (date(2024, 4, 10), date(2024, 6, 3)),
               (date(2024, 5, 7), None)]
    as_ofs = [date(2024, 5, 15), date(2024, 7, 1)]
    _coverage_matches(store, scopes, periods, as_ofs)
    second = _write(store, "activities", [
        {"activity_id": f"X{i}", "rep_id": "R2", "account_id": "AC2", "kind": "meeting",
         "occurred_at": "2024-06-01 09:00:00"} for i in range(50, 70)])
    _months_match(store)
    _coverage_matches(store, scopes, periods, as_ofs)
    store.undo(second)
    _months_match(store)
    _coverage_matches(store, scopes, periods, as_ofs)
    # a file from before the table: filled when opened
    store.cursor().execute("DELETE FROM activity_months")
    store.close()
    store = Store(path)
    _months_match(store)
    assert store.cursor().execute("SELECT count(*) FROM activity_months").fetchone()[0] > 0
    store.undo(first)
    assert store.cursor().execute("SELECT count(*) FROM activity_months").fetchone()[0] == 0
    _write(store, "activities", [{"activity_id": "Y", "rep_id": "R1", "account_id": "AC1", "kind": "call",
                                  "occurred_at": "2024-05-02 10:00:00"}])
    _months_match(store)
    store.clear_all()
    assert store.cursor().execute("SELECT count(*) FROM activity_months").fetchone()[0] == 0
    store.close()


# ------------------------------------------------------------------ history
def test_snapshot_rows_without_filters_are_every_row(demo):
    rows = changes.latest_rows(demo.snapshot_rows_in_scope({}))
    removed = rows.join(demo.deals_in_scope({}).select("deal_id"), on="deal_id", how="anti")
    assert removed.height > 0                                     # deals deleted in the CRM are kept
    _same(rows.drop("batch_id"), demo.snapshots_with_removed_in_scope({}), ["snapshot_date", "deal_id"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_slipped_deals_are_the_window_deals_with_close_date_pushes(seed):
    *_, snaps = _generated(seed)
    rows = changes.latest_rows(snaps)
    for p_from, p_to in ((None, None), (date(2024, 4, 1), date(2024, 5, 31)), (date(2024, 5, 1), None)):
        by_rep, slipped = changes.slipped_close_dates(snaps, period_from=p_from, period_to=p_to)
        live = (pl.col("status") == "open") & pl.col("close_date").is_between(p_from or date.min, p_to or date.max)
        inside = rows.filter(live if p_from or p_to else pl.col("status") == "open").select("deal_id").unique()
        pushes = changes.close_date_pushes(rows.join(inside, on="deal_id", how="semi")).group_by("deal_id").agg(
            pl.len().cast(pl.Int64).alias("pushes"), pl.col("days").sum().cast(pl.Int64).alias("days_pushed"))
        assert pushes.height > 0
        _same(slipped.select("deal_id", "pushes", "days_pushed"), pushes, ["deal_id"])
        assert by_rep["pushes"].sum() == pushes["pushes"].sum()
        assert_frame_equal(changes.slipped_deals(snaps, period_from=p_from, period_to=p_to), slipped)


def test_read_only_open_of_a_database_without_its_derived_tables_says_so(tmp_path):
    from tests.test_store_views import _write

    path = tmp_path / "old.duckdb"
    store = Store(path)
    _write(store, "reps", [{"rep_id": "R1", "team": "A"}])
    _write(store, "activities", [{"activity_id": "X1", "rep_id": "R1", "kind": "call",
                                  "occurred_at": "2024-05-02 10:00:00"}])
    store.cursor().execute("DROP TABLE activity_months")   # as written by a Salescope before the table
    store.close()
    with pytest.raises(RuntimeError, match="activity_months"):
        Store(path, read_only=True)
    Store(path).close()                                     # a writable open builds it ...
    ro = Store(path, read_only=True)                        # ... and then a read-only one works
    assert ro.cursor().execute("SELECT count(*) FROM activity_months").fetchone()[0] == 1
    ro.close()

"""The Overview's attention cards from DuckDB aggregates equal the polars definitions: the bottleneck
from `Store.bottleneck_counts_in_scope` (deals counted per team, period, status and furthest stage)
against `metrics.funnel.bottleneck` over the deals and their stage-history rows, on the demo over
scopes, periods (all time, half-open, month-aligned, day-length, empty, one day) and as_of dates,
and on generated stores (hypothesis: null amounts, null and out-of-scope teams, deals without
history, closed deals whose current stage is an open one, ties in entry time, empty scope)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import funnel
from metrics._common import open_stages
from ui.filters import Filters
from ui.views import overview, scope_of
from tests import store_builder
from tests.store_builder import DEMO_AS_OF, demo_scopes

PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 7, 1), date(2026, 9, 30)),
           (date(2026, 10, 15), date(2026, 11, 10)), (date(2026, 1, 1), date(2026, 1, 1)),
           (date(2019, 1, 1), date(2019, 3, 31)), (date(2025, 2, 14), None), (None, date(2026, 3, 15)),
           (date(2026, 5, 1), date(2026, 4, 1)), (date(2026, 11, 1), date(2026, 11, 30))]


def _counts_match(store: Store, scope: dict, lo: date | None, hi: date | None, as_of: date, exact: bool) -> None:
    stages = store.stages_frame()
    idx = open_stages(stages).select("stage", "stage_index")
    deals, reps = store.deal_facts_in_scope(scope), store.reps_in_scope(scope)
    hist = store.stage_entries_in_scope(scope)
    got = store.bottleneck_counts_in_scope(scope, idx, funnel.bottleneck_periods(lo, hi, 4))
    want = funnel.bottleneck_counts(deals, hist, stages, reps, as_of=as_of, period_from=lo, period_to=hi)
    assert_frame_equal(got, want, check_exact=exact, rel_tol=1e-12)
    args = {"as_of": as_of, "period_from": lo, "period_to": hi}
    assert_frame_equal(funnel.bottleneck(deals, None, stages, reps, counts=got, **args),
                       funnel.bottleneck(deals, hist, stages, reps, **args), check_exact=exact, rel_tol=1e-12)


def test_bottleneck_counts_of_the_store_equal_the_definition_on_the_demo(demo):
    for scope in demo_scopes(demo) + [{"teams": ["no such team"]}]:
        for lo, hi in PERIODS:
            _counts_match(demo, scope, lo, hi, DEMO_AS_OF, exact=False)
    for lo, hi in PERIODS[1:4]:
        _counts_match(demo, {}, lo, hi, date(2026, 5, 17), exact=False)


def test_bottleneck_of_counts_equals_the_row_by_row_bottleneck(demo):
    """The refactored bottleneck (through `bottleneck_counts`) gives what the deal-level code gave:
    rebuilt here row by row (the cohort of each period, furthest stage per deal, mean won amount)."""
    stages = demo.stages_frame()
    for scope in demo_scopes(demo)[:3]:
        deals, reps, hist = demo.deal_facts_in_scope(scope), demo.reps_in_scope(scope), demo.stage_entries_in_scope(scope)
        for lo, hi in PERIODS[:4]:
            got = funnel.bottleneck(deals, hist, stages, reps, as_of=DEMO_AS_OF, period_from=lo, period_to=hi)
            want = _row_bottleneck(deals, hist, stages, reps, lo, hi)
            assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)


def _row_bottleneck(deals, hist, stages, reps, lo, hi) -> pl.DataFrame:
    """The deal-level bottleneck as it was written before `bottleneck_counts` (closed cohort)."""
    from metrics._common import closed_in, prepare_deals, with_team, won_in

    idx = open_stages(stages)
    prepared = with_team(prepare_deals(deals), reps)
    current = closed_in(prepared, lo, hi)
    frames = [current.with_columns(pl.lit(0, dtype=pl.Int64).alias("_period"))]
    basis = "teams" if current.select(pl.col("team").unique()).height > 1 else "earlier_periods"
    if basis == "earlier_periods":
        for k, (start, end) in enumerate(funnel.bottleneck_periods(lo, hi, 4)[1:], start=1):
            frames.append(closed_in(prepared, start, end).with_columns(pl.lit(k, dtype=pl.Int64).alias("_period")))
    frame = pl.concat(frames)
    if frame.height == 0:
        return funnel._empty_bottleneck()
    reached = funnel._furthest_reached(frame, funnel._history(hist, frame), idx, "reached")
    conv = funnel._reached_counts(reached, idx, ["team", "_period"])
    conv = conv.join(idx.select("stage_index", pl.col("stage").shift(-1).fill_null("Closed Won").alias("to_stage")),
                     on="stage_index")
    pool = conv if basis == "teams" else conv.filter(pl.col("_period") > 0)
    bench = pool.group_by("stage_index").agg(pl.col("conversion_to_next").median().alias("benchmark"))
    avg = won_in(current, None, None).group_by("team").agg(pl.col("amount").mean().alias("avg_won_deal"))
    overall = [won_in(x, None, None)["amount"].mean() for x in (current, frame)]
    out = (conv.filter(pl.col("_period") == 0).join(bench, on="stage_index", how="left")
           .join(avg, on="team", how="left", nulls_equal=True)
           .with_columns(pl.coalesce("avg_won_deal", pl.lit(overall[0], pl.Float64), pl.lit(overall[1], pl.Float64)))
           .with_columns((pl.col("benchmark") - pl.col("conversion_to_next")).alias("gap"))
           .with_columns((pl.col("gap") * pl.col("reached") * pl.col("avg_won_deal")).alias("revenue_cost"))
           .sort("team", "revenue_cost", "stage_index", descending=[False, True, False], nulls_last=True)
           .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("team").alias("rank"))
           .with_columns(((pl.col("rank") == 1) & (pl.col("revenue_cost") > 0)).fill_null(False).alias("is_bottleneck")))
    return out.select("team", pl.col("stage").alias("from_stage"), "to_stage", pl.col("reached").alias("entering"),
                      pl.col("conversion_to_next").alias("conversion"), "benchmark",
                      pl.lit(basis).alias("benchmark_basis"), "gap", "avg_won_deal", "revenue_cost", "rank",
                      "is_bottleneck").sort("revenue_cost", "team", "rank", descending=[True, False, False],
                                            nulls_last=True)


def test_overview_bottleneck_card_equals_the_definition(demo):
    for scope in demo_scopes(demo):
        for preset, lo, hi in (("this_quarter", date(2026, 10, 1), date(2026, 12, 31)), ("all_time", None, None),
                               ("custom", date(2026, 10, 15), date(2026, 11, 10))):
            f = Filters(preset, lo, hi, as_of=DEMO_AS_OF, **{k: tuple(v) for k, v in scope.items()})
            view = overview.compute(demo, f)
            s = scope_of(f)
            found = funnel.bottleneck(demo.deal_facts_in_scope(s), demo.stage_entries_in_scope(s), demo.stages_frame(),
                                      demo.reps_in_scope(s), as_of=DEMO_AS_OF, period_from=lo, period_to=hi)
            found = found.filter(pl.col("is_bottleneck"))
            if found.height == 0:
                assert view.bottleneck is None
                continue
            row = found.row(0, named=True)
            assert view.bottleneck["team"] == row["team"] and view.bottleneck["from_stage"] == row["from_stage"]
            assert view.bottleneck["revenue_cost"] == pytest.approx(row["revenue_cost"], rel=1e-12)


# ------------------------------------------------------------------------------------ generated stores
STAGES = ["Lead", "Demo", "Proposal", "Won", "Lost"]
DAYS = [date(2024, 1, 1) + timedelta(days=d) for d in (0, 20, 45, 80, 95, 120, 170)]
deal = st.fixed_dictionaries({
    "status": st.sampled_from(["open", "won", "lost"]),
    "stage": st.sampled_from(STAGES + ["Gone"]),
    "amount": st.one_of(st.none(), st.sampled_from([0.01, 1.1, 250.0, 99.99])),
    "owner": st.sampled_from(["R1", "R2", "R3", "R9", None]),
    "closed_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "close_date": st.one_of(st.none(), st.sampled_from(DAYS)),
    "history": st.lists(st.tuples(st.sampled_from(STAGES), st.sampled_from(DAYS[:5])), max_size=4),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(deal, max_size=14), periods=st.sampled_from(
    [(None, None), (date(2024, 3, 1), date(2024, 3, 31)), (date(2024, 2, 1), date(2024, 4, 30)),
     (date(2024, 4, 1), date(2024, 4, 20)), (date(2024, 1, 21), None)]))
def test_bottleneck_counts_on_generated_stores(tmp_path_factory, deals, periods):
    stages = store_builder.stages_frame(STAGES, "Won", "Lost")
    rows = [{"deal_id": f"D{i}", "name": f"D{i}", "status": d["status"], "stage": d["stage"], "amount": d["amount"],
             "owner_rep_id": d["owner"], "closed_on": d["closed_on"], "close_date": d["close_date"],
             "created_on": date(2023, 12, 1), "currency": "EUR", "account_id": "A1"} for i, d in enumerate(deals)]
    history = sorted({(f"D{i}", s, str(day)) for i, d in enumerate(deals) for s, day in d["history"]})
    reps = [{"rep_id": "R1", "name": "One", "team": "North"}, {"rep_id": "R2", "name": "Two", "team": "South"},
            {"rep_id": "R3", "name": "Three", "team": None}]
    path = tmp_path_factory.mktemp("gen") / "gen.duckdb"
    store_builder.build(path, stages=stages, reps=reps, accounts=[{"account_id": "A1", "name": "A"}],
                        deal_snapshots=[(date(2024, 6, 1), rows)] if rows else [], history=history)
    store = Store(path)
    try:
        lo, hi = periods
        for scope in ({}, {"teams": ["North"]}, {"reps": ["R1", "R3"]}, {"teams": ["nobody"]}):
            _counts_match(store, scope, lo, hi, date(2024, 6, 1), exact=False)
    finally:
        store.close()

"""The Overview's plans and attention cards from DuckDB aggregates equal the polars definitions: the
bottleneck from `Store.bottleneck_counts_in_scope` (deals counted per team, period, status and
furthest stage; both funnel methods at once, as the Funnel page reads them, from
`Store.bottleneck_counts_by_method_in_scope`, and the funnel's own deals from
`Store.funnel_reach_counts_in_scope` against `metrics.funnel.reach_counts`) against `metrics.funnel.bottleneck` over the deals and
their stage-history rows;
attainment, coverage and the plan gap from `Store.plan_sums_in_scope` against
`metrics.forecast.plan_vs_actual` over the deals; the stalled card from `Store.stage_days_in_scope`
against `metrics.funnel.stalled`. On the demo over scopes, periods (all time, half-open,
month-aligned, day-length, empty, one day) and as_of dates, and on generated stores (hypothesis:
null amounts, stages, owners and days, null and out-of-scope teams, deals without history, closed
deals whose current stage is an open one, entries after as_of, ties in entry time, empty scope)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import forecast, funnel
from metrics._common import close_day, open_stages, with_team
from ui.filters import Filters
from ui.views import empty, overview, scope_of
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
    # both funnel methods in one pass (the Funnel page's bottlenecks)
    both = store.bottleneck_counts_by_method_in_scope(scope, idx, funnel.bottleneck_periods(lo, hi, 4))
    want_both = funnel.bottleneck_counts_by_method(deals, hist, stages, reps, as_of=as_of, period_from=lo, period_to=hi)
    assert set(both) == set(want_both) == {"reached", "strict"}
    for method, frame in both.items():
        assert_frame_equal(frame, want_both[method], check_exact=exact, rel_tol=1e-12)
    # the funnel's deals (closed in the period or open at as_of) per team, owner, status and reach
    funnel_counts = store.funnel_reach_counts_in_scope(scope, idx, lo, hi, as_of)
    want_funnel = funnel.reach_counts(with_team(deals, reps), hist, stages, as_of=as_of, period_from=lo, period_to=hi,
                                      by=("team", "owner_rep_id"))
    for method, frame in funnel_counts.items():
        assert_frame_equal(frame, want_funnel[method])
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


# ------------------------------------------------------------------------------------ plans and stalled deals
def _plans_match(store: Store, scope: dict, lo: date | None, hi: date | None, as_of: date, exact: bool) -> None:
    deals, reps, targets = store.deal_facts_in_scope(scope), store.reps_in_scope(scope), store.targets_in_scope(scope)
    span = forecast.plan_span(targets, lo, hi)
    if span is None:
        assert forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=as_of, period_from=lo,
                                       period_to=hi).height == 0
        return
    got = store.plan_sums_in_scope(scope, span[0], span[1], as_of)
    assert_frame_equal(got, forecast.plan_sums(deals, as_of=as_of, period_from=span[0], period_to=span[1]),
                       check_exact=exact, rel_tol=1e-12)
    for level in ("company", "team", "rep"):
        for grain in (None, "month", "quarter"):
            for measure in ("revenue", "deals"):
                args = {"as_of": as_of, "period_from": lo, "period_to": hi, "scope": level, "grain": grain,
                        "measure": measure}
                want = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), **args)
                assert_frame_equal(forecast.plan_vs_actual(empty("deals"), targets, reps, empty("activities"),
                                                           sums=got, **args), want, check_exact=exact, rel_tol=1e-12)


def _stalled_match(store: Store, scope: dict, as_of: date, exact: bool) -> None:
    stages = store.stages_frame()
    idx = open_stages(stages).select("stage", "stage_index")
    deals, hist = store.deal_facts_in_scope(scope), store.stage_entries_in_scope(scope)
    days = store.stage_days_in_scope(scope, as_of)
    want = funnel.stage_days(deals, funnel.current_stage_entries(deals, hist, as_of=as_of), as_of=as_of)
    assert_frame_equal(days, want, check_exact=exact, rel_tol=1e-12)
    stays = store.completed_stays_in_scope(scope, idx)
    found = funnel.stalled(deals, hist, stages, as_of=as_of)
    want = (found.group_by("stage").agg(pl.len().cast(pl.Int64).alias("deals"),
                                        pl.col("amount").sum().fill_null(0.0).cast(pl.Float64))
            .sort("amount", "stage", descending=[True, False]))
    assert_frame_equal(funnel.stalled_by_stage(days, stays, stages), want, check_exact=exact, rel_tol=1e-12)
    for q, fixed in ((0.5, None), (0.9, {"Prospecting": 3.0, "Lead": 0.0})):
        found = funnel.stalled(deals, hist, stages, as_of=as_of, quantile=q, thresholds=fixed)
        got = funnel.stalled_by_stage(days, stays, stages, quantile=q, thresholds=fixed)
        assert got["deals"].sum() == found.height and got["stage"].sort().to_list() == found["stage"].unique().sort().to_list()


def test_plan_sums_of_the_store_equal_the_definition_on_the_demo(demo):
    for scope in demo_scopes(demo) + [{"teams": ["no such team"]}]:
        for lo, hi in PERIODS[:8]:
            _plans_match(demo, scope, lo, hi, DEMO_AS_OF, exact=False)
    for lo, hi in PERIODS[1:4]:
        _plans_match(demo, {}, lo, hi, date(2026, 5, 17), exact=False)


def test_stalled_by_stage_from_the_store_equals_stalled_on_the_demo(demo):
    for scope in demo_scopes(demo) + [{"teams": ["no such team"]}]:
        for as_of in (DEMO_AS_OF, date(2026, 5, 17), date(2025, 1, 1)):
            _stalled_match(demo, scope, as_of, exact=False)


def _attention_reference(store: Store, f: Filters) -> dict:
    """Attainment, pipeline coverage, plan gap and stalled card as the view computed them from the
    deals and stage-history rows (before the sums)."""
    s = scope_of(f)
    deals, reps, targets = store.deal_facts_in_scope(s), store.reps_in_scope(s), store.targets_in_scope(s)
    hist, stages = store.stage_entries_in_scope(s), store.stages_frame()
    plan = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=f.as_of, period_from=f.period_from,
                                   period_to=f.period_to, scope="company", grain=None).filter(pl.col("target").is_not_null())
    target = float(plan["target"].sum()) if plan.height else None
    out = {"attainment": float(plan["actual"].sum()) / target if target else None,
           "pipeline_coverage": plan["pipeline_coverage"][0] if plan.height == 1 else None}
    level = overview.plan_level(reps)
    gap = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=f.as_of, period_from=f.period_from,
                                  period_to=f.period_to, scope=level, grain=None)
    gap = gap.filter(pl.col("target").is_not_null() & (pl.col("gap") > 0)).sort("gap", descending=True)
    out["plan_gap"] = None if gap.height == 0 else (gap["scope_id"][0], gap["gap"][0])
    found = funnel.stalled(deals, hist, stages, as_of=f.as_of)
    out["stalled"] = None if found.height == 0 else (found.height, float(found["amount"].fill_null(0).sum()))
    return out


def test_overview_plan_and_stalled_cards_equal_the_definitions(demo):
    approx = lambda x: None if x is None else pytest.approx(x, rel=1e-12)   # noqa: E731
    for scope in demo_scopes(demo)[:5] + [{"products": ()}]:
        for as_of in (DEMO_AS_OF, date(2026, 5, 17)):
            for preset, lo, hi in (("this_quarter", date(2026, 10, 1), date(2026, 12, 31)), ("all_time", None, None),
                                   ("custom", date(2026, 10, 15), date(2026, 11, 10))):
                f = Filters(preset, lo, hi, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})
                view, want = overview.compute(demo, f), _attention_reference(demo, f)
                assert view.kpis["attainment"] == approx(want["attainment"])
                assert view.kpis["pipeline_coverage"] == approx(want["pipeline_coverage"])
                got_gap = None if view.plan_gap is None else (view.plan_gap["id"], view.plan_gap["gap"])
                assert (got_gap is None) == (want["plan_gap"] is None)
                if got_gap:
                    assert got_gap[0] == want["plan_gap"][0] and got_gap[1] == approx(want["plan_gap"][1])
                got_st = None if view.stalled is None else (view.stalled["deals"], view.stalled["amount"])
                assert (got_st is None) == (want["stalled"] is None)
                if got_st:
                    assert got_st[0] == want["stalled"][0] and got_st[1] == approx(want["stalled"][1])


open_deal = st.fixed_dictionaries({
    "status": st.sampled_from(["open", "open", "won", "lost"]),
    "stage": st.sampled_from(STAGES + [None]),
    "amount": st.one_of(st.none(), st.sampled_from([0.01, 1.1, 250.0, 99.99])),
    "owner": st.sampled_from(["R1", "R2", "R3", "R9", None]),
    "created_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "closed_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "close_date": st.one_of(st.none(), st.sampled_from(DAYS)),
    "history": st.lists(st.tuples(st.sampled_from(STAGES), st.sampled_from(DAYS)), max_size=4),
    "currency": st.sampled_from(["EUR", "USD", None]),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(open_deal, max_size=14), as_of=st.sampled_from([DAYS[2], DAYS[4], DAYS[6]]),
       span=st.sampled_from([(DAYS[0], DAYS[6]), (date(2024, 2, 1), date(2024, 4, 30)), (DAYS[3], DAYS[3])]))
def test_plan_sums_and_stage_days_on_generated_stores(tmp_path_factory, deals, as_of, span):
    """Null amounts, stages, owners and days; entries after as_of; months cut by the span; empty scope."""
    stages = store_builder.stages_frame(STAGES, "Won", "Lost")
    rows = [{"deal_id": f"D{i}", "name": f"D{i}", "status": d["status"], "stage": d["stage"], "amount": d["amount"],
             "owner_rep_id": d["owner"], "closed_on": d["closed_on"], "close_date": d["close_date"],
             "created_on": d["created_on"], "currency": d["currency"], "account_id": "A1"} for i, d in enumerate(deals)]
    history = sorted({(f"D{i}", s, str(day)) for i, d in enumerate(deals) for s, day in d["history"]})
    reps = [{"rep_id": "R1", "name": "One", "team": "North"}, {"rep_id": "R2", "name": "Two", "team": "South"},
            {"rep_id": "R3", "name": "Three", "team": None}]
    path = tmp_path_factory.mktemp("gen") / "gen.duckdb"
    store_builder.build(path, stages=stages, reps=reps, accounts=[{"account_id": "A1", "name": "A"}],
                        deal_snapshots=[(date(2024, 6, 1), rows)] if rows else [], history=history)
    store = Store(path)
    try:
        for scope in ({}, {"teams": ["North"]}, {"reps": ["R1", "R3"]}, {"teams": ["nobody"]}):
            d = store.deal_facts_in_scope(scope)
            assert_frame_equal(store.plan_sums_in_scope(scope, span[0], span[1], as_of),
                               forecast.plan_sums(d, as_of=as_of, period_from=span[0], period_to=span[1]),
                               check_exact=False, rel_tol=1e-12)
            _stalled_match(store, scope, as_of, exact=False)
            assert store.first_close_day_in_scope(scope) == d.select(close_day().min()).item()
            assert store.deal_currencies_in_scope(scope) == (d.height, sorted(d["currency"].drop_nulls().unique()))
    finally:
        store.close()


def test_deal_count_and_currencies_in_every_scope(demo):
    for scope in demo_scopes(demo) + [{"teams": ["no such team"]}, {"regions": ["no such region"]}]:
        deals = demo.deals_in_scope(scope)
        assert demo.deal_currencies_in_scope(scope) == (deals.height, sorted(deals["currency"].drop_nulls().unique()))
        assert demo.first_close_day_in_scope(scope) == deals.select(close_day().min()).item()


def test_reach_is_read_from_deal_reach_only_for_the_stored_pipeline(demo):
    """The furthest stage (bottleneck counts, history reach, the funnel's stage reach) comes from the
    derived `deal_reach` when the caller numbers the open stages as the stored pipeline does; for
    another numbering (a pipeline edited since, a test's own) it is computed from `stage_facts` with
    that numbering, and both equal the definition."""
    stages = demo.stages_frame()
    cur = demo.cursor()
    assert "deal_reach" in demo._reach_cte(cur, open_stages(stages).select("stage", "stage_index"), "p")
    n = stages.height
    other = stages.with_columns((n + 1 - pl.col("position")).alias("position"))     # the open stages reversed
    idx = open_stages(other).select("stage", "stage_index")
    assert idx["stage"].to_list() != open_stages(stages)["stage"].to_list()
    assert "deal_reach" not in demo._reach_cte(cur, idx, "p")
    for scope in demo_scopes(demo)[:3]:
        deals, reps, hist = demo.deal_facts_in_scope(scope), demo.reps_in_scope(scope), demo.stage_entries_in_scope(scope)
        for lo, hi in PERIODS[:4]:
            got = demo.bottleneck_counts_in_scope(scope, idx, funnel.bottleneck_periods(lo, hi, 4))
            want = funnel.bottleneck_counts(deals, hist, other, reps, as_of=DEMO_AS_OF, period_from=lo, period_to=hi)
            assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)
        for st_frame in (stages, other):
            i = open_stages(st_frame).select("stage", "stage_index")
            assert_frame_equal(demo.history_reach_in_scope(scope, i), funnel.history_reach(hist, st_frame))
            assert_frame_equal(demo.stage_reach_in_scope(scope, i), funnel.stage_reach(hist, st_frame))
            lost = deals.filter(pl.col("status") == "lost")["deal_id"]
            assert_frame_equal(demo.history_reach_in_scope(scope, i, status="lost"),
                               funnel.history_reach(hist.filter(pl.col("deal_id").is_in(lost.implode())), st_frame))

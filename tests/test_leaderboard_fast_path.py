"""The Leaderboard view reads the deals counted per owner (`Store.closed_counts_by_owner_in_scope`,
`Store.open_counts_by_owner_in_scope`) and daily activity counts from the store; its boards equal
`metrics.leaderboard.leaderboard` over the whole scoped deals and activities, on the demo company over
several scopes, periods and as-of dates, and on generated stores (hypothesis: null owners, amounts,
creation and close days, negative cycles, owners without a rep row or a team, reps without deals,
deals only outside every period, all-time and half-open periods)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from tests import store_builder

from metrics import leaderboard
from metrics._common import previous_period
from ui.filters import Filters
from ui.views import leaderboard as lv
from ui.views import scope_of
from ui.views.overview import comparison_window
from tests.store_builder import DEMO_AS_OF, DEMO_PERIODS, demo_scopes

PERIODS = DEMO_PERIODS


def _plain(store, f: Filters, by: str) -> dict:
    """The boards computed the plain way: every column of every scoped deal, the raw activities."""
    scope = scope_of(f)
    deals, acts = store.deals_in_scope(scope), store.activities_in_scope(scope)
    reps, targets = store.reps_in_scope(scope), store.targets_in_scope(scope)

    def board(start, end, as_of):
        return leaderboard.leaderboard(deals, reps, acts, targets, as_of=as_of, period_from=start,
                                       period_to=end, by=by)

    prev = previous_period(f.period_from, f.period_to)
    cut_from, cut_to, how = comparison_window(f)
    now = board(f.period_from, f.period_to, f.as_of)
    before = board(prev[0], prev[1], min(f.as_of, prev[1])) if prev else now.head(0)
    return {"board": now, "previous": before,
            "to_date": board(cut_from, cut_to, min(f.as_of, cut_to)) if how == "to_date" else before}


@pytest.mark.parametrize("as_of", [DEMO_AS_OF, date(2026, 6, 30)])
def test_leaderboard_view_equals_the_metric_over_whole_rows(demo, as_of):
    compared = 0
    for scope in demo_scopes(demo):
        for preset, start, end in PERIODS:
            f = Filters(preset, start, end, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})
            compared += _same_boards(demo, f)
    assert compared >= 70


def _same_boards(store, f: Filters) -> int:
    """The view's boards equal the plain ones for every grouping; how many were compared (0: an empty
    view, which then has no deal and no activity in scope)."""
    view = lv.compute(store, f)
    if view.empty:
        assert store.deals_in_scope(scope_of(f)).height == store.activities_in_scope(scope_of(f)).height == 0
        return 0
    for by in lv.BY:
        want = _plain(store, f, by)
        assert_frame_equal(view.boards[by], want["board"])
        assert_frame_equal(view.previous[by], want["previous"])
        assert_frame_equal(view.to_date[by], want["to_date"])
    return len(lv.BY)


DAYS = [date(2024, 1, 1) + timedelta(days=d) for d in (0, 31, 60, 91, 120, 150, 182, 400)]
deal = st.fixed_dictionaries({
    "status": st.sampled_from(["open", "won", "lost"]),
    "amount": st.one_of(st.none(), st.sampled_from([0.01, 1.1, 250.0, 99.99])),
    "owner": st.sampled_from(["R1", "R2", "R3", "R9", None]),
    "created_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "closed_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "close_date": st.one_of(st.none(), st.sampled_from(DAYS)),
})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(deal, max_size=12), as_of=st.sampled_from([DAYS[2], DAYS[4], DAYS[6]]))
@example(deals=[{"status": "won", "amount": 5.0, "owner": "R1", "created_on": DAYS[4], "closed_on": DAYS[4],
                 "close_date": None},                                   # a cycle of 0 days counts
                {"status": "won", "amount": None, "owner": "R1", "created_on": DAYS[5], "closed_on": DAYS[4],
                 "close_date": None}], as_of=DAYS[6])                  # a negative one is unknown
def test_leaderboard_view_on_generated_stores(tmp_path_factory, deals, as_of):
    rows = [{"deal_id": f"D{i}", "name": f"D{i}", "status": d["status"], "stage": "Lead", "amount": d["amount"],
             "owner_rep_id": d["owner"], "created_on": d["created_on"], "closed_on": d["closed_on"],
             "close_date": d["close_date"], "currency": "EUR", "account_id": "A1"} for i, d in enumerate(deals)]
    reps = [{"rep_id": "R1", "name": "One", "team": "North"}, {"rep_id": "R2", "name": "Two", "team": "South"},
            {"rep_id": "R3", "name": "Three", "team": None}, {"rep_id": "R4", "name": "Four", "team": "North"}]
    path = tmp_path_factory.mktemp("gen") / "gen.duckdb"
    store_builder.build(path, stages=store_builder.stages_frame(["Lead", "Won", "Lost"], "Won", "Lost"), reps=reps,
                        accounts=[{"account_id": "A1", "name": "A"}],
                        deal_snapshots=[(date(2025, 3, 1), rows)] if rows else [],
                        activities=[{"activity_id": "X1", "rep_id": "R4", "kind": "call", "occurred_at": "2024-02-02 10:00:00"}])
    store = Store(path)
    try:
        for preset, start, end in (("this_quarter", DAYS[3], DAYS[6] - timedelta(days=1)), ("all_time", None, None),
                                   ("custom", DAYS[1], None), ("this_month", DAYS[4], DAYS[5] - timedelta(days=1))):
            for scope in ({}, {"teams": ("North",)}, {"reps": ("R1", "R3")}):
                _same_boards(store, Filters(preset, start, end, as_of=as_of, **scope))
    finally:
        store.close()

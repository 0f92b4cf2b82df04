"""The Leaderboard view reads only the deal columns a board needs and daily activity counts from the
store; its boards equal `metrics.leaderboard.leaderboard` over the whole scoped deals and activities,
on the demo company over several scopes, periods and as-of dates."""
from __future__ import annotations

from datetime import date

import pytest
from polars.testing import assert_frame_equal

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
            view = lv.compute(demo, f)
            if view.empty:
                assert demo.deals_in_scope(scope_of(f)).height == 0
                continue
            for by in lv.BY:
                want = _plain(demo, f, by)
                assert_frame_equal(view.boards[by], want["board"])
                assert_frame_equal(view.previous[by], want["previous"])
                assert_frame_equal(view.to_date[by], want["to_date"])
                compared += 1
    assert compared >= 70

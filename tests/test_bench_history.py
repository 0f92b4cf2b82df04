"""The benchmark's references for the History view: the hand-written SQL floor (`bench.floor.HISTORY`)
and the pandas peer (`bench.pandas_peer.history`) give the view's headline numbers (the waterfall
between the last two snapshots: each bar's amount and deals), on the demo company over every scope
and period, and on generated stores with deals deleted in the CRM, several uploads on one date,
missing amounts and close dates on the period's edges."""
from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import floor, headline, pandas_peer
from tests.store_builder import DEMO_AS_OF, demo_scopes
from tests.test_history_fast_path import GEN_PERIODS, SCOPES, _store, companies
from ui.filters import Filters
from ui.views import history

DEMO_PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 11, 1), date(2026, 11, 30))]


def _agree(store, f: Filters) -> dict:
    """The view's headline; the floor and the peer agree with it."""
    ours = headline.of_view("history", history.compute(store, f))
    assert headline.differences(ours, floor.compute("history", store.cursor(), f)) == [], ("floor", f)
    assert headline.differences(ours, pandas_peer.compute("history", store.cursor(), f)) == [], ("pandas", f)
    return ours


def test_floor_and_peer_give_the_history_headline_on_the_demo(demo):
    moved = 0
    for scope in demo_scopes(demo):
        for p_from, p_to in DEMO_PERIODS:
            ours = _agree(demo, Filters("custom", p_from, p_to, as_of=DEMO_AS_OF, **scope))
            assert ours["bar"][0] == "start" and ours["bar"][-1] == "end" and len(ours["bar"]) == 10
            moved += sum(ours["deals"][1:-1])
    assert moved > 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=companies())
def test_floor_and_peer_give_the_history_headline_on_generated_stores(tmp_path_factory, uploads):
    store = _store(tmp_path_factory.mktemp("gen") / "h.duckdb", uploads)
    try:
        for scope in SCOPES:
            for p_from, p_to in GEN_PERIODS:
                _agree(store, Filters("custom", p_from, p_to, as_of=date(2026, 10, 20), **scope))
    finally:
        store.close()

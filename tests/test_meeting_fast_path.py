"""The Meeting page without the stage history or the snapshots in polars: the agenda from the
stand-ins the other pages read (waterfall deals of the two compared snapshots, history reach and one
snapshot at a time for the forecast accuracy, completed stays and current entries for the stalled
deals, quality checks from stage coverage and last open snapshots) equals the agenda computed the
plain way (every scoped row of deals, stage history and snapshots through `meeting_agenda`), on the
demo over every shared scope and several periods, and on generated stores over their scopes, periods
and three as_of dates.
"""
from __future__ import annotations

from dataclasses import fields
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from data.store import Store
from metrics.agenda import Agenda, meeting_agenda
from tests.store_builder import demo_scopes, pairwise
from tests.test_history_fast_path import GEN_PERIODS, SCOPES, _store, companies
from ui.filters import Filters
from ui.views import load, meeting, scope_of
from ui.views.history import single_currency

# during the uploads' weeks (2026-09-27 .. 10-18), just after them, and at the year's end
GEN_AS_OFS = (date(2026, 9, 30), date(2026, 10, 20), date(2026, 12, 31))


def plain(store: Store, f: Filters) -> meeting.MeetingView:
    """The view as it was computed before the stand-ins: whole scoped tables through meeting_agenda."""
    fr = load(store, f, tables=("deals", "reps", "accounts", "targets", "stage_history"))
    snaps = store.snapshots_with_removed_in_scope(scope_of(f), store.cursor())
    agenda = meeting_agenda(
        deals=fr.deals, reps=fr.reps, accounts=fr.accounts, activities=fr.activities, targets=fr.targets,
        stages=fr.stages, stage_history=fr.stage_history, snapshots=snaps, as_of=f.as_of,
        period_from=f.period_from, period_to=f.period_to,
    )
    board = agenda.leaderboard
    ranks = dict(zip(board["rep_id"].to_list(), board["rank"].to_list(), strict=True))
    return meeting.MeetingView(empty=fr.deals.height == 0, currency=single_currency(fr.deals), agenda=agenda,
                               ranks=meeting._complete(ranks, agenda))


def _frame(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    try:
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-6)
    except AssertionError as exc:
        raise AssertionError(f"{what}: {exc}") from exc


def assert_same_view(new: meeting.MeetingView, old: meeting.MeetingView) -> None:
    assert (new.empty, new.currency, new.ranks) == (old.empty, old.currency, old.ranks)
    for fld in fields(Agenda):
        a, b = getattr(new.agenda, fld.name), getattr(old.agenda, fld.name)
        if fld.name == "change":
            assert (a is None) == (b is None)
            if a is not None:
                assert (a.from_snapshot, a.to_snapshot) == (b.from_snapshot, b.to_snapshot)
                _frame(a.bars, b.bars, "bars")
                _frame(a.deals, b.deals, "change deals")
        elif fld.name == "deal_lists":
            assert a.keys() == b.keys()
            for bar in a:
                _frame(a[bar], b[bar], bar)
        elif isinstance(b, pl.DataFrame):
            _frame(a, b, fld.name)
        elif fld.name in ("plan", "sums"):
            assert a.keys() == b.keys()
            for k in a:
                assert a[k] == pytest.approx(b[k], rel=1e-12, abs=1e-9) if isinstance(b[k], float) else a[k] == b[k], k
        else:
            assert a == b, fld.name


def test_meeting_view_equals_the_plain_computation_on_the_demo(demo):
    periods = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 11, 1), date(2026, 11, 30)),
               (date(2026, 12, 1), date(2026, 12, 31)), (date(2026, 7, 1), date(2026, 9, 30))]
    for scope in demo_scopes(demo):
        for p_from, p_to in periods:
            # as of 2026-11-03; DEMO_AS_OF over the same periods (but 07-01..09-30): test_meeting_aggregated_inputs.py
            f = Filters("custom", p_from, p_to, as_of=date(2026, 11, 3), **scope)
            assert_same_view(meeting.compute(demo, f), plain(demo, f))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=companies())
def test_meeting_view_equals_the_plain_computation_on_generated_stores(tmp_path_factory, uploads):
    """Every scope with every period, the as_of dates taken in turn so that every scope and every
    period meets each of them."""
    store = _store(tmp_path_factory.mktemp("gen") / "m.duckdb", uploads)
    try:
        for scope, (p_from, p_to), as_of in pairwise(SCOPES, GEN_PERIODS, GEN_AS_OFS):
            f = Filters("custom", p_from, p_to, as_of=as_of, **scope)
            assert_same_view(meeting.compute(store, f), plain(store, f))
    finally:
        store.close()

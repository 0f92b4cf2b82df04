"""Deals deleted in the CRM between snapshots, and the accuracy of past forecasts.

`metrics.changes.forecast_accuracy` judges each forecast on the deals as they stood at its snapshot
(`metrics.changes.deals_at_snapshot`: "deals the snapshot shows are kept, also those since deleted"):
a deal in the pipeline then was part of what the forecast saw, whatever became of it. The History
page places such a deal in a scope by its snapshot owner (`Store.snapshots_with_removed_in_scope`).
The Forecast page and the Meeting page therefore show one accuracy for one filter, counting deleted
deals that way; before, the Forecast page left them out and could disagree with the Meeting page.
"""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import changes
from tests.store_builder import DEMO_AS_OF, demo_scopes, stages_frame, write
from tests.test_history_fast_path import GEN_PERIODS, SCOPES, _store, companies
from ui.filters import Filters
from ui.views import forecast, meeting, scope_of

CLOSE = {"check_exact": False, "rel_tol": 1e-12, "abs_tol": 1e-6}
PERIOD = (date(2026, 10, 1), date(2026, 12, 31))
AS_OF = date(2026, 11, 15)
SNAP_DAYS = [date(2026, 10, 4), date(2026, 10, 11), date(2026, 10, 18), date(2026, 10, 25)]


def _deal(deal_id: str, owner: str, status: str, stage: str, amount: float, close: date,
          closed_on: date | None = None, product: str = "P1") -> dict:
    return {"deal_id": deal_id, "account_id": "A1", "owner_rep_id": owner, "name": deal_id, "product": product,
            "amount": amount, "currency": "EUR", "stage": stage, "status": status, "created_on": date(2026, 9, 1),
            "close_date": close, "closed_on": closed_on}


def _company(path) -> Store:
    """Three reps in two teams; four weekly deals uploads; two deals deleted in the CRM after the
    first snapshots: X1 (R1's, open, due in the period) shown at the first two, X2 (R3's, won early
    in the period) shown at the second."""
    store = Store(path)
    write(store, "reps", [{"rep_id": "R1", "name": "Ann", "team": "North"}, {"rep_id": "R2", "name": "Bo", "team": "North"},
                          {"rep_id": "R3", "name": "Cy", "team": "South"}],
          stages=stages_frame(["Lead", "Qualified", "Proposal", "Won", "Lost"], "Won", "Lost"))
    write(store, "accounts", [{"account_id": "A1", "name": "Acme", "size": "SMB"}])
    won = _deal("D1", "R1", "won", "Won", 4000.0, date(2026, 10, 20), date(2026, 10, 20))
    for k, day in enumerate(SNAP_DAYS):
        rows = [
            won if day >= date(2026, 10, 20) else _deal("D1", "R1", "open", "Proposal", 4000.0, date(2026, 10, 20)),
            _deal("D2", "R2", "open", "Qualified", 2500.0, date(2026, 11, 10)),
            _deal("D3", "R3", "open", "Lead", 1500.0, date(2026, 12, 5), product="P2"),
        ]
        if day >= date(2026, 10, 18):
            rows.append(_deal("D4", "R3", "won", "Won", 3000.0, date(2026, 10, 16), date(2026, 10, 16), product="P2"))
        batch = write(store, "deals", rows, snapshot_date=day, file_name=f"deals{k}.csv")
        gone = [_deal("X1", "R1", "open", "Proposal", 9000.0, date(2026, 11, 5))] if k < 2 else []
        gone += [_deal("X2", "R3", "won", "Won", 6000.0, date(2026, 10, 8))] if k == 1 else []
        if gone:
            store.append_snapshots(pl.DataFrame(gone).with_columns(pl.lit(day).alias("snapshot_date")), batch)
    return store


def _definition(store: Store, f: Filters, snapshots: pl.DataFrame) -> pl.DataFrame:
    scope = scope_of(f)
    return changes.forecast_accuracy(store.deals_in_scope(scope), store.stage_history_in_scope(scope),
                                     store.stages_frame(), snapshots, as_of=f.as_of, period_from=f.period_from,
                                     period_to=f.period_to)


def _same_accuracy(store: Store, f: Filters) -> int:
    """The Forecast page's accuracy points equal the definition over the scoped snapshot rows with
    the deleted deals, and its per-method accuracy and best method equal the Meeting page's; returns
    how many points were compared."""
    fc, mt = forecast.compute(store, f), meeting.compute(store, f)
    if fc.empty:            # nothing in scope but deleted deals, and no target: the Forecast page shows nothing
        return 0
    want = _definition(store, f, store.snapshots_with_removed_in_scope(scope_of(f)))
    assert_frame_equal(fc.accuracy_points, want, **CLOSE)
    assert_frame_equal(fc.accuracy, mt.agenda.accuracy, **CLOSE)
    assert fc.best_method == mt.agenda.best_method
    return want.height


def test_deleted_deals_count_in_the_accuracy_on_both_pages(tmp_path):
    store = _company(tmp_path / "deleted.duckdb")
    try:
        for scope in ({}, {"teams": ("North",)}, {"teams": ("South",)}, {"reps": ("R1",)}, {"reps": ("R3",)},
                      {"products": ("P1",)}):
            f = Filters("custom", *PERIOD, as_of=AS_OF, **scope)
            assert _same_accuracy(store, f) > 0, scope
        # the deleted deals change what was forecast then: X1 (9,000 in Proposal) in North's weighted
        # pipeline at the first two snapshots, X2 (won 6,000) in South's run rate at the second
        for team, day in (("North", SNAP_DAYS[0]), ("South", SNAP_DAYS[1])):
            f = Filters("custom", *PERIOD, as_of=AS_OF, teams=(team,))
            points = forecast.compute(store, f).accuracy_points.filter(pl.col("snapshot_date") == day)
            without = _definition(store, f, store.snapshots_in_scope(scope_of(f))).filter(
                pl.col("snapshot_date") == day)
            assert (points["forecast"] > without["forecast"]).any(), team
        # a product filter cannot place a deleted deal (it has no product): none counts
        f = Filters("custom", *PERIOD, as_of=AS_OF, products=("P1",))
        assert_frame_equal(forecast.compute(store, f).accuracy_points,
                           _definition(store, f, store.snapshots_in_scope(scope_of(f))), **CLOSE)
    finally:
        store.close()


DEMO_WINDOWS = [(date(2026, 10, 1), date(2026, 12, 31), DEMO_AS_OF), (date(2026, 11, 1), date(2027, 3, 31), DEMO_AS_OF),
                (date(2026, 7, 1), date(2026, 12, 31), date(2026, 11, 1))]


def test_forecast_and_meeting_agree_on_the_demo(demo):
    """The demo company has deals deleted in the CRM (open deals shown by early snapshots only)."""
    assert demo.snapshots_with_removed_in_scope({}).height > demo.snapshots_in_scope({}).height
    compared = 0
    for scope in demo_scopes(demo):
        for p_from, p_to, as_of in DEMO_WINDOWS:
            compared += _same_accuracy(demo, Filters("custom", p_from, p_to, as_of=as_of, **scope))
    assert compared > 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=companies())
def test_forecast_and_meeting_agree_on_generated_stores(tmp_path_factory, uploads):
    store = _store(tmp_path_factory.mktemp("gen") / "d.duckdb", uploads)
    try:
        for scope in SCOPES:
            for p_from, p_to in GEN_PERIODS:
                if p_from is not None and p_to is not None:
                    _same_accuracy(store, Filters("custom", p_from, p_to, as_of=date(2026, 10, 20), **scope))
    finally:
        store.close()


@pytest.mark.parametrize("as_of", [date(2026, 10, 12), AS_OF])
def test_the_meeting_counts_deleted_deals_as_the_definition_does(tmp_path, as_of):
    """The Meeting page's accuracy, now from the Forecast page's path, is the definition's."""
    store = _company(tmp_path / "m.duckdb")
    try:
        for scope in ({}, {"teams": ("North",)}, {"reps": ("R3",)}):
            f = Filters("custom", *PERIOD, as_of=as_of, **scope)
            want = changes.forecast_mape(_definition(store, f, store.snapshots_with_removed_in_scope(scope_of(f))))
            assert_frame_equal(meeting.compute(store, f).agenda.accuracy, want, **CLOSE)
    finally:
        store.close()

"""The History page from grouped DuckDB queries (no snapshot row handed to polars): each store query
equals its definition in metrics.changes over the scoped, reduced snapshot rows, and the whole view
equals the plain computation (every snapshot row of the scope through the metrics), on the demo over
every shared scope, several periods and pairs of snapshots, and on generated stores with the edge
cases (deals appearing and disappearing between snapshots, amount changes, close dates moved across
period boundaries, several uploads on one day, missing amounts and close dates, an empty scope).
"""
from __future__ import annotations

import random
from dataclasses import fields
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import changes
from metrics._common import open_stages
from tests.store_builder import DEMO_AS_OF, demo_scopes, pairwise, stages_frame, write
from ui.filters import Filters
from ui.views import history, scope_of

PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 11, 1), date(2026, 11, 30)),
           (date(2026, 12, 1), None), (None, date(2026, 10, 31)), (date(2030, 1, 1), date(2030, 1, 31))]


def plain(store: Store, f: Filters, from_snapshot: date | None = None,
          to_snapshot: date | None = None) -> history.HistoryView:
    """The view as it was computed before the grouped queries: every scoped snapshot row through the metrics."""
    cur, scope = store.cursor(), scope_of(f)
    n_deals, currencies = store.deal_currencies_in_scope(scope, cur)
    reps_in_scope, targets, stages = store.reps_in_scope(scope, cur), store.targets_in_scope(scope, cur), \
        store.stages_frame(cur)
    snaps = changes.latest_rows(store.snapshot_rows_in_scope(scope, cur))
    dates = tuple(changes.snapshot_dates(snaps))
    a, b = history.pick(dates, from_snapshot, to_snapshot)
    window = {"period_from": f.period_from, "period_to": f.period_to}
    change = changes.pipeline_change(snaps, from_snapshot=a, to_snapshot=b, **window)
    by_rep, slipped = changes.slipped_close_dates(snaps, **window)
    listed = pl.concat([change.deals["deal_id"], slipped["deal_id"]]).unique().to_list()
    names = store.deal_names_in_scope(scope, listed, cur)
    reps = reps_in_scope.select("rep_id", pl.col("name").alias("rep"))
    deals = (change.deals.join(names, on="deal_id", how="left")
             .join(reps, left_on="owner_rep_id", right_on="rep_id", how="left")
             .with_columns(pl.coalesce("name", "deal_id").alias("name"), pl.coalesce("rep", "owner_rep_id").alias("owner")))
    slipped = slipped.join(names, on="deal_id", how="left").join(
        reps, left_on="owner_rep_id", right_on="rep_id", how="left").with_columns(
        pl.coalesce("name", "deal_id").alias("name"), pl.coalesce("rep", "owner_rep_id").alias("rep"))
    by_rep = by_rep.join(reps, left_on="owner_rep_id", right_on="rep_id", how="left")
    return history.HistoryView(
        empty=n_deals == 0 and snaps.height == 0,
        dates=dates, from_snapshot=a, to_snapshot=b, currency=currencies[0] if len(currencies) == 1 else None,
        bars=change.bars,
        deals=deals.select("bar", "deal_id", "name", "account", "owner", "stage_before", "stage_after", "close_before",
                           "close_after", "amount_before", "amount_after", "change"),
        slipped_reps=by_rep.with_columns(pl.coalesce("rep", "owner_rep_id").alias("rep")).select(
            "owner_rep_id", "rep", "tracked_deals", "slipped_deals", "pushes", "days_pushed", "avg_days_per_push",
            "flagged_deals", "slip_rate"),
        slipped_deals=slipped.select("deal_id", "name", "account", "rep", "stage", "amount", "first_close_date",
                                     "last_close_date", "pushes", "days_pushed", "flagged"),
        at_snapshot=changes.pipeline_at(snaps, stages, **window),
        trend=changes.pipeline_trend(snaps, targets, **window),
        stages=tuple(open_stages(stages)["stage"].to_list()),
    )


def assert_same_view(new: history.HistoryView, old: history.HistoryView) -> None:
    """Field by field, rows in the same order; sums of amounts over many rows within float rounding."""
    for fld in fields(history.HistoryView):
        a, b = getattr(new, fld.name), getattr(old, fld.name)
        if isinstance(b, pl.DataFrame):
            assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, abs_tol=1e-6)
        else:
            assert a == b, fld.name


# ------------------------------------------------------------------ the demo
def test_history_view_equals_the_plain_computation_on_the_demo(demo):
    dates = demo.snapshot_dates()
    assert len(dates) >= 3
    pairs = [(None, None), (dates[0], dates[-1]), (dates[1], dates[2]), (dates[-1], dates[0]), (dates[2], dates[2])]
    scopes = demo_scopes(demo)
    # all time with every pair of snapshots; the other periods with the latest two or the first and
    # last in turn (every scope and every period meets both)
    runs = [(scope, (None, None), pair) for scope in scopes for pair in pairs]
    runs += pairwise(scopes, [p for p in PERIODS if p != (None, None)], pairs[:2])
    for scope, (p_from, p_to), (a, b) in runs:
        f = Filters("custom", p_from, p_to, as_of=DEMO_AS_OF, **scope)
        assert_same_view(history.compute(demo, f, a, b), plain(demo, f, a, b))


def test_store_queries_equal_their_definitions_on_the_demo(demo):
    dates = demo.snapshot_dates()
    for scope in demo_scopes(demo):
        rows = changes.latest_rows(demo.snapshot_rows_in_scope(scope))
        for p_from, p_to in PERIODS[:4]:
            window = {"period_from": p_from, "period_to": p_to}
            _grouped_equal(demo.snapshot_pipeline_in_scope(scope, p_from, p_to),
                           changes.snapshot_pipeline(rows, **window))
            assert_frame_equal(demo.change_deals_in_scope(scope, dates[-2], dates[-1], p_from, p_to),
                               changes.change_deals(rows, from_snapshot=dates[-2], to_snapshot=dates[-1], **window))
            tracked, slipped = demo.slipped_in_scope(scope, p_from, p_to)
            assert_frame_equal(slipped, changes.slipped_deals(rows, **window))
            assert_frame_equal(tracked.sort("owner_rep_id", nulls_last=True),
                               changes.tracked_by_rep(rows, **window).sort("owner_rep_id", nulls_last=True))


def _grouped_equal(got: pl.DataFrame, want: pl.DataFrame) -> None:
    keys = ["snapshot_date", "status", "stage", "close_month"]
    assert_frame_equal(got.sort(keys, nulls_last=True), want.sort(keys, nulls_last=True), check_exact=False,
                       rel_tol=1e-12)


def test_an_empty_scope_is_empty(demo):
    f = Filters("all_time", None, None, reps=("nobody",), as_of=DEMO_AS_OF)
    view = history.compute(demo, f)
    assert view.empty and view.dates == () and view.deals.height == 0 and view.trend.height == 0
    assert_same_view(view, plain(demo, f))


# ------------------------------------------------------------------ generated stores
STAGES = ["Lead", "Qualified", "Proposal", "Won", "Lost"]
DAYS = [date(2026, 9, 27) + timedelta(days=7 * k) for k in range(4)]      # 2026-09-27 .. 2026-10-18
CLOSES = [date(2026, 9, 30), date(2026, 10, 1), date(2026, 10, 31), date(2026, 11, 1), date(2026, 12, 31),
          date(2027, 1, 1), None]                                        # on and beside the period edges


@st.composite
def companies(draw):
    """Up to 12 deals over 4 weekly uploads (a few on the same day as the one before): each upload
    holds a random subset of the deals (appearing, disappearing, coming back), with random stages,
    statuses, amounts (some missing, some with cents) and close dates on and beside month and
    quarter edges; owners from two teams. Up to 3 more deals (ids X..) were deleted in the CRM: only
    snapshot rows show them (marked "deleted", appended to the upload's batch as the demo does, or to
    a batch of their own when the upload holds no other deal)."""
    n = draw(st.integers(0, 12))
    gone = draw(st.integers(0, 3))
    uploads = []
    for k, day in enumerate(DAYS):
        rows = []
        for i in range(n + gone):
            if not draw(st.booleans()) and k and draw(st.booleans()):
                continue                                                  # absent from this upload
            status = draw(st.sampled_from(["open", "open", "open", "won", "lost"]))
            stage = {"won": "Won", "lost": "Lost"}.get(status) or draw(st.sampled_from(STAGES[:3]))
            amount = draw(st.sampled_from([None, 0.0, 100.0, 250.5, 1000.0, 99.99]))
            rows.append({"deal_id": f"D{i:02d}" if i < n else f"X{i:02d}", "account_id": "A1",
                         "owner_rep_id": draw(st.sampled_from(["R1", "R2", "R3"])),
                         "name": f"Deal {i}", "product": draw(st.sampled_from(["P1", "P2"])), "amount": amount,
                         "currency": "EUR", "stage": stage, "status": status, "created_on": date(2026, 9, 1),
                         "close_date": draw(st.sampled_from(CLOSES)), "deleted": i >= n})
        uploads.append((day, rows))
        if draw(st.integers(0, 3)) == 0:                                 # a second upload on the same day
            again = [dict(r, amount=(r["amount"] or 0) + 10.0) for r in rows[: len(rows) // 2]]
            uploads.append((day, again))
    return uploads


def _store(path, uploads) -> Store:
    store = Store(path)
    write(store, "reps", [{"rep_id": "R1", "name": "Ann", "team": "North"}, {"rep_id": "R2", "name": "Bo", "team": "North"},
                          {"rep_id": "R3", "name": "Cy", "team": "South"}],
          stages=stages_frame(STAGES, "Won", "Lost"))
    write(store, "accounts", [{"account_id": "A1", "name": "Acme", "size": "SMB"}])
    for k, (day, rows) in enumerate(uploads):
        kept = [{c: v for c, v in r.items() if c != "deleted"} for r in rows if not r.get("deleted")]
        batch = write(store, "deals", kept, snapshot_date=day, file_name=f"deals{k}.csv") if kept else 1000 + k
        deleted = [r for r in rows if r.get("deleted")]
        if deleted:
            store.append_snapshots(pl.DataFrame(deleted).with_columns(pl.lit(day).alias("snapshot_date")), batch)
    return store


SCOPES = [{}, {"teams": ("North",)}, {"reps": ("R3",)}, {"products": ("P1",)}, {"reps": ("nobody",)}]
GEN_PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 10, 1), date(2026, 10, 31)),
               (date(2026, 11, 1), None)]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(uploads=companies(), seed=st.integers(0, 10_000))
def test_history_view_equals_the_plain_computation_on_generated_stores(tmp_path_factory, uploads, seed):
    store = _store(tmp_path_factory.mktemp("gen") / "h.duckdb", uploads)
    try:
        rnd = random.Random(seed)
        dates = store.snapshot_dates()
        # every scope with every period, comparing the latest two snapshots and a drawn pair in turn
        for scope, (p_from, p_to), drawn in pairwise(SCOPES, GEN_PERIODS, (False, True)):
            f = Filters("custom", p_from, p_to, as_of=date(2026, 10, 20), **scope)
            a, b = (rnd.choice(dates), rnd.choice(dates)) if drawn and dates else (None, None)
            assert_same_view(history.compute(store, f, a, b), plain(store, f, a, b))
    finally:
        store.close()

"""The store's aggregated reads for views equal the metric definitions they stand in for.

Each `*_in_scope` aggregate (computed in DuckDB) is compared with the pure polars definition in
metrics/ applied to the scoped rows (`deals_in_scope`, `activities_in_scope`, ...), on the demo
company and on a hand-made store with odd kinds, unlinked activities and undone batches. The
derived `activity_daily` table is checked after import, undo and clear.
"""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data.demo_load import load_demo
from data.store import TABLES, ImportWrite, Store
from metrics import funnel, leaderboard, schema, tiering
from metrics._common import close_day, earlier_period, open_at, open_stages, within

AS_OF = date(2026, 11, 22)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("store_views") / "demo.duckdb")
    load_demo(store, as_of=AS_OF)
    yield store
    store.close()


def _scopes(store: Store) -> list[dict]:
    dims = store.dimension_values()
    return [
        {}, {"teams": dims["teams"][:1]}, {"teams": dims["teams"][1:3]}, {"regions": dims["regions"][:1]},
        {"reps": [dims["reps"][0][0], dims["reps"][3][0]]}, {"products": dims["products"][:1]},
        {"segments": dims["segments"][:1]}, {"teams": dims["teams"][:1], "segments": dims["segments"][1:]},
    ]


PERIODS = [(None, None), (date(2026, 10, 1), date(2026, 12, 31)), (date(2025, 1, 1), None)]


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    assert_frame_equal(a.sort(keys, nulls_last=True), b.select(a.columns).sort(keys, nulls_last=True),
                       check_dtypes=False)


def test_deal_facts_and_stage_entries_are_the_scoped_rows(demo):
    for scope in _scopes(demo):
        full = demo.deals_in_scope(scope)
        facts = demo.deal_facts_in_scope(scope)
        _same(facts, full, ["deal_id"])
        _same(demo.stage_entries_in_scope(scope), demo.stage_history_in_scope(scope), ["deal_id", "stage", "entered_at"])


def test_activity_daily_counts_equal_the_metric(demo):
    for scope in _scopes(demo):
        want = leaderboard.daily_activity_counts(demo.activities_in_scope(scope))
        got = demo.activity_daily_in_scope(scope)
        _same(got, want, ["rep_id", "day"])


def test_activity_coverage_equals_tier_counts_and_last_activity(demo):
    for scope in _scopes(demo):
        deals, acts = demo.deals_in_scope(scope), demo.activities_in_scope(scope)
        tiers = tiering.abc_tiers(deals, demo.accounts_in_scope(scope))
        for start, end in PERIODS:
            counts, last = demo.activity_coverage_in_scope(scope, tiers, start, end, AS_OF)
            want = tiering.tier_activity_counts(tiers, deals, acts, period_from=start, period_to=end)
            _same(counts, want, ["rep_id", "tier"])
        _same(last, tiering.last_activity(deals, acts, as_of=AS_OF), ["account_id"])
        early = AS_OF - timedelta(days=200)
        _, last = demo.activity_coverage_in_scope(scope, tiers, None, None, early)
        _same(last, tiering.last_activity(deals, acts, as_of=early), ["account_id"])


def test_stage_aggregates_equal_the_metric(demo):
    stages = demo.stages_frame()
    idx = open_stages(stages).select("stage", "stage_index")
    for scope in _scopes(demo):
        deals, hist = demo.deals_in_scope(scope), demo.stage_history_in_scope(scope)
        _same(demo.history_reach_in_scope(scope, idx), funnel.history_reach(hist, stages), ["deal_id"])
        _same(demo.completed_stays_in_scope(scope, idx), funnel.completed_stays(deals, hist, stages),
              ["stage_index", "days"])
        for as_of in (AS_OF, AS_OF - timedelta(days=90)):
            _same(demo.current_stage_entries_in_scope(scope, as_of),
                  funnel.current_stage_entries(deals, hist, as_of=as_of), ["deal_id"])


def test_stalled_and_bottleneck_from_aggregates_equal_the_raw_path(demo):
    stages, reps = demo.stages_frame(), demo.reps_in_scope({})
    idx = open_stages(stages).select("stage", "stage_index")
    for scope in _scopes(demo)[:3]:
        deals, hist = demo.deals_in_scope(scope), demo.stage_history_in_scope(scope)
        raw = funnel.stalled(deals, hist, stages, as_of=AS_OF)
        agg = funnel.stalled(deals, None, stages, as_of=AS_OF, stays=demo.completed_stays_in_scope(scope, idx),
                             entries=demo.current_stage_entries_in_scope(scope, AS_OF))
        assert_frame_equal(raw, agg)
        assert raw.height > 0
        for start, end in PERIODS[:2]:
            raw = funnel.bottleneck(deals, hist, stages, reps, as_of=AS_OF, period_from=start, period_to=end)
            agg = funnel.bottleneck(deals, None, stages, reps, as_of=AS_OF, period_from=start, period_to=end,
                                    reach=demo.history_reach_in_scope(scope, idx))
            assert_frame_equal(raw, agg)
            # what the overview asks for: only lost deals, closed in the compared periods
            earliest = earlier_period(start, end, 4)
            lost = demo.history_reach_in_scope(scope, idx, status="lost", closed_to=end,
                                               closed_from=earliest[0] if earliest else start)
            agg = funnel.bottleneck(deals, None, stages, reps, as_of=AS_OF, period_from=start, period_to=end,
                                    reach=lost)
            assert_frame_equal(raw, agg)
            assert lost.height < demo.history_reach_in_scope(scope, idx).height


def test_owner_deals_are_the_period_deals_of_one_name(demo):
    start, end = date(2026, 10, 1), date(2026, 12, 31)
    for scope in _scopes(demo)[:5]:
        deals, reps, accounts = demo.deals_in_scope(scope), demo.reps_in_scope(scope), demo.accounts_in_scope(scope)
        closed = deals.filter(pl.col("status").is_in(["won", "lost"]) & within(close_day(), start, end))
        rows = pl.concat([closed, open_at(deals, AS_OF)]).join(
            reps.select(pl.col("rep_id").alias("owner_rep_id"), "team"), on="owner_rep_id", how="left")
        for by, column in (("rep", "owner_rep_id"), ("team", "team")):
            key = rows[column].drop_nulls().mode().sort()[0]
            got = demo.owner_deals_in_scope(scope, start, end, AS_OF, by, key)
            assert sorted(got["deal_id"].to_list()) == sorted(rows.filter(pl.col(column) == key)["deal_id"].to_list())
            order = got["status"].replace_strict({"won": 0, "open": 1, "lost": 2}).to_list()
            assert order == sorted(order)
            names = dict(zip(accounts["account_id"], accounts["name"]))
            assert all(a == names.get(i, i) for a, i in zip(got["account"], deals.join(
                got.select("deal_id"), on="deal_id", how="semi").sort(
                pl.col("deal_id").replace_strict({d: n for n, d in enumerate(got["deal_id"])}))["account_id"]))


def test_quantile_of_counts_equals_polars_quantile():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 7, 40, 333):
        values = rng.integers(0, 60, n)
        frame = pl.DataFrame({"g": rng.integers(0, 3, n), "days": values})
        counts = frame.group_by("g", "days").agg(pl.len().alias("deals"))
        for q in (0.0, 0.1, 0.5, 0.75, 0.9, 1.0):
            want = frame.group_by("g").agg(pl.col("days").quantile(q, interpolation="linear").alias("quantile"))
            got = funnel.quantile_of_counts(counts, q, by="g")
            assert_frame_equal(got, want.sort("g"))


# ------------------------------------------------------------------ the derived table follows writes
def _write(store: Store, kind: str, rows: list[dict]) -> int:
    frame = schema.frame(kind, rows).select(TABLES[kind].columns)
    return store.apply_import(ImportWrite(kind=kind, file_name=f"{kind}.csv", sha256=f"{kind}{len(rows)}",
                                          rows=frame, rows_read=frame.height)).batch_id


def _daily_matches(store: Store) -> None:
    for scope in ({}, {"segments": ["SMB"]}, {"segments": ["Enterprise"]}):
        want = leaderboard.daily_activity_counts(store.activities_in_scope(scope))
        _same(store.activity_daily_in_scope(scope), want, ["rep_id", "day"])


def test_activity_daily_is_rebuilt_after_import_undo_and_clear(tmp_path):
    store = Store(tmp_path / "derived.duckdb")
    _write(store, "reps", [{"rep_id": "R1", "team": "A"}, {"rep_id": "R2", "team": "B"}])
    _write(store, "accounts", [{"account_id": "AC1", "size": "SMB"}, {"account_id": "AC2", "size": "Enterprise"}])
    kinds = ["call", " Call ", "EMAIL", "visit\u3000", "fax", None, "task", "meeting"]
    first = _write(store, "activities", [
        {"activity_id": f"X{i}", "rep_id": "R1" if i % 3 else "R2", "account_id": ["AC1", "AC2", None][i % 3],
         "kind": kinds[i % len(kinds)], "occurred_at": f"2024-05-{i % 9 + 1:02d} 1{i % 10}:00:00"}
        for i in range(40)])
    _daily_matches(store)
    assert store.activity_daily_in_scope({})["activities"].sum() == 40
    assert store.activity_daily_in_scope({})["activities_other"].sum() > 0
    # an update to some activities and new ones
    second = _write(store, "activities", [
        {"activity_id": f"X{i}", "rep_id": "R2", "account_id": "AC2", "kind": "meeting",
         "occurred_at": "2024-06-01 09:00:00"} for i in range(30, 50)])
    _daily_matches(store)
    assert store.activity_daily_in_scope({})["activities"].sum() == 50
    # a segment changes with an accounts upload
    _write(store, "accounts", [{"account_id": "AC1", "size": "Enterprise"}])
    _daily_matches(store)
    assert store.activity_daily_in_scope({"segments": ["SMB"]}).height == 0
    store.undo(store.imports_frame()["batch_id"][0])
    _daily_matches(store)
    assert store.activity_daily_in_scope({"segments": ["SMB"]}).height > 0
    store.undo(second)
    _daily_matches(store)
    assert store.activity_daily_in_scope({})["activities"].sum() == 40
    store.undo(first)
    assert store.activity_daily_in_scope({}).height == 0
    _write(store, "activities", [{"activity_id": "Y", "rep_id": "R1", "kind": "call",
                                  "occurred_at": "2024-05-02 10:00:00"}])
    assert store.activity_daily_in_scope({})["activities"].sum() == 1
    store.clear_all()
    assert store.activity_daily_in_scope({}).height == 0
    store.close()


def _stays_match(store: Store) -> None:
    stages = store.stages_frame()
    idx = open_stages(stages).select("stage", "stage_index")
    want = funnel.completed_stays(store.deals_in_scope({}), store.stage_history_in_scope({}), stages)
    _same(store.completed_stays_in_scope({}, idx), want, ["stage_index", "days"])


def test_stage_intervals_are_rebuilt_after_import_undo_and_clear(tmp_path):
    store = Store(tmp_path / "intervals.duckdb")
    load_demo(store, as_of=AS_OF)
    _stays_match(store)
    hist = store.stage_history_in_scope({})
    deal = hist["deal_id"][0]
    batch = _write(store, "stage_history", [{"deal_id": deal, "stage": hist["stage"][0],
                                             "entered_at": "2020-01-01 00:00:00", "inferred": False}])
    _stays_match(store)
    store.undo(batch)
    _stays_match(store)
    store.clear_all()
    assert store.cursor().execute("SELECT count(*) FROM stage_intervals").fetchone()[0] == 0
    store.close()


def test_derived_tables_are_filled_for_a_database_written_before_them(tmp_path):
    path = tmp_path / "old.duckdb"
    store = Store(path)
    _write(store, "activities", [{"activity_id": "X1", "rep_id": "R1", "kind": "call",
                                  "occurred_at": "2024-05-02 10:00:00"}])
    _write(store, "stage_history", [{"deal_id": "D1", "stage": "Lead", "entered_at": "2024-05-02 10:00:00", "inferred": False},
                                    {"deal_id": "D1", "stage": "Demo", "entered_at": "2024-05-04 10:00:00", "inferred": False}])
    for name in Store.DERIVED_FROM:                      # as a file from before the derived tables
        store.cursor().execute(f"DELETE FROM {name}")
    store.close()
    store = Store(path)
    assert store.activity_daily_in_scope({})["activities"].to_list() == [1]
    rows = store.cursor().execute("SELECT stage, next_at FROM stage_intervals ORDER BY entered_at").fetchall()
    assert [r[0] for r in rows] == ["Lead", "Demo"] and rows[1][1] is None and rows[0][1] is not None
    store.close()


def test_snapshot_rows_reduce_to_the_latest_upload_per_date_and_deal(demo):
    from metrics import changes

    for scope in _scopes(demo)[:4]:
        want = demo.snapshots_with_removed_in_scope(scope)
        got = changes.latest_rows(demo.snapshot_rows_in_scope(scope))
        _same(got.drop("batch_id"), want, ["snapshot_date", "deal_id"])
    # in key order or shuffled, duplicates or not: the same rows (highest batch wins)
    rng = np.random.default_rng(5)
    rows = pl.DataFrame({"snapshot_date": [date(2024, 1, 1) + timedelta(days=7 * int(i)) for i in rng.integers(0, 3, 60)],
                         "deal_id": [f"D{i}" for i in rng.integers(0, 12, 60)], "batch_id": rng.permutation(60),
                         "amount": rng.random(60)})
    slow = changes.latest_rows(rows)
    fast = changes.latest_rows(rows.sort("snapshot_date", "deal_id", "batch_id"))
    assert_frame_equal(slow, fast)
    assert fast.select(pl.struct("snapshot_date", "deal_id").n_unique()).item() == fast.height


def test_deal_names_and_currencies(demo):
    scope = _scopes(demo)[1]
    deals = demo.deals_in_scope(scope)
    ids = deals["deal_id"].head(5).to_list() + ["not-a-deal"]
    names = demo.deal_names_in_scope(scope, ids)
    assert names["deal_id"].to_list() == sorted(ids[:5])
    n, currencies = demo.deal_currencies_in_scope(scope)
    assert n == deals.height and currencies == sorted(deals["currency"].drop_nulls().unique().to_list())

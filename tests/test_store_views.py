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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.demo_load import load_demo
from data.store import TABLES, ImportWrite, Store
from metrics import funnel, leaderboard, schema, tiering
from metrics._common import close_day, earlier_period, open_at, open_stages, within
from tests.test_metrics_funnel import pipelines
from tests.store_builder import DEMO_AS_OF, demo_scopes

AS_OF = DEMO_AS_OF   # the date of the shared `demo` fixture (tests/conftest.py)


_scopes = demo_scopes


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


def test_stage_reach_and_funnel_stays_equal_the_metric(demo):
    from metrics._common import deals_in_scope, prepare_deals

    stages = demo.stages_frame()
    idx = open_stages(stages).select("stage", "stage_index")
    for scope in _scopes(demo):
        deals, hist = demo.deals_in_scope(scope), demo.stage_history_in_scope(scope)
        _same(demo.stage_reach_in_scope(scope, idx), funnel.stage_reach(hist, stages), ["deal_id"])
        assert demo.has_stage_history_in_scope(scope) == (hist.height > 0)
        for start, end in PERIODS:
            for as_of in (AS_OF, AS_OF - timedelta(days=120)):
                cohort = deals_in_scope(prepare_deals(deals), start, end, as_of)
                want = funnel.completed_stays(cohort, hist, stages, by="owner_rep_id")
                got = demo.funnel_stays_in_scope(scope, idx, start, end, as_of)
                _same(got, want, ["owner_rep_id", "stage_index", "days"])
                assert got.height > 0


def test_funnel_view_from_aggregates_equals_the_history_rows(demo):
    """The Funnel page's numbers from the store's aggregates equal `funnel_set`, `bottleneck` and
    `stalled` over the history rows (both methods, overall, per team and per rep)."""
    from metrics._common import with_team
    from ui.filters import Filters
    from ui.views import funnel as view

    stages = demo.stages_frame()
    for scope in _scopes(demo)[:5]:
        deals, hist, reps = demo.deals_in_scope(scope), demo.stage_history_in_scope(scope), demo.reps_in_scope(scope)
        for start, end in PERIODS[:2]:
            f = Filters("custom" if start else "all_time", start, end, as_of=AS_OF, **{k: tuple(v) for k, v in scope.items()})
            got = view.compute(demo, f)
            args = {"as_of": AS_OF, "period_from": start, "period_to": end}
            want = funnel.funnel_set(with_team(deals, reps), hist, stages, groupings=(None, "team", "owner_rep_id"), **args)
            for method in view.METHODS:
                assert_frame_equal(got.funnels[method], want[(method, None)])
                assert_frame_equal(got.compare[(method, "team")], want[(method, "team")])
                assert_frame_equal(got.compare[(method, "rep")], want[(method, "owner_rep_id")])
                assert_frame_equal(got.bottlenecks[method],
                                   funnel.bottleneck(deals, hist, stages, reps, method=method, **args))
            raw = funnel.stalled(deals, hist, stages, as_of=AS_OF)
            assert got.stalled["deal_id"].to_list() == raw["deal_id"].to_list()
            assert got.stalled["name"].to_list() == raw["name"].to_list()
            assert got.stalled["over_by_days"].to_list() == raw["over_by_days"].to_list()


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
    _same(store.stage_reach_in_scope({}, idx), funnel.stage_reach(store.stage_history_in_scope({}), stages), ["deal_id"])


def test_stage_facts_are_rebuilt_after_import_undo_and_clear(tmp_path):
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
    assert store.cursor().execute("SELECT count(*) FROM stage_facts").fetchone()[0] == 0
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
    facts = store.cursor().execute("SELECT stage, mid_days, mid_n, is_last FROM stage_facts ORDER BY first_at").fetchall()
    assert facts == [("Lead", 2, 1, False), ("Demo", 0, 0, True)]
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


def test_accounts_without_an_owner_filter_skip_the_deals_and_are_the_same_rows(demo):
    """Without a team, region, rep or product in scope the accounts are read without the owner test (no pass
    over the deals): the same rows, in the same order, as the scope's whole statement gives."""
    sizes = demo.accounts_in_scope({})["size"].drop_nulls().unique().sort().to_list()
    products = demo.deals_in_scope({})["product"].drop_nulls().unique().sort().to_list()
    for scope in ({}, {"segments": sizes[:1]}, {"products": products[:1]}, {"segments": sizes[1:], "products": products}):
        whole = Store._ACCOUNTS_IN_SCOPE.format(reps=Store._REPS_IN_SCOPE, deals=Store._DEALS_IN_SCOPE)
        want = demo._scoped(whole, scope, None, ("teams", "regions", "reps", "products", "segments"))
        assert_frame_equal(demo.accounts_in_scope(scope), want)
        assert want.height > 0


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pipelines(), st.sampled_from([(None, None), (date(2024, 2, 1), date(2024, 3, 31))]))
def test_stage_facts_equal_the_metric_on_generated_histories(tmp_path, data, period):
    """Generated pipelines (ties in entry time, deals without history, one stage, re-entered
    stages) through a real store: reach, counted stays and current entries equal the definitions."""
    from metrics._common import deals_in_scope, prepare_deals

    deals, hist, stages = data
    path = tmp_path / f"gen{abs(hash((deals.height, hist.height, period)))}.duckdb"
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    store = Store(path)
    try:
        store.set_stages(stages.with_columns(pl.lit("configured").alias("source")))
        owners = [("r1", "r2", None)[i % 3] for i in range(deals.height)]
        if deals.height:
            _write(store, "deals", deals.with_columns(pl.Series("owner_rep_id", owners, dtype=pl.String)).to_dicts())
        if hist.height:
            _write(store, "stage_history", hist.with_columns(pl.lit(False).alias("inferred")).to_dicts())
        deals, hist, stages = store.deals_in_scope({}), store.stage_history_in_scope({}), store.stages_frame()
        idx = open_stages(stages).select("stage", "stage_index")
        _same(store.stage_reach_in_scope({}, idx), funnel.stage_reach(hist, stages), ["deal_id"])
        cohort = deals_in_scope(prepare_deals(deals), period[0], period[1], date(2024, 4, 1))
        _same(store.funnel_stays_in_scope({}, idx, period[0], period[1], date(2024, 4, 1)),
              funnel.completed_stays(cohort, hist, stages, by="owner_rep_id"), ["owner_rep_id", "stage_index", "days"])
        _same(store.completed_stays_in_scope({}, idx), funnel.completed_stays(deals, hist, stages), ["stage_index", "days"])
        for as_of in (date(2024, 1, 20), date(2024, 4, 1)):
            _same(store.current_stage_entries_in_scope({}, as_of),
                  funnel.current_stage_entries(deals, hist, as_of=as_of), ["deal_id"])
    finally:
        store.close()


def test_bound_keeps_the_parameters_a_statement_uses_and_refuses_a_dropped_scope():
    sql = "SELECT 1 WHERE list_contains($teams, 'x') AND $p10 > 0"
    # `$p1` is not `$p10`: only whole names count
    assert Store._bound(sql, {"teams": ["A"], "p1": 1, "p10": 2, "status": None}) == {"teams": ["A"], "p10": 2}
    # filters that are not set may go unused ...
    assert Store._bound("SELECT 1", {"teams": [], "reps": []}) == {}
    # ... but a set one that the statement does not apply would widen a manager's or rep's view
    with pytest.raises(ValueError, match="reps"):
        Store._bound(sql, {"teams": ["A"], "reps": ["r1"]})

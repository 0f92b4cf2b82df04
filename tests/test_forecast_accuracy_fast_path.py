"""The Forecast page's accuracy of past forecasts reads, per snapshot, only what the three forecasts
made then look at, worked out in DuckDB (`Store.snapshot_forecast_inputs_in_scope`): the snapshot
dates, the open and won deals at each, and the closed deals counted as the historical forecast learns
from them (`metrics.forecast.historical_training`). Each piece equals its definition on the deals at
the snapshot (`metrics.changes.deals_at_snapshot`) and the stage history by that day, and the
accuracy equals `metrics.changes.forecast_accuracy` over the snapshot rows in scope (deals since
deleted in the CRM counted by their snapshot owner, as the History and Meeting pages count them:
`Store.snapshots_with_removed_in_scope`), on the demo company over scopes, periods and days, and on
generated stores (deals a snapshot does not show, deleted deals, several uploads on one date, undated
deals, deals without an amount or close date, stages outside the pipeline). Its two shortcuts give what
the long way gives: the reach by date from `deal_reach`, and the closed deals counted at upload
(`snapshot_training`, rebuilt with every import and undo) instead of from every snapshot row.
Today's forecasts likewise read only the open and recently won deals (`Store.forecast_deals_in_scope`)
and the closed deals' counts (`Store.historical_training_in_scope`, which also give the win rate).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import changes, forecast
from metrics._common import WON, close_day, open_stages
from tests.store_builder import DEMO_AS_OF, demo_scopes, stages_frame, write

EXACT = {"check_exact": False, "rel_tol": 1e-12, "abs_tol": 1e-6}   # sums of amounts, up to their order


def _inputs(store: Store, scope: dict, p_from: date, p_to: date, as_of: date):
    return store.snapshot_forecast_inputs_in_scope(
        scope, open_stages(store.stages_frame()), before=min(p_to, as_of), period_from=p_from,
        age_edges=list(forecast.AGE_EDGES), trailing_days=forecast.TRAILING_DAYS)


def _fast(store: Store, scope: dict, p_from: date, p_to: date, as_of: date) -> pl.DataFrame:
    days, at, trained = _inputs(store, scope, p_from, p_to, as_of)
    return changes.forecast_accuracy(store.deals_in_scope(scope), None, store.stages_frame(), None, as_of=as_of,
                                     period_from=p_from, period_to=p_to, days=days, at=at, trained=trained)


def _plain(store: Store, scope: dict, p_from: date, p_to: date, as_of: date) -> pl.DataFrame:
    """The definition over the whole scoped tables: every snapshot row and history row."""
    return changes.forecast_accuracy(store.deals_in_scope(scope), store.stage_history_in_scope(scope),
                                     store.stages_frame(), store.snapshots_with_removed_in_scope(scope), as_of=as_of,
                                     period_from=p_from, period_to=p_to)


def _pieces_match(store: Store, scope: dict, p_from: date, p_to: date, as_of: date) -> int:
    """The dates, deals and training counts equal their definitions; returns how many dates."""
    stages = store.stages_frame()
    deals, snaps = store.deals_in_scope(scope), store.snapshots_with_removed_in_scope(scope)
    end = min(p_to, as_of)
    days, at, trained = _inputs(store, scope, p_from, p_to, as_of)
    assert days == [d for d in changes.snapshot_dates(snaps) if d < end]
    reaches = changes.history_reach_by_day(store.stage_history_in_scope(scope), stages, days)
    read = []
    for day in days:
        then = changes.deals_at_snapshot(deals, snaps, day)
        reach = reaches.filter(pl.col("snapshot_date") == day).select("deal_id", "hist_idx")
        # the training counts: exact (whole numbers)
        want = forecast.historical_training(then, None, stages, as_of=day, reach=reach)
        got = trained.filter(pl.col("snapshot_date") == day).drop("snapshot_date")
        assert_frame_equal(got.sort("max_idx", "bucket"), want.sort("max_idx", "bucket"))
        # the deals the forecasts read, with their reach by that day
        created, closed = pl.col("created_on"), close_day()
        live = ((pl.col("status") == "open") & (created.is_null() | (created <= day))
                & pl.col("close_date").is_between(p_from, end))
        won = (pl.col("status") == WON) & closed.is_between(min(p_from, day - timedelta(days=forecast.TRAILING_DAYS - 1)),
                                                            day)
        read.append(then.filter(live | won).join(reach, on="deal_id", how="left").select(
            pl.lit(day).alias("snapshot_date"), "deal_id", "stage", "status", "amount", "created_on", "close_date",
            "closed_on", "hist_idx"))
    # the deals read, summed as the forecasts treat them alike (amounts: up to their order)
    want = changes.summed_reads(pl.concat(read, how="vertical").cast(at.schema) if read else at.clear())
    assert_frame_equal(at, want, **EXACT)
    assert not at.select("snapshot_date", "deal_id").is_duplicated().any()   # each group named by one of its deals
    return len(days)


# ------------------------------------------------------------------ the demo company
DEMO_WINDOWS = [   # period_from, period_to, as_of
    (date(2026, 10, 1), date(2026, 12, 31), DEMO_AS_OF),     # this quarter
    (date(2026, 10, 15), date(2026, 11, 10), DEMO_AS_OF),    # over: cut at its end
    (date(2026, 11, 1), date(2027, 3, 31), DEMO_AS_OF),
    (date(2026, 12, 1), date(2026, 12, 31), DEMO_AS_OF),     # not started: no snapshot before it
    (date(2026, 7, 1), date(2026, 12, 31), date(2026, 11, 1)),   # an earlier day: later snapshots left out
    (date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 16)),  # snapshots before the period: trailing run rate
]


def test_accuracy_from_store_inputs_equals_the_definition_on_the_demo(demo):
    evaluated = 0
    for scope in demo_scopes(demo):
        for p_from, p_to, as_of in DEMO_WINDOWS:
            want = _plain(demo, scope, p_from, p_to, as_of)
            assert_frame_equal(_fast(demo, scope, p_from, p_to, as_of), want, **EXACT)
            evaluated += want.height
    assert evaluated > 0


def test_store_inputs_equal_their_definitions_on_the_demo(demo):
    scopes = demo_scopes(demo)
    dated = sum(_pieces_match(demo, scope, *DEMO_WINDOWS[k]) for scope in scopes[:4] for k in (0, 4, 5))
    assert dated > 0


def test_every_scope_filter_is_applied(demo):
    """A manager or a rep sees only the snapshots of their deals (and of their deals since deleted):
    each scope's counts are those of its own deals, never more."""
    everyone = _inputs(demo, {}, *DEMO_WINDOWS[0])[2]["deals"].sum()
    deleted = set(demo.snapshots_with_removed_in_scope({})["deal_id"]) - set(demo.deals_in_scope({})["deal_id"])
    assert deleted
    for scope in demo_scopes(demo)[1:]:
        _, at, trained = _inputs(demo, scope, *DEMO_WINDOWS[0])
        assert trained["deals"].sum() < everyone
        assert set(at["deal_id"]) <= set(demo.snapshots_with_removed_in_scope(scope)["deal_id"])
        assert set(at["deal_id"]) - set(demo.deals_in_scope(scope)["deal_id"]) <= deleted


# ------------------------------------------------------------------ generated stores
NAMES = ["Lead", "Qualified", "Proposal", "Negotiation"]
REPS = [{"rep_id": "R1", "team": "A", "region": "North"}, {"rep_id": "R2", "team": "A", "region": "South"},
        {"rep_id": "R3", "team": "B", "region": "South"}]
ACCOUNTS = [{"account_id": "AC1", "size": "SMB", "region": "North"},
            {"account_id": "AC2", "size": "Enterprise", "region": "South"}]
SCOPES = [{}, {"teams": ["A"]}, {"reps": ["R3"]}, {"products": ["P1"]}, {"segments": ["SMB"]}, {"regions": ["North"]}]


def _generated_store(path, seed: int) -> Store:
    """Deals with random stages, dates and statuses (some undated); history rows at random times (some
    in stages outside the pipeline, several on one day); weekly snapshots showing part of the deals, some
    dates written by two uploads, rows of deals no longer in the deals table."""
    rng = np.random.default_rng(seed)
    n, start = 300, date(2024, 1, 1)
    stages = stages_frame(NAMES + ["Won", "Lost"], "Won", "Lost", [0.1, 0.2, 0.5, 0.7, 1.0, 0.0])
    store = Store(path)
    write(store, "reps", REPS, stages=stages)
    write(store, "accounts", ACCOUNTS)
    created = [start + timedelta(days=int(d)) for d in rng.integers(0, 150, n)]
    close = [c + timedelta(days=int(d)) for c, d in zip(created, rng.integers(-10, 120, n))]
    status = rng.choice(["open", "won", "lost"], n, p=[0.4, 0.35, 0.25])
    deals = [{
        "deal_id": f"D{i:04d}", "owner_rep_id": f"R{int(rng.integers(1, 4))}", "account_id": f"AC{int(rng.integers(1, 3))}",
        "product": str(rng.choice(["P1", "P2"])), "amount": None if rng.random() < 0.05 else float(rng.integers(1, 50) * 100),
        "status": str(s), "stage": str(rng.choice(NAMES + ["Won", "Lost"])),
        "created_on": None if rng.random() < 0.08 else c, "close_date": None if rng.random() < 0.05 else e,
        "closed_on": e + timedelta(days=int(rng.integers(-5, 5))) if s != "open" and rng.random() < 0.7 else None,
    } for i, (c, e, s) in enumerate(zip(created, close, status))]
    write(store, "deals", deals)
    history = []
    for i, c in enumerate(created):
        for k in range(int(rng.integers(0, 5))):
            at = datetime.combine(c, datetime.min.time()) + timedelta(days=int(rng.integers(0, 90)), hours=k)
            history.append({"deal_id": f"D{i:04d}", "stage": str(rng.choice(NAMES + ["Won", "Elsewhere"])),
                            "entered_at": at, "inferred": False})
    write(store, "stage_history", history)
    rows = []
    for w in range(10):
        day = date(2024, 3, 3) + timedelta(days=7 * w)
        for i in rng.choice(n + 20, 230, replace=False):      # ids past n: deals since deleted
            for batch in range(int(rng.integers(1, 3)) if w % 2 else 1):   # odd weeks: two uploads
                rows.append({"snapshot_date": day, "deal_id": f"D{int(i):04d}", "batch": batch,
                             "stage": str(rng.choice(NAMES + ["Won", "Lost"])),
                             "status": str(rng.choice(["open", "won", "lost"])),
                             "amount": None if rng.random() < 0.05 else float(rng.integers(1, 50) * 100),
                             "close_date": day + timedelta(days=int(rng.integers(-20, 80))), "owner_rep_id": "R1"})
    snaps = pl.DataFrame(rows)
    for batch in (0, 1):
        store.append_snapshots(snaps.filter(pl.col("batch") == batch).drop("batch"), 100 + batch)
    return store


GENERATED_WINDOWS = [
    (date(2024, 4, 1), date(2024, 6, 30), date(2024, 5, 20)),
    (date(2024, 3, 1), date(2024, 4, 15), date(2024, 6, 1)),
    (date(2024, 1, 1), date(2024, 12, 31), date(2024, 12, 31)),
    (date(2024, 5, 1), date(2024, 5, 31), date(2024, 5, 10)),     # most snapshots before the period
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_accuracy_from_store_inputs_equals_the_definition_on_generated_stores(tmp_path, seed):
    store = _generated_store(tmp_path / "gen.duckdb", seed)
    try:
        dated = 0
        for scope in SCOPES:
            for p_from, p_to, as_of in GENERATED_WINDOWS:
                want = _plain(store, scope, p_from, p_to, as_of)
                assert_frame_equal(_fast(store, scope, p_from, p_to, as_of), want, **EXACT)
                dated += _pieces_match(store, scope, p_from, p_to, as_of)
        assert dated > 0
        # the snapshots leave closed deals out (the deals table adds them) and some dates hold two uploads
        snaps, deals = store.snapshots_in_scope({}), store.deals_in_scope({})
        unshown = [deals.filter(pl.col("status").is_in(["won", "lost"]) & (close_day() <= day)).join(
            snaps.filter(pl.col("snapshot_date") == day), on="deal_id", how="anti").height
            for day in changes.snapshot_dates(snaps)]
        assert min(unshown) > 0
        assert store.cursor().execute("SELECT count(*) FROM (SELECT snapshot_date FROM deal_snapshots GROUP BY 1 "
                                      "HAVING min(batch_id) <> max(batch_id))").fetchone()[0] > 0
    finally:
        store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_historical_forecast_from_its_training_counts(tmp_path, seed):
    """`trained=` (the counts of `historical_training`) gives the same forecast as the closed deals."""
    store = _generated_store(tmp_path / "gen.duckdb", seed)
    try:
        deals, history, stages = store.deals_in_scope({}), store.stage_history_in_scope({}), store.stages_frame()
        for p_from, p_to, as_of in GENERATED_WINDOWS:
            kw = {"as_of": as_of, "period_from": p_from, "period_to": p_to}
            for edges in (forecast.AGE_EDGES, (0, 10, 45)):
                fit = forecast.historical_training(deals, history, stages, as_of=as_of, age_edges=edges)
                assert fit["deals"].sum() == deals.filter(pl.col("status").is_in(["won", "lost"])
                                                          & (close_day() <= as_of)).height
                assert_frame_equal(
                    forecast.forecast_historical(deals, history, stages, age_edges=edges, trained=fit, **kw),
                    forecast.forecast_historical(deals, history, stages, age_edges=edges, **kw))
            assert_frame_equal(
                forecast.forecasts(deals, history, stages, trained=forecast.historical_training(
                    deals, history, stages, as_of=as_of), **kw),
                forecast.forecasts(deals, history, stages, **kw))
    finally:
        store.close()


# ------------------------------------------------------------------ today: the deals read and the rates learned
def _today_matches(store: Store, scopes: list[dict], days: list[date]) -> int:
    stages = store.stages_frame()
    closed = 0
    for scope in scopes:
        deals, history = store.deals_in_scope(scope), store.stage_history_in_scope(scope)
        for as_of in days:
            for edges in (forecast.AGE_EDGES, (0, 10, 45)):
                got = store.historical_training_in_scope(scope, open_stages(stages), as_of, list(edges))
                want = forecast.historical_training(deals, history, stages, as_of=as_of, age_edges=edges)
                assert_frame_equal(got.sort("max_idx", "bucket"), want.sort("max_idx", "bucket"))
                closed += got["deals"].sum()
            rate = forecast.historical_win_rate(deals, as_of=as_of)
            assert (got["won"].sum() / got["deals"].sum() if got["deals"].sum() else None) == rate
            lo, hi = as_of - timedelta(days=100), as_of + timedelta(days=40)
            want = deals.filter((pl.col("status") == "open") | ((pl.col("status") == WON) & close_day().is_between(lo, hi)))
            assert_frame_equal(store.forecast_deals_in_scope(scope, lo, hi).sort("deal_id"), want.sort("deal_id"))
    return closed


def test_todays_training_counts_and_deals_on_the_demo(demo):
    assert _today_matches(demo, demo_scopes(demo), [DEMO_AS_OF, date(2026, 6, 30)]) > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_todays_training_counts_and_deals_on_generated_stores(tmp_path, seed):
    store = _generated_store(tmp_path / "gen.duckdb", seed)
    try:
        assert _today_matches(store, SCOPES, [date(2024, 3, 1), date(2024, 5, 20), date(2025, 1, 1)]) > 0
    finally:
        store.close()


# ------------------------------------------------------------------ the reach by each date: stored or computed
def _both_reaches_agree(store: Store, scopes: list[dict], windows: list[tuple[date, date, date]], monkeypatch) -> int:
    """With the stored pipeline's numbering the reach by each snapshot date reads today's reach from
    `deal_reach` for the deals whose history shows nothing entered after the first date; computed
    from `stage_facts` for every deal (as for another numbering) it gives the same inputs."""
    compared = 0
    for scope in scopes:
        for window in windows:
            stored = _inputs(store, scope, *window)
            with monkeypatch.context() as m:
                m.setattr(Store, "_reach_stored", lambda self, cur, stage_index: False)
                computed = _inputs(store, scope, *window)
            assert stored[0] == computed[0]
            assert_frame_equal(stored[1].sort("snapshot_date", "deal_id"), computed[1].sort("snapshot_date", "deal_id"))
            assert_frame_equal(stored[2].sort(pl.all()), computed[2].sort(pl.all()))
            compared += stored[1]["hist_idx"].is_not_null().sum()
    return compared


def test_the_shortcuts_agree_with_the_long_way_on_the_demo(demo, monkeypatch):
    """The reach by date from `deal_reach` and the closed deals from `snapshot_training` (below)."""
    windows = [DEMO_WINDOWS[k] for k in (0, 4, 5)]
    assert _both_reaches_agree(demo, demo_scopes(demo)[:4], windows, monkeypatch) > 0
    assert _counted_and_read_agree(demo, demo_scopes(demo)[:4], windows, monkeypatch) > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_the_shortcuts_agree_with_the_long_way_on_generated_stores(tmp_path, seed, monkeypatch):
    store = _generated_store(tmp_path / "gen.duckdb", seed)
    try:
        assert _both_reaches_agree(store, SCOPES, GENERATED_WINDOWS, monkeypatch) > 0
        scopes = SCOPES + [{"teams": ["A"], "reps": ["R1", "R3"]}, {"reps": ["R9"]}]
        assert _counted_and_read_agree(store, scopes, GENERATED_WINDOWS, monkeypatch) > 0
        # some deals' histories show stages entered after the first snapshot date (read from stage_facts)
        first = store.snapshot_dates()[0]
        assert store.cursor().execute("SELECT count(DISTINCT deal_id) FROM stage_facts "
                                      "WHERE CAST(first_at AS DATE) > ?", [first]).fetchone()[0] > 0
    finally:
        store.close()


# ------------------------------------------------------------------ the closed deals counted at upload
def _counted_and_read_agree(store: Store, scopes: list[dict], windows: list[tuple[date, date, date]],
                            monkeypatch) -> int:
    """Without a filter or with reps and teams only, the closed deals and shown rows of each date come
    from `snapshot_training` (kept at upload) and the statement reads only the rows the forecasts may
    read; counting every snapshot row instead (as for products, segments and regions) gives the same
    inputs. Returns how many closed deals were compared."""
    import data.store as store_module

    compared = 0
    for scope in scopes:
        for window in windows:
            used = []
            with monkeypatch.context() as m:
                real = Store._training_in_scope
                m.setattr(Store, "_training_in_scope", lambda self, *a: used.append(1) or real(self, *a))
                counted = _inputs(store, scope, *window)
            with monkeypatch.context() as m:
                m.setattr(store_module, "TRAINING_AGE_EDGES", ())       # matches no edges: every row read
                read = _inputs(store, scope, *window)
            dated = any(d < min(window[1], window[2]) for d in store.snapshot_dates())
            assert used == ([1] if dated and not set(scope) - {"teams", "reps"} else [])
            assert counted[0] == read[0]
            assert_frame_equal(counted[1], read[1])
            assert_frame_equal(counted[2].sort(pl.all()), read[2].sort(pl.all()))
            compared += int(counted[2]["deals"].sum())
    return compared


def test_training_age_edges_are_the_forecasts():
    import data.store as store_module

    assert store_module.TRAINING_AGE_EDGES == tuple(sorted(set(forecast.AGE_EDGES) | {0}))


def test_training_counts_follow_imports_and_undo(tmp_path):
    """`snapshot_training` is rebuilt with the deals, the stage history, the pipeline and the snapshots:
    after a re-import that moves deals to another owner and its undo, the counts are those a store
    written once holds."""
    store = _generated_store(tmp_path / "gen.duckdb", 4)
    try:
        def kept():
            return sorted(store.cursor().execute("SELECT * FROM snapshot_training").fetchall(), key=repr)

        def rebuilt():
            cur = store.cursor()
            cur.execute("BEGIN TRANSACTION")
            cur.execute("DELETE FROM snapshot_training")
            store._build_training(cur)
            rows = sorted(cur.execute("SELECT * FROM snapshot_training").fetchall(), key=repr)
            cur.execute("ROLLBACK")
            return rows

        before = kept()
        assert before and before == rebuilt()
        deals = store.deals_in_scope({}).head(120).with_columns(owner_rep_id=pl.lit("R3"), created_on=None)
        write(store, "deals", deals.to_dicts())
        moved = kept()
        assert moved != before and moved == rebuilt()
        store.undo(int(store.imports_frame()["batch_id"].max()))
        assert kept() == before
    finally:
        store.close()

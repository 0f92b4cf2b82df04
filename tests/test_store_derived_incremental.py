"""The stage tables derived at import (stage_facts, deal_reach) are rebuilt after an import or
undo only for the deals the batch touched, and stay_counts is corrected by those deals' counts before and
after (the activity tables and snapshot_training are rebuilt whole; deal_reach also whole when the pipeline
changes); an undo recomputes only what derives from the tables its batch wrote. Property: after any sequence
of imports (some replacing the pipeline, deals uploads with snapshots), re-imports with changed rows, pipeline
edits, undo, demo replacement and clear on small generated stores,
every derived table holds exactly the rows a full rebuild gives (compared as multisets), deal_reach is the
history reach of `metrics.funnel.history_reach` under the stored pipeline, and the completed stays read
from stay_counts are `metrics.funnel.completed_stays` of the stored deals and history."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.ingest.problems import ImportProblem
from data.store import TABLES, ImportWrite, Store
from metrics import funnel, schema
from metrics._common import open_stages

DEALS = [f"D{i}" for i in range(5)]
STAGES = ["Lead", "Demo", "Proposal", "Won"]
# few instants, so entries tie on time within a deal; around a month and a year boundary
TIMES = [datetime(2024, 1, 31, 23, 0), datetime(2024, 1, 31, 23, 0), datetime(2024, 2, 1, 0, 30),
         datetime(2024, 2, 1, 0, 30), datetime(2024, 2, 29, 12, 0), datetime(2024, 12, 31, 23, 59),
         datetime(2025, 1, 1, 0, 0)]
REPS = ["R1", "R2", None]
ACCOUNTS = ["A1", "A2", "A3", None]
KINDS = ["call", " Email ", "MEETING", "visit", "task", "lunch", None]
SIZES = ["SMB", "Mid", "Enterprise", None]
SCHEMAS = {
    "stage_history": {"deal_id": pl.String, "stage": pl.String, "entered_at": pl.Datetime("us"), "inferred": pl.Boolean},
    "activities": {"activity_id": pl.String, "rep_id": pl.String, "account_id": pl.String, "deal_id": pl.String,
                   "kind": pl.String, "occurred_at": pl.Datetime("us"), "duration_min": pl.Float64, "outcome": pl.String},
    "accounts": {"account_id": pl.String, "name": pl.String, "industry": pl.String, "region": pl.String,
                 "size": pl.String, "owner_rep_id": pl.String, "created_on": pl.Date},
}

# a pipeline over some of the history's stages (and one it never shows), in any order, with a won and a
# lost stage or none; positions may tie, so the order falls back to the names
pipeline = st.lists(st.sampled_from(STAGES + ["Lost", "Stale"]), unique=True, max_size=5).flatmap(
    lambda names: st.tuples(st.lists(st.integers(1, 3), min_size=len(names), max_size=len(names)),
                            st.sampled_from(names + [None]), st.sampled_from(names + [None])).map(
        lambda x: {"name": names, "position": x[0], "is_won": [n == x[1] for n in names],
                   "is_lost": [n == x[2] for n in names]}))


def _stages(p: dict) -> pl.DataFrame:
    n = len(p["name"])
    return pl.DataFrame({**p, "probability": [0.5] * n, "source": ["configured"] * n},
                        schema={"name": pl.String, "position": pl.Int32, "is_won": pl.Boolean, "is_lost": pl.Boolean,
                                "probability": pl.Float64, "source": pl.String})


history_row = st.fixed_dictionaries({"deal_id": st.sampled_from(DEALS), "stage": st.sampled_from(STAGES),
                                     "entered_at": st.sampled_from(TIMES), "inferred": st.booleans()})
activity_row = st.fixed_dictionaries({
    "activity_id": st.sampled_from([f"X{i}" for i in range(12)]), "rep_id": st.sampled_from(REPS),
    "account_id": st.sampled_from(ACCOUNTS), "deal_id": st.sampled_from(["D1", "D2", None]),
    "kind": st.sampled_from(KINDS), "occurred_at": st.sampled_from(TIMES + [None]),
    "duration_min": st.none(), "outcome": st.none()})
# deals with an owner or none, open, won or lost, closed on a day before, on or after their last history entry
DAYS = [None] + [t.date() for t in TIMES[::2]] + [datetime(2025, 2, 1).date()]
deal_row = st.fixed_dictionaries({"deal_id": st.sampled_from(DEALS), "owner_rep_id": st.sampled_from(REPS),
                                  "status": st.sampled_from(["open", "won", "lost"]), "closed_on": st.sampled_from(DAYS),
                                  "close_date": st.sampled_from(DAYS)})
account_row = st.fixed_dictionaries({"account_id": st.sampled_from(["A1", "A2", "A3"]), "name": st.none(),
                                     "industry": st.none(), "region": st.none(), "size": st.sampled_from(SIZES),
                                     "owner_rep_id": st.none(), "created_on": st.none()})


SNAPSHOT_DAYS = [None, datetime(2024, 2, 1).date(), datetime(2025, 1, 1).date()]


def _rows(kind: str, rows: list[dict]) -> pl.DataFrame:
    key = TABLES[kind].key
    unique = {tuple(r[k] for k in key): r for r in rows}         # one row per key in a file
    if kind == "deals":
        return schema.frame("deals", list(unique.values())).select(TABLES["deals"].columns)
    return pl.DataFrame(list(unique.values()), schema=SCHEMAS[kind])


op = st.one_of(
    st.tuples(st.just("stage_history"), st.lists(history_row, min_size=1, max_size=8), st.sampled_from(["", "demo", "replace"])),
    st.tuples(st.just("history_and_stages"), st.tuples(st.lists(history_row, min_size=1, max_size=8), pipeline),
              st.sampled_from(["", "demo"])),
    st.tuples(st.just("set_stages"), pipeline, st.just("")),
    st.tuples(st.just("deals"), st.lists(deal_row, min_size=1, max_size=5), st.sampled_from(["", "demo", "replace"])),
    st.tuples(st.just("activities"), st.lists(activity_row, min_size=1, max_size=8), st.sampled_from(["", "demo", "replace", "accounts"])),
    st.tuples(st.just("accounts"), st.lists(account_row, min_size=1, max_size=3), st.sampled_from(["", "demo"])),
    st.tuples(st.just("undo"), st.integers(0, 8), st.just("")),
    st.tuples(st.just("clear_demo"), st.none(), st.just("")),
    st.tuples(st.just("clear_all"), st.none(), st.just("")),
)


def _derived(cur) -> dict[str, list[tuple]]:
    return {name: sorted(cur.execute(f"SELECT * FROM {name}").fetchall(), key=repr) for name in Store.DERIVED_FROM}


def _full_rebuild(store: Store) -> dict[str, list[tuple]]:
    """The derived tables as the full rebuild makes them from the stored rows (rolled back after)."""
    cur = store.cursor()
    cur.execute("BEGIN TRANSACTION")
    try:
        store._rebuild_derived(cur)
        return _derived(cur)                      # read in the same transaction, before the rollback
    finally:
        cur.execute("ROLLBACK")


def _apply(store: Store, batches: list[int], kind: str, arg, flag: str) -> None:
    if kind in ("stage_history", "activities", "accounts", "deals"):
        rows = _rows(kind, arg)
        new_accounts = None
        if flag == "accounts":                   # accounts first seen in an activities file (size unknown)
            ids = sorted({a for a in rows["account_id"].to_list() if a is not None})
            new_accounts = pl.DataFrame({"account_id": ids}, schema={"account_id": pl.String})
            new_accounts = new_accounts.with_columns(
                [pl.lit(None, t).alias(c) for c, t in SCHEMAS["accounts"].items() if c != "account_id"])
        # a deals upload writes a snapshot of its deals, dated by its place in the sequence: none, or one of
        # two days (so some dates hold several uploads and snapshot_training is rebuilt from them)
        when = SNAPSHOT_DAYS[len(batches) % len(SNAPSHOT_DAYS)] if kind == "deals" else None
        counts = store.apply_import(ImportWrite(kind=kind, file_name=None, sha256=None, rows=rows,
                                                new_accounts=new_accounts, is_demo=flag == "demo",
                                                replace_demo=flag == "replace", snapshot_date=when))
        batches.append(counts.batch_id)
    elif kind == "history_and_stages":            # an upload that also replaces the pipeline
        rows, stages = arg
        counts = store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None,
                                                rows=_rows("stage_history", rows), stages=_stages(stages),
                                                is_demo=flag == "demo"))
        batches.append(counts.batch_id)
    elif kind == "set_stages":
        store.set_stages(_stages(arg))
    elif kind == "undo":
        if batches:
            try:
                store.undo(batches[arg % len(batches)])
            except ImportProblem:                # not live any more, or a later batch relies on it
                pass
    elif kind == "clear_demo":
        store.clear_demo()
    else:
        store.clear_all()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("derived") / "d.duckdb")
    yield s
    s.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_incremental_rebuild_equals_full_rebuild(store, ops):
    store.clear_all()
    assert all(rows == [] for rows in _derived(store.cursor()).values())
    batches: list[int] = []
    for kind, arg, flag in ops:
        _apply(store, batches, kind, arg, flag)
        got = _derived(store.cursor())
        assert got == _full_rebuild(store), (kind, arg, flag)
        _reach_is_the_definition(store)
        _stays_are_the_definition(store)
    tmp = store.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'touched_%'").fetchone()[0]
    assert tmp == 0                               # the key tables do not outlive their transaction's work


# deals and their history changing together (owners, status, close days, later and replaced entries), undone
# in any order: every step's stay_counts correction (the deals it touches, before and after) is exercised
stays_op = st.one_of(
    st.tuples(st.just("stage_history"), st.lists(history_row, min_size=2, max_size=10), st.sampled_from(["", "", "demo"])),
    st.tuples(st.just("deals"), st.lists(deal_row, min_size=1, max_size=5), st.sampled_from(["", "", "demo"])),
    st.tuples(st.just("undo"), st.integers(-2, 8), st.just("")),     # -1, -2: the latest batches
    st.tuples(st.just("undo"), st.just(-1), st.just("")),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(stays_op, min_size=2, max_size=12))
def test_stay_counts_corrected_by_the_touched_deals_equal_a_full_rebuild(store, ops, monkeypatch):
    monkeypatch.setattr(store, "STAY_INCREMENTAL_SHARE", 1.0)   # corrected however many of the few deals change
    store.clear_all()
    batches: list[int] = []
    for kind, arg, flag in ops:
        _apply(store, batches, kind, arg, flag)
        cur = store.cursor()
        assert _derived(cur)["stay_counts"] == _full_rebuild(store)["stay_counts"], (kind, arg, flag)
        assert cur.execute("SELECT count(*) FROM stay_counts WHERE deals <= 0").fetchone()[0] == 0
    _stays_are_the_definition(store)


def test_a_deals_reimport_and_its_undo_correct_stay_counts_without_a_rebuild(tmp_path):
    """After the first build, stay_counts is corrected by the deals a batch touches: a marker row that
    only a whole rebuild removes stays through a deals re-import (owner, status and close day changed),
    a history import and their undo, and the other rows are those of the full rebuild."""
    store = Store(tmp_path / "s.duckdb")
    store.STAY_INCREMENTAL_SHARE = 0.5              # up to half of the deals: here one of three deals changes
    hist = [{"deal_id": d, "stage": s, "entered_at": t, "inferred": False}
            for d in ("D1", "D2", "D3") for s, t in zip(STAGES[:3], TIMES[3:6])]
    deals = [{"deal_id": d, "owner_rep_id": "R1", "status": "open", "closed_on": None, "close_date": None}
             for d in ("D1", "D2", "D3")]
    store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", hist)))
    store.apply_import(ImportWrite(kind="deals", file_name=None, sha256=None, rows=_rows("deals", deals)))
    cur = store.cursor()
    cur.execute("INSERT INTO stay_counts VALUES ('marker', 'Lead', 99, 1)")

    def without_marker() -> list[tuple]:
        return sorted(r for r in cur.execute("SELECT * FROM stay_counts").fetchall() if r[0] != "marker")

    assert without_marker() == [("R1", "Demo", 306, 3), ("R1", "Lead", 28, 3)]
    won = [{"deal_id": "D1", "owner_rep_id": "R2", "status": "won", "closed_on": datetime(2025, 1, 10).date(),
            "close_date": None}]
    b1 = store.apply_import(ImportWrite(kind="deals", file_name=None, sha256=None, rows=_rows("deals", won))).batch_id
    assert without_marker() == [("R1", "Demo", 306, 2), ("R1", "Lead", 28, 2), ("R2", "Demo", 306, 1),
                                ("R2", "Lead", 28, 1), ("R2", "Proposal", 10, 1)]
    later = [{"deal_id": "D2", "stage": "Won", "entered_at": datetime(2025, 3, 1), "inferred": False}]
    b2 = store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None,
                                        rows=_rows("stage_history", later))).batch_id
    assert ("R1", "Proposal", 60, 1) in without_marker()
    store.undo(b2)
    store.undo(b1)
    assert without_marker() == [("R1", "Demo", 306, 3), ("R1", "Lead", 28, 3)]
    assert cur.execute("SELECT count(*) FROM stay_counts WHERE owner_rep_id = 'marker'").fetchone()[0] == 1
    both = [{**d, "owner_rep_id": "R2"} for d in deals[:2]]      # two of three deals: beyond the share, rebuilt whole
    store.apply_import(ImportWrite(kind="deals", file_name=None, sha256=None, rows=_rows("deals", both)))
    assert sorted(cur.execute("SELECT * FROM stay_counts").fetchall()) == [
        ("R1", "Demo", 306, 1), ("R1", "Lead", 28, 1), ("R2", "Demo", 306, 2), ("R2", "Lead", 28, 2)]
    store.close()


def _reach_is_the_definition(store: Store) -> None:
    """deal_reach: one row per deal with history; its hist_idx and strict_idx, where known,
    `funnel.stage_reach` of the history rows under the stored pipeline."""
    cur = store.cursor()
    reach = pl.DataFrame(cur.execute("SELECT deal_id, hist_idx, strict_idx FROM deal_reach").fetchall(), orient="row",
                         schema={"deal_id": pl.String, "hist_idx": pl.Int64, "strict_idx": pl.Int64})
    hist = pl.DataFrame(cur.execute("SELECT deal_id, stage, entered_at FROM stage_history").fetchall(), orient="row",
                        schema={"deal_id": pl.String, "stage": pl.String, "entered_at": pl.Datetime("us")})
    assert sorted(reach["deal_id"].to_list(), key=repr) == sorted(hist["deal_id"].unique().to_list(), key=repr)
    want = funnel.stage_reach(hist, store.stages_frame())
    assert reach.drop_nulls("hist_idx").sort("deal_id").rows() == want.rows()
    assert reach.filter(pl.col("hist_idx").is_null())["strict_idx"].null_count() == reach["hist_idx"].null_count()


def _stays_are_the_definition(store: Store) -> None:
    """completed_stays_in_scope (read from stay_counts without a filter, or for some owners) is
    `funnel.completed_stays` of the stored deals and history under the stored pipeline."""
    stages = store.stages_frame()
    deals, hist = store.deals_in_scope({}), store.stage_history_in_scope({})
    for reps in ([], ["R1"], ["R2", "R9"]):
        got = store.completed_stays_in_scope({"reps": reps}, open_stages(stages))
        mine = deals.filter(pl.col("owner_rep_id").is_in(reps)) if reps else deals
        want = funnel.completed_stays(mine, hist, stages)
        assert got.sort("stage_index", "days").rows() == want.select(got.columns).sort("stage_index", "days").rows()


@settings(max_examples=40, deadline=None)
@given(p=pipeline)
def test_the_stored_open_stages_are_those_of_the_metrics(p):
    """`Store._OPEN_STAGES` (with which deal_reach is built) numbers the pipeline's open stages as
    `metrics._common.open_stages` does, ties in position and won/lost flags included."""
    from metrics._common import open_stages
    import duckdb

    con = duckdb.connect()
    con.register("stages", _stages(p))
    got = con.sql(Store._OPEN_STAGES).fetchall()
    assert got == open_stages(_stages(p)).select("stage", "stage_index").rows()


def test_update_of_a_deals_last_row_and_undo_recompute_only_that_deal(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    hist = [{"deal_id": d, "stage": s, "entered_at": t, "inferred": False}
            for d in ("D1", "D2") for s, t in zip(STAGES[:3], TIMES[3:6])]
    store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", hist)))
    # D1 gets a later last row; D2 (one untouched deal) keeps its derived rows
    later = [{"deal_id": "D1", "stage": "Won", "entered_at": datetime(2025, 3, 1), "inferred": False},
             {"deal_id": "D1", "stage": "Lead", "entered_at": TIMES[3], "inferred": True}]
    cur = store.cursor()
    cur.execute("UPDATE stage_facts SET mid_n = -1 WHERE deal_id = 'D2'")   # a marker only a full rebuild removes
    b = store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None,
                                       rows=_rows("stage_history", later))).batch_id
    assert cur.execute("SELECT count(*) FROM stage_facts WHERE deal_id = 'D2' AND mid_n = -1").fetchone()[0] == 3
    facts = cur.execute("SELECT stage, is_last FROM stage_facts WHERE deal_id = 'D1' ORDER BY first_at").fetchall()
    assert facts == [("Lead", False), ("Demo", False), ("Proposal", False), ("Won", True)]
    store.undo(b)
    facts = cur.execute("SELECT stage, is_last, mid_n FROM stage_facts WHERE deal_id = 'D1' ORDER BY first_at").fetchall()
    assert facts == [("Lead", False, 1), ("Demo", False, 1), ("Proposal", True, 0)]
    assert cur.execute("SELECT count(*) FROM stage_facts WHERE deal_id = 'D2' AND mid_n = -1").fetchone()[0] == 3
    store.close()


def test_a_pipeline_change_renumbers_every_deals_reach(tmp_path):
    """deal_reach follows the pipeline: an edit of it, an upload replacing it and the undo of that upload
    renumber the reach of every deal, also of deals the upload did not touch."""
    store = Store(tmp_path / "s.duckdb")
    hist = [{"deal_id": d, "stage": s, "entered_at": t, "inferred": False}
            for d, stages in (("D1", STAGES[:2]), ("D2", STAGES[:3])) for s, t in zip(stages, TIMES[3:6])]
    store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", hist)))

    def reach() -> list[tuple]:
        return store.cursor().execute("SELECT deal_id, hist_idx, strict_idx FROM deal_reach ORDER BY deal_id").fetchall()

    assert reach() == [("D1", None, None), ("D2", None, None)]   # no pipeline yet: no open stage known
    flags = {"is_won": [False, False, False, True], "is_lost": [False] * 4}
    store.set_stages(_stages({"name": STAGES, "position": [1, 2, 3, 4], **flags}))
    assert reach() == [("D1", 1, 1), ("D2", 2, 2)]
    later = [{"deal_id": "D3", "stage": "Lead", "entered_at": TIMES[0], "inferred": False}]
    b = store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", later),
                                       stages=_stages({"name": STAGES, "position": [2, 3, 1, 4], **flags}))).batch_id
    # Proposal, Lead, Demo now: D1 entered Lead then Demo but never Proposal, D2 Proposal after Lead
    assert reach() == [("D1", 2, 0), ("D2", 2, 0), ("D3", 1, 0)]
    store.undo(b)
    assert reach() == [("D1", 1, 1), ("D2", 2, 2)]
    store.close()


def test_the_first_open_of_an_older_database_builds_only_deal_reach(tmp_path):
    """A database written before deal_reach gets it on its first writable open (a read-only open says
    what is missing), built alone: the derived tables it already has are not recomputed."""
    path = tmp_path / "old.duckdb"
    store = Store(path)
    flags = {"is_won": [False, False, False, True], "is_lost": [False] * 4}
    store.set_stages(_stages({"name": STAGES, "position": [1, 2, 3, 4], **flags}))
    hist = [{"deal_id": "D1", "stage": s, "entered_at": t, "inferred": False} for s, t in zip(STAGES[:3], TIMES[3:6])]
    store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", hist)))
    cur = store.cursor()
    cur.execute("UPDATE stage_facts SET mid_n = -1")              # a marker only a rebuild of stage_facts removes
    cur.execute("DROP TABLE deal_reach")                         # as written by a Salescope before the table
    store.close()
    with pytest.raises(RuntimeError, match="deal_reach"):
        Store(path, read_only=True)
    store = Store(path)
    cur = store.cursor()
    assert cur.execute("SELECT deal_id, hist_idx, strict_idx FROM deal_reach").fetchall() == [("D1", 2, 2)]
    assert cur.execute("SELECT count(*) FROM stage_facts WHERE mid_n = -1").fetchone()[0] == 3
    store.close()


def test_an_older_databases_stage_intervals_go_at_its_first_open(tmp_path):
    """stage_facts is built straight from the history; a file written when the intervals were kept as a
    derived table of their own loses that copy on its first writable open, its facts unchanged."""
    path = tmp_path / "old.duckdb"
    store = Store(path)
    hist = [{"deal_id": "D1", "stage": s, "entered_at": t, "inferred": False} for s, t in zip(STAGES[:3], TIMES[3:6])]
    store.apply_import(ImportWrite(kind="stage_history", file_name=None, sha256=None, rows=_rows("stage_history", hist)))
    cur = store.cursor()
    facts = cur.execute("SELECT * FROM stage_facts ORDER BY first_at").fetchall()
    assert [f[1] for f in facts] == STAGES[:3]
    cur.execute("CREATE TABLE stage_intervals AS SELECT deal_id, stage, entered_at, entered_at AS next_at FROM stage_history")
    store.close()
    store = Store(path)
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'stage_intervals'").fetchone()[0] == 0
    assert cur.execute("SELECT * FROM stage_facts ORDER BY first_at").fetchall() == facts
    store.close()


def test_undoing_a_snapshot_only_upload_recomputes_the_snapshot_counts(store):
    """A deals upload whose rows are all unchanged writes only its snapshot; its undo takes that snapshot
    out of snapshot_training too (and an activities undo leaves the snapshot counts as they are)."""
    store.clear_all()
    deals = [{"deal_id": d, "owner_rep_id": "R1", "status": s, "closed_on": None, "close_date": SNAPSHOT_DAYS[1]}
             for d, s in zip(DEALS, ["open", "won", "lost", "won", "open"])]
    for when in SNAPSHOT_DAYS[1:]:
        store.apply_import(ImportWrite(kind="deals", file_name=None, sha256=None, rows=_rows("deals", deals),
                                       snapshot_date=when))
    acts = store.apply_import(ImportWrite(kind="activities", file_name=None, sha256=None, rows=_rows("activities", [
        {"activity_id": "X1", "rep_id": "R1", "account_id": None, "deal_id": "D1", "kind": "call",
         "occurred_at": TIMES[0], "duration_min": None, "outcome": None}])))
    cur = store.cursor()
    dates = "SELECT DISTINCT snapshot_date FROM snapshot_training ORDER BY 1"
    assert [r[0] for r in cur.execute(dates).fetchall()] == SNAPSHOT_DAYS[1:]
    store.undo(acts.batch_id)
    assert _derived(store.cursor()) == _full_rebuild(store)
    batches = store.imports_frame().filter(pl.col("kind") == "deals")["batch_id"].sort().to_list()
    store.undo(batches[-1])
    assert [r[0] for r in store.cursor().execute(dates).fetchall()] == SNAPSHOT_DAYS[1:2]
    assert _derived(store.cursor()) == _full_rebuild(store)

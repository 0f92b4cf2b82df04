"""The stage tables derived at import (stage_intervals, stage_facts) are rebuilt after an import or undo only
for the deals the batch touched (the activity tables are rebuilt whole). Property: after any sequence of
imports, re-imports with changed rows, undo, demo replacement and clear on small generated stores, every
derived table holds exactly the rows a full rebuild gives (compared as multisets)."""
from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.ingest.problems import ImportProblem
from data.store import TABLES, ImportWrite, Store

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

history_row = st.fixed_dictionaries({"deal_id": st.sampled_from(DEALS), "stage": st.sampled_from(STAGES),
                                     "entered_at": st.sampled_from(TIMES), "inferred": st.booleans()})
activity_row = st.fixed_dictionaries({
    "activity_id": st.sampled_from([f"X{i}" for i in range(12)]), "rep_id": st.sampled_from(REPS),
    "account_id": st.sampled_from(ACCOUNTS), "deal_id": st.sampled_from(["D1", "D2", None]),
    "kind": st.sampled_from(KINDS), "occurred_at": st.sampled_from(TIMES + [None]),
    "duration_min": st.none(), "outcome": st.none()})
account_row = st.fixed_dictionaries({"account_id": st.sampled_from(["A1", "A2", "A3"]), "name": st.none(),
                                     "industry": st.none(), "region": st.none(), "size": st.sampled_from(SIZES),
                                     "owner_rep_id": st.none(), "created_on": st.none()})


def _rows(kind: str, rows: list[dict]) -> pl.DataFrame:
    key = TABLES[kind].key
    unique = {tuple(r[k] for k in key): r for r in rows}         # one row per key in a file
    return pl.DataFrame(list(unique.values()), schema=SCHEMAS[kind])


op = st.one_of(
    st.tuples(st.just("stage_history"), st.lists(history_row, min_size=1, max_size=8), st.sampled_from(["", "demo", "replace"])),
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
    if kind in ("stage_history", "activities", "accounts"):
        rows = _rows(kind, arg)
        new_accounts = None
        if flag == "accounts":                   # accounts first seen in an activities file (size unknown)
            ids = sorted({a for a in rows["account_id"].to_list() if a is not None})
            new_accounts = pl.DataFrame({"account_id": ids}, schema={"account_id": pl.String})
            new_accounts = new_accounts.with_columns(
                [pl.lit(None, t).alias(c) for c, t in SCHEMAS["accounts"].items() if c != "account_id"])
        counts = store.apply_import(ImportWrite(kind=kind, file_name=None, sha256=None, rows=rows,
                                                new_accounts=new_accounts, is_demo=flag == "demo",
                                                replace_demo=flag == "replace"))
        batches.append(counts.batch_id)
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


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=10))
def test_incremental_rebuild_equals_full_rebuild(store, ops):
    store.clear_all()
    assert all(rows == [] for rows in _derived(store.cursor()).values())
    batches: list[int] = []
    for kind, arg, flag in ops:
        _apply(store, batches, kind, arg, flag)
        got = _derived(store.cursor())
        assert got == _full_rebuild(store), (kind, arg, flag)
    tmp = store.cursor().execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'touched_%'").fetchone()[0]
    assert tmp == 0                               # the key tables do not outlive their transaction's work


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

"""The store: upsert by key, idempotent re-import, undo to the exact prior state, snapshots."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from data.ingest.problems import ImportProblem
from data.store import TABLES, ImportWrite, Store


def deals(*rows: dict) -> pl.DataFrame:
    cols = TABLES["deals"].columns
    schema = {c: pl.String for c in cols} | {"amount": pl.Float64, "probability": pl.Float64,
                                             "created_on": pl.Date, "close_date": pl.Date, "closed_on": pl.Date}
    return pl.DataFrame([{c: r.get(c) for c in cols} for r in rows], schema=schema)


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "t.duckdb")
    yield s
    s.close()


def write(store: Store, rows: pl.DataFrame, sha: str, snap: date | None = None, **kw) -> object:
    return store.apply_import(ImportWrite(kind="deals", file_name=sha, sha256=sha, rows=rows, snapshot_date=snap, **kw))


def test_insert_then_same_rows_change_nothing(store):
    rows = deals({"deal_id": "001", "status": "open", "amount": 10.0}, {"deal_id": "2", "status": "won", "amount": 5.0})
    first = write(store, rows, "a", date(2024, 1, 1))
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    before = store.content_digest()
    again = write(store, rows, "a", date(2024, 1, 1))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    assert store.content_digest() == before          # not even a snapshot row is added
    assert store.frame("deals")["deal_id"].sort().to_list() == ["001", "2"]  # leading zero kept


def test_overlapping_extract_updates_only_what_changed_and_undo_restores(store):
    empty = store.content_digest()
    b1 = write(store, deals({"deal_id": "1", "status": "open", "amount": 10.0},
                            {"deal_id": "2", "status": "open", "amount": 5.0}), "a", date(2024, 1, 1))
    after_first = store.content_digest()
    b2 = write(store, deals({"deal_id": "1", "status": "won", "amount": 12.0},
                            {"deal_id": "2", "status": "open", "amount": 5.0},
                            {"deal_id": "3", "status": "open", "amount": 1.0}), "b", date(2024, 1, 8))
    assert (b2.inserted, b2.updated, b2.unchanged) == (1, 1, 1)
    got = store.frame("deals").sort("deal_id")
    assert got["status"].to_list() == ["won", "open", "open"]
    assert got["batch_id"].to_list() == [b2.batch_id, b1.batch_id, b2.batch_id]
    # snapshots: 2 rows at the first date, 3 at the second
    assert store.snapshot_dates() == [date(2024, 1, 1), date(2024, 1, 8)]
    assert store.snapshot_frame(date(2024, 1, 8)).height == 3
    with pytest.raises(ImportProblem) as blocked:
        store.undo(b1.batch_id)                       # b2 overwrote a row of b1
    assert blocked.value.code == "undo_blocked"
    store.undo(b2.batch_id)
    assert store.content_digest() == after_first      # the updated row is back as it was
    store.undo(b1.batch_id)
    assert store.content_digest() == empty
    with pytest.raises(ImportProblem) as twice:
        store.undo(b1.batch_id)
    assert twice.value.code == "batch_not_live"


def test_failed_write_leaves_nothing(store, monkeypatch):
    write(store, deals({"deal_id": "1", "status": "open"}), "a")
    before = store.content_digest()
    bad = deals({"deal_id": "9", "status": "open"}).with_columns(pl.lit(None, pl.String).alias("status"))
    with pytest.raises(Exception):
        write(store, bad, "b")                        # status is NOT NULL: the transaction rolls back
    assert store.content_digest() == before


def test_new_reps_and_stages_are_undone_with_their_batch(store):
    stages = pl.DataFrame({"name": ["Open", "Won"], "position": [1, 2], "probability": [0.5, 1.0],
                           "is_won": [False, True], "is_lost": [False, False], "source": ["learned"] * 2})
    empty = store.content_digest()
    b = write(store, deals({"deal_id": "1", "status": "open", "owner_rep_id": "Ann"}), "a",
              new_reps=pl.DataFrame({"rep_id": ["Ann"], "name": ["Ann"]}), stages=stages)
    assert store.frame("reps")["rep_id"].to_list() == ["Ann"]
    assert store.stages_frame()["name"].to_list() == ["Open", "Won"]
    store.undo(b.batch_id)
    assert store.content_digest() == empty


def test_db_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESCOPE_DB", str(tmp_path / "env.duckdb"))
    s = Store()
    assert s.path == (tmp_path / "env.duckdb").resolve()
    s.close()


def test_all_new_rows_go_straight_in_and_every_row_arrives(store, monkeypatch):
    """An upload none of whose keys is stored skips staging (the fast path); a mixed one is classified.
    200,000 rows: past the 122,880-row Arrow batch where DuckDB 2.0.0 once lost temp-table rows."""
    n = 200_000
    big = deals(*({"deal_id": f"d{i}", "status": "open", "amount": float(i)} for i in range(n)))
    staged: list[str] = []
    real = Store._load_incoming
    monkeypatch.setattr(Store, "_load_incoming", lambda self, cur, table, rows: (staged.append(table),
                                                                                   real(self, cur, table, rows))[1])
    first = write(store, big, "big", date(2024, 1, 1))
    assert (first.inserted, first.updated, first.unchanged) == (n, 0, 0) and staged == []
    assert store.table_count("deals", store.cursor()) == n
    # d0 changes, d1..d199999 are the same, d-new is new: classified through the staging table
    mixed = pl.concat([deals({"deal_id": "d0", "status": "won", "amount": 0.0}, {"deal_id": "d-new", "status": "open"}),
                       big.slice(1)])
    second = write(store, mixed, "mixed", date(2024, 1, 8))
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, n - 1) and staged == ["deals"]
    more = write(store, deals({"deal_id": "x1", "status": "open"}, {"deal_id": "x2", "status": "lost"}), "more")
    assert (more.inserted, more.updated) == (2, 0) and staged == ["deals"]
    store.undo(more.batch_id)
    store.undo(second.batch_id)
    assert store.table_count("deals", store.cursor()) == n
    assert store.frame("deals").filter(pl.col("deal_id") == "d0")["status"].to_list() == ["open"]

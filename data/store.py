"""The one module that talks SQL to the DuckDB file: every statement Salescope runs lives here.

Each query is a named method; values are always bound parameters. Table and column names come
only from the fixed `TABLES` map below (never from user input), so the few statements built per
table are assembled from that closed list at import time.

Writes happen in one transaction per import: upsert by the CRM's own id, keep the overwritten
version in the table's `*_prev` twin, append the deal snapshot, log the batch. `undo` reverses
exactly that. A crash mid-import leaves nothing behind: DuckDB rolls the open transaction back.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import duckdb
import polars as pl
import pyarrow as pa

from data.ingest.problems import ImportProblem

log = logging.getLogger(__name__)
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_DB = PACKAGE_DIR / "salescope.duckdb"
SCHEMA_SQL = (PACKAGE_DIR / "schema.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns (without batch_id) and the columns of its natural key."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("reps", ("rep_id", "name", "email", "team", "manager_id", "region", "hired_on", "left_on"), ("rep_id",)),
        Table("accounts", ("account_id", "name", "industry", "region", "size", "owner_rep_id", "created_on"), ("account_id",)),
        Table(
            "deals",
            ("deal_id", "account_id", "owner_rep_id", "name", "product", "amount", "currency", "stage", "status",
             "created_on", "close_date", "closed_on", "lost_reason", "probability", "forecast_category", "source"),
            ("deal_id",),
        ),
        Table("leads", ("lead_id", "created_on", "source", "owner_rep_id", "status", "converted_on", "deal_id"), ("lead_id",)),
        Table("stage_history", ("deal_id", "stage", "entered_at", "inferred"), ("deal_id", "stage", "entered_at")),
        Table("activities", ("activity_id", "rep_id", "account_id", "deal_id", "kind", "occurred_at", "duration_min", "outcome"), ("activity_id",)),
        Table("targets", ("scope", "scope_id", "period_start", "period_end", "measure", "value"), ("scope", "scope_id", "period_start", "period_end", "measure")),
    )
}
# Order in which undo/clear touch tables; stages and snapshots are handled beside them.
FACT_TABLES: tuple[str, ...] = tuple(TABLES)
STAGE_COLUMNS: tuple[str, ...] = ("name", "position", "probability", "is_won", "is_lost", "source")
SNAPSHOT_COLUMNS: tuple[str, ...] = ("snapshot_date", "deal_id", "stage", "status", "amount", "close_date", "owner_rep_id")
# the age buckets (days from creation to close) `snapshot_training` counts closed deals by: the
# historical forecast's default edges (metrics.forecast.AGE_EDGES; a test holds them equal)
TRAINING_AGE_EDGES: tuple[int, ...] = (0, 30, 90, 180)
READABLE: tuple[str, ...] = FACT_TABLES + ("stages", "deal_snapshots", "imports", "rejected_rows", "saved_mappings")


def _cols(cols: tuple[str, ...], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c}" for c in cols)


def _key_match(key: tuple[str, ...], a: str, b: str) -> str:
    return " AND ".join(f"{a}.{k} = {b}.{k}" for k in key)


def _build_sql() -> dict[str, dict[str, str]]:
    """Per-table statements, built once from the fixed TABLES map (identifiers only, no values)."""
    sql: dict[str, dict[str, str]] = {}
    for t in TABLES.values():
        cols = _cols(t.columns)
        differs = " OR ".join(f"s.{c} IS DISTINCT FROM t.{c}" for c in t.columns if c not in t.key)
        key0 = t.key[0]
        sql[t.name] = {
            "create_prev": f"CREATE TABLE IF NOT EXISTS {t.name}_prev AS SELECT *, NULL::INTEGER AS replaced_by FROM {t.name} WHERE false",
            # classify incoming rows against what is stored: new, changed or unchanged
            "classify": (
                f"CREATE OR REPLACE TEMP TABLE incoming_cls AS SELECT s.*, "
                f"CASE WHEN t.{key0} IS NULL THEN 'new' WHEN ({differs or 'false'}) THEN 'changed' ELSE 'same' END AS _cls "
                f"FROM incoming s LEFT JOIN {t.name} t ON {_key_match(t.key, 's', 't')}"
            ),
            "save_prev": (
                f"INSERT INTO {t.name}_prev SELECT t.*, ? FROM {t.name} t "
                f"WHERE EXISTS (SELECT 1 FROM incoming_cls s WHERE s._cls = 'changed' AND {_key_match(t.key, 's', 't')})"
            ),
            "delete_changed": (
                f"DELETE FROM {t.name} t WHERE EXISTS (SELECT 1 FROM incoming_cls s "
                f"WHERE s._cls = 'changed' AND {_key_match(t.key, 's', 't')})"
            ),
            "insert": f"INSERT INTO {t.name} ({cols}, batch_id) SELECT {cols}, ? FROM incoming_cls WHERE _cls <> 'same'",
            "undo_delete": f"DELETE FROM {t.name} WHERE batch_id = ?",
            "undo_restore": f"INSERT INTO {t.name} ({cols}, batch_id) SELECT {cols}, batch_id FROM {t.name}_prev WHERE replaced_by = ?",
            "undo_forget": f"DELETE FROM {t.name}_prev WHERE replaced_by = ?",
            "written_by": (f"SELECT EXISTS (SELECT 1 FROM {t.name} WHERE batch_id = ?) "
                           f"OR EXISTS (SELECT 1 FROM {t.name}_prev WHERE replaced_by = ?)"),
            "overwritten_later": (
                f"SELECT DISTINCT p.replaced_by FROM {t.name}_prev p JOIN imports i ON i.batch_id = p.replaced_by "
                f"WHERE p.batch_id = ? AND i.status = 'done'"
            ),
            "count": f"SELECT count(*) FROM {t.name}",
            "select": f"SELECT * FROM {t.name}",
            "clear": f"DELETE FROM {t.name}",
            "clear_batches": f"DELETE FROM {t.name} WHERE batch_id IN (SELECT batch_id FROM imports WHERE is_demo)",
            "clear_prev_batches": f"DELETE FROM {t.name}_prev WHERE replaced_by IN (SELECT batch_id FROM imports WHERE is_demo)",
            "clear_prev": f"DELETE FROM {t.name}_prev",
            "columns": "SELECT column_name, data_type FROM information_schema.columns "
                       "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
            "incoming_fill": f"INSERT INTO incoming ({cols}) SELECT {cols} FROM incoming_frame",
            # the fast path of an upload none of whose keys is stored yet: straight from the frame
            "any_stored": f"SELECT EXISTS (SELECT 1 FROM incoming_frame s JOIN {t.name} t ON {_key_match(t.key, 's', 't')})",
            "insert_frame": f"INSERT INTO {t.name} ({cols}, batch_id) SELECT {cols}, ? FROM incoming_frame",
            "count_batch": f"SELECT count(*) FROM {t.name} WHERE batch_id = ?",
            "any_row": f"SELECT EXISTS (SELECT 1 FROM {t.name})",
        }
    for name in ("stages", "deal_snapshots", "imports", "rejected_rows", "saved_mappings"):
        sql[name] = {"count": f"SELECT count(*) FROM {name}", "select": f"SELECT * FROM {name}"}
    return sql


SQL = _build_sql()

# The lookups an import matches its rows against, as they are and (True) as they will be once the demo
# company is gone: rows not written by a demo batch (a first real import replaces it, ImportWrite.replace_demo).
_NOT_DEMO = "(batch_id IS NULL OR batch_id NOT IN (SELECT batch_id FROM imports WHERE is_demo))"
_STAGES = "SELECT name, position, probability, is_won, is_lost, source FROM stages"
LOOKUP_SQL: dict[tuple[str, bool], str] = {
    ("stages", False): f"{_STAGES} ORDER BY position, name",
    ("stages", True): f"{_STAGES} WHERE {_NOT_DEMO} OR name IN (SELECT stage FROM deals WHERE {_NOT_DEMO}) "
                      f"OR name IN (SELECT stage FROM stage_history WHERE {_NOT_DEMO}) ORDER BY position, name",
    ("reps", False): "SELECT rep_id, name FROM reps",
    ("reps", True): f"SELECT rep_id, name FROM reps WHERE {_NOT_DEMO}",
    ("accounts", False): "SELECT account_id, name FROM accounts",
    ("accounts", True): f"SELECT account_id, name FROM accounts WHERE {_NOT_DEMO}",
    ("deals", False): "SELECT deal_id, name FROM deals",
    ("deals", True): f"SELECT deal_id, name FROM deals WHERE {_NOT_DEMO}",
}
# The values of an upload (registered as ref_values) that are not the id of a stored deal: when there are
# none, the upload names its deals by id and the whole deal lookup (ids and names) is not needed.
UNKNOWN_DEALS_SQL: dict[bool, str] = {
    False: "SELECT r.v FROM ref_values r WHERE NOT EXISTS (SELECT 1 FROM deals d WHERE d.deal_id = r.v)",
    True: f"SELECT r.v FROM ref_values r WHERE NOT EXISTS (SELECT 1 FROM deals d WHERE d.deal_id = r.v AND {_NOT_DEMO})",
}


@dataclass
class ImportWrite:
    """Everything one file import writes, handed to `Store.apply_import` as one unit."""

    kind: str
    file_name: str | None
    sha256: str | None
    rows: pl.DataFrame                          # canonical columns of TABLES[kind] (no batch_id)
    rows_read: int = 0
    skipped: int = 0
    rejects: pl.DataFrame | None = None         # line, column_name, reason, reason_code, params, raw
    mapping: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    snapshot_date: date | None = None           # deals only: append a snapshot at this date
    new_reps: pl.DataFrame | None = None        # reps first seen as owners in this file
    new_accounts: pl.DataFrame | None = None    # accounts first seen in this file
    stages: pl.DataFrame | None = None          # the whole pipeline after this import, when it changed
    is_demo: bool = False
    replace_demo: bool = False                  # a first real import: the demo company goes, in this transaction
    # a streamed import (a big file read in row batches): `rows` is empty, each (rows, rejects) batch is
    # written as it comes, inside the transaction; when they end, the batches have set `notes`, `new_reps`,
    # `new_accounts`, `rows_read` and `skipped` (known only then). An exception of a `refusals` type raised
    # by them is the import refused (its `.code` and `.text()` logged as a failed import, with the kind
    # and hash its `log_kind` and `log_sha256` give, if set), not a write failure; `ImportRetry` starts over.
    batches: Iterator[tuple[pl.DataFrame, pl.DataFrame]] | None = None
    refusals: tuple[type[BaseException], ...] = ()


class ImportRetry(Exception):
    """Raised by a streamed import's batches when what they were built on (a guess of the whole file's
    decisions) proved wrong: `apply_import` rolls back what they wrote and writes `batches` instead, in a
    new transaction under the same batch id."""

    def __init__(self, batches: Iterator[tuple[pl.DataFrame, pl.DataFrame]]) -> None:
        super().__init__("the import's batches are made again")
        self.batches = batches


@dataclass
class ImportCounts:
    batch_id: int
    inserted: int
    updated: int
    unchanged: int


REJECT_SCHEMA = {
    "line": pl.Int64, "column_name": pl.String, "reason": pl.String,
    "reason_code": pl.String, "params": pl.String, "raw": pl.String,
}


def _arrow(frame: pl.DataFrame) -> Any:
    """An import's rows as Arrow for DuckDB, text as string views on polars' own buffers (no copy).

    A polars frame registered as it is reaches DuckDB at polars' oldest Arrow level: every text column
    copied into a large_string array, which DuckDB keeps until the transaction ends (about 110 bytes a
    row, 1.1 GB for 10M activities, on top of the frame itself). The stored values are the same.
    Each column goes over with its own chunks: `DataFrame.to_arrow` first copies every column into the
    same pieces when they differ (the reader's hundreds of chunks beside a parsed column of one), the
    whole rows once more; an Arrow table takes columns cut differently, and DuckDB reads them as they are."""
    return pa.Table.from_arrays([pa.chunked_array(frame.get_column(c)) for c in frame.columns], names=frame.columns)


# DuckDB's row group (its default `row_group_size`, which the store never changes)
ROW_GROUP_ROWS = 122_880


def _arrow_once(frame: pl.DataFrame) -> Any:
    """`_arrow(frame)` as a reader that lets go of each piece once DuckDB has read it, in pieces of
    whole row groups.

    DuckDB keeps every Python object a transaction's statements scanned until the transaction ends: a
    registered frame or table, with all its buffers (about 100 bytes a row of activities), would stay
    for the whole import, every batch of a streamed one included. A reader read to its end holds nothing.
    An INSERT stores each piece it reads as row groups of its own: pieces cut elsewhere (the CSV
    reader's, about 158k rows) leave a part-filled row group behind each, which the next checkpoint
    rewrites into full ones (1M deals: 13 row groups, the checkpoint after the import 0.9-1.3 s). Cut
    at whole row groups (a row group's rows copied together, one at a time), the table is stored as the
    checkpoint keeps it (9 row groups, 0.01 s; the deals import 5.5 -> 4.7 s). The copies come from the
    system allocator, which hands them back: pyarrow's default pool (mimalloc) kept them, +90 MB at the
    import's peak.
    For one scan only (register it anew for each statement)."""
    table = _arrow(frame)
    if not isinstance(table, pa.Table):        # an object DuckDB scans as it is (tests' old route)
        return table
    schema, batches = table.schema, table.to_batches()
    del table

    def whole(rows: Any) -> list[Any]:        # the rows as one piece, copied by the system allocator
        return rows.combine_chunks(memory_pool=pa.system_memory_pool()).to_batches()

    def pieces() -> Iterator[Any]:
        held: list[Any] = []     # the pieces read but not passed on yet: fewer rows than a row group
        rows = 0
        while batches:
            held.append(batches.pop(0))
            rows += held[-1].num_rows
            while rows >= ROW_GROUP_ROWS:
                joined = pa.Table.from_batches(held, schema)
                yield from whole(joined.slice(0, ROW_GROUP_ROWS))
                held, rows = joined.slice(ROW_GROUP_ROWS).to_batches(), rows - ROW_GROUP_ROWS
                del joined
        if held:
            yield from whole(pa.Table.from_batches(held, schema))

    return pa.RecordBatchReader.from_batches(schema, pieces())


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple:
    """Run a query and return its first row, finishing the result (an open result keeps a
    transaction open, which blocks checkpoints)."""
    row = cur.execute(sql, params or []).fetchone()
    cur.complete()
    return row


def _pl(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run a query and return its rows as a polars frame (finishing any open result first)."""
    cur.complete()
    return cur.sql(sql, params=params).pl() if params else cur.sql(sql).pl()


def resolve_db_path(path: str | Path | None = None) -> Path:
    """--db PATH, else $SALESCOPE_DB, else data/salescope.duckdb beside this package."""
    chosen = path or os.environ.get("SALESCOPE_DB") or DEFAULT_DB
    return Path(chosen).expanduser().resolve()


# DuckDB settings a caller may give the connection (`Store(settings=...)`, e.g. the app's memory limit),
# by DuckDB's own names; the names are this closed list, the values are bound parameters.
CONNECTION_SETTINGS: tuple[str, ...] = ("memory_limit", "threads", "temp_directory", "allocator_flush_threshold",
                                        "allocator_background_threads")
_SET_SQL: dict[str, str] = {name: f"SET {name} = ?" for name in CONNECTION_SETTINGS}   # built once, names only


class Store:
    """Owns the DuckDB connection of one process. Use `cursor()` per thread (one per script run)."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False,
                 settings: dict[str, Any] | None = None) -> None:
        unknown = sorted(set(settings or {}) - set(CONNECTION_SETTINGS))
        if unknown:
            raise ValueError(f"not a connection setting: {', '.join(unknown)}")
        self.path = resolve_db_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as exc:  # another process holds the file lock
            if "lock" in str(exc).lower():
                raise ImportProblem("db_locked", path=str(self.path)) from exc
            raise
        try:
            self.apply_settings(settings or {})
        except duckdb.Error:
            self.con.close()
            raise
        self.write_lock = threading.Lock()
        self.import_lock = threading.Lock()     # one file import at a time; others wait their turn
        self._ddl: dict[str, str] = {}
        if not read_only:
            self._init_schema()
            self._mark_interrupted()
            self._init_derived()
        else:
            self._check_derived()

    # ------------------------------------------------------------------ lifecycle
    def _init_schema(self) -> None:
        self.con.execute(SCHEMA_SQL)
        for name in FACT_TABLES:
            self.con.execute(SQL[name]["create_prev"])
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS stages_prev AS SELECT *, NULL::INTEGER AS replaced_by FROM stages WHERE false"
        )

    def close(self) -> None:
        self.con.close()

    def apply_settings(self, settings: dict[str, Any]) -> None:
        """Set DuckDB options (names from CONNECTION_SETTINGS, None = leave as is). They hold for the
        whole database instance of this process, i.e. for every cursor and every Store on this file."""
        for name in CONNECTION_SETTINGS:
            if settings.get(name) is not None:
                self.con.execute(_SET_SQL[name], [settings[name]])

    def connection_settings(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, str]:
        """The current values of CONNECTION_SETTINGS, as DuckDB reports them (e.g. '488.2 MiB')."""
        rows = _pl(cur or self.cursor(), "SELECT name, value FROM duckdb_settings() WHERE list_contains($names, name)",
                   {"names": list(CONNECTION_SETTINGS)})
        return dict(zip(rows["name"].to_list(), rows["value"].to_list()))

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for one thread or one script run (DuckDB connections are not thread-safe)."""
        return self.con.cursor()

    def free_disk_bytes(self) -> int:
        """Free space on the disk that holds the database file."""
        import shutil

        return shutil.disk_usage(self.path.parent).free

    def checkpoint(self) -> None:
        """Fold the WAL into the file after a write. Best effort: while another session's query runs,
        DuckDB refuses, and the WAL (already durable) is folded in at a later checkpoint instead."""
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.TransactionException as exc:
            log.info("checkpoint deferred (the data is committed; the WAL is folded in later): %s", exc)

    # ------------------------------------------------------------------ reads: overview
    def table_count(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> int:
        """Row count of one canonical table."""
        return int(_one(cur or self.cursor(), SQL[name]["count"])[0])

    def counts(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, int]:
        """Rows per canonical table, snapshots included."""
        cur = cur or self.cursor()
        return {name: self.table_count(name, cur) for name in FACT_TABLES + ("deal_snapshots",)}

    def deal_status_counts(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, int]:
        """Deals by status: total, open, won, lost."""
        row = _one(cur or self.cursor(), 
            "SELECT count(*), count(*) FILTER (status = 'open'), count(*) FILTER (status = 'won'), "
            "count(*) FILTER (status = 'lost') FROM deals"
        )
        return {"total": int(row[0]), "open": int(row[1]), "won": int(row[2]), "lost": int(row[3])}

    def won_revenue(self, cur: duckdb.DuckDBPyConnection | None = None) -> float:
        """Sum of won deals' amounts (all time)."""
        row = _one(cur or self.cursor(), "SELECT coalesce(sum(amount), 0) FROM deals WHERE status = 'won'")
        return float(row[0])

    def date_range(self, cur: duckdb.DuckDBPyConnection | None = None) -> tuple[date | None, date | None]:
        """Earliest and latest date carried by deals (created, close or closed)."""
        row = _one(cur or self.cursor(), 
            "SELECT least(min(created_on), min(close_date), min(closed_on)), "
            "greatest(max(created_on), max(close_date), max(closed_on)) FROM deals"
        )
        return row[0], row[1]

    def last_import(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any] | None:
        """The newest completed import batch, or None."""
        df = _pl(cur or self.cursor(), 
            "SELECT batch_id, kind, file_name, imported_at, is_demo FROM imports "
            "WHERE status = 'done' ORDER BY batch_id DESC LIMIT 1"
        )
        return df.row(0, named=True) if df.height else None

    def is_empty(self, cur: duckdb.DuckDBPyConnection | None = None) -> bool:
        """True when no canonical table holds a row."""
        return all(v == 0 for v in self.counts(cur).values())

    def has_demo(self, cur: duckdb.DuckDBPyConnection | None = None) -> bool:
        """True when the demo company is loaded."""
        row = _one(cur or self.cursor(), 
            "SELECT count(*) FROM imports WHERE is_demo AND status = 'done'"
        )
        return int(row[0]) > 0

    def version(self, cur: duckdb.DuckDBPyConnection | None = None) -> str:
        """Changes whenever data changes (import, undo, clear): part of every cache key."""
        row = _one(cur or self.cursor(), 
            "SELECT coalesce(max(batch_id), 0), count(*) FILTER (status = 'undone'), "
            "count(*) FILTER (status = 'done') * 1000003 + count(*) FROM imports"
        )
        stages = _one(cur or self.cursor(), "SELECT count(*), coalesce(sum(position), 0) FROM stages")
        return f"{row[0]}.{row[1]}.{row[2]}.{stages[0]}.{stages[1]}"

    # ------------------------------------------------------------------ reads: frames
    def frame(self, name: str, cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """A whole canonical table as a polars frame (name from the fixed list)."""
        if name not in READABLE:
            raise KeyError(name)
        return _pl(cur or self.cursor(), SQL[name]["select"])

    def imports_frame(self, cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """The import history, newest first."""
        return _pl(cur or self.cursor(), 
            "SELECT batch_id, kind, file_name, imported_at, snapshot_date, rows_read, inserted, updated, "
            "unchanged, rejected, skipped, status, is_demo, mapping, notes FROM imports ORDER BY batch_id DESC"
        )

    def import_row(self, batch_id: int, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any] | None:
        """One import batch's log row."""
        df = _pl(cur or self.cursor(), "SELECT * FROM imports WHERE batch_id = ?", [batch_id])
        return df.row(0, named=True) if df.height else None

    def rejected_frame(self, batch_id: int, cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Rejected rows of one batch in file order."""
        return _pl(cur or self.cursor(), 
            "SELECT line, column_name, reason, reason_code, params, raw FROM rejected_rows "
            "WHERE batch_id = ? ORDER BY line", [batch_id]
        )

    # `without_demo`: as the lookup will be once the demo company is gone (see LOOKUP_SQL)
    def stages_frame(self, cur: duckdb.DuckDBPyConnection | None = None, without_demo: bool = False) -> pl.DataFrame:
        """The pipeline in order."""
        return _pl(cur or self.cursor(), LOOKUP_SQL[("stages", without_demo)])

    def rep_lookup(self, cur: duckdb.DuckDBPyConnection | None = None, without_demo: bool = False) -> pl.DataFrame:
        """Rep ids and names, to match owners given by id or by name."""
        return _pl(cur or self.cursor(), LOOKUP_SQL[("reps", without_demo)])

    def account_lookup(self, cur: duckdb.DuckDBPyConnection | None = None, without_demo: bool = False) -> pl.DataFrame:
        """Account ids and names, to match accounts given by id or by name."""
        return _pl(cur or self.cursor(), LOOKUP_SQL[("accounts", without_demo)])

    def deal_lookup(self, cur: duckdb.DuckDBPyConnection | None = None, without_demo: bool = False) -> pl.DataFrame:
        """Deal ids and names, for files that point at deals by name (Salesforce WhatId, OpportunityName)."""
        return _pl(cur or self.cursor(), LOOKUP_SQL[("deals", without_demo)])

    def unknown_deal_ids(self, values: pl.Series, cur: duckdb.DuckDBPyConnection | None = None,
                         without_demo: bool = False) -> pl.Series:
        """The values (distinct, non-null text) that are not the id of a stored deal."""
        cur = cur or self.cursor()
        cur.register("ref_values", pl.DataFrame({"v": values.cast(pl.String)}))
        try:
            return _pl(cur, UNKNOWN_DEALS_SQL[without_demo])["v"]
        finally:
            cur.unregister("ref_values")

    def saved_mapping(self, header_key: str, cur: duckdb.DuckDBPyConnection | None = None) -> tuple[str, dict[str, str]] | None:
        """The confirmed mapping saved for a header set: (kind, {source: field})."""
        row = _one(cur or self.cursor(), 
            "SELECT kind, mapping FROM saved_mappings WHERE header_key = ?", [header_key]
        )
        return (row[0], json.loads(row[1])) if row else None

    def live_batch_with_sha(self, sha256: str, kind: str, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any] | None:
        """The newest completed batch that imported this exact file as this kind."""
        df = _pl(cur or self.cursor(), 
            "SELECT batch_id, snapshot_date FROM imports WHERE sha256 = ? AND kind = ? AND status = 'done' "
            "ORDER BY batch_id DESC LIMIT 1", [sha256, kind]
        )
        return df.row(0, named=True) if df.height else None

    def snapshot_dates(self, cur: duckdb.DuckDBPyConnection | None = None) -> list[date]:
        """Distinct snapshot dates, oldest first."""
        rows = (cur or self.cursor()).execute(
            "SELECT DISTINCT snapshot_date FROM deal_snapshots ORDER BY snapshot_date"
        ).fetchall()
        return [r[0] for r in rows]

    def snapshot_frame(self, snapshot_date: date, cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Deals as they stood at one snapshot date (the latest upload of that date wins per deal)."""
        return _pl(cur or self.cursor(), 
            "SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id FROM deal_snapshots "
            "WHERE snapshot_date = ? QUALIFY row_number() OVER (PARTITION BY deal_id ORDER BY batch_id DESC) = 1",
            [snapshot_date],
        )

    def content_digest(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, list[tuple]]:
        """Every data table's rows, sorted: equal digests mean equal content (used by tests and checks).

        The import log and saved mappings are not data: undo keeps them (the log records the undo)."""
        cur = cur or self.cursor()
        out: dict[str, list[tuple]] = {}
        for name in FACT_TABLES + ("stages", "deal_snapshots"):
            out[name] = sorted(cur.execute(SQL[name]["select"]).fetchall(), key=repr)
        return out

    # ------------------------------------------------------------------ reads: filtered for views
    # A scope is {"teams", "regions", "reps", "products", "segments"}: lists, empty = all.
    # Region is the rep's region (else the account's); segment is the account's size.
    def dimension_values(self, cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, list]:
        """The values the filter bar offers: teams, regions, reps (id, name), products, segments."""
        cur = cur or self.cursor()

        def col(sql: str) -> list:
            return [r[0] for r in cur.execute(sql).fetchall()]

        return {
            "teams": col("SELECT DISTINCT team FROM reps WHERE team IS NOT NULL ORDER BY 1"),
            "regions": col("SELECT DISTINCT region FROM reps WHERE region IS NOT NULL "
                           "UNION SELECT DISTINCT region FROM accounts WHERE region IS NOT NULL ORDER BY 1"),
            "reps": [tuple(r) for r in cur.execute(
                "SELECT rep_id, coalesce(name, rep_id) FROM reps ORDER BY 2").fetchall()],
            "products": col("SELECT DISTINCT product FROM deals WHERE product IS NOT NULL ORDER BY 1"),
            "segments": col("SELECT DISTINCT size FROM accounts WHERE size IS NOT NULL ORDER BY 1"),
        }

    _REPS_IN_SCOPE = (
        "SELECT rep_id FROM reps WHERE (len($teams) = 0 OR list_contains($teams, team)) "
        "AND (len($regions) = 0 OR list_contains($regions, region)) "
        "AND (len($reps) = 0 OR list_contains($reps, rep_id))"
    )
    _DEALS_IN_SCOPE = (
        "SELECT d.* FROM deals d LEFT JOIN reps r ON r.rep_id = d.owner_rep_id "
        "LEFT JOIN accounts a ON a.account_id = d.account_id "
        "WHERE (len($teams) = 0 OR list_contains($teams, r.team)) "
        "AND (len($regions) = 0 OR list_contains($regions, coalesce(r.region, a.region))) "
        "AND (len($reps) = 0 OR list_contains($reps, d.owner_rep_id)) "
        "AND (len($products) = 0 OR list_contains($products, d.product)) "
        "AND (len($segments) = 0 OR list_contains($segments, a.size))"
    )

    @staticmethod
    def _scope_params(scope: dict[str, Any]) -> dict[str, list[str]]:
        return {k: [str(v) for v in scope.get(k, ())] for k in ("teams", "regions", "reps", "products", "segments")}

    def _scoped(self, sql: str, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None,
                keys: tuple[str, ...]) -> pl.DataFrame:
        params = self._scope_params(scope)
        cur = cur or self.cursor()
        cur.complete()
        return cur.sql(sql, params={k: params[k] for k in keys}).pl()

    def deals_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Deals of the reps, regions, products and account segments in scope."""
        return self._scoped(self._DEALS_IN_SCOPE, scope, cur, ("teams", "regions", "reps", "products", "segments"))

    def reps_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Reps of the teams, regions and reps in scope."""
        return self._scoped(f"SELECT * FROM reps WHERE rep_id IN ({self._REPS_IN_SCOPE})", scope, cur,
                            ("teams", "regions", "reps"))

    def activities_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Activities of the reps in scope (and, with a segment filter, of accounts in those segments)."""
        return self._scoped(
            f"SELECT x.* FROM activities x LEFT JOIN accounts a ON a.account_id = x.account_id "
            f"WHERE (x.rep_id IN ({self._REPS_IN_SCOPE}) OR (len($teams) + len($regions) + len($reps) = 0)) "
            f"AND (len($segments) = 0 OR list_contains($segments, a.size))",
            scope, cur, ("teams", "regions", "reps", "segments"))

    def stage_history_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Stage history of the deals in scope."""
        return self._scoped(f"SELECT h.* FROM stage_history h WHERE h.deal_id IN (SELECT deal_id FROM ({self._DEALS_IN_SCOPE}))",
                            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    # with a team, region or rep in scope (a manager's team, a rep's own deals): only the accounts those
    # reps own or have a deal in scope with, so no other account's name or count shows
    _ACCOUNTS_IN_SCOPE = (
        "SELECT * FROM accounts WHERE (len($segments) = 0 OR list_contains($segments, size)) "
        "AND (len($teams) + len($regions) + len($reps) = 0 OR owner_rep_id IN ({reps}) "
        "     OR account_id IN (SELECT account_id FROM ({deals})))"
    )

    def accounts_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Accounts of the segments in scope; with a team, region or rep in scope, only those owned by
        its reps or with a deal in scope."""
        if not any(scope.get(k) for k in ("teams", "regions", "reps", "products")):   # no pass over the deals
            sql = "SELECT * FROM accounts WHERE (len($segments) = 0 OR list_contains($segments, size))"
            return self._bound_frame(sql, self._scope_params(scope), cur)
        return self._scoped(self._ACCOUNTS_IN_SCOPE.format(reps=self._REPS_IN_SCOPE, deals=self._DEALS_IN_SCOPE),
                            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    def summary_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any]:
        """`counts`, `deal_status_counts` and `date_range` of the rows in scope (what a manager or a
        rep may see of "what is loaded"): {"counts": {table: rows}, "status": {...}, "first", "last"}."""
        reps, deals = self._REPS_IN_SCOPE, self._DEALS_IN_SCOPE
        no_people = "len($teams) + len($regions) + len($reps) = 0"
        count = {
            "reps": f"SELECT count(*) FROM reps WHERE rep_id IN ({reps})",
            "accounts": f"SELECT count(*) FROM ({self._ACCOUNTS_IN_SCOPE.format(reps=reps, deals=deals)})",
            "leads": f"SELECT count(*) FROM leads WHERE {no_people} OR owner_rep_id IN ({reps})",
            "stage_history": f"SELECT count(*) FROM stage_history WHERE deal_id IN (SELECT deal_id FROM ({deals}))",
            "activities": f"SELECT count(*) FROM activities x LEFT JOIN accounts a ON a.account_id = x.account_id "
                          f"WHERE (x.rep_id IN ({reps}) OR {no_people}) "
                          f"AND (len($segments) = 0 OR list_contains($segments, a.size))",
            "deal_snapshots": f"SELECT count(*) FROM deal_snapshots WHERE deal_id IN (SELECT deal_id FROM ({deals}))",
            "deals": f"SELECT count(*), count(*) FILTER (status = 'open'), count(*) FILTER (status = 'won'), "
                     f"count(*) FILTER (status = 'lost'), least(min(created_on), min(close_date), min(closed_on)), "
                     f"greatest(max(created_on), max(close_date), max(closed_on)) FROM ({deals})",
        }
        cur = cur or self.cursor()
        cur.complete()
        params = self._scope_params(scope)
        counts: dict[str, int] = {}
        for name in FACT_TABLES + ("deal_snapshots",):
            if name == "deals":
                row = cur.execute(count["deals"], params).fetchone()
                counts[name] = int(row[0])
            elif name == "targets":
                counts[name] = self.targets_in_scope(scope, cur).height
            else:
                sql = count[name]
                counts[name] = int(cur.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchone()[0])
        status = {"total": int(row[0]), "open": int(row[1]), "won": int(row[2]), "lost": int(row[3])}
        return {"counts": counts, "status": status, "first": row[4], "last": row[5]}

    def leads_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Leads owned by reps in scope (all leads when no rep filter is set)."""
        return self._scoped(
            f"SELECT * FROM leads WHERE len($teams) + len($regions) + len($reps) = 0 "
            f"OR owner_rep_id IN ({self._REPS_IN_SCOPE})", scope, cur, ("teams", "regions", "reps"))

    def targets_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Targets that belong to the scope: company targets only without rep/team/region filters;
        rep targets of reps in scope; team targets of teams in scope; product targets of products in scope."""
        return self._scoped(
            f"SELECT * FROM targets WHERE "
            f"(scope = 'company' AND len($teams) + len($regions) + len($reps) + len($products) + len($segments) = 0) "
            f"OR (scope = 'rep' AND scope_id IN ({self._REPS_IN_SCOPE}) AND len($products) + len($segments) = 0) "
            f"OR (scope = 'team' AND len($reps) + len($regions) + len($products) + len($segments) = 0 "
            f"    AND (len($teams) = 0 OR list_contains($teams, scope_id))) "
            f"OR (scope = 'product' AND len($teams) + len($regions) + len($reps) + len($segments) = 0 "
            f"    AND (len($products) = 0 OR list_contains($products, scope_id)))",
            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    def snapshots_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Every snapshot row of deals in scope (latest upload per date and deal)."""
        return self._scoped(
            f"SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id FROM deal_snapshots s "
            f"WHERE s.deal_id IN (SELECT deal_id FROM ({self._DEALS_IN_SCOPE})) "
            f"QUALIFY row_number() OVER (PARTITION BY snapshot_date, deal_id ORDER BY batch_id DESC) = 1",
            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    def snapshots_with_removed_in_scope(self, scope: dict[str, Any],
                                        cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Every snapshot row of deals in scope (latest upload per date and deal), plus the rows of
        deals no longer in the deals table (deleted in the CRM) whose snapshot owner is in scope —
        the waterfall's "removed" bar needs them. Without a rep, team or region filter every such
        deal counts; with a product or segment filter none can be placed, so none counts."""
        return self._scoped(
            f"SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id FROM deal_snapshots s "
            f"WHERE s.deal_id IN (SELECT deal_id FROM ({self._DEALS_IN_SCOPE})) "
            f"OR (s.deal_id NOT IN (SELECT deal_id FROM deals) AND len($products) + len($segments) = 0 "
            f"    AND (len($teams) + len($regions) + len($reps) = 0 OR s.owner_rep_id IN ({self._REPS_IN_SCOPE}))) "
            f"QUALIFY row_number() OVER (PARTITION BY snapshot_date, deal_id ORDER BY batch_id DESC) = 1",
            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    # ------------------------------------------------------------------ reads: aggregated for views
    # Narrow or pre-aggregated frames, so a view hands polars thousands of rows instead of millions.
    # Each mirrors a pure definition in metrics/ (named in its docstring); tests/test_store_views.py
    # checks that both give the same frame.
    _DEAL_FACTS = ("deal_id", "account_id", "owner_rep_id", "product", "amount", "currency", "stage", "status",
                   "created_on", "close_date", "closed_on", "probability")

    def deal_facts_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None,
                            columns: tuple[str, ...] = _DEAL_FACTS, *, open_only: bool = False,
                            with_ids: list[str] | None = None) -> pl.DataFrame:
        """The deals of `deals_in_scope` with only the columns the metrics read (no names, reasons,
        sources): a fraction of the transfer cost of whole rows; `columns` narrows them further
        (any of `_DEAL_FACTS`, or adds the deal's name and batch_id); `open_only`: the open ones, and
        the deals of `with_ids` whatever their status."""
        known = self._DEAL_FACTS + ("name", "batch_id")     # and what the meeting's stalled and hygiene lists read
        if not set(columns) <= set(known):
            raise ValueError(f"not a deal fact: {sorted(set(columns) - set(known))}")
        cols = ", ".join(f"d.{c}" for c in columns)
        if with_ids is not None and not open_only:
            raise ValueError("with_ids adds deals to the open ones: pass open_only=True")
        if not open_only:
            return self._scoped(f"SELECT {cols} FROM ({self._DEALS_IN_SCOPE}) d", scope, cur,
                                ("teams", "regions", "reps", "products", "segments"))
        sql = (f"SELECT {cols} FROM ({self._deals_sql(scope)}) d WHERE d.status = 'open' "
               f"OR d.deal_id IN (SELECT unnest(CAST($ids AS VARCHAR[])))")
        return self._bound_frame(sql, self._scope_params(scope) | {"ids": [str(i) for i in with_ids or []]}, cur)

    def stage_entries_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """deal_id, stage, entered_at of the stage history of the deals in scope (no batch or
        inference columns)."""
        return self._scoped(
            f"SELECT h.deal_id, h.stage, h.entered_at FROM stage_history h "
            f"WHERE h.deal_id IN (SELECT deal_id FROM ({self._DEALS_IN_SCOPE}))",
            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    _DAILY_COUNTS = ("activities",) + tuple(f"activities_{k}" for k in ("call", "email", "meeting", "visit", "task",
                                                                          "other"))
    # whitespace trimmed from kinds, as polars' str.strip_chars() does (ASCII and Unicode spaces)
    _SPACES = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
               "\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
    _REBUILD_DAILY = (
        "INSERT INTO activity_daily SELECT x.rep_id, CAST(x.occurred_at AS DATE), a.size, count(*), "
        + ", ".join(f"count(*) FILTER (x.k = '{k}')" for k in ("call", "email", "meeting", "visit", "task"))
        + ", count(*) FILTER (x.k IS NULL OR x.k NOT IN ('call', 'email', 'meeting', 'visit', 'task')) "
        "FROM (SELECT rep_id, account_id, occurred_at, lower(trim(kind, $spaces)) AS k FROM activities) x "
        "LEFT JOIN accounts a ON a.account_id = x.account_id GROUP BY 1, 2, 3"
    )

    _REBUILD_MONTHS = (
        "INSERT INTO activity_months SELECT rep_id, account_id, CASE WHEN account_id IS NULL THEN deal_id END, "
        "CAST(date_trunc('month', CAST(occurred_at AS DATE)) AS DATE) AS m, count(*), max(CAST(occurred_at AS DATE)) "
        "FROM activities GROUP BY 1, 2, 3, 4 ORDER BY m"
    )
    # stage_facts in one pass over the history: each row with the next entry of its deal (the window), then
    # per deal and stage (a deal's rows are all in one window partition, so the facts of some deals are
    # this same statement over their rows only: `_ONLY_TOUCHED`)
    _REBUILD_FACTS = (
        "INSERT INTO stage_facts SELECT deal_id, stage, min(entered_at), max(entered_at), "
        "CAST(coalesce(sum(greatest(CAST(CAST(next_at AS DATE) - CAST(entered_at AS DATE) AS BIGINT), 0)) "
        "  FILTER (next_at IS NOT NULL), 0) AS BIGINT), CAST(count(next_at) AS BIGINT), bool_or(next_at IS NULL) "
        "FROM (SELECT deal_id, stage, entered_at, "
        "  lead(entered_at) OVER (PARTITION BY deal_id ORDER BY entered_at, stage) AS next_at FROM stage_history) "
        "GROUP BY deal_id, stage ORDER BY deal_id, stage"
    )
    # the open stages of the stored pipeline in order, as `metrics._common.open_stages` numbers them
    # (neither won nor lost, one per name, by position then name); `deal_reach` is built with them
    _OPEN_STAGES = (
        "SELECT name AS stage, CAST(row_number() OVER (ORDER BY min(position), name) - 1 AS BIGINT) AS stage_index "
        "FROM stages WHERE NOT coalesce(is_won, false) AND NOT coalesce(is_lost, false) GROUP BY name ORDER BY 2"
    )

    @classmethod
    def _rebuild_reach_sql(cls, n: int) -> str:
        """deal_reach of the `n` open stages of `_OPEN_STAGES` (their indexes bound as $s0, $s1, ...,
        and $n): per deal of stage_facts the furthest of them its history shows (hist_idx) and the
        furthest it entered in order from the first on (strict_idx: first entries never earlier than
        the previous stage's), as `stage_reach_in_scope` computes them; both null without any."""
        firsts = "".join(f", max(f.first_at) FILTER (i.stage_index = $s{k}) AS f{k}" for k in range(n))
        breaks = "".join(f" WHEN f{k} IS NULL OR f{k} < f{k - 1} THEN $s{k}" for k in range(1, n))
        strict = (f"CASE WHEN hist_idx IS NOT NULL THEN greatest(CASE WHEN f0 IS NULL THEN $s0{breaks} ELSE $n END, 1) - 1 END"
                  if n else "NULL")
        return (f"INSERT INTO deal_reach SELECT deal_id, hist_idx, CAST({strict} AS BIGINT) FROM ("
                f"SELECT f.deal_id, max(i.stage_index) AS hist_idx{firsts} FROM stage_facts f "
                f"LEFT JOIN ({cls._OPEN_STAGES}) i ON i.stage = f.stage GROUP BY f.deal_id) ORDER BY deal_id")
    # the derived tables and the canonical tables each is computed from (deal_reach and stay_counts after
    # stage_facts; deal_reach also from the pipeline, `stages`)
    DERIVED_FROM: dict[str, tuple[str, ...]] = {"activity_daily": ("activities", "accounts"),
                                                "activity_months": ("activities",),
                                                "stage_facts": ("stage_history",),
                                                "deal_reach": ("stage_history", "stages"),
                                                "stay_counts": ("stage_history", "deals"),
                                                "snapshot_training": ("deal_snapshots", "deals", "stage_history", "stages"),
                                                "snapshot_last_open": ("deal_snapshots",)}
    # every table a derived table is computed from (a rebuild "of everything": clear, demo replacement)
    _ALL_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(t for srcs in DERIVED_FROM.values() for t in srcs))
    # the derived table each one is computed from, which a rebuild of it therefore follows
    _DERIVED_AFTER: dict[str, str] = {"deal_reach": "stage_facts", "stay_counts": "stage_facts",
                                      "snapshot_training": "deal_reach"}
    # Incremental rebuild of the stage tables: the deals one batch touches (rows it wrote, rows it replaced),
    # as the temp table `touched_stage_facts`, taken while both versions are known: after an import's
    # writes, before an undo's. Every derived row of a deal is a function of that deal's history rows only,
    # so deleting and recomputing those deals gives the rows of a full rebuild. (The activity tables stay
    # whole rebuilds: keyed by (rep, day) and (rep, account, month), a 10% update of 10M activities
    # recomputed that way measured slower than the whole rebuild, 8.1 vs 4.5 s CPU.)
    _TOUCHED: dict[str, tuple[tuple[str, ...], str]] = {
        "stage_facts": (("deal_id",), (
            "CREATE OR REPLACE TEMP TABLE touched_stage_facts AS "
            "SELECT deal_id FROM stage_history WHERE batch_id = $b "
            "UNION SELECT deal_id FROM stage_history_prev WHERE replaced_by = $b")),
    }
    _TOUCHED["deal_reach"] = _TOUCHED["stage_facts"]
    # the canonical tables whose changed rows `_TOUCHED` notes per derived table (a change of its other
    # sources, e.g. the pipeline for deal_reach, rebuilds it whole)
    _TOUCHED_FROM: dict[str, tuple[str, ...]] = {"stage_facts": ("stage_history",), "deal_reach": ("stage_history",)}
    # the touched keys of a derived table, matched against the derived rows (d) ...
    _DELETE_TOUCHED: dict[str, str] = {
        name: f"DELETE FROM {name} d WHERE EXISTS (SELECT 1 FROM touched_stage_facts t "
              f"WHERE {' AND '.join(f't.{k} IS NOT DISTINCT FROM d.{k}' for k in keys)})"
        for name, (keys, _) in _TOUCHED.items()
    }
    # ... and the source rows of the full build restricted to them (same SELECT, a semi-join added)
    _ONLY_TOUCHED: dict[str, tuple[str, str]] = {
        "stage_facts": ("FROM stage_history) GROUP BY",
                        "FROM stage_history WHERE deal_id IN (SELECT deal_id FROM touched_stage_facts)) GROUP BY"),
        "deal_reach": ("GROUP BY f.deal_id",
                       "WHERE f.deal_id IN (SELECT deal_id FROM touched_stage_facts) GROUP BY f.deal_id"),
    }

    _CLEAR_DERIVED: dict[str, str] = {name: f"DELETE FROM {name}" for name in DERIVED_FROM}
    _DROP_TOUCHED: tuple[str, ...] = tuple(f"DROP TABLE IF EXISTS touched_{t}" for t in (
        "stage_facts", "stay_deals", "stay_delta", "stay_keys"))

    def _full_sql(self, name: str, n: int = 0) -> str:
        if name == "deal_reach":
            return self._rebuild_reach_sql(n)
        return {"activity_daily": self._REBUILD_DAILY, "activity_months": self._REBUILD_MONTHS,
                "stage_facts": self._REBUILD_FACTS, "stay_counts": self._REBUILD_STAY_COUNTS,
                "snapshot_last_open": self._REBUILD_LAST_OPEN.format(
                    latest=self._latest_snapshots_sql({}, "s.deal_id IS NOT NULL"))}[name]

    def _incremental_sql(self, name: str, n: int = 0) -> str:
        old, new = self._ONLY_TOUCHED[name]
        full = self._full_sql(name, n)
        if full.count(old) != 1:
            raise RuntimeError(f"incremental build of {name}: source clause not found once")
        return full.replace(old, new)

    def _touched_keys(self, cur: duckdb.DuckDBPyConnection, batch_id: int,
                      changed: tuple[str, ...] = FACT_TABLES, written: bool = True) -> frozenset[str]:
        """Note the keys batch `batch_id` touches in each derived table computed from the `changed` tables
        (temp tables `touched_*`; for stay_counts also the touched deals' counts as they are before the batch:
        `written` says whether its writes are done, as after an import's, or not, as before an undo's);
        returns the derived tables that can be rebuilt incrementally: those holding rows (an empty one is
        built whole, which is then the faster way)."""
        done: set[str] = set()
        for name, srcs in self.DERIVED_FROM.items():
            if name == "stay_counts":
                if set(changed) & set(srcs) and _one(cur, "SELECT EXISTS (SELECT 1 FROM stay_counts)")[0]:
                    cur.execute(self._STAY_TOUCHED, {"b": batch_id})
                    touched, deals = _one(cur, "SELECT (SELECT count(*) FROM touched_stay_deals), (SELECT count(*) FROM deals)")
                    if touched <= self.STAY_INCREMENTAL_SHARE * deals:
                        cur.execute(self._STAY_BEFORE[written], {"b": batch_id} if written else None)
                        done.add(name)
                    else:
                        cur.execute("DROP TABLE touched_stay_deals")
                continue
            if name not in self._TOUCHED or not set(changed) & set(srcs) or set(changed) & set(srcs) - set(self._TOUCHED_FROM[name]):
                continue
            if not _one(cur, f"SELECT EXISTS (SELECT 1 FROM {name})")[0]:
                continue
            sql = self._TOUCHED[name][1]
            if sql not in done:
                cur.execute(sql, {"b": batch_id})
                done.add(sql)
            done.add(name)
        return frozenset(n for n in done if n in self.DERIVED_FROM)

    def _rebuild_derived(self, cur: duckdb.DuckDBPyConnection, changed: tuple[str, ...] = _ALL_SOURCES,
                         incremental: frozenset[str] = frozenset(), only: frozenset[str] | None = None) -> None:
        """Recompute the derived tables computed from the `changed` canonical tables (default: all),
        inside the caller's transaction: those in `incremental` only for the keys `_touched_keys` noted
        (then the temp tables go), the others whole; with `only`, just those tables and the ones
        computed from them."""
        done: set[str] = set()
        for name, srcs in self.DERIVED_FROM.items():      # deal_reach and stay_counts after stage_facts
            if not set(changed) & set(srcs):
                continue
            if only is not None and name not in only and self._DERIVED_AFTER.get(name) not in done:
                continue
            done.add(name)
            params = {"spaces": self._SPACES} if name == "activity_daily" else None
            n = 0
            if name == "deal_reach":                      # numbered by the stored pipeline's open stages
                n = _one(cur, f"SELECT count(*) FROM ({self._OPEN_STAGES})")[0]
                params = {f"s{k}": k for k in range(n)} | ({"n": n} if n else {})
            if name == "snapshot_training":               # after deal_reach, which it reads
                cur.execute(self._CLEAR_DERIVED[name])
                self._build_training(cur)
                continue
            if name == "stay_counts" and name in incremental:   # corrected by the touched deals (after stage_facts)
                for sql in self._STAY_AFTER:
                    cur.execute(sql)
                continue
            if name in incremental:
                cur.execute(self._DELETE_TOUCHED[name])
                sql = self._incremental_sql(name, n)
            else:
                cur.execute(self._CLEAR_DERIVED[name])
                sql = self._full_sql(name, n)
            cur.execute(sql, params) if params else cur.execute(sql)
        if incremental:
            for sql in self._DROP_TOUCHED:
                cur.execute(sql)

    def _init_derived(self) -> None:
        """Fill the derived tables of a database written before they existed."""
        cur = self.cursor()
        stale = frozenset(name for name, srcs in self.DERIVED_FROM.items()
                          if _one(cur, f"SELECT (SELECT count(*) FROM {name}) = 0 AND EXISTS (SELECT 1 FROM {srcs[0]})")[0])
        if stale:
            cur.execute("BEGIN TRANSACTION")
            try:
                self._rebuild_derived(cur, tuple(self.DERIVED_FROM[n][0] for n in stale), only=stale)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def _check_derived(self) -> None:
        """A read-only open cannot build the derived tables a database written before them lacks (or
        holds empty beside their filled source): say so at once instead of failing or showing nothing
        in the first view that reads them."""
        have = {r[0] for r in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
        missing = sorted(name for name, srcs in self.DERIVED_FROM.items() if name not in have or _one(
            self.con, f"SELECT (SELECT count(*) FROM {name}) = 0 AND EXISTS (SELECT 1 FROM {srcs[0]})")[0])
        if missing:
            self.con.close()
            raise RuntimeError(f"{self.path} lacks the derived tables {missing} (written by an older "
                               "Salescope): open it once for writing, which builds them")

    def activity_daily_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """Activities in scope counted per rep and day: rep_id, day, activities, activities_<kind>
        for call/email/meeting/visit/task/other — `metrics.leaderboard.daily_activity_counts` of
        `activities_in_scope`, summed from the derived `activity_daily` table."""
        sums = ", ".join(f"CAST(sum({c}) AS BIGINT) AS {c}" for c in self._DAILY_COUNTS)
        sql = f"SELECT x.rep_id, x.day, {sums} FROM activity_daily x WHERE true"
        keys: tuple[str, ...] = ()
        if any(scope.get(k) for k in ("teams", "regions", "reps")):
            sql += f" AND x.rep_id IN ({self._REPS_IN_SCOPE})"
            keys += ("teams", "regions", "reps")
        if scope.get("segments"):
            sql += " AND list_contains($segments, x.segment)"
            keys += ("segments",)
        return self._scoped(sql + " GROUP BY 1, 2 ORDER BY 1, 2", scope, cur, keys)

    def _with_stage_index(self, cur: duckdb.DuckDBPyConnection, stage_index: pl.DataFrame, sql: str,
                          params: dict[str, Any]) -> pl.DataFrame:
        """Run `sql` with `stage_index` (stage, stage_index: the open stages in pipeline order, as
        `metrics._common.open_stages` gives them) readable as the relation `stage_idx`."""
        cur.complete()
        cur.register("stage_idx", stage_index.select("stage", pl.col("stage_index").cast(pl.Int64)))
        try:
            return cur.sql(sql, params=params).pl()
        finally:
            cur.unregister("stage_idx")

    @classmethod
    def _deals_sql(cls, scope: dict[str, Any]) -> str:
        """The deals of `_DEALS_IN_SCOPE` with only the filters that are set, as id lookups instead of
        joins where the filter allows (rep and account ids are keys, so either gives the same deals):
        no join at all without filters. A region filter (the rep's region, else the account's) keeps
        the joins. Bind with `_bound`."""
        if scope.get("regions"):
            return cls._DEALS_IN_SCOPE
        sql = "SELECT d.* FROM deals d WHERE true"
        for cond in cls._owner_filters(scope, "d.owner_rep_id"):
            sql += f" AND {cond}"
        if scope.get("products"):
            sql += " AND list_contains($products, d.product)"
        if scope.get("segments"):
            sql += " AND d.account_id IN (SELECT account_id FROM accounts WHERE list_contains($segments, size))"
        return sql

    @staticmethod
    def _owner_filters(scope: dict[str, Any], owner: str) -> list[str]:
        """The conditions of a scope's teams and reps filters (those set) on the owner column `owner`,
        bound as $teams and $reps: the deals' and the derived tables' kept by owner alike."""
        conds = [f"{owner} IN (SELECT rep_id FROM reps WHERE list_contains($teams, team))"] if scope.get("teams") else []
        return conds + ([f"list_contains($reps, {owner})"] if scope.get("reps") else [])

    _SCOPE_KEYS = ("teams", "regions", "reps", "products", "segments")

    def _bound_frame(self, sql: str, params: dict[str, Any], cur: duckdb.DuckDBPyConnection | None) -> pl.DataFrame:
        """The result of a statement as a polars frame, bound with the parameters it uses (`_bound`)."""
        cur = cur or self.cursor()
        cur.complete()
        return cur.sql(sql, params=self._bound(sql, params)).pl()

    @staticmethod
    def _bound(sql: str, params: dict[str, Any]) -> dict[str, Any]:
        """The named parameters a statement uses (DuckDB refuses unused ones). A scope filter that is
        set but not used is an error, never dropped: a query that forgot `_deals_sql` would otherwise
        show a manager or a rep more than their scope."""
        used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
        lost = [k for k in Store._SCOPE_KEYS if params.get(k) and k not in used]
        if lost:
            raise ValueError(f"scope filter(s) {lost} set but not applied by the statement")
        return {k: v for k, v in params.items() if k in used}

    def history_reach_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame,
                               cur: duckdb.DuckDBPyConnection | None = None, *, status: str | None = None,
                               closed_from: date | None = None, closed_to: date | None = None) -> pl.DataFrame:
        """deal_id, hist_idx: the furthest open stage the stage history of each deal in scope shows
        — `metrics.funnel.history_reach`; optionally only of deals with that `status` whose close day
        (closed_on, else close_date) lies in [closed_from, closed_to] (a bound given needs a close day).
        From the derived `deal_reach` (else, for another numbering than the stored pipeline's, from
        `stage_facts`)."""
        d = (f"SELECT deal_id FROM ({self._deals_sql(scope)}) d "
             f"  WHERE (CAST($status AS VARCHAR) IS NULL OR d.status = $status) "
             f"  AND (CAST($c_from AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) >= CAST($c_from AS DATE)) "
             f"  AND (CAST($c_to AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) <= CAST($c_to AS DATE))")
        params = self._scope_params(scope) | {"status": status, "c_from": closed_from, "c_to": closed_to}
        cur = cur or self.cursor()
        if self._reach_stored(cur, stage_index):
            sql = f"SELECT deal_id, hist_idx FROM deal_reach WHERE hist_idx IS NOT NULL AND deal_id IN ({d}) ORDER BY 1"
            return self._bound_frame(sql, params, cur)
        sql = (f"SELECT h.deal_id, CAST(max(i.stage_index) AS BIGINT) AS hist_idx FROM stage_facts h "
               f"JOIN stage_idx i ON i.stage = h.stage WHERE h.deal_id IN ({d}) GROUP BY 1 ORDER BY 1")
        return self._with_stage_index(cur, stage_index, sql, self._bound(sql, params))

    def bottleneck_counts_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame,
                                   periods: list[tuple[date | None, date | None]],
                                   cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """team, period, status, max_idx, deals, amount, amounts: the deals in scope won or lost in
        each of `periods` (index into the list, as `metrics.funnel.bottleneck_periods` gives them;
        close day = closed_on, else close_date) counted per owner's team (of the reps in scope),
        status and furthest open stage reached (won: the last; else the furthest of their
        `stage_facts` and current stage, 0 without either), with the sum (0 without any) and number
        of their known amounts — `metrics.funnel.bottleneck_counts` (closed cohort, "reached")."""
        return self.bottleneck_counts_by_method_in_scope(scope, stage_index, periods, ("reached",), cur)["reached"]

    def bottleneck_counts_by_method_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame,
                                             periods: list[tuple[date | None, date | None]],
                                             methods: tuple[str, ...] = ("reached", "strict"),
                                             cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, pl.DataFrame]:
        """`bottleneck_counts_in_scope` of each funnel method of `methods` — `metrics.funnel
        .bottleneck_counts_by_method` (closed cohort), the furthest stage as `_reach_counted` gives it.
        One pass over the deals for all methods."""
        schema = {"team": pl.String, "period": pl.Int64, "status": pl.String, "max_idx": pl.Int64,
                  "deals": pl.Int64, "amount": pl.Float64, "amounts": pl.Int64}
        if not periods or stage_index.height == 0:
            return {m: pl.DataFrame(schema=schema) for m in self._methods(methods)}
        parts = " UNION ALL ".join(
            f"SELECT CAST($p{k} AS BIGINT) AS period, d.* FROM d WHERE {self._close_within(k)}"
            for k in range(len(periods)))
        cte = (f"d AS (SELECT d.deal_id, d.status, d.stage, d.amount, d.closed_on, d.close_date, r.team "
               f"  FROM ({self._deals_sql(scope)}) d "
               f"  LEFT JOIN (SELECT rep_id, team FROM reps WHERE rep_id IN ({self._REPS_IN_SCOPE})) r "
               f"  ON r.rep_id = d.owner_rep_id WHERE d.status IN ('won', 'lost')), "
               f"p AS ({parts})")
        params = dict(self._scope_params(scope))
        for k, (lo, hi) in enumerate(periods):
            params |= {f"p{k}": k, f"f{k}": lo, f"t{k}": hi}
        return self._reach_counted(cur or self.cursor(), stage_index, methods, cte, {"team": pl.String, "period": pl.Int64},
                                   params)

    def funnel_reach_counts_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame, period_from: date | None,
                                     period_to: date | None, as_of: date, methods: tuple[str, ...] = ("reached", "strict"),
                                     cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, pl.DataFrame]:
        """team, owner_rep_id, status, max_idx, deals: the funnel's deals in scope (won or lost in the
        period, plus those open at `as_of`) counted per owner's team (of the reps in scope), owner,
        status and furthest open stage of each method (`_reach_counted`) — `metrics.funnel.reach_counts`
        by team and owner (closed_and_open cohort), from which every funnel of the Funnel page follows."""
        keys = {"team": pl.String, "owner_rep_id": pl.String}
        if stage_index.height == 0:
            return {m: pl.DataFrame(schema=keys | {"status": pl.String, "max_idx": pl.Int64, "deals": pl.Int64})
                    for m in self._methods(methods)}
        cte = (f"p AS (SELECT d.deal_id, d.status, d.stage, d.amount, d.owner_rep_id, r.team "
               f"  FROM ({self._deals_sql(scope)}) d "
               f"  LEFT JOIN (SELECT rep_id, team FROM reps WHERE rep_id IN ({self._REPS_IN_SCOPE})) r "
               f"  ON r.rep_id = d.owner_rep_id WHERE {self._COHORT})")
        params = self._scope_params(scope) | {"p_from": period_from, "p_to": period_to, "as_of": as_of}
        found = self._reach_counted(cur or self.cursor(), stage_index, methods, cte, keys, params)
        return {m: frame.drop("amount", "amounts") for m, frame in found.items()}

    @staticmethod
    def _methods(methods: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(methods) - {"reached", "strict"}
        if unknown:
            raise ValueError(f"unknown funnel method(s) {sorted(unknown)}")
        return methods

    def _reach_counted(self, cur: duckdb.DuckDBPyConnection, stage_index: pl.DataFrame, methods: tuple[str, ...],
                       cte: str, keys: dict[str, pl.DataType], params: dict[str, Any]) -> dict[str, pl.DataFrame]:
        """The deals of the CTE `p` (deal_id, status, stage, amount and the `keys` columns; `cte` may
        define others before it) counted per `keys`, status and furthest open stage of each method —
        "reached": won deals the last, else the furthest of their history's (`deal_reach`, else
        `stage_facts`) and their current stage, 0 without either; "strict": the furthest entered in
        order from the first on (`deal_reach.strict_idx`, 0 without one; the stored pipeline's
        numbering only) — as max_idx, with deals, amount (the known amounts' sum, 0 without any) and
        amounts (how many). One pass over `p` for all methods."""
        methods = self._methods(methods)
        if "strict" in methods and not self._reach_stored(cur, stage_index):
            raise ValueError("the strict reach is stored for the stored pipeline's numbering only")
        reach = ("reach AS (SELECT deal_id, hist_idx, strict_idx FROM deal_reach)" if "strict" in methods
                 else self._reach_cte(cur, stage_index, "p"))
        idx = {"reached": f"CAST({self._max_idx_sql('p.status', 'r.hist_idx')} AS BIGINT)",
               "strict": "CAST(coalesce(r.strict_idx, 0) AS BIGINT)"}
        sql = (f"WITH {cte}, {reach} "
               f"SELECT {''.join(f'p.{k}, ' for k in keys)}p.status, {', '.join(f'{idx[m]} AS idx_{m}' for m in methods)}, "
               f"  CAST(count(*) AS BIGINT) AS deals, CAST(coalesce(sum(p.amount), 0) AS DOUBLE) AS amount, "
               f"  CAST(count(p.amount) AS BIGINT) AS amounts "
               f"FROM p LEFT JOIN reach r ON r.deal_id = p.deal_id LEFT JOIN stage_idx c ON c.stage = p.stage "
               f"GROUP BY ALL")
        found = self._with_stage_index(cur, stage_index, sql, self._bound(sql, params | {"last": stage_index.height - 1}))
        schema = keys | {"status": pl.String, "max_idx": pl.Int64, "deals": pl.Int64, "amount": pl.Float64,
                         "amounts": pl.Int64}
        out = {}
        for m in methods:
            rows = found if len(methods) == 1 else found.group_by(*keys, "status", f"idx_{m}").agg(
                pl.col("deals").sum(), pl.col("amount").sum(), pl.col("amounts").sum())
            out[m] = (rows.rename({f"idx_{m}": "max_idx"}).select(list(schema)).cast(schema)
                      .sort(*keys, "status", "max_idx", nulls_last=True))
        return out

    def closed_counts_by_owner_in_scope(self, scope: dict[str, Any], periods: list[tuple[date | None, date | None]],
                                        cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """owner_rep_id, period_from, period_to, status, cycle_days, deals, won_amount, won_amounts: for
        each of `periods` (distinct ones; null bounds: all time, every closed deal), the deals in scope
        won or lost with a close day (closed_on, else close_date) in it, counted per owner, status and
        sales cycle (won deals: days from creation to close day, null when unknown or negative; lost
        deals: null), with the sum of the won deals' amounts (0 without any) and how many have one —
        `metrics.leaderboard.DealCounts.closed`."""
        schema = {"owner_rep_id": pl.String, "period_from": pl.Date, "period_to": pl.Date, "status": pl.String,
                  "cycle_days": pl.Int64, "deals": pl.Int64, "won_amount": pl.Float64, "won_amounts": pl.Int64}
        periods = list(dict.fromkeys(periods))
        if not periods:
            return pl.DataFrame(schema=schema)
        parts = " UNION ALL ".join(
            f"SELECT CAST($f{k} AS DATE) AS period_from, CAST($t{k} AS DATE) AS period_to, d.* FROM d "
            f"WHERE {self._close_within(k)}" for k in range(len(periods)))
        cycle = "datediff('day', created_on, coalesce(closed_on, close_date))"
        sql = (
            f"WITH d AS (SELECT d.owner_rep_id, d.status, d.amount, d.created_on, d.closed_on, d.close_date "
            f"  FROM ({self._deals_sql(scope)}) d WHERE d.status IN ('won', 'lost')), "
            f"p AS ({parts}) "
            f"SELECT owner_rep_id, period_from, period_to, status, "
            f"  CASE WHEN status = 'won' AND {cycle} >= 0 THEN {cycle} END AS cycle_days, count(*) AS deals, "
            f"  coalesce(sum(amount) FILTER (status = 'won'), 0) AS won_amount, "
            f"  count(amount) FILTER (status = 'won') AS won_amounts "
            f"FROM p GROUP BY 1, 2, 3, 4, 5 ORDER BY 1 NULLS LAST, 2 NULLS FIRST, 3 NULLS FIRST, 4, 5 NULLS LAST"
        )
        params = dict(self._scope_params(scope))
        for k, (lo, hi) in enumerate(periods):
            params |= {f"f{k}": lo, f"t{k}": hi}
        return self._bound_frame(sql, params, cur).cast(schema)

    def open_counts_by_owner_in_scope(self, scope: dict[str, Any], days: list[date],
                                      cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """owner_rep_id, as_of, deals, amount: for each of `days` (distinct ones), per owner of any deal
        in scope (zeros where none is open), the open deals created on or before it (or without a
        creation day) and the sum of their known amounts (0 without any) —
        `metrics.leaderboard.DealCounts.open`."""
        schema = {"owner_rep_id": pl.String, "as_of": pl.Date, "deals": pl.Int64, "amount": pl.Float64}
        days = list(dict.fromkeys(days))
        if not days:
            return pl.DataFrame(schema=schema)
        opened = [f"(status = 'open' AND (created_on IS NULL OR created_on <= CAST($a{k} AS DATE)))"
                  for k in range(len(days))]
        counts = ", ".join(f"count(*) FILTER ({c}) AS n{k}, coalesce(sum(amount) FILTER ({c}), 0) AS s{k}"
                           for k, c in enumerate(opened))
        rows = " UNION ALL ".join(f"SELECT owner_rep_id, CAST($a{k} AS DATE) AS as_of, n{k} AS deals, s{k} AS amount FROM g"
                                  for k in range(len(days)))
        sql = (f"WITH g AS (SELECT owner_rep_id, {counts} FROM ({self._deals_sql(scope)}) d GROUP BY 1) "
               f"{rows} ORDER BY 1 NULLS LAST, 2")
        params = self._scope_params(scope) | {f"a{k}": day for k, day in enumerate(days)}
        return self._bound_frame(sql, params, cur).cast(schema)

    def plan_sums_in_scope(self, scope: dict[str, Any], period_from: date, period_to: date, as_of: date,
                           cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """kind, owner_rep_id, month, deals, amount: the deals in scope won in [period_from, period_to]
        (close day = closed_on, else close_date) per owner and month of the close day ("won"), open
        at `as_of` (created then or before, or no creation day) with a close_date in the span per
        owner and month of it ("pipeline"), and closed up to `as_of` counted per status
        ("closed_won", "closed_lost"; no owner, no month); amount sums the known amounts (0 without
        any) — `metrics.forecast.plan_sums`."""
        schema = {"kind": pl.String, "owner_rep_id": pl.String, "month": pl.Date, "deals": pl.Int64,
                  "amount": pl.Float64}
        sums = "CAST(count(*) AS BIGINT) AS deals, CAST(coalesce(sum(amount), 0) AS DOUBLE) AS amount"
        sql = (
            f"WITH d AS (SELECT d.owner_rep_id, d.status, d.amount, d.created_on, d.close_date, "
            f"  coalesce(d.closed_on, d.close_date) AS close_day FROM ({self._deals_sql(scope)}) d) "
            f"SELECT 'won' AS kind, owner_rep_id, CAST(date_trunc('month', close_day) AS DATE) AS month, {sums} "
            f"FROM d WHERE status = 'won' AND close_day BETWEEN CAST($lo AS DATE) AND CAST($hi AS DATE) GROUP BY 1, 2, 3 "
            f"UNION ALL "
            f"SELECT 'pipeline', owner_rep_id, CAST(date_trunc('month', close_date) AS DATE), {sums} "
            f"FROM d WHERE status = 'open' AND (created_on IS NULL OR created_on <= CAST($as_of AS DATE)) "
            f"AND close_date BETWEEN CAST($lo AS DATE) AND CAST($hi AS DATE) GROUP BY 1, 2, 3 "
            f"UNION ALL "
            f"SELECT 'closed_' || status, NULL, NULL, CAST(count(*) AS BIGINT), 0.0 FROM d "
            f"WHERE status IN ('won', 'lost') AND close_day <= CAST($as_of AS DATE) GROUP BY 1 "
            f"ORDER BY 1, 2 NULLS LAST, 3 NULLS LAST"
        )
        params = self._scope_params(scope) | {"lo": period_from, "hi": period_to, "as_of": as_of}
        return self._bound_frame(sql, params, cur).cast(schema)

    def completed_stays_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame,
                                 cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """stage_index, days, deals: the deals in scope counted by their completed days in each open
        stage — `metrics.funnel.completed_stays` (intervals between consecutive `entered_at`, the
        last one of a closed deal up to its close day, each clipped at zero, summed per deal and stage).
        Without a region, product or segment filter (a scope of owners, or none) summed from the derived
        `stay_counts`; else from `stage_facts` and the deals."""
        params = self._scope_params(scope)
        if not any(scope.get(k) for k in ("regions", "products", "segments")):
            sql = ("SELECT i.stage_index, s.days, CAST(sum(s.deals) AS BIGINT) AS deals FROM stay_counts s "
                   "JOIN stage_idx i ON i.stage = s.stage WHERE true")
            for cond in self._owner_filters(scope, "s.owner_rep_id"):
                sql += f" AND {cond}"
            sql += " GROUP BY 1, 2 ORDER BY 1, 2"
            return self._with_stage_index(cur or self.cursor(), stage_index, sql, self._bound(sql, params))
        d = (f"SELECT deal_id, owner_rep_id, status, coalesce(closed_on, close_date) AS close_day "
             f"FROM ({self._deals_sql(scope)})")
        sql = (f"WITH d AS ({d}), {self._STAYS} SELECT stage_index, CAST(days AS BIGINT) AS days, "
               f"CAST(count(*) AS BIGINT) AS deals FROM stays GROUP BY 1, 2 ORDER BY 1, 2")
        return self._with_stage_index(cur or self.cursor(), stage_index, sql, self._bound(sql, params))

    # per deal of `d` (deal_id, owner_rep_id, status, close_day) and open stage of `stage_idx`: its
    # completed days there (`metrics.funnel.completed_stays` before counting), from `stage_facts`
    _CLOSED = "(d.status <> 'open' AND d.close_day IS NOT NULL)"
    _STAY_DAYS = (f"f.mid_days + CASE WHEN f.is_last AND {_CLOSED} "
                  f"THEN greatest(CAST(d.close_day - CAST(f.last_at AS DATE) AS BIGINT), 0) ELSE 0 END")
    _STAY_KEPT = f"f.mid_n > 0 OR (f.is_last AND {_CLOSED})"
    _STAYS = (
        f"stays AS (SELECT f.deal_id, d.owner_rep_id, i.stage_index, {_STAY_DAYS} AS days "
        f"          FROM stage_facts f JOIN d ON d.deal_id = f.deal_id JOIN stage_idx i ON i.stage = f.stage "
        f"          WHERE {_STAY_KEPT})"
    )
    # the derived `stay_counts`: those completed days of every deal in every stage its history shows,
    # counted per owner, stage and days (the open stages are picked when it is read)
    _REBUILD_STAY_COUNTS = (
        f"INSERT INTO stay_counts SELECT d.owner_rep_id, f.stage, CAST({_STAY_DAYS} AS BIGINT) AS days, "
        f"CAST(count(*) AS BIGINT) FROM stage_facts f JOIN (SELECT deal_id, owner_rep_id, status, "
        f"coalesce(closed_on, close_date) AS close_day FROM deals) d ON d.deal_id = f.deal_id "
        f"WHERE {_STAY_KEPT} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )
    # stay_counts after an import or undo, without the whole rebuild: a count over deals, so (unlike the keyed
    # stage tables) it is not recomputed per key but corrected by the deals the batch touches (its and the
    # replaced rows, of the history and of the deals; temp table `touched_stay_deals`): their counts before
    # the change taken off (`touched_stay_delta`, noted by `_touched_keys` while stage_facts is as before;
    # the deals as before: after an import's writes, its rows give way to those they replaced, before an
    # undo's as stored), their counts after it added, and each changed count's row rewritten (none at 0).
    # Beyond this share of the deals touched, the correction (two passes over the touched deals' facts) costs
    # more than the whole rebuild (1m, a deals re-import changing 10% of 1M deals: 0.65 vs 1.06 s CPU; 50%:
    # 2.0 vs 1.1 s), so stay_counts is rebuilt whole.
    STAY_INCREMENTAL_SHARE = 0.2
    _STAY_TOUCHED = (
        "CREATE OR REPLACE TEMP TABLE touched_stay_deals AS "
        "SELECT deal_id FROM stage_history WHERE batch_id = $b UNION SELECT deal_id FROM stage_history_prev "
        "WHERE replaced_by = $b UNION SELECT deal_id FROM deals WHERE batch_id = $b "
        "UNION SELECT deal_id FROM deals_prev WHERE replaced_by = $b"
    )
    _STAY_D = "deal_id, owner_rep_id, status, coalesce(closed_on, close_date) AS close_day"
    _IN_TOUCHED = "deal_id IN (SELECT deal_id FROM touched_stay_deals)"
    _STAY_OF_TOUCHED = (f" SELECT d.owner_rep_id, f.stage, CAST({_STAY_DAYS} AS BIGINT) AS days, CAST(%s AS BIGINT) AS deals "
                        f"FROM stage_facts f JOIN (%s) d ON d.deal_id = f.deal_id "
                        f"WHERE f.{_IN_TOUCHED} AND ({_STAY_KEPT}) GROUP BY 1, 2, 3")
    _STAY_BEFORE: dict[bool, str] = {   # by whether the batch's writes are done (an import) or not (an undo)
        True: "CREATE OR REPLACE TEMP TABLE touched_stay_delta AS" + _STAY_OF_TOUCHED % (
            "-count(*)", f"SELECT {_STAY_D} FROM deals WHERE batch_id IS DISTINCT FROM $b AND {_IN_TOUCHED} "
                         f"UNION ALL SELECT {_STAY_D} FROM deals_prev WHERE replaced_by = $b"),
        False: "CREATE OR REPLACE TEMP TABLE touched_stay_delta AS" + _STAY_OF_TOUCHED % (
            "-count(*)", f"SELECT {_STAY_D} FROM deals WHERE {_IN_TOUCHED}"),
    }
    _SAME_STAY = ("s.owner_rep_id IS NOT DISTINCT FROM k.owner_rep_id AND s.stage IS NOT DISTINCT FROM k.stage "
                  "AND s.days IS NOT DISTINCT FROM k.days")
    _STAY_AFTER: tuple[str, ...] = (
        "INSERT INTO touched_stay_delta" + _STAY_OF_TOUCHED % ("count(*)", f"SELECT {_STAY_D} FROM deals WHERE {_IN_TOUCHED}"),
        "CREATE OR REPLACE TEMP TABLE touched_stay_keys AS SELECT owner_rep_id, stage, days, CAST(sum(deals) AS BIGINT) "
        "AS deals FROM touched_stay_delta GROUP BY 1, 2, 3 HAVING sum(deals) <> 0",
        f"UPDATE stay_counts s SET deals = s.deals + k.deals FROM touched_stay_keys k WHERE {_SAME_STAY}",
        f"INSERT INTO stay_counts SELECT * FROM touched_stay_keys k WHERE NOT EXISTS (SELECT 1 FROM stay_counts s WHERE {_SAME_STAY})",
        "DELETE FROM stay_counts WHERE deals = 0",
    )
    # the funnel's cohort (`metrics._common.deals_in_scope`, closed_and_open): deals won or lost in
    # the period (all time: every one), plus the deals open at $as_of
    _COHORT = (
        "((d.status IN ('won', 'lost') AND ((CAST($p_from AS DATE) IS NULL AND CAST($p_to AS DATE) IS NULL) "
        "   OR (coalesce(d.closed_on, d.close_date) IS NOT NULL "
        "       AND (CAST($p_from AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) >= CAST($p_from AS DATE)) "
        "       AND (CAST($p_to AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) <= CAST($p_to AS DATE))))) "
        " OR (d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE))))"
    )

    def funnel_stays_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame, period_from: date | None,
                              period_to: date | None, as_of: date,
                              cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """owner_rep_id, stage_index, days, deals: the funnel's deals in scope (won or lost in the
        period, plus those open at `as_of`) counted per owner by their completed days in each open
        stage — `metrics.funnel.completed_stays(..., by="owner_rep_id")` of that cohort, from
        `stage_facts`."""
        d = (f"SELECT d.deal_id, d.owner_rep_id, d.status, coalesce(d.closed_on, d.close_date) AS close_day "
             f"FROM ({self._deals_sql(scope)}) d WHERE {self._COHORT}")
        sql = (f"WITH d AS ({d}), {self._STAYS} SELECT owner_rep_id, stage_index, CAST(days AS BIGINT) AS days, "
               f"CAST(count(*) AS BIGINT) AS deals FROM stays GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        params = self._scope_params(scope) | {"p_from": period_from, "p_to": period_to, "as_of": as_of}
        return self._with_stage_index(cur or self.cursor(), stage_index, sql, self._bound(sql, params))

    def stage_reach_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame,
                             cur: duckdb.DuckDBPyConnection | None = None, *, closed_from: date | None = None,
                             closed_to: date | None = None, open_as_of: date | None = None) -> pl.DataFrame:
        """deal_id, hist_idx, strict_idx of the deals in scope — `metrics.funnel.stage_reach`: the
        furthest open stage their history shows, and the furthest one they entered in order from
        the first on (first entries never earlier than the previous stage's), from the derived
        `deal_reach` (else, for another numbering than the stored pipeline's, from `stage_facts`).
        With a `closed_from` or `closed_to` bound, only of the deals won or lost in it (a close day
        needed) and, with `open_as_of`, of those open at that day."""
        d = (f"SELECT deal_id FROM ({self._deals_sql(scope)}) d "
             f"WHERE (CAST($c_from AS DATE) IS NULL AND CAST($c_to AS DATE) IS NULL) "
             f"OR (d.status IN ('won', 'lost') AND coalesce(d.closed_on, d.close_date) IS NOT NULL "
             f"    AND (CAST($c_from AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) >= CAST($c_from AS DATE)) "
             f"    AND (CAST($c_to AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) <= CAST($c_to AS DATE))) "
             f"OR (d.status = 'open' AND CAST($o_as_of AS DATE) IS NOT NULL "
             f"    AND (d.created_on IS NULL OR d.created_on <= CAST($o_as_of AS DATE)))")
        # one column per open stage (f0, f1, ...: generated names; the indexes are bound as $s0, $s1, ...):
        # each deal's first entry there, then the strict prefix from them in stage order
        n = stage_index.height
        firsts = "".join(f", max(f.first_at) FILTER (i.stage_index = $s{k}) AS f{k}" for k in range(n))
        breaks = "".join(f" WHEN f{k} IS NULL OR f{k} < f{k - 1} THEN $s{k}" for k in range(1, n))
        sql = (
            f"SELECT deal_id, CAST(hist_idx AS BIGINT) AS hist_idx, "
            f"CAST(greatest(CASE WHEN f0 IS NULL THEN $s0{breaks} ELSE $n END, 1) - 1 AS BIGINT) AS strict_idx "
            f"FROM (SELECT f.deal_id, max(i.stage_index) AS hist_idx{firsts} "
            f"      FROM stage_facts f JOIN stage_idx i ON i.stage = f.stage WHERE f.deal_id IN ({d}) GROUP BY 1) "
            f"ORDER BY deal_id"
        )
        if n == 0:
            return pl.DataFrame(schema={"deal_id": pl.String, "hist_idx": pl.Int64, "strict_idx": pl.Int64})
        params = (self._scope_params(scope) | {"c_from": closed_from, "c_to": closed_to, "o_as_of": open_as_of, "n": n}
                  | {f"s{k}": k for k in range(n)})
        cur = cur or self.cursor()
        if self._reach_stored(cur, stage_index):           # the same two numbers, stored per deal at import
            sql = (f"SELECT deal_id, hist_idx, strict_idx FROM deal_reach "
                   f"WHERE hist_idx IS NOT NULL AND deal_id IN ({d}) ORDER BY deal_id")
            return self._bound_frame(sql, params, cur)
        return self._with_stage_index(cur, stage_index, sql, self._bound(sql, params))

    def has_stage_history_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> bool:
        """Whether any deal in scope has a stage-history row."""
        sql = f"SELECT EXISTS (SELECT 1 FROM stage_facts WHERE deal_id IN (SELECT deal_id FROM ({self._deals_sql(scope)})))"
        cur = cur or self.cursor()
        cur.complete()
        return bool(cur.execute(sql, self._bound(sql, self._scope_params(scope))).fetchone()[0])

    def current_stage_entries_in_scope(self, scope: dict[str, Any], as_of: date,
                                       cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """deal_id, entered_on: for deals in scope open at `as_of`, the latest day up to `as_of` their
        history shows them entering their current stage — `metrics.funnel.current_stage_entries`.
        The last entry of `stage_facts` when it is not after `as_of`; else the history rows of it."""
        sql = (
            f"WITH d AS (SELECT d.deal_id, d.stage, f.first_at, f.last_at FROM ({self._deals_sql(scope)}) d "
            f"  JOIN stage_facts f ON f.deal_id = d.deal_id AND f.stage = d.stage "
            f"  WHERE d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE)) "
            f"  AND CAST(f.first_at AS DATE) <= CAST($as_of AS DATE)) "
            f"SELECT deal_id, CAST(last_at AS DATE) AS entered_on FROM d WHERE CAST(last_at AS DATE) <= CAST($as_of AS DATE) "
            f"UNION ALL "
            f"SELECT d.deal_id, CAST(max(h.entered_at) AS DATE) FROM d "
            f"  JOIN stage_history h ON h.deal_id = d.deal_id AND h.stage = d.stage "
            f"  WHERE CAST(d.last_at AS DATE) > CAST($as_of AS DATE) AND CAST(h.entered_at AS DATE) <= CAST($as_of AS DATE) "
            f"  GROUP BY 1 ORDER BY 1"
        )
        return self._bound_frame(sql, self._scope_params(scope) | {"as_of": as_of}, cur)

    def stage_days_in_scope(self, scope: dict[str, Any], as_of: date,
                            cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """stage, days_in_stage, deals, amount: the deals in scope open at `as_of` counted by their
        current stage and whole days in it up to `as_of` — from the latest day up to `as_of` their
        history shows them entering it (as `current_stage_entries_in_scope`), else their creation
        day (null without either) — with the sum of their known amounts (0 without any):
        `metrics.funnel.stage_days`."""
        sql = (
            f"WITH o AS (SELECT d.deal_id, d.stage, d.amount, d.created_on FROM ({self._deals_sql(scope)}) d "
            f"  WHERE d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE))), "
            f"f AS (SELECT o.deal_id, o.stage, f.last_at FROM o JOIN stage_facts f ON f.deal_id = o.deal_id "
            f"  AND f.stage = o.stage WHERE CAST(f.first_at AS DATE) <= CAST($as_of AS DATE)), "
            f"e AS (SELECT deal_id, CAST(last_at AS DATE) AS entered_on FROM f "
            f"  WHERE CAST(last_at AS DATE) <= CAST($as_of AS DATE) "
            f"  UNION ALL "
            f"  SELECT f.deal_id, CAST(max(h.entered_at) AS DATE) FROM f "
            f"  JOIN stage_history h ON h.deal_id = f.deal_id AND h.stage = f.stage "
            f"  WHERE CAST(f.last_at AS DATE) > CAST($as_of AS DATE) AND CAST(h.entered_at AS DATE) <= CAST($as_of AS DATE) "
            f"  GROUP BY 1) "
            f"SELECT o.stage, CAST(CAST($as_of AS DATE) - coalesce(e.entered_on, o.created_on) AS BIGINT) AS days_in_stage, "
            f"CAST(count(*) AS BIGINT) AS deals, CAST(coalesce(sum(o.amount), 0) AS DOUBLE) AS amount "
            f"FROM o LEFT JOIN e ON e.deal_id = o.deal_id GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2 NULLS LAST"
        )
        schema = {"stage": pl.String, "days_in_stage": pl.Int64, "deals": pl.Int64, "amount": pl.Float64}
        return self._bound_frame(sql, self._scope_params(scope) | {"as_of": as_of}, cur).cast(schema)

    def first_close_day_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> date | None:
        """The earliest close day (closed_on, else close_date) of the deals in scope, None without any."""
        sql = f"SELECT min(coalesce(d.closed_on, d.close_date)) FROM ({self._deals_sql(scope)}) d"
        cur = cur or self.cursor()
        cur.complete()
        return cur.execute(sql, self._bound(sql, self._scope_params(scope))).fetchone()[0]

    # the close day of `metrics._common.close_day` and the filter of `metrics._common.within` over it,
    # with its bounds bound as $f{k} / $t{k} (both null: every deal, null close days included)
    @staticmethod
    def _close_within(k: int) -> str:
        day = "coalesce(d.closed_on, d.close_date)"
        return (f"((CAST($f{k} AS DATE) IS NULL AND CAST($t{k} AS DATE) IS NULL) OR ({day} IS NOT NULL "
                f"AND (CAST($f{k} AS DATE) IS NULL OR {day} >= CAST($f{k} AS DATE)) "
                f"AND (CAST($t{k} AS DATE) IS NULL OR {day} <= CAST($t{k} AS DATE))))")

    def closed_deal_counts_in_scope(self, scope: dict[str, Any], periods: list[tuple[date | None, date | None]],
                                    cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """period, status, cycle_days, deals, won_amount, won_amounts: the deals in scope won or lost
        in each of `periods` (index into the list; close day = closed_on, else close_date, inside
        [from, to], both None = all time) counted per status and, for won deals, per sales cycle
        (days from created_on to the close day, null when unknown or negative); won_amount sums
        their amounts and won_amounts counts the known ones — the input of
        `metrics.kpis.closed_summary`."""
        schema = {"period": pl.Int64, "status": pl.String, "cycle_days": pl.Int64, "deals": pl.Int64,
                  "won_amount": pl.Float64, "won_amounts": pl.Int64}
        if not periods:
            return pl.DataFrame(schema=schema)
        day = "coalesce(d.closed_on, d.close_date)"
        cycle = f"CASE WHEN d.status = 'won' AND {day} - d.created_on >= 0 THEN {day} - d.created_on END"
        parts = " UNION ALL ".join(
            f"SELECT CAST($p{k} AS BIGINT) AS period, d.status, d.amount, {cycle} AS cycle_days "
            f"FROM d WHERE {self._close_within(k)}" for k in range(len(periods)))
        sql = (f"WITH d AS (SELECT d.status, d.amount, d.created_on, d.closed_on, d.close_date "
               f"  FROM ({self._deals_sql(scope)}) d WHERE d.status IN ('won', 'lost')) "
               f"SELECT period, status, CAST(cycle_days AS BIGINT) AS cycle_days, CAST(count(*) AS BIGINT) AS deals, "
               f"CAST(sum(amount) FILTER (status = 'won') AS DOUBLE) AS won_amount, "
               f"CAST(count(amount) FILTER (status = 'won') AS BIGINT) AS won_amounts "
               f"FROM ({parts}) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3")
        params = self._scope_params(scope)
        for k, (lo, hi) in enumerate(periods):
            params |= {f"p{k}": k, f"f{k}": lo, f"t{k}": hi}
        cur = cur or self.cursor()
        cur.complete()
        return cur.sql(sql, params=self._bound(sql, params)).pl().cast(schema)

    def won_by_month_in_scope(self, scope: dict[str, Any], period_from: date, period_to: date,
                              cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """month, won_deals, won_revenue: the deals in scope won in [period_from, period_to] by the
        first day of the month of their close day (closed_on, else close_date) — `metrics.kpis.
        won_revenue(..., by="month")`; months without a won deal are left out, and a month whose won
        deals have no amount has a null revenue."""
        sql = (f"SELECT CAST(date_trunc('month', coalesce(d.closed_on, d.close_date)) AS DATE) AS month, "
               f"CAST(count(*) AS BIGINT) AS won_deals, CAST(sum(d.amount) AS DOUBLE) AS won_revenue "
               f"FROM ({self._deals_sql(scope)}) d WHERE d.status = 'won' AND {self._close_within(0)} "
               f"GROUP BY 1 ORDER BY 1")
        params = self._scope_params(scope) | {"f0": period_from, "t0": period_to}
        return self._bound_frame(sql, params, cur)

    def snapshot_rows_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """The rows of `snapshots_with_removed_in_scope` before the latest upload per date and deal is
        picked: every upload's row with its batch_id, sorted by snapshot_date, deal_id, batch_id, so
        `metrics.changes.latest_rows` picks the latest in one pass (cheaper than a window in SQL).
        Without any filter every row qualifies (a deal is in the deals table or it is not), so then no
        join is made."""
        if not any(scope.get(k) for k in ("teams", "regions", "reps", "products", "segments")):
            return self._scoped("SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id, "
                                "batch_id FROM deal_snapshots ORDER BY snapshot_date, deal_id, batch_id", scope, cur, ())
        return self._scoped(
            f"SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id, batch_id "
            f"FROM deal_snapshots s "
            f"WHERE s.deal_id IN (SELECT deal_id FROM ({self._deals_sql(scope)})) "
            f"OR (s.deal_id NOT IN (SELECT deal_id FROM deals) AND len($products) + len($segments) = 0 "
            f"    AND (len($teams) + len($regions) + len($reps) = 0 OR s.owner_rep_id IN ({self._REPS_IN_SCOPE}))) "
            f"ORDER BY snapshot_date, deal_id, batch_id",
            scope, cur, ("teams", "regions", "reps", "products", "segments"))

    def forecast_deals_in_scope(self, scope: dict[str, Any], won_from: date, won_to: date,
                                cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """The deals of `deals_in_scope` a bounded period's forecasts and plan read: every open deal,
        and the won deals whose close day (closed_on, else close_date) lies in [won_from, won_to]."""
        sql = (f"SELECT d.* FROM ({self._deals_sql(scope)}) d WHERE d.status = 'open' OR (d.status = 'won' "
               f"AND coalesce(d.closed_on, d.close_date) BETWEEN CAST($won_from AS DATE) AND CAST($won_to AS DATE))")
        return self._bound_frame(sql, self._scope_params(scope) | {"won_from": won_from, "won_to": won_to}, cur)

    # the furthest open stage a closed deal reached, as `metrics.funnel.furthest_stage` ("reached") finds it:
    # won deals the last ($last); others the furthest of their stage_facts (`_LOST_REACH` over the CTE
    # holding them, joined as r) and their current stage (stage_idx joined as c), 0 without either
    _LOST_REACH = ("reach AS (SELECT f.deal_id, max(i.stage_index) AS hist_idx FROM stage_facts f "
                   "JOIN stage_idx i ON i.stage = f.stage WHERE f.deal_id IN (SELECT deal_id FROM {src} "
                   "WHERE status <> 'won') GROUP BY 1)")

    def _reach_stored(self, cur: duckdb.DuckDBPyConnection, stage_index: pl.DataFrame) -> bool:
        """Whether `stage_index` numbers the open stages as the stored pipeline does (`_OPEN_STAGES`,
        with which the derived `deal_reach` is built): then deal_reach holds the reach it gives."""
        stored = _pl(cur, self._OPEN_STAGES)
        given = stage_index.select("stage", pl.col("stage_index").cast(pl.Int64)).sort("stage_index")
        return stored.rows() == given.rows()

    def _reach_cte(self, cur: duckdb.DuckDBPyConnection, stage_index: pl.DataFrame, src: str) -> str:
        """The CTE `reach` (deal_id, hist_idx) of `_LOST_REACH` over the CTE `src`: read from the derived
        `deal_reach` (one row per deal, every status: `_max_idx_sql` reads hist_idx of lost deals only)
        when `_reach_stored`, else computed from `stage_facts` with `stage_index`."""
        if self._reach_stored(cur, stage_index):
            return "reach AS (SELECT deal_id, hist_idx FROM deal_reach)"
        return self._LOST_REACH.format(src=src)

    @staticmethod
    def _max_idx_sql(status: str, hist: str) -> str:
        return f"CASE WHEN {status} = 'won' THEN $last ELSE coalesce(greatest({hist}, c.stage_index), 0) END"

    @staticmethod
    def _age_bucket_sql(deal: str, edges: list[int], until: str | None = None) -> str:
        """`metrics.forecast.age_bucket` of the days from creation to close of the row `deal` (or to the
        day `until`): how many of the sorted `edges` (bound as $e0, $e1, ...) they reach, minus one; -1
        without a day."""
        age = f"datediff('day', {deal}.created_on, {until or f'coalesce({deal}.closed_on, {deal}.close_date)'})"
        return (f"CASE WHEN {age} IS NULL THEN -1 ELSE "
                + " + ".join(f"CAST({age} >= $e{k} AS INTEGER)" for k in range(len(edges))) + " - 1 END")

    def historical_training_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame, as_of: date,
                                     age_edges: list[int], cur: duckdb.DuckDBPyConnection | None = None,
                                     ) -> pl.DataFrame:
        """max_idx, bucket, deals, won: the deals in scope closed up to `as_of` counted by furthest open
        stage reached (won: the last; else the furthest of their `stage_facts` and current stage, 0
        without either) and age bucket at close (how many of `age_edges`, 0 among them, the days from
        creation to close reach, minus one; -1 without a creation day) — `metrics.forecast.historical_training`."""
        edges = sorted(set(age_edges) | {0})
        cur = cur or self.cursor()
        sql = (
            f"WITH d AS (SELECT d.deal_id, d.status, d.stage, d.created_on, d.closed_on, d.close_date "
            f"  FROM ({self._deals_sql(scope)}) d WHERE d.status IN ('won', 'lost') "
            f"  AND coalesce(d.closed_on, d.close_date) <= CAST($as_of AS DATE)), "
            f"{self._reach_cte(cur, stage_index, 'd')} "
            f"SELECT CAST({self._max_idx_sql('d.status', 'r.hist_idx')} AS BIGINT) AS max_idx, "
            f"  CAST({self._age_bucket_sql('d', edges)} AS BIGINT) AS bucket, CAST(count(*) AS BIGINT) AS deals, "
            f"  CAST(count(*) FILTER (d.status = 'won') AS BIGINT) AS won "
            f"FROM d LEFT JOIN reach r ON r.deal_id = d.deal_id LEFT JOIN stage_idx c ON c.stage = d.stage "
            f"GROUP BY 1, 2 ORDER BY 1, 2"
        )
        params = (self._scope_params(scope) | {"as_of": as_of, "last": stage_index.height - 1}
                  | {f"e{k}": e for k, e in enumerate(edges)})
        schema = {"max_idx": pl.Int64, "bucket": pl.Int64, "deals": pl.Int64, "won": pl.Int64}
        return self._with_stage_index(cur, stage_index, sql, self._bound(sql, params)).cast(schema)

    def _build_training(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Fill `snapshot_training` (empty) from every snapshot date, with the stored pipeline's open stages
        and `TRAINING_AGE_EDGES` (`_snapshot_forecast_sql` in "build" mode)."""
        dates = [r[0] for r in cur.execute("SELECT DISTINCT snapshot_date FROM deal_snapshots ORDER BY 1").fetchall()]
        if not dates:
            return
        n = _one(cur, f"SELECT count(*) FROM ({self._OPEN_STAGES})")[0]
        sql = self._snapshot_forecast_sql({}, len(dates), list(TRAINING_AGE_EDGES), True, mode="build")
        params = ({"before": dates[-1] + timedelta(days=1), "last": n - 1}
                  | {f"e{k}": e for k, e in enumerate(TRAINING_AGE_EDGES)} | {f"d{k}": d for k, d in enumerate(dates)})
        cur.execute(sql, self._bound(sql, params))

    def snapshot_forecast_inputs_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame, *, before: date,
                                          period_from: date, age_edges: list[int], trailing_days: int,
                                          cur: duckdb.DuckDBPyConnection | None = None,
                                          ) -> tuple[list[date], pl.DataFrame, pl.DataFrame]:
        """What the forecasts made at each past snapshot read, from one pass over the rows of
        `snapshot_rows_in_scope` dated before `before` (the latest upload per date and deal: the deals in
        scope, and deals since deleted in the CRM by their snapshot owner, as the History page counts them), for
        `metrics.changes.forecast_accuracy` (`days=`, `at=`, `trained=`; the deals at a snapshot are
        `metrics.changes.deals_at_snapshot`):
        - the snapshot dates (oldest first);
        - snapshot_date, deal_id, stage, status, amount, created_on, close_date, closed_on, hist_idx:
          the deals at each snapshot the forecasts of the period from `period_from` to `before` read —
          open ones (created by then or undated) expected to close in it, and won ones closed from
          `period_from` (or `trailing_days` before the snapshot, if earlier) up to the snapshot — with
          their stage history's reach by that day (`metrics.changes.history_reach_by_day`, from
          `stage_facts`: a stage was entered by a day when its first entry was), summed as
          `metrics.changes.summed_reads` sums them (at 1M deals about a hundred rows a date instead of every deal);
        - snapshot_date, max_idx, bucket, deals, won: the closed deals at each snapshot counted as
          `metrics.forecast.historical_training` counts them (furthest stage reached by that day,
          age bucket at close by `age_edges`).
        Without a filter or with reps and teams only (and the stored pipeline, `TRAINING_AGE_EDGES`), the
        closed deals come from the derived `snapshot_training` and only the rows the forecasts may read
        are read; otherwise the rows the snapshots show are read once, into one aggregation that gives
        both results. The closed deals a snapshot does not show (`deals_at_snapshot` adds them from the
        deals table) are sought by a second statement only on the dates that lack some, found by
        counting (usually none)."""
        cur = cur or self.cursor()
        cur.complete()
        # every snapshot date before the cut (the scope's are among them): the reach is taken at each
        dates = [r[0] for r in cur.execute("SELECT DISTINCT snapshot_date FROM deal_snapshots "
                                           "WHERE snapshot_date < CAST($before AS DATE) ORDER BY 1",
                                           {"before": before}).fetchall()]
        deal_schema = {"snapshot_date": pl.Date, "deal_id": pl.String, "stage": pl.String, "status": pl.String,
                       "amount": pl.Float64, "created_on": pl.Date, "close_date": pl.Date, "closed_on": pl.Date,
                       "hist_idx": pl.Int64}
        count_schema = {"snapshot_date": pl.Date, "max_idx": pl.Int64, "bucket": pl.Int64, "deals": pl.Int64,
                        "won": pl.Int64}
        if not dates:
            return [], pl.DataFrame(schema=deal_schema), pl.DataFrame(schema=count_schema)
        edges = sorted(set(age_edges) | {0})
        params = (self._scope_params(scope) | {"before": before, "pf": period_from, "trail": trailing_days,
                                               "last": stage_index.height - 1}
                  | {f"e{k}": e for k, e in enumerate(edges)} | {f"d{k}": d for k, d in enumerate(dates)})
        stored = self._reach_stored(cur, stage_index)
        # the closed deals and shown rows of each date from `snapshot_training` where it counts what is asked:
        # the stored pipeline, its age buckets, no filter or only reps and teams (its rows are kept by owner)
        counted = (stored and tuple(edges) == TRAINING_AGE_EDGES
                   and not any(scope.get(k) for k in ("products", "segments", "regions")))
        params |= {"lmin": min(period_from, dates[0] - timedelta(days=trailing_days - 1))} if counted else {}
        sql = self._snapshot_forecast_sql(scope, len(dates), edges, stored, mode="reads" if counted else "all")
        out = self._with_stage_index(cur, stage_index, sql, self._bound(sql, params))
        if counted:
            counts, fit = self._training_in_scope(cur, scope, before)
        else:
            counts = out.filter(pl.col("kind") == "row")
            fit = counts.filter(pl.col("max_idx").is_not_null()).select(list(count_schema))
        days = sorted(counts["snapshot_date"].unique().to_list())
        # the dates where fewer deals that had closed by then are shown than the deals table holds
        shown = counts.group_by("snapshot_date").agg(pl.col("shown").sum())
        ended = out.filter(pl.col("kind") == "ended").select("snapshot_date", pl.col("shown").alias("ended"))
        gaps = shown.join(ended, on="snapshot_date").filter(pl.col("ended") > pl.col("shown"))["snapshot_date"]
        if gaps.len():
            sql = self._snapshot_forecast_sql(scope, len(dates), edges, stored, gaps=True)
            more = self._with_stage_index(cur, stage_index, sql, self._bound(sql, params | {"gaps": gaps.sort().to_list()}))
            out = pl.concat([out, more], how="vertical_relaxed")
            fit = pl.concat([fit, more.filter(pl.col("max_idx").is_not_null()).select(list(count_schema))],
                            how="vertical_relaxed")
        # a group of won deals read is split by the training counts' keys (furthest stage, age bucket): summed again
        at = (out.filter((pl.col("kind") == "row") & pl.col("deal_id").is_not_null())
              .group_by("snapshot_date", "status", "stage", "hist_idx", "r_bucket", "closed_on")
              .agg(pl.col("deal_id").min(), pl.col("amount").sum(), pl.col("created_on").min(), pl.col("close_date").min())
              .select(list(deal_schema)).cast(deal_schema).sort("snapshot_date", "deal_id"))
        trained = (fit.group_by("snapshot_date", "max_idx", "bucket")
                   .agg(pl.col("deals").sum(), pl.col("won").sum()).select(list(count_schema)).cast(count_schema))
        return days, at, trained

    def _training_in_scope(self, cur: duckdb.DuckDBPyConnection, scope: dict[str, Any], before: date,
                           ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """From `snapshot_training`, of the dates before `before` and the rows in scope (as
        `snapshot_rows_in_scope` keeps them: the deals table's by their owner, deleted deals by their
        snapshot owner; a scope of reps and teams only): the shown rows per date (snapshot_date, shown),
        and the closed deals per date, furthest stage and age bucket (snapshot_date, max_idx, bucket,
        deals, won)."""
        owner = "true"
        if any(scope.get(k) for k in ("teams", "reps")):
            mine = " AND ".join(self._owner_filters(scope, "owner_rep_id"))     # as `_deals_sql` filters the deals
            owner = f"((NOT deleted AND {mine}) OR (deleted AND owner_rep_id IN ({self._REPS_IN_SCOPE})))"
        sql = (f"SELECT snapshot_date, max_idx, bucket, CAST(sum(deals) AS BIGINT) AS deals, CAST(sum(won) AS BIGINT) AS won, "
               f"CAST(sum(shown) AS BIGINT) AS shown FROM snapshot_training "
               f"WHERE snapshot_date < CAST($before AS DATE) AND {owner} GROUP BY ALL")
        rows = self._bound_frame(sql, self._scope_params(scope) | {"before": before}, cur)
        return rows.select("snapshot_date", "shown"), rows.filter(pl.col("max_idx").is_not_null()).drop("shown")

    def _snapshot_forecast_sql(self, scope: dict[str, Any], n_dates: int, edges: list[int], stored: bool,
                               gaps: bool = False, mode: str = "all") -> str:
        """The statement of `snapshot_forecast_inputs_in_scope` over the dates $d0, $d1, ... (their
        reach columns r0, r1, ... are generated names): rows of kind 'row', per date, group of deals the
        forecasts read (`metrics.changes.summed_reads`' groups: status, then stage, hist_idx and age
        bucket r_bucket of open ones, close day closed_on of won ones; deal_id and the other columns
        set as there, NULL for the deals not read), furthest stage and age bucket (NULL for open rows):
        the closed deals, the won ones, and `shown`: the rows of deals the deals table has closed by then;
        and of kind 'ended' (per date, `shown`: the deals in scope closed by then).
        With `gaps`, the same 'row' rows of the closed deals the dates $gaps do not show. `stored`: the
        stage numbering is the stored pipeline's (`_reach_stored`), so the derived `deal_reach` holds
        each deal's reach by today. `mode` "reads": only the rows the forecasts may read go into the
        aggregation (the open ones expected to close from $pf to $before, the won ones), so its closed
        deals and `shown` counts are partial and `snapshot_training` gives them; "build": the INSERT that
        fills `snapshot_training` (no filters, every date, the stored pipeline read as `_OPEN_STAGES`)."""
        scoped = any(scope.get(k) for k in self._SCOPE_KEYS)
        reach = "".join(f", max(i.stage_index) FILTER (CAST(f.first_at AS DATE) <= CAST($d{k} AS DATE)) AS r{k}"
                        for k in range(n_dates))
        if stored:
            # a deal whose history shows no stage first entered after the first date has reached by each
            # date what it has reached by today (deal_reach: h): only the others' history is read (w)
            among = ("(SELECT DISTINCT deal_id FROM stage_facts WHERE CAST(first_at AS DATE) > CAST($d0 AS DATE) "
                     "AND deal_id IN (SELECT deal_id FROM t0))")
            now = "x.hist_idx AS h"
        else:
            among, now = "(SELECT deal_id FROM t0)", "CAST(NULL AS BIGINT) AS h"

        def pick(day: str) -> str:   # the reach by the row's date: w's (r0, r1, ...) for the deals it holds, else h
            return ("CAST(CASE WHEN w_id IS NULL THEN h ELSE CASE " + day + " "
                    + " ".join(f"WHEN CAST($d{k} AS DATE) THEN r{k}" for k in range(n_dates)) + " END END AS BIGINT)")
        # w by deal id (w_id): with filters joined into t; without, t holds every deal and the rows join w
        # apart (at 1M deals a hash table with a column per date cost more than the second join, 0.4 s)
        w2 = "LEFT JOIN (SELECT deal_id AS w_id, * EXCLUDE (deal_id) FROM w) w2 ON w2.w_id = "

        build = mode == "build"
        extra = (", d.stage AS t_stage, d.amount AS t_amount" if gaps else "") \
            + (", d.owner_rep_id AS t_owner, true AS t_in" if build else "")
        only = "list_contains(CAST($gaps AS DATE[]), s.snapshot_date)" if gaps else "true"
        single = "s.snapshot_date NOT IN (SELECT snapshot_date FROM multi)"
        head = f"WITH multi AS ({self._SEVERAL_UPLOADS}), " + (f"stage_idx AS ({self._OPEN_STAGES}), " if build else "")
        if mode == "reads":
            # the rows the forecasts may read, taken first (of the dates one upload wrote: on the others the
            # latest upload's row decides). A won row is read when its close day (`x`'s closed_on: the deals
            # table's if closed by the date, else the row's close date if by then, else the date) is no
            # earlier than the window's start, at least $lmin: rows with a later or missing close date, and
            # the deals closed since. Only their deals (rd) are looked up in the deals table and their history
            head += (f"sr AS MATERIALIZED (SELECT * FROM deal_snapshots s WHERE s.snapshot_date < CAST($before AS DATE) "
                     f"  AND {single} AND ((s.status = 'open' AND s.close_date BETWEEN CAST($pf AS DATE) AND CAST($before AS DATE)) "
                     f"  OR (s.status = 'won' AND (s.close_date IS NULL OR s.close_date > s.snapshot_date "
                     f"  OR s.close_date >= least(CAST($pf AS DATE), s.snapshot_date - CAST($trail AS INTEGER) + 1) "
                     f"  OR s.deal_id IN (SELECT deal_id FROM deals WHERE closed_on >= CAST($lmin AS DATE)))))), "
                     f"rd AS MATERIALIZED (SELECT deal_id FROM sr UNION SELECT deal_id FROM deal_snapshots "
                     f"  WHERE snapshot_date IN (SELECT snapshot_date FROM multi)), ")
        # the deals in scope, joined once: what the deals table adds and the reach by each date
        head += (
            f"t0 AS MATERIALIZED (SELECT d.deal_id, d.status AS t_status, d.close_date AS t_close, "
            f"  d.closed_on AS t_closed, d.created_on{extra} FROM ({self._deals_sql(scope)}) d), "
            f"w AS (SELECT f.deal_id{reach} FROM stage_facts f JOIN stage_idx i ON i.stage = f.stage "
            f"  WHERE f.deal_id IN {among}{' AND f.deal_id IN (SELECT deal_id FROM rd)' if mode == 'reads' else ''} GROUP BY 1), "
            f"t AS MATERIALIZED (SELECT t0.*, {now}{', w2.*' if scoped else ''} FROM t0 "
            f"  {'LEFT JOIN deal_reach x ON x.deal_id = t0.deal_id ' if stored else ''}"
            f"  {w2 + 't0.deal_id' if scoped else ''}"
            f"  {'WHERE t0.deal_id IN (SELECT deal_id FROM rd)' if mode == 'reads' else ''}), "
        )
        # the rows of `snapshot_rows_in_scope`: the deals in the deals table in scope, with what it adds;
        # deals since deleted in the CRM (not in it), by their snapshot owner, with nothing added. Without
        # filters the deals in scope are the deals table, so one outer join reads both; with filters the
        # parts are read apart, each the cheap way (the deals in scope by id, deleted ones among their owners')
        added = ["t_status", "t_close", "t_closed", "created_on"] + (["t_stage", "t_amount"] if gaps else []) \
            + ["h", "w_id"] + [f"r{k}" for k in range(n_dates)]
        cols = "s.snapshot_date AS day, s.deal_id, s.stage, s.status, s.amount, s.close_date, s.batch_id" \
            + (", s.owner_rep_id AS s_owner" if build else "")
        src = "sr" if mode == "reads" else "deal_snapshots"     # of the dates one upload wrote (sr: above)

        def rows(cond: str, src: str = "deal_snapshots") -> str:
            where = f"WHERE s.snapshot_date < CAST($before AS DATE) AND {only} AND {cond}"
            if not scoped:
                return (f"SELECT {cols}, t.* EXCLUDE (deal_id), w2.* FROM {src} s LEFT JOIN t ON t.deal_id = s.deal_id "
                        f"{w2}s.deal_id {where}")
            return (f"SELECT {cols}, t.* EXCLUDE (deal_id) FROM {src} s JOIN t ON t.deal_id = s.deal_id {where} "
                    f"UNION ALL SELECT {cols}, {', '.join(f'NULL AS {c}' for c in added)} FROM {src} s "
                    f"{where} AND {self._deleted_sql('t')}")

        # the latest upload per date and deal, sought only on dates several wrote (`_SEVERAL_UPLOADS`)
        head += (f"n AS (SELECT * EXCLUDE (batch_id) FROM "
                 f"({rows(single, src)}) "
                 f"UNION ALL SELECT * EXCLUDE (batch_id) FROM ({rows('s.snapshot_date IN (SELECT snapshot_date FROM multi)')}) "
                 f"QUALIFY row_number() OVER (PARTITION BY day, deal_id ORDER BY batch_id DESC) = 1), ")
        if gaps:
            # the closed deals of the deals table a date does not show (metrics.changes.deals_at_snapshot)
            head += (f"x AS (SELECT g.day, t.deal_id, t.t_stage AS stage, t.t_status AS status, t.t_amount AS amount, "
                     f"  t.t_close AS close_date, t.created_on, t.t_closed AS closed_on, {pick('g.day')} AS hist_idx, "
                     f"  true AS closed_before FROM (SELECT unnest(CAST($gaps AS DATE[])) AS day) g "
                     f"  JOIN t ON t.t_status IN ('won', 'lost') AND coalesce(t.t_closed, t.t_close) <= g.day "
                     f"  {'' if scoped else w2 + 't.deal_id '}"
                     f"  ANTI JOIN n ON n.day = g.day AND n.deal_id = t.deal_id) ")
        else:
            # the rows shown: closed ones with a close day no later than the snapshot
            head += (f"x AS (SELECT day, deal_id, stage, status, amount, close_date, created_on, "
                     f"  CASE WHEN status IN ('won', 'lost') THEN coalesce(CASE WHEN t_closed <= day THEN t_closed END, "
                     f"    CASE WHEN close_date <= day THEN close_date END, day) END AS closed_on, {pick('day')} AS hist_idx, "
                     f"  coalesce(t_status IN ('won', 'lost') AND coalesce(t_closed, t_close) <= day, false) AS closed_before"
                     f"{', t_in IS NULL AS deleted, CASE WHEN t_in THEN t_owner ELSE s_owner END AS owner_rep_id' if build else ''} "
                     f"  FROM n) ")
        # one aggregation gives both results: a deal the forecasts read is a group of its own (its date and
        # id), every other row falls into its date's group by furthest stage and age bucket (NULL: open)
        closed = "x.status IN ('won', 'lost')"
        read = (f"(x.status = 'open' AND (x.created_on IS NULL OR x.created_on <= x.day) "
                f"AND x.close_date BETWEEN CAST($pf AS DATE) AND CAST($before AS DATE)) OR (x.status = 'won' "
                f"AND coalesce(x.closed_on, x.close_date) >= least(CAST($pf AS DATE), x.day - CAST($trail AS INTEGER) + 1))")
        # the deals the forecasts read are summed as `metrics.changes.summed_reads` sums them: the open ones
        # by stage, reach and age bucket that day (r_bucket), the won ones by close day (r_day)
        max_idx = f"CASE WHEN {closed} THEN {self._max_idx_sql('x.status', 'x.hist_idx')} END AS max_idx"
        bucket = f"CASE WHEN {closed} THEN {self._age_bucket_sql('x', edges)} END AS bucket"
        if build:
            # per date, deleted or not, owner (the deals table's, else the snapshot's), furthest stage and
            # age bucket: the closed deals, the won ones and the rows of deals closed by then in the deals table
            return (f"INSERT INTO snapshot_training SELECT * FROM ({head}SELECT day AS snapshot_date, deleted, owner_rep_id, max_idx, bucket, "
                    f"  count(*) FILTER (status IN ('won', 'lost')) AS deals, count(*) FILTER (status = 'won') AS won, "
                    f"  count(*) FILTER (closed_before) AS shown "
                    f"FROM (SELECT x.day, x.deleted, x.owner_rep_id, x.status, x.closed_before, {max_idx}, {bucket} "
                    f"  FROM x LEFT JOIN stage_idx c ON c.stage = x.stage) "
                    f"GROUP BY day, deleted, owner_rep_id, max_idx, bucket)")
        live = f"({read}) AND x.status = 'open'"
        open_bucket = f"greatest({self._age_bucket_sql('x', edges, until='x.day')}, 0)"
        sql = (
            f"{head}"
            f"SELECT 'row' AS kind, day AS snapshot_date, min(deal_id) FILTER (r_status IS NOT NULL) AS deal_id, "
            f"  r_stage AS stage, r_status AS status, sum(amount) FILTER (r_status IS NOT NULL) AS amount, "
            f"  min(created_on) FILTER (r_bucket IS NOT NULL) AS created_on, "
            f"  coalesce(r_day, min(close_date) FILTER (r_bucket IS NOT NULL)) AS close_date, r_day AS closed_on, "
            f"  r_hist AS hist_idx, r_bucket, max_idx, bucket, count(*) FILTER (status IN ('won', 'lost')) AS deals, "
            f"  count(*) FILTER (status = 'won') AS won, count(*) FILTER (closed_before) AS shown "
            f"  FROM (SELECT x.*, CASE WHEN {read} THEN x.status END AS r_status, "
            f"  CASE WHEN {live} THEN x.stage END AS r_stage, CASE WHEN {live} THEN x.hist_idx END AS r_hist, "
            f"  CASE WHEN {live} THEN {open_bucket} END AS r_bucket, "
            f"  CASE WHEN ({read}) AND x.status <> 'open' THEN coalesce(x.closed_on, x.close_date) END AS r_day, "
            f"  {max_idx}, {bucket} FROM x LEFT JOIN stage_idx c ON c.stage = x.stage) "
            f"GROUP BY day, r_status, r_stage, r_hist, r_bucket, r_day, max_idx, bucket"
        )
        if not gaps:
            # per date, the deals in scope closed by then
            sql += (f" UNION ALL SELECT 'ended', g.day, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
                    f"NULL, NULL, NULL, sum(e.k) FROM (SELECT unnest([{', '.join(f'CAST($d{k} AS DATE)' for k in range(n_dates))}]) AS day) g "
                    f"JOIN (SELECT coalesce(t_closed, t_close) AS e, count(*) AS k FROM t0 WHERE t_status IN ('won', 'lost') "
                    f"GROUP BY 1) e ON e.e <= g.day GROUP BY g.day")
        return sql

    # the snapshot dates several uploads wrote: a date one upload wrote holds one row per deal (an upload's
    # deals are one per id), so the latest upload per date and deal (`metrics.changes.latest_rows`) is
    # sought only on these (a window over every row costs seconds at 1M deals)
    _SEVERAL_UPLOADS = "SELECT snapshot_date FROM deal_snapshots GROUP BY 1 HAVING min(batch_id) <> max(batch_id)"
    # the derived `snapshot_last_open`: per deal the snapshots show, its last date open, of the latest upload per
    # date and deal ({latest}: `_latest_snapshots_sql`) — `metrics.quality.last_open_snapshots`; unsorted: read
    # whole or by a semi-join on deal_id, which no order helps (sorting costs 0.05-0.07 s at 1M)
    _REBUILD_LAST_OPEN = ("INSERT INTO snapshot_last_open SELECT deal_id, max(snapshot_date) FILTER (status = 'open') "
                          "FROM ({latest}) GROUP BY 1")

    # ---- the History page and the meeting's waterfall: grouped over the snapshots in DuckDB
    @classmethod
    def _latest_snapshots_sql(cls, scope: dict[str, Any], where: str = "true") -> str:
        """The rows of `snapshot_rows_in_scope` that pass `where` (fixed text over deal_snapshots s),
        the latest upload per date and deal (`metrics.changes.latest_rows`): snapshot_date, deal_id,
        stage, status, amount, close_date, owner_rep_id. Bind with `_bound`."""
        cols = "s.snapshot_date, s.deal_id, s.stage, s.status, s.amount, s.close_date, s.owner_rep_id, s.batch_id"
        if any(scope.get(k) for k in cls._SCOPE_KEYS):
            # the two parts of `_snapshot_scope_sql`, disjoint (a deal is in the deals table or it is not),
            # each read the cheap way: deals in scope by id; deleted deals only among their owners' rows
            rows = (f"SELECT {cols} FROM deal_snapshots s WHERE ({where}) "
                    f"AND s.deal_id IN (SELECT deal_id FROM ({cls._deals_sql(scope)})) "
                    f"UNION ALL SELECT {cols} FROM deal_snapshots s WHERE ({where}) AND {cls._deleted_sql()}")
        else:
            rows = f"SELECT {cols} FROM deal_snapshots s WHERE ({where})"
        return ("SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id "
                f"FROM ({rows}) s WHERE NOT EXISTS (SELECT 1 FROM deal_snapshots n WHERE n.snapshot_date IN ({cls._SEVERAL_UPLOADS}) "
                f"AND n.snapshot_date = s.snapshot_date AND n.deal_id = s.deal_id AND n.batch_id > s.batch_id)")

    @classmethod
    def _deleted_sql(cls, among: str | None = None) -> str:
        """The condition on deal_snapshots s of the rows of deals no longer in the deals table (deleted in
        the CRM) that a scope counts: by their snapshot owner; every one without a rep, team or region
        filter; none with a product or segment filter (a deleted deal has neither). `among`: a relation
        of deal ids within the deals table (the scope's deals) tried first, which leaves few rows to
        look up in the whole table."""
        first = f"AND s.deal_id NOT IN (SELECT deal_id FROM {among}) " if among else ""
        return (f"(len($products) + len($segments) = 0 "
                f"AND (len($teams) + len($regions) + len($reps) = 0 OR s.owner_rep_id IN ({cls._REPS_IN_SCOPE})) "
                f"{first}AND s.deal_id NOT IN (SELECT deal_id FROM deals))")

    @classmethod
    def _snapshot_scope_sql(cls, scope: dict[str, Any]) -> str:
        """The condition on deal_snapshots s of `snapshot_rows_in_scope` (true without filters)."""
        if not any(scope.get(k) for k in cls._SCOPE_KEYS):
            return "true"
        return f"(s.deal_id IN (SELECT deal_id FROM ({cls._deals_sql(scope)})) OR {cls._deleted_sql()})"

    def snapshot_dates_in_scope(self, scope: dict[str, Any], cur: duckdb.DuckDBPyConnection | None = None) -> list[date]:
        """The distinct snapshot dates of `snapshot_rows_in_scope`, oldest first
        (`metrics.changes.snapshot_dates`)."""
        sql = f"SELECT DISTINCT snapshot_date FROM deal_snapshots s WHERE {self._snapshot_scope_sql(scope)} ORDER BY 1"
        return self._bound_frame(sql, self._scope_params(scope), cur)["snapshot_date"].to_list()

    # a row of the given status (open: the close-date window's open pipeline, `metrics.changes._in_window`)
    # with a close date in the window (bounds $pf, $pt; none set: every row of that status)
    @staticmethod
    def _in_window_sql(status: str, close: str, value: str = "open") -> str:
        if value not in ("open", "won"):
            raise ValueError(f"not a window status: {value!r}")
        return (f"(coalesce({status} = '{value}', false) AND ((CAST($pf AS DATE) IS NULL AND CAST($pt AS DATE) IS NULL) "
                f"OR ({close} IS NOT NULL AND (CAST($pf AS DATE) IS NULL OR {close} >= CAST($pf AS DATE)) "
                f"AND (CAST($pt AS DATE) IS NULL OR {close} <= CAST($pt AS DATE)))))")

    _BARS = ("start", "created", "pulled_in", "amount_up", "amount_down", "pushed_out", "won", "lost", "removed", "end")

    def change_deals_in_scope(self, scope: dict[str, Any], from_snapshot: date | None, to_snapshot: date | None,
                              period_from: date | None, period_to: date | None,
                              cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """The deals behind the waterfall between two snapshots of the rows in scope (as
        `snapshot_rows_in_scope`), in the period's close-date window — `metrics.changes.change_deals`:
        only the two snapshots are read, and only the deals that moved or were in the window's open
        pipeline at either come back, in its order (bar, |change| descending, deal_id)."""
        win_a, win_b = self._in_window_sql("a.status", "a.close_date"), self._in_window_sql("b.status", "b.close_date")
        detail = ("deal_id, owner_rep_id, stage_before, stage_after, status_before, status_after, close_before, "
                  "close_after, amount_before, amount_after")
        order = ", ".join(f"'{b}'" for b in self._BARS)   # the fixed bar names, in waterfall order
        sql = (
            f"WITH s AS NOT MATERIALIZED ({self._latest_snapshots_sql(scope, 's.snapshot_date IN (CAST($a AS DATE), CAST($b AS DATE))')}), "
            f"a AS (SELECT * FROM s WHERE snapshot_date = CAST($a AS DATE)), "
            f"b AS (SELECT * FROM s WHERE snapshot_date = CAST($b AS DATE)), "
            f"j AS (SELECT coalesce(a.deal_id, b.deal_id) AS deal_id, coalesce(b.owner_rep_id, a.owner_rep_id) AS owner_rep_id, "
            f"  a.stage AS stage_before, b.stage AS stage_after, a.status AS status_before, b.status AS status_after, "
            f"  a.close_date AS close_before, b.close_date AS close_after, a.amount AS amount_before, "
            f"  b.amount AS amount_after, a.deal_id IS NOT NULL AS in_a, b.deal_id IS NOT NULL AS in_b, "
            f"  {win_a} AS win_a, {win_b} AS win_b, coalesce(a.amount, 0.0) AS amt_a, coalesce(b.amount, 0.0) AS amt_b "
            f"  FROM a FULL JOIN b ON a.deal_id = b.deal_id WHERE ({win_a}) OR ({win_b})), "
            f"k AS (SELECT *, CASE WHEN win_a AND win_b AND amt_b - amt_a > 0 THEN 'amount_up' "
            f"  WHEN win_a AND win_b AND amt_b - amt_a < 0 THEN 'amount_down' WHEN win_a AND win_b THEN NULL "
            f"  WHEN win_a AND NOT in_b THEN 'removed' WHEN win_a AND status_after = 'won' THEN 'won' "
            f"  WHEN win_a AND status_after = 'lost' THEN 'lost' WHEN win_a THEN 'pushed_out' "
            f"  WHEN win_b AND NOT in_a THEN 'created' WHEN win_b THEN 'pulled_in' END AS bar, "
            f"  CASE WHEN win_a AND win_b THEN amt_b - amt_a WHEN win_a THEN -amt_a WHEN win_b THEN amt_b END AS change "
            f"  FROM j), "
            f"u AS (SELECT bar, {detail}, change FROM k WHERE bar IS NOT NULL "
            f"  UNION ALL SELECT 'start', {detail}, amt_a FROM k WHERE win_a "
            f"  UNION ALL SELECT 'end', {detail}, amt_b FROM k WHERE win_b) "
            f"SELECT bar, {detail}, change FROM u ORDER BY list_position([{order}], bar), abs(change) DESC, deal_id"
        )
        params = self._scope_params(scope) | {"a": from_snapshot, "b": to_snapshot, "pf": period_from, "pt": period_to}
        schema = {"bar": pl.String, "deal_id": pl.String, "owner_rep_id": pl.String, "stage_before": pl.String,
                  "stage_after": pl.String, "status_before": pl.String, "status_after": pl.String,
                  "close_before": pl.Date, "close_after": pl.Date, "amount_before": pl.Float64,
                  "amount_after": pl.Float64, "change": pl.Float64}
        return self._bound_frame(sql, params, cur).cast(schema)

    def snapshot_pipeline_in_scope(self, scope: dict[str, Any], period_from: date | None, period_to: date | None,
                                   cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """snapshot_date, status, stage, close_month, deals, amount: the rows in scope (as
        `snapshot_rows_in_scope`) counted per snapshot in the period's open pipeline by stage and month
        of close, won with a close date in the period, and the rest — `metrics.changes.snapshot_pipeline`
        (a few hundred rows for the trend, the point-in-time pipeline and the snapshot dates)."""
        is_open = self._in_window_sql("status", "close_date")
        is_won = self._in_window_sql("status", "close_date", "won")
        sql = (
            f"WITH s AS ({self._latest_snapshots_sql(scope)}), "
            f"c AS (SELECT snapshot_date, stage, close_date, amount, {is_open} AS o, {is_won} AS w FROM s) "
            f"SELECT snapshot_date, CASE WHEN o THEN 'open' WHEN w THEN 'won' END AS status, "
            f"CASE WHEN o THEN stage END AS stage, CASE WHEN o THEN CAST(date_trunc('month', close_date) AS DATE) END "
            f"AS close_month, CAST(count(*) AS BIGINT) AS deals, "
            f"CAST(sum(CASE WHEN o OR w THEN coalesce(amount, 0.0) ELSE 0.0 END) AS DOUBLE) AS amount "
            f"FROM c GROUP BY 1, 2, 3, 4"
        )
        params = self._scope_params(scope) | {"pf": period_from, "pt": period_to}
        schema = {"snapshot_date": pl.Date, "status": pl.String, "stage": pl.String, "close_month": pl.Date,
                  "deals": pl.Int64, "amount": pl.Float64}
        return self._bound_frame(sql, params, cur).cast(schema)

    def slipped_in_scope(self, scope: dict[str, Any], period_from: date | None, period_to: date | None,
                         flag_after: int = 3,
                         cur: duckdb.DuckDBPyConnection | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Pushed close dates of the rows in scope (as `snapshot_rows_in_scope`) over every snapshot, for
        the deals in the period's open pipeline at one of them, from one pass over them:
        - owner_rep_id, tracked_deals — `metrics.changes.tracked_by_rep`;
        - the slipped deals — `metrics.changes.slipped_deals` (same columns and order)."""
        # with a scope, its rows are a fraction: found once; without one, every row qualifies and each use
        # reads the table (holding every row would cost more than reading it twice)
        scoped = any(scope.get(k) for k in self._SCOPE_KEYS)
        how, last = ("MATERIALIZED", "s") if scoped else ("NOT MATERIALIZED", "deal_snapshots")
        sql = (
            f"WITH s AS {how} ({self._latest_snapshots_sql(scope)}), "
            f"w AS (SELECT DISTINCT deal_id FROM s WHERE {self._in_window_sql('status', 'close_date')}), "
            f"q AS (SELECT s.*, lag(close_date) OVER p AS prev_close, lag(status) OVER p AS prev_status, "
            f"  lead(snapshot_date) OVER p IS NULL AS is_last, row_number() OVER p AS from_first "
            f"  FROM s WHERE deal_id IN (SELECT deal_id FROM w) WINDOW p AS (PARTITION BY deal_id ORDER BY snapshot_date)), "
            f"per AS (SELECT deal_id, "
            f"  bool_or(coalesce(status = 'open' AND snapshot_date < (SELECT max(snapshot_date) FROM {last}), false)) "
            f"  AS open_before, "
            f"  count(*) AS seen, max(owner_rep_id) FILTER (is_last) AS owner_rep_id, "
            f"  max(stage) FILTER (is_last) AS stage, max(status) FILTER (is_last) AS status, "
            f"  max(amount) FILTER (is_last) AS amount, max(close_date) FILTER (from_first = 1) AS first_close_date, "
            f"  max(close_date) FILTER (is_last) AS last_close_date, "
            f"  count(*) FILTER (prev_status = 'open' AND close_date > prev_close) AS pushes, "
            f"  sum(close_date - prev_close) FILTER (prev_status = 'open' AND close_date > prev_close) AS days_pushed, "
            f"  max(snapshot_date) FILTER (prev_status = 'open' AND close_date > prev_close) AS last_pushed_at "
            f"  FROM q GROUP BY deal_id), "
            f"t AS (SELECT * FROM per WHERE open_before AND seen >= 2) "
            f"SELECT false AS per_rep, deal_id, owner_rep_id, stage, status, amount, first_close_date, last_close_date, "
            f"  CAST(pushes AS BIGINT) AS pushes, CAST(days_pushed AS BIGINT) AS days_pushed, last_pushed_at, "
            f"  pushes >= $flag AS flagged, CAST(NULL AS BIGINT) AS tracked_deals FROM t WHERE pushes > 0 "
            f"UNION ALL SELECT true, NULL, owner_rep_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            f"  CAST(count(*) AS BIGINT) FROM t GROUP BY owner_rep_id"
        )
        params = self._scope_params(scope) | {"pf": period_from, "pt": period_to, "flag": flag_after}
        both = self._bound_frame(sql, params, cur)
        tracked = both.filter(pl.col("per_rep")).select("owner_rep_id", pl.col("tracked_deals").cast(pl.Int64))
        cols = {"deal_id": pl.String, "owner_rep_id": pl.String, "stage": pl.String, "status": pl.String,
                "amount": pl.Float64, "first_close_date": pl.Date, "last_close_date": pl.Date, "pushes": pl.Int64,
                "days_pushed": pl.Int64, "last_pushed_at": pl.Date, "flagged": pl.Boolean}
        slipped = (both.filter(~pl.col("per_rep")).select(list(cols)).cast(cols)
                   .sort(["pushes", "days_pushed", "deal_id"], descending=[True, True, False]))
        return tracked, slipped

    # ---- the data-quality checks (`metrics.quality`), counted in DuckDB: the Data page and the meeting hand
    # polars the failing deals and the duplicate candidates, never every deal
    # a name or owner is blank (nothing left once polars' `str.strip_chars()` strips it) when it holds no
    # character but `_SPACES`, i.e. when it does not match this
    _NOT_BLANK = f"[^{_SPACES}]"
    # the checks counted, in `metrics.quality.CHECKS` order, and the failing deals listed (the duplicate check
    # reads polars' Unicode lowercasing of the names: `duplicate_candidates_in_scope`); each condition and
    # value is fixed text over the per-deal relation `x` of `quality_tallies_in_scope`
    _QUALITY_APPLIES = {
        "overdue_close": "status = 'open'",
        "missing_amount": "true",
        "skipped_stages": "hist",
        "duplicate": "regexp_matches(name, $not_blank)",
        "missing_owner": "true",
        "entry_lag": "closed AND in_snapshots",
    }
    _QUALITY_FAILS = {
        "overdue_close": ("status = 'open' AND close_date < $as_of", "CAST($as_of - close_date AS DOUBLE)"),
        "missing_amount": ("amount IS NULL OR amount = 0", "amount"),
        "skipped_stages": ("hist AND skipped > 0", "CAST(skipped AS DOUBLE)"),
        "missing_owner": ("owner_rep_id IS NULL OR NOT regexp_matches(owner_rep_id, $not_blank)", "CAST(NULL AS DOUBLE)"),
        "entry_lag": ("closed AND lag > $late", "CAST(lag AS DOUBLE)"),
    }

    def quality_tallies_in_scope(self, scope: dict[str, Any], stage_index: pl.DataFrame, as_of: date,
                                 late_after_days: int = 7, cur: duckdb.DuckDBPyConnection | None = None
                                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The data-quality checks of the deals in scope at `as_of`, counted in one pass over the deals:
        - tallies (check, batch_id, owner_rep_id, applicable): how many deals of each import and owner each
          check applies to, groups it applies to none of left out — `metrics.quality.check_tallies`;
        - failing (check, deal_id, batch_id, owner_rep_id, name, value): the deals failing each check but the
          duplicate one, check by check in `metrics.quality.CHECKS` order, each by deal id — the rows of
          `metrics.quality.quality_issues` (with the deal's name).
        Both of `quality_check_set` of the deals with their stage coverage (`stage_facts`) and their last open
        snapshot (the derived `snapshot_last_open`); `stage_index` as `_with_stage_index` takes it."""
        scoped = any(scope.get(k) for k in self._SCOPE_KEYS)
        # without a filter every deal is in scope: the facts and snapshots of deals not in the deals table drop
        # out at the joins, so they are not looked up first
        in_d = "deal_id IN (SELECT deal_id FROM d)" if scoped else "deal_id IS NOT NULL"
        lists = ", ".join(f"list({{'deal_id': deal_id, 'name': name, 'value': {value}}}) FILTER ({cond}) AS \"{c}:failing\""
                          for c, (cond, value) in self._QUALITY_FAILS.items())
        counts = ", ".join(f"count(*) FILTER ({cond}) AS \"{c}\"" for c, cond in self._QUALITY_APPLIES.items())
        sql = (
            f"WITH d AS (SELECT deal_id, owner_rep_id, batch_id, status, close_date, amount, name, "
            f"  coalesce(closed_on, close_date) AS close_day FROM ({self._deals_sql(scope)}) d), "
            # stage_facts holds one row per deal and stage, stage_idx one per stage: counting the joined indexes
            # counts the distinct open stages entered (`metrics.quality.stage_coverage`)
            f"cov AS (SELECT f.deal_id, max(i.stage_index) AS max_open_index, count(i.stage_index) AS open_stages_seen "
            f"  FROM stage_facts f LEFT JOIN stage_idx i ON i.stage = f.stage WHERE f.{in_d} GROUP BY 1), "
            # `metrics.quality.last_open_snapshots`, kept at upload
            f"lo AS (SELECT deal_id, last_open FROM snapshot_last_open WHERE {in_d}), "
            f"x AS (SELECT d.*, c.deal_id IS NOT NULL AS hist, "
            f"  greatest(coalesce(CASE WHEN d.status = 'won' THEN n.stages - 1 ELSE c.max_open_index END + 1 "
            f"    - coalesce(c.open_stages_seen, 0), 0), 0) AS skipped, "
            f"  d.status IN ('won', 'lost') AND d.close_day IS NOT NULL AS closed, "
            f"  l.deal_id IS NOT NULL AS in_snapshots, l.last_open - d.close_day AS lag "
            f"  FROM d LEFT JOIN cov c ON c.deal_id = d.deal_id LEFT JOIN lo l ON l.deal_id = d.deal_id "
            f"  CROSS JOIN (SELECT count(*) AS stages FROM stage_idx) n) "
            f"SELECT owner_rep_id, batch_id, {counts}, {lists} FROM x GROUP BY ALL")
        params = self._scope_params(scope) | {"as_of": as_of, "late": late_after_days, "not_blank": self._NOT_BLANK}
        out = self._with_stage_index(cur or self.cursor(), stage_index, sql, self._bound(sql, params))
        groups = ["batch_id", "owner_rep_id"]
        tallies = (out.unpivot(on=list(self._QUALITY_APPLIES), index=groups, variable_name="check",
                               value_name="applicable")
                   .filter(pl.col("applicable") > 0).select("check", *groups, pl.col("applicable").cast(pl.Int64)))
        failing = pl.concat(
            [out.select(*groups, pl.col(f"{c}:failing").alias("_row")).explode("_row").drop_nulls("_row").unnest("_row")
             .sort("deal_id").select(pl.lit(c).alias("check"), "deal_id", *groups, "name", "value")
             for c in self._QUALITY_FAILS], how="vertical")
        return tallies, failing

    def duplicate_candidates_in_scope(self, scope: dict[str, Any],
                                      cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """deal_id, batch_id, owner_rep_id, name, account_id, amount, created_on of the deals in scope with a
        name (not blank) that share their account and amount with another deal in scope, by deal id —
        `metrics.quality.duplicate_candidates` (DuckDB's grouping, like polars', takes 0.0 as -0.0, NaN as NaN
        and null as null)."""
        sql = (f"WITH d AS (SELECT deal_id, batch_id, owner_rep_id, name, account_id, amount, created_on "
               f"  FROM ({self._deals_sql(scope)}) d), "
               f"shared AS (SELECT account_id, amount FROM d GROUP BY ALL HAVING count(*) > 1) "
               f"SELECT d.* FROM d SEMI JOIN shared s "
               f"  ON s.account_id IS NOT DISTINCT FROM d.account_id AND s.amount IS NOT DISTINCT FROM d.amount "
               f"WHERE regexp_matches(d.name, $not_blank) ORDER BY d.deal_id")
        return self._bound_frame(sql, self._scope_params(scope) | {"not_blank": self._NOT_BLANK}, cur)

    def deal_names_in_scope(self, scope: dict[str, Any], deal_ids: list[str],
                            cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """deal_id, name, account (the account's name, else its id) of the given deals in scope."""
        sql = (f"SELECT d.deal_id, d.name, coalesce(a.name, d.account_id) AS account FROM ({self._DEALS_IN_SCOPE}) d "
               f"LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, name FROM accounts ORDER BY account_id, rowid) a "
               f"  ON a.account_id = d.account_id "
               f"WHERE d.deal_id IN (SELECT unnest(CAST($ids AS VARCHAR[]))) ORDER BY d.deal_id")
        cur = cur or self.cursor()
        cur.complete()
        return cur.sql(sql, params=self._scope_params(scope) | {"ids": [str(i) for i in deal_ids]}).pl()

    def deal_currencies_in_scope(self, scope: dict[str, Any],
                                 cur: duckdb.DuckDBPyConnection | None = None) -> tuple[int, list[str]]:
        """How many deals are in scope, and their distinct currencies (sorted)."""
        sql = (f"SELECT count(*) AS deals, list_sort(list(DISTINCT currency)) AS currencies "
               f"FROM ({self._deals_sql(scope)}) d")
        row = self._bound_frame(sql, self._scope_params(scope), cur).row(0, named=True)
        return int(row["deals"]), [c for c in (row["currencies"] or []) if c is not None]

    def owner_deals_in_scope(self, scope: dict[str, Any], period_from: date | None, period_to: date | None,
                             as_of: date, by: str, key: str,
                             cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """The deals behind one rep (`by="rep"`, key = rep id) or team (`by="team"`): deals in scope
        won or lost with a close day (closed_on, else close_date) in the period, plus those open at
        `as_of` (created on or before it, or undated); with the owner's name and team (reps in scope)
        and the account's name. Columns: deal_id, name, account, owner_rep_id, owner, team, stage,
        status, amount, close_day, created_on; won first, then open, then lost, latest close first."""
        column = {"rep": "d.owner_rep_id", "team": "o.team"}[by]
        sql = (
            f"SELECT d.deal_id, d.name, coalesce(a.name, d.account_id) AS account, d.owner_rep_id, "
            f"coalesce(o.name, d.owner_rep_id) AS owner, o.team, d.stage, d.status, d.amount, "
            f"coalesce(d.closed_on, d.close_date) AS close_day, d.created_on "
            f"FROM ({self._DEALS_IN_SCOPE}) d "
            f"LEFT JOIN (SELECT DISTINCT ON (rep_id) rep_id, name, team FROM reps "
            f"           WHERE rep_id IN ({self._REPS_IN_SCOPE}) ORDER BY rep_id, rowid) o ON o.rep_id = d.owner_rep_id "
            f"LEFT JOIN (SELECT DISTINCT ON (account_id) account_id, name FROM accounts ORDER BY account_id, rowid) a "
            f"  ON a.account_id = d.account_id "
            f"WHERE {column} = $key AND ("
            f"  (d.status IN ('won', 'lost') AND ((CAST($p_from AS DATE) IS NULL AND CAST($p_to AS DATE) IS NULL) "
            f"    OR (coalesce(d.closed_on, d.close_date) IS NOT NULL "
            f"        AND (CAST($p_from AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) >= CAST($p_from AS DATE)) "
            f"        AND (CAST($p_to AS DATE) IS NULL OR coalesce(d.closed_on, d.close_date) <= CAST($p_to AS DATE))))) "
            f"  OR (d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE)))) "
            f"ORDER BY CASE d.status WHEN 'won' THEN 0 WHEN 'open' THEN 1 WHEN 'lost' THEN 2 ELSE 9 END, "
            f"close_day DESC NULLS LAST, d.deal_id"
        )
        cur = cur or self.cursor()
        cur.complete()
        params = self._scope_params(scope) | {"p_from": period_from, "p_to": period_to, "as_of": as_of,
                                              "key": str(key)}
        return cur.sql(sql, params=params).pl()

    @staticmethod
    def _month_edges(period_from: date | None, period_to: date | None) -> list[tuple[date, date]]:
        """The days of a bounded period outside its whole calendar months (at most two runs of days)."""
        if period_from is None and period_to is None:
            return []
        lo, hi = period_from, period_to
        if lo is not None and hi is not None and hi < lo:
            return []
        if lo is not None and hi is not None and (lo.year, lo.month) == (hi.year, hi.month):
            whole = lo.day == 1 and (hi + timedelta(days=1)).day == 1
            return [] if whole else [(lo, hi)]
        edges = []
        if lo is not None and lo.day != 1:
            edges.append((lo, (lo.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)))
        if hi is not None and (hi + timedelta(days=1)).day != 1:
            edges.append((hi.replace(day=1), hi))
        return edges

    def activity_coverage_in_scope(self, scope: dict[str, Any], tiers: pl.DataFrame, period_from: date | None,
                                   period_to: date | None, as_of: date,
                                   cur: duckdb.DuckDBPyConnection | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Two aggregates of the activities in scope, linked to an account through their own
        account, else their deal's (a deal in scope; unlinked activities are left out):
        - per rep and tier, the activities dated in the period: rep_id, tier, activities —
          `metrics.tiering.tier_activity_counts` (accounts missing from `tiers` are tier "none");
        - per account, the last activity day up to `as_of`: account_id, last_activity_on —
          `metrics.tiering.last_activity`.
        `tiers` is a frame of account_id, tier. Whole months are read from the derived
        `activity_months` table; only the days of a period outside its whole months and those of
        the month of `as_of` up to it are read from the activities themselves (time-ordered, so
        the other days are skipped). Each aggregate reads only its own rows: the counts those of
        the period, the last days those before `as_of` (a quarter's counts join a quarter of
        months with the tiers, not the whole history); the tiers are joined as integer codes."""
        unbounded = period_from is None and period_to is None
        month_of_as_of = as_of.replace(day=1)
        where = ""
        if any(scope.get(k) for k in ("teams", "regions", "reps")):
            where += f" AND x.rep_id IN ({self._REPS_IN_SCOPE})"
        if scope.get("segments"):
            where += " AND x.account_id IN (SELECT account_id FROM accounts WHERE list_contains($segments, size))"
        # a month counts whole when the period has no bounds, or it lies inside the period's bounds
        whole = ("(CAST($unbounded AS BOOLEAN) OR (x.month IS NOT NULL "
                 "AND (CAST($p_from AS DATE) IS NULL OR x.month >= CAST($p_from AS DATE)) "
                 "AND (CAST($p_to AS DATE) IS NULL OR CAST(x.month + INTERVAL 1 MONTH AS DATE) - 1 <= CAST($p_to AS DATE))))")
        # counted: rep_id, account_id, deal_id (for those without an account), n — the period's activities
        counted = [f"SELECT x.rep_id, x.account_id, x.deal_id, x.activities AS n FROM activity_months x "
                   f"WHERE {whole}{where}"]
        edges = self._month_edges(period_from, period_to)
        params: dict[str, Any] = {"unbounded": unbounded, "p_from": period_from, "p_to": period_to,
                                  "am": month_of_as_of, "as_of": as_of}
        for n, (lo, hi) in enumerate(edges):       # e0_lo, e0_hi, e1_lo, e1_hi: generated names
            counted.append(f"SELECT x.rep_id, x.account_id, CASE WHEN x.account_id IS NULL THEN x.deal_id END, 1 "
                           f"FROM activities x WHERE x.occurred_at >= CAST($e{n}_lo AS TIMESTAMP) "
                           f"AND x.occurred_at < CAST(CAST($e{n}_hi AS DATE) + 1 AS TIMESTAMP){where}")
            params |= {f"e{n}_lo": lo, f"e{n}_hi": hi}
        # dated: account_id, deal_id, last_day — the last day of the activities up to as_of
        dated = [
            f"SELECT x.account_id, x.deal_id, x.last_day FROM activity_months x "
            f"WHERE x.month < CAST($am AS DATE){where}",
            f"SELECT x.account_id, CASE WHEN x.account_id IS NULL THEN x.deal_id END, CAST(x.occurred_at AS DATE) "
            f"FROM activities x WHERE x.occurred_at >= CAST($am AS TIMESTAMP) "
            f"AND x.occurred_at < CAST(CAST($as_of AS DATE) + 1 AS TIMESTAMP){where}",
        ]
        c_rows, d_rows = " UNION ALL ".join(counted), " UNION ALL ".join(dated)
        params = self._scope_params(scope) | params
        cur = cur or self.cursor()
        cur.complete()
        # activities without an account look up their deal's (a deal in scope); when there are none
        # (row-group statistics answer this at once), the deals are not read
        probe = (f"SELECT EXISTS (SELECT 1 FROM ({c_rows}) x WHERE x.account_id IS NULL AND x.deal_id IS NOT NULL) "
                 f"OR EXISTS (SELECT 1 FROM ({d_rows}) x WHERE x.account_id IS NULL AND x.deal_id IS NOT NULL)")
        own = {k: v for k, v in params.items() if k != "products"}   # a product filter reaches activities via deals only
        unlinked = _one(cur, probe, self._bound(probe, own))[0]
        deal_accounts = f"(SELECT s.deal_id, s.account_id FROM ({self._deals_sql(scope)}) s)"

        def linked(rows: str, cols: str) -> str:
            out = f"SELECT {cols} FROM ({rows}) x WHERE x.account_id IS NOT NULL"
            if unlinked:
                out += (f" UNION ALL SELECT {cols.replace('x.account_id', 'd.account_id')} FROM ({rows}) x "
                        f"JOIN {deal_accounts} d ON d.deal_id = x.deal_id "
                        f"WHERE x.account_id IS NULL AND d.account_id IS NOT NULL")
            return out

        names = sorted(set(tiers["tier"].fill_null("none").to_list()) | {"none"})
        codes = (tiers.select("account_id", pl.col("tier").fill_null("none")).unique("account_id", keep="first")
                 .select("account_id", pl.col("tier").replace_strict({t: i for i, t in enumerate(names)},
                                                                      return_dtype=pl.UInt32).alias("code")))
        params["none_code"] = names.index("none")
        sql = (  # the tiers as codes (an integer group key); accounts missing from them are "none"
            f"SELECT 1 AS by_tier, l.rep_id, coalesce(t.code, CAST($none_code AS UINTEGER)) AS code, "
            f"  CAST(NULL AS VARCHAR) AS account_id, CAST(sum(l.n) AS BIGINT) AS activities, "
            f"  CAST(NULL AS DATE) AS last_activity_on "
            f"FROM ({linked(c_rows, 'x.rep_id, x.account_id, x.n')}) l "
            f"LEFT JOIN tier_codes t ON t.account_id = l.account_id GROUP BY 2, 3 "
            f"UNION ALL SELECT 0, NULL, NULL, account_id, NULL, max(last_day) "
            f"FROM ({linked(d_rows, 'x.account_id, x.last_day')}) GROUP BY account_id"
        )
        if not unlinked:       # no deal is read, so the product filter has nothing to narrow
            params = own | {"none_code": params["none_code"]}
        cur.register("tier_codes", codes)
        try:
            out = cur.sql(sql, params=self._bound(sql, params)).pl()
        finally:
            cur.unregister("tier_codes")
        by_tier = (out.filter((pl.col("by_tier") == 1) & (pl.col("activities") > 0))
                   .select("rep_id", pl.col("code").replace_strict(dict(enumerate(names)), return_dtype=pl.String)
                           .alias("tier"), "activities")
                   .sort("rep_id", "tier", nulls_last=True))
        last = (out.filter((pl.col("by_tier") == 0) & pl.col("last_activity_on").is_not_null())
                .select("account_id", "last_activity_on").sort("account_id"))
        return by_tier, last

    def account_sums_in_scope(self, scope: dict[str, Any], windows: list[tuple[date | None, date | None]],
                              as_of: date, cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """One row per account of `accounts_in_scope` or seen on a deal in scope: its name and owner
        (the accounts table's), for an account without an owner the owner of its latest deal with
        one (by created_on, undated first, then deal_id), its deals open at `as_of` (created then or
        before, or undated) counted and summed, and for each window k of `windows` (bound as $f{k},
        $t{k}) its won deals with a close day (closed_on, else close_date) in it counted and summed
        with their last close day — the frame of `metrics.tiering.account_sums` (sums of the known
        amounts, 0 without any)."""
        schema = {"account_id": pl.String, "name": pl.String, "owner_rep_id": pl.String,
                  "deal_owner_rep_id": pl.String, "open_deals": pl.Int64, "open_pipeline": pl.Float64}
        flags, per_window, outer = [], [], []
        params = self._scope_params(scope) | {"as_of": as_of}
        for k, (lo, hi) in enumerate(windows):
            flags.append(f"coalesce(d.status = 'won' AND {self._close_within(k)}, false) AS w{k}")
            per_window.append(f"CAST(count(*) FILTER (WHERE w{k}) AS BIGINT) AS won_deals_{k}, "
                              f"CAST(coalesce(sum(amount) FILTER (WHERE w{k}), 0) AS DOUBLE) AS revenue_{k}, "
                              f"max(close_day) FILTER (WHERE w{k}) AS last_won_on_{k}")
            outer.append(f"coalesce(s.won_deals_{k}, 0) AS won_deals_{k}, coalesce(s.revenue_{k}, 0) AS revenue_{k}, "
                         f"s.last_won_on_{k}")
            schema |= {f"won_deals_{k}": pl.Int64, f"revenue_{k}": pl.Float64, f"last_won_on_{k}": pl.Date}
            params |= {f"f{k}": lo, f"t{k}": hi}
        # `accounts_in_scope`'s rule, the accounts with a deal in scope taken from s
        accounts = (f"SELECT account_id, name, owner_rep_id FROM ("
                    f"{self._ACCOUNTS_IN_SCOPE.format(reps=self._REPS_IN_SCOPE, deals='SELECT account_id FROM s')}) "
                    f"WHERE account_id IS NOT NULL")
        deals = self._deals_sql(scope)
        sql = (  # s: the sums per account; o: the latest deal's owner, sought only for the accounts of s
            # without an owner in the accounts table (none: the deals are not read again)
            f"WITH s AS MATERIALIZED (SELECT account_id, "
            f"  CAST(count(*) FILTER (WHERE live) AS BIGINT) AS open_deals, "
            f"  CAST(coalesce(sum(amount) FILTER (WHERE live), 0) AS DOUBLE) AS open_pipeline"
            f"  {''.join(', ' + c for c in per_window)} "
            f"  FROM (SELECT d.account_id, d.amount, coalesce(d.closed_on, d.close_date) AS close_day, "
            f"    coalesce(d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE)), false) AS live"
            f"    {''.join(', ' + c for c in flags)} "
            f"    FROM ({deals}) d WHERE d.account_id IS NOT NULL) GROUP BY account_id), "
            f"unowned AS (SELECT account_id FROM s WHERE account_id NOT IN "
            f"  (SELECT account_id FROM accounts WHERE owner_rep_id IS NOT NULL AND account_id IS NOT NULL)), "
            f"o AS (SELECT d.account_id, arg_max(d.owner_rep_id, (d.created_on IS NOT NULL, "
            f"  coalesce(d.created_on, DATE '1970-01-01'), d.deal_id)) AS deal_owner_rep_id "
            f"  FROM ({deals}) d WHERE d.owner_rep_id IS NOT NULL AND d.account_id IN (SELECT account_id FROM unowned) "
            f"  GROUP BY 1), "
            f"a AS ({accounts}) "
            f"SELECT coalesce(a.account_id, s.account_id) AS account_id, a.name, a.owner_rep_id, o.deal_owner_rep_id, "
            f"coalesce(s.open_deals, 0) AS open_deals, coalesce(s.open_pipeline, 0) AS open_pipeline"
            f"{''.join(', ' + c for c in outer)} "
            f"FROM a FULL JOIN s ON s.account_id = a.account_id LEFT JOIN o ON o.account_id = s.account_id ORDER BY 1"
        )
        return self._bound_frame(sql, params, cur).cast(schema)

    def tier_deal_sums_in_scope(self, scope: dict[str, Any], tiers: pl.DataFrame, period_from: date | None,
                                period_to: date | None, as_of: date,
                                cur: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
        """rep_id, tier, won_deals, revenue, open_deals, pipeline: the deals in scope per owner and the
        tier of their account in `tiers` (account_id, tier; "none" for other accounts and for deals
        without one), those won with a close day (closed_on, else close_date) in the period counted
        and summed, and those open at `as_of` (created then or before, or undated) — `metrics.
        tiering.tier_deal_sums` (sums of the known amounts, 0 without any)."""
        schema = {"rep_id": pl.String, "tier": pl.String, "won_deals": pl.Int64, "revenue": pl.Float64,
                  "open_deals": pl.Int64, "pipeline": pl.Float64}
        won = f"(d.status = 'won' AND {self._close_within(0)})"
        live = "(d.status = 'open' AND (d.created_on IS NULL OR d.created_on <= CAST($as_of AS DATE)))"
        sql = (
            f"SELECT d.owner_rep_id AS rep_id, coalesce(t.tier, 'none') AS tier, "
            f"CAST(count(*) FILTER (WHERE {won}) AS BIGINT) AS won_deals, "
            f"CAST(coalesce(sum(d.amount) FILTER (WHERE {won}), 0) AS DOUBLE) AS revenue, "
            f"CAST(count(*) FILTER (WHERE {live}) AS BIGINT) AS open_deals, "
            f"CAST(coalesce(sum(d.amount) FILTER (WHERE {live}), 0) AS DOUBLE) AS pipeline "
            f"FROM ({self._deals_sql(scope)}) d LEFT JOIN deal_tiers t ON t.account_id = d.account_id "
            f"WHERE {won} OR {live} GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2"
        )
        params = self._scope_params(scope) | {"f0": period_from, "t0": period_to, "as_of": as_of}
        cur = cur or self.cursor()
        cur.complete()
        cur.register("deal_tiers", tiers.select("account_id", "tier").unique("account_id", keep="first"))
        try:
            return cur.sql(sql, params=self._bound(sql, params)).pl().cast(schema)
        finally:
            cur.unregister("deal_tiers")

    # ------------------------------------------------------------------ writes
    def save_mapping(self, header_key: str, kind: str, mapping: dict[str, str]) -> None:
        """Remember a confirmed mapping for files with this header set."""
        with self.write_lock:
            cur = self.cursor()
            if self.saved_mapping(header_key, cur) == (kind, mapping):
                return                                  # already known: keep the store unchanged
            cur.execute("DELETE FROM saved_mappings WHERE header_key = ?", [header_key])
            cur.execute(
                "INSERT INTO saved_mappings VALUES (?, ?, ?, ?)",
                [header_key, kind, json.dumps(mapping, ensure_ascii=False), datetime.now()],
            )

    def record_failed(self, kind: str, file_name: str | None, sha256: str | None, code: str, message: str) -> int:
        """Log a file that could not be imported (nothing else is written)."""
        with self.write_lock:
            cur = self.cursor()
            batch_id = int(_one(cur, "SELECT nextval('batch_seq')")[0])
            cur.execute(
                "INSERT INTO imports (batch_id, kind, file_name, sha256, imported_at, status, notes) "
                "VALUES (?, ?, ?, ?, ?, 'failed', ?)",
                [batch_id, kind or "unknown", file_name, sha256, datetime.now(),
                 json.dumps([{"code": code, "text": message}], ensure_ascii=False)],
            )
            return batch_id

    def apply_import(self, w: ImportWrite) -> ImportCounts:
        """Write one import in one transaction; on any error nothing of it remains.

        The batch is logged as 'running' first (committed on its own), so an import killed half-way
        is found at the next start and shown as failed; its rows were never committed."""
        with self.write_lock:
            cur = self.cursor()
            batch_id = int(_one(cur, "SELECT nextval('batch_seq')")[0])
            cur.execute(
                "INSERT INTO imports (batch_id, kind, file_name, sha256, imported_at, status, is_demo) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?)",
                [batch_id, w.kind, w.file_name, w.sha256, datetime.now(), w.is_demo],
            )
            cur.execute("BEGIN TRANSACTION")
            try:
                try:
                    counts = self._apply(cur, w, batch_id)
                except ImportRetry as again:    # the batches were built on a guess the whole file did not confirm
                    cur.execute("ROLLBACK")
                    cur.execute("BEGIN TRANSACTION")
                    w.batches = again.batches
                    counts = self._apply(cur, w, batch_id)
                cur.execute("COMMIT")
            except BaseException as exc:
                cur.execute("ROLLBACK")
                if isinstance(exc, w.refusals):  # logged as `record_failed` logs a refused file, in this batch
                    notes = json.dumps([{"code": exc.code, "text": exc.text()}], ensure_ascii=False)  # type: ignore[attr-defined]
                    exc.logged_batch = batch_id  # type: ignore[attr-defined]
                    cur.execute("UPDATE imports SET kind = ?, sha256 = ? WHERE batch_id = ?",
                                [getattr(exc, "log_kind", w.kind), getattr(exc, "log_sha256", w.sha256), batch_id])
                else:
                    notes = json.dumps([{"code": "write_failed", "text": f"{type(exc).__name__}: {exc}"}])
                cur.execute("UPDATE imports SET status = 'failed', notes = ? WHERE batch_id = ?", [notes, batch_id])
                raise
            self.checkpoint()
            return counts

    def _mark_interrupted(self) -> None:
        """Imports still 'running' at start-up were interrupted (killed, power cut): show them as failed."""
        self.con.execute(
            "UPDATE imports SET status = 'failed', notes = ? WHERE status = 'running'",
            [json.dumps([{"code": "interrupted", "text": "the import was interrupted; nothing of it was kept"}])],
        )

    def _apply(self, cur: duckdb.DuckDBPyConnection, w: ImportWrite, batch_id: int) -> ImportCounts:
        # only when rows are stored: a refused file leaves the demo (a streamed one refuses by rolling back)
        if w.replace_demo and (w.rows.height or w.batches is not None):
            self._delete_demo_rows(cur)
        ins = upd = same = rejected = 0
        if w.batches is not None:                   # a streamed import: its rows and rejects batch by batch
            # a file's keys are distinct (duplicates are rejected), so into an empty table every batch is new
            empty = not _one(cur, SQL[w.kind]["any_row"])[0]
            try:
                for rows, rejects in w.batches:
                    if rows.height:
                        i, u, n = self._upsert(cur, w.kind, rows, batch_id, known_new=empty, before=None)
                        ins, upd, same = ins + i, upd + u, same + n
                    rejected += self._insert_rejects(cur, rejects, batch_id)
                    del rows, rejects
            finally:                                # a write that failed stops the batches' making at once
                close = getattr(w.batches, "close", None)
                if close is not None:
                    close()
            self._check_stored(cur, w.kind, batch_id, ins + upd)   # once all are written (their keys differ)
        cur.execute(
            "UPDATE imports SET snapshot_date = ?, rows_read = ?, skipped = ?, mapping = ?, notes = ?, "
            "status = 'done' WHERE batch_id = ?",
            [w.snapshot_date, w.rows_read, w.skipped, json.dumps(w.mapping, ensure_ascii=False),
             json.dumps([{"code": c, "params": p} for c, p in w.notes], ensure_ascii=False, default=str),
             batch_id],
        )
        if w.stages is not None:
            self._replace_stages(cur, w.stages, batch_id)
        for table, extra in (("reps", w.new_reps), ("accounts", w.new_accounts)):
            if extra is not None and extra.height and table != w.kind:
                self._upsert(cur, table, extra, batch_id, only_new=True)
        if w.batches is None:
            ins, upd, same = self._upsert(cur, w.kind, w.rows, batch_id)
            rejected = self._insert_rejects(cur, w.rejects, batch_id)
        if w.kind == "deals" and w.snapshot_date is not None:
            self._append_snapshot(cur, w.rows, w.snapshot_date, batch_id)
        if w.replace_demo:
            self._rebuild_derived(cur)
        else:
            new_accounts = w.new_accounts is not None and w.new_accounts.height > 0
            changed = ((w.kind,) + (("accounts",) if new_accounts else ()) + (("stages",) if w.stages is not None else ())
                       + (("deal_snapshots",) if w.kind == "deals" and w.snapshot_date is not None else ()))
            self._rebuild_derived(cur, changed, self._touched_keys(cur, batch_id, changed))
        cur.execute(
            "UPDATE imports SET inserted = ?, updated = ?, unchanged = ?, rejected = ? WHERE batch_id = ?",
            [ins, upd, same, rejected, batch_id],
        )
        return ImportCounts(batch_id, ins, upd, same)

    def _insert_rejects(self, cur: duckdb.DuckDBPyConnection, rejects: pl.DataFrame | None, batch_id: int) -> int:
        """Store an import's rejected rows; how many."""
        if rejects is None or not rejects.height:
            return 0
        rej = rejects.select([pl.col(c).cast(t) for c, t in REJECT_SCHEMA.items()]).with_columns(
            pl.lit(batch_id, pl.Int32).alias("batch_id")
        )
        cur.register("rejects_frame", _arrow_once(rej))
        cur.execute(
            "INSERT INTO rejected_rows (batch_id, line, column_name, reason, reason_code, params, raw) "
            "SELECT batch_id, line, column_name, reason, reason_code, params, raw FROM rejects_frame"
        )
        cur.unregister("rejects_frame")
        return rej.height

    def _incoming_ddl(self, cur: duckdb.DuckDBPyConnection, table: str) -> str:
        """CREATE statement of the staging table, with the canonical table's declared column types.

        Declared explicitly on purpose: DuckDB 2.0.0 loses the rows of a temp table made with
        `CREATE TABLE … AS SELECT … WHERE false` once ≥122,880 Arrow rows go into it in a transaction."""
        if table not in self._ddl:
            types = dict(cur.execute(SQL[table]["columns"], [table]).fetchall())
            cols = ", ".join(f"{c} {types[c]}" for c in TABLES[table].columns)
            self._ddl[table] = f"CREATE OR REPLACE TEMP TABLE incoming ({cols})"
        return self._ddl[table]

    def _insert_if_all_new(self, cur: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame,
                           batch_id: int, known_new: bool = False, before: int | None = 0) -> bool:
        """Insert every row when no incoming key is stored yet; False (nothing written) otherwise.
        `before`: the rows of the batch in the table already (earlier batches of a streamed import), or
        None to count them once when all are written; `known_new`: the caller knows no key is stored."""
        cols = TABLES[table].columns
        if not known_new:
            cur.register("incoming_frame", _arrow_once(rows.select(TABLES[table].key)))
            try:
                if _one(cur, SQL[table]["any_stored"])[0]:
                    return False
            finally:
                cur.unregister("incoming_frame")
        cur.register("incoming_frame", _arrow_once(rows.select(
            [pl.col(c) if c in rows.columns else pl.lit(None, pl.String).alias(c) for c in cols]
        )))
        try:
            cur.execute(SQL[table]["insert_frame"], [batch_id])
        finally:
            cur.unregister("incoming_frame")
        if before is not None:
            self._check_stored(cur, table, batch_id, before + rows.height)
        return True

    def _check_stored(self, cur: duckdb.DuckDBPyConnection, table: str, batch_id: int, expected: int) -> None:
        """Never report rows as stored that were not: the table holds `expected` rows of the batch."""
        stored = int(_one(cur, SQL[table]["count_batch"], [batch_id])[0])   # a batch writes a table once
        if stored != expected:
            raise RuntimeError(f"storing {table}: {stored} of {expected} rows arrived")

    def _load_incoming(self, cur: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame) -> None:
        cols = TABLES[table].columns
        cur.execute(self._incoming_ddl(cur, table))
        if rows.height:
            cur.register("incoming_frame", _arrow_once(rows.select(
                [pl.col(c) if c in rows.columns else pl.lit(None, pl.String).alias(c) for c in cols]
            )))
            cur.execute(SQL[table]["incoming_fill"])
            cur.unregister("incoming_frame")
        staged = int(_one(cur, "SELECT count(*) FROM incoming")[0])
        if staged != rows.height:  # never report rows as stored that were not
            raise RuntimeError(f"staging {table}: {staged} of {rows.height} rows arrived")

    def _upsert(self, cur: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, batch_id: int,
                only_new: bool = False, known_new: bool = False, before: int | None = 0) -> tuple[int, int, int]:
        """Insert new keys, replace changed rows (saving the old version), leave equal rows alone.

        When none of the incoming keys is stored yet (a first upload, or a file of new rows only) the
        rows go straight from the frame into the table: nothing to classify, stage or save (`known_new`,
        `before`: a batch of a streamed import, see `_insert_if_all_new`)."""
        if rows.height and self._insert_if_all_new(cur, table, rows, batch_id, known_new, before):
            return rows.height, 0, 0
        self._load_incoming(cur, table, rows)
        cur.execute(SQL[table]["classify"])
        if only_new:
            cur.execute("UPDATE incoming_cls SET _cls = 'same' WHERE _cls = 'changed'")
        new, changed, same = _one(cur, 
            "SELECT count(*) FILTER (_cls = 'new'), count(*) FILTER (_cls = 'changed'), "
            "count(*) FILTER (_cls = 'same') FROM incoming_cls"
        )
        if new + changed + same != rows.height:
            raise RuntimeError(f"classifying {table}: {new + changed + same} of {rows.height} rows")
        if changed:
            cur.execute(SQL[table]["save_prev"], [batch_id])
            cur.execute(SQL[table]["delete_changed"])
        if new or changed:
            cur.execute(SQL[table]["insert"], [batch_id])
        cur.execute("DROP TABLE incoming_cls")
        cur.execute("DROP TABLE incoming")
        return int(new), int(changed), int(same)

    def _append_snapshot(self, cur: duckdb.DuckDBPyConnection, rows: pl.DataFrame, snapshot_date: date, batch_id: int) -> None:
        """Append the deals of this upload to the snapshot of `snapshot_date`, unless identical already."""
        snap = rows.select(["deal_id", "stage", "status", "amount", "close_date", "owner_rep_id"])
        cur.register("snapshot_frame", snap)
        cur.execute(
            "INSERT INTO deal_snapshots (batch_id, snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id) "
            "SELECT ?, ?, s.deal_id, s.stage, s.status, s.amount, s.close_date, s.owner_rep_id FROM snapshot_frame s "
            "WHERE NOT EXISTS (SELECT 1 FROM (SELECT * FROM deal_snapshots WHERE snapshot_date = ? "
            "  QUALIFY row_number() OVER (PARTITION BY deal_id ORDER BY batch_id DESC) = 1) p "
            "  WHERE p.deal_id = s.deal_id AND p.stage IS NOT DISTINCT FROM s.stage AND p.status IS NOT DISTINCT FROM s.status "
            "  AND p.amount IS NOT DISTINCT FROM s.amount AND p.close_date IS NOT DISTINCT FROM s.close_date "
            "  AND p.owner_rep_id IS NOT DISTINCT FROM s.owner_rep_id)",
            [batch_id, snapshot_date, snapshot_date],
        )
        cur.unregister("snapshot_frame")

    def append_snapshots(self, frame: pl.DataFrame, batch_id: int) -> None:
        """Bulk-append ready-made snapshot rows (the demo company's history) to a batch."""
        with self.write_lock:
            cur = self.cursor()
            cur.register("snapshots_bulk", frame.select(SNAPSHOT_COLUMNS))
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(
                    "INSERT INTO deal_snapshots (batch_id, snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id) "
                    "SELECT ?, snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id FROM snapshots_bulk",
                    [batch_id],
                )
                self._rebuild_derived(cur, ("deal_snapshots",))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            finally:
                cur.unregister("snapshots_bulk")

    def _replace_stages(self, cur: duckdb.DuckDBPyConnection, stages: pl.DataFrame, batch_id: int) -> None:
        cur.execute("INSERT INTO stages_prev SELECT *, ? FROM stages", [batch_id])
        # undo restores whatever stages_prev holds for the batch (possibly nothing: an empty pipeline).
        cur.execute("DELETE FROM stages")
        cur.register("stages_frame", stages.select(STAGE_COLUMNS))
        cur.execute(
            "INSERT INTO stages (name, position, probability, is_won, is_lost, source, batch_id) "
            "SELECT name, position, probability, is_won, is_lost, source, ? FROM stages_frame", [batch_id]
        )
        cur.unregister("stages_frame")
        cur.execute("UPDATE imports SET stages_changed = true WHERE batch_id = ?", [batch_id])

    def set_stages(self, stages: pl.DataFrame) -> None:
        """Replace the configured pipeline (edited on the Data page)."""
        with self.write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute("DELETE FROM stages")
                cur.register("stages_frame", stages.select(STAGE_COLUMNS))
                cur.execute(
                    "INSERT INTO stages (name, position, probability, is_won, is_lost, source, batch_id) "
                    "SELECT name, position, probability, is_won, is_lost, source, NULL FROM stages_frame"
                )
                cur.unregister("stages_frame")
                self._rebuild_derived(cur, ("stages",))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    # ------------------------------------------------------------------ undo and clear
    def undo(self, batch_id: int) -> dict[str, Any]:
        """Restore the database to its state before `batch_id`, updated rows included."""
        with self.write_lock:
            cur = self.cursor()
            row = self.import_row(batch_id, cur)
            if row is None:
                raise ImportProblem("batch_not_found", batch_id=batch_id)
            if row["status"] != "done":
                raise ImportProblem("batch_not_live", batch_id=batch_id, status=row["status"])
            later = self._blocking_batches(cur, batch_id)
            if later:
                raise ImportProblem("undo_blocked", batch_id=batch_id, later=", ".join(map(str, later)))
            cur.execute("BEGIN TRANSACTION")
            try:
                # the tables the batch wrote (rows of its own, rows it replaced): only their derived tables are
                # recomputed (an activities or targets undo leaves the stage and snapshot tables as they are)
                changed = tuple(name for name in FACT_TABLES
                                if _one(cur, SQL[name]["written_by"], [batch_id, batch_id])[0]) \
                    + (("deal_snapshots",) if _one(cur, "SELECT EXISTS (SELECT 1 FROM deal_snapshots WHERE batch_id = ?)",
                                                   [batch_id])[0] else ()) \
                    + (("stages",) if row.get("stages_changed") else ())
                incremental = self._touched_keys(cur, batch_id, changed, written=False)   # before the batch's rows go
                for name in FACT_TABLES:
                    cur.execute(SQL[name]["undo_delete"], [batch_id])
                    cur.execute(SQL[name]["undo_restore"], [batch_id])
                    cur.execute(SQL[name]["undo_forget"], [batch_id])
                cur.execute("DELETE FROM deal_snapshots WHERE batch_id = ?", [batch_id])
                if row.get("stages_changed"):
                    cur.execute("DELETE FROM stages")
                    cur.execute(
                        "INSERT INTO stages SELECT name, position, probability, is_won, is_lost, source, batch_id "
                        "FROM stages_prev WHERE replaced_by = ?", [batch_id]
                    )
                    cur.execute("DELETE FROM stages_prev WHERE replaced_by = ?", [batch_id])
                cur.execute("UPDATE imports SET status = 'undone' WHERE batch_id = ?", [batch_id])
                self._rebuild_derived(cur, changed, incremental)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self.checkpoint()
            return {"batch_id": batch_id, "status": "undone"}

    def _blocking_batches(self, cur: duckdb.DuckDBPyConnection, batch_id: int) -> list[int]:
        """Later live batches that overwrote rows of `batch_id`, or rely on reps/accounts/stages it added."""
        later: set[int] = set()
        for name in FACT_TABLES:
            later.update(int(r[0]) for r in cur.execute(SQL[name]["overwritten_later"], [batch_id]).fetchall())
        rows = cur.execute(
            "SELECT DISTINCT d.batch_id FROM deals d JOIN imports i ON i.batch_id = d.batch_id "
            "WHERE i.status = 'done' AND d.batch_id > ? AND ("
            " d.owner_rep_id IN (SELECT rep_id FROM reps WHERE batch_id = ?) OR "
            " d.account_id IN (SELECT account_id FROM accounts WHERE batch_id = ?)) "
            "UNION SELECT batch_id FROM imports WHERE status = 'done' AND stages_changed AND batch_id > ? "
            "AND (SELECT stages_changed FROM imports WHERE batch_id = ?)",
            [batch_id, batch_id, batch_id, batch_id, batch_id],
        ).fetchall()
        later.update(int(r[0]) for r in rows)
        later.discard(batch_id)
        return sorted(later)

    def clear_demo(self) -> None:
        """Remove the demo company's rows only (its batches are marked undone); the user's data stays."""
        with self.write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                self._delete_demo_rows(cur)
                self._rebuild_derived(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self.checkpoint()

    def _delete_demo_rows(self, cur: duckdb.DuckDBPyConnection) -> None:
        """The demo company's rows go and its batches are marked undone (inside the caller's transaction)."""
        for name in FACT_TABLES:
            cur.execute(SQL[name]["clear_batches"])
            cur.execute(SQL[name]["clear_prev_batches"])
        cur.execute("DELETE FROM deal_snapshots WHERE batch_id IN (SELECT batch_id FROM imports WHERE is_demo)")
        cur.execute("DELETE FROM stages WHERE batch_id IN (SELECT batch_id FROM imports WHERE is_demo) "
                    "AND name NOT IN (SELECT stage FROM deals WHERE stage IS NOT NULL) "
                    "AND name NOT IN (SELECT stage FROM stage_history)")
        cur.execute("DELETE FROM stages_prev WHERE replaced_by IN (SELECT batch_id FROM imports WHERE is_demo)")
        cur.execute("UPDATE imports SET status = 'undone' WHERE is_demo AND status = 'done'")

    def clear_all(self) -> None:
        """Delete every data row (used by 'clear demo data'); the import log keeps its history."""
        with self.write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                for name in FACT_TABLES:
                    cur.execute(SQL[name]["clear"])
                    cur.execute(SQL[name]["clear_prev"])
                cur.execute("DELETE FROM deal_snapshots")
                cur.execute("DELETE FROM stages")
                cur.execute("DELETE FROM stages_prev")
                cur.execute("UPDATE imports SET status = 'undone' WHERE status = 'done'")
                self._rebuild_derived(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            self.checkpoint()


def iter_tables() -> Iterator[Table]:
    """The canonical tables in write order."""
    return iter(TABLES.values())

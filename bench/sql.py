"""The benchmark's one module that talks to DuckDB directly (the product's is data/store.py).

The floors are what DuckDB does on its own: COPY with an explicit schema, read_csv_auto, and one
hand-written query per view (texts in bench/floor.py); the pandas peer reads through `.df()`. They
run on their own connections or on a cursor of the product's Store, never through product code.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def _fresh(db: Path) -> duckdb.DuckDBPyConnection:
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    return duckdb.connect(str(db))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_csv(db: Path, csv: Path, table: str, columns: dict[str, str]) -> int:
    """Floor: COPY the file into a fresh table with the file's columns and explicit types, then
    checkpoint (the product checkpoints after every import too). Returns the rows loaded."""
    con = _fresh(db)
    try:
        cols = ", ".join(f"{_ident(c)} {t}" for c, t in columns.items())
        con.execute(f"CREATE TABLE {_ident(table)} ({cols})")
        con.execute(f"COPY {_ident(table)} FROM '{csv.as_posix()}' (FORMAT csv, HEADER true)")
        con.execute("CHECKPOINT")
        return int(con.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0])
    finally:
        con.close()


def auto_csv(db: Path, csv: Path, table: str) -> int:
    """Floor without a schema: CREATE TABLE AS SELECT * FROM read_csv_auto(file)."""
    con = _fresh(db)
    try:
        con.execute(f"CREATE TABLE {_ident(table)} AS SELECT * FROM read_csv_auto('{csv.as_posix()}')")
        con.execute("CHECKPOINT")
        return int(con.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0])
    finally:
        con.close()


def store_frame(db: Path, table: str, frame: Any) -> int:
    """Write a DataFrame (polars, pandas or Arrow) into a fresh table of a fresh file, checkpointed."""
    con = _fresh(db)
    try:
        con.register("frame_in", frame)
        con.execute(f"CREATE TABLE {_ident(table)} AS SELECT * FROM frame_in")
        con.unregister("frame_in")
        con.execute("CHECKPOINT")
        return int(con.execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0])
    finally:
        con.close()


def rows(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A query's rows as dicts (column name -> value)."""
    res = cur.execute(sql, params or {})
    names = [d[0] for d in res.description]
    return [dict(zip(names, r)) for r in res.fetchall()]


def pandas(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None):
    """A query's result as a pandas DataFrame (`.df()`, what a pandas app would do)."""
    return cur.execute(sql, params or {}).df()

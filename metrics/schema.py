"""Polars schemas of the canonical input tables (mirroring data/schema.sql) and frame helpers.

Every metric accepts frames with at least these columns; extra columns (batch_id, anything a view
adds) are kept and ignored. `conform` adds absent columns as typed nulls and casts the known ones,
so a metric never breaks on a frame that was built by hand or read from another source.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

STR = pl.String()
F64 = pl.Float64()
I32 = pl.Int32()
DATE = pl.Date()
TS = pl.Datetime("us")
BOOL = pl.Boolean()

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "deals": {
        "deal_id": STR,
        "account_id": STR,
        "owner_rep_id": STR,
        "name": STR,
        "product": STR,
        "amount": F64,
        "currency": STR,
        "stage": STR,
        "status": STR,
        "created_on": DATE,
        "close_date": DATE,
        "closed_on": DATE,
        "lost_reason": STR,
        "probability": F64,
        "forecast_category": STR,
        "source": STR,
        "batch_id": I32,
    },
    "reps": {
        "rep_id": STR,
        "name": STR,
        "email": STR,
        "team": STR,
        "manager_id": STR,
        "region": STR,
        "hired_on": DATE,
        "left_on": DATE,
        "batch_id": I32,
    },
    "accounts": {
        "account_id": STR,
        "name": STR,
        "industry": STR,
        "region": STR,
        "size": STR,
        "owner_rep_id": STR,
        "created_on": DATE,
        "batch_id": I32,
    },
    "leads": {
        "lead_id": STR,
        "created_on": DATE,
        "source": STR,
        "owner_rep_id": STR,
        "status": STR,
        "converted_on": DATE,
        "deal_id": STR,
        "batch_id": I32,
    },
    "stage_history": {
        "deal_id": STR,
        "stage": STR,
        "entered_at": TS,
        "inferred": BOOL,
        "batch_id": I32,
    },
    "activities": {
        "activity_id": STR,
        "rep_id": STR,
        "account_id": STR,
        "deal_id": STR,
        "kind": STR,
        "occurred_at": TS,
        "duration_min": F64,
        "outcome": STR,
        "batch_id": I32,
    },
    "targets": {
        "scope": STR,
        "scope_id": STR,
        "period_start": DATE,
        "period_end": DATE,
        "measure": STR,
        "value": F64,
        "batch_id": I32,
    },
    "stages": {
        "name": STR,
        "position": I32,
        "probability": F64,
        "is_won": BOOL,
        "is_lost": BOOL,
        "source": STR,
        "batch_id": I32,
    },
    "deal_snapshots": {
        "batch_id": I32,
        "snapshot_date": DATE,
        "deal_id": STR,
        "stage": STR,
        "status": STR,
        "amount": F64,
        "close_date": DATE,
        "owner_rep_id": STR,
    },
}


def _schema(table: str) -> dict[str, pl.DataType]:
    try:
        return SCHEMAS[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {', '.join(SCHEMAS)}") from None


def empty(table: str) -> pl.DataFrame:
    """Return an empty frame with the canonical columns and types of the named input table.

    Handy in tests and for callers that have no rows of a table yet (for example no stage history).
    """
    return pl.DataFrame(schema=_schema(table))


def conform(df: pl.DataFrame, table: str) -> pl.DataFrame:
    """Give a frame every canonical column of the named table, with the canonical types.

    Missing columns are added as nulls; present ones are cast when their type differs (a strict
    cast, so a wrong type fails loudly rather than turning into nulls); extra columns are kept.
    """
    exprs: list[pl.Expr] = []
    for name, dtype in _schema(table).items():
        if name not in df.columns:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif df.schema[name] != dtype:
            exprs.append(pl.col(name).cast(dtype))
    return df.with_columns(exprs) if exprs else df


def frame(
    table: str,
    data: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None = None,
) -> pl.DataFrame:
    """Build a frame of the named table from columns or rows, filling unnamed columns with nulls.

    Columns may be given as a mapping of lists or as a list of row dicts; values are cast to the
    canonical types (ISO date strings are accepted for date columns).
    """
    if data is None:
        return empty(table)
    if isinstance(data, Mapping):
        raw = pl.DataFrame(dict(data), strict=False)
    else:
        raw = pl.DataFrame(list(data), strict=False, infer_schema_length=None)
    schema = _schema(table)
    exprs: list[pl.Expr] = []
    for name in raw.columns:
        dtype = schema.get(name)
        if dtype is None or raw.schema[name] == dtype:
            continue
        if raw.schema[name] == pl.String() and dtype == DATE:
            exprs.append(pl.col(name).str.to_date("%Y-%m-%d"))
        elif raw.schema[name] == pl.String() and dtype == TS:
            exprs.append(pl.col(name).str.to_datetime(time_unit="us"))
        else:
            exprs.append(pl.col(name).cast(dtype))
    if exprs:
        raw = raw.with_columns(exprs)
    return conform(raw, table).select([*schema, *[c for c in raw.columns if c not in schema]])

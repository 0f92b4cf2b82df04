"""An upload from bytes to rows in the store: read -> detect kind -> map -> parse -> validate -> write.

`prepare` reads a file and proposes a kind and mapping (what the Data page previews and lets the user
correct); `build` turns the raw strings into canonical rows and rejects; `commit` writes them in one
transaction. `import_file` chains the three for the command line and scheduled jobs.
Every data row ends up stored, rejected (line, column, reason, original text) or skipped (blank or
footer rows): `rows_read = stored + rejected + skipped`.
"""
from __future__ import annotations

import hashlib
import json
import queue
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import polars as pl

from data import clock
from data.ingest import mapping as mp
from data.ingest import parse as ps
from data.ingest.problems import ImportProblem, render
from data.ingest.read import CsvStream, NotStreamable, RawTable, chunked_like, open_csv_stream, read_table
from data.store import TABLES, ImportRetry, ImportWrite, Store

LINE = "__line"
Progress = Callable[[float, str], None]


def _const(value: Any, n: int, dtype: pl.DataType, name: str = "") -> pl.Series:
    """A column of `n` equal values (built without a Python list of n items)."""
    return pl.Series(name, [value], dtype).new_from_index(0, n)


@dataclass
class Prepared:
    """A file read and understood, not yet written: what the Data page previews."""

    file_name: str
    sha256: str
    raw: RawTable
    kind: str
    kind_scores: list[tuple[str, float]]
    mapping: dict[str, str]                 # source header -> canonical field
    constants: dict[str, str] = field(default_factory=dict)  # field -> fixed value for every row
    header_key: str = ""
    mapping_source: str = "guessed"         # guessed, saved or user

    @property
    def missing(self) -> list[str]:
        """Required fields still without a column or a fixed value."""
        effective = dict(self.mapping)
        effective.update({f"={k}": k for k in self.constants})
        return mp.missing_required(effective, self.kind)


@dataclass
class Built:
    rows: pl.DataFrame
    rejects: pl.DataFrame
    notes: list[tuple[str, dict[str, Any]]]
    new_reps: pl.DataFrame | None = None
    new_accounts: pl.DataFrame | None = None
    stages: pl.DataFrame | None = None
    snapshot_date: date | None = None


@dataclass
class ImportResult:
    batch_id: int
    kind: str
    file_name: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    skipped: int
    rejects: list[dict[str, Any]]
    mapping: dict[str, str]
    notes: list[tuple[str, dict[str, Any]]]
    snapshot_date: date | None = None

    def to_json(self) -> dict[str, Any]:
        """The `--json` object of `python -m data import` (contract)."""
        return {
            "batch_id": self.batch_id, "kind": self.kind, "file": self.file_name,
            "rows_read": self.rows_read, "inserted": self.inserted, "updated": self.updated,
            "unchanged": self.unchanged, "rejected": self.rejected, "skipped": self.skipped,
            "rejects": self.rejects, "mapping": self.mapping,
            "notes": [render(c, **p) for c, p in self.notes],
            "snapshot_date": self.snapshot_date.isoformat() if self.snapshot_date else None,
        }


# ---------------------------------------------------------------------------------------------- prepare
def prepare(source: str | Path | bytes, file_name: str | None = None, *, store: Store | None = None,
            kind: str | None = None, overrides: dict[str, str] | None = None, sheet: str | None = None,
            constants: dict[str, str] | None = None) -> Prepared:
    """Read a file and propose its kind and column mapping (saved mapping first, then aliases)."""
    if isinstance(source, (str, Path)):   # a file on disk: never all its bytes in memory beside the table
        name = file_name or Path(source).name
        raw, sha256 = _read_and_hash(lambda: read_table(source, name, sheet=sheet), lambda: _file_sha256(Path(source)))
    else:
        data = bytes(source)
        name = file_name or "upload"
        raw, sha256 = _read_and_hash(lambda: read_table(data, name, sheet=sheet),
                                     lambda: hashlib.sha256(data).hexdigest())
        del data
    return _prepared(raw, name, sha256, store=store, kind=kind, overrides=overrides, constants=constants)


def _read_and_hash(read: Callable[[], RawTable], digest: Callable[[], str]) -> tuple[RawTable, str]:
    """`read()` with the file's SHA-256 (`digest()`) taken in a thread meanwhile (hashlib lets go of the
    GIL): at 1M deals (201 MB) the import 0.2-0.3 s shorter. What the hash raises (an unreadable file:
    OSError) comes first, as when the hash was taken before the read."""
    with ThreadPoolExecutor(1, thread_name_prefix="import-sha256") as pool:
        sha = pool.submit(digest)
        try:
            raw = read()
        except BaseException:
            sha.result()
            raise
        return raw, sha.result()


def _prepared(raw: RawTable, name: str, sha256: str, *, store: Store | None, kind: str | None,
              overrides: dict[str, str] | None, constants: dict[str, str] | None) -> Prepared:
    """`prepare` of a file read (only its headers count)."""
    if kind is not None and kind not in mp.KINDS:
        raise ImportProblem("kind_invalid", kind=kind, kinds=", ".join(mp.KINDS))
    key = mp.header_key(raw.headers)
    saved = store.saved_mapping(key) if store is not None else None
    scores = mp.detect_kind(raw.headers, name)
    source_label = "guessed"
    if kind is None and saved is not None:
        kind = saved[0]
    if kind is None:
        if not scores or scores[0][1] <= 0:
            raise ImportProblem("kind_unknown", found=", ".join(raw.headers))
        kind = scores[0][0]
    if saved is not None and saved[0] == kind:
        mapping = {k: v for k, v in saved[1].items() if k in raw.headers}
        source_label = "saved"
    else:
        mapping = mp.guess_mapping(raw.headers, kind)
    if overrides:
        mapping = apply_overrides(mapping, overrides, raw.headers, kind)
        source_label = "user"
    consts = dict(mp.default_for(kind, raw.headers))
    consts.update(constants or {})
    for f in list(consts):
        if f in mapping.values() and f not in (constants or {}):
            consts.pop(f)
    _check_fields(kind, consts)
    return Prepared(name, sha256, raw, kind, scores, mapping, consts, key, source_label)


def _file_sha256(path: Path) -> str:
    """The file's SHA-256, read in pieces (an unreadable file raises OSError, as reading it whole did)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(16 * 1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def apply_overrides(mapping: dict[str, str], overrides: dict[str, str], headers: list[str], kind: str) -> dict[str, str]:
    """`--map SOURCE=TARGET`: point a column at a field (TARGET empty or 'ignore' drops the column)."""
    out = dict(mapping)
    fields = mp.field_names(kind)
    norm = {mp.normalize_header(h): h for h in headers}
    for src, dst in overrides.items():
        col = src if src in headers else norm.get(mp.normalize_header(src))
        if col is None:
            raise ImportProblem("map_unknown_column", column=src, found=", ".join(headers))
        if dst in ("", "ignore", "-"):
            out.pop(col, None)
            continue
        if dst not in fields:
            raise ImportProblem("map_unknown_field", field=dst, kind=kind, fields=", ".join(fields))
        out = {k: v for k, v in out.items() if v != dst}
        out[col] = dst
    return out


def _check_fields(kind: str, consts: dict[str, str]) -> None:
    fields = mp.field_names(kind)
    for f in consts:
        if f not in fields:
            raise ImportProblem("map_unknown_field", field=f, kind=kind, fields=", ".join(fields))


# ---------------------------------------------------------------------------------------------- build
class _Rows:
    """Collects parsed columns and the first problem of each row."""

    def __init__(self, raw: RawTable, prepared: Prepared, dayfirst: bool | None,
                 decided: dict[str, dict[str, Any]] | None = None) -> None:
        self.frame = raw.frame
        self.decided = decided or {}           # field -> the whole file's parse decisions (a streamed batch)
        # a streamed batch of a file without ids: the ids' occurrence counts so far, of the rows that may repeat
        self.row_ids: tuple[dict[str, int], pl.Series] | None = None
        self.n = raw.frame.height
        self.inverse = {v: k for k, v in prepared.mapping.items()}
        self.constants = prepared.constants
        self.dayfirst = dayfirst
        self.notes: list[tuple[str, dict[str, Any]]] = []
        self.err_code = _const(None, self.n, pl.String, "code")
        self.err_col = _const(None, self.n, pl.String, "col")
        self.err_val = _const(None, self.n, pl.String, "val")

    def has(self, fld: str) -> bool:
        return fld in self.inverse or fld in self.constants

    def source(self, fld: str) -> pl.Series | None:
        if fld in self.inverse:
            return self.frame[self.inverse[fld]]
        if fld in self.constants:
            return _const(self.constants[fld], self.n, pl.String, fld)
        return None

    def _flag(self, fld: str, error: pl.Series, raw: pl.Series) -> None:
        new = error.is_not_null() & self.err_code.is_null()
        if not new.any():
            return
        label = self.inverse.get(fld, fld)
        self.err_code = pl.select(pl.when(new).then(error).otherwise(self.err_code)).to_series()
        self.err_col = pl.select(pl.when(new).then(pl.lit(label)).otherwise(self.err_col)).to_series()
        self.err_val = pl.select(pl.when(new).then(raw).otherwise(self.err_val)).to_series()

    def text(self, fld: str) -> pl.Series:
        s = self.source(fld)
        return ps.clean_text(s) if s is not None else _const(None, self.n, pl.String, fld)

    def ident(self, fld: str) -> pl.Series:
        s = self.source(fld)
        return ps.to_id(ps.clean_text(s), cleaned=True) if s is not None else _const(None, self.n, pl.String, fld)

    def parsed(self, fld: str, fn: Callable[..., ps.ColumnParse], dtype: pl.DataType, **kw: Any) -> ps.ColumnParse | None:
        s = self.source(fld)
        if s is None:
            return None
        label = self.inverse.get(fld, fld)
        res = fn(s, column=label, **kw, **self.decided.get(fld, {}))
        self._flag(fld, res.error, s)
        if res.note is not None:
            self.notes.append(res.note)
        return res

    def value(self, fld: str, fn: Callable[..., ps.ColumnParse], dtype: pl.DataType, **kw: Any) -> pl.Series:
        res = self.parsed(fld, fn, dtype, **kw)
        if res is None:
            return _const(None, self.n, dtype, fld)
        return res.values.cast(dtype)

    def date(self, fld: str) -> pl.Series:
        return self.value(fld, ps.parse_dates, pl.Date, dayfirst=self.dayfirst)

    def stamp(self, fld: str) -> pl.Series:
        return self.value(fld, ps.parse_dates, pl.Datetime("us"), dayfirst=self.dayfirst, with_time=True)

    def require(self, fld: str, values: pl.Series) -> None:
        """Rows where a required field is empty are rejected (unless already rejected)."""
        if not values.null_count():
            return                          # nothing to flag: no 10M-row columns of nothing
        missing = pl.select(pl.when(values.is_null()).then(pl.lit("missing_value"))).to_series()
        self._flag(fld, missing, _const("", self.n, pl.String))

    def reject_where(self, mask: pl.Series, code: str, column: str, value: pl.Series) -> None:
        self._flag(column, pl.select(pl.when(mask).then(pl.lit(code))).to_series(), value)


def build(prepared: Prepared, store: Store, *, dayfirst: bool | None = None, as_of: date | None = None,
          today: date | None = None) -> Built:
    """Parse and validate every row into the canonical columns of the prepared kind."""
    missing = prepared.missing
    if missing:
        raise ImportProblem("missing_required", kind=prepared.kind, missing=", ".join(missing),
                            found=", ".join(prepared.raw.headers))
    r = _Rows(prepared.raw, prepared, dayfirst)
    builder = _BUILDERS[prepared.kind]
    rows, extra = builder(r, store)
    rows = _aligned(rows, prepared.raw.frame[LINE]).with_columns(pl.Series(LINE, prepared.raw.frame[LINE]))
    bad = r.err_code.is_not_null()
    good = rows.filter(~bad) if bad.any() else rows
    key_field = {"deals": "deal_id" if r.has("deal_id") else "deal_name", "leads": "lead_id", "reps": "rep",
                 "accounts": "account", "activities": "activity_id", "stage_history": "deal_id",
                 "targets": "period"}[prepared.kind]
    good, dup_rejects = _dedupe(good, prepared.kind, r.inverse.get(key_field, TABLES[prepared.kind].key[0]))
    rejects = _reject_frame(prepared.raw, r, bad)
    if dup_rejects.height:
        rejects = pl.concat([rejects, _raw_text(prepared.raw, dup_rejects)], how="vertical_relaxed").sort("line")
    notes = _decode_notes(prepared.raw) + r.notes + extra.pop("notes", [])
    built = Built(good.drop(LINE), rejects, _unique_notes(notes), **extra)
    if prepared.kind == "deals":
        built.snapshot_date, how = _snapshot_date(prepared, store, good, as_of, today or clock.today())
        built.notes.append(("snapshot_date", {"date": built.snapshot_date.isoformat(), "source": how}))
    built.rows = _drop_helper_columns(built.rows, prepared.kind)
    return built


def _aligned(rows: pl.DataFrame, like: pl.Series) -> pl.DataFrame:
    """`rows` with every column cut into the pieces of `like` (the raw frame's chunks).

    A column passed through unchanged from the file keeps the reader's hundreds of chunks, a parsed one
    is one piece: in one frame, every later select, drop or Arrow export would first copy all its
    columns into common pieces (1 GB for 10M activities). Cutting the parsed columns instead copies
    nothing but themselves, and only when their pieces differ."""
    if like.n_chunks() <= 1:
        return rows
    lengths = [chunk.len() for chunk in like.get_chunks()]
    cols = [c if [k.len() for k in c.get_chunks()] == lengths else chunked_like(c.rechunk(), like)
            for c in rows.get_columns()]
    return pl.DataFrame(cols)


def _decode_notes(raw: RawTable) -> list[tuple[str, dict[str, Any]]]:
    """Invalid bytes in a mostly-UTF-8 file were read as U+FFFD: say how many and on which lines."""
    if not raw.decode_errors:
        return []
    cells = [c for c in raw.frame.columns if c != LINE and raw.frame.schema[c] == pl.String]
    hit = raw.frame.filter(pl.any_horizontal([pl.col(c).str.contains("\ufffd", literal=True) for c in cells])
                           ) if cells else raw.frame.clear()
    lines = ([raw.header_line] if any("\ufffd" in h for h in raw.headers) else []) + hit[LINE].to_list()
    shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
    return [("decode_replaced", {"count": raw.decode_errors, "lines": shown or "?"})]


def _unique_notes(notes: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    seen: set[str] = set()
    out = []
    for code, params in notes:
        key = code + json.dumps(params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append((code, params))
    return out


def _drop_helper_columns(rows: pl.DataFrame, kind: str) -> pl.DataFrame:
    return rows.select([c for c in TABLES[kind].columns if c in rows.columns])


def _dedupe(rows: pl.DataFrame, kind: str, label: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each key; later duplicates are rejected with the first one's line."""
    key = list(TABLES[kind].key)
    # one pass marks the first row of each key (nulls count as one value); only the duplicates, usually
    # none, are joined back to their first row's line
    # distinct hashes prove distinct keys (equal keys hash equal), and hashes are cheaper to count than keys
    # of several columns; only when two rows share a hash are the keys themselves compared
    hashed = pl.reduce(lambda a, b: a ^ b, [pl.col(k).hash(seed) for seed, k in enumerate(key, start=1)])
    if rows.select(hashed.n_unique() == pl.len()).item():
        return rows, pl.DataFrame()
    keys = pl.col(key[0]) if len(key) == 1 else pl.struct(key)
    mask = rows.select(keys.is_first_distinct()).to_series()
    if mask.all():
        return rows, pl.DataFrame()
    keep = rows.filter(mask)
    dup = rows.filter(~mask).join(keep.select(*key, pl.col(LINE).alias("_first")), on=key, how="left",
                                  nulls_equal=True)
    id_col = key[0]
    rej = dup.select(
        pl.col(LINE).alias("line"),
        pl.lit(label).alias("column_name"),
        pl.lit("duplicate_id").alias("reason_code"),
        pl.struct(value=pl.col(id_col).cast(pl.String), first_line=pl.col("_first")).struct.json_encode().alias("params"),
    )
    return keep, rej


def _reject_frame(raw: RawTable, r: _Rows, bad: pl.Series) -> pl.DataFrame:
    base = pl.DataFrame({
        "line": raw.frame[LINE], "column_name": r.err_col, "reason_code": r.err_code,
        "value": r.err_val,
    }).filter(bad)
    if not base.height:
        return _raw_text(raw, pl.DataFrame(schema={"line": pl.Int64, "column_name": pl.String,
                                                   "reason_code": pl.String, "params": pl.String}))
    base = base.with_columns(
        pl.struct(column=pl.col("column_name"), value=pl.col("value").fill_null("")).struct.json_encode().alias("params")
    ).drop("value")
    return _raw_text(raw, base)


def _raw_text(raw: RawTable, rej: pl.DataFrame) -> pl.DataFrame:
    """Attach the English reason and the original row text to rejects."""
    sep = raw.delimiter or ","
    cols = [c for c in raw.frame.columns if c != LINE]
    texts = raw.frame.filter(pl.col(LINE).is_in(rej["line"].implode())).select(   # only the rejected rows' text
        pl.col(LINE).alias("line"),
        pl.concat_str([pl.col(c).fill_null("") for c in cols], separator=sep).alias("raw"),
    )
    out = rej.join(texts, on="line", how="left", maintain_order="left")
    reasons = [render(code, **json.loads(p)) for code, p in zip(out["reason_code"].to_list(), out["params"].to_list())]
    return out.with_columns(pl.Series("reason", reasons, pl.String)).select(
        "line", "column_name", "reason", "reason_code", "params", "raw"
    )


# ---------------------------------------------------------------------------------------------- people and accounts
def _resolve(values: pl.Series, lookup: pl.DataFrame, id_col: str) -> tuple[pl.Series, pl.DataFrame]:
    """Match names-or-ids to known ids; unknown values become new ids (name = the value).

    A value equal to a known id is that id; else a known name (compared casefolded; the first row of the
    lookup with that name wins); else it is new. Done on the distinct values with joins, and the names are
    casefolded only when some value is not a known id (a file of ids skips the name table entirely)."""
    empty_new = pl.DataFrame(schema={id_col: pl.String, "name": pl.String})
    distinct = values.drop_nulls().unique().rename("v").cast(pl.String)
    if distinct.len() == 0:
        return values, empty_new
    known = distinct.is_in(lookup[id_col].cast(pl.String).drop_nulls().implode())
    unknown = distinct.filter(~known)
    if unknown.len() == 0:                       # every value is an id already: nothing to map
        return values, empty_new
    named = lookup.select(pl.col(id_col).cast(pl.String).alias("_id"), pl.col("name")).filter(pl.col("name").is_not_null())
    by_name = pl.DataFrame({
        "_key": pl.Series([str(n).casefold() for n in named["name"].to_list()], dtype=pl.String),
        "_id": named["_id"],
    }).unique("_key", keep="first", maintain_order=True)
    table = pl.DataFrame({
        "v": unknown, "_key": pl.Series([v.casefold() for v in unknown.to_list()], dtype=pl.String),
    }).join(by_name, on="_key", how="left")
    new = table.filter(pl.col("_id").is_null())["v"]
    renamed = table.filter(pl.col("_id").is_not_null()).select("v", "_id")
    mapped = values
    if renamed.height:
        mapped = (values.cast(pl.String).rename("v").to_frame()
                  .join(renamed, on="v", how="left", maintain_order="left")
                  .select(pl.coalesce("_id", "v"))).to_series().rename(values.name)
    return mapped, pl.DataFrame({id_col: new, "name": new}, schema={id_col: pl.String, "name": pl.String})


def _owners(r: _Rows, store: Store, fld: str = "owner") -> tuple[pl.Series, pl.DataFrame]:
    return _resolve(r.ident(fld), store.rep_lookup(), "rep_id")


def _accounts(r: _Rows, store: Store, names: pl.Series | None = None) -> tuple[pl.Series, pl.DataFrame]:
    ids, new = _resolve(r.ident("account"), store.account_lookup(), "account_id")
    if names is not None and new.height:
        first_name = pl.DataFrame({"account_id": ids, "label": names}).drop_nulls().unique("account_id", keep="first")
        new = new.join(first_name, on="account_id", how="left").select(
            "account_id", pl.coalesce("label", "name").alias("name"))
    return ids, new


def _new_notes(new_reps: pl.DataFrame | None, new_accounts: pl.DataFrame | None) -> list[tuple[str, dict[str, Any]]]:
    notes = []
    if new_reps is not None and new_reps.height:
        notes.append(("owners_created", {"count": new_reps.height}))
    if new_accounts is not None and new_accounts.height:
        notes.append(("accounts_created", {"count": new_accounts.height}))
    return notes


# ---------------------------------------------------------------------------------------------- builders per kind
def _build_deals(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    deal_id = r.ident("deal_id") if r.has("deal_id") else r.ident("deal_name")
    r.require("deal_id" if r.has("deal_id") else "deal_name", deal_id)
    owner, new_reps = _owners(r, store)
    r.require("owner", owner)
    account, new_accounts = _accounts(r, store, r.text("account_name") if r.has("account_name") else None)
    amount_res = r.parsed("amount", ps.parse_amounts, pl.Float64)
    amount = amount_res.values.cast(pl.Float64) if amount_res else _const(None, r.n, pl.Float64)
    currency = r.text("currency").str.to_uppercase()
    if amount_res is not None and amount_res.extra is not None:
        currency = pl.select(pl.coalesce(currency, amount_res.extra.cast(pl.String))).to_series()
    stage_raw = r.text("stage")
    stages_now = store.stages_frame()
    stage, stages_df, stage_notes = _map_stages(stage_raw, stages_now)
    status = _deal_status(r, stage)
    won_on, lost_on = r.date("won_on"), r.date("lost_on")
    closed_on = pl.select(pl.coalesce(r.date("closed_on"), won_on, lost_on)).to_series()
    close_date = r.date("close_date")
    closed_on = pl.select(pl.when(status.is_in(["won", "lost"])).then(pl.coalesce(closed_on, close_date))
                          .otherwise(closed_on)).to_series()
    close_date = pl.select(pl.coalesce(close_date, closed_on)).to_series()
    # the status comes from a status column, else from the stage: name the column the user can fix
    r.require("status" if r.has("status") or not r.has("stage") else "stage", status)
    name = r.text("deal_name")
    if not r.has("deal_name") and "deal_id" in r.inverse and mp.could_be(r.inverse["deal_id"], "deals", "deal_name"):
        name = deal_id                     # a file keyed by the opportunity name: the id is the name
    rows = pl.DataFrame({
        "deal_id": deal_id, "account_id": account, "owner_rep_id": owner, "name": name,
        "product": r.text("product"), "amount": amount, "currency": currency, "stage": stage,
        "status": status, "created_on": r.date("created_on"), "close_date": close_date, "closed_on": closed_on,
        "lost_reason": r.text("lost_reason"), "probability": r.value("probability", ps.parse_probability, pl.Float64),
        "forecast_category": r.text("forecast_category"), "source": r.text("source"),
    })
    if r.has("snapshot_date"):
        rows = rows.with_columns(r.date("snapshot_date").alias("_snapshot"))
    notes = stage_notes + _new_notes(new_reps, new_accounts)
    return rows, {"new_reps": new_reps, "new_accounts": new_accounts, "stages": stages_df, "notes": notes}


def stage_statuses(stage: pl.Series) -> pl.Series:
    """`mapping.classify_stage` of each stage name (null for null), each distinct name classified once:
    a million deals hold a few dozen names (row by row: 0.43 s at 1M deals)."""
    names = stage.drop_nulls().unique().to_list()
    return stage.replace_strict({n: mp.classify_stage(n) for n in names}, default=None, return_dtype=pl.String)


def _deal_status(r: _Rows, stage: pl.Series) -> pl.Series:
    status = r.value("status", ps.parse_status, pl.String) if r.has("status") else _const(None, r.n, pl.String)
    from_stage = stage_statuses(stage) if stage.null_count() < len(stage) else None
    won = r.source("won_on")
    lost = r.source("lost_on")
    parts = [status]
    if from_stage is not None:
        parts.append(from_stage)
    if won is not None:
        parts.append(pl.select(pl.when(ps.clean_text(won).is_not_null()).then(pl.lit("won"))).to_series())
    if lost is not None:
        parts.append(pl.select(pl.when(ps.clean_text(lost).is_not_null()).then(pl.lit("lost"))).to_series())
    result = pl.select(pl.coalesce(parts)).to_series()
    if won is not None or lost is not None:
        result = result.fill_null("open")
    return result.alias("status")


def _map_stages(stage_raw: pl.Series, stages_now: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame | None, list]:
    """Map stage names onto the pipeline (case/space-insensitive); learn it when none is configured."""
    names = [s for s in stage_raw.drop_nulls().unique().to_list()]
    if not names:
        return stage_raw, None, []
    known = {str(n).casefold().strip(): n for n in stages_now["name"].to_list()}
    canon = {n: known.get(n.casefold().strip(), n) for n in names}
    stage = stage_raw.replace_strict(canon, default=None, return_dtype=pl.String)
    unknown = sorted({canon[n] for n in names} - set(stages_now["name"].to_list()))
    configured = stages_now.filter(pl.col("source") == "configured").height > 0
    if not unknown:
        return stage, None, []
    if configured:
        return stage, None, [("unknown_stages", {"stages": ", ".join(unknown)})]
    existing = [mp.StageDef(n, int(p), pr, bool(w), bool(lo)) for n, p, pr, w, lo in
                stages_now.select("name", "position", "probability", "is_won", "is_lost").iter_rows()]
    learned = mp.learn_pipeline(list(existing_name for existing_name in known.values()) + unknown, None, existing)
    df = pl.DataFrame({
        "name": [s.name for s in learned], "position": [s.position for s in learned],
        "probability": [s.probability for s in learned], "is_won": [s.is_won for s in learned],
        "is_lost": [s.is_lost for s in learned], "source": ["learned"] * len(learned),
    }, schema={"name": pl.String, "position": pl.Int32, "probability": pl.Float64, "is_won": pl.Boolean,
               "is_lost": pl.Boolean, "source": pl.String})
    return stage, df, [("stages_learned", {"stages": " > ".join(df.sort("position")["name"].to_list())})]


def _build_leads(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    lead_id = r.ident("lead_id")
    r.require("lead_id", lead_id)
    created = r.date("created_on")
    r.require("created_on", created)
    owner, new_reps = _owners(r, store) if r.has("owner") else (_const(None, r.n, pl.String), None)
    rows = pl.DataFrame({
        "lead_id": lead_id, "created_on": created, "source": r.text("source"), "owner_rep_id": owner,
        "status": r.text("status"), "converted_on": r.date("converted_on"), "deal_id": r.ident("deal_id"),
    })
    return rows, {"new_reps": new_reps, "notes": _new_notes(new_reps, None)}


def _deal_ids(values: pl.Series, store: Store) -> pl.Series:
    """Deals named by id or by name (Salesforce exports join on the opportunity name)."""
    distinct = values.drop_nulls().unique()
    if distinct.len() == 0 or store.unknown_deal_ids(distinct).len() == 0:
        return values                      # every deal named by its id: nothing to look up by name
    lookup = store.deal_lookup()
    ids, _ = _resolve(values, lookup.rename({"deal_id": "rep_id"}), "rep_id")
    return ids


def _build_stage_history(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    deal_id = _deal_ids(r.ident("deal_id"), store)
    r.require("deal_id", deal_id)
    stage_raw = r.text("stage")
    r.require("stage", stage_raw)
    entered = r.stamp("entered_at")
    r.require("entered_at", entered)
    stage, stages_df, notes = _map_stages(stage_raw, store.stages_frame())
    rows = pl.DataFrame({"deal_id": deal_id, "stage": stage, "entered_at": entered,
                         "inferred": _const(False, r.n, pl.Boolean)})
    return rows, {"stages": stages_df, "notes": notes}


def _build_activities(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    owner, new_reps = _owners(r, store)
    r.require("owner", owner)
    kind = mp.normalize_activity_kind(r.text("kind"))
    r.require("kind", kind)
    when = r.stamp("occurred_at")
    r.require("occurred_at", when)
    account, new_accounts = _accounts(r, store) if r.has("account") else (_const(None, r.n, pl.String), None)
    deal = _deal_ids(r.ident("deal_id"), store) if r.has("deal_id") else _const(None, r.n, pl.String)
    if r.has("activity_id"):               # a file with ids: a row without one is rejected, as any key's
        act_id = r.ident("activity_id")
        r.require("activity_id", act_id)
    else:                                    # a file without: ids made from the cells
        act_id = _row_hash_ids(r.frame, r.row_ids)
    rows = pl.DataFrame({
        "activity_id": act_id, "rep_id": owner, "account_id": account, "deal_id": deal, "kind": kind,
        "occurred_at": when, "duration_min": r.value("duration_min", ps.parse_numbers, pl.Float64),
        "outcome": r.text("outcome"),
    })
    return rows, {"new_reps": new_reps, "new_accounts": new_accounts, "notes": _new_notes(new_reps, new_accounts)}


def _row_text(frame: pl.DataFrame) -> pl.Series:
    cols = [c for c in frame.columns if c != LINE]
    return frame.select(pl.concat_str([pl.col(c).fill_null("\x00") for c in cols], separator="\x1f").alias("t"))["t"]


def _row_text_hash(frame: pl.DataFrame) -> pl.Series:
    """A hash of each row's cells (rows with equal cells hash equal): which rows may repeat another."""
    return _row_text(frame).hash(7).alias("h")


def _row_hash_ids(frame: pl.DataFrame, earlier: tuple[dict[str, int], pl.Series] | None = None) -> pl.Series:
    """Stable ids for rows without one: a digest of the row's cells plus its occurrence number.

    `earlier`, for a batch of a streamed file: the occurrences of each digest in the batches before (of
    the rows whose `_row_text_hash` occurs more than once in the file, the second item), updated here."""
    text = _row_text(frame)
    digests = pl.Series("h", [hashlib.sha1(t.encode("utf-8")).hexdigest()[:20] for t in text.to_list()], pl.String)
    del text
    occ = pl.DataFrame({"h": digests}).select(pl.int_range(pl.len()).over("h").alias("k"))["k"]
    if earlier is not None and earlier[1].len():
        counts, repeated = earlier
        maybe = _row_text_hash(frame).is_in(repeated.implode())
        if maybe.any():
            where = maybe.arg_true()
            before = pl.Series([counts.get(d, 0) for d in digests.gather(where).to_list()], dtype=occ.dtype)
            occ = occ.scatter(where, occ.gather(where) + before)
            for d, n in pl.DataFrame({"h": digests.gather(where)}).group_by("h").len().iter_rows():
                counts[d] = counts.get(d, 0) + n
    return pl.select(pl.when(occ == 0).then(digests).otherwise(pl.concat_str([digests, pl.lit("-"), occ.cast(pl.String)]))).to_series()


def _build_accounts(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    account = r.ident("account")
    r.require("account", account)
    name = r.text("account_name") if r.has("account_name") else account
    existing = store.account_lookup()
    # a file naming accounts only by name matches accounts already known by that name
    ids, _ = _resolve(account, existing, "account_id")
    owner, new_reps = _owners(r, store) if r.has("owner") else (_const(None, r.n, pl.String), None)
    rows = pl.DataFrame({
        "account_id": ids, "name": pl.select(pl.coalesce(name, account)).to_series(), "industry": r.text("industry"),
        "region": r.text("region"), "size": r.text("size"), "owner_rep_id": owner, "created_on": r.date("created_on"),
    })
    return rows, {"new_reps": new_reps, "notes": _new_notes(new_reps, None)}


def _build_reps(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    rep = r.ident("rep")
    r.require("rep", rep)
    ids, _ = _resolve(rep, store.rep_lookup(), "rep_id")
    name = r.text("rep_name") if r.has("rep_name") else rep
    lookup = pl.concat([store.rep_lookup(), pl.DataFrame({"rep_id": ids, "name": name})], how="vertical_relaxed")
    manager, _ = _resolve(r.ident("manager"), lookup.unique("rep_id"), "rep_id") if r.has("manager") else (
        _const(None, r.n, pl.String), None)
    rows = pl.DataFrame({
        "rep_id": ids, "name": pl.select(pl.coalesce(name, rep)).to_series(), "email": r.text("email"),
        "team": r.text("team"), "manager_id": manager, "region": r.text("region"),
        "hired_on": r.date("hired_on"), "left_on": r.date("left_on"),
    })
    return rows, {}


def _build_targets(r: _Rows, store: Store) -> tuple[pl.DataFrame, dict[str, Any]]:
    period = r.parsed("period", ps.parse_periods, pl.Date, dayfirst=r.dayfirst)
    start = period.values.cast(pl.Date)
    end = period.extra.cast(pl.Date) if period.extra is not None else start
    if r.has("period_end"):
        end = pl.select(pl.coalesce(r.date("period_end"), end)).to_series()
    r.require("period", start)
    value = r.value("value", ps.parse_numbers, pl.Float64) if not r.has("value") else _target_value(r)
    r.require("value", value)
    new_reps = None
    owner = _const(None, r.n, pl.String)
    if r.has("owner"):
        owner, new_reps = _owners(r, store)
    team, product = r.text("team"), r.text("product")
    inferred = pl.select(
        pl.when(owner.is_not_null()).then(pl.lit("rep")).when(team.is_not_null()).then(pl.lit("team"))
        .when(product.is_not_null()).then(pl.lit("product")).otherwise(pl.lit("company"))
    ).to_series()
    scope_given = r.text("scope").str.to_lowercase() if r.has("scope") else None
    scope = pl.select(pl.coalesce(scope_given, inferred)).to_series() if scope_given is not None else inferred
    r.reject_where(~scope.is_in(["rep", "team", "company", "product"]), "unknown_scope", "scope",
                   r.source("scope") if r.has("scope") else scope)
    scope_id = pl.select(
        pl.when(scope == "rep").then(owner).when(scope == "team").then(team)
        .when(scope == "product").then(product).otherwise(pl.lit(""))
    ).to_series()
    r.reject_where(scope_id.is_null(), "missing_value", "scope", scope_id)
    measure = r.text("measure").str.to_lowercase().fill_null("revenue") if r.has("measure") else _const("revenue", r.n, pl.String)
    measure = measure.replace({"revenue": "revenue", "amount": "revenue", "sales": "revenue", "deals": "deals",
                               "activities": "activities", "calls": "activities", "收入": "revenue",
                               "销售额": "revenue", "gelir": "revenue", "ciro": "revenue"})
    r.reject_where(~measure.is_in(["revenue", "deals", "activities"]), "unknown_measure", "measure",
                   r.source("measure") if r.has("measure") else measure)
    rows = pl.DataFrame({"scope": scope, "scope_id": scope_id.fill_null(""), "period_start": start,
                         "period_end": end, "measure": measure, "value": value})
    return rows, {"new_reps": new_reps, "notes": _new_notes(new_reps, None)}


def _target_value(r: _Rows) -> pl.Series:
    return r.value("value", ps.parse_amounts, pl.Float64)


_BUILDERS: dict[str, Callable[[_Rows, Store], tuple[pl.DataFrame, dict[str, Any]]]] = {
    "deals": _build_deals, "leads": _build_leads, "stage_history": _build_stage_history,
    "activities": _build_activities, "accounts": _build_accounts, "reps": _build_reps, "targets": _build_targets,
}

_AS_OF = re.compile(r"(?:as of|as at|snapshot|截至|截止|itibarıyla|tarih)\s*[:：]?\s*(.+)", re.IGNORECASE)


def _snapshot_date(prepared: Prepared, store: Store, rows: pl.DataFrame, as_of: date | None,
                   today: date) -> tuple[date, str]:
    """--as-of, else the file's own date (a snapshot column or an 'As of' title line), else today."""
    if as_of is not None:
        return as_of, "as_of_option"
    if "_snapshot" in rows.columns and rows["_snapshot"].drop_nulls().len():
        return rows["_snapshot"].drop_nulls().max(), "file_column"
    for line in prepared.raw.title_lines:
        m = _AS_OF.search(line)
        if m:
            parsed = ps.parse_dates(pl.Series([m.group(1).strip()[:30]]))
            if parsed.values[0] is not None:
                return parsed.values[0], "file_title"
    previous = store.live_batch_with_sha(prepared.sha256, "deals")
    if previous and previous.get("snapshot_date"):
        return previous["snapshot_date"], "earlier_upload"
    return today, "upload_date"


def preview(prepared: Prepared, store: Store, *, n: int = 20, dayfirst: bool | None = None,
            as_of: date | None = None) -> Built:
    """`build` on the first `n` data rows only: what the Data page shows before committing."""
    raw = replace(prepared.raw, frame=prepared.raw.frame.head(n), skipped=[])
    return build(replace(prepared, raw=raw), _as_imported(store), dayfirst=dayfirst, as_of=as_of)


# ---------------------------------------------------------------------------------------------- commit
def check_disk(store: Store, n_bytes: int) -> None:
    """Refuse an import when the disk could fill up half-way (DuckDB needs room for the WAL and the
    checkpoint): about three times the file plus 64 MB must be free."""
    need = 3 * n_bytes + 64 * 1024 * 1024
    free = store.free_disk_bytes()
    if free < need:
        raise ImportProblem("disk_full", free_mb=free // 2**20, need_mb=need // 2**20)


def commit(store: Store, prepared: Prepared, built: Built, *, save_mapping: bool = True,
           is_demo: bool = False, replace_demo: bool = False) -> ImportResult:
    """Write a built file in one transaction and report what happened to every row; `replace_demo`:
    the demo company is removed in that same transaction, when rows are stored."""
    check_disk(store, prepared.raw.size_bytes)
    stored_possible = built.rows.height
    if stored_possible == 0 and built.rejects.height > 0:
        raise ImportProblem("nothing_imported", rejected=built.rejects.height)
    notes = list(built.notes)
    previous = store.live_batch_with_sha(prepared.sha256, prepared.kind)
    if previous:
        notes.append(("same_file", {"batch_id": previous["batch_id"]}))
    mapping = dict(prepared.mapping)
    mapping.update({f"={v}": k for k, v in prepared.constants.items()})
    write = ImportWrite(
        kind=prepared.kind, file_name=prepared.file_name, sha256=prepared.sha256, rows=built.rows,
        rows_read=prepared.raw.rows_read, skipped=len(prepared.raw.skipped), rejects=built.rejects,
        mapping=mapping, notes=notes, snapshot_date=built.snapshot_date, new_reps=built.new_reps,
        new_accounts=built.new_accounts, stages=built.stages, is_demo=is_demo, replace_demo=replace_demo,
    )
    counts = store.apply_import(write)
    if save_mapping:
        store.save_mapping(prepared.header_key, prepared.kind, prepared.mapping)
    rejects = [{"line": int(a), "column": b, "reason": c} for a, b, c in
               built.rejects.select("line", "column_name", "reason").iter_rows()]
    return ImportResult(
        batch_id=counts.batch_id, kind=prepared.kind, file_name=prepared.file_name,
        rows_read=prepared.raw.rows_read, inserted=counts.inserted, updated=counts.updated,
        unchanged=counts.unchanged, rejected=built.rejects.height, skipped=len(prepared.raw.skipped),
        rejects=rejects, mapping=mapping, notes=notes, snapshot_date=built.snapshot_date,
    )


class _WithoutDemo:
    """The store as a user's first real import sees it: the demo company, which that import replaces,
    is left out of the lookups, so real owners, accounts, deals and stages are never matched against
    demo ones. The demo itself stays until the import commits (`commit(replace_demo=True)`)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def stages_frame(self, cur: Any = None) -> pl.DataFrame:
        return self._store.stages_frame(cur, without_demo=True)

    def rep_lookup(self, cur: Any = None) -> pl.DataFrame:
        return self._store.rep_lookup(cur, without_demo=True)

    def account_lookup(self, cur: Any = None) -> pl.DataFrame:
        return self._store.account_lookup(cur, without_demo=True)

    def deal_lookup(self, cur: Any = None) -> pl.DataFrame:
        return self._store.deal_lookup(cur, without_demo=True)

    def unknown_deal_ids(self, values: pl.Series, cur: Any = None) -> pl.Series:
        return self._store.unknown_deal_ids(values, cur, without_demo=True)


def _as_imported(store: Store) -> Store:
    """The store a real file is built against (without the demo company it will replace)."""
    return _WithoutDemo(store) if store.has_demo() else store  # type: ignore[return-value]


def build_and_commit(store: Store, prepared: Prepared, *, dayfirst: bool | None = None, as_of: date | None = None,
                     today: date | None = None, before_write: Callable[[], None] | None = None) -> ImportResult:
    """Build a user's file and store it. A first real import replaces the demo company inside its own
    transaction, and only when it stores rows: a refused file leaves the demo (and everything) as it was.
    Once built, the file's rows as read are let go (`release_rows`): the write does not read them."""
    demo = store.has_demo()
    built = build(prepared, _WithoutDemo(store) if demo else store, dayfirst=dayfirst, as_of=as_of,  # type: ignore[arg-type]
                  today=today)
    release_rows(prepared)
    if before_write is not None:
        before_write()
    return commit(store, prepared, built, replace_demo=demo)


def release_rows(prepared: Prepared) -> None:
    """Let go of the rows of a file read (`prepared.raw.frame`, kept empty with its columns) once they
    are built, keeping what they counted (`rows_read`, `size_bytes`): at 1M deals the write holds
    100-220 MB less while DuckDB works beside it. Other references to the same frame keep it alive."""
    raw = prepared.raw
    prepared.raw = replace(raw, frame=raw.frame.clear(), kept_rows=raw.rows_read - len(raw.skipped),
                           kept_bytes=raw.size_bytes)


# ---------------------------------------------------------------------------------------------- streamed
# Kinds imported in row batches from a big file named by path (`_Streamed`): what every whole-file decision
# of the build reads (date columns, number columns, the key), gathered batch by batch (`_Decided`).
_STREAMED: dict[str, dict[str, tuple[str, ...]]] = {
    "activities": {"dates": ("occurred_at",), "numbers": ("duration_min",), "key": ("activity_id",)},
}


@dataclass
class _Decided:
    """A streamed file's whole-file decisions, gathered batch by batch: the order of its ambiguous dates and
    Excel serials per date field, the decimal separator per number field, and the keys that may repeat
    (the hashes of the key that occur more than once; only rows with those are compared)."""

    dates: dict[str, ps.DateVotes] = field(default_factory=dict)
    numbers: dict[str, tuple[int, int]] = field(default_factory=dict)
    hashes: list[pl.Series] = field(default_factory=list)
    size: int = 0                              # the kept rows' estimated size (the disk check)

    def observe(self, r: "_Rows", spec: dict[str, tuple[str, ...]], frame: pl.DataFrame, *, keys: bool) -> None:
        """Add a batch's votes (and with `keys`, its key hashes and size)."""
        for fld in spec["dates"]:
            s = r.source(fld)
            if s is not None:
                self.dates[fld] = self.dates.get(fld, ps.DateVotes()) + ps.date_votes(s)
        for fld in spec["numbers"]:
            s = r.source(fld)
            if s is not None:
                comma, dot = self.numbers.get(fld, (0, 0))
                more = ps.number_votes(s)
                self.numbers[fld] = (comma + more[0], dot + more[1])
        if not keys:
            return
        if all(r.has(k) for k in spec["key"]):
            self.hashes.append(_key_hash(pl.DataFrame([r.ident(k) for k in spec["key"]])))
        else:                                  # ids made from the rows' cells: the rows that may repeat
            self.hashes.append(_row_text_hash(frame))
        self.size += frame.estimated_size()

    def decisions(self, prepared: Prepared, dayfirst: bool | None) -> dict[str, dict[str, Any]]:
        """The parse decisions of the rows seen so far (of the whole file, once all are seen)."""
        inverse = {v: k for k, v in prepared.mapping.items()}
        out: dict[str, dict[str, Any]] = {}
        for fld, votes in self.dates.items():
            out[fld] = {"decided": ps.decide_dates(votes, dayfirst=dayfirst, column=inverse.get(fld, fld))}
        for fld, votes in self.numbers.items():
            out[fld] = {"comma_decimal": ps.decide_numbers(votes)}
        return out

    def repeated(self) -> pl.Series:
        """The key hashes that occur more than once (sorted, then compared with the next: no hash table of
        every row's hash)."""
        hashes = pl.concat(self.hashes, rechunk=True) if self.hashes else pl.Series("h", [], pl.UInt64)
        self.hashes = []
        hashes = hashes.sort()
        if hashes.len() < 2:
            return hashes.clear()
        after = hashes.slice(1)
        return after.filter(after == hashes.slice(0, hashes.len() - 1)).unique()


def _key_hash(keys: pl.DataFrame) -> pl.Series:
    """One hash per row of the key columns (equal keys, nulls included, hash equal)."""
    return keys.select(pl.reduce(lambda a, b: a ^ b, [pl.col(k).hash(seed) for seed, k in
                                                       enumerate(keys.columns, start=1)]).alias("h"))["h"]


def _import_streamed(store: Store, path: Path, file_name: str | None, *, kind: str | None,
                     overrides: dict[str, str] | None, constants: dict[str, str] | None,
                     dayfirst: bool | None) -> ImportResult | None:
    """Import a big CSV file of a `_STREAMED` kind in row batches, or None (nothing done) when it is not one.

    The same rows, rejects, notes and counts as `prepare` + `build` + `commit` of the whole file, while no
    more than two batches of the file's cells are in memory at once (`_Streamed`)."""
    stream = open_csv_stream(path, file_name or path.name)
    if stream is None:
        return None
    name = file_name or path.name
    try:
        prepared = _prepared(stream.table, name, "", store=store, kind=kind, overrides=overrides, constants=constants)
    except ImportProblem:
        return None                            # the whole-file path reports it, as it always did
    if prepared.kind not in _STREAMED or prepared.missing:
        return None
    prepared.sha256 = _file_sha256(path)
    mapping = dict(prepared.mapping)
    mapping.update({f"={v}": k for k, v in prepared.constants.items()})
    demo = store.has_demo()
    write = ImportWrite(kind=prepared.kind, file_name=prepared.file_name, sha256=prepared.sha256, rows=pl.DataFrame(),
                        mapping=mapping, replace_demo=demo, refusals=(ImportProblem,))
    job = _Streamed(store, stream, prepared, write, dayfirst, path,
                    {"kind": kind, "overrides": overrides, "constants": constants})
    write.batches = _one_ahead(job.guessed())
    counts = store.apply_import(write)
    store.save_mapping(prepared.header_key, prepared.kind, job.mapping)
    return ImportResult(
        batch_id=counts.batch_id, kind=prepared.kind, file_name=prepared.file_name, rows_read=write.rows_read,
        inserted=counts.inserted, updated=counts.updated, unchanged=counts.unchanged, rejected=len(job.rejects),
        skipped=write.skipped, rejects=job.rejects, mapping=write.mapping, notes=write.notes, snapshot_date=None,
    )


def _decided_outcome(decisions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What of the decisions changes a batch's rows (not the notes, which are the whole file's)."""
    out: dict[str, Any] = {}
    for fld, kw in decisions.items():
        if "decided" in kw:
            out[fld] = (kw["decided"].serial, kw["decided"].dayfirst)
        else:
            out[fld] = kw["comma_decimal"]
    return out


class _Streamed:
    """The batches of a streamed import, made three ways (each a generator `Store.apply_import` writes):

    `guessed`, one reading of the file: each batch is built with the decisions of the file so far (the
    date order, Excel serials and decimal separator its rows voted for, `_Decided`); at the end, when
    every batch was built with what the whole file decides and no key of a stored row repeats another
    (hashes of the stored keys, sorted), the rows are those of the whole file, else `exact` replaces
    them (`ImportRetry`: rolled back, written again). A big export is decided by its first batch, so
    this is the common way. `exact`, two readings: the first gathers the decisions and the keys that
    may repeat, the second builds every batch with them. `whole`, the whole-file import itself, for a
    file the batch reader turns out not to take half-way (`NotStreamable`)."""

    def __init__(self, store: Store, stream: CsvStream, prepared: Prepared, write: ImportWrite,
                 dayfirst: bool | None, path: Path, options: dict[str, Any]) -> None:
        self.store, self.stream, self.prepared, self.write = store, stream, prepared, write
        self.dayfirst, self.path, self.options = dayfirst, path, options
        self.lookups: Store = _WithoutDemo(store) if write.replace_demo else store  # type: ignore[assignment]
        self.spec = _STREAMED[prepared.kind]
        self.key = list(self.spec["key"])
        self.label = {"activities": "activity_id"}[prepared.kind]
        self.has_key = all(k in prepared.mapping.values() or k in prepared.constants for k in self.key)
        self.previous = store.live_batch_with_sha(prepared.sha256, prepared.kind)
        self.mapping = dict(prepared.mapping)
        self.rejects: list[dict[str, Any]] = []

    def _raw(self, frame: pl.DataFrame) -> RawTable:
        return replace(self.stream.table, frame=frame)

    def _build(self, frame: pl.DataFrame, decisions: dict[str, dict[str, Any]],
               row_ids: tuple[dict[str, int], pl.Series] | None) -> tuple[pl.DataFrame, pl.DataFrame, _Rows, dict[str, Any]]:
        """One batch built as `build` builds the file: its good rows (with LINE) and its rejects."""
        raw = self._raw(frame)
        r = _Rows(raw, self.prepared, self.dayfirst, decisions)
        r.row_ids = row_ids
        rows, extra = _BUILDERS[self.prepared.kind](r, self.lookups)
        rows = _aligned(rows, frame[LINE]).with_columns(pl.Series(LINE, frame[LINE]))
        bad = r.err_code.is_not_null()
        good = rows.filter(~bad) if bad.any() else rows
        return good, _reject_frame(raw, r, bad), r, extra

    def _out(self, good: pl.DataFrame, rejects: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        self.rejects.extend({"line": int(a), "column": b, "reason": c} for a, b, c in
                            rejects.select("line", "column_name", "reason").iter_rows())
        return _drop_helper_columns(good.drop(LINE), self.prepared.kind), rejects

    def _finish(self, stored: int, size: int, parse_notes: list[tuple[str, dict[str, Any]]],
                new_reps: list[pl.DataFrame], new_accounts: list[pl.DataFrame]) -> None:
        """What `build` and `commit` give for the whole file, once its batches are written."""
        w = self.write
        w.rows_read, w.skipped = self.prepared.raw.rows_read, len(self.prepared.raw.skipped)
        check_disk(self.store, size)
        if stored == 0:
            raise ImportProblem("nothing_imported", rejected=len(self.rejects))
        w.new_reps = pl.concat(new_reps).unique(maintain_order=True) if new_reps else None
        w.new_accounts = pl.concat(new_accounts).unique(maintain_order=True) if new_accounts else None
        w.notes = _unique_notes(list(parse_notes) + _new_notes(w.new_reps, w.new_accounts))
        if self.previous:
            w.notes.append(("same_file", {"batch_id": self.previous["batch_id"]}))

    def guessed(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        decided = _Decided()
        outcomes: list[dict[str, Any]] = []
        hashes: list[pl.Series] = []
        new_reps: list[pl.DataFrame] = []
        new_accounts: list[pl.DataFrame] = []
        notes: list[tuple[str, dict[str, Any]]] = []
        stored = size = 0
        try:
            for frame in self.stream.read_once():
                decided.observe(_Rows(self._raw(frame), self.prepared, self.dayfirst), self.spec, frame, keys=False)
                decisions = decided.decisions(self.prepared, self.dayfirst)
                good, rejects, r, extra = self._build(frame, decisions, None)
                # a key repeated within the batch is rejected as `build` would (one repeated across batches
                # is caught at the end: then the file is read again, the `exact` way)
                good, dup_rejects = _dedupe(good, self.prepared.kind, r.inverse.get(self.label, self.key[0]))
                if dup_rejects.height:
                    rejects = pl.concat([rejects, _raw_text(self._raw(frame), dup_rejects)],
                                        how="vertical_relaxed").sort("line")
                outcomes.append(_decided_outcome(decisions))
                hashes.append(_key_hash(good.select(self.key)))
                notes = list(r.notes)
                new_reps += [extra["new_reps"]] if extra.get("new_reps") is not None else []
                new_accounts += [extra["new_accounts"]] if extra.get("new_accounts") is not None else []
                stored += good.height
                size += frame.estimated_size()
                yield self._out(good, rejects)
                del frame, good, rejects, r
        except NotStreamable:
            raise ImportRetry(_one_ahead(self.whole())) from None
        if self.stream.table.kept_rows == 0:
            raise ImportRetry(_one_ahead(self.whole()))
        final = _decided_outcome(decided.decisions(self.prepared, self.dayfirst))
        decided.hashes = hashes
        if any(o != final for o in outcomes) or decided.repeated().len():
            self.rejects = []
            raise ImportRetry(_one_ahead(self.exact()))
        self._finish(stored, size, notes, new_reps, new_accounts)

    def exact(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        decided = _Decided()
        if not self.stream.scan(lambda frame: decided.observe(_Rows(self._raw(frame), self.prepared, self.dayfirst),
                                                             self.spec, frame, keys=True)):
            yield from self.whole()
            return
        decisions = decided.decisions(self.prepared, self.dayfirst)
        repeated = decided.repeated()
        row_ids = None if self.has_key else ({}, repeated)
        if row_ids is not None:                # ids made from the cells are distinct: nothing to dedupe
            repeated = repeated.clear()
        notes: list[tuple[str, dict[str, Any]]] = []
        new_reps: list[pl.DataFrame] = []
        new_accounts: list[pl.DataFrame] = []
        seen = pl.DataFrame(schema={**{k: pl.String for k in self.key}, LINE: pl.Int64})
        stored = 0
        for frame in self.stream.batches():
            good, rejects, r, extra = self._build(frame, decisions, row_ids)
            good, dup_rejects, seen = _dedupe_batch(good, self.key, r.inverse.get(self.label, self.key[0]), repeated, seen)
            if dup_rejects.height:
                rejects = pl.concat([rejects, _raw_text(self._raw(frame), dup_rejects)], how="vertical_relaxed").sort("line")
            notes = list(r.notes)              # every batch parses with the same decisions, so the same notes
            new_reps += [extra["new_reps"]] if extra.get("new_reps") is not None else []
            new_accounts += [extra["new_accounts"]] if extra.get("new_accounts") is not None else []
            stored += good.height
            yield self._out(good, rejects)
            del frame, good, rejects, r
        self._finish(stored, decided.size, notes, new_reps, new_accounts)

    def whole(self) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        """`prepare`, `build` and `commit` of the whole file, inside the import's transaction."""
        self.rejects = []
        try:
            prepared = prepare(self.path, self.prepared.file_name, store=self.store, **self.options)
        except ImportProblem as problem:       # logged as `_import_locked` logs a file it could not prepare
            problem.log_kind, problem.log_sha256 = self.options["kind"] or "unknown", None  # type: ignore[attr-defined]
            raise
        if prepared.missing:
            raise ImportProblem("missing_required", kind=prepared.kind, missing=", ".join(prepared.missing),
                                found=", ".join(prepared.raw.headers))
        built = build(prepared, self.lookups, dayfirst=self.dayfirst)
        check_disk(self.store, prepared.raw.size_bytes)
        if built.rows.height == 0 and built.rejects.height > 0:
            raise ImportProblem("nothing_imported", rejected=built.rejects.height)
        w = self.write
        w.rows_read, w.skipped = prepared.raw.rows_read, len(prepared.raw.skipped)
        w.new_reps, w.new_accounts, w.stages = built.new_reps, built.new_accounts, built.stages
        w.notes = list(built.notes) + ([("same_file", {"batch_id": self.previous["batch_id"]})] if self.previous else [])
        w.mapping = dict(prepared.mapping)
        w.mapping.update({f"={v}": k for k, v in prepared.constants.items()})
        self.mapping = dict(prepared.mapping)
        self.rejects = [{"line": int(a), "column": b, "reason": c} for a, b, c in
                        built.rejects.select("line", "column_name", "reason").iter_rows()]
        yield built.rows, built.rejects


T = TypeVar("T")


def _one_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, the next one made in a thread while the caller works on the current one (never more than
    those two at once): a streamed import reads and builds a batch while DuckDB writes the one before.
    What the items' generator raises is raised here, where the caller asks for the next item."""
    made: queue.Queue[tuple[str, Any]] = queue.Queue()
    go_on = threading.Semaphore(0)
    stop = threading.Event()

    def make() -> None:
        try:
            for item in items:
                made.put(("item", item))
                del item
                go_on.acquire()
                if stop.is_set():
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
                    return
            made.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            made.put(("error", exc))

    maker = threading.Thread(target=make, name="import-batches", daemon=True)
    maker.start()
    try:
        while True:
            what, value = made.get()
            if what == "end":
                return
            if what == "error":
                raise value
            go_on.release()                     # the next one is made while the caller has this one
            yield value
            del value
    finally:
        stop.set()
        go_on.release()
        maker.join()


def _dedupe_batch(rows: pl.DataFrame, key: list[str], label: str, repeated: pl.Series,
                  seen: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """`_dedupe` of one batch of the file's good rows, given the good rows before it: only rows whose key
    hash occurs more than once in the file (`repeated`) can repeat a key; `seen` holds the first good row
    (key and line) of each such key so far. Returns the kept rows, the duplicates' rejects, the new `seen`."""
    none = pl.DataFrame()
    if repeated.len() == 0 or rows.height == 0:
        return rows, none, seen
    maybe = _key_hash(rows.select(key)).is_in(repeated.implode())
    if not maybe.any():
        return rows, none, seen
    candidates = pl.concat([seen, rows.filter(maybe).select(*key, LINE)], how="vertical")
    first = candidates.select((pl.col(key[0]) if len(key) == 1 else pl.struct(key)).is_first_distinct()).to_series()
    seen = candidates.filter(first)
    dup_lines = candidates.filter(~first)[LINE]
    if dup_lines.len() == 0:
        return rows, none, seen
    is_dup = pl.col(LINE).is_in(dup_lines.implode())
    dup = rows.filter(is_dup).join(seen.select(*key, pl.col(LINE).alias("_first")), on=key, how="left",
                                   nulls_equal=True)
    rej = dup.select(
        pl.col(LINE).alias("line"),
        pl.lit(label).alias("column_name"),
        pl.lit("duplicate_id").alias("reason_code"),
        pl.struct(value=pl.col(key[0]).cast(pl.String), first_line=pl.col("_first")).struct.json_encode().alias("params"),
    )
    return rows.filter(~is_dup), rej, seen


def import_file(store: Store, source: str | Path | bytes, file_name: str | None = None, *, kind: str | None = None,
                overrides: dict[str, str] | None = None, constants: dict[str, str] | None = None,
                dayfirst: bool | None = None, as_of: date | None = None, sheet: str | None = None,
                today: date | None = None) -> ImportResult:
    """Read, map, validate and store one file. Raises ImportProblem when nothing can be imported
    (and logs the failed attempt); the database is then unchanged. Imports run one at a time."""
    with store.import_lock:
        return _import_locked(store, source, file_name, kind=kind, overrides=overrides, constants=constants,
                              dayfirst=dayfirst, as_of=as_of, sheet=sheet, today=today)


def _import_locked(store: Store, source: str | Path | bytes, file_name: str | None, *, kind: str | None,
                   overrides: dict[str, str] | None, constants: dict[str, str] | None, dayfirst: bool | None,
                   as_of: date | None, sheet: str | None, today: date | None) -> ImportResult:
    prepared: Prepared | None = None
    try:
        if isinstance(source, (str, Path)) and sheet is None:
            streamed = _import_streamed(store, Path(source), file_name, kind=kind, overrides=overrides,
                                        constants=constants, dayfirst=dayfirst)
            if streamed is not None:
                return streamed
        prepared = prepare(source, file_name, store=store, kind=kind, overrides=overrides, sheet=sheet,
                           constants=constants)
        if prepared.missing:            # refused before anything changes (the demo company included)
            raise ImportProblem("missing_required", kind=prepared.kind, missing=", ".join(prepared.missing),
                                found=", ".join(prepared.raw.headers))
        return build_and_commit(store, prepared, dayfirst=dayfirst, as_of=as_of, today=today)
    except ImportProblem as problem:
        if getattr(problem, "logged_batch", None) is not None:
            raise                               # a streamed import refused at its end: its batch logs it
        name = prepared.file_name if prepared else (file_name or (Path(source).name if isinstance(source, (str, Path)) else "upload"))
        store.record_failed(prepared.kind if prepared else (kind or "unknown"), name,
                            prepared.sha256 if prepared else None, problem.code, problem.text())
        raise

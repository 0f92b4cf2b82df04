"""Widget helpers of the Data page: the mapping table, history and rejects tables, stage editor."""
from __future__ import annotations

from datetime import date
from typing import Any, Callable

import polars as pl
import streamlit as st

from ui import cache
from ui import format as fmt
from ui.i18n import problem_text, t

REQ = " *"


def can_change_data() -> bool:
    """Only admins import, undo and edit the pipeline (everyone when sign-in is not configured)."""
    from ui import auth

    user = auth.current_user()
    return user is not None and user.can_change_data


def kind_options() -> list[str]:
    return list(cache.kinds())


def _field_options(kind: str) -> list[str]:
    return [""] + [name + (REQ if req else "") for name, req in cache.fields(kind)]


def _label(field: str | None, kind: str) -> str:
    if not field:
        return ""
    req = dict(cache.fields(kind)).get(field, False)
    return field + (REQ if req else "")


def prepare(data: bytes, name: str, kind: str | None, fid: str) -> tuple[Any, Any]:
    """The file as read and mapped, with the user's edits of the mapping table applied."""
    base, problem = cache.prepare_upload(data, name, kind, {})
    if problem is not None:
        return None, problem
    edits = st.session_state.get(f"data_map_{fid}_{base.kind}", {}).get("edited_rows", {})
    col = t("data.col_field")
    valid = {n for n, _ in cache.fields(base.kind)}
    overrides = {}
    for idx, change in edits.items():
        if col in change and int(idx) < len(base.raw.headers):
            target = (change[col] or "").removesuffix(REQ)
            overrides[base.raw.headers[int(idx)]] = target if target in valid else ""
    if not overrides:
        return base, None
    return cache.prepare_upload(data, name, base.kind, overrides)


def base(data: bytes, name: str, kind: str | None) -> Any:
    """The file as read and mapped before the user's edits (what the mapping table starts from).
    `kind` is the user's choice as given to `prepare` (None: detected), so both read the same cache
    entry: asked with the detected kind instead, every upload took two entries of the three and two
    files on the page (two users importing at once) re-read a file on every run."""
    return cache.prepare_upload(data, name, kind, {})[0]


def mapping_table(prepared: Any) -> pl.DataFrame:
    """One row per column of the file: its name, the field it maps to, three example values."""
    frame = prepared.raw.frame
    samples = []
    for h in prepared.raw.headers:
        vals = frame[h].drop_nulls().unique(maintain_order=True).head(3).to_list()
        samples.append(" · ".join(str(v)[:24] for v in vals))
    return pl.DataFrame({
        t("data.col_source"): prepared.raw.headers,
        t("data.col_field"): [_label(prepared.mapping.get(h), prepared.kind) for h in prepared.raw.headers],
        t("data.col_sample"): samples,
    })


def mapping_columns(kind: str) -> dict[str, Any]:
    return {t("data.col_field"): st.column_config.SelectboxColumn(options=_field_options(kind), required=False)}


def preview(prepared: Any, dayfirst: bool | None, as_of: date | None) -> tuple[Any, Any]:
    return cache.preview_rows(prepared, dayfirst, as_of)


def preview_table(rows: pl.DataFrame) -> pl.DataFrame:
    """Preview rows with column names in the user's language."""
    return rows.rename({c: t(f"columns.{c}") for c in rows.columns})


def preview_columns(rows: pl.DataFrame) -> dict[str, Any]:
    """Dates shown as dates (not midnight datetimes)."""
    return {t(f"columns.{c}"): st.column_config.DateColumn(format="YYYY-MM-DD")
            for c, dtype in rows.schema.items() if dtype == pl.Date}


def run(prepared: Any, dayfirst: bool | None, as_of: date | None, progress: Callable[[float, str], None]) -> tuple[Any, Any]:
    return cache.run_import(prepared, dayfirst, as_of, progress)


def undo(batch_id: int) -> Any:
    return cache.undo(batch_id)


def result_line(r: Any) -> str:
    return t("data.result_line", read=fmt.number(r.rows_read), inserted=fmt.number(r.inserted),
             updated=fmt.number(r.updated), unchanged=fmt.number(r.unchanged), rejected=fmt.number(r.rejected),
             skipped=fmt.number(r.skipped))


def history_table(history: pl.DataFrame) -> pl.DataFrame:
    """The import log with translated headers and statuses."""
    kinds = [t("kinds.demo") if demo else t(f"kinds.{k}") for k, demo in zip(history["kind"], history["is_demo"])]
    return pl.DataFrame({
        t("data.col_batch"): history["batch_id"],
        t("data.col_kind"): kinds,
        t("data.col_file"): history["file_name"],
        t("data.col_at"): [fmt.moment(x) for x in history["imported_at"]],
        t("data.col_read"): history["rows_read"],
        t("data.col_inserted"): history["inserted"],
        t("data.col_updated"): history["updated"],
        t("data.col_unchanged"): history["unchanged"],
        t("data.col_rejected"): history["rejected"],
        t("data.col_skipped"): history["skipped"],
        t("data.col_status"): [t(f"data.status_{s}") for s in history["status"]],
    })


def batch_label(history: pl.DataFrame, batch_id: int) -> str:
    row = history.filter(pl.col("batch_id") == batch_id).row(0, named=True)
    name = row["file_name"] or (t("kinds.demo") if row["is_demo"] else "")
    return f"{batch_id} · {name} · {t('data.status_' + row['status'])}"


def rejects_table(rejects: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows with the reason in the user's language."""
    import json

    reasons = [problem_text(c, json.loads(p) if p else {}) if c else r
               for c, p, r in zip(rejects["reason_code"], rejects["params"], rejects["reason"])]
    return pl.DataFrame({
        t("data.col_line"): rejects["line"], t("data.col_column"): rejects["column_name"],
        t("data.col_reason"): reasons, t("data.col_raw"): rejects["raw"],
    })


def stages_table(stages: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({
        t("data.col_position"): stages["position"].cast(pl.Int64), t("data.col_stage"): stages["name"],
        t("data.col_probability"): stages["probability"], t("data.col_won"): stages["is_won"],
        t("data.col_lost"): stages["is_lost"],
    }, schema={t("data.col_position"): pl.Int64, t("data.col_stage"): pl.String,
               t("data.col_probability"): pl.Float64, t("data.col_won"): pl.Boolean, t("data.col_lost"): pl.Boolean})


def stages_columns() -> dict[str, Any]:
    return {t("data.col_probability"): st.column_config.NumberColumn(min_value=0.0, max_value=1.0, step=0.05,
                                                                     format="%.2f")}


def stages_from_table(edited: Any) -> pl.DataFrame:
    """The edited stage table back to the store's shape (rows without a name are dropped)."""
    df = edited if isinstance(edited, pl.DataFrame) else pl.from_pandas(edited)
    df = df.filter(pl.col(t("data.col_stage")).is_not_null() & (pl.col(t("data.col_stage")).str.strip_chars() != ""))
    df = df.sort(t("data.col_position"), nulls_last=True)
    return pl.DataFrame({
        "name": df[t("data.col_stage")].str.strip_chars(),
        "position": pl.Series(range(1, df.height + 1), dtype=pl.Int32),
        "probability": df[t("data.col_probability")].cast(pl.Float64),
        "is_won": df[t("data.col_won")].fill_null(False), "is_lost": df[t("data.col_lost")].fill_null(False),
        "source": ["configured"] * df.height,
    })

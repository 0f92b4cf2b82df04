"""Downloads that are safe to open in Excel: text cells that could run as formulas are escaped."""
from __future__ import annotations

import io

import polars as pl

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def escape_formulas(df: pl.DataFrame) -> pl.DataFrame:
    """Prefix a quote to text cells starting with = + - @ tab or CR (CSV/formula injection): in text,
    categorical and enum columns (written out as text), and in the header row (a pivot by rep or stage
    names its columns after CRM values)."""
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum)):
            col = pl.col(name).cast(pl.String)
            starts = pl.any_horizontal([col.str.starts_with(ch) for ch in FORMULA_START])
            exprs.append(pl.when(starts).then(pl.lit("'") + col).otherwise(col).alias(name))
    out = df.with_columns(exprs) if exprs else df
    taken = set(out.columns)
    renames = {}
    for name in out.columns:
        safe = _escape_text(name)
        while safe != name and safe in taken:       # keep the header unique
            safe = "'" + safe
        if safe != name:
            renames[name] = safe
            taken.add(safe)
    return out.rename(renames) if renames else out


def csv_bytes(df: pl.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel shows Chinese and Turkish text right), escaped."""
    return b"\xef\xbb\xbf" + escape_formulas(df).write_csv().encode("utf-8")


def xlsx_bytes(df: pl.DataFrame, sheet: str = "Salescope") -> bytes:
    """An Excel workbook of the frame; text is written as text, never as formulas."""
    buf = io.BytesIO()
    escape_formulas(df).write_excel(buf, worksheet=sheet, autofit=True)
    return buf.getvalue()

"""Dates are parsed in slices of rows (issue #6: the integer parts of a 10M-row date column took ~550 MB at
once, the peak of the activities import's parse step): `parse._dates_table` makes the parts of
`_DATE_SLICE` rows at a time, builds the rows that are not ambiguous at once and keeps the ambiguous
ones' parts until the whole column has voted on the day/month order. `_spread` skips its sort when the
results are in order already.

The slices are made tiny here, and every result is compared with the whole-column computation as it
was (the definition below): values, errors, the note on the order, for dates, datetimes and periods,
with votes for either order spread over the column, epochs, Excel serials, empty cells and bad values.
"""
from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from data.ingest import parse as ps


def _whole_dates_table(table, *, dayfirst, column, month_starts=False):
    """`_dates_table` before the slices: the parts of every row at once."""
    in_range = pl.when(pl.col("dt").dt.year().is_between(ps._YEAR_MIN, ps._YEAR_MAX)).then(pl.col("dt")).alias("dt")
    if ps._serial_column(table):
        out = table.select("k", "v", ps._from_serial(pl.col("v")).alias("dt"))
        return out.with_columns(in_range), ("date_excel_serial", {"column": column})
    present = table.filter(pl.col("v").is_not_null())
    epoch = pl.col("v").str.contains(ps._EPOCH)
    epochs = present.filter(epoch).select("k", "v", ps._from_epoch(pl.col("v")).alias("dt"))
    parts = ps._date_parts(present.filter(~epoch))
    chosen, note = ps._decide_dayfirst(parts, dayfirst, column, month_starts=month_starts)
    built = parts.select("k", "v", ps._build_datetime(chosen).alias("dt"))
    empty = table.filter(pl.col("v").is_null()).select("k", "v", pl.lit(None, pl.Datetime("us")).alias("dt"))
    return pl.concat([epochs, built, empty], how="vertical").with_columns(in_range), note


def _whole_spread(d, result, columns):
    result = result.sort("k")
    if d.aligned:
        return result.select(columns)
    keyed = d.table.select("k", "raw").join(result.select("k", *columns), on="k", how="left")
    return d.raw.to_frame().join(keyed.drop("k"), on="raw", how="left", maintain_order="left").select(columns)


_VALUES = ["2024-03-05", "2024-03-05 10:11:12", "2024-03-05T10:11", "05/03/2024", "03/05/2024", "13/03/2024",
           "03/13/2024", "1/2/24", "12.11.2023", "2024/3/5", "20240305", "2024年3月5日", "5 March 2024",
           "March 5, 2024", "Tue, 5 Mar 2024 10:00 PM", "2024-02-30", "31/04/2024", "1709632800", "1709632800000",
           "2024-03-05T10:11:12+05:30", "2024-03-05 10:11:12Z", "n/a", "", "soon", "45000", "45000.5", None,
           "01/04/2018", "01/05/2018", "2024-05", "2024-Q2", "FY2024", "Apr-18"]


def _column(rng: random.Random, pool: list[str | None], n: int) -> pl.Series:
    return pl.Series("when", [rng.choice(pool) for _ in range(n)], pl.String)


def _both(fn, s: pl.Series, **kw):
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ps, "_DATE_SLICE", 3)
        sliced = fn(s, **kw)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(ps, "_dates_table", _whole_dates_table)
        m.setattr(ps, "_spread", _whole_spread)
        whole = fn(s, **kw)
    return sliced, whole


def _same(a: ps.ColumnParse, b: ps.ColumnParse) -> None:
    assert a.values.equals(b.values, check_names=True, check_dtypes=True)
    assert a.error.equals(b.error, check_names=True)
    assert a.note == b.note
    assert (a.extra is None) == (b.extra is None)
    if a.extra is not None:
        assert a.extra.equals(b.extra, check_names=True)


@given(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=12), st.integers(0, 2**31), st.integers(1, 400),
       st.sampled_from([None, True, False]), st.booleans())
@settings(max_examples=60, deadline=None)
def test_dates_in_slices_equal_the_whole_column(pool, seed, n, dayfirst, with_time):
    s = _column(random.Random(seed), pool, n)
    sliced, whole = _both(ps.parse_dates, s, dayfirst=dayfirst, column="When", with_time=with_time)
    _same(sliced, whole)


@given(st.lists(st.sampled_from(_VALUES), min_size=1, max_size=12), st.integers(0, 2**31), st.integers(1, 300),
       st.sampled_from([None, True, False]))
@settings(max_examples=40, deadline=None)
def test_periods_in_slices_equal_the_whole_column(pool, seed, n, dayfirst):
    s = _column(random.Random(seed), pool, n)
    _same(*_both(ps.parse_periods, s, dayfirst=dayfirst, column="Period"))


@pytest.mark.parametrize("late", ["day", "month"])
def test_the_order_is_voted_by_rows_in_the_last_slice(late):
    """Early slices hold only ambiguous dates; the rows that decide the order come last."""
    values = ["03/04/2024"] * 50 + ["04/05/2024"] * 50 + (["25/12/2024"] if late == "day" else ["12/25/2024"]) * 3
    s = pl.Series("when", values)
    sliced, whole = _both(ps.parse_dates, s)
    _same(sliced, whole)
    assert sliced.note is not None and sliced.values[0].month == (4 if late == "day" else 3)


def test_a_long_mostly_unique_column_takes_the_row_path_and_agrees(monkeypatch):
    rng = random.Random(9)
    n = ps._MOSTLY_UNIQUE_MIN_ROWS + 123
    values = [f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}"
              for i in range(n)]
    for i in range(0, n, 997):
        values[i] = rng.choice(["", "03/04/2023", "13/04/2023", "bad", "1709632800"])
    s = pl.Series("when", values)
    assert ps._mostly_unique(s)
    with monkeypatch.context() as m:
        m.setattr(ps, "_DATE_SLICE", 4099)
        sliced = ps.parse_dates(s, with_time=True)
    with monkeypatch.context() as m:
        m.setattr(ps, "_dates_table", _whole_dates_table)
        m.setattr(ps, "_spread", _whole_spread)
        whole = ps.parse_dates(s, with_time=True)
    _same(sliced, whole)

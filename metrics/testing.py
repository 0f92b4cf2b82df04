"""A light golden-test assertion for metric outputs (in the style of narwhals' assert_equal_data).

    assert_data(result, {"rep": ["Ann", "Bob"], "win_rate": [0.5, None]})

Only the named columns are compared, in the given order of rows; floats are compared with a
relative tolerance, nulls must match nulls. Pure standard library and polars, so any package's
tests may use it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl


def _same(got: Any, want: Any, rel: float, abs_tol: float) -> bool:
    if want is None or got is None:
        return got is None and want is None
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(got, bool) or isinstance(want, bool):
            return got == want
        return math.isclose(float(got), float(want), rel_tol=rel, abs_tol=abs_tol)
    return bool(got == want)


def assert_data(
    result: pl.DataFrame,
    expected: Mapping[str, Sequence[Any]],
    *,
    rel: float = 1e-9,
    abs_tol: float = 1e-9,
) -> None:
    """Check that a metric's output holds exactly the expected values in the named columns.

    Raises AssertionError naming the first column and row that differ (or a missing column or a
    different row count).
    """
    missing = [c for c in expected if c not in result.columns]
    assert not missing, f"missing columns {missing}; result has {result.columns}"
    for column, want in expected.items():
        got = result[column].to_list()
        assert len(got) == len(want), f"{column}: {len(got)} rows, expected {len(want)}: {got}"
        for row, (g, w) in enumerate(zip(got, want, strict=True)):
            assert _same(g, w, rel, abs_tol), f"{column}[{row}] = {g!r}, expected {w!r}; column: {got}"

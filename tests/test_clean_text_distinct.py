"""clean_text cleans only the distinct values of a long column of few distinct values and maps them back
(data/ingest/parse.py, issue #6 import speed). The result must equal cleaning every value of the column,
which is the definition: each value is cleaned on its own."""
from __future__ import annotations

import random

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from data.ingest import parse as ps

# values that exercise every cleaning step: odd and repeated spaces, invisible characters, null tokens in
# any case, plain text, the empty string, and nulls
_POOL = ["call", " call ", "CALL", "\u00a0Call\u00a0", "e\u200bmail", "\u200b", "  meeting   room ",
         "visit\tnow", "task\n", "", " ", "N/A", "n/a", "null", "NULL", "-", "none", "Connected",
         "No\u202fanswer", "\ufeffR001", "R001", "R001 ", "ACC-1\u00ad2", "\u3000", "x\u2028y", None]


def _definition(s: pl.Series) -> pl.Series:
    return ps._clean_values(s.cast(pl.String)).rename(s.name)


def _column(rng: random.Random, values: list[str | None], n: int) -> pl.Series:
    return pl.Series("col", [rng.choice(values) for _ in range(n)], pl.String)


@given(st.lists(st.sampled_from(_POOL) | st.text(max_size=6), min_size=1, max_size=30), st.integers(0, 2**31))
@settings(max_examples=25, deadline=None)
def test_few_distinct_values_cleaned_like_every_value(values: list[str | None], seed: int) -> None:
    s = _column(random.Random(seed), values, ps._FEW_DISTINCT_MIN_ROWS + 17)
    assert s.approx_n_unique() * ps._FEW_DISTINCT_RATIO <= s.len()      # the distinct-values path is taken
    got = ps.clean_text(s)
    assert got.name == "col" and got.dtype == pl.String
    assert got.equals(_definition(s))


@pytest.mark.parametrize("values", [[None], ["x", None], ["N/A"], [" a ", "\u00a0a"]])
def test_edge_columns(values: list[str | None]) -> None:
    s = _column(random.Random(1), values, ps._FEW_DISTINCT_MIN_ROWS)
    assert ps.clean_text(s).equals(_definition(s))


def test_short_or_varied_columns_take_the_row_path_and_agree() -> None:
    rng = random.Random(3)
    short = _column(rng, _POOL, 500)
    varied = pl.Series("v", [f"{rng.choice(_POOL) or ''}{i}" for i in range(ps._FEW_DISTINCT_MIN_ROWS)])
    for s in (short, varied):
        assert ps.clean_text(s).equals(_definition(s))


def test_non_string_input_cast_first() -> None:
    s = pl.Series("n", [1, 2, None, 3] * 20_000)
    assert ps.clean_text(s).equals(_definition(s))


def test_row_path_is_value_by_value() -> None:
    """The definition the fast path relies on: cleaning a column equals cleaning each value alone."""
    s = pl.Series("col", _POOL, pl.String)
    whole = _definition(s).to_list()
    assert whole == [_definition(pl.Series("col", [v], pl.String))[0] for v in _POOL]

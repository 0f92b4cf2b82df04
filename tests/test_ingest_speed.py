"""The faster import paths equal their plain definitions: name-or-id resolution against a lookup, ids of
cleaned text, the quote-free CSV read, and the duplicate-key check of several columns."""
from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from data.ingest.pipeline import _resolve


def _resolve_definition(values: pl.Series, lookup: pl.DataFrame, id_col: str) -> tuple[pl.Series, set[str]]:
    """The definition: a known id stays; else the first lookup row whose name matches casefolded; else new."""
    known_ids = set(lookup[id_col].to_list())
    by_name: dict[str, str] = {}
    for rid, name in lookup.select(id_col, "name").iter_rows():
        if name is not None:
            by_name.setdefault(str(name).casefold(), rid)
    out, new = [], set()
    for v in values.to_list():
        if v is None:
            out.append(None)
        elif v in known_ids:
            out.append(v)
        elif v.casefold() in by_name:
            out.append(by_name[v.casefold()])
        else:
            out.append(v)
            new.add(v)
    return pl.Series(values.name, out, pl.String), new


TEXT = st.sampled_from(["R1", "r1", "Ann", "ANN", "ann", "Straße", "STRASSE", "王伟", "Bob", "R2", "x", "İz", "iz"])


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.one_of(st.none(), TEXT), max_size=30),
       lookup=st.lists(st.tuples(TEXT, st.one_of(st.none(), TEXT)), max_size=10))
def test_resolve_equals_its_definition(values, lookup):
    frame = pl.DataFrame({"rep_id": [a for a, _ in lookup], "name": [b for _, b in lookup]},
                         schema={"rep_id": pl.String, "name": pl.String})
    series = pl.Series("owner", values, pl.String)
    mapped, new = _resolve(series, frame, "rep_id")
    want, want_new = _resolve_definition(series, frame, "rep_id")
    assert mapped.to_list() == want.to_list()
    assert mapped.name == "owner" and mapped.dtype == pl.String
    assert sorted(new["rep_id"].to_list()) == sorted(want_new)
    assert new["name"].to_list() == new["rep_id"].to_list()
    assert new.schema == pl.Schema({"rep_id": pl.String, "name": pl.String})


def test_deal_ids_skip_the_name_lookup_only_when_every_value_is_an_id(tmp_path):
    """Stage history naming deals by id, by name, by a name in other case, by an unknown text: the
    short cut (no deal lookup when all values are stored ids) gives what the full lookup gives."""
    from data.ingest.pipeline import _deal_ids, _WithoutDemo
    from data.ingest.pipeline import import_file
    from data.store import Store

    store = Store(tmp_path / "s.duckdb")
    deals = tmp_path / "deals.csv"
    deals.write_text("Deal ID,Deal Name,Owner,Stage,Amount\nD1,Acme renewal,Ann,Prospecting,100\n"
                     "D2,Globex,Bob,Closed Won,200\n", encoding="utf-8")
    import_file(store, deals)
    lookup = store.deal_lookup().rename({"deal_id": "rep_id"})
    for values in (["D1", "D2", None, "D1"], ["D1", "acme RENEWAL", None], ["Globex", "nope"], [None, None], []):
        series = pl.Series("deal_id", values, pl.String)
        want, _ = _resolve_definition(series, lookup, "rep_id")
        assert _deal_ids(series, store).to_list() == want.to_list(), values
        assert store.unknown_deal_ids(series.drop_nulls().unique()).len() == len(
            {v for v in values if v is not None} - {"D1", "D2"})
    # the demo-less view of the store answers from its own rows (here: the same, no demo present)
    assert _deal_ids(pl.Series("d", ["D2"], pl.String), _WithoutDemo(store)).to_list() == ["D2"]
    store.close()


CELL = st.one_of(st.none(), st.sampled_from(["n/a", " NULL ", "null", "1.0E+3", "007", "12.0", "1,5E+02"]),
                 st.text(alphabet=list("aA1 0.E+-,\u00a0\u200b\t\n/#—无"), max_size=8))


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(CELL, max_size=40))
def test_id_of_cleaned_text_skips_only_a_repeated_cleaning(cells):
    """`to_id(clean_text(s), cleaned=True)` (the pipeline's ids) equals `to_id(clean_text(s))`."""
    from data.ingest.parse import clean_text, to_id

    text = clean_text(pl.Series("id", cells, pl.String))
    assert to_id(text, cleaned=True).to_list() == to_id(text).to_list()
    assert clean_text(text).to_list() == text.to_list()          # the idempotence the short cut relies on


QUOTELESS = st.text(alphabet=list("ab1 ,;-.\u00e9王"), max_size=6)


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.lists(QUOTELESS, min_size=0, max_size=5), min_size=1, max_size=12))
def test_quote_free_csv_reads_as_the_exact_parser_reads_it(rows):
    """A file without quotes skips the line-break count and the empty-text pass; what it reads (cells,
    nulls, line numbers, skipped rows) equals the exact Python parser followed by that pass."""
    import pytest

    from data.ingest import read as rd
    from data.ingest.problems import ImportProblem

    text = "Deal ID,Owner,Amount,Stage\n" + "".join(",".join(r) + "\n" for r in rows)
    data = text.encode("utf-8")

    def read(exact: bool):
        if not exact:
            return rd.read_table(data, "x.csv")
        with pytest.MonkeyPatch.context() as mp:
            finish = rd._finish
            mp.setattr(rd, "_polars_rows", lambda *a: None)
            mp.setattr(rd, "_finish", lambda rows_, lines, cells, empty_is_null=False: finish(rows_, lines, cells))
            return rd.read_table(data, "x.csv")

    outcomes = []
    for exact in (False, True):
        try:
            t = read(exact)
            outcomes.append((t.headers, t.frame.to_dicts(), t.skipped))
        except ImportProblem as problem:
            outcomes.append(problem.code)
    assert outcomes[0] == outcomes[1]


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.tuples(st.sampled_from(["D1", "D2", None]), st.sampled_from(["Won", "New", None]),
                               st.sampled_from([1, 2, None])), max_size=25))
def test_dedupe_of_a_three_column_key_equals_a_dict_of_first_lines(keys):
    """The hash pre-check of `_dedupe` (stage history: deal, stage, time) keeps the same rows and rejects
    the same lines, naming the same first line, as a plain dict keyed by the tuple (nulls equal)."""
    from datetime import datetime, timedelta

    from data.ingest.pipeline import LINE, _dedupe

    base = datetime(2024, 1, 1)
    rows = pl.DataFrame({
        "deal_id": [k[0] for k in keys], "stage": [k[1] for k in keys],
        "entered_at": [base + timedelta(days=k[2]) if k[2] is not None else None for k in keys],
        LINE: list(range(2, len(keys) + 2)),
    }, schema={"deal_id": pl.String, "stage": pl.String, "entered_at": pl.Datetime("us"), LINE: pl.Int64})
    keep, rej = _dedupe(rows, "stage_history", "Deal")
    first: dict[tuple, int] = {}
    want_keep, want_rej = [], []
    for line, k in zip(rows[LINE].to_list(), keys):
        if k in first:
            want_rej.append((line, first[k]))
        else:
            first[k] = line
            want_keep.append(line)
    assert keep[LINE].to_list() == want_keep
    got = sorted((r["line"], json.loads(r["params"])["first_line"]) for r in rej.to_dicts()) if rej.height else []
    assert got == sorted(want_rej)


def _date_parts_definition(frame: pl.DataFrame) -> pl.DataFrame:
    """The date parts as first written: every shape's groups as text, concatenated, then converted."""
    from data.ingest import parse as ps

    columns = ("k", "n", "v", *ps._DATE_GROUPS)
    v = pl.col("v")
    cuts = {"y": (0, 4), "mo": (5, 2), "d": (8, 2), "H": (11, 2), "Mi": (14, 2), "S": (17, 2)}
    fixed = v.str.contains(ps._ISO_FIXED)
    iso = frame.filter(fixed).with_columns(
        *(v.str.slice(a, b).alias(name) for name, (a, b) in cuts.items()),
        *(pl.lit(None, pl.String).alias(g) for g in ps._DATE_GROUPS if g not in cuts))
    parts = [iso.select(columns)]
    remaining = frame.filter(~fixed).select("k", "n", "v")
    for pattern in ps._DATE_SHAPES:
        got = ps._extract(remaining, pattern, ps._DATE_GROUPS)
        hit = pl.col("y").is_not_null() | pl.col("a").is_not_null()
        parts.append(got.filter(hit).select(columns))
        remaining = got.filter(~hit).select("k", "n", "v")
    parts.append(remaining.with_columns(pl.lit(None, pl.String).alias(g) for g in ps._DATE_GROUPS).select(columns))
    got = pl.concat(parts, how="vertical")

    def number(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Int32, strict=False)

    return got.select(
        "k", "n", "v", number("y").alias("y"), (pl.col("y").str.len_chars() == 2).alias("yy"),
        pl.coalesce(number("mo"), ps._map(ps._fold(pl.col("mon")), ps.MONTH_NAMES, pl.Int32()), number("a")).alias("p1"),
        pl.coalesce(number("d"), number("b")).alias("p2"), pl.col("a").is_not_null().alias("amb"),
        (pl.col("s1").is_null() | (pl.col("s1") == pl.col("s2"))).alias("sep_ok"),
        number("H").alias("H"), number("Mi").alias("Mi"), number("S").alias("S"),
        pl.col("F").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int32, strict=False).alias("us"),
        ps._map(pl.col("ap").str.to_lowercase().str.slice(0, 1), {"a": 0, "p": 1}, pl.Int32()).alias("pm"),
        ps._tz_minutes(pl.col("tz")).alias("off"),
    )


DATE_TEXT = st.one_of(
    st.sampled_from(["2024-01-05", "2024-01-05 10:11:12", "2024-01-05T10:11", "2024-13-45", "05/01/2024",
                     "13/01/2024", "1/2/24", "Jan 5, 2024", "5 Şubat 2024", "2024年1月5日", "3.1.24 9:05 PM +05:30",
                     "2024-02-30 25:61:00", "45000", "1700000000", "x", "2024/1/5 10:00 UTC", "5-Jan-24"]),
    st.text(alphabet=list("0123456789-/:. TZ+APMaJn"), max_size=22))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(DATE_TEXT, max_size=30))
def test_date_parts_equal_their_first_definition(values):
    """Converting each shape's groups on their own (less memory) gives the parts the text concat gave."""
    from polars.testing import assert_frame_equal

    from data.ingest import parse as ps

    frame = pl.DataFrame({"k": list(range(len(values))), "n": [1] * len(values), "v": values},
                         schema={"k": pl.UInt32, "n": pl.UInt32, "v": pl.String})
    assert_frame_equal(ps._date_parts(frame).sort("k"), _date_parts_definition(frame).sort("k"))

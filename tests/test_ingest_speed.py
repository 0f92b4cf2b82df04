"""The faster import paths equal their plain definitions: name-or-id resolution against a lookup, and the
reject text taken only for the rejected rows."""
from __future__ import annotations

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

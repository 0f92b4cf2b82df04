"""The data-quality checks counted in DuckDB (`Store.quality_tallies_in_scope`) with the duplicate check
run on its candidates only (`Store.duplicate_candidates_in_scope`), through
`metrics.quality.tallied_check_set`, give exactly what the definitions give over every deal of the scope
(`metrics.quality.quality_check_set` of the scoped deals, stage history and snapshots): the same tallies,
failing deals and values, issues in the same order, counts and scores overall, per rep and per import.
Generated stores cover names that differ in case, spacing and Unicode white space (blank names, a
zero-width space that is not white space, letters whose lower case differs between engines), missing
accounts, amounts of 0.0 and -0.0, NaN and null, blank and missing owners, missing statuses and
dates, stage history with unknown stages, snapshots of deleted deals and several uploads on a date, and
scopes by team, rep, region, product and segment. And the white space a name may hold, and still be
blank, is exactly what polars strips, over every code point."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import quality
from metrics._common import open_stages
from tests.store_builder import stages_frame, write

STAGES = ["S0", "S1", "S2", "Won", "Lost"]
NAMES = ["Acme deal", "acme  Deal", " ACME DEAL ", "acme\u3000deal", "ACME\u0085deal", "acme\u200bdeal", "\u0130stanbul",
         "i\u0307stanbul", "\u03a3\u039f\u03a6\u0399\u0391", "\u03c3\u03bf\u03c6\u03b9\u03b1", "Stra\u00dfe", "STRASSE",
         "", "  ", "\u2003\t", "\u200b", None]
ACCOUNTS = ["A1", "A2", None]
AMOUNTS = [0.0, -0.0, float("nan"), None, 1.5, 2.0]
OWNERS = ["R1", "R2", "R3", "R3", " ", "\u3000", "", None]
STATUSES = ["open", "open", "won", "lost", "Won"]   # "Won": a status no check knows
DAYS = [date(2026, 1, 5), date(2026, 1, 21), date(2026, 1, 22), date(2026, 2, 20), None]   # 8 and 7 days before a snapshot
SNAP_DAYS = [date(2026, 1, 1) + timedelta(days=14 * k) for k in range(5)]
AS_OF = date(2026, 2, 25)
SCOPES = [{}, {"teams": ("North",)}, {"reps": ("R2",)}, {"regions": ("EU",)}, {"products": ("P1",)},
          {"segments": ("SMB",)}, {"reps": ("nobody",)}]


@st.composite
def companies(draw: st.DrawFn) -> dict:
    n = draw(st.integers(0, 24))
    deals = [{"deal_id": f"D{i:02d}", "name": draw(st.sampled_from(NAMES)), "account_id": draw(st.sampled_from(ACCOUNTS)),
              "owner_rep_id": draw(st.sampled_from(OWNERS)), "product": draw(st.sampled_from(["P1", "P2"])),
              "amount": draw(st.sampled_from(AMOUNTS)), "status": draw(st.sampled_from(STATUSES)),
              "stage": draw(st.sampled_from(STAGES)), "created_on": draw(st.sampled_from(DAYS)),
              "close_date": draw(st.sampled_from(DAYS)), "closed_on": draw(st.sampled_from(DAYS))} for i in range(n)]
    ids = [d["deal_id"] for d in deals] + ["GONE1", "GONE2"]          # deals deleted since: only history, snapshots
    history = {(draw(st.sampled_from(ids)), draw(st.sampled_from(STAGES + ["Unknown"])), draw(st.integers(0, 40)))
               for _ in range(draw(st.integers(0, 40)))}
    # one row per upload, date and deal (an upload's deals are one per id); uploads 0-2, some deals in several
    # uploads of a date, the latest one deciding
    snaps = {}
    for _ in range(draw(st.integers(0, 16))):
        day, deal = draw(st.integers(0, len(SNAP_DAYS) - 1)), draw(st.sampled_from(ids))
        for batch in draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True)):
            snaps[(day, deal, batch)] = draw(st.sampled_from(["open", "open", "won", "lost", None]))
    return {"deals": deals, "history": sorted(history), "snaps": snaps}


def _store(path, company: dict) -> Store:
    store = Store(path)
    write(store, "reps", [{"rep_id": "R1", "name": "Ann", "team": "North", "region": "EU"},
                          {"rep_id": "R2", "name": "Bo", "team": "South", "region": "US"},
                          {"rep_id": "R3", "name": "Cy", "team": "North"}],
          stages=stages_frame(STAGES, "Won", "Lost"))
    write(store, "accounts", [{"account_id": "A1", "name": "Acme", "size": "SMB", "region": "US"},
                              {"account_id": "A2", "name": "Beta", "size": "Enterprise", "region": "EU"}])
    half = len(company["deals"]) // 2      # two imports: the first also writes its snapshot
    if company["deals"][:half]:
        write(store, "deals", company["deals"][:half], snapshot_date=SNAP_DAYS[1], file_name="deals1.csv")
    if company["deals"][half:]:
        write(store, "deals", company["deals"][half:], file_name="deals2.csv")
    if company["history"]:
        write(store, "stage_history", [{"deal_id": d, "stage": s, "entered_at": datetime(2026, 1, 1) + timedelta(days=k),
                                        "inferred": False} for d, s, k in company["history"]])
    rows = [{"snapshot_date": SNAP_DAYS[day], "deal_id": deal, "batch": b, "stage": None, "status": status,
             "amount": None, "close_date": None, "owner_rep_id": "R1"} for (day, deal, b), status in company["snaps"].items()]
    snaps = pl.DataFrame(rows, schema={"snapshot_date": pl.Date, "deal_id": pl.String, "batch": pl.Int64,
                                       "stage": pl.String, "status": pl.String, "amount": pl.Float64,
                                       "close_date": pl.Date, "owner_rep_id": pl.String})
    for b in range(3):
        part = snaps.filter(pl.col("batch") == b).drop("batch")
        if part.height:
            store.append_snapshots(part, 100 + b)
    return store


def _definition(store: Store, scope: dict, as_of: date) -> tuple[quality.QualityChecks, pl.DataFrame]:
    """The check set over every scoped row, the deals by id (as the Data page first handed them over)."""
    deals = store.deals_in_scope(scope).sort("deal_id")
    checks = quality.quality_check_set(deals, store.stage_history_in_scope(scope), store.stages_frame(), as_of=as_of,
                                       snapshots=store.snapshots_in_scope(scope))
    return checks, deals


def _tallied(store: Store, scope: dict, as_of: date) -> tuple[quality.QualityChecks, pl.DataFrame, pl.DataFrame,
                                                               pl.DataFrame]:
    tallies, failing = store.quality_tallies_in_scope(scope, open_stages(store.stages_frame()), as_of)
    candidates = store.duplicate_candidates_in_scope(scope)
    return quality.tallied_check_set(tallies, failing, candidates), tallies, failing, candidates


def _in_listed_order(issues: pl.DataFrame) -> pl.DataFrame:
    """The issues check by check in CHECKS order; within a check by deal id, as the filters over deals by
    id list them (the skipped-stage and entry-lag checks come out of joins that fix no order), the
    duplicates in the order the check sorts them."""
    order = {c: i for i, c in enumerate(quality.CHECKS)}
    return (issues.with_row_index("_row")
            .sort(pl.col("check").replace_strict(order, return_dtype=pl.Int64),
                  pl.when(pl.col("check") != "duplicate").then(pl.col("deal_id")),
                  pl.col("_row"), nulls_last=True)
            .drop("_row"))


def assert_same_checks(store: Store, scope: dict, as_of: date) -> int:
    want, deals = _definition(store, scope, as_of)
    got, tallies, failing, candidates = _tallied(store, scope, as_of)
    key = ["check", "batch_id", "owner_rep_id"]
    assert_frame_equal(tallies.sort(key, nulls_last=True), quality.check_tallies(want).sort(key, nulls_last=True))
    args, kw = (deals.head(0), pl.DataFrame(), store.stages_frame()), dict(as_of=as_of)
    want_issues = quality.quality_issues(*args, checks=want, **kw)
    got_issues = quality.quality_issues(*args, checks=got, **kw)
    assert_frame_equal(got_issues, _in_listed_order(want_issues))
    # the failing rows are the issues of every check but the duplicate one, with the deal's name
    listed = want_issues.filter(pl.col("check") != "duplicate")
    assert_frame_equal(failing.select("check", "deal_id", "batch_id", "owner_rep_id", "value"),
                       _in_listed_order(listed).select("check", "deal_id", "batch_id", "owner_rep_id", "value"))
    assert_frame_equal(failing.select("deal_id", "name"),
                       failing.select("deal_id").join(deals.select("deal_id", "name"), on="deal_id", how="left",
                                                      maintain_order="left"))
    assert_frame_equal(candidates, quality.duplicate_candidates(deals).select(candidates.columns))
    for by in (None, "owner_rep_id", "batch_id"):
        assert_frame_equal(quality.quality_checks(*args, by=by, checks=got, **kw),
                           quality.quality_checks(*args, by=by, checks=want, **kw))
        assert_frame_equal(quality.quality_score(*args, by=by, checks=got, **kw),
                           quality.quality_score(*args, by=by, checks=want, **kw))
    return got_issues.height


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(company=companies(), scope=st.sampled_from(SCOPES[1:]),
       as_of=st.sampled_from([AS_OF, SNAP_DAYS[0], SNAP_DAYS[-1] + timedelta(days=30)]))
def test_tallied_checks_equal_the_definitions_on_generated_stores(tmp_path_factory, company, scope, as_of):
    store = _store(tmp_path_factory.mktemp("q") / "q.duckdb", company)
    try:
        for each in ({}, scope):
            assert_same_checks(store, each, as_of)
    finally:
        store.close()


def test_repeats_across_case_spacing_and_unicode(tmp_path):
    """Names equal once lowercased by polars (ß stays ß, Σ lowercases to σ, İ to i + a combining dot),
    0.0 and -0.0, NaN and NaN, missing accounts and amounts: each repeat names the earlier deal."""
    deals = [("D1", "\u0130stanbul", "A1", 0.0), ("D2", "i\u0307stanbul ", "A1", -0.0), ("D3", "Stra\u00dfe", None, None),
             ("D4", "stra\u00dfe", None, None), ("D5", "STRASSE", None, None), ("D6", "\u03a3\u039f\u03a6\u0399\u0391", "A2", float("nan")),
             ("D7", "\u03c3\u03bf\u03c6\u03b9\u03b1\u3000", "A2", float("nan")), ("D8", "\u2003", "A2", float("nan")),
             ("D9", "x\u200b", "A1", 1.5), ("D10", "X", "A1", 1.5)]
    store = _store(tmp_path / "u.duckdb", {"deals": [
        {"deal_id": i, "name": n, "account_id": a, "amount": m, "owner_rep_id": "R1", "status": "open",
         "created_on": date(2026, 1, 1)} for i, n, a, m in deals], "history": [], "snaps": {}})
    try:
        assert_same_checks(store, {}, AS_OF)
        checks, _, _, candidates = _tallied(store, {}, AS_OF)
        issues = quality.quality_issues(pl.DataFrame(), pl.DataFrame(), store.stages_frame(), as_of=AS_OF, checks=checks)
        dups = issues.filter(pl.col("check") == "duplicate")
        assert dict(zip(dups["deal_id"], dups["related_deal_id"], strict=True)) == {"D2": "D1", "D4": "D3", "D7": "D6"}
        assert "D8" not in candidates["deal_id"].to_list()          # a blank name is no candidate
    finally:
        store.close()


def test_a_blank_name_or_owner_holds_exactly_what_polars_strips(tmp_path):
    """Every code point alone, and between letters: DuckDB finds no other character in it
    (`Store._NOT_BLANK`) exactly when polars' `str.strip_chars()` leaves nothing."""
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = pl.Series("text", [chr(c) for c in points] + [f"{chr(c)}{chr(c)}" for c in points[:0x3100]]
                      + [f"a{chr(c)}" for c in points[:0x3100]])
    blank = (texts.str.strip_chars() == "").to_list()
    got = Store(tmp_path / "ws.duckdb")
    try:
        cur = got.cursor()
        cur.register("texts", texts.to_frame())
        found = cur.sql("SELECT NOT regexp_matches(text, $re) AS blank FROM texts",
                        params={"re": Store._NOT_BLANK}).pl()["blank"].to_list()
    finally:
        got.close()
    assert sum(blank) == 25 + 25      # the 25 White_Space characters, alone and doubled
    assert found == blank


@pytest.mark.parametrize("scope", [{}, {"teams": ("North",)}])
def test_an_empty_store_has_no_tallies(tmp_path, scope):
    store = _store(tmp_path / "e.duckdb", {"deals": [], "history": [], "snaps": {}})
    try:
        tallies, failing = store.quality_tallies_in_scope(scope, open_stages(store.stages_frame()), AS_OF)
        assert tallies.height == failing.height == store.duplicate_candidates_in_scope(scope).height == 0
        assert tallies.columns == ["check", "batch_id", "owner_rep_id", "applicable"]
        assert failing.columns == ["check", "deal_id", "batch_id", "owner_rep_id", "name", "value"]
    finally:
        store.close()

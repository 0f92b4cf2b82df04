"""The Data page's quality view reads the checks counted in DuckDB (from each deal's stage coverage in
`stage_facts` and its last open snapshot) and the duplicate candidates, and computes the checks once; it
equals what it gave when computed the plain way (every scoped deal, history row and snapshot handed to the metrics
four times), and the aggregated checks equal the row-level definitions they replace, on the demo
company over several scopes and dates and on generated data.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import quality
from metrics._common import LOST, OPEN, WON, open_stages, prepare_deals
from metrics.schema import conform, frame
from tests.test_metrics_funnel import pipelines
from tests.test_quality_tallies import assert_same_checks
from tests.test_store_views import _write
from ui.filters import Filters
from ui.views import load, scope_of
from ui.views import quality as qv
from tests.store_builder import DEMO_AS_OF, demo_scopes

AS_OF = DEMO_AS_OF   # the date of the shared `demo` fixture (tests/conftest.py)


_scopes = demo_scopes


def _filters(scope: dict, as_of: date) -> Filters:
    return Filters("all_time", None, None, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})


def _same_view(got: qv.QualityView, want: qv.QualityView) -> None:
    """Same score, counts, parts, per-rep table and issues. The issues come check by check in CHECKS
    order; within a check in the order DuckDB hands the deals out, which no query fixes (a join of
    the filters or none may give another), so that order is compared as a set."""
    assert (got.empty, got.score, got.deals) == (want.empty, want.score, want.deals)
    if want.empty:
        return
    assert_frame_equal(got.parts, want.parts)
    assert_frame_equal(got.reps, want.reps)
    assert got.issues["check"].to_list() == want.issues["check"].to_list()
    keys = ["check", "deal_id", "related_deal_id"]
    assert_frame_equal(got.issues.sort(keys, nulls_last=True, maintain_order=True),
                       want.issues.sort(keys, nulls_last=True, maintain_order=True))


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    assert_frame_equal(a.sort(keys, nulls_last=True), b.select(a.columns).sort(keys, nulls_last=True),
                       check_dtypes=False)


# ------------------------------------------------------------------ the row-level definitions replaced
def _skipped_rows(deals: pl.DataFrame, history: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """deal_id, skipped of the deals with history: the first definition, over every history row."""
    idx = open_stages(stages)
    n = idx.height
    hist = conform(history, "stage_history").select("deal_id", "stage").join(deals.select("deal_id"), on="deal_id",
                                                                              how="semi")
    seen = hist.join(idx.select("stage", "stage_index"), on="stage", how="inner").group_by("deal_id").agg(
        pl.col("stage_index").max().alias("_max"), pl.col("stage_index").n_unique().alias("_distinct"))
    d = prepare_deals(deals).join(hist.select("deal_id").unique(), on="deal_id", how="semi").join(seen, on="deal_id",
                                                                                                   how="left")
    top = pl.when(pl.col("status") == WON).then(pl.lit(n - 1, dtype=pl.Int64)).otherwise(pl.col("_max"))
    return d.select("deal_id", (top + 1 - pl.col("_distinct").fill_null(0)).fill_null(0).clip(lower_bound=0)
                    .cast(pl.Float64).alias("skipped"))


def _late_rows(deals: pl.DataFrame, snapshots: pl.DataFrame, late_after_days: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(closed deals seen in the snapshots, deal_id + lag of the late ones): the first definition, over
    every snapshot row."""
    snaps = conform(snapshots, "deal_snapshots").select("deal_id", "snapshot_date", pl.col("status").alias("_s"))
    d = prepare_deals(deals)
    closed = d.filter(pl.col("status").is_in([WON, LOST]) & pl.col("_close_day").is_not_null())
    seen = closed.join(snaps.select("deal_id").unique(), on="deal_id", how="semi")
    late = (snaps.filter(pl.col("_s") == OPEN).join(seen.select("deal_id", "_close_day"), on="deal_id", how="inner")
            .filter((pl.col("snapshot_date") - pl.col("_close_day")).dt.total_days() > late_after_days)
            .group_by("deal_id")
            .agg((pl.col("snapshot_date").max() - pl.col("_close_day").first()).dt.total_days()
                 .cast(pl.Float64).alias("lag")))
    return seen.select("deal_id"), late


def _check_rows_match(deals, history, stages, snapshots, as_of, *, aggregated: bool) -> None:
    """The skipped-stage and entry-lag issues and counts equal the row-level definitions, given the
    rows or (aggregated) only the per-deal aggregates."""
    if aggregated:
        kw = dict(coverage=quality.stage_coverage(history, stages),
                  last_open=None if snapshots is None else quality.last_open_snapshots(snapshots))
        args = (deals, history.head(0), stages)
    else:
        kw, args = dict(snapshots=snapshots), (deals, history, stages)
    issues = quality.quality_issues(*args, as_of=as_of, **kw)
    checks = quality.quality_checks(*args, as_of=as_of, **kw)
    applicable = dict(zip(checks["check"].to_list(), checks["applicable"].to_list(), strict=True))
    skipped = _skipped_rows(deals, history, stages)
    got = issues.filter(pl.col("check") == "skipped_stages").select("deal_id", pl.col("value").alias("skipped"))
    _same(got, skipped.filter(pl.col("skipped") > 0), ["deal_id"])
    assert applicable.get("skipped_stages", 0) == skipped.height
    if snapshots is not None and snapshots.height:
        seen, late = _late_rows(deals, snapshots)
        got = issues.filter(pl.col("check") == "entry_lag").select("deal_id", pl.col("value").alias("lag"))
        _same(got, late, ["deal_id"])
        assert applicable.get("entry_lag", 0) == seen.height
    else:
        assert "entry_lag" not in applicable


# ------------------------------------------------------------------ the view, computed the plain way
def _plain(store: Store, f: Filters) -> qv.QualityView:
    """The view as first written: whole scoped tables, each check recomputed per call."""
    fr = load(store, f, tables=("deals", "stage_history", "reps"))
    deals = fr.deals
    if deals.height == 0:
        return qv.QualityView(True, None, 0, pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    snaps = store.snapshots_in_scope(scope_of(f), store.cursor())
    kw = dict(as_of=f.as_of, snapshots=snaps)
    args = (deals, fr.stage_history, fr.stages)
    score = quality.quality_score(*args, **kw)["score"][0]
    parts = quality.quality_checks(*args, **kw).select("check", "applicable", "failing", "part_score")
    order = {c: i for i, c in enumerate(qv.CHECKS)}
    parts = parts.sort(pl.col("check").replace_strict(order, default=len(order), return_dtype=pl.Int64))
    names = fr.reps.select("rep_id", pl.col("name").alias("rep"), "team")
    per_rep = quality.quality_score(*args, **kw, by="owner_rep_id").rename({"owner_rep_id": "rep_id"})
    counts = deals.group_by(pl.col("owner_rep_id").alias("rep_id")).agg(pl.len().cast(pl.Int64).alias("deals"))
    per_rep = (per_rep.join(names, on="rep_id", how="left", nulls_equal=True)
               .join(counts, on="rep_id", how="left", nulls_equal=True)
               .with_columns(pl.coalesce("rep", "rep_id").alias("rep"))
               .select("rep_id", "rep", "team", "deals", "score", *[c for c in qv.CHECKS if c in per_rep.columns])
               .sort("score", "rep", nulls_last=True))
    issues = quality.quality_issues(*args, **kw)
    issues = (issues.join(deals.select("deal_id", pl.col("name").alias("deal")), on="deal_id", how="left")
              .join(names.select("rep_id", "rep"), left_on="owner_rep_id", right_on="rep_id", how="left")
              .select("deal_id", "deal", pl.coalesce("rep", "owner_rep_id").alias("owner"), "check", "value",
                      "related_deal_id"))
    return qv.QualityView(False, None if score is None else float(score), deals.height, parts, per_rep, issues)


def test_store_tallies_equal_the_metrics(demo):
    """The checks counted in the store equal the definitions over every scoped row (tests/test_quality_tallies.py)."""
    issues = 0
    for scope in _scopes(demo):
        history, snaps = demo.stage_history_in_scope(scope), demo.snapshots_in_scope(scope)
        assert history.height and snaps.height
        issues += assert_same_checks(demo, scope, AS_OF)
    assert issues > 0


@pytest.mark.parametrize("as_of", [AS_OF, date(2026, 6, 30), date(2025, 12, 31)])
def test_quality_view_equals_the_plain_path(demo, as_of):
    issues = 0
    for scope in _scopes(demo):
        f = qv.without_period(_filters(scope, as_of))
        got, want = qv.compute(demo, f), _plain(demo, f)
        _same_view(got, want)
        assert set(got.parts["check"]) == set(qv.CHECKS)     # every check, entry lag included, is compared
        issues += got.issues.height
    assert issues > 0


def test_quality_view_of_an_empty_scope(demo):
    f = _filters({"teams": ["no such team"]}, AS_OF)
    got, want = qv.compute(demo, f), _plain(demo, f)
    assert got.empty and want.empty and got.deals == want.deals == 0 and got.score is want.score is None


def test_aggregated_checks_equal_the_row_definitions_on_the_demo(demo):
    stages = demo.stages_frame()
    for scope in _scopes(demo)[:4]:
        deals, history, snaps = demo.deals_in_scope(scope), demo.stage_history_in_scope(scope), demo.snapshots_in_scope(scope)
        for as_of in (AS_OF, date(2026, 3, 1)):
            for aggregated in (False, True):
                _check_rows_match(deals, history, stages, snaps, as_of, aggregated=aggregated)
            _check_rows_match(deals, history, stages, None, as_of, aggregated=True)


@st.composite
def _snapshots(draw: st.DrawFn, deal_ids: list[str]) -> pl.DataFrame:
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        rows.append({"snapshot_date": date(2024, 2, 20) + timedelta(days=7 * draw(st.integers(0, 6))),
                     "deal_id": draw(st.sampled_from(deal_ids + ["gone"])),
                     "status": draw(st.sampled_from([OPEN, WON, LOST, None]))})
    return frame("deal_snapshots", rows) if rows else frame("deal_snapshots")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_quality_aggregates_equal_the_row_definitions_on_generated_data(tmp_path, data):
    """Generated pipelines (ties, no history, one stage, re-entered stages, won deals) through a real
    store and generated snapshots (closed deals still open days or weeks later, several per day)."""
    deals, hist, stages = data.draw(pipelines())
    snaps = data.draw(_snapshots([f"d{i}" for i in range(25)]))
    as_of = date(2024, 3, 15)
    for aggregated in (False, True):
        _check_rows_match(deals, hist, stages, snaps, as_of, aggregated=aggregated)
    path = tmp_path / f"q{abs(hash((deals.height, hist.height, snaps.height, str(datetime.now()))))}.duckdb"
    store = Store(path)
    try:
        store.set_stages(stages.with_columns(pl.lit("configured").alias("source")))
        if deals.height:
            _write(store, "deals", deals.to_dicts())
        if hist.height:
            _write(store, "stage_history", hist.with_columns(pl.lit(False).alias("inferred")).to_dicts())
        assert_same_checks(store, {}, as_of)
        f = Filters("all_time", None, None, as_of=as_of)
        _same_view(qv.compute(store, f), _plain(store, f))
    finally:
        store.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 4), st.sampled_from(["d0", "d1", "d2", "gone"]), st.integers(0, 2),
                               st.sampled_from([OPEN, WON, LOST, None])), max_size=40),
       scoped=st.booleans())
def test_late_entry_with_several_uploads_on_a_date(tmp_path, rows, scoped):
    """The entry-lag check counted in the store reads each deal's last open snapshot from the latest upload
    of each date (dates written by one upload and by several, deals since deleted, scoped or not) as
    `quality.last_open_snapshots` does over `snapshots_in_scope`."""
    path = tmp_path / f"lo{abs(hash((tuple(rows), scoped, str(datetime.now()))))}.duckdb"
    store = Store(path)
    try:
        _write(store, "reps", [{"rep_id": "R1", "team": "A"}, {"rep_id": "R2", "team": "B"}])
        _write(store, "deals", [{"deal_id": f"d{i}", "owner_rep_id": f"R{1 + i % 2}", "status": [OPEN, WON, LOST][i],
                                 "close_date": date(2024, 3, 1), "closed_on": date(2024, 3, 3) if i else None}
                                for i in range(3)])
        snaps = pl.DataFrame(
            [{"snapshot_date": date(2024, 3, 3) + timedelta(days=7 * d), "deal_id": deal, "batch": b, "stage": None,
              "status": status, "amount": None, "close_date": None, "owner_rep_id": "R1"}
             for d, deal, b, status in rows],
            schema={"snapshot_date": pl.Date, "deal_id": pl.String, "batch": pl.Int64, "stage": pl.String,
                    "status": pl.String, "amount": pl.Float64, "close_date": pl.Date, "owner_rep_id": pl.String})
        # one row per upload, date and deal (an upload's deals are one per id)
        snaps = snaps.unique(["snapshot_date", "deal_id", "batch"], keep="first", maintain_order=True)
        for b in range(3):
            store.append_snapshots(snaps.filter(pl.col("batch") == b).drop("batch"), 100 + b)
        scope = {"teams": ["A"]} if scoped else {}
        assert_same_checks(store, scope, date(2024, 3, 20))
    finally:
        store.close()

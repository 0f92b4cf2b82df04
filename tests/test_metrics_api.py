"""The shape of the metrics package: definitions, docstrings, imports, schemas, shared helpers."""
from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import metrics
from metrics import _common, forecast, funnel, kpis, leaderboard, quality, tiering
from metrics.definitions import FUNCTIONS, first_paragraph
from metrics.schema import SCHEMAS, conform, empty, frame
from metrics.testing import assert_data

METRICS_DIR = Path(metrics.__file__).resolve().parent
REQUIRED_KEYS = {
    "win_rate", "won_revenue", "avg_won_deal", "sales_cycle", "funnel_conversion", "time_in_stage",
    "stalled", "bottleneck", "leaderboard", "abc_tier", "rfm", "coverage", "attainment", "pacing",
    "pipeline_coverage", "forecast_weighted", "forecast_historical", "forecast_run_rate",
    "lead_conversion", "retention", "cross_sell", "quality_score",
}


def _modules() -> list[object]:
    names = [m.name for m in pkgutil.iter_modules([str(METRICS_DIR)])]
    return [importlib.import_module(f"metrics.{name}") for name in sorted(names)]


def _public_functions() -> list[tuple[str, object]]:
    found = []
    for module in _modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and fn.__module__ == module.__name__:
                found.append((f"{module.__name__}.{name}", fn))
    return found


def test_there_are_public_functions_to_check() -> None:
    names = {name for name, _ in _public_functions()}
    assert {"metrics.kpis.report", "metrics.funnel.funnel", "metrics.tiering.abc_tiers"} <= names


@pytest.mark.parametrize(("name", "fn"), _public_functions(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_public_function_has_a_definition_docstring(name: str, fn: object) -> None:
    paragraph = first_paragraph(inspect.getdoc(fn))
    assert len(paragraph.split()) >= 8, f"{name}: first docstring paragraph is too short: {paragraph!r}"


def test_definitions_cover_every_required_metric() -> None:
    assert REQUIRED_KEYS <= set(metrics.DEFINITIONS)
    for key, text in metrics.DEFINITIONS.items():
        assert isinstance(text, str) and len(text.split()) >= 8, key
        assert "\n" not in text, key


def test_definitions_are_the_docstrings_of_their_functions() -> None:
    for key, fn in FUNCTIONS.items():
        assert metrics.DEFINITIONS[key] == first_paragraph(fn.__doc__)


def test_metrics_imports_only_polars_stdlib_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"polars", "metrics", "__future__"}
    for path in sorted(METRICS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                roots = [(node.module or "").split(".")[0]]
            else:
                continue
            for root in roots:
                assert root in allowed, f"{path.name} imports {root}"


def test_metrics_never_reads_the_clock() -> None:
    for path in sorted(METRICS_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        for banned in ("date.today(", "datetime.now(", "datetime.today(", "time.time("):
            assert banned not in text, f"{path.name} calls {banned}"


# ----------------------------------------------------------------------------- schema helpers
def test_empty_frames_have_the_canonical_columns() -> None:
    for table, schema in SCHEMAS.items():
        df = empty(table)
        assert df.height == 0
        assert dict(df.schema) == schema


def test_frame_fills_missing_columns_and_casts_types() -> None:
    df = frame("deals", {"deal_id": ["d1"], "amount": [5], "created_on": ["2024-01-31"]})
    assert df.schema["amount"] == pl.Float64()
    assert df["created_on"].to_list() == [date(2024, 1, 31)]
    assert df["closed_on"].to_list() == [None]
    assert list(df.columns[: len(SCHEMAS["deals"])]) == list(SCHEMAS["deals"])


def test_conform_keeps_extra_columns() -> None:
    df = conform(pl.DataFrame({"deal_id": ["d1"], "extra": [1]}), "deals")
    assert "extra" in df.columns and "status" in df.columns


# ----------------------------------------------------------------------------- shared helpers
def test_earlier_period_moves_whole_months_by_months() -> None:
    # March 2024 (31 days) -> February 2024 (29 days): a calendar month, not 31 days back
    assert _common.previous_period(date(2024, 3, 1), date(2024, 3, 31)) == (date(2024, 2, 1), date(2024, 2, 29))
    # Q2 2024 -> Q1 2024, and two steps back -> Q4 2023
    assert _common.earlier_period(date(2024, 4, 1), date(2024, 6, 30)) == (date(2024, 1, 1), date(2024, 3, 31))
    assert _common.earlier_period(date(2024, 4, 1), date(2024, 6, 30), 2) == (date(2023, 10, 1), date(2023, 12, 31))
    # 10 days (Mar 5..14) -> the 10 days before (Feb 24..Mar 4, 2024 is a leap year)
    assert _common.previous_period(date(2024, 3, 5), date(2024, 3, 14)) == (date(2024, 2, 24), date(2024, 3, 4))
    assert _common.previous_period(None, date(2024, 3, 14)) is None


def test_elapsed_share_counts_as_of_as_elapsed() -> None:
    # April has 30 days; on April 15 fifteen have passed -> 0.5
    assert _common.elapsed_share(date(2024, 4, 1), date(2024, 4, 30), date(2024, 4, 15)) == 0.5
    assert _common.elapsed_share(date(2024, 4, 1), date(2024, 4, 30), date(2024, 3, 1)) == 0.0
    assert _common.elapsed_share(date(2024, 4, 1), date(2024, 4, 30), date(2024, 9, 1)) == 1.0


def test_ratio_is_null_when_dividing_by_zero() -> None:
    df = pl.DataFrame({"a": [1, 1, 1], "b": [2, 0, None]})
    assert df.select(_common.ratio(pl.col("a"), pl.col("b")))["a"].to_list() == [0.5, None, None]


def test_total_target_prefers_company_then_reps_then_teams() -> None:
    tg = frame("targets", {
        "scope": ["company", "rep", "rep", "team"],
        "scope_id": ["", "r1", "r2", "t1"],
        "period_start": ["2024-01-01"] * 4,
        "period_end": ["2024-01-31"] * 4,
        "measure": ["revenue"] * 4,
        "value": [1000.0, 300.0, 400.0, 900.0],
    })
    assert _common.total_target(tg, None, None) == 1000.0  # company only, never 1000 + 700 + 900
    no_company = tg.filter(pl.col("scope") != "company")
    assert _common.total_target(no_company, None, None) == 700.0  # 300 + 400 (team ignored)
    assert _common.total_target(no_company.filter(pl.col("scope") == "team"), None, None) == 900.0
    # prorated: Jan 1..10 is 10 of January's 31 days -> 1000 * 10 / 31
    assert _common.total_target(tg, date(2024, 1, 1), date(2024, 1, 10)) == pytest.approx(1000 * 10 / 31)
    assert _common.total_target(tg.clear(), None, None) is None


def test_deals_in_scope_cohorts() -> None:
    deals = _common.prepare_deals(frame("deals", {
        "deal_id": ["won_in", "lost_out", "open_old", "open_new"],
        "status": ["won", "lost", "open", "open"],
        "created_on": ["2024-01-01", "2023-01-01", "2023-06-01", "2024-05-01"],
        "closed_on": ["2024-02-01", "2023-03-01", None, None],
    }))
    pick = lambda cohort: sorted(  # noqa: E731
        _common.deals_in_scope(deals, date(2024, 1, 1), date(2024, 3, 31), date(2024, 6, 1), cohort)["deal_id"]
    )
    # open pipeline is taken at as_of (Jun 1): both open deals, whatever the period
    assert pick("closed_and_open") == ["open_new", "open_old", "won_in"]
    assert pick("closed") == ["won_in"]
    assert pick("created") == ["won_in"]


# ----------------------------------------------------------------------------- empty inputs
def test_every_metric_accepts_empty_tables() -> None:
    t = {name: empty(name) for name in SCHEMAS}
    as_of, start, end = date(2024, 6, 15), date(2024, 4, 1), date(2024, 6, 30)
    period = {"period_from": start, "period_to": end}
    outputs = [
        kpis.win_rate(t["deals"], **period),
        kpis.won_revenue(t["deals"], **period),
        kpis.avg_won_deal(t["deals"], **period),
        kpis.sales_cycle(t["deals"], **period),
        kpis.deal_summary(t["deals"], as_of=as_of, **period),
        kpis.lead_conversion(t["leads"], as_of=as_of, **period),
        kpis.retention(t["deals"], first_from=start, first_to=end, second_from=start, second_to=end),
        kpis.cross_sell(t["deals"], **period),
        funnel.funnel(t["deals"], t["stage_history"], t["stages"], as_of=as_of, **period),
        funnel.time_in_stage(t["deals"], t["stage_history"], t["stages"], as_of=as_of),
        funnel.stalled(t["deals"], t["stage_history"], t["stages"], as_of=as_of),
        funnel.bottleneck(t["deals"], t["stage_history"], t["stages"], t["reps"], as_of=as_of, **period),
        funnel.furthest_stage(t["deals"], t["stage_history"], t["stages"]),
        leaderboard.leaderboard(t["deals"], t["reps"], t["activities"], t["targets"], as_of=as_of, **period),
        tiering.abc_tiers(t["deals"], t["accounts"]),
        tiering.rfm(t["deals"], as_of=as_of),
        tiering.coverage(tiering.abc_tiers(t["deals"], t["accounts"]), t["deals"], t["activities"], as_of=as_of),
        tiering.neglected_accounts(tiering.abc_tiers(t["deals"], t["accounts"]), t["deals"], t["activities"], as_of=as_of),
        forecast.plan_vs_actual(t["deals"], t["targets"], t["reps"], t["activities"], as_of=as_of, **period),
        forecast.forecasts(t["deals"], t["stage_history"], t["stages"], as_of=as_of, **period),
        quality.quality_issues(t["deals"], t["stage_history"], t["stages"], as_of=as_of),
        quality.quality_checks(t["deals"], t["stage_history"], t["stages"], as_of=as_of),
    ]
    assert all(isinstance(o, pl.DataFrame) for o in outputs)
    assert_data(kpis.win_rate(t["deals"], **period), {"won_deals": [0], "lost_deals": [0], "win_rate": [None]})
    assert_data(tiering.tier_summary(tiering.abc_tiers(t["deals"], t["accounts"])),
                {"tier": ["A", "B", "C", "none"], "accounts": [0, 0, 0, 0], "revenue": [0.0] * 4})
    assert_data(quality.quality_score(t["deals"], t["stage_history"], t["stages"], as_of=as_of), {"score": [None]})
    assert_data(forecast.forecasts(t["deals"], t["stage_history"], t["stages"], as_of=as_of, **period),
                {"method": ["weighted", "historical", "run_rate"], "forecast": [0.0, 0.0, 0.0]})

"""Golden tests of plan vs actual (attainment, pacing, coverage) and the three forecasts."""
from __future__ import annotations

import math
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import forecast
from metrics.schema import empty, frame
from metrics.testing import assert_data

Q2 = {"period_from": date(2024, 4, 1), "period_to": date(2024, 6, 30)}
AS_OF = date(2024, 5, 15)
Z = forecast.Z_80

STAGES = frame("stages", {
    "name": ["Qualify", "Propose", "Won", "Lost"], "position": [1, 2, 3, 4], "probability": [0.2, 0.5, 1.0, 0.0],
    "is_won": [False, False, True, False], "is_lost": [False, False, False, True],
})


@pytest.fixture
def deals() -> pl.DataFrame:
    rows = [
        # id, owner, status, stage, amount, probability, created, closed_on, close_date
        ("w1", "r1", "won", "Won", 1500.0, None, "2024-03-01", "2024-04-10", None),
        ("w2", "r2", "won", "Won", 1550.0, None, "2024-04-01", "2024-05-05", None),
        ("l1", "r1", "lost", "Qualify", 100.0, None, "2024-03-01", "2024-04-03", None),
        ("l2", "r2", "lost", "Propose", 100.0, None, "2024-04-20", "2024-05-01", None),
        ("o1", "r1", "open", "Propose", 2000.0, 0.25, "2024-05-01", None, "2024-05-20"),
        ("o2", "r2", "open", "Qualify", 1000.0, None, "2024-03-01", None, "2024-06-10"),
        ("o3", "r1", "open", "Propose", 600.0, None, "2024-03-01", None, "2024-06-01"),
        ("o4", "r1", "open", "Propose", 9999.0, 0.9, "2024-03-01", None, "2024-07-05"),  # closes after Q2
    ]
    cols = ["deal_id", "owner_rep_id", "status", "stage", "amount", "probability", "created_on", "closed_on", "close_date"]
    return frame("deals", [dict(zip(cols, r, strict=True)) for r in rows])


@pytest.fixture
def reps() -> pl.DataFrame:
    return frame("reps", {"rep_id": ["r1", "r2"], "team": ["T", "T"]})


def _targets(*rows: tuple[str, str, str, str, float]) -> pl.DataFrame:
    return frame("targets", [
        {"scope": s, "scope_id": i, "period_start": a, "period_end": b, "measure": "revenue", "value": v}
        for s, i, a, b, v in rows
    ])


def test_plan_by_month_spreads_a_quarterly_target_by_days(deals, reps) -> None:
    targets = _targets(("company", "", "2024-04-01", "2024-06-30", 9100.0))
    out = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF, **Q2)
    # Q2 has 91 days: April 9100 * 30/91 = 3000, May * 31/91 = 3100, June 3000
    # actual: April w1 1500; May w2 1550; June 0
    # expected attainment at May 15: April over (1.0), May 15/31, June not started (0)
    # pipeline (open at as_of, close date in the month): May o1 2000; June o2 1000 + o3 600
    # historical win rate up to May 15: 2 won / 4 closed = 0.5 -> pipeline needed = remaining / 0.5
    assert_data(out, {
        "scope": ["company"] * 3, "scope_id": [""] * 3,
        "period_start": [date(2024, 4, 1), date(2024, 5, 1), date(2024, 6, 1)],
        "target": [3000.0, 3100.0, 3000.0],
        "actual": [1500.0, 1550.0, 0.0],
        "attainment": [0.5, 0.5, 0.0],
        "gap": [1500.0, 1550.0, 3000.0],
        "expected_attainment": [1.0, 15 / 31, 0.0],
        "pace": [0.5, 0.5 / (15 / 31), None],
        "pipeline": [0.0, 2000.0, 1600.0],
        "remaining": [1500.0, 1550.0, 3000.0],
        "pipeline_coverage": [0.0, 2000 / 1550, 1600 / 3000],
        "pipeline_needed": [3000.0, 3100.0, 6000.0],
    })


def test_plan_for_the_quarter_as_one_bucket(deals, reps) -> None:
    targets = _targets(("company", "", "2024-04-01", "2024-06-30", 9100.0))
    out = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF, grain="quarter", **Q2)
    # 45 of 91 days elapsed (Apr 1..May 15); actual 1500 + 1550 = 3050
    assert_data(out, {"target": [9100.0], "actual": [3050.0], "expected_attainment": [45 / 91],
                      "pipeline": [3600.0], "pipeline_coverage": [3600 / 6050]})


def test_company_plan_falls_back_to_the_sum_of_rep_targets(deals, reps) -> None:
    targets = _targets(("rep", "r1", "2024-04-01", "2024-04-30", 1000.0), ("rep", "r2", "2024-04-01", "2024-04-30", 500.0),
                       ("team", "T", "2024-04-01", "2024-04-30", 7777.0))
    out = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF,
                                  period_from=date(2024, 4, 1), period_to=date(2024, 4, 30))
    # no company target: 1000 + 500 = 1500 (the team target is not added on top)
    assert_data(out, {"target": [1500.0], "actual": [1500.0], "attainment": [1.0], "remaining": [0.0],
                      "pipeline_coverage": [None], "pipeline_needed": [0.0]})


def test_plan_per_rep_and_per_team(deals, reps) -> None:
    targets = _targets(("rep", "r1", "2024-04-01", "2024-04-30", 1000.0), ("rep", "r2", "2024-04-01", "2024-04-30", 0.0))
    april = {"period_from": date(2024, 4, 1), "period_to": date(2024, 4, 30)}
    per_rep = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF, scope="rep", **april)
    # r1 won w1 1500 of 1000 -> 1.5, over-achieved (gap -500, nothing remaining);
    # r2 has a zero target and no April win -> attainment undefined
    assert_data(per_rep, {"scope_id": ["r1", "r2"], "target": [1000.0, 0.0], "actual": [1500.0, 0.0],
                          "attainment": [1.5, None], "gap": [-500.0, 0.0], "remaining": [0.0, 0.0]})
    team = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF, scope="team", **april)
    # team T has no own target: 1000 + 0
    assert_data(team, {"scope_id": ["T"], "target": [1000.0], "actual": [1500.0]})


def test_plan_of_deal_counts_and_activities(deals, reps) -> None:
    targets = frame("targets", {"scope": ["company", "company"], "scope_id": ["", ""],
                                "period_start": ["2024-04-01"] * 2, "period_end": ["2024-04-30"] * 2,
                                "measure": ["deals", "activities"], "value": [4.0, 10.0]})
    april = {"period_from": date(2024, 4, 1), "period_to": date(2024, 4, 30), "grain": None}
    won = forecast.plan_vs_actual(deals, targets, reps, empty("activities"), as_of=AS_OF, measure="deals", **april)
    assert_data(won, {"target": [4.0], "actual": [1.0], "attainment": [0.25]})  # one deal won in April
    acts = frame("activities", {"activity_id": ["1", "2"], "rep_id": ["r1", "r2"],
                                "occurred_at": ["2024-04-02 10:00:00", "2024-05-02 10:00:00"]})
    out = forecast.plan_vs_actual(deals, targets, reps, acts, as_of=AS_OF, measure="activities", **april)
    assert_data(out, {"target": [10.0], "actual": [1.0], "pipeline": [None]})


def test_weighted_forecast(deals) -> None:
    out = forecast.forecast_weighted(deals, STAGES, as_of=AS_OF, **Q2)
    # won so far (Apr 1..May 15): 1500 + 1550 = 3050
    # rest of Q2: o1 2000 x its own 0.25 = 500; o2 1000 x Qualify 0.2 = 200; o3 600 x Propose 0.5 = 300
    # (o4 closes in July) -> 1000. Variance 2000²·.25·.75 + 1000²·.2·.8 + 600²·.5·.5 = 1,000,000 -> sd 1000
    assert_data(out, {
        "method": ["weighted"], "won_to_date": [3050.0], "open_deals": [3], "open_pipeline": [3600.0],
        "expected_rest": [1000.0], "low_rest": [0.0], "high_rest": [1000 + Z * 1000],
        "forecast": [4050.0], "forecast_low": [3050.0], "forecast_high": [4050 + Z * 1000],
    })
    stage_only = forecast.forecast_weighted(deals, STAGES, as_of=AS_OF, use_deal_probability=False, **Q2)
    assert_data(stage_only, {"expected_rest": [2000 * 0.5 + 200 + 300]})


def test_weighted_forecast_by_owner(deals) -> None:
    out = forecast.forecast_weighted(deals, STAGES, as_of=AS_OF, by="owner_rep_id", **Q2)
    # r1: won 1500; rest o1 500 + o3 300. r2: won 1550; rest o2 200
    assert_data(out, {"owner_rep_id": ["r1", "r2"], "won_to_date": [1500.0, 1550.0], "expected_rest": [800.0, 200.0]})


def test_historical_forecast_learns_by_stage_and_age(deals) -> None:
    # closed deals (furthest stage index, age at close): w1 (Propose=1, 40 days), w2 (1, 34),
    # l1 (lost in Qualify=0, 33), l2 (lost in Propose=1, 11). Age buckets start at 0 and 30 days.
    # Win rate among deals that reached a stage and lived at least the bucket's start:
    #   Propose, >= 0 days: w1 w2 l2 -> 2/3 (3 deals); Propose, >= 30 days: w1 w2 -> 1.0 (2 deals)
    #   Qualify, >= 30 days: w1 w2 l1 -> 2/3 (3 deals)
    # open deals: o1 Propose, age 14 -> 2/3; o2 Qualify, age 75 -> 2/3; o3 Propose, age 75 -> 1.0
    out = forecast.forecast_historical(deals, empty("stage_history"), STAGES, as_of=AS_OF,
                                       age_edges=(0, 30), min_deals=2, **Q2)
    expected = 2000 * 2 / 3 + 1000 * 2 / 3 + 600 * 1.0
    var = (2000**2 + 1000**2) * (2 / 3) * (1 / 3)
    # variance (2000² + 1000²) · 2/3 · 1/3 -> sd 1054; the high end 2600 + 1.2816 · 1054 = 3951 is
    # capped at the 3600 of open pipeline (the rest of the period cannot bring more)
    assert_data(out, {"method": ["historical"], "won_to_date": [3050.0], "expected_rest": [expected],
                      "low_rest": [expected - Z * math.sqrt(var)],
                      "high_rest": [min(expected + Z * math.sqrt(var), 3600.0)]})
    # with min_deals=3, o3's cell (2 deals) is too thin: Propose over all ages, 2/3 (3 deals)
    thin = forecast.forecast_historical(deals, empty("stage_history"), STAGES, as_of=AS_OF,
                                        age_edges=(0, 30), min_deals=3, **Q2)
    assert_data(thin, {"expected_rest": [(2000 + 1000 + 600) * 2 / 3]})


def test_run_rate_forecast(deals) -> None:
    out = forecast.forecast_run_rate(deals, as_of=AS_OF, **Q2)
    # 45 of 91 days elapsed, 46 left; won 3050 -> 3050 / 45 per day -> 3050 * 46 / 45 for the rest
    # daily won revenue over 45 days: 1500, 1550 and 43 zeros; variance = E[x²] - mean²
    mean = 3050 / 45
    var = (1500**2 + 1550**2) / 45 - mean**2
    spread = Z * math.sqrt(var * 46)
    assert_data(out, {"method": ["run_rate"], "expected_rest": [mean * 46],
                      "low_rest": [mean * 46 - spread], "high_rest": [mean * 46 + spread],
                      "forecast": [3050 + mean * 46], "open_deals": [3]})
    trailing = forecast.forecast_run_rate(deals, as_of=AS_OF, basis="trailing", trailing_days=30, **Q2)
    # last 30 days (Apr 16..May 15) hold only w2: 1550 / 30 per day x 46 days
    assert_data(trailing, {"expected_rest": [1550 * 46 / 30], "won_to_date": [3050.0]})


def test_forecasts_after_the_period_ended(deals) -> None:
    out = forecast.forecasts(deals, empty("stage_history"), STAGES, as_of=date(2024, 7, 10), **Q2)
    # nothing is left to close: every method forecasts what was won in Q2, 1500 + 1550
    assert_data(out, {"method": ["weighted", "historical", "run_rate"], "expected_rest": [0.0] * 3,
                      "forecast": [3050.0] * 3, "forecast_low": [3050.0] * 3, "forecast_high": [3050.0] * 3})


def test_forecast_needs_a_bounded_period(deals) -> None:
    with pytest.raises(ValueError):
        forecast.forecast_weighted(deals, STAGES, as_of=AS_OF, period_from=None, period_to=date(2024, 6, 30))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "won", "lost"]), st.sampled_from(["Qualify", "Propose", "Won", "Lost"]),
                          st.one_of(st.none(), st.floats(0, 1e5)), st.integers(0, 120), st.integers(0, 120)), max_size=30))
def test_forecast_ranges_bracket_the_expectation(rows) -> None:
    deals = frame("deals", [
        {"deal_id": str(i), "status": s, "stage": stg, "amount": a,
         "created_on": date.fromordinal(date(2024, 2, 1).toordinal() + c),
         "close_date": date.fromordinal(date(2024, 3, 1).toordinal() + x),
         "closed_on": None if s == "open" else date.fromordinal(date(2024, 3, 1).toordinal() + x)}
        for i, (s, stg, a, c, x) in enumerate(rows)
    ]) if rows else empty("deals")
    out = forecast.forecasts(deals, empty("stage_history"), STAGES, as_of=AS_OF, **Q2)
    for row in out.iter_rows(named=True):
        assert 0 <= row["low_rest"] <= row["expected_rest"] + 1e-6
        assert row["expected_rest"] <= row["high_rest"] + 1e-6
        if row["method"] != "run_rate":
            assert row["high_rest"] <= row["open_pipeline"] + 1e-6


def test_historical_forecast_from_reach_equals_from_history(deals) -> None:
    """l1 lost in Qualify but its history shows it in Propose; o2 sits in Qualify after Propose: the
    reach of the history (metrics.funnel.history_reach) gives the same forecast as the rows."""
    from metrics.funnel import history_reach

    history = frame("stage_history", {
        "deal_id": ["l1", "l1", "o2", "o2", "w1"],
        "stage": ["Qualify", "Propose", "Propose", "Qualify", "Won"],
        "entered_at": ["2024-03-01 00:00:00", "2024-03-20 00:00:00", "2024-03-05 00:00:00",
                       "2024-04-01 00:00:00", "2024-04-10 00:00:00"],
    })
    kw = dict(as_of=AS_OF, age_edges=(0, 30), min_deals=2, **Q2)
    rows = forecast.forecast_historical(deals, history, STAGES, **kw)
    reach = forecast.forecast_historical(deals, None, STAGES, reach=history_reach(history, STAGES), **kw)
    assert rows.equals(reach)
    plain = forecast.forecast_historical(deals, empty("stage_history"), STAGES, **kw)
    assert rows["forecast"][0] != plain["forecast"][0]   # the history does change the rates here

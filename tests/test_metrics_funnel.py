"""Golden and property tests of the funnel, time in stage, stalled deals and the bottleneck."""
from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import funnel
from metrics.schema import empty, frame
from metrics.testing import assert_data

AS_OF = date(2024, 4, 1)


def _stages(*open_names: str) -> pl.DataFrame:
    names = [*open_names, "Won", "Lost"]
    n = len(open_names)
    return frame("stages", {
        "name": names, "position": list(range(1, len(names) + 1)),
        "probability": [round((i + 1) / (n + 1), 2) for i in range(n)] + [1.0, 0.0],
        "is_won": [False] * n + [True, False], "is_lost": [False] * n + [False, True],
    })


STAGES = _stages("Lead", "Qualify", "Propose")


@pytest.fixture
def deals() -> pl.DataFrame:
    return frame("deals", {
        "deal_id":      ["d1", "d2", "d3", "d4", "d5"],
        "owner_rep_id": ["r1", "r1", "r2", "r2", "r1"],
        "amount":       [100.0, 200.0, 300.0, None, 50.0],
        "stage":        ["Won", "Lost", "Propose", "Lost", "Lead"],
        "status":       ["won", "lost", "open", "lost", "open"],
        "created_on":   ["2024-01-01"] * 5,
        "closed_on":    ["2024-02-01", "2024-02-10", None, "2024-03-01", None],
        "close_date":   [None, None, "2024-05-01", None, "2024-04-01"],
    })


@pytest.fixture
def history() -> pl.DataFrame:
    return frame("stage_history", {
        "deal_id": ["d1", "d1", "d1", "d2", "d2", "d3", "d3"],
        "stage": ["Lead", "Qualify", "Won", "Lead", "Qualify", "Lead", "Propose"],
        "entered_at": ["2024-01-01 09:00:00", "2024-01-05 17:00:00", "2024-02-01 08:00:00",
                       "2024-01-01 00:00:00", "2024-01-11 00:00:00", "2024-01-01 00:00:00",
                       "2024-01-21 00:00:00"],
    })


def test_funnel_reached_and_conversion(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # furthest stage: d1 won -> every stage; d2 lost, history up to Qualify; d3 open in Propose
    # (skipped Qualify in history, but Propose implies it); d4 lost without history -> first stage;
    # d5 open in Lead.  reached: Lead 5, Qualify 3 (d1 d2 d3), Propose 2 (d1 d3)
    # conversion: 3/5, 2/3, and Propose -> won: 1 won (d1) / 2
    # median days: Lead: d1 4, d2 10, d3 20 -> 10 (p90: 10 + 0.8 * 10 = 18);
    # Qualify: d1 Jan 5 -> Feb 1 = 27, d2 Jan 11 -> close Feb 10 = 30 -> 28.5; Propose: d3 still there
    out = funnel.funnel(deals, history, STAGES, as_of=AS_OF)
    assert_data(out, {
        "stage": ["Lead", "Qualify", "Propose"],
        "next_stage": ["Qualify", "Propose", "Won"],
        "reached": [5, 3, 2],
        "conversion_to_next": [3 / 5, 2 / 3, 1 / 2],
        "pct_of_first": [1.0, 3 / 5, 2 / 5],
        "median_days": [10.0, 28.5, None],
        "p90_days": [18.0, 29.7, None],
    })


def test_funnel_strict_counts_only_stages_entered_in_order(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # strict prefix: d1 Lead, Qualify (no Propose in history) -> 2 stages; d2 Lead, Qualify -> 2;
    # d3 Lead then Propose (Qualify missing) -> 1; d4, d5 no history -> first stage only
    # reached: Lead 5, Qualify 2, Propose 0 -> 2/5, 0/2, Propose -> won undefined (nothing reached it)
    out = funnel.funnel(deals, history, STAGES, as_of=AS_OF, method="strict")
    assert_data(out, {"reached": [5, 2, 0], "conversion_to_next": [2 / 5, 0.0, None], "pct_of_first": [1.0, 0.4, 0.0]})


def test_strict_rejects_stages_entered_out_of_order() -> None:
    deals = frame("deals", {"deal_id": ["x"], "stage": ["Propose"], "status": ["open"]})
    # entered Qualify (Jan 2) before Lead (Jan 3): the ordered prefix stops after Lead
    history = frame("stage_history", {
        "deal_id": ["x", "x", "x"], "stage": ["Qualify", "Lead", "Propose"],
        "entered_at": ["2024-01-02 00:00:00", "2024-01-03 00:00:00", "2024-01-04 00:00:00"],
    })
    assert_data(funnel.funnel(deals, history, STAGES, as_of=AS_OF, method="strict"), {"reached": [1, 0, 0]})
    assert_data(funnel.funnel(deals, history, STAGES, as_of=AS_OF), {"reached": [1, 1, 1]})


def test_funnel_by_owner(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # r1: d1 (all), d2 (to Qualify), d5 (Lead) -> 3, 2, 1; Propose -> won 1/1
    # r2: d3 (Propose), d4 (Lead) -> 2, 1, 1; Propose -> won 0/1
    out = funnel.funnel(deals, history, STAGES, as_of=AS_OF, by="owner_rep_id")
    assert_data(out, {
        "owner_rep_id": ["r1"] * 3 + ["r2"] * 3,
        "reached": [3, 2, 1, 2, 1, 1],
        "conversion_to_next": [2 / 3, 1 / 2, 1.0, 1 / 2, 1.0, 0.0],
    })


def test_funnel_period_uses_close_dates_and_open_pipeline(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # February: d1 (won Feb 1), d2 (lost Feb 10) + open pipeline at as_of (d3, d5) -> 4 deals
    out = funnel.funnel(deals, history, STAGES, as_of=AS_OF, period_from=date(2024, 2, 1), period_to=date(2024, 2, 29))
    assert_data(out, {"reached": [4, 3, 2]})
    # closed cohort: only d1 and d2 -> Lead 2, Qualify 2, Propose 1
    closed = funnel.funnel(deals, history, STAGES, as_of=AS_OF, period_from=date(2024, 2, 1),
                           period_to=date(2024, 2, 29), cohort="closed")
    assert_data(closed, {"reached": [2, 2, 1], "conversion_to_next": [1.0, 0.5, 1.0]})


def test_funnel_with_a_single_stage() -> None:
    stages = _stages("Only")
    deals = frame("deals", {"deal_id": ["a", "b", "c"], "stage": ["Won", "Lost", "Only"], "status": ["won", "lost", "open"]})
    # everyone reached the only stage; its next step is winning: 1 won of 3
    out = funnel.funnel(deals, empty("stage_history"), stages, as_of=AS_OF)
    assert_data(out, {"stage": ["Only"], "next_stage": ["Won"], "reached": [3], "conversion_to_next": [1 / 3]})


def test_funnel_of_an_empty_period_lists_the_stages_with_zeros(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    out = funnel.funnel(deals.filter(pl.col("status") != "open"), history, STAGES, as_of=AS_OF,
                        period_from=date(2030, 1, 1), period_to=date(2030, 1, 31))
    assert out.columns == ["stage", "stage_index", "next_stage", "reached", "conversion_to_next",
                           "pct_of_first", "median_days", "p90_days"]
    assert_data(out, {"stage": ["Lead", "Qualify", "Propose"], "reached": [0, 0, 0],
                      "conversion_to_next": [None] * 3, "median_days": [None] * 3})
    # without any stage configured there is no funnel at all
    assert funnel.funnel(deals, history, empty("stages"), as_of=AS_OF).height == 0


def test_time_in_stage_adds_up_repeated_visits() -> None:
    deals = frame("deals", {"deal_id": ["a", "b"], "stage": ["Won", "Qualify"], "status": ["won", "open"],
                            "closed_on": ["2024-01-20", None]})
    # a: Lead Jan 1 -> Qualify Jan 3 -> Lead Jan 6 -> Qualify Jan 10 -> Won Jan 20
    #    Lead = 2 + 4 = 6 days, Qualify = 3 + 10 = 13 days
    # b: Lead Jan 1 (09:00) -> Qualify Jan 1 (17:00) = 0 days (same date); Qualify still running
    history = frame("stage_history", {
        "deal_id": ["a"] * 5 + ["b", "b"],
        "stage": ["Lead", "Qualify", "Lead", "Qualify", "Won", "Lead", "Qualify"],
        "entered_at": ["2024-01-01 00:00:00", "2024-01-03 00:00:00", "2024-01-06 00:00:00",
                       "2024-01-10 00:00:00", "2024-01-20 00:00:00", "2024-01-01 09:00:00",
                       "2024-01-01 17:00:00"],
    })
    out = funnel.time_in_stage(deals, history, STAGES, as_of=AS_OF)
    # Lead: [6, 0] -> median 3; Qualify: [13] (b's stay is not finished); Propose: no data
    assert_data(out, {"stage": ["Lead", "Qualify", "Propose"], "deals": [2, 1, 0],
                      "median_days": [3.0, 13.0, None], "p90_days": [5.4, 13.0, None]})


def test_stalled_uses_p75_of_completed_stays(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # completed Lead stays: 4, 10, 20 -> p75 (linear, position 1.5) = 10 + 0.5 * 10 = 15 days
    # d5 is open in Lead, no history: measured from creation Jan 1 -> Apr 1 = 91 days > 15
    # d3 is open in Propose: no completed Propose stay -> no threshold -> never flagged
    out = funnel.stalled(deals, history, STAGES, as_of=AS_OF)
    assert_data(out, {"deal_id": ["d5"], "days_in_stage": [91], "threshold_days": [15.0],
                      "over_by_days": [76.0], "entered_source": ["created"]})


def test_stalled_threshold_override(deals: pl.DataFrame, history: pl.DataFrame) -> None:
    # d3 entered Propose Jan 21 -> Apr 1 = 71 days; with a 60-day Propose threshold it is stalled
    # d5's Lead threshold overridden to 100 days: 91 is not above it
    out = funnel.stalled(deals, history, STAGES, as_of=AS_OF, thresholds={"Propose": 60, "Lead": 100})
    assert_data(out, {"deal_id": ["d3"], "days_in_stage": [71], "over_by_days": [11.0], "entered_source": ["history"]})


def _outcomes(team: str, owner: str, results: list[tuple[str, str, float]], closed: str) -> list[dict]:
    """Deals from (status, stage, amount): lost deals keep the open stage they were lost in."""
    return [
        {"deal_id": f"{team}{i}", "owner_rep_id": owner, "status": status, "stage": stage,
         "amount": amount, "closed_on": closed}
        for i, (status, stage, amount) in enumerate(results)
    ]


def test_bottleneck_against_the_median_of_teams() -> None:
    stages = _stages("S1", "S2")
    reps = frame("reps", {"rep_id": ["x", "y", "z"], "team": ["X", "Y", "Z"]})
    rows = (
        # X: 4 reach S1, 2 reach S2, 1 won -> 2/4 = 0.5, 1/2 = 0.5
        _outcomes("X", "x", [("won", "Won", 1000.0), ("lost", "S2", 1.0), ("lost", "S1", 1.0), ("lost", "S1", 1.0)], "2024-03-10")
        # Y: 4, 3, 2 won -> 0.75, 2/3
        + _outcomes("Y", "y", [("won", "Won", 500.0), ("won", "Won", 500.0), ("lost", "S2", 1.0), ("lost", "S1", 1.0)], "2024-03-10")
        # Z: 4, 4, 2 won -> 1.0, 0.5
        + _outcomes("Z", "z", [("won", "Won", 10.0), ("won", "Won", 10.0), ("lost", "S2", 1.0), ("lost", "S2", 1.0)], "2024-03-10")
    )
    out = funnel.bottleneck(frame("deals", rows), empty("stage_history"), stages, reps, as_of=AS_OF,
                            period_from=date(2024, 3, 1), period_to=date(2024, 3, 31))
    # benchmarks: S1->S2 median(0.5, 0.75, 1.0) = 0.75; S2->Won median(0.5, 2/3, 0.5) = 0.5
    # X S1->S2: (0.75 - 0.5) * 4 entering * 1000 average won deal = 1000 -> the bottleneck
    top = out.row(0, named=True)
    assert (top["team"], top["from_stage"], top["to_stage"]) == ("X", "S1", "S2")
    assert top["revenue_cost"] == pytest.approx(1000.0) and top["is_bottleneck"]
    assert top["benchmark_basis"] == "teams"
    assert out.filter(pl.col("is_bottleneck"))["team"].to_list() == ["X"]
    y_last = out.filter((pl.col("team") == "Y") & (pl.col("from_stage") == "S2")).row(0, named=True)
    # Y S2->Won: 0.5 - 2/3 = -1/6 (above benchmark) * 3 * 500 = -250
    assert y_last["gap"] == pytest.approx(-1 / 6) and y_last["revenue_cost"] == pytest.approx(-250.0)


def test_bottleneck_against_earlier_periods_with_one_team() -> None:
    stages = _stages("S1", "S2")
    reps = frame("reps", {"rep_id": ["r"], "team": ["T"]})
    rows = (
        # March: 4, 2, 1 won -> 0.5, 0.5; average won deal 1000
        _outcomes("m", "r", [("won", "Won", 1000.0), ("lost", "S2", 0.0), ("lost", "S1", 0.0), ("lost", "S1", 0.0)], "2024-03-15")
        # February: 2, 2, 2 won -> 1.0, 1.0
        + _outcomes("f", "r", [("won", "Won", 10.0), ("won", "Won", 10.0)], "2024-02-15")
        # January: 4, 3, 1 won -> 0.75, 1/3
        + _outcomes("j", "r", [("won", "Won", 10.0), ("lost", "S2", 0.0), ("lost", "S2", 0.0), ("lost", "S1", 0.0)], "2024-01-15")
    )
    out = funnel.bottleneck(frame("deals", rows), empty("stage_history"), stages, reps, as_of=AS_OF,
                            period_from=date(2024, 3, 1), period_to=date(2024, 3, 31), earlier_periods=2)
    # benchmarks over Feb and Jan: S1->S2 median(1.0, 0.75) = 0.875; S2->Won median(1.0, 1/3) = 2/3
    # S1->S2: (0.875 - 0.5) * 4 * 1000 = 1500; S2->Won: (2/3 - 0.5) * 2 * 1000 = 333.33
    assert_data(out, {
        "from_stage": ["S1", "S2"], "to_stage": ["S2", "Won"], "entering": [4, 2],
        "benchmark": [0.875, 2 / 3], "revenue_cost": [1500.0, 1000 / 3], "rank": [1, 2],
        "is_bottleneck": [True, False], "benchmark_basis": ["earlier_periods"] * 2,
    })


def test_bottleneck_without_a_bounded_period_has_no_benchmark() -> None:
    deals = frame("deals", _outcomes("a", "r", [("won", "Won", 5.0), ("lost", "S1", 0.0)], "2024-03-15"))
    out = funnel.bottleneck(deals, empty("stage_history"), _stages("S1", "S2"), frame("reps", {"rep_id": ["r"]}), as_of=AS_OF)
    assert out["benchmark"].to_list() == [None, None] and not any(out["is_bottleneck"])


# ----------------------------------------------------------------------------- properties
@st.composite
def pipelines(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    n_stages = draw(st.integers(min_value=1, max_value=4))
    names = [f"S{i}" for i in range(n_stages)]
    deals, history = [], []
    for i in range(draw(st.integers(min_value=0, max_value=25))):
        status = draw(st.sampled_from(["open", "won", "lost"]))
        current = draw(st.sampled_from(names + ["Won", "Lost", "Unknown"]))
        deals.append({"deal_id": f"d{i}", "status": status, "stage": current,
                      "created_on": date(2024, 1, 1), "closed_on": None if status == "open" else date(2024, 3, 1)})
        steps = draw(st.lists(st.tuples(st.sampled_from(names + ["Won", "Lost"]), st.integers(0, 60)), max_size=5))
        for stage, day in steps:
            history.append({"deal_id": f"d{i}", "stage": stage, "entered_at": datetime(2024, 1, 1) + timedelta(days=day)})
    hist = frame("stage_history", history).unique(["deal_id", "stage", "entered_at"]) if history else empty("stage_history")
    return (frame("deals", deals) if deals else empty("deals")), hist, _stages(*names)


@settings(max_examples=60, deadline=None)
@given(pipelines(), st.sampled_from(["reached", "strict"]))
def test_conversions_are_shares_and_reached_never_increases(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], method: str
) -> None:
    deals, history, stages = data
    out = funnel.funnel(deals, history, stages, as_of=AS_OF, method=method)  # type: ignore[arg-type]
    conversions = [c for c in out["conversion_to_next"].to_list() if c is not None]
    assert all(0.0 <= c <= 1.0 for c in conversions)
    reached = out["reached"].to_list()
    assert all(a >= b for a, b in zip(reached, reached[1:]))
    if deals.height:
        assert reached[0] == deals.height  # every deal entered the pipeline
    days = [d for d in out["median_days"].to_list() if d is not None]
    assert all(d >= 0 for d in days)


@settings(max_examples=40, deadline=None)
@given(pipelines(), st.lists(st.sampled_from(["r1", "r2", None]), min_size=25, max_size=25),
       st.sampled_from([(None, None), (date(2024, 2, 1), date(2024, 3, 31))]))
def test_funnel_set_equals_one_funnel_per_method_and_grouping(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], owners: list[str | None], period: tuple
) -> None:
    """funnel_set gives, for every (method, grouping), the table funnel() gives for that pair on the
    deals whose group is known (a team or rep compared side by side leaves out unassigned deals)."""
    deals, history, stages = data
    deals = deals.with_columns(pl.Series("owner_rep_id", owners[:deals.height], dtype=pl.String),
                               pl.Series("team", [None if o is None else f"T{o}" for o in owners[:deals.height]],
                                         dtype=pl.String))
    window = {"as_of": AS_OF, "period_from": period[0], "period_to": period[1]}
    got = funnel.funnel_set(deals, history, stages, groupings=(None, "team", "owner_rep_id"), **window)
    assert set(got) == {(m, g) for m in ("reached", "strict") for g in (None, "team", "owner_rep_id")}
    for (method, by), table in got.items():
        pool = deals if by is None else deals.filter(pl.col(by).is_not_null())
        want = funnel.funnel(pool, history, stages, method=method, by=by, **window)  # type: ignore[arg-type]
        assert table.columns == want.columns
        assert_data(table, want.to_dict(as_series=False))


@settings(max_examples=40, deadline=None)
@given(pipelines(), st.lists(st.sampled_from(["r1", "r2", None]), min_size=25, max_size=25),
       st.sampled_from([(None, None), (date(2024, 2, 1), date(2024, 3, 31))]))
def test_funnel_set_from_reach_and_counted_stays_equals_the_history_rows(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], owners: list[str | None], period: tuple
) -> None:
    """What a store hands over instead of the history rows (each deal's stage reach, the cohort's
    completed stays counted per group) gives the same funnels and bottlenecks; ties in entry time,
    deals without history, re-entered stages and a single stage included."""
    from metrics._common import deals_in_scope, prepare_deals

    deals, history, stages = data
    deals = deals.with_columns(pl.Series("owner_rep_id", owners[:deals.height], dtype=pl.String),
                               pl.Series("team", [None if o is None else f"T{o}" for o in owners[:deals.height]],
                                         dtype=pl.String))
    window = {"as_of": AS_OF, "period_from": period[0], "period_to": period[1]}
    groupings = (None, "team", "owner_rep_id")
    reach = funnel.stage_reach(history, stages)
    cohort = deals_in_scope(prepare_deals(deals), period[0], period[1], AS_OF)
    stays = funnel.completed_stays(cohort, history, stages, by=["team", "owner_rep_id"])
    want = funnel.funnel_set(deals, history, stages, groupings=groupings, **window)
    got = funnel.funnel_set(deals, None, stages, groupings=groupings, reach=reach, stays=stays, **window)
    assert set(got) == set(want)
    for key, table in want.items():
        assert got[key].columns == table.columns
        assert_data(got[key], table.to_dict(as_series=False))
    # with the deals counted per group, status and reach (`reach_counts`), the deals are not read
    counts = funnel.reach_counts(deals, history, stages, by=("team", "owner_rep_id"), **window)
    from_reach = funnel.reach_counts(deals, None, stages, by=("team", "owner_rep_id"), reach=reach, **window)
    assert all(counts[m].equals(from_reach[m]) for m in ("reached", "strict"))
    counted = funnel.funnel_set(None, None, stages, groupings=groupings, stays=stays, counts=counts, **window)
    for key, table in want.items():
        assert counted[key].columns == table.columns
        assert_data(counted[key], table.to_dict(as_series=False))
    strict = funnel.furthest_stage(deals, history, stages, method="strict")
    by_reach = funnel.furthest_stage(deals, None, stages, method="strict", reach=reach)
    assert by_reach["max_idx"].to_list() == strict["max_idx"].to_list()
    reps = frame("reps", {"rep_id": ["r1", "r2"], "team": ["Tr1", "Tr2"]})
    for method in ("reached", "strict"):
        raw = funnel.bottleneck(deals, history, stages, reps, method=method, **window)  # type: ignore[arg-type]
        agg = funnel.bottleneck(deals, None, stages, reps, method=method, reach=reach, **window)  # type: ignore[arg-type]
        assert_data(agg, raw.to_dict(as_series=False))


def test_stage_reach_of_ties_gaps_and_reentries() -> None:
    """Strict reach: entries in stage order (ties allowed), broken by a skipped stage or an earlier
    first entry; a re-entered stage counts from its first entry; deals without open stages are absent."""
    hist = frame("stage_history", {
        "deal_id": ["a", "a", "a", "b", "b", "c", "c", "c", "d", "e", "e"],
        "stage": ["Lead", "Qualify", "Propose", "Lead", "Propose", "Lead", "Qualify", "Lead", "Won", "Qualify", "Lead"],
        "entered_at": ["2024-01-01 00:00:00", "2024-01-01 00:00:00", "2024-01-03 00:00:00", "2024-01-01 00:00:00",
                       "2024-01-02 00:00:00", "2024-01-05 00:00:00", "2024-01-06 00:00:00", "2024-01-09 00:00:00",
                       "2024-01-01 00:00:00", "2024-01-01 00:00:00", "2024-01-02 00:00:00"],
    })
    out = funnel.stage_reach(hist, STAGES)
    assert out.to_dict(as_series=False) == {"deal_id": ["a", "b", "c", "e"], "hist_idx": [2, 2, 1, 1],
                                            "strict_idx": [2, 0, 1, 0]}


@settings(max_examples=40, deadline=None)
@given(pipelines(), st.lists(st.sampled_from(["r1", "r2", None]), min_size=25, max_size=25),
       st.sampled_from([(None, None), (date(2024, 2, 1), date(2024, 3, 31)), (date(2024, 3, 1), date(2024, 3, 1))]),
       st.booleans())
def test_bottleneck_counts_of_both_methods_at_once_equal_each_alone(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], owners: list[str | None], period: tuple, by_reach: bool
) -> None:
    """The Funnel page counts the bottleneck's deals for both methods from one pick of each period's
    deals: each method's counts are those `bottleneck_counts` gives for it alone (from the history
    rows, or from the deals' stage reach)."""
    deals, history, stages = data
    deals = deals.with_columns(pl.Series("owner_rep_id", owners[:deals.height], dtype=pl.String),
                               pl.lit(1000.0).alias("amount"))
    reps = frame("reps", [{"rep_id": "r1", "team": "A"}, {"rep_id": "r2", "team": "B"}])
    reach = funnel.stage_reach(history, stages) if by_reach else None
    kw = {"as_of": AS_OF, "period_from": period[0], "period_to": period[1], "reach": reach}
    both = funnel.bottleneck_counts_by_method(deals, history, stages, reps, methods=("reached", "strict"), **kw)
    assert set(both) == {"reached", "strict"}
    for method in ("reached", "strict"):
        alone = funnel.bottleneck_counts(deals, history, stages, reps, method=method, **kw)
        assert_frame_equal(both[method], alone)
        assert_frame_equal(
            funnel.bottleneck(deals, history, stages, reps, method=method, counts=both[method], **kw),
            funnel.bottleneck(deals, history, stages, reps, method=method, **kw))

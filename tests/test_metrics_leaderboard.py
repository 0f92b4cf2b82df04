"""Golden and property tests of the rep and team leaderboard."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import leaderboard
from metrics.schema import empty, frame
from metrics.testing import assert_data

MARCH = {"period_from": date(2024, 3, 1), "period_to": date(2024, 3, 31)}
AS_OF = date(2024, 4, 2)


@pytest.fixture
def reps() -> pl.DataFrame:
    return frame("reps", {"rep_id": ["r1", "r2", "r3", "r4"], "name": ["Ann", "Bob", "Cy", "Dee"],
                          "team": ["T1", "T1", "T2", "T2"]})


@pytest.fixture
def deals() -> pl.DataFrame:
    rows = [
        # March: r1 wins 100 + 200 (2 deals) and loses one; r2 wins 300; r3 wins 300
        ("m1", "r1", "won", 100.0, "2024-03-01", "2024-03-11"),
        ("m2", "r1", "won", 200.0, "2024-03-02", "2024-03-22"),
        ("m3", "r1", "lost", 999.0, "2024-03-01", "2024-03-05"),
        ("m4", "r2", "won", 300.0, "2024-02-01", "2024-03-02"),
        ("m5", "r3", "won", 300.0, "2024-02-20", "2024-03-31"),
        # February (the previous period): r3 1000, r2 500, r1 nothing
        ("f1", "r3", "won", 1000.0, "2024-01-01", "2024-02-10"),
        ("f2", "r2", "won", 500.0, "2024-01-01", "2024-02-11"),
        # open at as_of, owned by r4 (who has no closed deals)
        ("o1", "r4", "open", 700.0, "2024-03-15", None),
    ]
    return frame("deals", [
        {"deal_id": d, "owner_rep_id": o, "status": s, "amount": a, "created_on": c, "closed_on": x}
        for d, o, s, a, c, x in rows
    ])


@pytest.fixture
def activities() -> pl.DataFrame:
    return frame("activities", {
        "activity_id": ["a1", "a2", "a3", "a4", "a5"],
        "rep_id": ["r1", "r1", "r1", "r2", "r1"],
        # "Call" is normalised to call, "demo" is not a known kind -> other; a5 is in February
        "kind": ["Call", "email", "demo", "meeting", "call"],
        "occurred_at": ["2024-03-01 10:00:00", "2024-03-02 10:00:00", "2024-03-31 23:00:00",
                        "2024-03-05 10:00:00", "2024-02-28 10:00:00"],
    })


@pytest.fixture
def targets() -> pl.DataFrame:
    return frame("targets", {
        "scope": ["rep", "rep"], "scope_id": ["r1", "r2"],
        "period_start": ["2024-03-01", "2024-03-01"], "period_end": ["2024-03-31", "2024-03-31"],
        "measure": ["revenue", "revenue"], "value": [600.0, 0.0],
    })


def test_rep_leaderboard(reps, deals, activities, targets) -> None:
    out = leaderboard.leaderboard(deals, reps, activities, targets, as_of=AS_OF, **MARCH)
    # ranks: r1, r2, r3 all won 300; r1 has 2 won deals -> 1st; r2 and r3 tie on 300 and 1 deal ->
    # by name: Bob before Cy. Dee (r4) has no closed deals -> zeros, last.
    # February ranks: r3 (1000) 1, r2 (500) 2, r1 and r4 0 -> by name Ann 3, Dee 4
    # rank change = previous - current: r1 3-1 = +2, r2 2-2 = 0, r3 1-3 = -2, r4 4-4 = 0
    assert_data(out, {
        "rank": [1, 2, 3, 4],
        "rep_id": ["r1", "r2", "r3", "r4"],
        "rep": ["Ann", "Bob", "Cy", "Dee"],
        "team": ["T1", "T1", "T2", "T2"],
        "won_revenue": [300.0, 300.0, 300.0, 0.0],
        "won_deals": [2, 1, 1, 0],
        "lost_deals": [1, 0, 0, 0],
        "win_rate": [2 / 3, 1.0, 1.0, None],          # r4 closed nothing: undefined, not 0
        "avg_won_deal": [150.0, 300.0, 300.0, None],
        # cycles: r1 10 and 20 days -> 15; r2 Feb 1 -> Mar 2 = 30; r3 Feb 20 -> Mar 31 = 40
        "median_cycle_days": [15.0, 30.0, 40.0, None],
        "open_deals": [0, 0, 0, 1],
        "open_pipeline": [0.0, 0.0, 0.0, 700.0],
        # r1 in March: Call, email, demo (other); the February call does not count
        "activities": [3, 1, 0, 0],
        "activities_call": [1, 0, 0, 0],
        "activities_email": [1, 0, 0, 0],
        "activities_meeting": [0, 1, 0, 0],
        "activities_other": [1, 0, 0, 0],
        "activities_per_won_deal": [1.5, 1.0, 0.0, None],
        # r1: 300 / 600 = 0.5; r2 has a zero target -> attainment undefined; r3, r4 no target
        "target": [600.0, 0.0, None, None],
        "attainment": [0.5, None, None, None],
        "prev_rank": [3, 2, 1, 4],
        "rank_change": [2, 0, -2, 0],
    })


def test_top_and_bottom_flags_are_positional(reps, deals, activities, targets) -> None:
    out = leaderboard.leaderboard(deals, reps, activities, targets, as_of=AS_OF, **MARCH)
    # revenues 300, 300, 300, 0: tied reps never beat each other, so the 300s beat 1 of 3 others
    # (0.33, not top); r4 is beaten by 3 of 3 others (1.0 >= 0.8) -> bottom
    assert_data(out, {"percentile": [1 / 3, 1 / 3, 1 / 3, 0.0], "flag": [None, None, None, "bottom"]})


def test_top_flag_with_a_spread() -> None:
    reps = frame("reps", {"rep_id": [f"r{i}" for i in range(6)]})
    deals = frame("deals", {"deal_id": [f"d{i}" for i in range(6)], "owner_rep_id": [f"r{i}" for i in range(6)],
                            "status": ["won"] * 6, "amount": [60.0, 50.0, 40.0, 30.0, 20.0, 10.0],
                            "closed_on": ["2024-03-10"] * 6})
    out = leaderboard.leaderboard(deals, reps, empty("activities"), empty("targets"), as_of=AS_OF, **MARCH)
    # 6 reps: r0 beats 5/5 = 1.0 -> top; r1 beats 4/5 = 0.8 -> top; r2 0.6 -> none;
    # r5 is beaten by 5/5 -> bottom; r4 by 4/5 = 0.8 -> bottom
    assert_data(out, {"rep_id": [f"r{i}" for i in range(6)], "flag": ["top", "top", None, None, "bottom", "bottom"]})


def test_all_time_board_has_no_previous_rank(reps, deals, activities, targets) -> None:
    out = leaderboard.leaderboard(deals, reps, activities, targets, as_of=AS_OF)
    # all time: r3 300 + 1000 = 1300, r2 800, r1 300, r4 0
    assert_data(out, {"rep_id": ["r3", "r2", "r1", "r4"], "won_revenue": [1300.0, 800.0, 300.0, 0.0],
                      "prev_rank": [None] * 4, "rank_change": [None] * 4})


def test_unknown_owner_appears_under_its_id(reps, deals, activities, targets) -> None:
    extra = frame("deals", {"deal_id": ["z"], "owner_rep_id": ["r9"], "status": ["won"], "amount": [50.0],
                            "closed_on": ["2024-03-03"]})
    out = leaderboard.leaderboard(pl.concat([deals, extra]), reps, activities, targets, as_of=AS_OF, **MARCH)
    assert_data(out.filter(pl.col("rep_id") == "r9"), {"rep": ["r9"], "team": [None], "rank": [4]})


def test_team_leaderboard(reps, deals, activities, targets) -> None:
    out = leaderboard.leaderboard(deals, reps, activities, targets, as_of=AS_OF, by="team", **MARCH)
    # T1 = r1 + r2: won 600 (3 deals), lost 1 -> 3/4; T2 = r3 + r4: won 300
    # T1 has no team target -> sum of its reps' targets 600 + 0 = 600 -> 600 / 600 = 1.0
    assert_data(out, {"rank": [1, 2], "team": ["T1", "T2"], "won_revenue": [600.0, 300.0],
                      "won_deals": [3, 1], "win_rate": [0.75, 1.0], "activities": [4, 0],
                      "target": [600.0, None], "attainment": [1.0, None]})


def test_team_target_wins_over_rep_sum(reps, deals, activities, targets) -> None:
    team_target = frame("targets", {"scope": ["team"], "scope_id": ["T1"], "period_start": ["2024-01-01"],
                                    "period_end": ["2024-12-31"], "measure": ["revenue"], "value": [3660.0]})
    out = leaderboard.leaderboard(deals, reps, activities, pl.concat([targets, team_target]), as_of=AS_OF,
                                  by="team", **MARCH)
    # 2024 has 366 days; March is 31 of them: 3660 * 31 / 366 = 310 (not 310 + 600)
    assert out.filter(pl.col("team") == "T1")["target"].item() == pytest.approx(310.0)


# ----------------------------------------------------------------------------- properties
@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["won", "lost", "open"]),
                       st.one_of(st.none(), st.sampled_from([0.0, 10.0, 25.5, 100.0])),
                       st.integers(0, 59)), max_size=30),
    st.integers(0, 4),
)
def test_ranks_are_a_permutation(rows: list[tuple[int, str, float | None, int]], extra_reps: int) -> None:
    reps = frame("reps", {"rep_id": [f"r{i}" for i in range(extra_reps)]}) if extra_reps else empty("reps")
    deals = frame("deals", [
        {"deal_id": f"d{i}", "owner_rep_id": f"r{o}", "status": s, "amount": a,
         "closed_on": date.fromordinal(date(2024, 2, 1).toordinal() + day)}
        for i, (o, s, a, day) in enumerate(rows)
    ]) if rows else empty("deals")
    out = leaderboard.leaderboard(deals, reps, empty("activities"), empty("targets"), as_of=AS_OF, **MARCH)
    n = out.height
    assert sorted(out["rank"].to_list()) == list(range(1, n + 1))
    prev = [p for p in out["prev_rank"].to_list() if p is not None]
    assert sorted(prev) == list(range(1, n + 1))
    revenue = out["won_revenue"].to_list()
    assert revenue == sorted(revenue, reverse=True)
    assert set(out["rep_id"]) == {f"r{i}" for i in range(extra_reps)} | {f"r{o}" for o, *_ in rows}

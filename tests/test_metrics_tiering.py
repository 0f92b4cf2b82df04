"""Golden and property tests of ABC tiers, RFM, tier movement, coverage and neglected accounts."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import tiering
from metrics.schema import empty, frame
from metrics.testing import assert_data

AS_OF = date(2024, 7, 1)


def _won(revenues: dict[str, float], closed: str = "2024-03-01") -> pl.DataFrame:
    return frame("deals", [
        {"deal_id": f"d{acc}", "account_id": acc, "status": "won", "amount": amount, "closed_on": closed}
        for acc, amount in revenues.items()
    ])


def test_abc_tiers_smallest_sets_reaching_80_and_95_percent() -> None:
    deals = _won({"a1": 500.0, "a2": 300.0, "a3": 100.0, "a4": 60.0, "a5": 40.0})
    accounts = frame("accounts", {"account_id": ["a1", "a2", "a3", "a4", "a5", "a6"]})
    out = tiering.abc_tiers(deals, accounts)
    # total 1000; revenue before each account (sorted): a1 0, a2 500, a3 800, a4 900, a5 960
    # A: before < 800 -> a1, a2 (500 + 300 = 800 reaches 80%); B: before < 950 -> a3, a4 (reaches 960)
    # C: a5; a6 has no revenue -> none
    assert_data(out, {
        "account_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "tier": ["A", "A", "B", "B", "C", "none"],
        "share": [0.5, 0.3, 0.1, 0.06, 0.04, 0.0],
        "cum_share": [0.5, 0.8, 0.9, 0.96, 1.0, None],
        "revenue_rank": [1, 2, 3, 4, 5, None],
    })
    assert_data(tiering.tier_summary(out), {
        "tier": ["A", "B", "C", "none"], "accounts": [2, 2, 1, 1], "revenue": [800.0, 160.0, 40.0, 0.0],
        "revenue_share": [0.8, 0.16, 0.04, 0.0],
    })


def test_abc_ties_share_a_tier_unless_the_boundary_splits_them() -> None:
    # c1 = c2 = 40 of 100: c1 before 0, c2 before 40 < 80 -> both A; c3 before 80 -> B
    out = tiering.abc_tiers(_won({"c1": 40.0, "c2": 40.0, "c3": 20.0}), empty("accounts"))
    assert_data(out, {"account_id": ["c1", "c2", "c3"], "tier": ["A", "A", "B"]})
    # d2 = d3 = d4 = 10 of 100: d1 70 -> A; d2 before 70 < 80 -> A; d3 before 80 -> B; d4 before 90 -> B.
    # The tie at the A boundary is broken by account id, so A stays the smallest set reaching 80%.
    out = tiering.abc_tiers(_won({"d1": 70.0, "d2": 10.0, "d3": 10.0, "d4": 10.0}), empty("accounts"))
    assert_data(out, {"account_id": ["d1", "d2", "d3", "d4"], "tier": ["A", "A", "B", "B"]})


def test_abc_float_rounding_does_not_move_the_boundary() -> None:
    # 0.7 + 0.1 is 0.7999999999999999 in floats; it still reaches 80% of 1.0
    out = tiering.abc_tiers(_won({"a": 0.7, "b": 0.1, "c": 0.2}), empty("accounts"))
    assert_data(out, {"account_id": ["a", "c", "b"], "tier": ["A", "A", "B"]})
    out = tiering.abc_tiers(_won({"a": 0.7, "b": 0.1, "c": 0.1, "d": 0.1}), empty("accounts"))
    # a 0.7 (A), b before 0.7 (A), c before 0.8 -> not below 80% -> B
    assert_data(out, {"account_id": ["a", "b", "c", "d"], "tier": ["A", "A", "B", "B"]})


def test_abc_window_and_lost_deals() -> None:
    deals = pl.concat([
        _won({"a": 100.0}, "2023-06-01"),
        _won({"b": 50.0}),
        frame("deals", {"deal_id": ["x"], "account_id": ["c"], "status": ["lost"], "amount": [1e6],
                        "closed_on": ["2024-03-01"]}),
    ])
    out = tiering.abc_tiers(deals, empty("accounts"), window_from=date(2024, 1, 1), window_to=date(2024, 12, 31))
    # in 2024 only b won (50 -> A); a won in 2023 and c only lost -> none
    assert_data(out, {"account_id": ["b", "a", "c"], "tier": ["A", "none", "none"], "revenue": [50.0, 0.0, 0.0]})


def test_rfm_scores_and_segments() -> None:
    rows = [
        # account, closed_on, amount
        ("champ", "2024-06-25", 500.0), ("champ", "2024-06-20", 500.0), ("champ", "2024-05-01", 500.0),
        ("loyal", "2024-04-01", 300.0), ("loyal", "2024-03-01", 300.0),
        ("fresh", "2024-06-28", 10.0),
        ("fading", "2023-01-01", 900.0), ("fading", "2023-02-01", 900.0), ("fading", "2023-03-01", 900.0),
        ("gone", "2022-01-01", 5.0),
    ]
    deals = frame("deals", [{"deal_id": str(i), "account_id": a, "status": "won", "closed_on": c, "amount": m}
                            for i, (a, c, m) in enumerate(rows)])
    out = tiering.rfm(deals, as_of=AS_OF).sort("account_id")
    # n = 5; score = 1 + floor(5 * (average rank - 0.5) / 5) = 1 + floor(rank - 0.5)
    # recency days: fresh 3 (rank 5), champ 6 (4), loyal 91 (3), fading 488 (2: 366 to 2024-03-01 + 122), gone 912 (1)
    # frequency: champ 3, fading 3 (tie: ranks 4 and 5 -> 4.5 -> score 5), loyal 2 (3), fresh 1, gone 1 (tie 1.5 -> 2)
    # monetary: fading 2700 (5), champ 1500 (4), loyal 600 (3), fresh 10 (2), gone 5 (1)
    # FM = ceil((F + M) / 2): champ (5+4) -> 5; fading (5+5) -> 5; loyal (3+3) -> 3; fresh (2+2) -> 2; gone (2+1) -> 2
    assert_data(out, {
        "account_id": ["champ", "fading", "fresh", "gone", "loyal"],
        "recency_days": [6, 488, 3, 912, 91],
        "frequency": [3, 3, 1, 1, 2],
        "monetary": [1500.0, 2700.0, 10.0, 5.0, 600.0],
        "r_score": [4, 2, 5, 1, 3],
        "f_score": [5, 5, 2, 2, 3],
        "m_score": [4, 5, 2, 1, 3],
        "rfm": ["454", "255", "522", "121", "333"],
        # champ R4 FM5 -> champions; fading R2 FM5 -> at_risk; fresh R5 FM2 -> potential_loyalists;
        # gone R1 FM2 -> lost; loyal R3 FM3 -> need_attention
        "segment": ["champions", "at_risk", "potential_loyalists", "lost", "need_attention"],
    })
    assert set(out["segment"]) <= set(tiering.RFM_SEGMENTS)


def test_rfm_single_account_gets_middle_scores() -> None:
    # one account: average rank 1 -> 1 + floor(5 * 0.5 / 1) = 3 on every axis -> need_attention
    out = tiering.rfm(_won({"solo": 10.0}), as_of=AS_OF)
    assert_data(out, {"rfm": ["333"], "segment": ["need_attention"]})


def test_tier_movement_and_transitions() -> None:
    before = tiering.abc_tiers(_won({"a": 80.0, "b": 15.0, "c": 5.0}), empty("accounts"))
    after = tiering.abc_tiers(_won({"b": 90.0, "c": 5.0, "d": 5.0}), empty("accounts"))
    # before: a A (0 < 80), b B (80 < 95), c C (95); after: b A, c B (90 < 95), d C (95), a none
    out = tiering.tier_movement(before, after)
    assert_data(out, {
        "account_id": ["a", "b", "c", "d"],
        "tier_before": ["A", "B", "C", "none"],
        "tier_after": ["none", "A", "B", "C"],
        "movement": ["down", "up", "up", "up"],
    })
    matrix = tiering.tier_transitions(out)
    assert matrix.height == 16 and matrix["accounts"].sum() == 4
    assert_data(matrix.filter((pl.col("tier_before") == "B") & (pl.col("tier_after") == "A")), {"accounts": [1]})


def test_coverage_compares_effort_with_revenue() -> None:
    tiers = pl.DataFrame({"account_id": ["a", "b"], "tier": ["A", "C"]})
    deals = frame("deals", {
        "deal_id": ["w1", "w2", "o1", "w3"], "owner_rep_id": ["r1", "r1", "r1", "r2"],
        "account_id": ["a", "b", "b", "zz"], "status": ["won", "won", "open", "won"],
        "amount": [900.0, 100.0, 400.0, 50.0], "closed_on": ["2024-03-01", "2024-03-02", None, "2024-03-03"],
    })
    activities = frame("activities", {
        "activity_id": ["1", "2", "3", "4", "5"], "rep_id": ["r1"] * 5,
        # three on b directly, one on a via its deal, one with no account at all (left out)
        "account_id": ["b", "b", "b", None, None], "deal_id": [None, None, None, "w1", None],
        "occurred_at": ["2024-03-05 10:00:00"] * 5,
    })
    out = tiering.coverage(tiers, deals, activities, as_of=AS_OF, period_from=date(2024, 3, 1), period_to=date(2024, 3, 31))
    # r1: revenue A 900 / C 100 of 1000; pipeline C 400 of 400; activities A 1, C 3 of 4
    # effort gap A: 0.25 - 0.9 = -0.65; C: 0.75 - 0.1 = 0.65
    # r2: won 50 on an account missing from the tiers -> "none"
    assert_data(out.filter(pl.col("rep_id") == "r1"), {
        "tier": ["A", "B", "C", "none"],
        "revenue": [900.0, 0.0, 100.0, 0.0],
        "revenue_share": [0.9, 0.0, 0.1, 0.0],
        "pipeline_share": [0.0, 0.0, 1.0, 0.0],
        "activities": [1, 0, 3, 0],
        "activity_share": [0.25, 0.0, 0.75, 0.0],
        "effort_gap": [-0.65, 0.0, 0.65, 0.0],
    })
    assert_data(out.filter(pl.col("rep_id") == "r2"), {"revenue": [0.0, 0.0, 0.0, 50.0], "activity_share": [None] * 4})
    everyone = tiering.coverage(tiers, deals, activities, as_of=AS_OF, per_rep=False,
                                period_from=date(2024, 3, 1), period_to=date(2024, 3, 31))
    # all reps: revenue 1050 -> A 900 / 1050
    assert "rep_id" not in everyone.columns
    assert everyone["revenue_share"][0] == pytest.approx(900 / 1050)


def test_neglected_a_accounts() -> None:
    tiers = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "name": ["A Co", "B Co", "C Co", "D Co"],
                          "revenue": [100.0, 90.0, 80.0, 1.0], "tier": ["A", "A", "A", "C"]})
    deals = frame("deals", {"deal_id": ["o1", "o2"], "account_id": ["a", "b"], "owner_rep_id": ["r1", "r2"],
                            "status": ["open", "open"], "amount": [10.0, 20.0]})
    activities = frame("activities", {
        "activity_id": ["1", "2", "3"], "account_id": ["a", "b", None], "deal_id": [None, None, None],
        # a: Jun 20 (11 days before Jul 1, recent); b: May 1 (61 days); c: none
        "occurred_at": ["2024-06-20 10:00:00", "2024-05-01 10:00:00", "2024-06-30 10:00:00"],
    })
    out = tiering.neglected_accounts(tiers, deals, activities, as_of=AS_OF, days=30)
    # a has an open deal and recent activity -> fine; b: no activity for 61 days; c: no deal, no activity
    # d is tier C -> not listed
    assert_data(out, {
        "account_id": ["b", "c"], "owner_rep_id": ["r2", None], "open_deals": [1, 0],
        "days_since_activity": [61, None], "no_open_deal": [False, True], "no_recent_activity": [True, True],
    })


# ----------------------------------------------------------------------------- properties
@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=-50, max_value=1e6, allow_nan=False)), max_size=40),
       st.integers(0, 5))
def test_every_account_lands_in_one_tier_and_revenue_adds_up(amounts: list[float | None], idle: int) -> None:
    deals = frame("deals", [
        {"deal_id": f"d{i}", "account_id": f"a{i % 13}", "status": "won", "amount": a, "closed_on": "2024-01-01"}
        for i, a in enumerate(amounts)
    ]) if amounts else empty("deals")
    accounts = frame("accounts", {"account_id": [f"idle{i}" for i in range(idle)]}) if idle else empty("accounts")
    out = tiering.abc_tiers(deals, accounts)
    expected_accounts = {f"a{i % 13}" for i in range(len(amounts))} | {f"idle{i}" for i in range(idle)}
    assert sorted(out["account_id"].to_list()) == sorted(expected_accounts)  # exactly once each
    assert set(out["tier"]) <= {"A", "B", "C", "none"}
    summary = tiering.tier_summary(out)
    total = sum(a for a in amounts if a is not None)
    assert summary["revenue"].sum() == pytest.approx(total, abs=1e-6)
    assert summary["accounts"].sum() == len(expected_accounts)
    positive = out.filter(pl.col("revenue") > 0)
    if positive.height:
        a_share = positive.filter(pl.col("tier") == "A")["revenue"].sum() / positive["revenue"].sum()
        assert a_share >= 0.8 - 1e-9

"""Golden tests of the headline KPIs and the `report` dictionary."""
from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import kpis
from metrics.schema import empty, frame
from metrics.testing import assert_data

JAN, FEB_END, AS_OF = date(2024, 1, 1), date(2024, 2, 29), date(2024, 3, 1)


@pytest.fixture
def deals() -> pl.DataFrame:
    return frame("deals", {
        "deal_id":      ["d1", "d2", "d3", "d4", "d5", "d6", "d7"],
        "owner_rep_id": ["r1", "r1", "r2", "r2", "r1", "r3", "r2"],
        "account_id":   ["a1", "a1", "a2", "a2", "a3", "a3", "a4"],
        "product":      ["p1", "p2", "p1", "p1", "p1", "p3", None],
        "amount":       [100.0, 300.0, 200.0, None, 500.0, 50.0, 70.0],
        "currency":     ["EUR", "USD", "EUR", "EUR", "EUR", None, "EUR"],
        "status":       ["won", "won", "lost", "won", "open", "lost", "open"],
        "created_on":   ["2024-01-01", "2024-01-05", "2024-01-10", "2024-02-01", "2024-02-15", "2024-01-20", "2024-03-10"],
        # d2 has both: closed_on (Feb 4) wins over close_date (Mar 1); d4 has only close_date
        "closed_on":    ["2024-01-11", "2024-02-04", "2024-02-10", None, None, "2024-03-05", None],
        "close_date":   [None, "2024-03-01", None, "2024-02-21", "2024-04-30", None, "2024-05-01"],
    })


def test_win_rate_counts_deals_closed_in_the_period(deals: pl.DataFrame) -> None:
    # closed Jan..Feb: d1 won (Jan 11), d2 won (Feb 4), d3 lost (Feb 10), d4 won (Feb 21); d6 closes Mar 5
    # win rate = 3 / (3 + 1) = 0.75
    out = kpis.win_rate(deals, period_from=JAN, period_to=FEB_END)
    assert_data(out, {"won_deals": [3], "lost_deals": [1], "win_rate": [0.75]})


def test_value_weighted_win_rate(deals: pl.DataFrame) -> None:
    # won amounts 100 + 300 (+ d4 without amount) = 400; closed amounts 400 + 200 = 600 -> 2/3
    out = kpis.win_rate(deals, period_from=JAN, period_to=FEB_END, weighting="value")
    assert_data(out, {"win_rate": [400 / 600]})


def test_win_rate_by_owner_with_a_tie(deals: pl.DataFrame) -> None:
    # all time: r1 won d1, d2 -> 2/2 = 1.0; r2 won d4, lost d3 -> 1/2; r3 lost d6 -> 0/1
    out = kpis.win_rate(deals, by="owner_rep_id")
    assert_data(out, {"owner_rep_id": ["r1", "r2", "r3"], "won_deals": [2, 1, 0], "win_rate": [1.0, 0.5, 0.0]})


def test_won_revenue_and_average_skip_missing_amounts(deals: pl.DataFrame) -> None:
    # won revenue = 100 + 300 = 400 (d4 has no amount: counted as a won deal, not in the sum)
    # average won deal = 400 / 2 deals with an amount = 200
    assert_data(kpis.won_revenue(deals, period_from=JAN, period_to=FEB_END), {"won_deals": [3], "won_revenue": [400.0]})
    assert_data(kpis.avg_won_deal(deals, period_from=JAN, period_to=FEB_END), {"avg_won_deal": [200.0]})


def test_currency_filter_keeps_one_currency(deals: pl.DataFrame) -> None:
    # EUR only: won d1 (100) and d4 (no amount); d2 is USD -> revenue 100, average 100
    out = kpis.avg_won_deal(deals, period_from=JAN, period_to=FEB_END, currency="EUR")
    assert_data(out, {"won_deals": [2], "won_revenue": [100.0], "avg_won_deal": [100.0]})


def test_currency_free_amounts_are_summed_as_numbers(deals: pl.DataFrame) -> None:
    # no currency column at all: amounts still add up, 100 + 300 = 400
    out = kpis.won_revenue(deals.drop("currency"), period_from=JAN, period_to=FEB_END)
    assert_data(out, {"won_revenue": [400.0]})


def test_sales_cycle_median_and_p90(deals: pl.DataFrame) -> None:
    # cycles of won deals: d1 Jan 1 -> Jan 11 = 10, d2 Jan 5 -> Feb 4 = 30, d4 Feb 1 -> Feb 21 = 20
    # median 20; p90 (linear) at position 0.9 * 2 = 1.8 of [10, 20, 30] -> 20 + 0.8 * 10 = 28
    out = kpis.sales_cycle(deals, period_from=JAN, period_to=FEB_END)
    assert_data(out, {"won_deals": [3], "median_cycle_days": [20.0], "p90_cycle_days": [28.0]})


def test_empty_period_gives_zeros_and_null_rates(deals: pl.DataFrame) -> None:
    out = kpis.deal_summary(deals, as_of=AS_OF, period_from=date(2030, 1, 1), period_to=date(2030, 1, 31))
    # only the open pipeline at as_of (Mar 1) remains: d5 (created Feb 15; d7 comes Mar 10)
    assert_data(out, {
        "deals": [1], "open_deals": [1], "won_deals": [0], "lost_deals": [0], "won_revenue": [0.0],
        "win_rate": [None], "avg_won_deal": [None], "median_cycle_days": [None],
    })


def test_deal_summary_counts_open_pipeline_at_as_of(deals: pl.DataFrame) -> None:
    # won 3 + lost 1 in Jan..Feb; open at Mar 1: d5 (created Feb 15); d7 is created Mar 10 -> not yet
    out = kpis.deal_summary(deals, as_of=AS_OF, period_from=JAN, period_to=FEB_END)
    assert_data(out, {"deals": [5], "open_deals": [1], "open_pipeline": [500.0], "won_deals": [3], "lost_deals": [1]})


def test_lead_conversion() -> None:
    leads = frame("leads", {
        "lead_id": ["l1", "l2", "l3", "l4", "l5"],
        "source": ["web", "web", "ads", "ads", "web"],
        "created_on": ["2024-01-01", "2024-01-10", "2024-01-15", "2024-02-01", "2023-12-01"],
        "converted_on": ["2024-01-11", None, "2024-04-01", None, "2024-01-05"],
        "deal_id": ["d1", "d9", None, None, "d5"],
    })
    # created in Jan..Feb: l1..l4. Converted by Mar 1: l1 (dated Jan 11), l2 (linked to a deal, no date);
    # l3 converts on Apr 1, after as_of -> not yet. Rate 2 / 4 = 0.5. Days: l1 = 10 -> median 10
    out = kpis.lead_conversion(leads, as_of=AS_OF, period_from=JAN, period_to=FEB_END)
    assert_data(out, {"leads": [4], "converted": [2], "conversion_rate": [0.5], "median_days_to_convert": [10.0]})
    by = kpis.lead_conversion(leads, as_of=AS_OF, period_from=JAN, period_to=FEB_END, by="source")
    # ads: l3, l4 -> 0 / 2; web: l1, l2 -> 2 / 2
    assert_data(by, {"source": ["ads", "web"], "conversion_rate": [0.0, 1.0]})


def test_retention_accounts_and_revenue() -> None:
    deals = frame("deals", {
        "deal_id": ["1", "2", "3", "4", "5", "6"],
        "account_id": ["a", "b", "c", "a", "b", "d"],
        "amount": [100.0, 200.0, 300.0, 50.0, 400.0, 999.0],
        "status": ["won"] * 6,
        "closed_on": ["2023-03-01", "2023-05-01", "2023-07-01", "2024-02-01", "2024-03-01", "2024-04-01"],
    })
    windows = {"first_from": date(2023, 1, 1), "first_to": date(2023, 12, 31),
               "second_from": date(2024, 1, 1), "second_to": date(2024, 12, 31)}
    # first window buyers a, b, c; in both windows a, b -> 2 / 3; d is new and does not count
    assert_data(kpis.retention(deals, **windows), {"accounts_first": [3], "accounts_retained": [2], "retention": [2 / 3]})
    # revenue basis: their second-window revenue (50 + 400) / first-window revenue (600) = 0.75
    assert_data(kpis.retention(deals, **windows, basis="revenue"),
                {"revenue_first": [600.0], "revenue_second": [450.0], "retention": [0.75]})


def test_cross_sell(deals: pl.DataFrame) -> None:
    # won deals all time: a1 bought p1 and p2 (2 products), a2 bought p1 -> 1 of 2 accounts, avg 1.5
    out = kpis.cross_sell(deals)
    assert_data(out, {"accounts": [2], "multi_product_accounts": [1], "cross_sell_rate": [0.5], "avg_products": [1.5]})


# ----------------------------------------------------------------------------- report
@pytest.fixture
def world() -> dict[str, pl.DataFrame]:
    stages = frame("stages", {
        "name": ["New", "Proposal", "Won", "Lost"], "position": [1, 2, 3, 4],
        "probability": [0.2, 0.6, 1.0, 0.0],
        "is_won": [False, False, True, False], "is_lost": [False, False, False, True],
    })
    reps = frame("reps", {"rep_id": ["r1", "r2", "r3"], "name": ["Ann", "Bob", None], "team": ["T", "T", "T"]})
    deals = frame("deals", {
        "deal_id": ["d1", "d2", "d3", "d4"],
        "owner_rep_id": ["r1", "r1", "r2", "r1"],
        "account_id": ["a1", "a2", "a1", "a3"],
        "amount": [600.0, 200.0, 100.0, 300.0],
        "stage": ["Won", "Won", "Lost", "Proposal"],
        "status": ["won", "won", "lost", "open"],
        "created_on": ["2024-01-01", "2024-01-11", "2024-01-05", "2024-01-20"],
        "closed_on": ["2024-01-21", "2024-02-10", "2024-02-01", None],
        "close_date": [None, None, None, "2024-01-25"],
    })
    history = frame("stage_history", {
        "deal_id": ["d1", "d1", "d1", "d4", "d4"],
        "stage": ["New", "Proposal", "Won", "New", "Proposal"],
        "entered_at": ["2024-01-01 09:00:00", "2024-01-05 10:00:00", "2024-01-21 08:00:00",
                       "2024-01-20 00:00:00", "2024-01-22 00:00:00"],
    })
    activities = frame("activities", {
        "activity_id": ["x1", "x2", "x3"], "rep_id": ["r1", "r3", "r3"],
        "kind": ["call", "email", "meeting"],
        "occurred_at": ["2024-01-03 10:00:00", "2024-02-02 10:00:00", "2024-02-03 10:00:00"],
    })
    targets = frame("targets", {
        "scope": ["rep", "rep"], "scope_id": ["r1", "r2"],
        "period_start": ["2024-01-01", "2024-01-01"], "period_end": ["2024-03-31", "2024-03-31"],
        "measure": ["revenue", "revenue"], "value": [900.0, 100.0],
    })
    return {"deals": deals, "reps": reps, "stage_history": history, "activities": activities,
            "accounts": frame("accounts", {"account_id": ["a1", "a2", "a3", "a4"]}), "targets": targets,
            "stages": stages, "leads": empty("leads")}


def test_report_all_time(world: dict[str, pl.DataFrame]) -> None:
    out = kpis.report(**world, period_from=None, period_to=None, as_of=date(2024, 2, 15))
    json.dumps(out)  # plain JSON values only
    assert out == {
        "period": {"from": None, "to": None},
        # won d1, d2; lost d3; open d4 (created Jan 20 <= as_of)
        "deals": {"total": 4, "open": 1, "won": 2, "lost": 1},
        "won_revenue": 800.0,                 # 600 + 200
        "win_rate": 2 / 3,                    # 2 / (2 + 1)
        "avg_won_amount": 400.0,              # 800 / 2
        "median_cycle_days": 25.0,            # d1 20 days, d2 30 days -> median 25
        "funnel": [
            # reached New: all 4 deals; Proposal: d1 (won), d2 (won), d4 (in Proposal); d3 lost without
            # history -> first stage only. New -> Proposal = 3 / 4; Proposal -> won = 2 won / 3
            # New days: d1 Jan 1 -> Jan 5 = 4, d4 Jan 20 -> Jan 22 = 2 -> median 3;
            # Proposal: d1 Jan 5 -> Jan 21 = 16 (d4 still there, not completed)
            {"stage": "New", "reached": 4, "conversion_to_next": 0.75, "median_days": 3.0},
            {"stage": "Proposal", "reached": 3, "conversion_to_next": 2 / 3, "median_days": 16.0},
        ],
        "leaderboard": [
            # r1 Ann: won 600 + 200, 2 won / 2 closed, 1 activity; r2 Bob: 0 won, 1 lost -> 0.0;
            # r3 has no name and no deals -> shown by id, zeros, win rate null (nothing closed)
            {"rep": "Ann", "won_revenue": 800.0, "won_deals": 2, "win_rate": 1.0, "activities": 1},
            {"rep": "Bob", "won_revenue": 0.0, "won_deals": 0, "win_rate": 0.0, "activities": 0},
            {"rep": "r3", "won_revenue": 0.0, "won_deals": 0, "win_rate": None, "activities": 2},
        ],
        "tiers": [
            # a1 600 (before 0 < 640 -> A), a2 200 (before 600 < 640 -> A); a3, a4 no won revenue
            {"tier": "A", "accounts": 2, "revenue": 800.0},
            {"tier": "B", "accounts": 0, "revenue": 0.0},
            {"tier": "C", "accounts": 0, "revenue": 0.0},
            {"tier": "none", "accounts": 2, "revenue": 0.0},
        ],
        # rep targets 900 + 100 = 1000 (no company target); attainment 800 / 1000
        "plan": {"target": 1000.0, "actual": 800.0, "attainment": 0.8},
        # parts: overdue_close 0 (the one open deal, d4, was due Jan 25 < Feb 15), missing_amount 100,
        # skipped_stages 100 (d1 and d4 entered every stage), missing_owner 100; no deal has a name,
        # so the duplicate check does not apply -> (0 + 100 + 100 + 100) / 4 = 75
        "quality": {"score": 75.0},
    }


def test_report_for_a_period_prorates_the_target(world: dict[str, pl.DataFrame]) -> None:
    out = kpis.report(**world, period_from=date(2024, 2, 1), period_to=date(2024, 2, 29), as_of=date(2024, 2, 15))
    assert out["period"] == {"from": "2024-02-01", "to": "2024-02-29"}
    # February: d2 won (Feb 10), d3 lost (Feb 1); d4 open
    assert out["deals"] == {"total": 3, "open": 1, "won": 1, "lost": 1}
    # targets Jan 1..Mar 31 = 91 days; February is 29 of them: (900 + 100) * 29 / 91
    target = 1000 * 29 / 91
    assert out["plan"] == pytest.approx({"target": target, "actual": 200.0, "attainment": 200 / target})
    assert [row["rep"] for row in out["leaderboard"]] == ["Ann", "Bob", "r3"]


def test_report_with_zero_target_has_null_attainment(world: dict[str, pl.DataFrame]) -> None:
    world["targets"] = world["targets"].with_columns(pl.lit(0.0).alias("value"))
    out = kpis.report(**world, period_from=None, period_to=None, as_of=date(2024, 2, 15))
    assert out["plan"] == {"target": 0.0, "actual": 800.0, "attainment": None}


def test_report_on_empty_tables() -> None:
    tables = {name: empty(name) for name in
              ("deals", "reps", "stage_history", "activities", "accounts", "targets", "stages", "leads")}
    out = kpis.report(**tables, period_from=None, period_to=None, as_of=date(2024, 1, 1))
    json.dumps(out)
    assert out["deals"] == {"total": 0, "open": 0, "won": 0, "lost": 0}
    assert out["funnel"] == [] and out["leaderboard"] == []
    assert out["plan"] == {"target": None, "actual": 0.0, "attainment": None}
    assert out["quality"] == {"score": None}
    assert set(out) == {"period", "deals", "won_revenue", "win_rate", "avg_won_amount", "median_cycle_days",
                        "funnel", "leaderboard", "tiers", "plan", "quality"}


# ----------------------------------------------------------------------------- properties
deal_rows = st.lists(
    st.tuples(
        st.sampled_from(["open", "won", "lost"]),
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
        st.integers(min_value=0, max_value=120),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(deal_rows)
def test_win_rate_is_a_share(rows: list[tuple[str, float | None, int]]) -> None:
    deals = frame("deals", {
        "deal_id": [str(i) for i in range(len(rows))],
        "status": [r[0] for r in rows],
        "amount": [r[1] for r in rows],
        "created_on": [date(2024, 1, 1)] * len(rows),
        "closed_on": [date.fromordinal(date(2024, 1, 1).toordinal() + r[2]) for r in rows],
    }) if rows else empty("deals")
    for weighting in ("count", "value"):
        rate = kpis.win_rate(deals, weighting=weighting)["win_rate"].item()
        assert rate is None or 0.0 <= rate <= 1.0

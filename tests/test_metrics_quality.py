"""Golden and property tests of the data-quality checks and score."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import quality
from metrics.schema import empty, frame
from metrics.testing import assert_data

AS_OF = date(2024, 5, 10)
STAGES = frame("stages", {
    "name": ["Lead", "Qualify", "Propose", "Won", "Lost"], "position": [1, 2, 3, 4, 5],
    "is_won": [False, False, False, True, False], "is_lost": [False, False, False, False, True],
})


@pytest.fixture
def deals() -> pl.DataFrame:
    rows = [
        # id, name, account, owner, status, amount, created, close_date, closed_on, batch
        ("q1", "Acme renewal", "a1", "r1", "open", 100.0, "2024-01-01", "2024-05-01", None, 1),
        ("q2", None, "a2", "r1", "open", 0.0, "2024-01-01", "2024-06-01", None, 1),
        ("q3", None, "a3", None, "won", None, "2024-01-01", None, "2024-03-01", 2),
        ("q4", "ACME  Renewal ", "a1", "r2", "won", 100.0, "2024-02-01", None, "2024-03-05", 2),
        ("q5", None, "a4", "  ", "lost", 50.0, "2024-01-01", None, "2024-04-01", 2),
    ]
    cols = ["deal_id", "name", "account_id", "owner_rep_id", "status", "amount", "created_on", "close_date", "closed_on", "batch_id"]
    return frame("deals", [dict(zip(cols, r, strict=True)) for r in rows])


@pytest.fixture
def history() -> pl.DataFrame:
    rows = [("q1", "Lead", 1), ("q1", "Propose", 5),                       # skips Qualify
            ("q3", "Won", 9),                                              # won without any open stage
            ("q4", "Lead", 1), ("q4", "Qualify", 2), ("q4", "Propose", 3), ("q4", "Won", 4)]
    return frame("stage_history", [{"deal_id": d, "stage": s, "entered_at": f"2024-01-{day:02d} 00:00:00"}
                                   for d, s, day in rows])


@pytest.fixture
def snapshots() -> pl.DataFrame:
    return frame("deal_snapshots", {
        "batch_id": [7, 8], "deal_id": ["q3", "q4"], "status": ["open", "open"],
        # q3 closed Mar 1 but still open in the Mar 20 snapshot: 19 days late (> 7);
        # q4 closed Mar 5, open on Mar 10: 5 days, within the allowance
        "snapshot_date": ["2024-03-20", "2024-03-10"],
    })


def test_issues_list_every_failing_deal(deals, history) -> None:
    out = quality.quality_issues(deals, history, STAGES, as_of=AS_OF).sort("check", "deal_id")
    assert_data(out, {
        "check": ["duplicate", "missing_amount", "missing_amount", "missing_owner", "missing_owner",
                  "overdue_close", "skipped_stages", "skipped_stages"],
        "deal_id": ["q4", "q2", "q3", "q3", "q5", "q1", "q1", "q3"],
        # overdue: May 1 -> May 10 = 9 days; skipped: q1 misses Qualify (1), q3 all three open stages
        "value": [None, 0.0, None, None, None, 9.0, 1.0, 3.0],
        "related_deal_id": ["q1", None, None, None, None, None, None, None],
    })


def test_checks_and_score(deals, history) -> None:
    checks = quality.quality_checks(deals, history, STAGES, as_of=AS_OF)
    # overdue 1 of 2 open; missing amount 2 of 5 (zero and null); skipped 2 of 3 with history;
    # duplicate 1 of 2 named; missing owner 2 of 5 (null and blank)
    assert_data(checks, {
        "check": ["overdue_close", "missing_amount", "skipped_stages", "duplicate", "missing_owner"],
        "applicable": [2, 5, 3, 2, 5],
        "failing": [1, 2, 2, 1, 2],
        "part_score": [50.0, 60.0, 100 / 3, 50.0, 60.0],
    })
    score = quality.quality_score(deals, history, STAGES, as_of=AS_OF)
    # (50 + 60 + 33.33 + 50 + 60) / 5 = 50.67; no snapshots -> entry_lag does not apply
    assert_data(score, {"score": [(50 + 60 + 100 / 3 + 50 + 60) / 5], "overdue_close": [50.0], "entry_lag": [None]})


def test_entry_lag_from_snapshots(deals, history, snapshots) -> None:
    issues = quality.quality_issues(deals, history, STAGES, as_of=AS_OF, snapshots=snapshots)
    assert_data(issues.filter(pl.col("check") == "entry_lag"), {"deal_id": ["q3"], "value": [19.0]})
    score = quality.quality_score(deals, history, STAGES, as_of=AS_OF, snapshots=snapshots)
    # entry_lag: q3 and q4 appear in snapshots, q3 is late -> 50; six parts now
    assert_data(score, {"entry_lag": [50.0], "score": [(50 + 60 + 100 / 3 + 50 + 60 + 50) / 6]})


def test_weights(deals, history) -> None:
    score = quality.quality_score(deals, history, STAGES, as_of=AS_OF, weights={"overdue_close": 3})
    # (3 * 50 + 60 + 33.33 + 50 + 60) / 7
    assert_data(score, {"score": [(150 + 60 + 100 / 3 + 50 + 60) / 7]})


def test_score_per_import(deals, history) -> None:
    out = quality.quality_score(deals, history, STAGES, as_of=AS_OF, by="batch_id")
    # batch 1 (q1, q2): overdue 50, missing amount 50, skipped 0 (q1), duplicate 100 (q1 is the
    #   original), owner 100 -> 300 / 5 = 60
    # batch 2 (q3, q4, q5): no open deal -> overdue does not apply; missing amount 1/3 -> 66.67;
    #   skipped q3 of q3, q4 -> 50; duplicate q4 of q4 -> 0; owner q3, q5 of 3 -> 33.33 -> 150 / 4
    assert_data(out, {"batch_id": [1, 2], "score": [60.0, 37.5], "overdue_close": [50.0, None], "duplicate": [100.0, 0.0]})


def test_score_per_rep(deals, history) -> None:
    out = quality.quality_score(deals, history, STAGES, as_of=AS_OF, by="owner_rep_id")
    # r1 (q1, q2) equals batch 1 above -> 60; r2 (q4): only the duplicate fails -> (100 + 100 + 0 + 100) / 4
    assert_data(out.filter(pl.col("owner_rep_id").is_in(["r1", "r2"])), {"owner_rep_id": ["r1", "r2"], "score": [60.0, 75.0]})


def test_clean_data_scores_100() -> None:
    deals = frame("deals", {"deal_id": ["a"], "name": ["x"], "owner_rep_id": ["r"], "status": ["won"],
                            "amount": [5.0], "closed_on": ["2024-01-01"]})
    assert_data(quality.quality_score(deals, empty("stage_history"), STAGES, as_of=AS_OF), {"score": [100.0]})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "won", "lost"]), st.one_of(st.none(), st.sampled_from([0.0, 5.0])),
                          st.one_of(st.none(), st.sampled_from(["r1", "", "r2"])), st.integers(-30, 30),
                          st.one_of(st.none(), st.sampled_from(["x", "X ", "y"]))), min_size=1, max_size=25))
def test_score_is_between_0_and_100(rows) -> None:
    deals = frame("deals", [
        {"deal_id": str(i), "status": s, "amount": a, "owner_rep_id": o, "name": n, "account_id": "acc",
         "close_date": date.fromordinal(AS_OF.toordinal() + d)}
        for i, (s, a, o, d, n) in enumerate(rows)
    ])
    out = quality.quality_score(deals, empty("stage_history"), STAGES, as_of=AS_OF)
    score = out["score"].item()
    assert 0.0 <= score <= 100.0
    parts = [v for k, v in out.row(0, named=True).items() if k != "score" and v is not None]
    assert min(parts) - 1e-9 <= score <= max(parts) + 1e-9

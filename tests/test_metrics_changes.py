"""Golden tests of history from snapshots: the waterfall (every bar, the balance), slipped close
dates, the point-in-time pipeline and its trend, inferred stage history and forecast accuracy.

The hand-built history: four weekly snapshots S1..S4 (May 1, 8, 15, 22 2024), a Q2 close-date
window (Apr 1 – Jun 30) and deals that each play one part (named in the comments).
"""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import changes
from metrics.schema import empty, frame
from metrics.testing import assert_data

S1, S2, S3, S4 = date(2024, 5, 1), date(2024, 5, 8), date(2024, 5, 15), date(2024, 5, 22)
Q2 = {"period_from": date(2024, 4, 1), "period_to": date(2024, 6, 30)}

STAGES = frame("stages", {
    "name": ["Qual", "Prop", "Neg", "Won", "Lost"], "position": [1, 2, 3, 4, 5],
    "probability": [0.2, 0.5, 0.8, 1.0, 0.0],
    "is_won": [False, False, False, True, False], "is_lost": [False, False, False, False, True],
})

# deal, owner, stage, status, amount, close date
S1_ROWS = [
    ("d1", "r1", "Prop", "open", 1000.0, "2024-06-10"),   # steady: in start and end, no bar
    ("d2", "r1", "Prop", "open", 2000.0, "2024-06-05"),   # grows to 2500 -> amount_up 500
    ("d3", "r2", "Neg", "open", 3000.0, "2024-05-25"),    # shrinks to 2000 -> amount_down 1000
    ("d4", "r1", "Prop", "open", 400.0, "2024-05-20"),    # won at S2 (for 450) -> won 400
    ("d5", "r2", "Qual", "open", 700.0, "2024-06-15"),    # lost at S2 -> lost 700
    ("d6", "r2", "Prop", "open", 800.0, "2024-06-20"),    # pushed to July -> pushed_out 800
    ("d7", "r3", "Qual", "open", 600.0, "2024-06-30"),    # gone from S2 -> removed 600
    ("d9", "r1", "Prop", "open", 1200.0, "2024-08-01"),   # outside Q2, pulled in at S2 (1300) -> pulled_in 1300
    ("d10", "r2", "Qual", "open", 50.0, "2024-09-01"),    # outside Q2 throughout: no bar
    ("d11", "r1", "Won", "won", 100.0, "2024-04-10"),     # won before S1: no bar
    ("d13", "r2", "Qual", "open", 500.0, "2024-06-15"),   # changes stage only: no bar
    ("d14", "r1", "Neg", "open", 5000.0, "2024-05-20"),   # pushed three times inside Q2: flagged
]
S2_ROWS = [
    ("d1", "r1", "Prop", "open", 1000.0, "2024-06-10"),
    ("d2", "r1", "Prop", "open", 2500.0, "2024-06-05"),
    ("d3", "r2", "Neg", "open", 2000.0, "2024-05-25"),
    ("d4", "r1", "Won", "won", 450.0, "2024-05-06"),
    ("d5", "r2", "Lost", "lost", 700.0, "2024-05-07"),
    ("d6", "r2", "Prop", "open", 800.0, "2024-07-15"),    # push 1 of d6: Jun 20 -> Jul 15 = 25 days
    ("d8", "r3", "Qual", "open", 900.0, "2024-06-01"),    # new -> created 900
    ("d9", "r1", "Prop", "open", 1300.0, "2024-06-25"),   # pulled in (an earlier close date is no push)
    ("d10", "r2", "Qual", "open", 50.0, "2024-09-01"),
    ("d11", "r1", "Won", "won", 100.0, "2024-04-10"),
    ("d12", "r3", "Qual", "open", None, "2024-05-30"),    # new without amount -> created, 0
    ("d13", "r2", "Prop", "open", 500.0, "2024-06-15"),
    ("d14", "r1", "Neg", "open", 5000.0, "2024-05-31"),   # push 1 of d14: May 20 -> May 31 = 11 days
]


def _changed(rows: list[tuple], **by_deal: dict) -> list[tuple]:
    out = []
    for deal, owner, stage, status, amount, close in rows:
        new = {"owner": owner, "stage": stage, "status": status, "amount": amount, "close": close}
        new.update(by_deal.get(deal, {}))
        out.append((deal, new["owner"], new["stage"], new["status"], new["amount"], new["close"]))
    return out


S3_ROWS = _changed(
    S2_ROWS,
    d6={"close": "2024-07-30", "owner": "r3"},   # push 2 of d6: Jul 15 -> Jul 30 = 15 days; now r3's deal
    d11={"close": "2024-04-12"},                 # a won deal's date moving is no push
    d13={"stage": "Neg"},
    d14={"close": "2024-06-15"},                 # push 2 of d14: May 31 -> Jun 15 = 15 days
)
S4_ROWS = _changed(
    S3_ROWS,
    d13={"stage": "Prop"},                       # moves back: a second inferred entry into Prop
    d14={"close": "2024-06-30"},                 # push 3 of d14: Jun 15 -> Jun 30 = 15 days
)


def _snapshot(day: date, rows: list[tuple], batch: int) -> list[dict]:
    return [
        {"batch_id": batch, "snapshot_date": day.isoformat(), "deal_id": d, "owner_rep_id": o, "stage": s,
         "status": st_, "amount": a, "close_date": c}
        for d, o, s, st_, a, c in rows
    ]


@pytest.fixture
def snaps() -> pl.DataFrame:
    stale = [{"batch_id": 1, "snapshot_date": S2.isoformat(), "deal_id": "d1", "owner_rep_id": "r1", "stage": "Prop",
              "status": "open", "amount": 99999.0, "close_date": "2024-06-10"}]   # overwritten by batch 2 that day
    rows = (_snapshot(S1, S1_ROWS, 1) + stale + _snapshot(S2, S2_ROWS, 2) + _snapshot(S3, S3_ROWS, 3)
            + _snapshot(S4, S4_ROWS, 4))
    return frame("deal_snapshots", rows)


# ------------------------------------------------------------------------------------ waterfall
def test_waterfall_bars_between_two_snapshots(snaps):
    ch = changes.pipeline_change(snaps, from_snapshot=S1, to_snapshot=S2, **Q2)
    # start (Q2 pipeline at S1): d1 1000 + d2 2000 + d3 3000 + d4 400 + d5 700 + d6 800 + d7 600 + d13 500
    #                            + d14 5000 = 14000 (d9, d10 close outside Q2; d11 is won)
    # end (Q2 pipeline at S2):   d1 1000 + d2 2500 + d3 2000 + d8 900 + d9 1300 + d12 0 + d13 500 + d14 5000
    #                            = 13200 (d1's stale 99999 row of an earlier upload that day is ignored)
    # 14000 + 900 + 1300 + 500 - 1000 - 800 - 400 - 700 - 600 = 13200
    assert_data(ch.bars, {
        "bar": list(changes.BARS),
        "kind": ["total", "increase", "increase", "increase", "decrease", "decrease", "decrease", "decrease",
                 "decrease", "total"],
        "amount": [14000.0, 900.0, 1300.0, 500.0, 1000.0, 800.0, 400.0, 700.0, 600.0, 13200.0],
        "signed": [14000.0, 900.0, 1300.0, 500.0, -1000.0, -800.0, -400.0, -700.0, -600.0, 13200.0],
        "deals": [9, 2, 1, 1, 1, 1, 1, 1, 1, 8],   # created: d8 and d12 (no amount, counted, 0)
    })
    by_bar = {bar: sorted(ch.deals_of(bar)["deal_id"]) for bar in changes.BARS}
    assert by_bar == {
        "start": ["d1", "d13", "d14", "d2", "d3", "d4", "d5", "d6", "d7"],
        "created": ["d12", "d8"], "pulled_in": ["d9"], "amount_up": ["d2"], "amount_down": ["d3"],
        "pushed_out": ["d6"], "won": ["d4"], "lost": ["d5"], "removed": ["d7"],
        "end": ["d1", "d12", "d13", "d14", "d2", "d3", "d8", "d9"],
    }
    # won counts the amount at the first snapshot (400), not the 450 it was won for
    won = ch.deals_of("won").row(0, named=True)
    assert (won["amount_before"], won["amount_after"], won["change"], won["status_after"]) == (400.0, 450.0, -400.0,
                                                                                               "won")
    pushed = ch.deals_of("pushed_out").row(0, named=True)
    assert (pushed["close_before"], pushed["close_after"]) == (date(2024, 6, 20), date(2024, 7, 15))
    # with no bar: every deal that moved, once
    assert sorted(ch.deals_of(None)["deal_id"]) == ["d12", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"]
    assert changes.change_summary(ch) == {
        "from_snapshot": "2024-05-01", "to_snapshot": "2024-05-08", "start": 14000.0, "created": 900.0,
        "pulled_in": 1300.0, "amount_up": 500.0, "amount_down": 1000.0, "pushed_out": 800.0, "won": 400.0,
        "lost": 700.0, "removed": 600.0, "end": 13200.0,
    }


def _balance(bars: pl.DataFrame) -> float:
    a = dict(zip(bars["bar"], bars["amount"], strict=True))
    return (a["start"] + a["created"] + a["pulled_in"] + a["amount_up"] - a["amount_down"] - a["pushed_out"]
            - a["won"] - a["lost"] - a["removed"] - a["end"])


def test_waterfall_balances_for_every_pair_and_window(snaps):
    windows = [Q2, {"period_from": None, "period_to": None}, {"period_from": date(2024, 6, 1), "period_to": None}]
    dates = [S1, S2, S3, S4]
    for w in windows:
        for i, a in enumerate(dates):
            for b in dates[i + 1:]:
                assert _balance(changes.pipeline_change(snaps, from_snapshot=a, to_snapshot=b, **w).bars) == 0.0


def test_waterfall_over_all_time_has_nothing_pushed_or_pulled(snaps):
    ch = changes.pipeline_change(snaps, from_snapshot=S1, to_snapshot=S2)
    a = ch.amounts()
    # without a window d6's July date and d9, d10 count from the start: 14000 + 1200 (d9) + 50 (d10) = 15250
    # d9 grows 1200 -> 1300: amount_up 500 (d2) + 100 (d9) = 600; d6 stays in: no push
    assert a["start"] == 15250.0 and a["pushed_out"] == 0.0 and a["pulled_in"] == 0.0 and a["amount_up"] == 600.0
    # end: 13200 + 800 (d6) + 50 (d10) = 14050
    assert a["end"] == 14050.0 and _balance(ch.bars) == 0.0


def test_waterfall_without_snapshots_is_all_zero():
    ch = changes.pipeline_change(empty("deal_snapshots"), from_snapshot=None, to_snapshot=None, **Q2)
    assert ch.bars["bar"].to_list() == list(changes.BARS)
    assert ch.bars["amount"].to_list() == [0.0] * 10 and ch.deals.height == 0


def test_snapshot_helpers(snaps):
    assert changes.snapshot_dates(snaps) == [S1, S2, S3, S4]
    assert changes.resolve_snapshot([S1, S2, S3], date(2024, 5, 10)) == S2   # latest on or before
    assert changes.resolve_snapshot([S1, S2, S3], S3) == S3
    assert changes.resolve_snapshot([S1, S2, S3], date(2024, 4, 1)) is None
    latest = changes.latest_rows(snaps).filter((pl.col("snapshot_date") == S2) & (pl.col("deal_id") == "d1"))
    assert latest["amount"].to_list() == [1000.0]


# --------------------------------------------------------------------------- slipped close dates
def test_close_date_pushes(snaps):
    pushes = changes.close_date_pushes(snaps)
    # d6: Jun 20 -> Jul 15 (25 days, S1->S2), Jul 15 -> Jul 30 (15, S2->S3, by then r3's)
    # d14: May 20 -> May 31 (11), May 31 -> Jun 15 (15), Jun 15 -> Jun 30 (15)
    # not pushes: d9 moved earlier; d11 moved later while won
    assert_data(pushes, {
        "deal_id": ["d14", "d14", "d14", "d6", "d6"],
        "owner_rep_id": ["r1", "r1", "r1", "r2", "r3"],
        "snapshot_after": [S2, S3, S4, S2, S3],
        "days": [11, 15, 15, 25, 15],
    })


def test_slipped_deals_flags_three_pushes(snaps):
    out = changes.slipped_deals(snaps, **Q2)
    # d14: 3 pushes, 11 + 15 + 15 = 41 days, flagged; d6: 2 pushes, 25 + 15 = 40 days, owner r3 at S4
    assert_data(out, {
        "deal_id": ["d14", "d6"], "owner_rep_id": ["r1", "r3"], "pushes": [3, 2], "days_pushed": [41, 40],
        "first_close_date": [date(2024, 5, 20), date(2024, 6, 20)],
        "last_close_date": [date(2024, 6, 30), date(2024, 7, 30)],
        "last_pushed_at": [S4, S3], "flagged": [True, False],
    })
    # only the last two snapshots: one push each for d14 (S3 -> S4); d6 did not move then
    last_two = changes.slipped_deals(snaps, from_snapshot=S3, to_snapshot=S4, **Q2)
    assert_data(last_two, {"deal_id": ["d14"], "pushes": [1], "days_pushed": [15], "flagged": [False]})
    assert changes.slipped_deals(snaps, flag_after=2, **Q2)["flagged"].to_list() == [True, True]
    by_rep, deals = changes.slipped_close_dates(snaps, **Q2)
    assert deals.equals(out) and by_rep.equals(changes.slipped_by_rep(snaps, **Q2))


def test_slipped_by_rep(snaps):
    out = changes.slipped_by_rep(snaps, **Q2)
    # tracked = open in Q2's pipeline at some snapshot and seen again later (latest owner):
    #   r1: d1, d2, d4, d9, d14 = 5   r2: d3, d5, d13 = 3   r3: d6, d8, d12 = 3
    #   (d7 is seen once, d10 never closes in Q2, d11 was never open)
    # r1: d14 -> 1 slipped, 3 pushes, 41 days, 41/3 per push, 1 flagged, rate 1/5
    # r3: d6  -> 1 slipped, 2 pushes, 40 days, 20 per push, rate 1/3;  r2: nothing slipped
    assert_data(out, {
        "owner_rep_id": ["r1", "r3", "r2"],
        "tracked_deals": [5, 3, 3],
        "slipped_deals": [1, 1, 0],
        "pushes": [3, 2, 0],
        "days_pushed": [41, 40, 0],
        "avg_days_per_push": [41 / 3, 20.0, None],
        "flagged_deals": [1, 0, 0],
        "slip_rate": [0.2, 1 / 3, 0.0],
    })


# ------------------------------------------------------------------------------ point in time
def test_pipeline_at_a_snapshot_by_stage_and_close_month(snaps):
    out = changes.pipeline_at(snaps, STAGES, snapshot=S2, **Q2)
    # Q2 pipeline at S2: Qual May d12 (0); Qual Jun d8 900; Prop Jun d1 1000 + d2 2500 + d9 1300 + d13 500
    # = 5300; Neg May d3 2000 + d14 5000 = 7000
    assert_data(out, {
        "stage": ["Qual", "Qual", "Prop", "Neg"],
        "stage_index": [0, 0, 1, 2],
        "close_month": [date(2024, 5, 1), date(2024, 6, 1), date(2024, 6, 1), date(2024, 5, 1)],
        "deals": [1, 1, 4, 2],
        "amount": [0.0, 900.0, 5300.0, 7000.0],
    })
    every = changes.pipeline_at(snaps, STAGES)
    assert every["snapshot_date"].unique().sort().to_list() == [S1, S2, S3, S4]
    # all windows: the sum at S2 is every open deal: 13200 + d6 800 + d10 50
    assert every.filter(pl.col("snapshot_date") == S2)["amount"].sum() == 14050.0


def test_pipeline_trend_and_coverage(snaps):
    targets = frame("targets", {"scope": ["company"], "scope_id": [""], "period_start": ["2024-04-01"],
                                "period_end": ["2024-06-30"], "measure": ["revenue"], "value": [30000.0]})
    out = changes.pipeline_trend(snaps, targets, **Q2)
    # S1: pipeline 14000 (9 deals); won in Q2: d11 100 -> remaining 29900, coverage 14000 / 29900
    # S2: pipeline 13200 (8 deals); won: d11 100 + d4 450 = 550 -> remaining 29450, coverage 13200 / 29450
    assert_data(out.head(2), {
        "snapshot_date": [S1, S2], "open_deals": [9, 8], "open_pipeline": [14000.0, 13200.0],
        "won_deals": [1, 2], "won_revenue": [100.0, 550.0], "target": [30000.0, 30000.0],
        "remaining": [29900.0, 29450.0], "coverage": [14000 / 29900, 13200 / 29450],
    })
    assert out["coverage"].null_count() == 0 and out.height == 4
    no_target = changes.pipeline_trend(snaps, None, **Q2)
    assert no_target["coverage"].to_list() == [None] * 4


# ---------------------------------------------------------------------------- stage history
def test_inferred_stage_history(snaps):
    out = changes.infer_stage_history(snaps)
    assert set(out.columns) == {"deal_id", "stage", "entered_at", "inferred"}
    assert out.schema["entered_at"] == pl.Datetime("us") and out["inferred"].all()
    d13 = out.filter(pl.col("deal_id") == "d13")
    # Qual first seen S1, Prop S2, Neg S3, back to Prop S4: one row per entry
    assert_data(d13, {"stage": ["Qual", "Prop", "Neg", "Prop"],
                      "entered_at": [datetime(2024, 5, 1), datetime(2024, 5, 8), datetime(2024, 5, 15),
                                     datetime(2024, 5, 22)]})
    # d4: Prop at S1, Won from S2 on; d8: Qual from S2 (its first snapshot); d7: Qual at S1 only
    assert_data(out.filter(pl.col("deal_id") == "d4"), {"stage": ["Prop", "Won"],
                                                         "entered_at": [datetime(2024, 5, 1), datetime(2024, 5, 8)]})
    assert_data(out.filter(pl.col("deal_id") == "d8"), {"stage": ["Qual"], "entered_at": [datetime(2024, 5, 8)]})
    assert out.filter(pl.col("deal_id") == "d7").height == 1
    # 14 deals; d4, d5 change once, d13 three times: 14 + 1 + 1 + 3 = 19 entries
    assert out.height == 19


# --------------------------------------------------------------------------- forecast accuracy
ACC_DEALS = frame("deals", [
    {"deal_id": "a1", "status": "won", "stage": "Won", "amount": 1000.0, "created_on": "2024-03-01",
     "closed_on": "2024-05-10", "close_date": "2024-05-10", "probability": 0.99},
    {"deal_id": "a2", "status": "won", "stage": "Won", "amount": 500.0, "created_on": "2024-03-01",
     "closed_on": "2024-04-15", "close_date": "2024-04-15"},
    {"deal_id": "a3", "status": "lost", "stage": "Lost", "amount": 800.0, "created_on": "2024-03-01",
     "closed_on": "2024-05-12", "close_date": "2024-05-12"},
    {"deal_id": "a4", "status": "open", "stage": "Prop", "amount": 2000.0, "created_on": "2024-03-01",
     "close_date": "2024-06-20"},
])


def _acc_snaps() -> pl.DataFrame:
    early = [("a1", "r1", "Prop", "open", 1000.0, "2024-05-10"), ("a3", "r1", "Qual", "open", 800.0, "2024-05-12"),
             ("a4", "r1", "Prop", "open", 2000.0, "2024-06-20")]   # a2 (won in April) is not exported
    late = [("a1", "r1", "Won", "won", 1000.0, "2024-05-10"), ("a2", "r1", "Won", "won", 500.0, "2024-04-15"),
            ("a3", "r1", "Lost", "lost", 800.0, "2024-05-12"), ("a4", "r1", "Prop", "open", 2000.0, "2024-06-20")]
    return frame("deal_snapshots", _snapshot(S1, early, 1) + _snapshot(S2, early, 2) + _snapshot(S3, late, 3)
                 + _snapshot(S4, late, 4))


def test_deals_at_snapshot():
    at_s1 = changes.deals_at_snapshot(ACC_DEALS, _acc_snaps(), S1).sort("deal_id")
    # a1, a3, a4 as exported on May 1 (open, no close day); a2 had closed by then (deals table) -> added
    assert_data(at_s1, {"deal_id": ["a1", "a2", "a3", "a4"], "status": ["open", "won", "open", "open"],
                        "closed_on": [None, date(2024, 4, 15), None, None], "probability": [None] * 4})
    at_s3 = changes.deals_at_snapshot(ACC_DEALS, _acc_snaps(), S3).sort("deal_id")
    assert_data(at_s3, {"status": ["won", "won", "lost", "open"],
                        "closed_on": [date(2024, 5, 10), date(2024, 4, 15), date(2024, 5, 12), None]})


def test_forecast_accuracy_and_best_method():
    acc = changes.forecast_accuracy(ACC_DEALS, empty("stage_history"), STAGES, _acc_snaps(), as_of=S4, **Q2)
    # the period is cut at as_of (May 22): actual = a1 1000 + a2 500 = 1500; S1, S2, S3 are before May 22
    assert acc["snapshot_date"].unique().sort().to_list() == [S1, S2, S3]
    assert set(acc["actual"]) == {1500.0}
    weighted = acc.filter(pl.col("method") == "weighted")
    # S1, S2: won so far a2 500 + a1 1000 x 0.5 (Prop) + a3 800 x 0.2 (Qual) = 1160 (a1's own 0.99 is
    # today's, not used); a4 closes after May 22. S3: a1 and a2 won = 1500, nothing open in the window.
    assert_data(weighted, {"forecast": [1160.0, 1160.0, 1500.0], "error": [-340.0, -340.0, 0.0],
                           "abs_pct_error": [340 / 1500, 340 / 1500, 0.0]})
    run_rate = acc.filter(pl.col("method") == "run_rate")
    # Apr 1..May 22 = 52 days. S1: 31 days gone, 500 won -> 500 + 500/31 x 21; S2: 38 gone -> 500 + 500/38 x 14;
    # S3: 45 gone, 1500 won -> 1500 + 1500/45 x 7
    expected = [500 + 500 / 31 * 21, 500 + 500 / 38 * 14, 1500 + 1500 / 45 * 7]
    assert_data(run_rate, {"forecast": expected})
    mape = changes.forecast_mape(acc)
    assert mape["method"].to_list() == list(changes.METHODS) and mape["snapshots"].to_list() == [3, 3, 3]
    assert mape.filter(pl.col("method") == "weighted")["mape"][0] == pytest.approx((340 / 1500 * 2) / 3)
    assert mape.filter(pl.col("method") == "run_rate")["mape"][0] == pytest.approx(
        sum(abs(x - 1500) / 1500 for x in expected) / 3)
    best = mape.sort("mape")["method"][0]
    assert changes.best_method(acc) == best
    # with two snapshots of history the default stays
    assert changes.best_method(acc.filter(pl.col("snapshot_date") < S3)) == "weighted"
    assert changes.best_method(acc.filter(pl.col("snapshot_date") < S3), default="run_rate") == "run_rate"


def test_best_method_picks_the_lowest_error():
    acc = pl.DataFrame({
        "snapshot_date": [S1, S2, S3] * 3,
        "method": ["weighted"] * 3 + ["historical"] * 3 + ["run_rate"] * 3,
        "forecast": [0.0] * 9, "actual": [100.0] * 9, "error": [0.0] * 9,
        "abs_pct_error": [0.3, 0.3, 0.3, 0.1, 0.2, 0.1, 0.5, 0.0, 0.5],
    })
    assert changes.best_method(acc) == "historical"   # 0.133 < 0.3 < 0.333
    assert changes.best_method(acc.clear()) == "weighted"


def test_forecast_accuracy_needs_a_started_period():
    acc = changes.forecast_accuracy(ACC_DEALS, empty("stage_history"), STAGES, _acc_snaps(), as_of=date(2024, 3, 1),
                                    **Q2)
    assert acc.height == 0 and changes.best_method(acc) == "weighted"


def _read(day, deal_id, status, stage, amount, created, close, closed, hist):
    return {"snapshot_date": day, "deal_id": deal_id, "stage": stage, "status": status, "amount": amount,
            "created_on": created, "close_date": close, "closed_on": closed, "hist_idx": hist}


READ_SCHEMA = {"snapshot_date": pl.Date, "deal_id": pl.String, "stage": pl.String, "status": pl.String,
               "amount": pl.Float64, "created_on": pl.Date, "close_date": pl.Date, "closed_on": pl.Date,
               "hist_idx": pl.Int64}


def test_summed_reads_sum_the_deals_forecasts_treat_alike():
    d = date(2024, 5, 1)
    at = pl.DataFrame([
        # open, Prop, reach 1, aged 0-29 days on May 1 (10 and 25 days; undated counts as new): one row
        _read(d, "o3", "open", "Prop", 100.0, date(2024, 4, 21), date(2024, 6, 1), None, 1),
        _read(d, "o1", "open", "Prop", 200.0, date(2024, 4, 6), date(2024, 5, 20), None, 1),
        _read(d, "o2", "open", "Prop", None, None, date(2024, 6, 9), None, 1),
        # 30-89 days old (61): its own row; another reach: its own row
        _read(d, "o4", "open", "Prop", 50.0, date(2024, 3, 1), date(2024, 6, 1), None, 1),
        _read(d, "o5", "open", "Prop", 70.0, date(2024, 4, 30), date(2024, 6, 1), None, None),
        # won: by close day (closed_on, else close_date), whatever their stage or age
        _read(d, "w2", "won", "Won", 300.0, date(2023, 1, 1), date(2024, 4, 2), date(2024, 4, 10), 3),
        _read(d, "w1", "won", "Won", 400.0, date(2024, 4, 1), date(2024, 4, 10), None, None),
        _read(d, "w3", "won", "Won", 10.0, None, date(2024, 4, 11), date(2024, 4, 11), None),
        # the next snapshot is summed apart
        _read(date(2024, 5, 8), "o1", "open", "Prop", 200.0, date(2024, 4, 6), date(2024, 5, 20), None, 1),
    ], schema=READ_SCHEMA)
    out = changes.summed_reads(at)
    assert_data(out, {
        "snapshot_date": [d] * 5 + [date(2024, 5, 8)],
        "deal_id": ["o1", "o4", "o5", "w1", "w3", "o1"],
        "status": ["open", "open", "open", "won", "won", "open"],
        "stage": ["Prop", "Prop", "Prop", None, None, "Prop"],
        "amount": [300.0, 50.0, 70.0, 700.0, 10.0, 200.0],
        "created_on": [date(2024, 4, 6), date(2024, 3, 1), date(2024, 4, 30), None, None, date(2024, 4, 6)],
        "close_date": [date(2024, 5, 20), date(2024, 6, 1), date(2024, 6, 1), date(2024, 4, 10), date(2024, 4, 11),
                       date(2024, 5, 20)],
        "closed_on": [None, None, None, date(2024, 4, 10), date(2024, 4, 11), None],
        "hist_idx": [1, 1, None, None, None, 1],
    })
    assert out.schema == at.schema


def test_forecast_accuracy_is_the_same_on_summed_reads(demo):
    """Every method's forecast at every snapshot, from the deals read one by one and summed."""
    q4 = {"period_from": date(2026, 10, 1), "period_to": date(2026, 12, 31)}
    deals, as_of = demo.deals, date(2026, 11, 22)
    days = [d for d in changes.snapshot_dates(demo.snapshots) if d < as_of]
    reaches = changes.history_reach_by_day(demo.stage_history, demo.stages, days)
    created, closed = pl.col("created_on"), pl.coalesce("closed_on", "close_date")

    def read(day: date) -> pl.Expr:   # open by then, expected to close in the period; won in it or the trailing window
        live = ((pl.col("status") == "open") & (created.is_null() | (created <= day))
                & pl.col("close_date").is_between(q4["period_from"], as_of))
        return live | ((pl.col("status") == "won") & closed.is_between(min(q4["period_from"], day - timedelta(days=89)), day))

    at = pl.concat([
        changes.deals_at_snapshot(deals, demo.snapshots, day).filter(read(day))
        .join(reaches.filter(pl.col("snapshot_date") == day).drop("snapshot_date"), on="deal_id", how="left")
        .select(pl.lit(day).alias("snapshot_date"), *[c for c in READ_SCHEMA if c != "snapshot_date"])
        for day in days]).cast(READ_SCHEMA)
    from metrics import forecast
    trained = pl.concat([
        forecast.historical_training(changes.deals_at_snapshot(deals, demo.snapshots, day), demo.stage_history,
                                     demo.stages, as_of=day).select(pl.lit(day).alias("snapshot_date"), pl.all())
        for day in days])
    summed = changes.summed_reads(at)
    assert summed.height < at.height / 10
    one_by_one = changes.forecast_accuracy(deals, None, demo.stages, None, as_of=as_of, days=days, at=at,
                                           trained=trained, **q4)
    assert one_by_one.height == 3 * len(days)
    assert_frame_equal(changes.forecast_accuracy(deals, None, demo.stages, None, as_of=as_of, days=days, at=summed,
                                                 trained=trained, **q4), one_by_one,
                       check_exact=False, rel_tol=1e-12, abs_tol=1e-6)


# ------------------------------------------------------------------------------ the property
DAYS = st.one_of(st.none(), st.dates(date(2024, 1, 1), date(2024, 12, 31)))
ROW = st.tuples(
    st.booleans(),                                            # present in the snapshot
    st.sampled_from(["open", "open", "won", "lost", None]),
    st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False).map(lambda x: round(x, 2))),
    DAYS,
)


@settings(max_examples=150, deadline=None)
@given(
    deals=st.lists(st.tuples(ROW, ROW), min_size=0, max_size=30),
    lo=st.one_of(st.none(), st.dates(date(2024, 1, 1), date(2024, 6, 30))),
    hi=st.one_of(st.none(), st.dates(date(2024, 7, 1), date(2024, 12, 31))),
)
def test_waterfall_always_balances(deals, lo, hi):
    rows = []
    for i, pair in enumerate(deals):
        for day, (present, status, amount, close) in zip((S1, S2), pair, strict=True):
            if present:
                rows.append({"snapshot_date": day, "deal_id": f"x{i}", "status": status, "amount": amount,
                             "close_date": close, "stage": "Prop", "owner_rep_id": "r1"})
    snaps = frame("deal_snapshots", rows) if rows else empty("deal_snapshots")
    ch = changes.pipeline_change(snaps, from_snapshot=S1, to_snapshot=S2, period_from=lo, period_to=hi)
    total = float(ch.bars["amount"].abs().sum()) or 1.0
    assert math.isclose(_balance(ch.bars), 0.0, abs_tol=1e-9 * total + 1e-6)
    moved = ch.deals_of(None)
    assert moved["deal_id"].is_unique().all(), "a deal moves through one bar at most"
    assert (moved["change"].sign() * pl.Series([changes.SIGN[b] for b in moved["bar"]]) >= 0).all()


# ----------------------------------------------------------------------------------- the demo
@pytest.fixture(scope="module")
def demo():
    from data.demo import generate

    return generate(seed=7, as_of=date(2026, 11, 22))


def test_demo_waterfall_every_bar_moves(demo):
    dates = changes.snapshot_dates(demo.snapshots)
    assert len(dates) == 8
    q4 = {"period_from": date(2026, 10, 1), "period_to": date(2026, 12, 31)}
    ch = changes.pipeline_change(demo.snapshots, from_snapshot=dates[-2], to_snapshot=dates[-1], **q4)
    zero = [bar for bar, amount in ch.amounts().items() if not amount]
    assert not zero, f"bars without movement on the demo: {zero}\n{ch.bars}"
    assert all(n > 0 for n in ch.counts().values())
    assert math.isclose(_balance(ch.bars), 0.0, abs_tol=1e-3)
    # over the whole history as well
    whole = changes.pipeline_change(demo.snapshots, from_snapshot=dates[0], to_snapshot=dates[-1], **q4)
    assert not [bar for bar, amount in whole.amounts().items() if not amount]
    assert math.isclose(_balance(whole.bars), 0.0, abs_tol=1e-3)


def test_demo_history(demo):
    q4 = {"period_from": date(2026, 10, 1), "period_to": date(2026, 12, 31)}
    slipped = changes.slipped_deals(demo.snapshots, **q4)
    assert slipped.height > 0 and slipped["flagged"].any() and (slipped["pushes"] >= 1).all()
    inferred = changes.infer_stage_history(demo.snapshots)
    assert inferred.height >= demo.snapshots["deal_id"].n_unique()
    acc = changes.forecast_accuracy(demo.deals, demo.stage_history, demo.stages, demo.snapshots,
                                    as_of=date(2026, 11, 22), **q4)
    assert acc["snapshot_date"].n_unique() == 7 and acc["abs_pct_error"].null_count() == 0
    assert changes.best_method(acc) in changes.METHODS

"""`python -m data report --json` on real CRM files equals an independent computation in plain SQL
over the original CSV (won revenue, win rate, won/lost/open counts, leaderboard order)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def dtc(tmp_path_factory, realdata):
    db = tmp_path_factory.mktemp("rep") / "dtc.duckdb"
    sf = realdata / "salesforce_dtc_sample"
    imp = run("import", str(sf / "DTC_Opportunity.csv"), str(sf / "DTC_Task.csv"), str(sf / "DTC_Event.csv"),
              "--db", str(db))
    assert imp.returncode == 0, imp.stderr
    return sf, db


def sql(query: str, *params) -> list[tuple]:
    return duckdb.connect().execute(query, list(params)).fetchall()


OPP = "read_csv(?, header=true, all_varchar=true)"


def test_all_time_headline_numbers_match_sql(dtc):
    sf, db = dtc
    rep = json.loads(run("report", "--db", str(db), "--json", "--as-of", "2016-12-31").stdout)
    opp = str(sf / "DTC_Opportunity.csv")
    (won, lost, open_, won_rev), = sql(
        f"SELECT count(*) FILTER (StageName = 'Closed Won'), count(*) FILTER (StageName = 'Closed Lost'), "
        f"count(*) FILTER (StageName NOT IN ('Closed Won', 'Closed Lost')), "
        f"sum(Amount::DOUBLE) FILTER (StageName = 'Closed Won') FROM {OPP}", opp)
    assert rep["deals"] == {"total": won + lost + open_, "open": open_, "won": won, "lost": lost}
    assert rep["won_revenue"] == pytest.approx(won_rev)
    assert rep["win_rate"] == pytest.approx(won / (won + lost))
    assert rep["avg_won_amount"] == pytest.approx(won_rev / won)
    (median_cycle,), = sql(f"SELECT median(CloseDate::DATE - CreatedDate::DATE) FROM {OPP} "
                           f"WHERE StageName = 'Closed Won'", opp)
    assert rep["median_cycle_days"] == pytest.approx(median_cycle)


def test_period_numbers_and_leaderboard_order_match_sql(dtc):
    sf, db = dtc
    rep = json.loads(run("report", "--db", str(db), "--json", "--from", "2014-01-01", "--to", "2014-12-31",
                         "--as-of", "2016-12-31").stdout)
    opp, task, event = (str(sf / f) for f in ("DTC_Opportunity.csv", "DTC_Task.csv", "DTC_Event.csv"))
    in_period = "CloseDate::DATE BETWEEN DATE '2014-01-01' AND DATE '2014-12-31'"
    (won, lost, won_rev), = sql(
        f"SELECT count(*) FILTER (StageName = 'Closed Won'), count(*) FILTER (StageName = 'Closed Lost'), "
        f"coalesce(sum(Amount::DOUBLE) FILTER (StageName = 'Closed Won'), 0) FROM {OPP} WHERE {in_period}", opp)
    assert (rep["deals"]["won"], rep["deals"]["lost"]) == (won, lost)
    assert rep["won_revenue"] == pytest.approx(won_rev)
    assert rep["win_rate"] == pytest.approx(won / (won + lost))
    # every owner seen anywhere (opportunities, tasks, events) is listed, by won revenue in the period
    board = sql(
        f"WITH owners AS (SELECT \"Owner.Name\" AS rep FROM {OPP} UNION SELECT OwnerId FROM "
        f"read_csv(?, header=true, all_varchar=true) UNION SELECT OwnerId FROM read_csv(?, header=true, all_varchar=true)), "
        f"won AS (SELECT \"Owner.Name\" AS rep, sum(Amount::DOUBLE) AS rev, count(*) AS n FROM {OPP} "
        f"WHERE StageName = 'Closed Won' AND {in_period} GROUP BY 1) "
        f"SELECT o.rep, coalesce(w.rev, 0), coalesce(w.n, 0) FROM owners o LEFT JOIN won w USING (rep) "
        f"ORDER BY 2 DESC, 3 DESC, 1", opp, task, event, opp)
    got = [(r["rep"], r["won_revenue"], r["won_deals"]) for r in rep["leaderboard"]]
    assert [g[0] for g in got] == [b[0] for b in board]
    assert [g[1] for g in got] == pytest.approx([b[1] for b in board])
    assert [g[2] for g in got] == [b[2] for b in board]
    assert any(r["won_deals"] == 0 for r in rep["leaderboard"])      # a rep without deals is listed
    (acts,), = sql("SELECT count(*) FROM read_csv(?, header=true, all_varchar=true) WHERE OwnerId = 'Jessica Nichols'",
                   task)
    jessica = next(r for r in rep["leaderboard"] if r["rep"] == "Jessica Nichols")
    assert jessica["won_deals"] == 0 and jessica["activities"] >= 0 and acts > 0


def test_report_json_contract(dtc):
    _, db = dtc
    rep = json.loads(run("report", "--db", str(db), "--json").stdout)
    for key in ("period", "deals", "won_revenue", "win_rate", "avg_won_amount", "median_cycle_days", "funnel",
                "leaderboard", "tiers", "plan", "quality"):
        assert key in rep
    assert set(rep["period"]) >= {"from", "to"} and rep["period"]["from"] is None
    assert set(rep["funnel"][0]) >= {"stage", "reached", "conversion_to_next", "median_days"}
    assert [f["stage"] for f in rep["funnel"]][:2] == ["Prospecting", "Qualification"]
    assert [t["tier"] for t in rep["tiers"]] == ["A", "B", "C", "none"]
    assert set(rep["plan"]) >= {"target", "actual", "attainment"} and 0 <= rep["quality"]["score"] <= 100
    text = run("report", "--db", str(db))
    assert text.returncode == 0 and "won revenue" in text.stdout

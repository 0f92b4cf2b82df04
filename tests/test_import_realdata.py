"""The real public CRM files of ../shared/realdata import as the kind a user would pick, with exact
row counts and dates equal to the originals' (variants included). Expected values are computed here
independently with the csv module or stated from the files' PROVENANCE notes."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from data.ingest.pipeline import import_file
from data.ingest.problems import ImportProblem
from data.store import Store

ROOT = Path(__file__).resolve().parents[1]


def read_csv(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh, delimiter=delimiter))


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "real.duckdb")
    yield s
    s.close()


def accounted(res) -> None:
    assert res.rows_read == res.inserted + res.updated + res.unchanged + res.rejected + res.skipped


def test_salesforce_dtc_sample(store, realdata):
    sf = realdata / "salesforce_dtc_sample"
    opp = import_file(store, sf / "DTC_Opportunity.csv", today=date(2026, 1, 5))
    accounted(opp)
    assert opp.kind == "deals"
    assert (opp.rows_read, opp.inserted, opp.rejected, opp.skipped) == (1999, 1999, 0, 0)
    assert store.deal_status_counts() == {"total": 1999, "open": 191, "won": 1345, "lost": 463}
    deals = store.frame("deals")
    src = {r["Name"]: r for r in read_csv(sf / "DTC_Opportunity.csv")}
    got = {d: (c.isoformat(), cr.isoformat(), a, o) for d, c, cr, a, o in
           deals.select("deal_id", "close_date", "created_on", "amount", "owner_rep_id").iter_rows()}
    assert got == {k: (r["CloseDate"], r["CreatedDate"], float(r["Amount"]), r["Owner.Name"]) for k, r in src.items()}
    assert store.frame("reps").height == 18                     # 18 opportunity owners
    assert store.snapshot_dates() == [date(2026, 1, 5)]         # upload date when the file has none

    hist = import_file(store, sf / "DTC_OpportunityHistory.csv")
    accounted(hist)
    assert hist.kind == "stage_history"
    assert (hist.rows_read, hist.inserted, hist.rejected) == (387, 387, 0)
    sh = store.frame("stage_history")
    assert sh["deal_id"].is_in(deals["deal_id"].implode()).all()   # names resolved to deals
    expected = sorted((r["OpportunityName"], r[" StageName"].strip(), r[" CreatedDate"].strip())
                      for r in read_csv(sf / "DTC_OpportunityHistory.csv"))
    assert sorted((d, s, e.date().isoformat()) for d, s, e in sh.select("deal_id", "stage", "entered_at").iter_rows()) == expected

    acc = import_file(store, sf / "DTC_Account.csv")
    accounted(acc)
    assert acc.kind == "accounts"
    assert (acc.rows_read, acc.rejected) == (1001, 0)
    # accounts named on deals match the account file by name: no duplicates
    assert store.frame("accounts")["account_id"].n_unique() == store.frame("accounts").height

    task = import_file(store, sf / "DTC_Task.csv")
    accounted(task)
    assert task.kind == "activities"
    assert (task.rows_read, task.inserted, task.rejected) == (1999, 1999, 0)
    event = import_file(store, sf / "DTC_Event.csv")
    accounted(event)
    assert event.kind == "activities"
    assert (event.rows_read, event.inserted, event.rejected) == (1999, 1999, 0)
    kinds = store.frame("activities")["kind"].value_counts().sort("kind")
    assert dict(kinds.iter_rows()) == {"call": 676, "email": 661, "meeting": 1999, "task": 662}


OLIST = "olist_marketing_funnel"
MQL = [
    f"{OLIST}/olist_marketing_qualified_leads_dataset.csv",
    f"{OLIST}/variant_excel_dmy/olist_marketing_qualified_leads_dataset.csv",
    f"{OLIST}/variant_excel_semicolon_bom/olist_marketing_qualified_leads_dataset.csv",
    f"{OLIST}/variant_excel_us_trimmed/olist_marketing_qualified_leads_dataset.csv",
]


@pytest.mark.parametrize("rel", MQL)
def test_olist_leads_every_variant_has_the_original_dates(store, realdata, rel):
    original = {r["mql_id"]: r["first_contact_date"] for r in read_csv(realdata / MQL[0])}
    res = import_file(store, realdata / rel)
    accounted(res)
    assert res.kind == "leads"
    assert (res.rows_read, res.inserted, res.rejected) == (8000, 8000, 0)
    got = {k: v.isoformat() for k, v in store.frame("leads").select("lead_id", "created_on").iter_rows()}
    assert got == original


CLOSED = [
    (f"{OLIST}/olist_closed_deals_dataset.csv", 842),
    (f"{OLIST}/variant_excel_dmy/olist_closed_deals_dataset.csv", 842),
    (f"{OLIST}/variant_excel_semicolon_bom/olist_marketing_closed_deals_dataset.csv", 842),
]


@pytest.mark.parametrize("rel,n", CLOSED)
def test_olist_closed_deals_are_won_deals_with_original_dates(store, realdata, rel, n):
    original = {r["mql_id"]: r["won_date"][:10] for r in read_csv(realdata / CLOSED[0][0])}
    res = import_file(store, realdata / rel, today=date(2026, 1, 5))
    accounted(res)
    assert res.kind == "deals"
    assert (res.rows_read, res.inserted, res.rejected) == (n, n, 0)
    deals = store.frame("deals")
    assert deals["status"].unique().to_list() == ["won"]
    assert {k: v.isoformat() for k, v in deals.select("deal_id", "closed_on").iter_rows()} == original
    assert deals["owner_rep_id"].n_unique() == 22                # 22 sales reps (sr_id)


def test_olist_trimmed_closed_deals_name_the_missing_owner(store, realdata, tmp_path):
    path = realdata / OLIST / "variant_excel_us_trimmed" / "olist_closed_deals_dataset.csv"
    before = store.content_digest()
    with pytest.raises(ImportProblem) as exc:
        import_file(store, path)
    assert exc.value.code == "missing_required" and "owner" in exc.value.params["missing"]
    assert store.content_digest() == before
    res = import_file(store, path, constants={"owner": "Unassigned"})
    assert (res.rows_read, res.inserted, res.rejected) == (380, 380, 0)
    original = {r["mql_id"]: r["won_date"][:10] for r in read_csv(realdata / CLOSED[0][0])}
    got = {k: v.isoformat() for k, v in store.frame("deals").select("deal_id", "closed_on").iter_rows()}
    assert got == {k: original[k] for k in got}


def test_olist_lead_to_deal_funnel(store, realdata):
    import_file(store, realdata / MQL[0])
    import_file(store, realdata / CLOSED[0][0])
    leads = store.frame("leads")
    deals = store.frame("deals")
    converted = leads.filter(pl.col("lead_id").is_in(deals["deal_id"].implode()))
    assert converted.height == 842                               # 10.5% of 8,000


SUPERSTORE = [("superstore/Sample - Superstore.csv", 9994, "%m/%d/%Y"),
              ("superstore/variant_tableau_2020/Sample - Superstore.csv", 10194, "%d/%m/%y")]


@pytest.mark.parametrize("rel,n,fmt", SUPERSTORE)
def test_superstore_order_lines_as_won_deals_per_customer(store, realdata, rel, n, fmt):
    res = import_file(store, realdata / rel, kind="deals", constants={"status": "won", "owner": "Superstore"})
    accounted(res)
    assert (res.rows_read, res.inserted, res.rejected) == (n, n, 0)
    rows = read_csv(realdata / rel)
    expected = {r["Row ID"]: datetime.strptime(r["Order Date"], fmt).date() for r in rows}
    got = dict(store.frame("deals").select("deal_id", "close_date").iter_rows())
    assert got == expected
    assert all(str(d.year) in oid for oid, d in
               ((r["Order ID"], expected[r["Row ID"]]) for r in rows))   # the order id carries the year
    customers = {r["Customer ID"] for r in rows}
    assert store.frame("deals")["account_id"].n_unique() == len(customers)
    won = sum(float(r["Sales"]) for r in rows)
    assert store.won_revenue() == pytest.approx(won)


@pytest.mark.parametrize("rel", ["ecommerce_sales_targets/Sales target.csv",
                                 "ecommerce_sales_targets/variant_dirty_nikkimittal/Sales target.csv"])
def test_ecommerce_targets(store, realdata, rel):
    res = import_file(store, realdata / rel)
    accounted(res)
    assert res.kind == "targets"
    assert (res.rows_read, res.inserted, res.rejected) == (36, 36, 0) or res.inserted + res.rejected == 36
    t = store.frame("targets")
    assert t["scope"].unique().to_list() == ["product"]
    assert t["period_start"].min() == date(2018, 4, 1) and t["period_end"].max() == date(2019, 3, 31)
    furniture_apr = t.filter((pl.col("scope_id").str.to_lowercase().str.strip_chars() == "furniture")
                             & (pl.col("period_start") == date(2018, 4, 1)))
    assert furniture_apr["value"].to_list() == [10400.0]


def test_import_command_json_contract(tmp_path, realdata):
    db = tmp_path / "cli.duckdb"
    path = realdata / "salesforce_dtc_sample" / "DTC_Opportunity.csv"
    cmd = [sys.executable, "-m", "data", "import", str(path), "--db", str(db), "--json"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert isinstance(out, list) and len(out) == 1
    for key in ("batch_id", "kind", "rows_read", "inserted", "updated", "unchanged", "rejected", "skipped",
                "rejects", "mapping"):
        assert key in out[0]
    assert out[0]["mapping"]["StageName"] == "stage"
    again = json.loads(subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120).stdout)[0]
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1999)
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n", encoding="utf-8")
    failed = subprocess.run([sys.executable, "-m", "data", "import", str(bad), "--db", str(db), "--kind", "deals"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr and "missing" in failed.stderr.lower()
    assert len(failed.stderr.strip().splitlines()) == 1

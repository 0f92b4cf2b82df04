"""The import pipeline on small hand-made exports of every CRM style: what is stored, rejected
(line, column, reason) and skipped, re-uploads, overlapping extracts, undo and failed files."""
from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from data.ingest.pipeline import import_file, prepare
from data.ingest.problems import ImportProblem
from data.store import Store


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(tmp_path / "p.duckdb")
    yield s
    s.close()


def put(tmp_path, name: str, text: str, encoding: str = "utf-8", newline: str = "\n"):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode(encoding))
    return p


def accounted(res) -> None:
    assert res.rows_read == res.inserted + res.updated + res.unchanged + res.rejected + res.skipped


SALESFORCE_REPORT = """\
"Opportunity Pipeline"
"As of 2024-05-31"

"Opportunity Owner","Account Name","Opportunity Name","Stage","Amount","Probability (%)","Close Date","Created Date"
"Ann Lee","Acme","Acme - 100 units","Prospecting","$1,200.00","10%","6/15/2024","4/2/2024"
"Ann Lee","Globex","Globex renewal","Closed Won","$5,000.50","100%","5/20/2024","1/13/2024"
"Bob Stone","Initech","Initech pilot","Closed Lost","$800.00","0%","5/2/2024","3/30/2024"
"Bob Stone","Acme","Acme upsell","Negotiation/Review","bad","90%","7/1/2024","4/28/2024"

"Grand Totals (4 records)"

"Confidential Information - Do Not Distribute"
"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."
"""


def test_salesforce_report_with_title_footer_and_a_bad_amount(store, tmp_path):
    res = import_file(store, put(tmp_path, "pipeline.csv", SALESFORCE_REPORT, newline="\r\n"))
    accounted(res)
    assert res.kind == "deals"
    assert (res.rows_read, res.inserted, res.rejected) == (4 + res.skipped, 3, 1)
    assert res.skipped >= 3                                   # blank, Grand Totals, Confidential, Copyright
    assert res.rejects == [{"line": 8, "column": "Amount", "reason": "'bad' is not an amount."}]
    assert res.snapshot_date == date(2024, 5, 31)             # from the "As of" title line
    deals = store.frame("deals").sort("deal_id")
    assert deals["deal_id"].to_list() == ["Acme - 100 units", "Globex renewal", "Initech pilot"]
    assert deals["status"].to_list() == ["open", "won", "lost"]
    assert deals["amount"].to_list() == [1200.0, 5000.5, 800.0]
    assert deals["currency"].to_list() == ["USD"] * 3
    assert deals["probability"].to_list() == [0.1, 1.0, 0.0]
    assert deals["close_date"].to_list() == [date(2024, 6, 15), date(2024, 5, 20), date(2024, 5, 2)]
    assert deals["closed_on"].to_list() == [None, date(2024, 5, 20), date(2024, 5, 2)]
    assert sorted(store.frame("reps")["name"].to_list()) == ["Ann Lee", "Bob Stone"]
    assert store.rejected_frame(res.batch_id)["raw"].to_list()[0].startswith("Bob Stone,Acme,Acme upsell")


HUBSPOT = """\
Record ID,Deal Name,Deal Stage,Amount,Deal owner,Close Date,Create Date,Pipeline
0012,Big deal,closedwon,"12,500",Carol King,2024-03-01,2024-01-05,Sales Pipeline
0013,Small deal,appointmentscheduled,900,Carol King,2024-04-11,2024-02-01,Sales Pipeline
0014,Lost deal,closedlost,3000,Dan Wu,2024-02-20,2024-01-20,Sales Pipeline
"""


def test_hubspot_internal_stage_ids_and_leading_zero_ids(store, tmp_path):
    res = import_file(store, put(tmp_path, "hubspot-deals.csv", HUBSPOT))
    assert (res.inserted, res.rejected) == (3, 0)
    deals = store.frame("deals").sort("deal_id")
    assert deals["deal_id"].to_list() == ["0012", "0013", "0014"]
    assert deals["status"].to_list() == ["won", "open", "lost"]
    assert deals["amount"].to_list() == [12500.0, 900.0, 3000.0]
    assert res.mapping["Pipeline"] != "stage" if "Pipeline" in res.mapping else True


CHINESE_GBK = """\
商机编号,商机名称,客户名称,负责人,商机阶段,商机金额,预计成交日期,创建时间
S-001,华信扩容项目,华信科技有限公司,王伟,赢单,"￥1,200.50",2024/05/31,2024/01/02
S-002,东方云迁移,东方电子,李娜,方案报价,￥30000,2024/06/30,2024/02/03
S-003,北辰续约,北辰集团,王伟,输单,8000元,2024/04/15,2024/01/20
"""


def test_chinese_export_in_gbk(store, tmp_path):
    res = import_file(store, put(tmp_path, "商机.csv", CHINESE_GBK, encoding="gbk"))
    accounted(res)
    assert (res.kind, res.inserted, res.rejected) == ("deals", 3, 0)
    deals = store.frame("deals").sort("deal_id")
    assert deals["name"].to_list() == ["华信扩容项目", "东方云迁移", "北辰续约"]
    assert deals["status"].to_list() == ["won", "open", "lost"]
    assert deals["amount"].to_list() == [1200.5, 30000.0, 8000.0]
    assert deals["currency"].to_list() == ["CNY"] * 3
    assert deals["close_date"].to_list() == [date(2024, 5, 31), date(2024, 6, 30), date(2024, 4, 15)]
    assert sorted(store.frame("accounts")["name"].to_list()) == ["东方电子", "北辰集团", "华信科技有限公司"]


TURKISH = """\
Fırsat No;Fırsat Adı;Müşteri;Satış Temsilcisi;Aşama;Tutar;Kapanış Tarihi;Oluşturma Tarihi
F1;ERP projesi;Yılmaz A.Ş.;Mehmet Yılmaz;Kazanıldı;1.234,56 TL;31.12.2024;01.10.2024
F2;Bulut geçişi;Demir Ltd.;Ayşe Demir;Teklif;25.000,00 TL;15.01.2025;02.11.2024
F3;Lisans;Kaya Holding;Ayşe Demir;Kaybedildi;980,00 TL;05.12.2024;20.10.2024
"""


def test_turkish_export_with_decimal_commas_and_day_first_dates(store, tmp_path):
    res = import_file(store, put(tmp_path, "firsatlar.csv", TURKISH, encoding="cp1254" if False else "utf-8-sig"))
    assert (res.kind, res.inserted, res.rejected) == ("deals", 3, 0)
    deals = store.frame("deals").sort("deal_id")
    assert deals["status"].to_list() == ["won", "open", "lost"]
    assert deals["amount"].to_list() == [1234.56, 25000.0, 980.0]
    assert deals["currency"].to_list() == ["TRY"] * 3
    assert deals["close_date"].to_list() == [date(2024, 12, 31), date(2025, 1, 15), date(2024, 12, 5)]


AMBIGUOUS = """\
Deal ID,Deal Name,Owner,Status,Close Date
1,A,Ann,won,03/01/24
2,B,Ann,lost,04/02/24
"""


def test_ambiguous_dates_follow_the_users_choice_and_say_so(store, tmp_path):
    path = put(tmp_path, "deals.csv", AMBIGUOUS)
    res = import_file(store, path)
    assert ("date_order_default", {"column": "Close Date"}) in [(c, {k: v for k, v in p.items() if k == "column"})
                                                                for c, p in res.notes]
    assert store.frame("deals").sort("deal_id")["close_date"].to_list() == [date(2024, 3, 1), date(2024, 4, 2)]
    res2 = import_file(store, path, dayfirst=True)
    assert res2.updated == 2
    assert store.frame("deals").sort("deal_id")["close_date"].to_list() == [date(2024, 1, 3), date(2024, 2, 4)]
    assert any(code == "date_order_from_user" for code, _ in res2.notes)


ROWS_WITH_PROBLEMS = """\
Deal ID,Deal Name,Owner,Stage,Amount,Close Date
1,Alpha,Ann,Prospecting,100,2024-01-10
2,Beta,,Prospecting,200,2024-01-11
1,Alpha again,Ann,Prospecting,300,2024-01-12
3,Gamma,Bob,Prospecting,400,2024-02-30
,Delta,Bob,Prospecting,500,2024-01-13
4,"=HYPERLINK(""http://x"")",Bob,Prospecting,600,2024-01-14
"""


def test_every_bad_row_is_listed_with_line_column_and_reason(store, tmp_path):
    res = import_file(store, put(tmp_path, "deals.csv", ROWS_WITH_PROBLEMS))
    accounted(res)
    assert (res.rows_read, res.inserted, res.rejected, res.skipped) == (6, 2, 4, 0)
    by_line = {r["line"]: (r["column"], r["reason"]) for r in res.rejects}
    assert by_line == {
        3: ("Owner", "Owner is empty but required."),
        4: ("Deal ID", "Duplicate id '1' in this file (first at line 2)."),
        5: ("Close Date", "'2024-02-30' is not a date."),
        6: ("Deal ID", "Deal ID is empty but required."),
    }
    # formula-looking text is stored as text, untouched (escaping happens on export)
    assert store.frame("deals").filter(pl.col("deal_id") == "4")["name"].to_list() == ['=HYPERLINK("http://x")']


def test_reupload_overlap_undo_and_a_failed_file(store, tmp_path):
    v1 = put(tmp_path, "v1.csv", "Deal ID,Owner,Stage,Amount\n1,Ann,Prospecting,100\n2,Ann,Qualification,200\n")
    v2 = put(tmp_path, "v2.csv", "Deal ID,Owner,Stage,Amount\n2,Ann,Closed Won,250\n3,Bob,Prospecting,50\n")
    empty = store.content_digest()
    first = import_file(store, v1, as_of=date(2024, 1, 1))
    after_first = store.content_digest()
    same = import_file(store, v1)
    assert (same.inserted, same.updated, same.unchanged) == (0, 0, 2)
    assert any(code == "same_file" for code, _ in same.notes)
    assert store.content_digest() == after_first              # no data, snapshot or stage change
    newer = import_file(store, v2, as_of=date(2024, 1, 8))
    assert (newer.inserted, newer.updated, newer.unchanged) == (1, 1, 0)
    assert store.frame("deals").sort("deal_id")["status"].to_list() == ["open", "won", "open"]
    before_bad = store.content_digest()
    bad = put(tmp_path, "bad.csv", "Foo,Bar\n1,2\n")
    with pytest.raises(ImportProblem) as exc:
        import_file(store, bad, kind="deals")
    assert exc.value.code == "missing_required"
    assert "deal_id" in exc.value.params["missing"] and "owner" in exc.value.params["missing"]
    assert store.content_digest() == before_bad               # nothing written
    assert store.imports_frame()["status"].to_list()[0] == "failed"
    store.undo(newer.batch_id)
    assert store.content_digest() == after_first
    store.undo(same.batch_id)
    store.undo(first.batch_id)
    assert store.content_digest() == empty


def test_user_mapping_is_saved_and_reused(store, tmp_path):
    text = "Ref,Who,Phase,Value\nA1,Ann,Prospecting,10\n"
    path = put(tmp_path, "odd.csv", text)
    with pytest.raises(ImportProblem):
        import_file(store, path, kind="deals")
    res = import_file(store, path, kind="deals", overrides={"Ref": "deal_id", "Who": "owner", "Phase": "stage",
                                                            "Value": "amount"})
    assert res.inserted == 1
    again = prepare(put(tmp_path, "odd2.csv", "Ref,Who,Phase,Value\nA2,Bob,Qualification,20\n"), store=store)
    assert again.mapping_source == "saved" and again.kind == "deals"
    assert again.mapping == {"Ref": "deal_id", "Who": "owner", "Phase": "stage", "Value": "amount"}


def test_map_override_errors_name_the_problem(store, tmp_path):
    path = put(tmp_path, "d.csv", AMBIGUOUS)
    with pytest.raises(ImportProblem) as e1:
        import_file(store, path, overrides={"Nope": "owner"})
    assert e1.value.code == "map_unknown_column"
    with pytest.raises(ImportProblem) as e2:
        import_file(store, path, overrides={"Owner": "boss"})
    assert e2.value.code == "map_unknown_field"


def test_stage_history_leads_activities_targets_reps(store, tmp_path):
    import_file(store, put(tmp_path, "deals.csv", "Deal ID,Deal Name,Owner,Stage\nD1,Alpha,R1,Closed Won\n"))
    reps = import_file(store, put(tmp_path, "users.csv",
                                  "User ID,Full Name,Email,Team,Manager\nR1,Ann Lee,ann@x.io,East,R9\nR9,Max Boss,max@x.io,East,\n"),
                       kind="reps")
    assert reps.inserted + reps.updated == 2
    assert store.frame("reps").filter(pl.col("rep_id") == "R1")["name"].to_list() == ["Ann Lee"]
    sh = import_file(store, put(tmp_path, "history.csv",
                                "Deal ID,Stage,Entered At\nD1,Prospecting,2024-01-02 10:00\nAlpha,Closed Won,2024-02-01T09:30:00Z\n"))
    assert (sh.kind, sh.inserted) == ("stage_history", 2)
    assert store.frame("stage_history")["deal_id"].unique().to_list() == ["D1"]   # matched by id and by name
    acts = import_file(store, put(tmp_path, "activities.csv",
                                  "Owner,Type,Date,Deal\nAnn Lee,Call,2024-01-05,D1\nAnn Lee,Meeting,2024-01-06,D1\n"),
                       kind="activities")
    assert acts.inserted == 2
    assert store.frame("activities")["rep_id"].unique().to_list() == ["R1"]        # owner matched by name
    again = import_file(store, put(tmp_path, "activities2.csv",
                                   "Owner,Type,Date,Deal\nAnn Lee,Call,2024-01-05,D1\nAnn Lee,Meeting,2024-01-06,D1\n"),
                        kind="activities")
    assert (again.inserted, again.unchanged) == (0, 2)                              # stable generated ids
    leads = import_file(store, put(tmp_path, "leads.csv", "Lead ID,Created Date,Lead Source\n001,2024-01-01,Web\n"))
    assert (leads.kind, leads.inserted) == ("leads", 1)
    targets = import_file(store, put(tmp_path, "quota.csv",
                                     "Month,Owner,Target\n2024-05,Ann Lee,10000\n2024-Q3,Ann Lee,\"30,000\"\n"),
                          kind="targets")
    assert targets.inserted == 2
    t = store.frame("targets").sort("period_start")
    assert t.select("scope", "scope_id", "period_start", "period_end", "value").rows() == [
        ("rep", "R1", date(2024, 5, 1), date(2024, 5, 31), 10000.0),
        ("rep", "R1", date(2024, 7, 1), date(2024, 9, 30), 30000.0),
    ]


def test_xlsx_formatted_report_with_title_block(store, tmp_path):
    import xlsxwriter

    path = tmp_path / "report.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Report")
    ws.write_row(0, 0, ["Opportunities by owner"])
    ws.write_row(1, 0, ["As of 2024-06-30"])
    ws.write_row(3, 0, ["Opportunity ID", "Opportunity Owner", "Stage", "Amount", "Close Date"])
    ws.write_row(4, 0, ["006A", "Ann", "Closed Won", 1500])
    ws.write_datetime(4, 4, __import__("datetime").datetime(2024, 6, 1), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_row(5, 0, ["006B", "Bob", "Prospecting", 700])
    ws.write_datetime(5, 4, __import__("datetime").datetime(2024, 7, 15), wb.add_format({"num_format": "yyyy-mm-dd"}))
    wb.close()
    res = import_file(store, path)
    assert (res.kind, res.inserted, res.snapshot_date) == ("deals", 2, date(2024, 6, 30))
    assert store.frame("deals").sort("deal_id")["close_date"].to_list() == [date(2024, 6, 1), date(2024, 7, 15)]


def test_the_file_hash_is_taken_beside_the_read(tmp_path, monkeypatch):
    """`prepare` hashes the file while it reads it: the same SHA-256 from a path and from an upload's
    bytes; an unreadable file raises the hash's OSError, as when the hash came first; a file the reader
    refuses raises the reader's problem."""
    import hashlib

    from data.ingest import pipeline as pipeline_module

    data = ("Deal ID,Deal Name,Owner,Amount,Stage,Close Date\n" + "".join(
        f"D{i},Deal {i},R1,{i * 10},Prospecting,2025-03-0{i % 9 + 1}\n" for i in range(50))).encode()
    path = tmp_path / "deals.csv"
    path.write_bytes(data)
    want = hashlib.sha256(data).hexdigest()
    assert prepare(path).sha256 == want
    assert prepare(data, "deals.csv").sha256 == want

    def unreadable(_path):
        raise PermissionError("no read permission")
    monkeypatch.setattr(pipeline_module, "_file_sha256", unreadable)
    with pytest.raises(PermissionError):
        prepare(path)
    monkeypatch.undo()
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ImportProblem):
        prepare(empty)

"""Header mapping, kind detection and the stage / activity vocabularies (data/ingest/mapping.py).

Golden cases: every header style of shared/realdata/crm_export_headers.md, the header line of every
real file under shared/realdata (skipped when that folder is absent), Chinese and Turkish exports.
"""
from __future__ import annotations

import csv
import io
import random
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data.ingest import mapping as mp
from data.ingest.problems import ImportProblem

MAPPINGS = Path(mp.__file__).resolve().parents[1] / "mappings"


def split(line: str) -> list[str]:
    """A header line as a CSV reader would split it (comma or semicolon)."""
    delimiter = ";" if line.count(";") > line.count(",") else ","
    return next(csv.reader(io.StringIO(line), delimiter=delimiter))


def first_line(path: Path) -> list[str]:
    """The header cells of a real file, byte-order mark and leading spaces kept as they are."""
    with path.open(encoding="utf-8", newline="") as fh:
        return split(fh.readline().rstrip("\r\n"))


def clean(mapping: dict[str, str]) -> dict[str, str]:
    """A mapping with byte-order marks dropped from its keys, for readable expectations."""
    return {k.replace("\ufeff", ""): v for k, v in mapping.items()}


# ---------------------------------------------------------------------------- contract & tables
def test_kinds_and_fields_are_the_contract_vocabulary() -> None:
    assert mp.KINDS == ("deals", "leads", "stage_history", "activities", "accounts", "reps", "targets")
    assert mp.field_names("deals") == [
        "deal_id", "deal_name", "account", "account_name", "owner", "stage", "status", "amount", "currency",
        "created_on", "close_date", "closed_on", "won_on", "lost_on", "lost_reason", "product", "probability",
        "forecast_category", "source", "snapshot_date"]
    assert mp.field_names("leads") == ["lead_id", "created_on", "source", "owner", "status", "converted_on", "deal_id"]
    assert mp.field_names("stage_history") == ["deal_id", "stage", "entered_at"]
    assert mp.field_names("activities") == [
        "activity_id", "owner", "kind", "occurred_at", "account", "deal_id", "duration_min", "outcome"]
    assert mp.field_names("accounts") == [
        "account", "account_name", "industry", "region", "size", "owner", "created_on"]
    assert mp.field_names("reps") == [
        "rep", "rep_name", "email", "team", "manager", "region", "hired_on", "left_on"]
    assert mp.field_names("targets") == [
        "period", "period_end", "scope", "owner", "team", "product", "measure", "value"]
    required = {k: [f.name for f in fs if f.required] for k, fs in mp.FIELDS.items()}
    assert required == {
        "deals": ["deal_id", "owner"], "leads": ["lead_id", "created_on"],
        "stage_history": ["deal_id", "stage", "entered_at"], "activities": ["owner", "kind", "occurred_at"],
        "accounts": ["account"], "reps": ["rep"], "targets": ["period", "value"]}
    assert mp.REQUIRED_ANY["deals"] == [("stage", "status", "won_on", "lost_on")]
    types = {"id", "text", "date", "datetime", "amount", "number", "probability", "period", "status", "currency"}
    assert {f.type for fs in mp.FIELDS.values() for f in fs} <= types


@pytest.mark.parametrize("kind", mp.KINDS)
def test_alias_file_loads_and_names_only_real_fields(kind: str) -> None:
    raw = tomllib.loads((MAPPINGS / f"{kind}.toml").read_text(encoding="utf-8"))
    fields = set(mp.field_names(kind))
    assert set(raw["aliases"]) <= fields
    assert set(raw.get("exclude", {})) <= fields
    for key, stand_in in raw.get("promote", {}).items():
        assert {key, stand_in} <= fields
    assert mp._table(kind).aliases


def test_field_names_rejects_unknown_kind() -> None:
    with pytest.raises(ImportProblem) as err:
        mp.field_names("opportunities")
    assert err.value.code == "kind_invalid"


def test_missing_required_lists_fields_and_groups() -> None:
    assert mp.missing_required({}, "deals") == ["deal_id", "owner", "stage / status / won_on / lost_on"]
    assert mp.missing_required({"Id": "deal_id", "Owner": "owner", "Won": "won_on"}, "deals") == []
    assert mp.missing_required({"Id": "deal_id", "Status": "status"}, "deals") == ["owner"]
    assert mp.missing_required({"mql_id": "lead_id"}, "leads") == ["created_on"]
    assert mp.missing_required({"=meeting": "kind", "OwnerId": "owner"}, "activities") == ["occurred_at"]
    assert mp.missing_required({}, "targets") == ["period", "value"]


# -------------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("raw, expected", [
    ("\ufeffRow ID", "rowid"),
    (" StageName", "stagename"),
    ("Owner.Name", "ownername"),
    ("owner name", "ownername"),
    ("OWNER_NAME", "ownername"),
    ("Country/Region", "countryregion"),
    ("Deal - Currency of Value", "dealcurrencyofvalue"),
    ("Probability (%)", "probability%"),
    ("Close\tDate ", "closedate"),
    ("Ratio: Won", "ratiowon"),
    ("商机金额（元）", "商机金额元"),
    ("ＡＭＯＵＮＴ", "amount"),
    ("FIRSAT ADI", "firsatadi"),
    ("Fırsat Adı", "firsatadi"),
    ("Person - Name*", "personname"),
])
def test_normalize_header(raw: str, expected: str) -> None:
    assert mp.normalize_header(raw) == expected


def test_normalised_spellings_map_alike() -> None:
    for headers in (["Owner.Name"], ["owner name"], ["OWNER_NAME"], ["Owner-Name"], ["  owner name  "]):
        assert list(mp.guess_mapping(headers, "deals").values()) == ["owner"]
    assert mp.guess_mapping(["\ufeffRow ID", " StageName", " CloseDate"], "deals") == {
        "\ufeffRow ID": "deal_id", " StageName": "stage", " CloseDate": "close_date"}


def test_header_key_is_stable_and_order_insensitive() -> None:
    a = mp.header_key(["Name", "Owner.Name", "StageName"])
    assert a == mp.header_key(["stagename", "OWNER_NAME", " name"])
    assert a != mp.header_key(["Name", "Owner.Name"])
    assert len(a) == 40 and int(a, 16) >= 0


# --------------------------------------------------------- header styles of crm_export_headers.md
def cells(text: str) -> list[str]:
    return [c.strip() for c in text.split(",")]


STYLES: dict[str, tuple[list[str], str | None, str, dict[str, str]]] = {
    "salesforce_api": (
        cells("Id,AccountId,Name,Amount,CloseDate,StageName,Probability,ExpectedRevenue,ForecastCategoryName,"
              "Type,LeadSource,NextStep,OwnerId,CampaignId,IsClosed,IsWon,CreatedDate,CurrencyIsoCode,Description"),
        None, "deals",
        {"Id": "deal_id", "AccountId": "account", "Name": "deal_name", "Amount": "amount", "CloseDate": "close_date",
         "StageName": "stage", "Probability": "probability", "ForecastCategoryName": "forecast_category",
         "LeadSource": "source", "OwnerId": "owner", "CreatedDate": "created_on", "CurrencyIsoCode": "currency"}),
    "salesforce_dataloader_upper": (
        cells("ID,ACCOUNTID,NAME,AMOUNT,CLOSEDATE,STAGENAME,OWNERID,CREATEDDATE,FORECASTCATEGORY"),
        "extract.csv", "deals",
        {"ID": "deal_id", "ACCOUNTID": "account", "NAME": "deal_name", "AMOUNT": "amount",
         "CLOSEDATE": "close_date", "STAGENAME": "stage", "OWNERID": "owner", "CREATEDDATE": "created_on",
         "FORECASTCATEGORY": "forecast_category"}),
    "salesforce_report": (
        cells("Opportunity Owner, Account Name, Opportunity Name, Stage, Fiscal Period, Amount, Expected Revenue, "
              "Probability (%), Age, Close Date, Created Date, Next Step, Lead Source, Type"),
        "report1700000000000.csv", "deals",
        {"Opportunity Owner": "owner", "Account Name": "account", "Opportunity Name": "deal_id", "Stage": "stage",
         "Amount": "amount", "Probability (%)": "probability", "Close Date": "close_date",
         "Created Date": "created_on", "Lead Source": "source"}),
    "salesforce_report_custom": (
        cells("Territory Region,Opportunity Owner,Account Name,Opportunity Name,Stage,Forecast Category,"
              "Total Amount Currency,Total Amount,Fiscal Period,Close Date,Opportunity Next Steps,Type"),
        None, "deals",
        {"Opportunity Owner": "owner", "Account Name": "account", "Opportunity Name": "deal_id", "Stage": "stage",
         "Forecast Category": "forecast_category", "Total Amount Currency": "currency", "Total Amount": "amount",
         "Close Date": "close_date"}),
    "salesforce_report_with_id_and_currency": (
        cells("Opportunity ID,Opportunity Name,Account ID,Account Name,Opportunity Owner,Stage,Amount,"
              "Opportunity Currency,Close Date"),
        None, "deals",
        {"Opportunity ID": "deal_id", "Opportunity Name": "deal_name", "Account ID": "account",
         "Account Name": "account_name", "Opportunity Owner": "owner", "Stage": "stage", "Amount": "amount",
         "Opportunity Currency": "currency", "Close Date": "close_date"}),
    "hubspot_export": (
        cells("Record ID, Deal Name, Deal Stage, Close Date, Deal owner, Amount, Pipeline, Create Date, Deal Type, "
              "Last Activity Date, Associated Company, Associated Contact, Deal probability, Forecast category, "
              "Closed lost reason, Closed won reason, Forecast amount, Amount in company currency"),
        "hubspot-crm-exports-all-deals-2024-05-01.csv", "deals",
        {"Record ID": "deal_id", "Deal Name": "deal_name", "Deal Stage": "stage", "Close Date": "close_date",
         "Deal owner": "owner", "Amount": "amount", "Create Date": "created_on", "Associated Company": "account",
         "Deal probability": "probability", "Forecast category": "forecast_category",
         "Closed lost reason": "lost_reason"}),
    "hubspot_fixture": (
        cells("Record ID,Deal Name,Deal Stage,Amount,Deal owner,Close Date,Create Date,Last Activity Date"),
        None, "deals",
        {"Record ID": "deal_id", "Deal Name": "deal_name", "Deal Stage": "stage", "Amount": "amount",
         "Deal owner": "owner", "Close Date": "close_date", "Create Date": "created_on"}),
    "hubspot_internal": (
        cells("dealname, dealstage, pipeline, amount, amount_in_home_currency, closedate, createdate, "
              "hubspot_owner_id, dealtype, hs_lastmodifieddate, num_associated_contacts, hs_deal_stage_probability, "
              "hs_forecast_category, days_to_close, closed_lost_reason, closed_won_reason"),
        None, "deals",
        {"dealname": "deal_id", "dealstage": "stage", "amount": "amount", "closedate": "close_date",
         "createdate": "created_on", "hubspot_owner_id": "owner", "hs_deal_stage_probability": "probability",
         "hs_forecast_category": "forecast_category", "closed_lost_reason": "lost_reason"}),
    "pipedrive_list_view": (
        cells("Deal - ID, Deal - Title, Deal - Creator, Deal - Owner, Deal - Value, Deal - Currency of Value, "
              "Deal - Weighted value, Deal - Probability, Deal - Organization, Deal - Pipeline, "
              "Deal - Contact person, Deal - Stage, Deal - Label, Deal - Status, Deal - Deal created, "
              "Deal - Update time, Deal - Last stage change, Deal - Next activity date, Deal - Last activity date, "
              "Deal - Won time, Deal - Lost time, Deal - Deal closed on, Deal - Lost reason, "
              "Deal - Expected close date, Deal - Total activities, Deal - Done activities, "
              "Deal - Activities to do, Deal - Email messages count"),
        "deals-12345-67.csv", "deals",
        {"Deal - ID": "deal_id", "Deal - Title": "deal_name", "Deal - Owner": "owner", "Deal - Value": "amount",
         "Deal - Currency of Value": "currency", "Deal - Probability": "probability",
         "Deal - Organization": "account", "Deal - Stage": "stage", "Deal - Status": "status",
         "Deal - Deal created": "created_on", "Deal - Won time": "won_on", "Deal - Lost time": "lost_on",
         "Deal - Deal closed on": "closed_on", "Deal - Lost reason": "lost_reason",
         "Deal - Expected close date": "close_date"}),
    "pipedrive_readme_fields": (
        cells("Deal - Title, Deal - Value, Deal - Currency of value, Deal - Owner, Deal - Stage (pipeline), "
              "Deal - Expected close date, Deal - Label, Deal - Creation date, Deal - Closed on, Deal - Won time, "
              "Deal - Lost time, Deal - Lost reason, Deal - Probability, Deal - Status (Open/Won/Lost), "
              "Deal - Visible to, Deal - Pipedrive System ID"),
        None, "deals",
        {"Deal - Title": "deal_name", "Deal - Value": "amount", "Deal - Currency of value": "currency",
         "Deal - Owner": "owner", "Deal - Stage (pipeline)": "stage", "Deal - Expected close date": "close_date",
         "Deal - Creation date": "created_on", "Deal - Closed on": "closed_on", "Deal - Won time": "won_on",
         "Deal - Lost time": "lost_on", "Deal - Lost reason": "lost_reason", "Deal - Probability": "probability",
         "Deal - Status (Open/Won/Lost)": "status", "Deal - Pipedrive System ID": "deal_id"}),
    "pipedrive_activities": (
        cells("Activity - Subject, Activity - Type, Activity - Due date, Activity - Due time, Activity - Duration, "
              "Activity - Done, Activity - Assigned to user, Activity - Marked as done time, "
              "Activity - Creation date, Deal - ID, Organization - Name"),
        "activities.csv", "activities",
        {"Activity - Type": "kind", "Activity - Due date": "occurred_at", "Activity - Duration": "duration_min",
         "Activity - Assigned to user": "owner", "Deal - ID": "deal_id", "Organization - Name": "account"}),
    "zoho_module_export": (
        cells("Record Id, Deal Owner, Deal Name, Account Name, Type, Lead Source, Campaign Source, Contact Name, "
              "Amount, Closing Date, Next Step, Stage, Probability (%), Expected Revenue, Created By, Modified By, "
              "Created Time, Modified Time, Reason For Loss, Description"),
        "Deals_001.csv", "deals",
        {"Record Id": "deal_id", "Deal Owner": "owner", "Deal Name": "deal_name", "Account Name": "account",
         "Lead Source": "source", "Amount": "amount", "Closing Date": "close_date", "Stage": "stage",
         "Probability (%)": "probability", "Created Time": "created_on", "Reason For Loss": "lost_reason"}),
    "yudao_business_excel": (
        cells("编号, 商机名称, 客户名称, 跟进状态, 最后跟进时间, 下次联系时间, 负责人的用户编号, 负责人名字, 负责人部门, "
              "商机状态组, 商机状态, 结束状态, 结束时的备注, 预计成交日期, 产品总金额, 整单折扣, 商机总金额, 备注, 创建人, "
              "创建人名字, 创建时间, 更新时间"),
        "商机.xls", "deals",
        {"编号": "deal_id", "商机名称": "deal_name", "客户名称": "account", "负责人名字": "owner", "商机状态": "stage",
         "结束状态": "status", "结束时的备注": "lost_reason", "预计成交日期": "close_date", "商机总金额": "amount",
         "创建时间": "created_on"}),
    "xsy_api_names": (
        cells("id, entityType, ownerId, opportunityName, priceId, accountId, opportunityType, money, lostStageId, "
              "saleStageId, winRate, reasonDesc, closeDate, commitmentFlg, sourceId, projectBudget, actualCost, "
              "recentActivityRecordTime, stageUpdatedAt, createdAt, createdBy, updatedAt, updatedBy, comment, "
              "dimDepart, approveStatus, lockStatus"),
        None, "deals",
        {"id": "deal_id", "ownerId": "owner", "opportunityName": "deal_name", "accountId": "account",
         "money": "amount", "saleStageId": "stage", "winRate": "probability", "reasonDesc": "lost_reason",
         "closeDate": "close_date", "sourceId": "source", "createdAt": "created_on"}),
    "xsy_labels": (
        cells("机会编号,机会名称,客户,销售金额,销售阶段,赢率,结单日期,所有人,所属部门,创建时间,输单描述,机会来源,机会类型,"
              "输单阶段,承诺,阶段分类,预测金额,项目预算,实际花费,阶段更新时间,赢单原因"),
        None, "deals",
        {"机会编号": "deal_id", "机会名称": "deal_name", "客户": "account", "销售金额": "amount", "销售阶段": "stage",
         "赢率": "probability", "结单日期": "close_date", "所有人": "owner", "创建时间": "created_on",
         "输单描述": "lost_reason", "机会来源": "source", "阶段分类": "forecast_category"}),
    "fxiaoke_expected_labels": (
        cells("商机名称,客户名称,商机金额,预计成交日期,商机阶段,赢率,负责人,所属部门,创建时间,最后修改时间"),
        "商机导出.xlsx", "deals",
        {"商机名称": "deal_id", "客户名称": "account", "商机金额": "amount", "预计成交日期": "close_date",
         "商机阶段": "stage", "赢率": "probability", "负责人": "owner", "创建时间": "created_on"}),
    "maven_sales_pipeline": (
        cells("opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value"),
        "sales_pipeline.csv", "deals",
        {"opportunity_id": "deal_id", "sales_agent": "owner", "product": "product", "account": "account",
         "deal_stage": "stage", "engage_date": "created_on", "close_date": "close_date", "close_value": "amount"}),
    "maven_accounts": (
        cells("account,sector,year_established,revenue,employees,office_location,subsidiary_of"),
        "accounts.csv", "accounts",
        {"account": "account", "sector": "industry", "employees": "size", "office_location": "region"}),
    "maven_sales_teams": (
        cells("sales_agent,manager,regional_office"), "sales_teams.csv", "reps",
        {"sales_agent": "rep", "manager": "manager", "regional_office": "region"}),
    "ibm_win_loss": (
        cells("Opportunity Number, Supplies Subgroup, Supplies Group, Region, Route To Market, "
              "Elapsed Days In Sales Stage, Opportunity Result, Sales Stage Change Count, "
              "Total Days Identified Through Closing, Total Days Identified Through Qualified, "
              "Opportunity Amount USD, Client Size By Revenue, Client Size By Employee Count, "
              "Revenue From Client Past Two Years, Competitor Type, Ratio Days Identified To Total Days, "
              "Ratio Days Validated To Total Days, Ratio Days Qualified To Total Days, Deal Size Category"),
        "WA_Fn-UseC_-Sales-Win-Loss.csv", "deals",
        {"Opportunity Number": "deal_id", "Opportunity Result": "status", "Opportunity Amount USD": "amount"}),
    "salesforce_lead": (
        cells("Id,FirstName,LastName,Company,Status,LeadSource,OwnerId,CreatedDate,ConvertedDate,"
              "ConvertedOpportunityId,IsConverted"),
        "Lead.csv", "leads",
        {"Id": "lead_id", "Status": "status", "LeadSource": "source", "OwnerId": "owner", "CreatedDate": "created_on",
         "ConvertedDate": "converted_on", "ConvertedOpportunityId": "deal_id"}),
    "salesforce_user": (
        cells("Id,Name,Email,UserRole.Name,ManagerId,IsActive"), "User.csv", "reps",
        {"Id": "rep", "Name": "rep_name", "Email": "email", "UserRole.Name": "team", "ManagerId": "manager"}),
    "salesforce_quota_schema": (
        cells("QuotaAmount,StartDate,OwnerName,Username"), None, "targets",
        {"QuotaAmount": "value", "StartDate": "period", "OwnerName": "owner"}),
    "salesforce_opportunity_history_api": (
        cells("OpportunityId,StageName,CreatedDate,Amount,CloseDate,Probability,ForecastCategory,ExpectedRevenue,"
              "CreatedById,SystemModstamp,IsDeleted"),
        "OpportunityHistory.csv", "stage_history",
        {"OpportunityId": "deal_id", "StageName": "stage", "CreatedDate": "entered_at"}),
    "chinese_followups": (
        cells("编号,跟进方式,跟进时间,跟进人,客户名称,关联商机,跟进内容,跟进结果"), "客户跟进记录.xlsx", "activities",
        {"编号": "activity_id", "跟进方式": "kind", "跟进时间": "occurred_at", "跟进人": "owner", "客户名称": "account",
         "关联商机": "deal_id", "跟进结果": "outcome"}),
    "chinese_leads": (
        cells("线索编号,线索来源,负责人,创建时间,线索状态,转化时间,关联商机"), "线索.xlsx", "leads",
        {"线索编号": "lead_id", "线索来源": "source", "负责人": "owner", "创建时间": "created_on", "线索状态": "status",
         "转化时间": "converted_on", "关联商机": "deal_id"}),
    "chinese_targets": (
        cells("月份,负责人,所属部门,目标金额"), "销售目标.xlsx", "targets",
        {"月份": "period", "负责人": "owner", "所属部门": "team", "目标金额": "value"}),
    "chinese_targets_period": (
        cells("期间,部门,目标"), None, "targets", {"期间": "period", "部门": "team", "目标": "value"}),
    "turkish_deals": (
        cells("Fırsat No,Fırsat Adı,Müşteri,Satış Temsilcisi,Tutar,Para Birimi,Aşama,Durum,Kapanış Tarihi,"
              "Oluşturma Tarihi,Olasılık,Kayıp Nedeni,Ürün,Kaynak"),
        "firsatlar.xlsx", "deals",
        {"Fırsat No": "deal_id", "Fırsat Adı": "deal_name", "Müşteri": "account", "Satış Temsilcisi": "owner",
         "Tutar": "amount", "Para Birimi": "currency", "Aşama": "stage", "Durum": "status",
         "Kapanış Tarihi": "close_date", "Oluşturma Tarihi": "created_on", "Olasılık": "probability",
         "Kayıp Nedeni": "lost_reason", "Ürün": "product", "Kaynak": "source"}),
    "turkish_deals_upper": (
        cells("FIRSAT NO,FIRSAT ADI,HESAP ADI,SAHİBİ,TUTAR,AŞAMA,KAPANIŞ TARİHİ"), None, "deals",
        {"FIRSAT NO": "deal_id", "FIRSAT ADI": "deal_name", "HESAP ADI": "account", "SAHİBİ": "owner",
         "TUTAR": "amount", "AŞAMA": "stage", "KAPANIŞ TARİHİ": "close_date"}),
    "turkish_activities": (
        cells("Aktivite No,Aktivite Türü,Tarih,Süre,Temsilci,Müşteri,Fırsat,Sonuç"), "aktiviteler.xlsx",
        "activities",
        {"Aktivite No": "activity_id", "Aktivite Türü": "kind", "Tarih": "occurred_at", "Süre": "duration_min",
         "Temsilci": "owner", "Müşteri": "account", "Fırsat": "deal_id", "Sonuç": "outcome"}),
    "turkish_targets": (
        cells("Dönem,Temsilci,Ekip,Ürün,Hedef"), "hedefler.xlsx", "targets",
        {"Dönem": "period", "Temsilci": "owner", "Ekip": "team", "Ürün": "product", "Hedef": "value"}),
    "turkish_accounts": (
        cells("Hesap Adı,Sektör,Bölge,Sahibi"), "musteriler.xlsx", "accounts",
        {"Hesap Adı": "account", "Sektör": "industry", "Bölge": "region", "Sahibi": "owner"}),
}


@pytest.mark.parametrize("style", sorted(STYLES))
def test_header_style(style: str) -> None:
    headers, filename, kind, expected = STYLES[style]
    scores = mp.detect_kind(headers, filename)
    assert scores[0][0] == kind, scores
    assert mp.guess_mapping(headers, kind) == expected


@pytest.mark.parametrize("style", ["salesforce_report", "hubspot_export", "pipedrive_list_view", "zoho_module_export",
                                   "yudao_business_excel", "turkish_deals", "maven_sales_pipeline",
                                   "salesforce_opportunity_history_api", "chinese_followups"])
def test_kind_from_headers_alone(style: str) -> None:
    headers, _, kind, _ = STYLES[style]
    if style == "salesforce_opportunity_history_api":
        # Only the owner column tells an OpportunityHistory export from a deals export; the file name decides.
        assert mp.detect_kind(headers)[0][0] in {"deals", "stage_history"}
        assert mp.detect_kind(headers, "OpportunityHistory.csv")[0][0] == "stage_history"
    else:
        assert mp.detect_kind(headers)[0][0] == kind


def test_chinese_export_maps_the_core_deal_fields() -> None:
    for style in ("yudao_business_excel", "xsy_labels", "fxiaoke_expected_labels"):
        headers, _, _, _ = STYLES[style]
        fields = set(mp.guess_mapping(headers, "deals").values())
        assert {"account", "owner", "amount", "stage", "close_date", "created_on"} <= fields, style
        assert fields & {"deal_id", "deal_name"}, style


def test_chinese_labels_from_the_alias_seed() -> None:
    seed = {
        "deal_name": ["商机名称", "机会名称", "项目名称"],
        "account_name": ["客户名称", "公司名称"],
        "account": ["客户"],
        "amount": ["商机金额", "商机总金额", "销售金额", "预计金额", "预估金额", "合同金额"],
        "stage": ["商机阶段", "销售阶段", "商机状态", "阶段"],
        "close_date": ["预计成交日期", "结单日期", "预期成交日期", "预计关闭日期"],
        "probability": ["赢率"],
        "owner": ["负责人", "负责人名字", "所有人", "销售负责人"],
        "created_on": ["创建时间"],
        "lost_reason": ["输单描述", "结束时的备注"],
    }
    for field, labels in seed.items():
        for label in labels:
            # with an id column beside it a name stays a name (alone it becomes the key: see promotion)
            headers = [label, "编号"] + (["客户编号"] if field == "account_name" else [])
            assert mp.guess_mapping(headers, "deals").get(label) == field, label
    assert mp.guess_mapping(["客户名称", "编号"], "deals")["客户名称"] == "account"


def test_turkish_export_maps_the_core_deal_fields() -> None:
    headers = cells("Fırsat Adı,Hesap Adı,Sahibi,Tutar,Aşama,Kapanış Tarihi,Oluşturma Tarihi")
    assert mp.guess_mapping(headers, "deals") == {
        "Fırsat Adı": "deal_id", "Hesap Adı": "account", "Sahibi": "owner", "Tutar": "amount", "Aşama": "stage",
        "Kapanış Tarihi": "close_date", "Oluşturma Tarihi": "created_on"}
    assert mp.detect_kind(headers)[0][0] == "deals"


# ------------------------------------------------------------------------------- false friends
def test_name_depends_on_the_kind() -> None:
    assert mp.guess_mapping(["Id", "Name", "StageName"], "deals")["Name"] == "deal_name"
    assert mp.guess_mapping(["Name", "StageName", "Owner.Name"], "deals")["Name"] == "deal_id"
    assert mp.guess_mapping(["Id", "Name", "Industry"], "accounts")["Name"] == "account_name"
    assert mp.guess_mapping(["Name", "Industry"], "accounts")["Name"] == "account"
    assert mp.guess_mapping(["Id", "Name", "Email"], "reps")["Name"] == "rep_name"
    assert mp.guess_mapping(["Name", "Email"], "reps")["Name"] == "rep"


def test_type_is_not_an_activity_kind_in_opportunity_files() -> None:
    headers = ["Account.Name", "Amount", "Name", "Owner.Name", "StageName", "Type"]
    assert "Type" not in mp.guess_mapping(headers, "deals")
    assert mp.detect_kind(headers)[0][0] == "deals"
    task = mp.guess_mapping(["WhatId", "OwnerId", "TaskSubtype", "Type", "ActivityDate"], "activities")
    assert task["TaskSubtype"] == "kind" and "Type" not in task


def test_hubspot_pipeline_is_not_the_stage() -> None:
    assert mp.guess_mapping(["Deal Name", "Pipeline", "Deal Stage"], "deals") == {
        "Deal Name": "deal_id", "Deal Stage": "stage"}
    assert "Pipeline" not in mp.guess_mapping(["Record ID", "Pipeline"], "deals")


def test_weighted_expected_and_forecast_values_are_not_the_amount() -> None:
    for header in ("Deal - Weighted value", "Expected Revenue", "Forecast amount", "AnnualRevenue"):
        assert mp.guess_mapping([header], "deals").get(header) != "amount", header
    assert mp.guess_mapping(["Deal Amount (EUR)"], "deals") == {"Deal Amount (EUR)": "amount"}
    assert mp.guess_mapping(["Expected Close Date"], "deals") == {"Expected Close Date": "close_date"}


def test_partial_matches_need_a_close_header() -> None:
    assert mp.guess_mapping(["Elapsed Days In Sales Stage", "Sales Stage Change Count"], "deals") == {}
    assert mp.guess_mapping(["商机状态组", "阶段更新时间", "输单阶段", "跟进状态"], "deals") == {}
    assert mp.guess_mapping(["Created By", "Modified By"], "deals") == {}
    assert mp.guess_mapping(["Opportunity_Source__c"], "deals") == {"Opportunity_Source__c": "source"}
    assert mp.guess_mapping(["Current Deal Stage"], "deals") == {"Current Deal Stage": "stage"}


def test_best_alias_then_earlier_column_wins() -> None:
    # exact beats partial, the earlier alias of the table beats a later one, then the earlier column
    assert mp.guess_mapping(["Opportunity Amount USD", "Amount"], "deals") == {
        "Amount": "amount"}
    assert mp.guess_mapping(["amount_in_home_currency", "amount"], "deals") == {"amount": "amount"}
    assert mp.guess_mapping(["Amount", "amount"], "deals") == {"Amount": "amount"}
    assert mp.guess_mapping(["负责人的用户编号", "负责人名字"], "deals") == {"负责人名字": "owner"}
    assert mp.guess_mapping(["OwnerId", "Owner.Name"], "deals") == {"Owner.Name": "owner"}


def test_duplicate_and_empty_headers() -> None:
    assert mp.guess_mapping(["Amount", "Amount", "", "  "], "deals") == {"Amount": "amount"}
    assert [s for _, s in mp.detect_kind([])] == [0.0] * len(mp.KINDS)
    assert mp.guess_mapping([], "deals") == {}


# ------------------------------------------------------------------------------ kind detection
def test_detect_kind_scores_every_kind_best_first() -> None:
    scores = mp.detect_kind(["Id", "Name", "StageName", "Owner.Name", "Amount"])
    assert sorted(k for k, _ in scores) == sorted(mp.KINDS)
    values = [s for _, s in scores]
    assert values == sorted(values, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in values)


@pytest.mark.parametrize("filename, kind", [
    ("DTC_OpportunityHistory.csv", "stage_history"), ("DTC_Task.csv", "activities"), ("DTC_Event.csv", "activities"),
    ("DTC_Account.csv", "accounts"), ("olist_marketing_qualified_leads_dataset.csv", "leads"),
    ("Sales target.csv", "targets"), ("quota_2024.xlsx", "targets"), ("users.csv", "reps"),
    ("商机列表.xlsx", "deals"), ("客户.xlsx", "accounts"), ("跟进记录.xlsx", "activities"),
    ("DTC_Opportunity.csv", "deals"), ("report1700000000000.csv", None), ("Sample - Superstore.csv", None),
])
def test_file_name_hint(filename: str, kind: str | None) -> None:
    assert mp._name_hint(filename) == kind


def test_file_name_hint_breaks_a_tie() -> None:
    headers = ["Name"]          # an account list or a user list: only the file name can tell
    assert mp.detect_kind(headers, "accounts.csv")[0][0] == "accounts"
    assert mp.detect_kind(headers, "users.csv")[0][0] == "reps"


def test_event_files_default_to_meetings() -> None:
    headers = ["WhatId", "OwnerId", "CreatedDate", "LastModifiedDate", "ActivityDate", "Subject", "DurationInMinutes"]
    assert mp.default_for("activities", headers) == {"kind": "meeting"}
    assert mp.detect_kind(headers)[0][0] == "activities"
    task = ["WhatId", "OwnerId", "TaskSubtype", "ActivityDate", "DurationInMinutes"]
    assert mp.default_for("activities", task) == {}
    assert mp.default_for("activities", ["OwnerId", "ActivityDate"]) == {}
    assert mp.default_for("deals", headers) == {}


# ----------------------------------------------------------------------------- real files
REAL: dict[str, tuple[str | None, dict[str, str]]] = {
    "salesforce_dtc_sample/DTC_Opportunity.csv": ("deals", {
        "Account.Name": "account", "Amount": "amount", "CloseDate": "close_date", "LeadSource": "source",
        "Name": "deal_id", "Owner.Name": "owner", "StageName": "stage", "CreatedDate": "created_on",
        "ForecastCategory": "forecast_category"}),
    "salesforce_dtc_sample/DTC_OpportunityHistory.csv": ("stage_history", {
        "OpportunityName": "deal_id", " CreatedDate": "entered_at", " StageName": "stage"}),
    "salesforce_dtc_sample/DTC_Account.csv": ("accounts", {
        "Industry": "industry", "Name": "account", "BillingCountry": "region", "Owner.Name": "owner",
        "Segment": "size"}),
    "salesforce_dtc_sample/DTC_Task.csv": ("activities", {
        "WhatId": "deal_id", "OwnerId": "owner", "TaskSubtype": "kind", "ActivityDate": "occurred_at"}),
    "salesforce_dtc_sample/DTC_Event.csv": ("activities", {
        "WhatId": "deal_id", "OwnerId": "owner", "ActivityDate": "occurred_at", "DurationInMinutes": "duration_min"}),
    "salesforce_dtc_sample/DTC_Telephony.csv": ("activities", {
        "WhatId": "deal_id", "OwnerId": "owner", "TaskSubtype": "kind", "ActivityDate": "occurred_at",
        "Call Result": "outcome"}),
    # product master data and line items are no kind of ours: nothing should be confident
    "salesforce_dtc_sample/DTC_OpportunityLineItem.csv": (None, {}),
    "salesforce_dtc_sample/DTC_PriceBookEntry.csv": (None, {}),
    "salesforce_dtc_sample/DTC_Product2.csv": (None, {}),
    "olist_marketing_funnel/olist_marketing_qualified_leads_dataset.csv": ("leads", {
        "mql_id": "lead_id", "first_contact_date": "created_on", "origin": "source"}),
    "olist_marketing_funnel/olist_closed_deals_dataset.csv": ("deals", {
        "mql_id": "deal_id", "seller_id": "account", "sr_id": "owner", "won_date": "won_on",
        "business_segment": "product", "declared_monthly_revenue": "amount"}),
    "olist_marketing_funnel/olist_sellers_dataset.csv": ("accounts", {
        "seller_id": "account", "seller_state": "region"}),
    "olist_marketing_funnel/variant_excel_dmy/olist_marketing_qualified_leads_dataset.csv": ("leads", {
        "mql_id": "lead_id", "first_contact_date": "created_on", "origin": "source"}),
    "olist_marketing_funnel/variant_excel_dmy/olist_closed_deals_dataset.csv": ("deals", {
        "mql_id": "deal_id", "seller_id": "account", "sr_id": "owner", "won_date": "won_on",
        "business_segment": "product", "declared_monthly_revenue": "amount"}),
    "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_qualified_leads_dataset.csv": ("leads", {
        "mql_id": "lead_id", "first_contact_date": "created_on", "origin": "source"}),
    "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_closed_deals_dataset.csv": ("deals", {
        "mql_id": "deal_id", "seller_id": "account", "sr_id": "owner", "won_date": "won_on",
        "business segment": "product", "declared_monthly_revenue": "amount"}),
    "olist_marketing_funnel/variant_excel_us_trimmed/olist_marketing_qualified_leads_dataset.csv": ("leads", {
        "mql_id": "lead_id", "first_contact_date": "created_on", "origin": "source"}),
    "olist_marketing_funnel/variant_excel_us_trimmed/olist_closed_deals_dataset.csv": ("deals", {
        "mql_id": "deal_id", "seller_id": "account", "won_date": "won_on", "business_segment": "product"}),
    "superstore/Sample - Superstore.csv": ("deals", {
        "Row ID": "deal_id", "Order Date": "won_on", "Customer ID": "account", "Customer Name": "account_name",
        "Category": "product", "Product Name": "deal_name", "Sales": "amount"}),
    "superstore/variant_tableau_2020/Sample - Superstore.csv": ("deals", {
        "Row ID": "deal_id", "Order Date": "won_on", "Customer ID": "account", "Customer Name": "account_name",
        "Category": "product", "Product Name": "deal_name", "Sales": "amount"}),
    "ecommerce_sales_targets/Sales target.csv": ("targets", {
        "MonthofOrderDate": "period", "Category": "product", "Target": "value"}),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/Sales target.csv": ("targets", {
        "Month of Order Date": "period", "Category": "product", "Target": "value"}),
    "ecommerce_sales_targets/List of Orders.csv": ("deals", {
        "Order ID": "deal_id", "Order Date": "won_on", "CustomerName": "account"}),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/List of Orders.csv": ("deals", {
        "Order ID": "deal_id", "Order Date": "won_on", "CustomerName": "account"}),
    "ecommerce_sales_targets/Order Details.csv": ("deals", {
        "Order ID": "deal_id", "Amount": "amount", "Category": "product"}),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/Order Details.csv": ("deals", {
        "Order ID": "deal_id", "Amount": "amount", "Category": "product"}),
}


def test_every_real_file_has_an_expectation(realdata: Path) -> None:
    found = {p.relative_to(realdata).as_posix() for p in realdata.rglob("*.csv")}
    assert found - set(REAL) == set(), "add the new real files to REAL"


@pytest.mark.parametrize("rel", sorted(REAL))
def test_real_file_header(realdata: Path, rel: str) -> None:
    path = realdata / rel
    if not path.exists():
        pytest.skip(f"{rel} is not in {realdata}")
    headers = first_line(path)
    kind, expected = REAL[rel]
    scores = mp.detect_kind(headers, path.name)
    if kind is None:
        assert scores[0][1] < 0.5, scores
        return
    assert scores[0][0] == kind, scores
    mapping = mp.guess_mapping(headers, kind)
    assert clean(mapping) == expected
    defaults = mp.default_for(kind, headers)
    assert mp.missing_required({**mapping, **{f"={v}": f for f, v in defaults.items()}}, kind) == (
        ["owner"] if rel.startswith("superstore") or "List of Orders" in rel or "us_trimmed/olist_closed" in rel
        else ["owner", "stage / status / won_on / lost_on"] if "Order Details" in rel else [])


def test_real_event_file_is_meetings(realdata: Path) -> None:
    headers = first_line(realdata / "salesforce_dtc_sample" / "DTC_Event.csv")
    assert mp.default_for("activities", headers) == {"kind": "meeting"}


def test_real_opportunity_history_ignores_deal_columns(realdata: Path) -> None:
    headers = first_line(realdata / "salesforce_dtc_sample" / "DTC_OpportunityHistory.csv")
    assert " StageName" in headers     # the leading space is really there
    mapping = mp.guess_mapping(headers, "stage_history")
    assert " CloseDate" not in mapping and " Amount" not in mapping


# -------------------------------------------------------------------------------------- stages
def _stage_words() -> tuple[list[str], list[str]]:
    raw = tomllib.loads((MAPPINGS / "stages.toml").read_text(encoding="utf-8"))
    won = list(raw["classify"]["won"]) + [s["name"] for p in raw["pipelines"] for s in p["stages"] if s.get("won")]
    lost = list(raw["classify"]["lost"]) + [s["name"] for p in raw["pipelines"] for s in p["stages"] if s.get("lost")]
    return won, lost


WON_WORDS, LOST_WORDS = _stage_words()


@pytest.mark.parametrize("name", WON_WORDS + ["Closed Won", "CLOSED_WON", " closed won ", "closedwon", "Won",
                                              "赢单", "Kazanıldı", "KAZANILDI", "Closed Won (100%)", "已成交"])
def test_classify_won(name: str) -> None:
    assert mp.classify_stage(name) == "won"


@pytest.mark.parametrize("name", LOST_WORDS + ["Closed Lost", "closedlost", "Lost", "Loss", "输单", "丢单",
                                               "Kaybedildi", "KAYBEDİLDİ", "Closed-Lost to Competition",
                                               "Lost - no budget", "Not won"])
def test_classify_lost(name: str) -> None:
    assert mp.classify_stage(name) == "lost"


@pytest.mark.parametrize("name", ["Prospecting", "Qualification", "Negotiation/Review", "appointmentscheduled",
                                  "contractsent", "方案报价", "商务谈判", "Teklif", "Müzakere", "Closed", "未赢单",
                                  "Engaging", "", None])
def test_classify_open(name: str | None) -> None:
    assert mp.classify_stage(name) == "open"


SALESFORCE = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
              "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"]
HUBSPOT_IDS = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
               "contractsent", "closedwon", "closedlost"]
HUBSPOT_LABELS = ["Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled", "Decision Maker Bought-In",
                  "Contract Sent", "Closed Won", "Closed Lost"]
CHINESE = ["线索", "初步接洽", "需求确认", "方案报价", "商务谈判", "赢单", "输单"]
TURKISH = ["Potansiyel", "Nitelendirme", "İhtiyaç Analizi", "Teklif", "Müzakere", "Kazanıldı", "Kaybedildi"]
PIPEDRIVE = ["Lead In", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started"]
MAVEN = ["Prospecting", "Engaging", "Won", "Lost"]


@pytest.mark.parametrize("golden", [SALESFORCE, HUBSPOT_IDS, HUBSPOT_LABELS, CHINESE, TURKISH, PIPEDRIVE, MAVEN])
def test_learn_pipeline_from_known_lists(golden: list[str]) -> None:
    shuffled = golden[:]
    random.Random(7).shuffle(shuffled)
    stages = mp.learn_pipeline(shuffled)
    assert [s.name for s in stages] == golden
    assert [s.position for s in stages] == list(range(1, len(golden) + 1))


def test_learn_pipeline_default_probabilities() -> None:
    sf = {s.name: s.probability for s in mp.learn_pipeline(SALESFORCE)}
    assert sf == {"Prospecting": 0.1, "Qualification": 0.1, "Needs Analysis": 0.2, "Value Proposition": 0.5,
                  "Id. Decision Makers": 0.6, "Perception Analysis": 0.7, "Proposal/Price Quote": 0.75,
                  "Negotiation/Review": 0.9, "Closed Won": 1.0, "Closed Lost": 0.0}
    hs = [s.probability for s in mp.learn_pipeline(HUBSPOT_IDS)]
    assert hs == [0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 0.0]
    ramp = mp.learn_pipeline(["Gamma", "Alpha", "Beta", "Done Won", "Done Lost"])
    assert [(s.name, s.probability, s.is_won, s.is_lost) for s in ramp] == [
        ("Alpha", 0.25, False, False), ("Beta", 0.5, False, False), ("Gamma", 0.75, False, False),
        ("Done Won", 1.0, True, False), ("Done Lost", 0.0, False, True)]


def _history(paths: list[list[str]]) -> pl.DataFrame:
    t0 = datetime(2024, 1, 1)
    rows = [(f"d{d}", stage, t0 + timedelta(days=d + 3 * i))
            for d, path in enumerate(paths) for i, stage in enumerate(path)]
    return pl.DataFrame(rows, schema=["deal_id", "stage", "entered_at"], orient="row")


def test_learn_pipeline_from_history() -> None:
    history = _history([["Zeta", "Kappa", "Alpha", "Won"], ["Zeta", "Kappa"], ["Kappa", "Alpha", "Lost"],
                        ["Zeta", "Alpha"], ["Zeta", "Kappa", "Alpha", "Won"]])
    names = [s.name for s in mp.learn_pipeline(["Alpha", "Kappa", "Zeta", "Won", "Lost"], history)]
    assert names == ["Zeta", "Kappa", "Alpha", "Won", "Lost"]


def test_history_beats_known_lists_where_it_has_evidence() -> None:
    # this team qualifies after the needs analysis; stages without history evidence keep the known order
    history = _history([["Needs Analysis", "Qualification"]] * 3 + [["Qualification", "Needs Analysis"]])
    names = [s.name for s in mp.learn_pipeline(["Prospecting", "Qualification", "Needs Analysis",
                                                "Value Proposition", "Closed Won"], history)]
    assert names == ["Prospecting", "Needs Analysis", "Qualification", "Value Proposition", "Closed Won"]


def test_learn_pipeline_from_real_history(realdata: Path) -> None:
    raw = pl.read_csv(realdata / "salesforce_dtc_sample" / "DTC_OpportunityHistory.csv", infer_schema=False)
    raw = raw.rename({c: c.strip() for c in raw.columns})
    history = raw.select(pl.col("OpportunityName").alias("deal_id"), pl.col("StageName").alias("stage"),
                         pl.col("CreatedDate").alias("entered_at"))
    names = [s.name for s in mp.learn_pipeline(history["stage"].unique().sort().to_list(), history)]
    assert names == [s for s in SALESFORCE if s != "Id. Decision Makers"]    # no deal was ever in that stage


def test_learn_pipeline_keeps_existing_stages() -> None:
    existing = [mp.StageDef("Lead", 1, 0.15, False, False), mp.StageDef("Proposal", 2, 0.5, False, False),
                mp.StageDef("Signed", 3, 1.0, True, False), mp.StageDef("Dropped", 4, 0.0, False, True)]
    stages = mp.learn_pipeline(["Proposal", "Lead", "Mystery", "Closed Won", "Signed"], None, existing)
    assert [(s.name, s.position, s.probability, s.is_won, s.is_lost) for s in stages] == [
        ("Lead", 1, 0.15, False, False), ("Proposal", 2, 0.5, False, False), ("Mystery", 3, 0.75, False, False),
        ("Signed", 4, 1.0, True, False), ("Closed Won", 5, 1.0, True, False), ("Dropped", 6, 0.0, False, True)]


def test_learn_pipeline_inserts_a_known_stage_between_existing_ones() -> None:
    existing = mp.learn_pipeline(["Prospecting", "Qualification", "Value Proposition", "Closed Won", "Closed Lost"])
    stages = mp.learn_pipeline(["needs analysis", "qualification"], None, existing)
    assert [s.name for s in stages] == ["Prospecting", "Qualification", "needs analysis", "Value Proposition",
                                        "Closed Won", "Closed Lost"]
    assert next(s for s in stages if s.name == "needs analysis").probability == 0.2


def test_learn_pipeline_history_cannot_reorder_existing_stages() -> None:
    existing = [mp.StageDef("B", 1, None, False, False), mp.StageDef("A", 2, None, False, False)]
    history = _history([["A", "C", "B"]] * 3)
    assert [s.name for s in mp.learn_pipeline(["C"], history, existing)] == ["B", "A", "C"]
    history = _history([["B", "C", "A"]] * 3)
    assert [s.name for s in mp.learn_pipeline(["C"], history, existing)] == ["B", "C", "A"]


def test_learn_pipeline_ignores_blanks_and_duplicates() -> None:
    stages = mp.learn_pipeline(["Closed Won", None, "", "  ", "closed won", "Prospecting", "Prospecting "])
    assert [s.name for s in stages] == ["Prospecting", "Closed Won"]


# ------------------------------------------------------------------------------- activity kinds
ACTIVITY_GOLDEN = {
    "Call": "call", "Phone": "call", "Outbound call": "call", "OUTBOUND_CALL": "call", "Inbound Call": "call",
    "Call to stakeholder": "call", "Left voicemail": "call", "电话": "call", "打电话": "call", "电话拜访": "call",
    "Arama": "call", "Telefon Görüşmesi": "call", "Calls": "call",
    "Email": "email", "E-mail": "email", "ListEmail": "email", "INCOMING_EMAIL": "email", "邮件": "email",
    "邮件沟通": "email", "E-posta": "email", "Email exec": "email",
    "Meeting": "meeting", "Meetings": "meeting", "Event": "meeting", "Lunch": "meeting", "Demo": "meeting",
    "Setting up demo": "meeting", "Video call": "meeting", "会议": "meeting", "视频会议": "meeting",
    "Toplantı": "meeting", "TOPLANTI": "meeting", "Görüşme": "meeting",
    "Visit": "visit", "Site visit": "visit", "拜访": "visit", "上门拜访": "visit", "客户拜访": "visit",
    "Ziyaret": "visit", "ZİYARET": "visit", "Müşteri Ziyareti": "visit",
    "Task": "task", "Tasks": "task", "Deadline": "task", "Cadence": "task", "Task exec": "task", "任务": "task",
    "待办": "task", "Görev": "task",
    "微信": "other", "微信沟通": "other", "发短信": "other", "SMS": "other", "LinkedIn": "other", "Note": "other",
    "Put a proposal": "other", "其他": "other", "Diğer": "other", "Something else": "other",
}


def test_normalize_activity_kind_golden() -> None:
    values = list(ACTIVITY_GOLDEN)
    out = mp.normalize_activity_kind(pl.Series("kind", values))
    assert out.name == "kind" and out.dtype == pl.String
    assert dict(zip(values, out.to_list())) == ACTIVITY_GOLDEN
    assert set(ACTIVITY_GOLDEN.values()) == set(mp.ACTIVITY_KINDS)


def test_normalize_activity_kind_keeps_nulls_and_blanks_empty() -> None:
    out = mp.normalize_activity_kind(pl.Series("k", [None, "", "  ", "Call"]))
    assert out.to_list() == [None, None, None, "call"]
    assert mp.normalize_activity_kind(pl.Series("k", [None, None])).to_list() == [None, None]
    assert mp.normalize_activity_kind(pl.Series("k", [], dtype=pl.String)).to_list() == []


def test_real_task_subtypes(realdata: Path) -> None:
    tasks = pl.read_csv(realdata / "salesforce_dtc_sample" / "DTC_Task.csv", infer_schema=False)
    kinds = mp.normalize_activity_kind(tasks["TaskSubtype"])
    assert set(kinds.to_list()) == {"call", "email", "task"}


# ----------------------------------------------------------------------------------- properties
def _alias_pool() -> list[str]:
    pool: list[str] = []
    for kind in mp.KINDS:
        raw = tomllib.loads((MAPPINGS / f"{kind}.toml").read_text(encoding="utf-8"))
        pool += [a for values in raw["aliases"].values() for a in values]
    decorated = [f"{a} (USD)" for a in pool[::7]] + [f"Deal {a}" for a in pool[::11]] + [a.upper() for a in pool[::5]]
    return sorted(set(pool + decorated))


POOL = _alias_pool()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(POOL), st.text(max_size=12)), max_size=30), st.sampled_from(mp.KINDS))
def test_guess_mapping_uses_each_field_and_column_once(headers: list[str], kind: str) -> None:
    mapping = mp.guess_mapping(headers, kind)
    assert len(set(mapping.values())) == len(mapping)
    assert set(mapping) <= set(headers)
    assert set(mapping.values()) <= set(mp.field_names(kind))
    scores = mp.detect_kind(headers)
    assert len(scores) == len(mp.KINDS) and all(0.0 <= s <= 1.0 for _, s in scores)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_normalize_header_is_idempotent(text: str) -> None:
    once = mp.normalize_header(text)
    assert mp.normalize_header(once) == once


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(POOL))
def test_normalize_header_ignores_case_and_separators(alias: str) -> None:
    n = mp.normalize_header(alias)
    assert mp.normalize_header(alias.upper().replace(" ", "_")) == mp.normalize_header(n.upper()) or not n.isascii()
    assert mp.normalize_header(f"\ufeff  {alias} ") == n


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(POOL), max_size=12), st.randoms())
def test_header_key_ignores_order(headers: list[str], rnd: random.Random) -> None:
    shuffled = headers[:]
    rnd.shuffle(shuffled)
    assert mp.header_key(headers) == mp.header_key(shuffled)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(WON_WORDS + LOST_WORDS + ["Prospecting", "方案报价", "", " Closed Won "]),
                          st.text(max_size=12)), max_size=40))
def test_stage_statuses_equal_classifying_each_row(names: list[str | None]) -> None:
    """The import classifies each distinct stage name once: the same status per row as classifying each
    row (null stays null: the status then comes from the status column or the won/lost dates)."""
    from data.ingest.pipeline import stage_statuses

    got = stage_statuses(pl.Series("stage", names, dtype=pl.String)).to_list()
    assert got == [None if n is None else mp.classify_stage(n) for n in names]

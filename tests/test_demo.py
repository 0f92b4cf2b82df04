"""The demo company: deterministic, shaped like the canonical schema, consistent, and believable."""
from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from data import clock
from data.demo import DemoData, generate

AS_OF = date(2025, 11, 20)
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schema.sql"
FRAMES = {
    "reps": "reps", "accounts": "accounts", "deals": "deals", "leads": "leads",
    "stage_history": "stage_history", "activities": "activities", "targets": "targets",
    "stages": "stages", "snapshots": "deal_snapshots",
}
SQL_TYPES = {
    "VARCHAR": pl.String, "DATE": pl.Date, "TIMESTAMP": pl.Datetime("us"), "DOUBLE": pl.Float64,
    "BOOLEAN": pl.Boolean, "INTEGER": pl.Int32,
}
STAGE_ORDER = ["Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won",
               "Closed Lost"]


def _schema_columns() -> dict[str, list[tuple[str, str]]]:
    """(column, SQL type) per table, read from the CREATE TABLE statements of data/schema.sql."""
    text = re.sub(r"--[^\n]*", "", SCHEMA.read_text(encoding="utf-8"))
    tables: dict[str, list[tuple[str, str]]] = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)\s*\((.*?)\n\);", text, flags=re.S):
        cols = []
        for line in body.splitlines():
            parts = line.strip().rstrip(",").split()
            if len(parts) >= 2 and parts[0].upper() != "PRIMARY":
                cols.append((parts[0], parts[1].upper()))
        tables[name] = cols
    return tables


TIMING: dict[str, float] = {}


@pytest.fixture(scope="module")
def demo() -> DemoData:
    """The default demo company, timed."""
    start = time.perf_counter()
    data = generate(seed=7, as_of=AS_OF)
    TIMING["generate"] = time.perf_counter() - start
    return data


def _deals_with_team(demo: DemoData) -> pl.DataFrame:
    return demo.deals.join(demo.reps.select("rep_id", "team"), left_on="owner_rep_id", right_on="rep_id")


def _win_rate(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    return (frame.filter(pl.col("status") != "open").group_by(by)
            .agg(win_rate=(pl.col("status") == "won").mean(), closed=pl.len()))


# ---------------------------------------------------------------------------------------------
# Determinism, speed, sizes, schema
# ---------------------------------------------------------------------------------------------

def test_runtime_under_three_seconds(demo: DemoData, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n[demo] generate(seed=7, default sizes) took {TIMING['generate']:.2f} s")
    assert TIMING["generate"] < 6.0  # about 0.4 s here; slack for loaded CI machines


def test_same_seed_and_date_give_identical_frames(demo: DemoData) -> None:
    again = generate(seed=7, as_of=AS_OF)
    for attr in FRAMES:
        assert_frame_equal(getattr(demo, attr), getattr(again, attr))
    assert again.as_of == AS_OF


def test_other_seed_gives_other_company(demo: DemoData) -> None:
    other = generate(seed=8, as_of=AS_OF, n_deals=2_000, n_accounts=300, n_activities=5_000)
    assert not other.deals.head(2_000).equals(demo.deals.head(2_000))


def test_as_of_defaults_to_today() -> None:
    small = generate(n_deals=500, n_accounts=100, n_activities=2_000, n_snapshots=2)
    assert small.as_of == clock.today()
    assert small.deals["created_on"].max() <= clock.today()


def test_sizes(demo: DemoData) -> None:
    assert demo.reps.height == 40
    assert demo.accounts.height == 2_000
    assert demo.deals.height == 20_000
    assert demo.activities.height == 200_000
    assert demo.leads.height == 60_000
    assert demo.stages.height == 7
    assert demo.stage_history.height > demo.deals.height * 3
    assert demo.snapshots["snapshot_date"].n_unique() == 8


def test_custom_sizes() -> None:
    small = generate(seed=3, as_of=AS_OF, n_deals=1_000, n_accounts=150, n_reps=25, n_activities=7_000,
                     n_snapshots=4)
    assert (small.reps.height, small.accounts.height, small.deals.height, small.activities.height) == (
        25, 150, 1_000, 7_000)
    assert small.snapshots["snapshot_date"].n_unique() == 4


@pytest.mark.parametrize("attr", list(FRAMES))
def test_columns_and_dtypes_match_schema(demo: DemoData, attr: str) -> None:
    expected = [(c, t) for c, t in _schema_columns()[FRAMES[attr]] if c != "batch_id"]
    frame = getattr(demo, attr)
    assert frame.columns == [c for c, _ in expected]
    for column, sql_type in expected:
        assert frame.schema[column] == SQL_TYPES[sql_type], (attr, column)


def test_stages_are_the_configured_pipeline(demo: DemoData) -> None:
    assert demo.stages["name"].to_list() == STAGE_ORDER
    assert demo.stages["position"].to_list() == list(range(1, 8))
    assert demo.stages["probability"].to_list() == [0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 0.0]
    assert demo.stages.filter("is_won")["name"].to_list() == ["Closed Won"]
    assert demo.stages.filter("is_lost")["name"].to_list() == ["Closed Lost"]
    assert set(demo.stages["source"]) == {"configured"}


# ---------------------------------------------------------------------------------------------
# Referential integrity and keys
# ---------------------------------------------------------------------------------------------

def _subset(values: pl.Series, universe: pl.Series) -> bool:
    return set(values.drop_nulls().to_list()) <= set(universe.to_list())


def test_primary_keys_are_unique(demo: DemoData) -> None:
    assert demo.reps["rep_id"].is_unique().all()
    assert demo.accounts["account_id"].is_unique().all()
    assert demo.accounts["name"].is_unique().all()
    assert demo.deals["deal_id"].is_unique().all()
    assert demo.leads["lead_id"].is_unique().all()
    assert demo.activities["activity_id"].is_unique().all()
    assert demo.stage_history.select("deal_id", "stage", "entered_at").is_unique().all()
    assert demo.targets.select("scope", "scope_id", "period_start", "period_end", "measure").is_unique().all()
    assert demo.snapshots.select("snapshot_date", "deal_id").is_unique().all()
    assert demo.reps["email"].is_unique().all()


def test_references_exist(demo: DemoData) -> None:
    reps, accounts, deals = demo.reps["rep_id"], demo.accounts["account_id"], demo.deals["deal_id"]
    assert _subset(demo.reps["manager_id"], reps)
    assert _subset(demo.accounts["owner_rep_id"], reps)
    assert demo.deals["owner_rep_id"].null_count() == 0 and _subset(demo.deals["owner_rep_id"], reps)
    assert demo.deals["account_id"].null_count() == 0 and _subset(demo.deals["account_id"], accounts)
    assert _subset(demo.leads["owner_rep_id"], reps)
    assert _subset(demo.leads["deal_id"], deals)
    assert _subset(demo.stage_history["deal_id"], deals)
    assert demo.activities["rep_id"].null_count() == 0 and _subset(demo.activities["rep_id"], reps)
    assert demo.activities["account_id"].null_count() == 0 and _subset(demo.activities["account_id"], accounts)
    assert _subset(demo.activities["deal_id"], deals)
    assert _subset(demo.snapshots["owner_rep_id"], reps)
    assert _subset(demo.targets.filter(scope="rep")["scope_id"], reps)
    assert _subset(demo.targets.filter(scope="team")["scope_id"], demo.reps["team"])


def test_activity_account_matches_its_deal(demo: DemoData) -> None:
    joined = demo.activities.drop_nulls("deal_id").join(
        demo.deals.select("deal_id", deal_account="account_id"), on="deal_id")
    assert (joined["account_id"] == joined["deal_account"]).all()


# ---------------------------------------------------------------------------------------------
# The team and the reps
# ---------------------------------------------------------------------------------------------

def test_five_teams_each_with_one_manager(demo: DemoData) -> None:
    reps = demo.reps
    assert reps["team"].n_unique() == 5
    assert set(reps["region"]) == {"East China", "South China", "North China", "Türkiye", "EMEA"}
    managers = reps.filter(pl.col("manager_id").is_null())
    assert managers.height == 5 and managers["team"].n_unique() == 5
    members = reps.filter(pl.col("manager_id").is_not_null()).join(
        managers.select(manager_id="rep_id", manager_team="team"), on="manager_id")
    assert members.height == 35
    assert (members["team"] == members["manager_team"]).all()
    assert reps.group_by("team").agg(pl.col("region").n_unique())["region"].max() == 1


def test_names_mix_chinese_english_and_turkish(demo: DemoData) -> None:
    names = demo.reps["name"]
    assert names.str.contains(r"\p{Han}").sum() >= 15
    assert names.str.contains(r"^[A-Za-z]+ [A-Za-z]").sum() >= 5
    assert names.str.contains("[ğüşıöçĞÜŞİÖÇ]").sum() >= 3
    assert demo.reps["email"].str.contains(r"^[a-z0-9.]+@[a-z.\-]+$").all()
    accounts = demo.accounts["name"]
    assert accounts.str.contains(r"\p{Han}").sum() > 500
    assert accounts.str.contains(r"^[A-Za-z]").sum() > 300


def test_leavers_new_hire_and_rep_without_deals(demo: DemoData) -> None:
    reps, deals = demo.reps, demo.deals
    leavers = reps.filter(pl.col("left_on").is_not_null())
    assert leavers.height == 2
    mine = deals.filter(pl.col("owner_rep_id").is_in(leavers["rep_id"].implode()))
    assert mine.filter(status="open").height == 0
    with_left = mine.join(leavers.select("rep_id", "left_on"), left_on="owner_rep_id", right_on="rep_id")
    assert (with_left["created_on"] < with_left["left_on"]).all()
    assert (with_left["closed_on"] < with_left["left_on"]).all()

    per_rep = reps.join(deals.group_by("owner_rep_id").agg(
        n=pl.len(), closed=(pl.col("status") != "open").sum()), left_on="rep_id", right_on="owner_rep_id",
        how="left").with_columns(pl.col("n", "closed").fill_null(0))
    assert per_rep.filter(n=0).height == 1
    new_hires = per_rep.filter(pl.col("n") > 0, pl.col("closed") == 0)
    assert new_hires.height == 1
    assert new_hires["hired_on"][0] > AS_OF - timedelta(days=90)


def test_reassigned_deals_appear_in_snapshots_under_the_leaver(demo: DemoData) -> None:
    leavers = demo.reps.filter(pl.col("left_on").is_not_null())
    recent = leavers.filter(pl.col("left_on") > demo.snapshots["snapshot_date"].min())
    assert recent.height >= 1
    rep_id = recent["rep_id"][0]
    left_on = recent["left_on"][0]
    early = demo.snapshots.filter(pl.col("snapshot_date") < left_on, owner_rep_id=rep_id, status="open")
    assert early.height > 0
    now = demo.deals.filter(pl.col("deal_id").is_in(early["deal_id"].implode()))
    still_open_when_left = now.filter(pl.col("closed_on").is_null() | (pl.col("closed_on") >= left_on))
    assert still_open_when_left.height > 0
    assert (still_open_when_left["owner_rep_id"] != rep_id).all()
    assert (now.filter(pl.col("closed_on") < left_on)["owner_rep_id"] == rep_id).all()


def test_owners_were_employed_while_they_owned_deals(demo: DemoData) -> None:
    joined = demo.deals.join(demo.reps, left_on="owner_rep_id", right_on="rep_id")
    assert joined.select((pl.col("hired_on") <= pl.coalesce("closed_on", pl.lit(AS_OF))).all()).item()
    hired_later = joined.filter(pl.col("hired_on") > pl.col("created_on"))
    leavers = demo.reps.filter(pl.col("left_on").is_not_null()).select("team", handover="left_on")
    inherited = hired_later.join(leavers, on="team").filter(
        pl.col("created_on") < pl.col("handover"), pl.col("hired_on") <= pl.col("handover"),
        pl.col("closed_on").is_null() | (pl.col("closed_on") >= pl.col("handover")))
    assert inherited["deal_id"].n_unique() == hired_later.height   # only deals taken over from a leaver


# ---------------------------------------------------------------------------------------------
# Deals
# ---------------------------------------------------------------------------------------------

def test_deal_dates_are_consistent(demo: DemoData) -> None:
    deals = demo.deals
    closed = deals.filter(pl.col("status") != "open")
    opened = deals.filter(status="open")
    assert closed["closed_on"].null_count() == 0
    assert opened["closed_on"].null_count() == opened.height
    assert (closed["created_on"] <= closed["closed_on"]).all()
    assert (closed["close_date"] == closed["closed_on"]).all()
    assert deals["created_on"].max() <= AS_OF and closed["closed_on"].max() <= AS_OF
    assert deals["created_on"].min() >= AS_OF - timedelta(days=730 + 90)
    past_due = opened.filter(pl.col("close_date") < AS_OF).height
    assert 0 < past_due < 0.1 * opened.height


def test_deal_status_stage_probability_forecast(demo: DemoData) -> None:
    deals = demo.deals
    expected_status = pl.when(pl.col("stage") == "Closed Won").then(pl.lit("won")).when(
        pl.col("stage") == "Closed Lost").then(pl.lit("lost")).otherwise(pl.lit("open"))
    assert deals.select((pl.col("status") == expected_status).all()).item()
    prob = dict(zip(demo.stages["name"], demo.stages["probability"]))
    assert deals.select(pl.col("probability") == pl.col("stage").replace_strict(prob)).to_series().all()
    assert set(deals.filter(status="won")["forecast_category"]) == {"Closed"}
    assert set(deals.filter(status="lost")["forecast_category"]) == {"Omitted"}
    assert set(deals.filter(status="open")["forecast_category"]) == {"Pipeline", "Best Case", "Commit", "Omitted"}
    assert deals.filter(pl.col("status") != "lost")["lost_reason"].null_count() == deals.filter(
        pl.col("status") != "lost").height
    reasons = set(deals["lost_reason"].drop_nulls())
    assert reasons == {"Price", "Competitor", "No budget", "No decision", "Timing", "Product fit"}
    assert set(deals["source"]) == {"Web", "Referral", "Event", "Outbound", "Partner"}
    assert 4 <= deals["product"].n_unique() <= 6


def test_amounts_and_currency(demo: DemoData) -> None:
    deals = _deals_with_team(demo)
    missing = deals["amount"].null_count() / deals.height
    assert 0.005 <= missing <= 0.02
    assert (deals["amount"].drop_nulls() > 0).all()
    assert set(deals["currency"]) == {"CNY"}        # one reporting currency: company sums never mix
    by_size = deals.join(demo.accounts.select("account_id", "size"), on="account_id").group_by("size").agg(
        pl.col("amount").median())
    median = dict(zip(by_size["size"], by_size["amount"]))
    assert median["SMB"] < median["Mid-Market"] < median["Enterprise"]


def test_recent_deals_open_old_deals_closed(demo: DemoData) -> None:
    deals = demo.deals
    old = deals.filter(pl.col("created_on") < AS_OF - timedelta(days=365))
    recent = deals.filter(pl.col("created_on") > AS_OF - timedelta(days=14))
    assert (old["status"] == "open").mean() < 0.01
    assert (recent["status"] == "open").mean() > 0.6


def test_creation_grows_and_has_seasons(demo: DemoData) -> None:
    monthly = demo.deals.group_by(pl.col("created_on").dt.truncate("1mo")).len().sort("created_on")
    full = monthly.filter(pl.col("created_on") >= AS_OF.replace(day=1) - timedelta(days=730),
                          pl.col("created_on") < AS_OF.replace(day=1))
    first_year, second_year = full.head(12)["len"].sum(), full.tail(12)["len"].sum()
    assert second_year > 1.1 * first_year
    china = _deals_with_team(demo).filter(pl.col("currency") == "CNY").group_by(
        pl.col("created_on").dt.month()).len()
    per_month = dict(zip(china["created_on"], china["len"]))
    assert per_month[2] < 0.85 * sum(per_month.values()) / 12   # Chinese New Year


def test_win_rate_in_range_and_differs(demo: DemoData) -> None:
    deals = _deals_with_team(demo)
    closed = deals.filter(pl.col("status") != "open")
    overall = (closed["status"] == "won").mean()
    assert 0.25 <= overall <= 0.35
    teams = _win_rate(deals, "team")["win_rate"]
    assert teams.max() - teams.min() >= 0.05
    reps = _win_rate(deals, "owner_rep_id").filter(pl.col("closed") >= 100)["win_rate"]
    assert reps.max() - reps.min() >= 0.15


def test_busy_loser_and_quiet_winner(demo: DemoData) -> None:
    acts = demo.activities.group_by("rep_id").len()
    rates = _win_rate(demo.deals, "owner_rep_id").filter(pl.col("closed") >= 100).join(
        acts, left_on="owner_rep_id", right_on="rep_id").with_columns(per_deal=pl.col("len") / pl.col("closed"))
    busiest = rates.sort("per_deal").row(-1, named=True)
    quietest = rates.sort("per_deal").row(0, named=True)
    assert busiest["win_rate"] < rates["win_rate"].median()
    assert quietest["win_rate"] > rates["win_rate"].quantile(0.75)


def test_pareto_customers(demo: DemoData) -> None:
    revenue = demo.deals.filter(status="won").group_by("account_id").agg(rev=pl.col("amount").sum())
    accounts = demo.accounts.join(revenue, on="account_id", how="left").with_columns(
        pl.col("rev").fill_null(0.0)).sort("rev", descending=True)
    top = accounts.head(accounts.height // 5)["rev"].sum() / accounts["rev"].sum()
    assert 0.6 <= top <= 0.9


def test_accounts_created_before_their_first_deal(demo: DemoData) -> None:
    first = demo.deals.group_by("account_id").agg(first=pl.col("created_on").min())
    joined = demo.accounts.join(first, on="account_id")
    assert (joined["created_on"] <= joined["first"]).all()
    assert set(demo.accounts["size"]) == {"SMB", "Mid-Market", "Enterprise"}
    assert demo.accounts["industry"].n_unique() >= 8


# ---------------------------------------------------------------------------------------------
# Stage history
# ---------------------------------------------------------------------------------------------

def test_stage_history_paths(demo: DemoData) -> None:
    position = dict(zip(demo.stages["name"], demo.stages["position"]))
    history = demo.stage_history.with_columns(pos=pl.col("stage").replace_strict(position))
    assert not history["inferred"].any()
    paths = history.sort("deal_id", "entered_at").group_by("deal_id", maintain_order=True).agg(
        first_stage=pl.col("stage").first(), last_stage=pl.col("stage").last(),
        first_at=pl.col("entered_at").first(), last_at=pl.col("entered_at").last(),
        increasing=(pl.col("pos").diff().drop_nulls() > 0).all(), n=pl.len(),
        closing=pl.col("pos").is_in([6, 7]).sum(), span=pl.col("pos").max() - pl.col("pos").min())
    assert paths.height == demo.deals.height
    joined = demo.deals.join(paths, on="deal_id")
    assert (joined["last_stage"] == joined["stage"]).all()
    assert (joined["first_stage"] == "Prospecting").all()
    assert joined["increasing"].all()
    assert (joined["closing"] <= 1).all()
    assert (joined["first_at"].dt.date() == joined["created_on"]).all()
    closed = joined.filter(pl.col("status") != "open")
    assert (closed["last_at"].dt.date() == closed["closed_on"]).all()
    assert (joined.filter(status="won")["last_stage"] == "Closed Won").all()
    skipped = joined.filter(pl.col("status") == "won", pl.col("n") < 6).height
    assert 0 < skipped < 0.2 * joined.filter(status="won").height
    assert history["entered_at"].max() < pl.Series([AS_OF + timedelta(days=1)]).cast(pl.Datetime("us"))[0]


def test_beijing_has_a_needs_analysis_bottleneck(demo: DemoData) -> None:
    teams = demo.reps.select("rep_id", "team")
    reached = demo.stage_history.join(demo.deals.select("deal_id", "owner_rep_id"), on="deal_id").join(
        teams, left_on="owner_rep_id", right_on="rep_id").group_by("team").agg(
        na=(pl.col("stage") == "Needs Analysis").sum(), proposal=(pl.col("stage") == "Proposal").sum())
    rate = dict(zip(reached["team"], reached["proposal"] / reached["na"]))
    bottleneck = min(rate, key=rate.__getitem__)
    others = [v for k, v in rate.items() if k != bottleneck]
    assert rate[bottleneck] < min(others) - 0.15


def test_time_in_stage_is_days_to_weeks(demo: DemoData) -> None:
    gaps = demo.stage_history.sort("deal_id", "entered_at").with_columns(
        days=(pl.col("entered_at").diff().over("deal_id").dt.total_seconds() / 86_400))
    median = gaps["days"].drop_nulls().median()
    assert 3 <= median <= 21


# ---------------------------------------------------------------------------------------------
# Leads and activities
# ---------------------------------------------------------------------------------------------

def test_leads(demo: DemoData) -> None:
    leads = demo.leads
    assert set(leads["status"]) == {"new", "working", "converted", "disqualified"}
    converted = leads.filter(status="converted")
    others = leads.filter(pl.col("status") != "converted")
    assert converted["deal_id"].null_count() == 0 and converted["converted_on"].null_count() == 0
    assert others["deal_id"].null_count() == others.height and others["converted_on"].null_count() == others.height
    assert converted["deal_id"].is_unique().all()
    joined = converted.join(demo.deals.select("deal_id", "created_on", "source"), on="deal_id", suffix="_deal")
    assert (joined["converted_on"] == joined["created_on_deal"]).all()
    assert (joined["created_on"] <= joined["converted_on"]).all()
    assert 0.1 < converted.height / leads.height < 0.4
    assert leads["created_on"].is_sorted()


def test_activities(demo: DemoData) -> None:
    acts = demo.activities
    assert acts["occurred_at"].is_sorted()
    assert set(acts["kind"]) == {"call", "email", "meeting", "visit", "task"}
    timed = acts.filter(pl.col("kind").is_in(["call", "meeting", "visit"]))
    untimed = acts.filter(pl.col("kind").is_in(["email", "task"]))
    assert timed["duration_min"].null_count() == 0 and (timed["duration_min"] > 0).all()
    assert untimed["duration_min"].null_count() == untimed.height
    assert acts["outcome"].null_count() == 0
    account_only = acts["deal_id"].null_count() / acts.height
    assert 0.05 < account_only < 0.3

    life = demo.deals.select("deal_id", "created_on", end=pl.coalesce("closed_on", pl.lit(AS_OF)))
    on_deals = acts.drop_nulls("deal_id").join(life, on="deal_id")
    day = on_deals["occurred_at"].dt.date()
    assert ((day >= on_deals["created_on"]) & (day <= on_deals["end"])).all()

    employed = acts.join(demo.reps.select("rep_id", "hired_on", "left_on"), on="rep_id")
    day = employed["occurred_at"].dt.date()
    assert (day >= employed["hired_on"]).all()
    assert employed.filter(pl.col("left_on").is_not_null(), pl.col("occurred_at").dt.date() >= pl.col("left_on")
                           ).height == 0
    weekend = (acts["occurred_at"].dt.weekday() >= 6).mean()
    assert weekend < 0.1


def test_activities_cluster_around_stage_changes(demo: DemoData) -> None:
    changes = demo.stage_history.select("deal_id", change=pl.col("entered_at").dt.date())
    near = demo.activities.drop_nulls("deal_id").with_row_index("row").with_columns(
        day=pl.col("occurred_at").dt.date()).join(changes, on="deal_id").filter(
        (pl.col("day") - pl.col("change")).dt.total_days().abs() <= 2)["row"].n_unique()
    assert near / demo.activities.drop_nulls("deal_id").height > 0.5


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------

def test_targets_cover_two_years_and_the_quarter(demo: DemoData) -> None:
    targets = demo.targets
    assert set(targets["scope"]) == {"rep", "team", "company"}
    assert set(targets["measure"]) == {"revenue"}
    assert (targets["period_end"] == targets["period_start"].dt.month_end()).all()
    assert (targets["period_start"].dt.day() == 1).all()
    company = targets.filter(scope="company")
    assert set(company["scope_id"]) == {""}
    assert company["period_start"].min() <= AS_OF - timedelta(days=700)
    quarter_end_month = (AS_OF.month - 1) // 3 * 3 + 3
    quarter_end = (date(AS_OF.year + quarter_end_month // 12, quarter_end_month % 12 + 1, 1) - timedelta(days=1))
    assert company["period_end"].max() == quarter_end
    assert company.height == company["period_start"].n_unique() >= 24
    assert (targets["value"] > 0).all()


def test_targets_sum_up(demo: DemoData) -> None:
    targets = demo.targets
    reps = targets.filter(scope="rep").join(demo.reps.select("rep_id", "team"), left_on="scope_id",
                                            right_on="rep_id")
    team_sum = reps.group_by("team", "period_start").agg(pl.col("value").sum())
    teams = targets.filter(scope="team").join(team_sum, left_on=["scope_id", "period_start"],
                                              right_on=["team", "period_start"])
    assert teams.height == targets.filter(scope="team").height
    assert ((teams["value"] - teams["value_right"]).abs() < 1e-6).all()
    company_sum = targets.filter(scope="team").group_by("period_start").agg(pl.col("value").sum())
    company = targets.filter(scope="company").join(company_sum, on="period_start")
    assert ((company["value"] - company["value_right"]).abs() < 1e-6).all()


def test_targets_only_while_employed_and_some_reps_over_and_under(demo: DemoData) -> None:
    rep_targets = demo.targets.filter(scope="rep").join(demo.reps, left_on="scope_id", right_on="rep_id")
    assert (rep_targets["period_end"] >= rep_targets["hired_on"]).all()
    assert rep_targets.filter(pl.col("period_start") >= pl.col("left_on")).height == 0
    year_end = AS_OF.replace(day=1) - timedelta(days=1)
    year_start = date(AS_OF.year - 1, AS_OF.month, 1)
    won = demo.deals.filter(pl.col("status") == "won", pl.col("closed_on").is_between(year_start, year_end))
    revenue = won.group_by("owner_rep_id").agg(rev=pl.col("amount").sum())
    plan = demo.targets.filter(pl.col("scope") == "rep", pl.col("period_start").is_between(year_start, year_end)
                               ).group_by("scope_id").agg(target=pl.col("value").sum())
    attainment = plan.join(revenue, left_on="scope_id", right_on="owner_rep_id").with_columns(
        att=pl.col("rev") / pl.col("target"))["att"]
    assert (attainment > 1.15).sum() >= 1
    assert (attainment < 0.85).sum() >= 2
    assert attainment.median() == pytest.approx(1.0, abs=0.15)


# ---------------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------------

def test_snapshot_dates_are_weekly_up_to_as_of(demo: DemoData) -> None:
    dates = demo.snapshots["snapshot_date"].unique().sort().to_list()
    assert dates == [AS_OF - timedelta(days=7 * k) for k in range(7, -1, -1)]


def test_last_snapshot_is_the_current_deals(demo: DemoData) -> None:
    cols = ["deal_id", "stage", "status", "amount", "close_date", "owner_rep_id"]
    last = demo.snapshots.filter(snapshot_date=AS_OF).select(cols).sort("deal_id")
    assert_frame_equal(last, demo.deals.select(cols).sort("deal_id"))


def test_snapshots_rewind_the_deals(demo: DemoData) -> None:
    snaps = demo.snapshots.join(demo.deals.select("deal_id", "created_on", "closed_on", "status"),
                                on="deal_id", suffix="_now")
    assert (snaps["created_on"] <= snaps["snapshot_date"]).all()
    closed_then = snaps.filter(pl.col("status") != "open")
    assert (closed_then["closed_on"] <= closed_then["snapshot_date"]).all()
    assert (closed_then["status"] == closed_then["status_now"]).all()
    reopened = snaps.filter(pl.col("status") == "open", pl.col("status_now") != "open")
    assert (reopened["closed_on"] > reopened["snapshot_date"]).all()
    assert reopened.height > 0
    for day in demo.snapshots["snapshot_date"].unique().to_list():
        present = demo.snapshots.filter(snapshot_date=day).join(demo.deals, on="deal_id").height
        assert present == demo.deals.filter(pl.col("created_on") <= day).height


def test_snapshot_waterfall_has_every_bar(demo: DemoData) -> None:
    snaps = demo.snapshots.sort("deal_id", "snapshot_date").with_columns(
        prev_close=pl.col("close_date").shift().over("deal_id"),
        prev_amount=pl.col("amount").shift().over("deal_id"),
        prev_status=pl.col("status").shift().over("deal_id"))
    was_open = snaps.filter(prev_status="open", status="open")
    pushes = was_open.filter(pl.col("close_date") > pl.col("prev_close"))
    assert pushes["deal_id"].n_unique() > 0.05 * demo.deals.filter(status="open").height
    assert pushes.group_by("deal_id").len()["len"].max() >= 3
    assert was_open.filter(pl.col("close_date") < pl.col("prev_close")).height > 0
    assert was_open.filter(pl.col("amount") > pl.col("prev_amount")).height > 0
    assert was_open.filter(pl.col("amount") < pl.col("prev_amount")).height > 0
    assert snaps.filter(prev_status="open", status="won").height > 0
    assert snaps.filter(prev_status="open", status="lost").height > 0
    assert snaps.filter(pl.col("prev_status").is_null(), pl.col("snapshot_date") > demo.snapshots[
        "snapshot_date"].min()).height > 0
    deleted = set(demo.snapshots["deal_id"]) - set(demo.deals["deal_id"])
    assert 3 <= len(deleted) <= 50
    assert demo.snapshots.filter(pl.col("deal_id").is_in(list(deleted)), snapshot_date=AS_OF).height == 0

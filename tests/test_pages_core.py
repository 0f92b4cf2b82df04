"""Overview, Funnel and Leaderboard: golden tests of their views on a tiny hand-checked store, and
the pages end to end in-process (AppTest) on the demo company and on an empty database, in every
language. Expected numbers on the demo are computed here with plain SQL, not by the views."""
from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import streamlit as st

from data import clock
from data.demo_load import load_demo
from data.store import TABLES, ImportWrite, Store
from metrics import leaderboard as lb_metric
from metrics import schema
from tests.test_app import (  # noqa: F401  (fixtures: autouse in this module too)
    LANGS, assert_ok, language_outside_runs, metric, navigation_only, start, tables, texts,
)
from ui import format as fmt
from ui.filters import Filters, period_for
from ui.i18n import t
from ui.views import funnel as fv
from ui.views import leaderboard as lv
from ui.views import leaderboard_deals as lvd
from ui.views import overview as ov

# ================================================================== golden: a tiny company
AS_OF = date(2024, 6, 20)
Q2 = (date(2024, 4, 1), date(2024, 6, 30))
STAGES = pl.DataFrame({
    "name": ["Lead", "Demo", "Proposal", "Won", "Lost"], "position": [1, 2, 3, 4, 5],
    "probability": [0.1, 0.3, 0.6, 1.0, 0.0], "is_won": [False, False, False, True, False],
    "is_lost": [False, False, False, False, True], "source": ["configured"] * 5,
}, schema_overrides={"position": pl.Int32})
REPS = [{"rep_id": "R1", "name": "Ann", "team": "A"}, {"rep_id": "R2", "name": "Bob", "team": "A"},
        {"rep_id": "R3", "name": "Cem", "team": "B"}]
ACCOUNTS = [{"account_id": f"AC{i}", "name": f"Account {i}"} for i in range(1, 8)]


def _deal(i: int, rep: str, status: str, amount: float, created: str, closed: str | None = None,
          stage: str | None = None, close_date: str | None = None) -> dict:
    stage = stage or {"won": "Won", "lost": "Lost"}[status]
    return {"deal_id": f"D{i}", "account_id": f"AC{i}", "owner_rep_id": rep, "name": f"Deal {i}", "amount": amount,
            "currency": "USD", "stage": stage, "status": status, "created_on": created, "closed_on": closed,
            "close_date": close_date or closed}


DEALS = [
    _deal(1, "R1", "won", 1000, "2024-03-01", "2024-04-10"),
    _deal(2, "R1", "won", 3000, "2024-04-01", "2024-05-20"),
    _deal(3, "R2", "lost", 500, "2024-04-02", "2024-05-01"),
    _deal(4, "R3", "won", 2000, "2024-02-01", "2024-06-01"),
    _deal(5, "R3", "open", 4000, "2024-05-01", stage="Demo", close_date="2024-06-25"),
    _deal(6, "R2", "won", 1500, "2024-01-10", "2024-02-15"),
    _deal(7, "R3", "lost", 800, "2024-01-20", "2024-03-10"),
]
HISTORY = [("D2", "Lead", "2024-04-01"), ("D2", "Demo", "2024-04-05"), ("D2", "Proposal", "2024-04-15"),
           ("D4", "Lead", "2024-02-01"), ("D4", "Demo", "2024-02-03"), ("D4", "Proposal", "2024-02-10"),
           ("D5", "Lead", "2024-05-01"), ("D5", "Demo", "2024-05-02")]
TARGETS = [
    {"scope": "company", "scope_id": "", "period_start": "2024-04-01", "period_end": "2024-06-30",
     "measure": "revenue", "value": 10000.0},
    {"scope": "company", "scope_id": "", "period_start": "2024-01-01", "period_end": "2024-03-31",
     "measure": "revenue", "value": 5000.0},
    {"scope": "rep", "scope_id": "R1", "period_start": "2024-04-01", "period_end": "2024-06-30",
     "measure": "revenue", "value": 5000.0},
    {"scope": "rep", "scope_id": "R3", "period_start": "2024-04-01", "period_end": "2024-06-30",
     "measure": "revenue", "value": 5000.0},
]
ACTIVITIES = [{"activity_id": f"X{i}", "rep_id": rep, "kind": "call", "occurred_at": f"2024-05-{i + 1:02d} 10:00:00"}
              for i, rep in enumerate(["R1", "R1", "R1", "R3", "R2"])]


def _write(store: Store, kind: str, rows: list[dict], **extra) -> None:
    frame = schema.frame(kind, rows).select(TABLES[kind].columns)
    store.apply_import(ImportWrite(kind=kind, file_name=f"{kind}.csv", sha256=kind, rows=frame,
                                   rows_read=frame.height, **extra))


@pytest.fixture
def tiny(tmp_path) -> Store:
    store = Store(tmp_path / "tiny.duckdb")
    _write(store, "reps", REPS, stages=STAGES)
    _write(store, "accounts", ACCOUNTS)
    _write(store, "deals", DEALS)
    _write(store, "stage_history", [{"deal_id": d, "stage": s, "entered_at": f"{at} 09:00:00", "inferred": False}
                                     for d, s, at in HISTORY])
    _write(store, "targets", TARGETS)
    _write(store, "activities", ACTIVITIES)
    yield store
    store.close()


def q2(**dims) -> Filters:
    return Filters("this_quarter", *Q2, as_of=AS_OF, **dims)


def test_overview_golden(tiny):
    v = ov.compute(tiny, q2())
    assert not v.empty and v.currency == "USD"
    assert v.kpis == pytest.approx({"won_revenue": 6000.0, "win_rate": 0.75, "avg_won_deal": 2000.0,
                                    "sales_cycle": 49.0, "attainment": 0.6, "pipeline_coverage": 1.0})
    # the quarter is running (80 days in): compared with Jan 1 – Mar 21, attainment over Q1's whole target
    assert ov.comparison_window(q2()) == (date(2024, 1, 1), date(2024, 3, 21), "to_date")
    assert v.comparison == "to_date"
    assert v.previous == pytest.approx({"won_revenue": 1500.0, "win_rate": 0.5, "avg_won_deal": 1500.0,
                                        "sales_cycle": 36.0, "attainment": 0.3, "pipeline_coverage": None})
    assert ov.relative_delta(v, "won_revenue") == pytest.approx(3.0)
    assert ov.delta(v, "win_rate") == pytest.approx(0.25)
    cards = {c["label"]: c for c in ov.kpi_cards(v, "en")}
    assert cards["Won revenue"]["value"] == "$6.0K" and cards["Won revenue"]["delta"] == "+300.0%"
    assert cards["Win rate"]["delta"] == "+25.0 pts"
    assert cards["Sales cycle (median)"]["delta_color"] == "inverse"
    assert cards["Pipeline coverage"]["value"] == "1.0×" and cards["Pipeline coverage"]["delta"] is None
    # trend: the last 12 months (the quarter is short), June still running
    assert v.trend.height == 12 and v.trend["month"][0] == date(2023, 7, 1) and v.trend["partial"].to_list()[-1]
    by_month = dict(zip(v.trend["month"], v.trend["won_revenue"]))
    assert by_month[date(2024, 2, 1)] == 1500 and by_month[date(2024, 4, 1)] == 1000
    assert by_month[date(2024, 5, 1)] == 3000 and by_month[date(2024, 6, 1)] == 2000
    assert dict(zip(v.trend["month"], v.trend["target"]))[date(2024, 5, 1)] == pytest.approx(10000 * 31 / 91)
    # attention: team A loses 1/6 of its deals at Lead → Demo against the teams' median, at 2000 a deal
    assert v.bottleneck["team"] == "A" and (v.bottleneck["from_stage"], v.bottleneck["to_stage"]) == ("Lead", "Demo")
    assert v.bottleneck["revenue_cost"] == pytest.approx(1000.0)
    assert v.plan_gap == {"level": "team", "id": "B", "name": "B", "target": 5000.0, "actual": 2000.0,
                          "gap": 3000.0, "attainment": 0.4}
    assert v.stalled == {"deals": 1, "amount": 4000.0, "stage": "Demo", "stage_amount": 4000.0}


def test_overview_golden_one_team_compares_reps(tiny):
    v = ov.compute(tiny, q2(teams=("A",)))
    assert v.kpis["won_revenue"] == 4000.0
    assert v.plan_gap["level"] == "rep" and v.plan_gap["name"] == "Ann" and v.plan_gap["gap"] == 1000.0


def test_overview_golden_nothing_in_scope(tiny):
    assert ov.compute(tiny, q2(teams=("nobody",))).empty
    assert ov.comparison_window(Filters("all_time", None, None, as_of=AS_OF)) == (None, None, "none")


def test_funnel_golden(tiny):
    v = fv.compute(tiny, q2())
    assert v.stages == ("Lead", "Demo", "Proposal") and v.won_stage == "Won"
    full = fv.with_won(v, "reached")
    assert full["stage"].to_list() == ["Lead", "Demo", "Proposal", "Won"]
    assert full["reached"].to_list() == [5, 4, 3, 3]
    assert full["conversion_to_next"].to_list()[:3] == pytest.approx([0.8, 0.75, 1.0])
    # strict: only D2 and D4 were seen entering every stage in order (and D5 up to Demo); D1 was won
    # without any history, so strictly it counts at the first stage only
    assert fv.with_won(v, "strict")["reached"].to_list() == [5, 3, 2, 2]
    head = fv.headline(v, "reached")
    assert head == {"entered": 5, "won_share": pytest.approx(0.6), "bottleneck_cost": pytest.approx(1000.0),
                    "stalled": 1, "stalled_value": 4000.0}
    step = fv.bottleneck_step(v, "reached")
    assert (step["from_stage"], step["to_stage"], step["teams"], step["team"]) == ("Lead", "Demo", 1, "A")
    # teams side by side, reps by default the ones with most deals
    teams = fv.compare_frame(v, "reached", "team")
    assert teams.filter(pl.col("stage") == "Lead").sort("group")["conversion_to_next"].to_list() == \
        pytest.approx([2 / 3, 1.0])
    assert set(fv.compare_frame(v, "reached", "rep")["group"]) == {"Ann", "Bob", "Cem"}
    assert set(fv.compare_frame(v, "reached", "rep", ("R1",))["group"]) == {"Ann"}
    # stalled: D5 sits in Demo since May 2 (49 days), usually 9.25 days (p75 of 10 and 7)
    stalled = fv.stalled_rows(v, "Demo").row(0, named=True)
    assert (stalled["deal_id"], stalled["owner"], stalled["account"], stalled["team"]) == \
        ("D5", "Cem", "Account 5", "B")
    assert (stalled["days_in_stage"], stalled["threshold_days"]) == (49, pytest.approx(9.25))
    assert fv.stalled_rows(v, "Proposal").height == 0 and fv.stalled_rows(v, None).height == 1
    table, kinds = fv.stalled_table(fv.stalled_rows(v, None), "zh")
    assert t("columns.owner_rep_id", lang="zh") in table.columns and kinds[t("columns.amount", lang="zh")] == "money"


def test_leaderboard_golden(tiny):
    v = lv.compute(tiny, q2())
    board = lv.ranked(v, "rep", "won_revenue")
    assert board.select("rep", "won_revenue", "m_rank", "m_prev_rank", "m_rank_change").rows() == [
        ("Ann", 4000.0, 1, 2, 1), ("Cem", 2000.0, 2, 3, 1), ("Bob", 0.0, 3, 1, -2)]
    # on won revenue the ranking is the metric's own
    frames = {k: tiny.frame(k) for k in ("deals", "reps", "activities", "targets")}
    metric = lb_metric.leaderboard(frames["deals"], frames["reps"], frames["activities"], frames["targets"],
                                   as_of=AS_OF, period_from=Q2[0], period_to=Q2[1])
    assert metric.select("rep", "rank", "rank_change").rows() == board.select("rep", "m_rank", "m_rank_change").rows()
    # win rate needs 5 closed deals to rank ahead: nobody has, so ties fall back to won revenue
    assert lv.ranked(v, "rep", "win_rate")["rep"].to_list() == ["Ann", "Cem", "Bob"]
    assert lv.best(v, "rep", "win_rate") is None
    # activities: Ann 3, Bob and Cem 1 each (the tie goes to Cem's won revenue)
    assert lv.ranked(v, "rep", "activities")["rep"].to_list() == ["Ann", "Cem", "Bob"]
    assert lv.ranked(v, "team", "won_revenue")["team"].to_list() == ["A", "B"]
    card = lv.best_card(v, "rep", "won_revenue", "en")
    assert card["name"] == "Ann" and card["team"] == "A"
    assert card["numbers"][0] == {"label": "Won revenue", "value": "$4.0K", "delta": None,
                                  "help": t("definitions.won_revenue", lang="en")}  # nothing won Jan 1 – Mar 21
    assert [lv.arrow(x) for x in (3, -2, 0, None)] == ["▲ 3", "▼ 2", "=", "–"]
    table, _ = lv.board_table(v, "rep", "won_revenue", "en")
    assert table["Change"].to_list() == ["▲ 1", "▲ 1", "▼ 2"]
    # the deals behind a name: won and lost in the quarter, open now
    assert lvd.compute(tiny, q2(), by="rep", key="R3")["deal_id"].to_list() == ["D4", "D5"]
    assert lvd.compute(tiny, q2(), by="team", key="A")["deal_id"].sort().to_list() == ["D1", "D2", "D3"]
    assert lv.deal_counts(lvd.compute(tiny, q2(), by="rep", key="R3")) == {
        "won": 1, "won_amount": 2000.0, "lost": 0, "lost_amount": 0.0, "open": 1, "open_amount": 4000.0}
    assert lvd.compute(tiny, q2(), by="rep", key=None).height == 0


def test_views_on_an_empty_store(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    try:
        for module in (ov, fv, lv):
            assert module.compute(store, q2()).empty
    finally:
        store.close()


# ================================================================== the pages on the demo (AppTest)
@pytest.fixture(scope="session")
def demo_file(tmp_path_factory) -> Path:
    """The demo company written once; each test gets its own copy."""
    path = tmp_path_factory.mktemp("demo_template") / "salescope.duckdb"
    store = Store(path)
    load_demo(store)
    store.close()
    return path


def _fresh(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("SALESCOPE_DB", str(path))
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def demo_db(tmp_path, monkeypatch, demo_file) -> Path:
    path = tmp_path / "salescope.duckdb"
    shutil.copy(demo_file, path)
    _fresh(monkeypatch, path)
    yield path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def empty_db(tmp_path, monkeypatch) -> Path:
    """A database that has seen an import (so the demo is not loaded) and holds no rows."""
    path = tmp_path / "salescope.duckdb"
    store = Store(path)
    store.record_failed("deals", "broken.csv", "abc", "empty_file", "The file is empty.")
    store.close()
    _fresh(monkeypatch, path)
    yield path
    st.cache_resource.clear()
    st.cache_data.clear()


def sql(query: str, params: list | None = None) -> list[tuple]:
    """Plain SQL on the app's own database (the store the AppTest runs opened)."""
    from ui import cache

    cur = cache.store().cursor()
    return cur.execute(query, params or []).fetchall()


CLOSE = "coalesce(closed_on, close_date)"


def quarter() -> tuple[date, date]:
    return period_for("this_quarter", clock.today())


def expected_quarter(team: str | None = None) -> dict[str, float]:
    """Won revenue, average won deal, won and lost deals, median cycle of this quarter, from the tables."""
    start, end = quarter()
    where = f"{CLOSE} BETWEEN ? AND ?"
    if team:
        where += " AND owner_rep_id IN (SELECT rep_id FROM reps WHERE team = ?)"
    params = [start, end] + ([team] if team else [])
    won, avg, n_won, n_lost, cycle = sql(
        f"SELECT sum(amount) FILTER (status = 'won'), avg(amount) FILTER (status = 'won'), "
        f"count(*) FILTER (status = 'won'), "
        f"count(*) FILTER (status = 'lost'), "
        f"median({CLOSE} - created_on) FILTER (status = 'won' AND {CLOSE} >= created_on) "
        f"FROM deals WHERE {where}", params)[0]
    return {"won": float(won), "avg": float(avg), "won_deals": n_won, "lost_deals": n_lost, "cycle": float(cycle)}


@pytest.mark.parametrize("lang", LANGS)
def test_overview_page_on_the_demo(demo_db, lang):
    at = start(lang, "overview")
    assert at.title[0].value == t("overview.title", lang=lang)
    exp = expected_quarter()
    assert metric(at, t("kpi.won_revenue", lang=lang)) == fmt.money(exp["won"], "CNY", lang)
    win_rate = exp["won_deals"] / (exp["won_deals"] + exp["lost_deals"])
    assert metric(at, t("kpi.win_rate", lang=lang)) == fmt.pct(win_rate, lang=lang)
    # the average is over won deals that have an amount
    assert metric(at, t("kpi.avg_won_deal", lang=lang)) == fmt.money(exp["avg"], "CNY", lang)
    assert metric(at, t("kpi.sales_cycle", lang=lang)) == fmt.days(exp["cycle"], lang=lang)
    start_q, end_q = quarter()
    target = sql("SELECT sum(value) FROM targets WHERE scope = 'company' AND measure = 'revenue' "
                 "AND period_start >= ? AND period_end <= ?", [start_q, end_q])[0][0]
    assert metric(at, t("kpi.attainment", lang=lang)) == fmt.pct(exp["won"] / target, lang=lang)
    # the change of won revenue against the same days of the previous quarter
    prev_from = (start_q - timedelta(days=1)).replace(day=1)
    prev_from = date(prev_from.year, prev_from.month - 2, 1) if prev_from.month > 2 else \
        date(prev_from.year - 1, prev_from.month + 10, 1)
    prev_to = prev_from + (clock.today() - start_q)
    before = sql(f"SELECT sum(amount) FROM deals WHERE status = 'won' AND {CLOSE} BETWEEN ? AND ?",
                 [prev_from, prev_to])[0][0]
    change = (exp["won"] - before) / before
    delta = next(m.delta for m in at.metric if m.label == t("kpi.won_revenue", lang=lang))
    assert delta == ("+" if change > 0 else "-") + fmt.pct(abs(change), lang=lang)
    screen = texts(at)
    for key in ("kpi.trend_title", "kpi.attention", "kpi.bottleneck_title", "kpi.plan_gap_title",
                "kpi.stalled_title", "overview.loaded"):
        assert t(key, lang=lang) in screen, key
    assert t("common.how_computed", lang=lang) in [e.label for e in at.expander]
    links = {el.proto.page for el in at.get("page_link")}
    assert {"funnel", "forecast"} <= links, links
    helps = {m.label: m.help for m in at.metric}
    assert helps[t("kpi.win_rate", lang=lang)] == t("definitions.win_rate", lang=lang)
    # what is loaded, at the bottom
    assert int("".join(ch for ch in metric(at, t("tables.deals", lang=lang)) if ch.isdigit())) == 20000


def test_overview_follows_the_team_filter(demo_db):
    at = start("en", "overview")
    everyone = metric(at, t("kpi.won_revenue", lang="en"))
    at.multiselect(key="f_team").set_value(["London"]).run()
    assert_ok(at)
    london = metric(at, t("kpi.won_revenue", lang="en"))
    assert london != everyone and london == fmt.money(expected_quarter("London")["won"], "CNY", "en")


@pytest.mark.parametrize("lang", LANGS)
def test_funnel_page_on_the_demo(demo_db, lang):
    at = start(lang, "funnel")
    assert at.title[0].value == t("funnel.title", lang=lang)
    start_q, end_q = quarter()
    closed, won = sql(f"SELECT count(*), count(*) FILTER (status = 'won') FROM deals "
                      f"WHERE status IN ('won', 'lost') AND {CLOSE} BETWEEN ? AND ?", [start_q, end_q])[0]
    open_ = sql("SELECT count(*) FROM deals WHERE status = 'open' AND (created_on IS NULL OR created_on <= ?)",
                [clock.today()])[0][0]
    assert metric(at, t("funnel.entered", lang=lang)) == fmt.number(closed + open_, lang=lang)
    assert metric(at, t("funnel.won_share", lang=lang)) == fmt.pct(won / (closed + open_), lang=lang)
    stalled = int("".join(ch for ch in metric(at, t("funnel.stalled_deals", lang=lang)) if ch.isdigit()))
    assert stalled > 0
    screen = texts(at)
    for key in ("funnel.chart_title", "funnel.compare_title", "funnel.stalled_title", "funnel.bottlenecks_title"):
        assert t(key, lang=lang) in screen, key
    assert len(at.get("plotly_chart")) == 2
    # drill down: one stage's stalled deals only
    stalled_table = next(tb for tb in tables(at) if t("funnel.col_days_in_stage", lang=lang) in tb.columns)
    assert len(stalled_table) == stalled
    at.selectbox(key="funnel_stage").set_value("Proposal").run()
    assert_ok(at)
    shown = next(tb for tb in tables(at) if t("funnel.col_days_in_stage", lang=lang) in tb.columns)
    assert 0 < len(shown) < stalled and set(shown[t("columns.stage", lang=lang)]) == {"Proposal"}
    # strict counting and per-rep comparison
    at.segmented_control(key="funnel_method").set_value("strict").run()
    at.segmented_control(key="funnel_compare_by").set_value("rep").run()
    assert_ok(at)
    assert at.multiselect(key="funnel_reps").label == t("funnel.reps", lang=lang)


@pytest.mark.parametrize("lang", LANGS)
def test_leaderboard_page_on_the_demo(demo_db, lang):
    at = start(lang, "leaderboard")
    assert at.title[0].value == t("leaderboard.title", lang=lang)
    start_q, end_q = quarter()
    top = sql(f"SELECT r.rep_id, r.name, sum(d.amount) AS won FROM deals d JOIN reps r ON r.rep_id = d.owner_rep_id "
              f"WHERE d.status = 'won' AND {CLOSE} BETWEEN ? AND ? GROUP BY ALL ORDER BY won DESC LIMIT 2",
              [start_q, end_q])
    (best_id, best_name, best_won), (second_id, second_name, _) = top
    heading = " ".join(m.value for m in at.markdown)
    assert t("leaderboard.best_rep_quarter", lang=lang) in heading and best_name in heading
    assert metric(at, t("leaderboard.measure_won_revenue", lang=lang)) == fmt.money(best_won, "CNY", lang)
    board = tables(at)[0]
    assert list(board[t("leaderboard.col_rep", lang=lang)])[:2] == [best_name, second_name]
    assert set(board[t("leaderboard.col_change", lang=lang)]) <= set(
        ["=", "–"] + [f"{a} {n}" for a in "▲▼" for n in range(1, 60)])
    # the deals of the rep picked below the board (the best one first, then another one)
    deals = tables(at)[-1]
    assert set(deals[t("columns.owner_rep_id", lang=lang)]) == {best_name}
    at.selectbox(key="leaderboard_pick_rep").set_value(second_id).run()
    assert_ok(at)
    deals = tables(at)[-1]
    n = sql(f"SELECT count(*) FROM deals WHERE owner_rep_id = ? AND ((status IN ('won', 'lost') AND {CLOSE} "
            f"BETWEEN ? AND ?) OR (status = 'open' AND (created_on IS NULL OR created_on <= ?)))",
            [second_id, start_q, end_q, clock.today()])[0][0]
    assert set(deals[t("columns.owner_rep_id", lang=lang)]) == {second_name} and len(deals) == n
    # per team, ranked on win rate
    at.segmented_control(key="leaderboard_by").set_value("team").run()
    at.selectbox(key="leaderboard_measure").set_value("win_rate").run()
    assert_ok(at)
    teams = sql(f"SELECT r.team, count(*) FILTER (d.status = 'won') / count(*) AS rate FROM deals d "
                f"JOIN reps r ON r.rep_id = d.owner_rep_id WHERE d.status IN ('won', 'lost') "
                f"AND {CLOSE} BETWEEN ? AND ? GROUP BY ALL ORDER BY rate DESC", [start_q, end_q])
    board = tables(at)[0]
    assert list(board[t("leaderboard.col_team", lang=lang)]) == [team for team, _ in teams]
    assert t("leaderboard.best_team_quarter", lang=lang) in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", ["overview", "funnel", "leaderboard"])
def test_pages_on_an_empty_database(empty_db, lang, page):
    at = start(lang, page)
    assert t("common.no_data", lang=lang) in [el.value for el in at.info]
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("page", ["overview", "funnel", "leaderboard"])
def test_pages_when_the_filters_match_nothing(demo_db, page):
    """A team and a rep of another team: nothing is in scope."""
    at = start("en", page)
    beijing_rep = sql("SELECT rep_id FROM reps WHERE team = 'Beijing' ORDER BY rep_id LIMIT 1")[0][0]
    at.multiselect(key="f_team").set_value(["London"]).run()
    at.multiselect(key="f_rep").set_value([beijing_rep]).run()
    assert_ok(at)
    assert t("common.no_data", lang="en") in [el.value for el in at.info]
    assert not at.get("plotly_chart")
    if page == "overview":  # what is loaded still shows
        assert t("overview.loaded", lang="en") in texts(at)

"""The History page and meeting mode end to end in-process (AppTest) on the demo company and on an
empty database, in English, Chinese and Turkish. Expected headline numbers come from plain SQL on
the store's file, not from the views."""
from __future__ import annotations

import ast
import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data import clock
from tests.test_app import (  # noqa: F401  (fixtures: a fresh database, AppTest quirks)
    _OUTSIDE_LANG,
    TIMEOUT,
    assert_ok,
    db,
    language_outside_runs,
    navigation_only,
    texts,
)
from ui import format as fmt
from ui.filters import period_for
from ui.i18n import t

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
MY_PAGES = {"history": ("history.title", ":material/history:"), "meeting": ("meeting.title", ":material/co_present:")}


@pytest.fixture(autouse=True)
def format_language_outside_runs(monkeypatch):
    """ui.format holds its own reference to current_lang: make the dates AppTest formats in the test
    thread (a selectbox's format_func) follow the language `start()` chose too."""
    from ui import i18n

    monkeypatch.setattr(fmt, "current_lang", lambda: i18n.current_lang())


def _listed() -> set[str]:
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "PAGES":
            return {row[0] for row in ast.literal_eval(node.value)}
    return set()


@pytest.fixture
def app_file(tmp_path) -> Path:
    """app.py, or — until the router lists History and Meeting — a copy that does (same folder for
    the pages, so the pages and the frame are the real ones)."""
    missing = [stem for stem in MY_PAGES if stem not in _listed()]
    if not missing:
        return APP
    src = APP.read_text(encoding="utf-8")
    src = src.replace("HERE = Path(__file__).resolve().parent", f"HERE = Path({str(ROOT)!r})")
    rows = "".join(f'    ("{stem}", "{MY_PAGES[stem][0]}", "{MY_PAGES[stem][1]}", False),\n' for stem in missing)
    src = src.replace('    ("data", "nav.data"', rows + '    ("data", "nav.data"', 1)
    path = tmp_path / "app.py"
    path.write_text(src, encoding="utf-8")
    return path


def start(app_file: Path, lang: str, page: str, **params: str) -> AppTest:
    _OUTSIDE_LANG[0] = lang
    at = AppTest.from_file(str(app_file), default_timeout=TIMEOUT)
    at.query_params["lang"] = lang
    for key, value in params.items():
        at.query_params[key] = value
    at.switch_page(str(ROOT / "pages" / f"{page}.py")).run()   # a first visit straight to the page's URL
    assert_ok(at)
    return at


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


# ------------------------------------------------------------------- independent figures in SQL
def _store():
    from ui import cache

    return cache.store()


def expected_change() -> dict:
    """The waterfall between the last two snapshots over this quarter's close dates, in plain SQL."""
    q_from, q_to = period_for("this_quarter", clock.today())
    cur = _store().cursor()
    a, b = [r[0] for r in cur.execute("SELECT DISTINCT snapshot_date FROM deal_snapshots ORDER BY 1 DESC LIMIT 2").fetchall()][::-1]
    latest = ("SELECT * FROM deal_snapshots WHERE snapshot_date = $d "
              "QUALIFY row_number() OVER (PARTITION BY deal_id ORDER BY batch_id DESC) = 1")
    win = "(x.status = 'open' AND x.close_date BETWEEN $f AND $t)"
    one = lambda sql, **p: float(cur.execute(sql, {"f": q_from, "t": q_to, **p}).fetchone()[0] or 0.0)  # noqa: E731
    start = one(f"SELECT sum(amount) FROM ({latest}) x WHERE {win}", d=a)
    end = one(f"SELECT sum(amount) FROM ({latest}) x WHERE {win}", d=b)
    both = (f"FROM ({latest.replace('$d', '$a')}) x LEFT JOIN ({latest.replace('$d', '$b')}) y USING (deal_id) "
            f"WHERE {win}")
    won = one(f"SELECT sum(x.amount) {both} AND y.status = 'won'", a=a, b=b)
    lost = one(f"SELECT sum(x.amount) {both} AND y.status = 'lost'", a=a, b=b)
    created = one(f"SELECT sum(x.amount) FROM ({latest.replace('$d', '$b')}) x LEFT JOIN "
                  f"({latest.replace('$d', '$a')}) y USING (deal_id) WHERE {win} AND y.deal_id IS NULL", a=a, b=b)
    return {"from": a, "to": b, "start": start, "end": end, "won": won, "lost": lost, "created": created,
            "quarter": (q_from, q_to)}


def expected_won_revenue() -> float:
    q_from, q_to = period_for("this_quarter", clock.today())
    return float(_store().cursor().execute(
        "SELECT sum(amount) FROM deals WHERE status = 'won' AND coalesce(closed_on, close_date) BETWEEN $f AND $t",
        {"f": q_from, "t": q_to}).fetchone()[0] or 0.0)


def expected_target() -> float:
    """Company revenue targets overlapping this quarter, prorated by days."""
    q_from, q_to = period_for("this_quarter", clock.today())
    return float(_store().cursor().execute(
        "SELECT sum(value * (least(period_end, $t) - greatest(period_start, $f) + 1) / (period_end - period_start + 1)) "
        "FROM targets WHERE scope = 'company' AND measure = 'revenue' AND period_end >= $f AND period_start <= $t",
        {"f": q_from, "t": q_to}).fetchone()[0] or 0.0)


def rep_names() -> list[str]:
    return [r[0] for r in _store().cursor().execute("SELECT name FROM reps WHERE name IS NOT NULL").fetchall()]


def everything(at: AppTest) -> str:
    """Every text the page shows: labels, captions, table cells and the charts' data."""
    parts = [texts(at)]
    parts += [el.label for el in at.tabs]
    for frame in at.dataframe:
        parts.append(frame.value.to_csv(index=False))
    for chart in at.get("plotly_chart"):
        parts.append(json.dumps(json.loads(chart.proto.spec), ensure_ascii=False))
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ history
@pytest.mark.parametrize("lang", ["en", "zh", "tr"])
def test_history_on_the_demo(db, app_file, lang):
    at = start(app_file, lang, "history")
    assert at.title[0].value == t("history.title", lang=lang)
    exp = expected_change()
    money = lambda x: fmt.money(x, "CNY", lang=lang)  # noqa: E731
    assert metric(at, t("history.metric_start", lang=lang, day=fmt.day(exp["from"], lang))) == money(exp["start"])
    assert metric(at, t("history.metric_end", lang=lang, day=fmt.day(exp["to"], lang))) == money(exp["end"])
    for bar in ("created", "won", "lost"):
        assert metric(at, t(f"history.bar_{bar}", lang=lang)) == money(exp[bar]), bar
    assert exp["start"] > 0 and exp["end"] > 0 and exp["won"] > 0 and exp["created"] > 0
    screen = texts(at)
    for key in ("history.slipped", "history.point_in_time", "history.trend", "history.deals_all"):
        assert t(key, lang=lang) in screen, key
    # the snapshot pickers default to the last two snapshots
    assert at.selectbox(key="history_from").value == exp["from"]
    assert at.selectbox(key="history_to").value == exp["to"]
    # the deals behind the bars: every deal that moved (no click yet), with translated headers
    deals = at.dataframe[0].value
    assert t("history.col_bar", lang=lang) in deals.columns and len(deals) > 0
    assert len(at.get("plotly_chart")) == 3


def test_history_other_snapshots(db, app_file):
    at = start(app_file, "en", "history")
    first = _store().cursor().execute("SELECT min(snapshot_date) FROM deal_snapshots").fetchone()[0]
    at.selectbox(key="history_from").set_value(first).run()
    assert_ok(at)
    assert metric(at, t("history.metric_start", lang="en", day=fmt.day(first, "en")))
    # a "from" that is not before the "to" is refused with a message, not a crash
    at.selectbox(key="history_from").set_value(at.selectbox(key="history_to").value).run()
    assert_ok(at)
    assert t("history.same", lang="en") in [w.value for w in at.warning]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_history_on_an_empty_database(db, app_file, lang):
    at = start(app_file, lang, "history")
    at.button(key="clear_demo").click().run()
    assert_ok(at)
    assert t("common.no_data", lang=lang) in [i.value for i in at.info]
    assert not at.metric


def test_history_with_one_snapshot(db, app_file, tmp_path):
    """One deals upload: the page explains that history builds up from weekly uploads."""
    import streamlit as st

    from data.ingest.pipeline import import_file
    from tests.test_app import DEALS_CSV

    at = start(app_file, "en", "history")
    at.button(key="clear_demo").click().run()
    path = tmp_path / "deals.csv"
    path.write_text(DEALS_CSV, encoding="utf-8")
    import_file(_store(), path, as_of=date(2024, 6, 1))
    st.cache_data.clear()
    at.run()
    assert_ok(at)
    assert t("history.need_two", lang="en") in [i.value for i in at.info]
    assert t("history.one_snapshot", lang="en", day=fmt.day(date(2024, 6, 1), "en")) in [c.value for c in at.caption]


# ------------------------------------------------------------------------------------ meeting
@pytest.mark.parametrize("lang", ["en", "zh", "tr"])
def test_meeting_slides_on_the_demo(db, app_file, lang):
    at = start(app_file, lang, "meeting")
    money = lambda x: fmt.money(x, "CNY", lang=lang)  # noqa: E731
    exp = expected_change()
    # slide 1: what changed since the last meeting
    assert at.title[0].value == f"1 · {t('meeting.agenda_changes', lang=lang)}"
    assert metric(at, t("history.bar_end", lang=lang)) == money(exp["end"])
    assert metric(at, t("history.bar_won", lang=lang)) == money(exp["won"])
    assert metric(at, t("history.bar_created", lang=lang)) == money(exp["created"])
    assert at.query_params["slide"] in ("1", ["1"])
    # slide 2: the leaderboard
    at.button(key="meeting_next").click().run()
    assert_ok(at)
    assert at.query_params["slide"] in ("2", ["2"])
    assert at.title[0].value == f"2 · {t('meeting.agenda_leaderboard', lang=lang)}"
    assert metric(at, t("meeting.col_won_revenue", lang=lang)) == money(expected_won_revenue())
    # slide 3: forecast vs plan
    at.button(key="meeting_next").click().run()
    assert at.title[0].value == f"3 · {t('meeting.agenda_forecast', lang=lang)}"
    assert metric(at, t("meeting.target", lang=lang)) == money(expected_target())
    assert metric(at, t("meeting.won_to_date", lang=lang)) == money(expected_won_revenue())
    # slides 4 and 5, then no further
    at.button(key="meeting_next").click().run()
    assert at.title[0].value == f"4 · {t('meeting.agenda_stalled', lang=lang)}"
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) > 0
    at.button(key="meeting_next").click().run()
    assert_ok(at)
    assert at.title[0].value == f"5 · {t('meeting.agenda_hygiene', lang=lang)}"
    assert at.button(key="meeting_next").disabled
    at.button(key="meeting_prev").click().run()
    assert at.title[0].value == f"4 · {t('meeting.agenda_stalled', lang=lang)}"
    assert at.query_params["slide"] in ("4", ["4"])


def test_meeting_opens_at_the_slide_in_the_url(db, app_file):
    at = start(app_file, "en", "meeting", slide="3")
    assert at.title[0].value == f"3 · {t('meeting.agenda_forecast', lang='en')}"
    odd = start(app_file, "en", "meeting", slide="nine")
    assert odd.title[0].value.startswith("1 · ")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_meeting_anonymised_shows_no_rep_name(db, app_file, lang):
    at = start(app_file, lang, "meeting")
    names = rep_names()
    assert len(names) >= 30
    shown = everything(at)
    assert any(name in shown for name in names), "the named slides do show reps"
    at.toggle(key="meeting_anonymise").set_value(True).run()
    assert_ok(at)
    for slide in range(1, 6):
        if slide > 1:
            at.button(key="meeting_next").click().run()
            assert_ok(at)
        shown = everything(at)
        leaked = [name for name in names if name in shown]
        assert not leaked, f"slide {slide} shows rep names while anonymised: {leaked}"
        if slide == 2:
            assert t("meeting.rep_alias", lang=lang, rank=1) in shown
            assert t("meeting.col_band", lang=lang) in shown


def test_meeting_on_an_empty_database(db, app_file):
    at = start(app_file, "en", "meeting")
    at.button(key="clear_demo").click().run()
    assert_ok(at)
    assert t("common.no_data", lang="en") in [i.value for i in at.info]


def test_history_definitions_are_the_metrics_definitions():
    """The English help texts of History and the meeting are metrics.DEFINITIONS, word for word."""
    import metrics
    from ui.i18n import catalog

    en = catalog("en")
    keys = ["pipeline_change", "slipped_deals", "slipped_by_rep", "pipeline_at", "pipeline_trend",
            "inferred_stage_history", "forecast_accuracy", "best_method"]
    keys += [f"change_{bar}" for bar in ("start", "created", "pulled_in", "amount_up", "amount_down", "pushed_out",
                                         "won", "lost", "removed", "end")]
    for key in keys:
        assert en[f"history.def_{key}"] == metrics.DEFINITIONS[key], key

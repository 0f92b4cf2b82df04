"""Hostile CRM text in the real browser, on every page: a rep, an account, a stage, a team, a product,
a lost reason and a file name that are HTML (`<img src=x onerror=alert(1)>`, `<script>alert(2)</script>`).

On every page the router lists (and meeting mode with `?present=1`, every slide) no dialog fires, no
element that the text would make exists (in the DOM or in a chart's SVG, also after hovering every
point of every chart, which draws the hover labels), and the text shows literally where the page
shows that name. Screenshots: tests/artifacts/hostile_<page>.png.
"""
from __future__ import annotations

import ast
from datetime import date, timedelta

import pytest

from data import clock
from tests.browser_helpers import (  # noqa: F401  (browser, page: fixtures)
    ROOT, Server, browser, needs_chromium, no_exception, open_page, page, screenshot, started, wait_idle,
)
from tests.store_builder import build, stages_frame
from ui.filters import quarter_start
from ui.i18n import t

pytestmark = [pytest.mark.browser, needs_chromium]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
STAGE = f"Demo {IMG}"                # a stage name (the funnel, the stalled deals, the history)
REP = f"Eve {IMG}"                   # a rep name (leaderboard, forecast, meeting)
ACCOUNT = f"Acme {IMG}"              # an account name (customers)
TEAM = f"Team {SCRIPT}"
TODAY = clock.today()
QS = quarter_start(TODAY)
MID = QS + (TODAY - QS) // 2          # inside this quarter, on or before today


def _day(d: date) -> str:
    return d.isoformat()


def _deal(i: int, rep: str, account: str, status: str, stage: str, amount: float, created: date,
          closed: date | None = None, close_date: date | None = None, **extra) -> dict:
    return {"deal_id": f"H{i}", "account_id": account, "owner_rep_id": rep, "name": f"Deal {i} {IMG}",
            "amount": amount, "currency": "USD", "stage": stage, "status": status, "created_on": _day(created),
            "closed_on": _day(closed) if closed else None, "close_date": _day(close_date or closed),
            "product": IMG, **extra}


def hostile_company(path):
    earlier = TODAY - timedelta(days=7)
    later = [
        _deal(1, "R1", "AC1", "won", "Won", 5000, QS - timedelta(days=40), MID),
        _deal(2, "R1", "AC1", "open", STAGE, 8000, QS - timedelta(days=60), close_date=TODAY + timedelta(days=20)),
        _deal(3, "R2", "AC3", "won", "Won", 3000, QS - timedelta(days=30), MID),
        _deal(4, "R2", "AC2", "lost", "Lost", 1000, QS - timedelta(days=20), MID, lost_reason=IMG),
        _deal(5, "R1", "AC2", "open", "Proposal", 2000, QS - timedelta(days=10), close_date=TODAY + timedelta(days=30)),
        _deal(6, "R2", "AC1", "open", STAGE, 4000, TODAY - timedelta(days=3), close_date=TODAY + timedelta(days=40)),
    ]
    first = [dict(d) for d in later[:5]]
    first[0].update(status="open", stage="Proposal", closed_on=None, close_date=_day(TODAY + timedelta(days=3)))
    first[1].update(stage="Lead", close_date=_day(TODAY + timedelta(days=10)))
    first[2].update(status="open", stage=STAGE, closed_on=None, close_date=_day(TODAY - timedelta(days=2)))
    history = [("H1", "Lead", QS - timedelta(days=40)), ("H1", STAGE, QS - timedelta(days=30)),
               ("H1", "Proposal", QS - timedelta(days=20)), ("H1", "Won", MID),
               ("H2", "Lead", QS - timedelta(days=60)), ("H2", STAGE, QS - timedelta(days=45)),
               ("H3", "Lead", QS - timedelta(days=30)), ("H3", STAGE, QS - timedelta(days=20)), ("H3", "Won", MID),
               ("H4", "Lead", QS - timedelta(days=20)), ("H4", "Lost", MID),
               ("H5", "Lead", QS - timedelta(days=10)), ("H5", STAGE, QS - timedelta(days=8)),
               ("H5", "Proposal", QS - timedelta(days=5)), ("H6", "Lead", TODAY - timedelta(days=3))]
    qe = date(QS.year + (QS.month == 10), (QS.month + 2) % 12 + 1, 1) - timedelta(days=1)
    span = {"period_start": _day(QS), "period_end": _day(qe), "measure": "revenue"}
    build(
        path,
        stages=stages_frame(["Lead", STAGE, "Proposal", "Won", "Lost"], won="Won", lost="Lost"),
        reps=[{"rep_id": "R1", "name": REP, "team": TEAM, "region": IMG},
              {"rep_id": "R2", "name": "Bob", "team": "Plain"}],
        accounts=[{"account_id": "AC1", "name": ACCOUNT, "industry": IMG, "size": IMG, "region": SCRIPT},
                  {"account_id": "AC2", "name": "Plain Co", "size": "Small"},
                  {"account_id": "AC3", "name": f"Globex {SCRIPT}", "size": "Small"}],
        deal_snapshots=[(earlier, first), (TODAY, later)],
        history=[(d, s, _day(at)) for d, s, at in history],
        targets=[{"scope": "company", "scope_id": "", "value": 20000.0, **span},
                 {"scope": "rep", "scope_id": "R1", "value": 10000.0, **span},
                 {"scope": "rep", "scope_id": "R2", "value": 6000.0, **span},
                 {"scope": "team", "scope_id": TEAM, "value": 10000.0, **span}],
        activities=[{"activity_id": f"X{i}", "rep_id": rep, "kind": "call", "account_id": "AC1",
                     "occurred_at": f"{_day(MID)} 1{i}:00:00", "outcome": IMG}
                    for i, rep in enumerate(["R1", "R1", "R2"])],
        file_names={"deals": f"{IMG}.csv"},
    )
    return path


def router_pages() -> list[str]:
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(getattr(x, "id", None) == "PAGES" for x in targets):
            return [row[0] for row in ast.literal_eval(node.value)]
    raise AssertionError("app.py has no PAGES list")


PAGES = router_pages()
# where each hostile name must show (literally) on a page of the router; the other pages must still
# not run it. Every page is visited.
SHOWN = {
    "funnel": [STAGE],
    "leaderboard": [REP],
    "customers": [ACCOUNT],
    "forecast": [REP],
    "history": [STAGE],
    "data": [f"{IMG}.csv"],
}

INJECTED_JS = """() => ({
    img: document.querySelectorAll('img[src="x"], img[src=x]').length,
    onerror: document.querySelectorAll('[onerror]').length,
    // Plotly draws a heatmap as an SVG <image> of a data: URL; any other image or foreign HTML in a chart is injected
    svgImg: Array.from(document.querySelectorAll('svg img, svg foreignObject, svg image')).filter(el =>
        !((el.getAttribute('href') || el.getAttribute('xlink:href') || '').startsWith('data:'))).length,
    script: Array.from(document.querySelectorAll('script')).filter(s => (s.textContent || '').includes('alert(')).length,
    fired: window.__hostile_fired || 0,
})"""

TEXT_JS = """() => document.body.innerText + '\\n'
    + Array.from(document.querySelectorAll('svg')).map(s => s.textContent).join('\\n') + '\\n'
    + Array.from(document.querySelectorAll('[data-testid="stDataFrame"] table')).map(t => t.textContent).join('\\n')"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("hostile_server")
    srv = Server(folder, db=hostile_company(folder / "hostile.duckdb"))
    try:
        started(browser, srv, "/?lang=en")
        yield srv
    finally:
        srv.stop()


def trap(page) -> None:
    """Count any alert() the page would run, even one that a dialog handler missed."""
    page.add_init_script("window.__hostile_fired = 0; const _a = window.alert; "
                         "window.alert = (...x) => { window.__hostile_fired++; return _a.apply(window, x); };")


def hover_every_point(page, limit: int = 40) -> int:
    """Move the mouse over every bar and marker of every chart (Plotly draws the hover label then)."""
    points = page.locator('[data-testid="stPlotlyChart"] .point')
    n = min(points.count(), limit)
    for i in range(n):
        try:
            points.nth(i).hover(force=True, timeout=2000)
            page.wait_for_timeout(60)
        except Exception:   # a point outside the drawn area (clipped) cannot be hovered: skip it
            continue
    return n


def assert_inert(page, where: str) -> None:
    found = page.evaluate(INJECTED_JS)
    assert found == {"img": 0, "onerror": 0, "svgImg": 0, "script": 0, "fired": 0}, (where, found)
    assert not page.dialogs, (where, page.dialogs)


def visit(page, url: str, where: str) -> str:
    open_page(page, url)
    page.wait_for_timeout(800)       # charts draw after the script has finished
    no_exception(page)
    assert_inert(page, where)
    hovered = hover_every_point(page)
    assert_inert(page, f"{where} (after hovering {hovered} chart points)")
    return page.evaluate(TEXT_JS)


def test_every_page_shows_hostile_text_as_text(hostile_server, page):
    trap(page)
    assert set(SHOWN) <= set(PAGES)
    for stem in PAGES:
        text = visit(page, f"{hostile_server.url}/{stem}?lang=en&period=this_quarter", stem)
        for name in SHOWN.get(stem, []):
            assert name in text, (stem, name, text[:3000])
        screenshot(page, f"hostile_{stem}.png")
    assert not page.errors, page.errors


def test_meeting_mode_every_slide(hostile_server, page):
    trap(page)
    seen = ""
    for n in range(1, 6):
        seen += visit(page, f"{hostile_server.url}/meeting?lang=en&present=1&slide={n}", f"meeting slide {n}")
        screenshot(page, f"hostile_meeting_{n}.png")
    assert REP in seen and STAGE in seen, seen[:3000]
    assert not page.errors, page.errors


def test_filter_options_and_hover_labels_are_text(hostile_server, page):
    """The sidebar's filter lists (teams, reps, regions, products) and a chart's hover label show the
    names as text."""
    trap(page)
    open_page(page, f"{hostile_server.url}/leaderboard?lang=en&period=this_quarter")
    for box in ("Team", "Rep", "Product", "Region"):
        combo = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=box, exact=True)
        if not combo.count():
            continue
        combo.first.click()
        page.get_by_role("option").first.wait_for(timeout=10_000)
        options = page.get_by_role("option").all_inner_texts()
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        assert any(IMG in o or SCRIPT in o for o in options), (box, options)
        assert_inert(page, f"filter {box}")
    hover_every_point(page)
    hover = page.evaluate("() => Array.from(document.querySelectorAll('.hoverlayer')).map(h => h.textContent).join(' ')")
    assert_inert(page, "leaderboard hover")
    assert not page.errors, (page.errors, hover)


def click_every_point(page, chart_key: str, limit: int = 12) -> str:
    """Click each bar or marker of one chart in turn (a click selects it and the page shows what
    is behind it); returns the text of the page after each click."""
    seen = []
    chart = page.locator(f".st-key-{chart_key} [data-testid='stPlotlyChart'], .st-key-{chart_key}").first
    chart.locator(".point").first.wait_for(timeout=60_000)   # Plotly draws after the script has finished
    n = min(chart.locator(".point").count(), limit)
    assert n, f"no points to click in {chart_key}"
    for i in range(n):
        point = chart.locator(".point").nth(i)
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        if not box or box["width"] * box["height"] == 0:
            continue
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(400)
        wait_idle(page)
        no_exception(page)
        assert_inert(page, f"{chart_key} after clicking point {i}")
        seen.append(page.evaluate(TEXT_JS))
    return "\n".join(seen)


@pytest.mark.parametrize("stem,chart,name,heading", [
    ("forecast", "forecast_attainment_rep", REP, t("forecast.open_deals_of", lang="en", name=REP)),
    ("funnel", "funnel_chart", STAGE, STAGE),
    ("leaderboard", "leaderboard_chart", REP, REP),
])
def test_clicked_chart_names_are_text(hostile_server, page, stem, chart, name, heading):
    """A click on a chart puts the picked name in a heading or a picker: as text, never markup."""
    trap(page)
    open_page(page, f"{hostile_server.url}/{stem}?lang=en&period=this_quarter")
    keys = page.evaluate("() => Array.from(document.querySelectorAll('[class*=\"st-key-\"]'))"
                         ".map(e => Array.from(e.classList).find(c => c.startsWith('st-key-')))")
    key = chart if f"st-key-{chart}" in keys else next(
        (k[len("st-key-"):] for k in keys if k.startswith(f"st-key-{stem}") and page.locator(f".{k} .point").count()),
        None)
    assert key, (stem, keys)
    text = click_every_point(page, key)
    assert name in text, (stem, key, text[:2000])
    assert heading in text, (stem, heading, text[:2000])
    screenshot(page, f"hostile_{stem}_clicked.png")
    assert not page.errors, page.errors

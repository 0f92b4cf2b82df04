"""The dashboard in a real browser: every page of the router clicked through in English and Chinese
(screenshots at 1920×1080 in tests/artifacts/dashboard_<page>_<lang>.png), a sidebar filter that
changes the headline number, the language switch, and a click on a funnel bar that narrows the
stalled-deals table to that stage.

Runs its own `streamlit run app.py` (fresh database, demo company) so it does not depend on the
order of the other browser tests.
"""
from __future__ import annotations

import ast
import re
from urllib.parse import urlparse

import pytest

from tests.browser_helpers import (  # noqa: F401  (browser, page: fixtures)
    IDLE_TIMEOUT, ROOT, Server, browser, main_text, needs_chromium, no_exception, open_page, page, screenshot,
    started, wait_idle,
)
from ui.i18n import catalog, t

pytestmark = [pytest.mark.browser, needs_chromium]


def router_pages() -> list[tuple[str, str]]:
    """(file stem, nav label key) of every page app.py routes to, in menu order."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(isinstance(x, ast.Name) and x.id == "PAGES" for x in targets):
            return [(stem, label) for stem, label, *_ in ast.literal_eval(node.value)]
    raise AssertionError("app.py has no PAGES list")


PAGES = router_pages()
TITLED = ("overview", "funnel", "leaderboard", "customers", "forecast", "data")
STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation")


def titles(stem: str, label: str, lang: str) -> set[str]:
    """What the page's heading may say: its own title, else its menu label."""
    return {t(label, lang=lang)} | ({t(f"{stem}.title", lang=lang)} if f"{stem}.title" in catalog("en") else set())


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory, browser):
    srv = Server(tmp_path_factory.mktemp("dashboard_server"))
    try:
        started(browser, srv)   # the demo company is generated here
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def tab(page):
    """A fresh browser session in English that records page errors and dialogs."""
    return page


# ---------------------------------------------------------------------------------- helpers
def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def go(page, stem: str, label: str, lang: str) -> None:
    """Click the page's entry in the sidebar menu and wait for its heading."""
    link = sidebar(page).locator('[data-testid="stSidebarNav"] a').filter(has_text=t(label, lang=lang)).first
    link.click()
    wait_idle(page)
    heading = page.locator("h1").first
    heading.wait_for(timeout=IDLE_TIMEOUT * 1000)
    shown = heading.inner_text().strip()
    if stem in TITLED:  # the other pages may head with something else (the meeting page: its slide)
        assert shown in titles(stem, label, lang), (stem, shown)
    assert shown, stem
    path = urlparse(page.url).path.strip("/")
    assert path == stem, (stem, page.url)     # the first page too: the root URL switches to it
    no_exception(page)


def metric_text(page, label: str, timeout: float = 60) -> str:
    """The shown value of the first metric with this exact label (waits for it to be drawn)."""
    for _ in range(int(timeout * 4)):
        metrics = page.locator('[data-testid="stMetric"]')
        for i in range(metrics.count()):
            m = metrics.nth(i)
            if m.locator('[data-testid="stMetricLabel"]').inner_text().strip() == label:
                return m.locator('[data-testid="stMetricValue"]').inner_text().strip()
        page.wait_for_timeout(250)
    raise AssertionError(f"no metric {label!r}: {main_text(page)[:1500]}")


def pick(page, label: str, option: str) -> None:
    """Open a sidebar selectbox or multiselect (a combobox named by its label) and choose an option."""
    sidebar(page).get_by_role("combobox", name=label, exact=True).first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    wait_idle(page)


def visible_grids(page) -> list[str]:
    """The cell text of every data grid on screen (grids in a closed expander are skipped)."""
    from playwright.sync_api import Error as PlaywrightError

    grids = page.locator('[data-testid="stDataFrame"]')
    out = []
    for i in range(grids.count()):
        if not grids.nth(i).is_visible():
            continue
        # a grid whose cells are not drawn yet, or redrawn meanwhile (a loaded machine), reads as
        # empty; callers poll again
        try:
            out.append(grids.nth(i).locator("table").first.inner_text(timeout=2_000))
        except PlaywrightError:
            out.append("")
    return out


def grid_with(page, header: str, timeout: float = 60) -> str:
    """The text of the first grid on screen that has this column header (waits for it to draw)."""
    for _ in range(int(timeout * 4)):
        found = [g for g in visible_grids(page) if header in g]
        if found:
            return found[0]
        page.wait_for_timeout(250)
    raise AssertionError(f"no table with a {header!r} column on screen")


def shoot(page, stem: str, lang: str) -> None:
    path = screenshot(page, f"dashboard_{stem}_{lang}.png")
    assert path.stat().st_size > 20_000


# ------------------------------------------------------------------------------------ tests
def test_every_page_in_english_and_chinese(dash_server, tab):
    open_page(tab, dash_server.url + "/")
    menu = sidebar(tab).locator('[data-testid="stSidebarNav"]').inner_text()
    for stem, label in PAGES:
        assert t(label, lang="en") in menu, label
    for stem, label in PAGES:
        go(tab, stem, label, "en")
        main = main_text(tab)
        if stem == "overview":
            for key in ("kpi.won_revenue", "kpi.win_rate", "kpi.trend_title", "kpi.attention", "overview.loaded"):
                assert t(key, lang="en") in main, key
            assert re.search(r"¥[\d.,]+[KM]", metric_text(tab, t("kpi.won_revenue", lang="en")))
        elif stem == "funnel":
            for key in ("funnel.chart_title", "funnel.compare_title", "funnel.stalled_title"):
                assert t(key, lang="en") in main, key
        elif stem == "leaderboard":
            assert t("leaderboard.best_rep_quarter", lang="en") in main
        assert tab.locator('[data-testid="stMetric"], [data-testid="stFileUploader"]').count() > 0, stem
        shoot(tab, stem, "en")

    # the language switch: everything in Chinese, the URL says so, and every page again
    pick(tab, t("app.language", lang="en"), "简体中文")
    sidebar(tab).locator('[data-testid="stSidebarNav"]').filter(has_text=t(PAGES[0][1], lang="zh")).wait_for(
        timeout=IDLE_TIMEOUT * 1000)
    assert "lang=zh" in tab.url
    menu = sidebar(tab).locator('[data-testid="stSidebarNav"]').inner_text()
    assert all(t(label, lang="zh") in menu for _, label in PAGES)
    for stem, label in PAGES:
        go(tab, stem, label, "zh")
        main = main_text(tab)
        assert re.search(r"[\u4e00-\u9fff]{2,}", tab.locator("h1").first.inner_text())
        if stem == "overview":
            for key in ("kpi.won_revenue", "kpi.attention", "overview.loaded"):
                assert t(key, lang="zh") in main, key
            for key in ("kpi.won_revenue", "kpi.attention", "overview.loaded", "overview.title"):
                assert t(key, lang="en") not in main, key
        shoot(tab, stem, "zh")
    assert not tab.errors and not tab.dialogs, (tab.errors, tab.dialogs)


def test_every_page_has_its_own_url_and_the_root_leads_to_the_first(dash_server, tab):
    """A link to any page opens it, filters and language kept: `/overview` too (Streamlit serves its
    default page only at the root, where a link to `/overview` met "Page not found"); the root URL
    switches to `/overview` with its query."""
    for stem, label in PAGES:
        open_page(tab, f"{dash_server.url}/{stem}?lang=zh&team=London")
        assert tab.get_by_text("Page not found").count() == 0, stem
        assert urlparse(tab.url).path.strip("/") == stem, (stem, tab.url)
        assert "lang=zh" in tab.url and "team=London" in tab.url, (stem, tab.url)
        if stem in TITLED:
            assert tab.locator("h1").first.inner_text().strip() in titles(stem, label, "zh"), stem
        no_exception(tab)
    open_page(tab, f"{dash_server.url}/?lang=zh&team=London")
    tab.wait_for_url(re.compile(r"/overview\?"), timeout=IDLE_TIMEOUT * 1000)
    wait_idle(tab)
    assert "lang=zh" in tab.url and "team=London" in tab.url, tab.url
    assert tab.locator("h1").first.inner_text().strip() in titles("overview", PAGES[0][1], "zh")
    assert tab.get_by_text("Page not found").count() == 0
    assert not tab.errors and not tab.dialogs, (tab.errors, tab.dialogs)


def test_a_team_filter_changes_the_headline(dash_server, tab):
    open_page(tab, dash_server.url + "/?lang=en")
    label = t("kpi.won_revenue", lang="en")
    everyone = metric_text(tab, label)
    pick(tab, t("filters.team", lang="en"), "London")
    tab.keyboard.press("Escape")
    tab.wait_for_url(re.compile(r"team=London"), timeout=IDLE_TIMEOUT * 1000)
    wait_idle(tab)
    london = metric_text(tab, label)
    for _ in range(IDLE_TIMEOUT * 4):   # the rerun may still be drawing the new numbers
        if london != everyone:
            break
        tab.wait_for_timeout(250)
        london = metric_text(tab, label)
    assert london != everyone, (everyone, london)
    # the filter follows to the next page
    go(tab, "leaderboard", "nav.leaderboard", "en")
    board = grid_with(tab, t("leaderboard.col_change", lang="en"))
    teams = {team for team in ("Beijing", "Istanbul", "London", "Shanghai", "Shenzhen") if team in board}
    assert teams == {"London"}, teams
    assert not tab.errors and not tab.dialogs, (tab.errors, tab.dialogs)


def test_clicking_a_funnel_stage_lists_its_stalled_deals(dash_server, tab):
    open_page(tab, dash_server.url + "/funnel?lang=en")
    no_exception(tab)
    column = t("funnel.col_days_in_stage", lang="en")

    def stalled_grid() -> str:
        return grid_with(tab, column)

    assert len({s for s in STAGES if s in stalled_grid()}) >= 2, "the table starts with every stage"
    chart = tab.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    bar = chart.locator(".trace.bars .point path").nth(STAGES.index("Proposal"))
    box = bar.bounding_box()
    assert box and box["width"] > 5, box
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    tab.mouse.move(x, y)          # Plotly picks the point under the pointer on hover, then the click selects it
    tab.wait_for_timeout(300)
    tab.mouse.click(x, y)
    stage_box = tab.get_by_role("combobox", name=t("funnel.stage_filter", lang="en"), exact=True)
    for _ in range(IDLE_TIMEOUT * 4):
        if stage_box.input_value() == "Proposal":
            break
        tab.wait_for_timeout(250)
    assert stage_box.input_value() == "Proposal", "the click on the Proposal bar did not pick the stage"
    wait_idle(tab)
    shown = stalled_grid()
    assert "Proposal" in shown and not [s for s in STAGES if s != "Proposal" and s in shown], shown[:600]
    caption = main_text(tab)
    assert re.search(r"\d[\d,]* deals · ¥", caption)
    shoot(tab, "funnel_drilldown", "en")
    assert not tab.errors and not tab.dialogs, (tab.errors, tab.dialogs)

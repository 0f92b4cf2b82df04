"""The real thing: `streamlit run app.py` on a free port, driven by headless Debian Chromium.

Screenshots go to tests/artifacts/ (git-ignored) for a human to look at.
"""
from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from tests.browser_helpers import (  # noqa: F401  (browser, page: fixtures)
    ARTIFACTS, IDLE_TIMEOUT, VIEWPORT, Server, browser, grid_texts,
    main_text, needs_chromium, no_exception, open_page, page, screenshot, started, wait_idle,
)
from ui.i18n import t

HEADER = "Opportunity ID,Opportunity Name,Account Name,Opportunity Owner,Stage,Amount,Close Date,Created Date\n"


def deals_csv(prefix: str) -> str:
    """Five deals, the last with a close date that is not a date."""
    return HEADER + (
        f"{prefix}1,Alpha renewal,Acme Corp,Jane Doe,Prospecting,1000,2024-06-30,2024-01-05\n"
        f"{prefix}2,Beta expansion,Beta GmbH,John Roe,Closed Won,2500.50,2024-05-15,2024-02-01\n"
        f"{prefix}3,Gamma pilot,Gamma Ltd,Jane Doe,Closed Lost,800,2024-04-01,2024-01-20\n"
        f"{prefix}4,Delta new,Delta Inc,Ann Lee,Negotiation,12000,2024-07-31,2024-03-03\n"
        f"{prefix}5,Epsilon deal,Epsilon SA,Ann Lee,Proposal,3000,not a date,2024-03-10\n"
    )


@pytest.fixture(scope="session")
def server(tmp_path_factory, browser):
    """The app on a fresh database. Its first session opens "/" (the demo company is generated
    there), so the tests below do not depend on the order they run in; what a first request to
    another URL does is the subject of test_first_request_to_a_page_url_gets_the_frame."""
    srv = Server(tmp_path_factory.mktemp("browser_server"))
    try:
        started(browser, srv)
        yield srv
    finally:
        srv.stop()


# ---------------------------------------------------------------------------------- helpers


def metric_values(page, label: str) -> list[int]:
    """The values of the metrics whose label is exactly `label`."""
    values = []
    metrics = page.locator('[data-testid="stMetric"]')
    for i in range(metrics.count()):
        m = metrics.nth(i)
        if m.locator('[data-testid="stMetricLabel"]').inner_text().strip() == label:
            values.append(int(re.sub(r"\D", "", m.locator('[data-testid="stMetricValue"]').inner_text()) or -1))
    return values


def history_grid(page, lang: str) -> str:
    """The text of the import history table (the grid with the batch, file and status columns)."""
    cols = [t(k, lang=lang) for k in ("data.col_batch", "data.col_file", "data.col_status", "data.col_inserted")]
    return next((g for g in grid_texts(page) if all(c in g for c in cols)), "")


def selectbox_text(box) -> str:
    """What a selectbox shows: its label and the chosen option (which may sit in an input's value)."""
    return box.evaluate("""el => el.innerText + ' ' + Array.from(el.querySelectorAll('input'))
        .map(i => i.value + ' ' + (i.getAttribute('aria-label') || '')).join(' ')""")


def upload(page, path: Path, lang: str) -> None:
    page.set_input_files('[data-testid="stFileUploader"] input[type=file]', str(path))
    page.get_by_text(t("data.mapping", lang=lang), exact=True).wait_for(timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)


def import_button(page, lang: str):
    label = t("data.import_btn", lang=lang)
    buttons = page.locator('[data-testid="stBaseButton-primary"]').filter(has_text=label)
    assert buttons.count() == 1, f"one primary {label!r} button expected, found {buttons.count()}"
    return buttons.first


# ------------------------------------------------------------------------------------ tests


@needs_chromium
@pytest.mark.browser
def test_server_answers_health(server):
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as resp:
        assert resp.read().decode().strip() == "ok"


@needs_chromium
@pytest.mark.browser
def test_overview_en(server, page):
    open_page(page, server.url + "/")
    no_exception(page)
    assert page.locator("h1").filter(has_text=t("overview.title", lang="en")).count() >= 1
    banner = page.locator('[data-testid="stAlert"]').filter(has_text=t("app.demo_banner", lang="en"))
    assert banner.count() == 1 and banner.first.is_visible()
    assert page.get_by_text(t("app.demo_badge", lang="en"), exact=True).first.is_visible()
    deals = metric_values(page, t("tables.deals", lang="en"))
    assert deals and all(n > 0 for n in deals), deals
    for key in ("overview.open", "overview.won", "overview.lost"):
        assert metric_values(page, t(key, lang="en"))[0] > 0, key
    clear = page.get_by_role("button", name=re.compile(re.escape(t("app.clear_demo", lang="en"))))
    clear.wait_for(state="visible", timeout=30_000)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert t("nav.overview", lang="en") in sidebar and t("nav.data", lang="en") in sidebar
    assert t("app.tagline", lang="en") in sidebar
    assert "?lang=en" in page.url or "lang=en" in page.url
    screenshot(page, "overview_en.png")
    assert not page.errors, page.errors


@needs_chromium
@pytest.mark.browser
def test_overview_zh(server, page):
    open_page(page, server.url + "/?lang=zh")
    no_exception(page)
    # the demo banner's button sits in a column beside the banner; on a loaded machine the browser may
    # draw it a moment after the run is reported finished
    page.get_by_role("button", name=t("app.clear_demo", lang="zh")).wait_for(state="visible", timeout=30_000)
    main = main_text(page)
    assert "概览" == t("overview.title", lang="zh") and "演示数据" == t("app.demo_badge", lang="zh")
    assert page.locator("h1").filter(has_text="概览").first.is_visible()
    assert page.get_by_text("演示数据", exact=True).first.is_visible()
    assert t("app.demo_banner", lang="zh") in main
    for key in ("overview.loaded", "overview.deals_by_status", "app.clear_demo"):
        assert t(key, lang="zh") in main, key
    assert metric_values(page, t("tables.deals", lang="zh"))[0] > 0
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert t("nav.data", lang="zh") in sidebar and t("app.language", lang="zh") in sidebar
    # no English headline left on the Chinese page
    for key in ("overview.title", "overview.loaded", "app.clear_demo", "app.demo_badge"):
        assert t(key, lang="en") not in main.replace("Salescope", ""), key
    screenshot(page, "overview_zh.png")


@needs_chromium
@pytest.mark.browser
@pytest.mark.parametrize("lang,file_name,prefix", [("en", "deals.csv", "006EN"), ("zh", "商机导出.csv", "006ZH")])
def test_data_upload_and_import(server, page, tmp_path, lang, file_name, prefix):
    path = tmp_path / file_name
    path.write_text(deals_csv(prefix), encoding="utf-8")
    open_page(page, f"{server.url}/data?lang={lang}")
    no_exception(page)
    assert page.locator("h1").filter(has_text=t("data.title", lang=lang)).first.is_visible()

    upload(page, path, lang)
    no_exception(page)
    main = main_text(page)
    assert file_name in main
    assert t("data.mapping", lang=lang) in main and t("data.preview", lang=lang) in main
    grids = grid_texts(page)
    mapping = next((g for g in grids if "Opportunity Owner" in g), "")
    assert mapping, f"no mapping table among {len(grids)} grids"
    for header, field in (("Opportunity ID", "deal_id"), ("Opportunity Owner", "owner"), ("Stage", "stage")):
        assert header in mapping and field in mapping
    preview = next((g for g in grids if t("columns.owner_rep_id", lang=lang) in g and t("data.col_source", lang=lang) not in g), "")
    assert f"{prefix}1" in preview and "Acme Corp" in preview, preview[:500]

    import_button(page, lang).click()
    page.locator('[data-testid="stAlertContentSuccess"]').first.wait_for(timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)
    no_exception(page)
    success = page.locator('[data-testid="stAlertContentSuccess"]').first.inner_text()
    expected = t("data.result_line", lang=lang, read=5, inserted=4, updated=0, unchanged=0, rejected=1, skipped=0)
    assert expected in success, success
    if lang == "en":
        assert "4 new" in success and "1 rejected" in success
    # the import history lists the file
    assert file_name in history_grid(page, lang), history_grid(page, lang)[:800]
    screenshot(page, f"data_{lang}.png")

    # a new visit: the batch picker starts at the newest batch (this file) and lists its rejected row
    open_page(page, f"{server.url}/data?lang={lang}")
    no_exception(page)
    assert file_name in history_grid(page, lang)
    assert file_name in selectbox_text(page.locator('[data-testid="stSelectbox"]').last)
    assert t("data.rejects", lang=lang) in main_text(page)
    reason = t("problem.bad_date", lang=lang, value="not a date")
    assert any(reason in g for g in grid_texts(page)), (reason, grid_texts(page))
    assert not page.dialogs


HOSTILE = "<img src=x onerror=alert(1)>"


@needs_chromium
@pytest.mark.browser
def test_hostile_text_is_shown_as_text(server, page, tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(
        HEADER
        + f'006XS1,Hostile deal,{HOSTILE},{HOSTILE},Prospecting,100,2024-06-30,2024-01-05\n'
        + '006XS2,"<script>alert(2)</script>",Acme Corp,"<b onmouseover=alert(3)>Eve</b>",Proposal,200,2024-07-30,2024-02-05\n',
        encoding="utf-8",
    )
    open_page(page, f"{server.url}/data?lang=en")
    upload(page, path, "en")
    no_exception(page)
    preview = next((g for g in grid_texts(page) if t("columns.owner_rep_id", lang="en") in g and t("data.col_source", lang="en") not in g), "")
    assert HOSTILE in preview, preview[:800]
    assert "<script>alert(2)</script>" in preview
    assert page.locator('img[src="x"]').count() == 0, "the file's markup became an element"
    assert page.locator("script:text('alert(2)')").count() == 0
    screenshot(page, "hostile_data.png")
    import_button(page, "en").click()
    page.locator('[data-testid="stAlertContentSuccess"]').first.wait_for(timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)
    open_page(page, f"{server.url}/?lang=en")
    page.wait_for_timeout(1000)
    assert page.locator('img[src="x"]').count() == 0
    assert not page.dialogs, page.dialogs


@needs_chromium
@pytest.mark.browser
def test_first_request_to_a_page_url_gets_the_frame(tmp_path, browser):
    """A bookmark to /data opened right after the server starts must show the whole app (language
    switch, demo banner, wide layout), as any later visit does."""
    srv = Server(tmp_path)
    try:
        assert srv.wait_healthy() == "ok"
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        try:
            pg = context.new_page()
            open_page(pg, f"{srv.url}/data")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screenshot(pg, "first_request_data.png")
            sidebar = pg.locator('[data-testid="stSidebar"]').inner_text()
            assert t("app.language", lang="en") in sidebar, (
                "first run of the process went to pages/data.py alone (Streamlit's legacy pages/ mode): "
                f"sidebar shows {sidebar!r}")
            assert t("app.demo_banner", lang="en") in main_text(pg)
        finally:
            context.close()
    finally:
        srv.stop()

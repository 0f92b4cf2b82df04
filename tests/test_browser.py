"""The real thing: `streamlit run app.py` on a free port, driven by headless Debian Chromium.

Screenshots go to tests/artifacts/ (git-ignored) for a human to look at.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ui.i18n import t

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1920, "height": 1080}
START_TIMEOUT = 90
IDLE_TIMEOUT = 120

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} not found: the browser tests drive Debian's chromium (apt-get install chromium)",
)

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


# --------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `streamlit run app.py` process on its own port and database file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "streamlit.log"
        env = dict(os.environ, SALESCOPE_DB=str(folder / "salescope.duckdb"), PYTHONUNBUFFERED="1")
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py",
             "--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false",
             # files edited while the tests run must not put a "File change" notice on the screenshots
             "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._log_fh, stderr=subprocess.STDOUT,
        )

    def wait_healthy(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        body = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"streamlit exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    body = resp.read().decode().strip()
                    if body == "ok":
                        return body
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"no health answer within {START_TIMEOUT}s (last {body!r}):\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_fh.close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: the browser tests need Debian's chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, browser):
    """The app on a fresh database. Its first session opens "/" (the demo company is generated
    there), so the tests below do not depend on the order they run in; what a first request to
    another URL does is the subject of test_first_request_to_a_page_url_gets_the_frame."""
    srv = Server(tmp_path_factory.mktemp("browser_server"))
    try:
        assert srv.wait_healthy() == "ok"
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        try:
            open_page(context.new_page(), srv.url + "/")
        finally:
            context.close()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def page(browser):
    """A fresh browser session (own cookies, own Streamlit session) in English, with a dialog trap."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    pg = context.new_page()
    pg.dialogs = []  # every alert/confirm/prompt that fired: must stay empty
    pg.on("dialog", lambda d: (pg.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    pg.console_errors = []
    pg.on("pageerror", lambda exc: pg.console_errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()


# ---------------------------------------------------------------------------------- helpers

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && !document.querySelector('[data-testid="stSpinner"]')
      && !document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]');
}"""


def wait_idle(page, timeout: float = IDLE_TIMEOUT, settle: int = 4) -> None:
    """Wait until the script is not running and no spinner shows, `settle` polls in a row (a rerun
    that an upload or a click triggers may start a moment after the action)."""
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if page.evaluate(IDLE_JS) else 0
        if streak >= settle:
            return
        page.wait_for_timeout(250)
    state = page.evaluate("""() => { const a = document.querySelector('[data-testid="stApp"]');
        return a && [a.getAttribute('data-test-script-state'), a.getAttribute('data-test-connection-state')]; }""")
    raise AssertionError(f"app not idle after {timeout}s (script/connection state: {state})")


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]', timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)


def screenshot(page, name: str) -> Path:
    """The whole app, not only the first screen: Streamlit scrolls inside its own container, so the
    window is made as tall as the content for the shot."""
    height = page.evaluate("""() => {
        for (const el of document.querySelectorAll('*')) { if (el.scrollTop > 0) el.scrollTop = 0; }
        window.scrollTo(0, 0);
        const c = document.querySelector('[data-testid="stMainBlockContainer"]')
               || document.querySelector('[data-testid="stMain"]');
        return c ? Math.ceil(c.getBoundingClientRect().top + c.scrollHeight) + 40 : 1080; }""")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(int(height), 12000))})
    page.wait_for_timeout(600)  # data grids redraw their canvas after a resize
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000
    return path


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, main_text(page)[:2000]
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, main_text(page)[:2000]


def metric_values(page, label: str) -> list[int]:
    """The values of the metrics whose label is exactly `label`."""
    values = []
    metrics = page.locator('[data-testid="stMetric"]')
    for i in range(metrics.count()):
        m = metrics.nth(i)
        if m.locator('[data-testid="stMetricLabel"]').inner_text().strip() == label:
            values.append(int(re.sub(r"\D", "", m.locator('[data-testid="stMetricValue"]').inner_text()) or -1))
    return values


def grid_texts(page) -> list[str]:
    """The cell text of every data grid (st.dataframe / st.data_editor draw on a canvas; the grid
    keeps an accessible table with the same cells)."""
    grids = page.locator('[data-testid="stDataFrame"]')
    return [grids.nth(i).locator("table").first.inner_text() for i in range(grids.count())]


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
    assert page.get_by_role("button", name=re.compile(re.escape(t("app.clear_demo", lang="en")))).is_visible()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert t("nav.overview", lang="en") in sidebar and t("nav.data", lang="en") in sidebar
    assert t("app.tagline", lang="en") in sidebar
    assert "?lang=en" in page.url or "lang=en" in page.url
    screenshot(page, "overview_en.png")
    assert not page.console_errors, page.console_errors


@needs_chromium
@pytest.mark.browser
def test_overview_zh(server, page):
    open_page(page, server.url + "/?lang=zh")
    no_exception(page)
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

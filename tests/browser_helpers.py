"""What every real-browser test file shares: `streamlit run app.py` on a free port and its own database,
headless Debian Chromium through Playwright's sync API, and waiting for the app to be idle.

Each browser file runs in its own pytest process (tests/run_all.sh): the sync API allows one driver
per process. Screenshots go to tests/artifacts/ (git-ignored) for a human to look at.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

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


# --------------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `streamlit run <script>` process (app.py unless told) on its own port and database file."""

    def __init__(self, folder: Path, script: str = "app.py", db: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "streamlit.log"
        env = dict(os.environ, SALESCOPE_DB=str(db or folder / "salescope.duckdb"), PYTHONUNBUFFERED="1",
                   **(env or {}))
        self._log_fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script,
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


def started(browser, srv: Server, first_url: str = "/") -> Server:
    """Wait for the server's health answer, then open `first_url` once in a throw-away session (the
    first session on an empty database generates the demo company)."""
    assert srv.wait_healthy() == "ok"
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    try:
        open_page(context.new_page(), srv.url + first_url)
    finally:
        context.close()
    return srv


# ------------------------------------------------------------------------------- the browser
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


@pytest.fixture
def page(browser):
    """A fresh browser session (own cookies, own Streamlit session) in English that records every
    alert/confirm/prompt (`dialogs`, must stay empty) and every uncaught page error (`errors`)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=VIEWPORT, locale="en-US")
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    try:
        yield pg
    finally:
        context.close()


# ---------------------------------------------------------------------------------- waiting
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


# ---------------------------------------------------------------------------------- reading
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
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)
    assert path.stat().st_size > 10_000
    return path


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def page_text(page) -> str:
    """All text of the page: the DOM's text plus the charts' SVG text."""
    return page.evaluate("""() => document.body.innerText + '\\n' + Array.from(document.querySelectorAll('svg'))
        .map(s => s.textContent).join('\\n')""")


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, main_text(page)[:2000]
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0, main_text(page)[:2000]


def grid_texts(page) -> list[str]:
    """The cell text of every data grid (st.dataframe / st.data_editor draw on a canvas; the grid
    keeps an accessible table with the same cells)."""
    grids = page.locator('[data-testid="stDataFrame"]')
    return [grids.nth(i).locator("table").first.inner_text() for i in range(grids.count())]

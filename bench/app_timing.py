"""Page-level timings: a cached re-run through Streamlit's AppTest and a cold start in a real browser.

page_rerun_cached: `AppTest.from_file("app.py")` on the bench database (SALESCOPE_DB): run, switch
the period filter to another preset, switch it back and time that last run; every view it shows is
then served from `st.cache_data`, so the time is Streamlit's script run plus the page's own work
around the cached view (formatting, figures, widgets). page_rerun_trivial: the same AppTest re-run of
a one-line app.

start_app: `streamlit run app.py --server.headless true` on a free 127.0.0.1 port with the bench
database, timed from the process start until /_stcore/health answers "ok" and a real Chromium
(/usr/bin/chromium through Playwright) shows the first page with the script finished
(`[data-testid=stApp][data-test-script-state=notRunning]`, connected, no spinner). The server's peak
RSS (VmHWM) is read after the first page and again after a tour of every page. start_trivial: the
same for a one-line app that imports the same libraries.
"""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlparse
from pathlib import Path
from typing import Any

from bench import dbs, measure
from bench.generate import cache_dir

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# the libraries app.py loads before its first page: pandas too, which app.py imports up front (plotly would
# import it lazily inside the first figure, racing parallel first runs: tests/test_concurrency.py BUG-7)
TRIVIAL = '''import duckdb, numpy, pandas, plotly.graph_objects, polars, pyarrow, streamlit as st
st.write("Salescope benchmark: a one-line app importing the same libraries")
'''
PAGES = ("funnel", "leaderboard", "customers", "forecast", "data", "history", "meeting")   # the tour after the first page
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && !document.querySelector('[data-testid="stSpinner"]')
      && !document.querySelector('[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]')
      && !!document.querySelector('[data-testid="stMain"] [data-testid="stElementContainer"]');
}"""


def trivial_app() -> Path:
    folder = cache_dir("trivial_app")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "app.py"
    if not path.exists() or path.read_text() != TRIVIAL:
        path.write_text(TRIVIAL)
    return path


# ---------------------------------------------------------------------------------------------- AppTest
def _browser_like_navigation() -> None:
    """AppTest resets `PagesManager.uses_pages_directory` before every run and the pages/ folder
    beside app.py turns it on again, so every run would end in require_frame's extra st.rerun().
    The real server switches that legacy mode off once for good; do the same (as tests/test_app.py)."""
    from streamlit.runtime import pages_manager

    cls = pages_manager.PagesManager
    original = cls.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        cls.uses_pages_directory = False

    cls.__init__ = init


def _check(at: Any, what: str) -> None:
    if at.exception:
        raise RuntimeError(f"{what}: the app raised: {at.exception[0].value}")


def run_page_rerun(op: str, scale: str, runs: int, app: str, timeout: float = 1800, **_: Any) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    _browser_like_navigation()
    if app == "trivial":
        at = AppTest.from_file(str(trivial_app()), default_timeout=timeout)
        at.run()
        _check(at, "trivial app")
        t = measure.timed(lambda: at.run(), runs, warmup=1)
        return {"op": op, "salescope_s": t.median, "floor_s": None, "pandas_s": None, "peak_rss_mb": t.peak,
                "runs": runs, "times": t.times, "first_s": t.first}
    os.environ["SALESCOPE_DB"] = str(dbs.build(scale, "full"))
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    _check(at, "first run")
    box = at.selectbox(key="f_period")
    original = box.value
    other = "all_time" if original != "all_time" else "this_quarter"
    switch: list[float] = []

    def toggle() -> None:
        t1 = time.perf_counter()
        at.selectbox(key="f_period").set_value(other).run()
        switch.append(time.perf_counter() - t1)
        _check(at, f"period {other}")
        at.selectbox(key="f_period").set_value(original)

    # the timed part is the run with the filter set back: every view on the page is cached by then
    t = measure.timed(lambda _: at.run(), runs, warmup=1, setup=toggle)
    _check(at, f"period {original}")
    return {"op": op, "salescope_s": t.median, "floor_s": None, "pandas_s": None, "peak_rss_mb": t.peak,
            "runs": runs, "times": t.times, "first_page_run_s": first, "first_switch_s": switch[0],
            "later_switch_s": statistics.median(switch[1:]) if len(switch) > 1 else None,
            "filter": f"period {original} -> {other} -> {original}", "page": "overview (default page)"}


# ---------------------------------------------------------------------------------------------- browser
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.read().decode().strip() == "ok"
    except OSError:
        return False


def _wait_idle(page: Any, deadline: float, settle: int = 3) -> float:
    """Wait until the app is idle `settle` polls in a row; returns the time the streak began."""
    streak, began = 0, 0.0
    while time.monotonic() < deadline:
        if page.evaluate(IDLE_JS):
            if streak == 0:
                began = time.perf_counter()
            streak += 1
            if streak >= settle:
                return began
        else:
            streak = 0
        page.wait_for_timeout(50)
    raise TimeoutError("the app did not become idle")


def _wait_started(page: Any, limit: float = 2.0) -> None:
    """After a click, wait (briefly) until the script run it triggers has started."""
    end = time.monotonic() + limit
    while time.monotonic() < end and page.evaluate(IDLE_JS):
        page.wait_for_timeout(25)


def _no_exception(page: Any, what: str) -> None:
    if page.locator('[data-testid="stException"]').count():
        text = page.locator('[data-testid="stException"]').first.inner_text()[:600]
        raise RuntimeError(f"{what}: the page shows an exception: {text}")


def _one_start(browser: Any, script: Path, db: Path | None, timeout: float, tour: bool) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if db is not None:
        env["SALESCOPE_DB"] = str(db)
    log = cache_dir("trivial_app").parent / f"streamlit-{port}.log"
    with log.open("wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=script.parent, env=env, stdout=fh, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + timeout
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.05)
            health = time.perf_counter() - t0
            context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="en-US")
            page = context.new_page()
            page.goto(url + "/", timeout=timeout * 1000)
            page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]',
                                   timeout=timeout * 1000)
            first = _wait_idle(page, deadline) - t0
            _no_exception(page, "first page")
            peak_first = measure.peak_mb(proc.pid)
            out = {"first_page_s": first, "health_s": health, "server_peak_mb": peak_first}
            if tour:   # click through the sidebar like a user: same session, views computed on first visit
                t1 = time.perf_counter()
                out["page_peaks_mb"] = {}
                for name in PAGES:
                    before = measure.peak_mb(proc.pid)
                    reset = measure.reset_peak(proc.pid)   # the page's own peak, not the tour's so far
                    page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').first.click()
                    page.wait_for_url(lambda u, n=name: urlparse(u).path.rstrip("/").endswith("/" + n),
                                      timeout=timeout * 1000, wait_until="commit")
                    _wait_started(page)
                    _wait_idle(page, time.monotonic() + timeout, settle=4)
                    _no_exception(page, f"page {name}")
                    out["page_peaks_mb"][name] = measure.peak_mb(proc.pid) if reset else None
                    out["tour_peak_so_far_mb"] = max(out.get("tour_peak_so_far_mb", 0.0), before,
                                                     measure.peak_mb(proc.pid))
                out["tour_s"] = time.perf_counter() - t1
                out["tour_peak_mb"] = max(out.pop("tour_peak_so_far_mb"), measure.peak_mb(proc.pid))
            context.close()
            return out
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.unlink(missing_ok=True)


def run_start(op: str, scale: str, runs: int, app: str, timeout: float = 1800, **_: Any) -> dict[str, Any]:
    if not CHROMIUM.exists():
        return {"op": op, "salescope_s": None, "floor_s": None, "pandas_s": None, "peak_rss_mb": None,
                "skipped": f"{CHROMIUM} not found"}
    from playwright.sync_api import sync_playwright

    script, db = (trivial_app(), None) if app == "trivial" else (APP, dbs.build(scale, "full"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            starts = [_one_start(browser, script, db, timeout, tour=(app != "trivial" and i == runs - 1))
                      for i in range(runs)]
        finally:
            browser.close()
    firsts = [s["first_page_s"] for s in starts]
    out = {"op": op, "salescope_s": statistics.median(firsts), "floor_s": None, "pandas_s": None,
           "peak_rss_mb": max(s["server_peak_mb"] for s in starts), "runs": runs, "times": firsts,
           "health_s": statistics.median(s["health_s"] for s in starts)}
    if "tour_s" in starts[-1]:
        out["tour_s"] = starts[-1]["tour_s"]
        out["tour_peak_rss_mb"] = starts[-1]["tour_peak_mb"]
        out["tour_pages"] = list(PAGES)
        out["tour_page_peaks_mb"] = starts[-1]["page_peaks_mb"]
    return out

"""Concurrent users: one app server, 22 sessions reading pages while a 500,000-row import runs.

Choice of readers (what truly exercises concurrency on a 2-core machine): the real server, one
`streamlit run app.py` process with its own database file and the committed .streamlit/config.toml.
The import runs inside it (one DuckDB writer per file): a user (a Playwright browser context)
uploads a 500,000-row deals CSV on the Data page and clicks Import. Meanwhile 22 sessions switch
between Overview and Data: 20 speak Streamlit's own websocket protocol (`Wire`: the BackMsg /
ForwardMsg protobufs the browser's JavaScript exchanges; for the server each is a browser tab with its
own session, script thread and store cursor, but the test machine does not have to render 20 React
apps) and 2 are real Chromium tabs (what is on the screen). AppTest instances were not used: they
share the test process's Store but bypass the server, its sessions and its threads.

Checked: no exception or error on any reader's page, no lock error in the server log, every deal count
a reader sees is the one before the import, after it, or after both imports (never in between), and
after the imports every session sees the final count. A second user starts a second import while the
first runs: it says it is queued (`data.queued`) and completes afterwards (both batches 'done' in the
file). Then a second app process on the same file shows `problem.db_locked` (en, zh), not a traceback.
Figures go to tests/artifacts/concurrency_summary.json.

Bugs this test found, now fixed, each with a deterministic in-process test below: BUG-1 (checkpoint
after commit), BUG-2 ('running' status label), BUG-9 (cache version); the browser test no longer
excuses them. BUG-7 (a lazy-import race on the first parallel page runs after a start; app.py now
imports pandas before any page) has no deterministic form: if it still strikes, it is recognised in
the server log and ends the browser test as xfail after every other check held.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import polars as pl
import pytest

from data.ingest.pipeline import import_file
from data.store import Store
from tests.test_crash import make_deals
from ui.i18n import LANGUAGES, catalog, t

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
VIEWPORT = {"width": 1280, "height": 900}
WIRE_READERS = 20         # sessions over the websocket protocol (no rendering cost on this 2-core machine)
BROWSER_READERS = 2       # and real browser tabs, for what is on the screen
THINK_S = (1.0, 3.0)      # a reader looks at a page this long before the next click
BIG_ROWS = 500_000
SECOND_ROWS = 20_000
EARLIER_ROWS = 5_000
START_TIMEOUT = 90
STEP_TIMEOUT = 180          # one page switch or import, under the whole load

needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found (apt-get install chromium)")

RAW_STATUS_KEY = re.compile(rb"data\.status_(?:running|done|failed|undone)")
LOCK_ERROR = re.compile(r"(?i)could not set lock|conflicting lock|database is locked|lock timeout|deadlock")
CHECKPOINT_BUG = ("BUG-1 data/store.py:525 Store.apply_import (also undo :705, clear_demo :745, clear_all :764): the CHECKPOINT after COMMIT raises duckdb "
                  "TransactionException ('Cannot CHECKPOINT: there are other write transactions active') whenever "
                  "another session's query is running; the batch is committed and 'done', but import_file raises "
                  "a non-ImportProblem exception, so the Data page shows an uncaught error for a successful import")

PANDAS_RACE_BUG = ("BUG-7 first page runs after a server start, in parallel: plotly's lazy `import pandas` "
                   "(_plotly_utils.optional_imports, reached from ui/charts/quality.py go.Bar via pages/data.py "
                   "quality_section) hands a second session the half-imported module: AttributeError \"partially "
                   "initialized module 'pandas' has no attribute 'Series'\" shown as an app error; import pandas "
                   "once at start-up (app.py) before any session runs")
VERSION_BUG = ("BUG-9 data/store.py:269-275 Store.version() is max(batch_id), count(undone), count(*) of imports: "
               "apply_import logs the batch as 'running' (committed) before writing its rows, so the version no longer "
               "changes when the rows commit; a cache entry (ui/cache.py, keyed by version) computed while the rows "
               "were being written stays valid afterwards and every session keeps seeing the numbers from before the "
               "import (seen in the browser run: a page opened after both imports showed 505,000 deals, not 525,000). "
               "Make the version change with the status (e.g. count(*) FILTER (status = 'done'))")
KNOWN_UNCAUGHT = {"partially initialized module 'pandas'": PANDAS_RACE_BUG}   # BUG-1 is fixed: no longer excused


def uncaught_errors(log: str) -> list[str]:
    """The last line (the exception) of every uncaught script error the server logged."""
    blocks = log.split("Uncaught app execution")[1:]
    out = []
    for block in blocks:
        lines = [line for line in block.splitlines() if line.strip()]
        last = next((line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)), lines[-1] if lines else "")
        out.append(last.strip())
    return out


# ----------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamlit run app.py` on its own port and the given database file (settings from
    .streamlit/config.toml, as a user runs it)."""

    def __init__(self, db: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._fh = log.open("wb")
        env = dict(os.environ, SALESCOPE_DB=str(db), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(self.port), "--server.address", "127.0.0.1", "--server.fileWatcherType", "none"],
            cwd=ROOT, env=env, stdout=self._fh, stderr=subprocess.STDOUT)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"streamlit exited with {self.proc.returncode}:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as resp:
                    if resp.read().decode().strip() == "ok":
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"no health answer within {START_TIMEOUT}s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()


# ----------------------------------------------------------------------------------------- browser helpers

IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && app.getAttribute('data-test-connection-state') === 'CONNECTED'
      && !document.querySelector('[data-testid="stSpinner"]');
}"""

SCREEN_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const metrics = Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
      (m.querySelector('[data-testid="stMetricLabel"]') || {innerText: ''}).innerText.trim(),
      (m.querySelector('[data-testid="stMetricValue"]') || {innerText: ''}).innerText.trim()]);
  const grids = Array.from(document.querySelectorAll('[data-testid="stDataFrame"] table')).map(g => g.innerText);
  return {
    title: (document.querySelector('h1') || {innerText: ''}).innerText,
    exceptions: Array.from(document.querySelectorAll('[data-testid="stException"]')).map(e => e.innerText),
    errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]'))
              .filter(e => !e.closest('[data-testid="stException"]')).map(e => e.innerText),
    metrics: metrics, grids: grids, text: main ? main.innerText : ''
  };
}"""


async def wait_idle(page, timeout: float = STEP_TIMEOUT, settle: int = 3) -> None:
    deadline = time.monotonic() + timeout
    streak = 0
    while time.monotonic() < deadline:
        streak = streak + 1 if await page.evaluate(IDLE_JS) else 0
        if streak >= settle:
            return
        await page.wait_for_timeout(300)
    raise AssertionError(f"app not idle after {timeout}s")


async def open_page(page, url: str) -> None:
    await page.goto(url, timeout=STEP_TIMEOUT * 1000)
    await page.wait_for_selector('[data-testid="stApp"]', timeout=STEP_TIMEOUT * 1000)
    await wait_idle(page)


async def go(page, label: str, title: str) -> None:
    """Switch page through the sidebar navigation (a new script run in the same session) and wait
    until the new page is shown and idle."""
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=label).first
    await link.click(timeout=STEP_TIMEOUT * 1000)
    await page.locator("h1").filter(has_text=title).first.wait_for(timeout=STEP_TIMEOUT * 1000)
    await wait_idle(page)


# ----------------------------------------------------------------------------------------- the scenario


class Run:
    """Figures and findings of one concurrent run."""

    def __init__(self) -> None:
        self.reads: list[dict] = []
        self.problems: list[str] = []
        self.uploads: dict[str, dict] = {}
        self.timeline: dict[str, float] = {}
        self.reloads: list[str] = []


class Wire:
    """A Streamlit session over the app's own websocket protocol (what the browser's JavaScript
    speaks), without a browser: it asks for a page run and reads the elements the server sends.
    The server cannot tell it from a browser tab; it costs the test machine no rendering."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.pages: dict[str, str] = {}

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
                                           open_timeout=STEP_TIMEOUT)

    async def close(self) -> None:
        await self.ws.close()

    async def run(self, page: str) -> dict:
        """One script run of `page` ("" = the default page); returns what it showed."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = "lang=en"
        if page:
            state.page_script_hash = self.pages.get(page) or (self.pages.get("", "") if page == "overview" else "")
            state.page_name = page
        await self.ws.send(msg.SerializeToString())
        out: dict = {"metrics": [], "errors": [], "exceptions": [], "raw_keys": set(), "titles": []}
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(self.ws.recv(), STEP_TIMEOUT))
            kind = fm.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in fm.navigation.app_pages}
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                what = el.WhichOneof("type")
                if what == "metric":
                    out["metrics"].append((el.metric.label, el.metric.body))
                elif what == "alert" and el.alert.format == el.alert.ERROR:
                    out["errors"].append(el.alert.body)
                elif what == "exception":
                    out["exceptions"].append(f"{el.exception.type}: {el.exception.message}")
                elif what == "heading":
                    out["titles"].append(el.heading.body)
                out["raw_keys"] |= {k.decode() for k in RAW_STATUS_KEY.findall(el.SerializeToString())}
            elif kind == "script_finished" and fm.script_finished != fm.FINISHED_EARLY_FOR_RERUN:
                return out


def deal_counts_of(metrics: list[tuple[str, str]]) -> list[int]:
    label = t("tables.deals", lang="en")
    return [int(re.sub(r"\D", "", value) or -1) for name, value in metrics if name == label]


async def wire_reader(url: str, n: int, run: Run, finished: asyncio.Event) -> None:
    """One user switching between Overview and Data until the imports are over, then one round more."""
    rng = random.Random(n)
    session = Wire(url)
    try:
        await session.connect()
        await session.run("")
        rounds_after = 0
        while rounds_after < 1:
            ended_before = finished.is_set()
            for page in ("overview", "data"):
                started = time.monotonic()
                seen = await session.run(page)
                run.reads.append({"reader": f"wire{n}", "page": page, "at": started, "done": time.monotonic(),
                                  "after_finish": ended_before, "deals": deal_counts_of(seen["metrics"]),
                                  "title": seen["titles"][:1], "exceptions": seen["exceptions"],
                                  "errors": seen["errors"], "raw_keys": sorted(seen["raw_keys"])})
                await asyncio.sleep(rng.uniform(*THINK_S))          # a user reads, then clicks on
            rounds_after += ended_before
        await session.close()
    except Exception as exc:  # noqa: BLE001 - recorded and asserted on below
        run.problems.append(f"wire reader {n}: {type(exc).__name__}: {exc}"[:500])


async def browser_reader(browser, url: str, n: int, run: Run, finished: asyncio.Event) -> None:
    """A user in a real browser tab doing the same: what is on the screen."""
    ctx = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: run.problems.append(f"browser reader {n}: page error {exc}"))
    try:
        await open_page(page, f"{url}/?lang=en")
        rounds_after = 0
        while rounds_after < 1:
            ended_before = finished.is_set()
            for label, title, name in (("nav.overview", "overview.title", "overview"), ("nav.data", "data.title", "data")):
                started = time.monotonic()
                await go(page, t(label, lang="en"), t(title, lang="en"))
                screen = await page.evaluate(SCREEN_JS)
                text = "\n".join(screen["grids"]) + screen["text"]
                run.reads.append({"reader": f"browser{n}", "page": name, "at": started, "done": time.monotonic(),
                                  "after_finish": ended_before, "deals": deal_counts_of(screen["metrics"]),
                                  "title": [screen["title"]], "exceptions": screen["exceptions"],
                                  "errors": screen["errors"],
                                  "raw_keys": sorted({k.decode() for k in RAW_STATUS_KEY.findall(text.encode())})})
            rounds_after += ended_before
    except Exception as exc:  # noqa: BLE001
        run.problems.append(f"browser reader {n}: {type(exc).__name__}: {exc}"[:500])
    finally:
        await ctx.close()


async def uploader(browser, url: str, path: Path, run: Run):
    """A user on the Data page with `path` uploaded and previewed, ready to click Import."""
    ctx = await browser.new_context(viewport=VIEWPORT, locale="en-US")
    page = await ctx.new_page()
    for attempt in range(3):  # a page that fell over (see the uncaught errors) is reloaded, as a user would
        await open_page(page, f"{url}/data?lang=en")
        if not await page.locator('[data-testid="stException"]').count():
            break
        run.reloads.append(f"uploader of {path.name}: reloaded after an error on screen")
    await page.set_input_files('[data-testid="stFileUploader"] input[type=file]', str(path),
                               timeout=STEP_TIMEOUT * 1000)
    await page.get_by_text(t("data.mapping", lang="en"), exact=True).wait_for(timeout=STEP_TIMEOUT * 1000)
    await wait_idle(page)
    await import_button(page).wait_for(timeout=STEP_TIMEOUT * 1000)
    return ctx, page


def import_button(page):
    return page.locator('[data-testid="stBaseButton-primary"]').filter(has_text=t("data.import_btn", lang="en")).first


async def outcome(page, name: str) -> dict:
    """Wait for the import to end on this page: success, an error alert or an exception."""
    done = page.locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentError"], '
                        '[data-testid="stException"]')
    await done.first.wait_for(timeout=STEP_TIMEOUT * 1000)
    ended = time.monotonic()
    await wait_idle(page)
    screen = await page.evaluate(SCREEN_JS)
    success = await page.locator('[data-testid="stAlertContentSuccess"]').all_inner_texts()
    return {"file": name, "success": success, "errors": screen["errors"], "exceptions": screen["exceptions"],
            "ended": ended}


async def scenario(url: str, big: Path, second: Path, run: Run) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            run.timeline["start"] = time.monotonic()
            finished = asyncio.Event()
            # two users upload their files (and see the preview); then the readers arrive
            (ctx1, first), (ctx2, queued) = await asyncio.gather(uploader(browser, url, big, run),
                                                                 uploader(browser, url, second, run))
            run.timeline["uploaded"] = time.monotonic()
            readers = [asyncio.create_task(wire_reader(url, n, run, finished)) for n in range(WIRE_READERS)]
            readers += [asyncio.create_task(browser_reader(browser, url, n, run, finished))
                        for n in range(BROWSER_READERS)]
            # every reader has shown a page before the import starts
            deadline = time.monotonic() + STEP_TIMEOUT
            while len({r["reader"] for r in run.reads}) < WIRE_READERS + BROWSER_READERS and time.monotonic() < deadline:
                if all(task.done() for task in readers):
                    break
                await asyncio.sleep(0.25)
            run.timeline["readers_up"] = time.monotonic()
            await import_button(first).click()
            run.timeline["import_clicked"] = time.monotonic()
            # the first import is under way (its progress bar shows): start the second at once
            await first.locator('[data-testid="stProgress"]').first.wait_for(timeout=STEP_TIMEOUT * 1000)
            run.timeline["first_progress"] = time.monotonic()
            await import_button(queued).click()
            run.timeline["second_clicked"] = time.monotonic()
            # the second session's script draws its progress bar just before it asks for the import lock:
            # if the first import is still running then, the bar must say "queued"
            await queued.locator('[data-testid="stProgress"]').first.wait_for(timeout=STEP_TIMEOUT * 1000)
            run.timeline["second_progress"] = time.monotonic()
            first_ended = await first.locator('[data-testid="stAlertContentSuccess"], '
                                              '[data-testid="stAlertContentError"]').count() > 0
            run.uploads["overlap"] = {"first_running_when_second_started": not first_ended}
            try:
                await queued.locator('[data-testid="stProgress"]').filter(has_text=t("data.queued", lang="en")
                                                                          ).first.wait_for(timeout=60_000)
                run.uploads["queued_message_seen"] = {"after_s": round(time.monotonic() - run.timeline["second_clicked"], 1)}
            except Exception:  # noqa: BLE001 - asserted below
                pass
            run.uploads["first"] = await outcome(first, big.name)
            run.uploads["second"] = await outcome(queued, second.name)
            run.timeline["imports_done"] = max(run.uploads["first"]["ended"], run.uploads["second"]["ended"])
            finished.set()
            await asyncio.wait_for(asyncio.gather(*readers), timeout=STEP_TIMEOUT)
            run.timeline["readers_done"] = time.monotonic()
            await ctx1.close()
            await ctx2.close()
        finally:
            await browser.close()


def run_in_thread(coro_fn, *args) -> None:
    """Run an asyncio scenario in its own thread (pytest's thread may hold Playwright's sync API)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_fn(*args))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


# ----------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("concurrency")
    earlier = folder / "deals_earlier.csv"
    make_deals(EARLIER_ROWS, "E", 5).write_csv(earlier)
    big = folder / "deals_500k.csv"
    make_deals(BIG_ROWS, "C", 6).write_csv(big)
    second = folder / "deals_second.csv"
    make_deals(SECOND_ROWS, "S", 7).write_csv(second)
    db = folder / "salescope.duckdb"
    store = Store(db)
    import_file(store, earlier)          # an earlier real import: no demo company, a known count
    store.close()
    return {"folder": folder, "db": db, "big": big, "second": second}


# ----------------------------------------------------------------------------------------- tests


@needs_chromium
@pytest.mark.browser
@pytest.mark.slow
def test_twenty_readers_during_a_500k_import(files):
    server = Server(files["db"], files["folder"] / "server.log")
    run = Run()
    try:
        server.wait_healthy()
        run_in_thread(scenario, server.url, files["big"], files["second"], run)
        locked = second_process_on_the_same_file(files)
    finally:
        server.stop()
    log = server.log_text()

    before, after_first, after_both = EARLIER_ROWS, EARLIER_ROWS + BIG_ROWS, EARLIER_ROWS + BIG_ROWS + SECOND_ROWS
    readers_seen = {r["reader"] for r in run.reads}
    overview = [r for r in run.reads if r["page"] == "overview"]
    counts = [c for r in overview for c in r["deals"]]
    mixed = [r for r in overview if len(set(r["deals"])) > 1]
    during = [r for r in overview if r["at"] <= run.timeline["imports_done"] and r["done"] >= run.timeline["import_clicked"]]
    lock_lines = [line for line in log.splitlines() if LOCK_ERROR.search(line)]
    figures = {
        "sessions": len(readers_seen), "wire_sessions": sum(1 for r in readers_seen if r.startswith("wire")),
        "browser_sessions": sum(1 for r in readers_seen if r.startswith("browser")), "uploaders": 2,
        "rows_imported": BIG_ROWS + SECOND_ROWS, "page_view_seconds_median": round(statistics.median(
            [r["done"] - r["at"] for r in run.reads]), 2) if run.reads else None,
        "page_views": len(run.reads), "overview_views_during_imports": len(during),
        "sessions_reading_during_imports": len({r["reader"] for r in during}),
        "first_import_seconds": round(run.uploads["first"]["ended"] - run.timeline["import_clicked"], 1),
        "second_import_ended_after_first_s": round(run.uploads["second"]["ended"] - run.uploads["first"]["ended"], 1),
        "both_imports_seconds": round(run.timeline["imports_done"] - run.timeline["import_clicked"], 1),
        "total_seconds": round(run.timeline["readers_done"] - run.timeline["start"], 1),
        "counts_seen": {str(k): counts.count(k) for k in sorted(set(counts))},
        "reader_exceptions": sum(len(r["exceptions"]) for r in run.reads),
        "reader_errors": sum(len(r["errors"]) for r in run.reads),
        "pages_with_two_different_counts": len(mixed),
        "reader_error_samples": [{k: r[k] for k in ("reader", "page", "errors", "exceptions")}
                                 for r in run.reads if r["errors"] or r["exceptions"]][:5],
        "stale_after_imports": sum(1 for n in readers_seen
                                   for r in [next((x for x in reversed(overview) if x["reader"] == n and x["after_finish"]),
                                                  None)] if r and set(r["deals"]) != {after_both}),
        "raw_status_keys": sorted({k for r in run.reads for k in r["raw_keys"]}),
        "lock_errors_in_log": len(lock_lines),
        "checkpoint_errors_in_log": log.count("Cannot CHECKPOINT"),
        "tracebacks_in_log": log.count("Traceback"),
        "uploads": {k: {kk: vv for kk, vv in v.items() if kk != "ended"} for k, v in run.uploads.items()},
        "timeline_s": {k: round(v - run.timeline["start"], 1) for k, v in run.timeline.items()},
        "uncaught_errors_in_log": uncaught_errors(log),
        "problems": run.problems, "reloads": run.reloads, "second_process": locked,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "concurrency_summary.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False),
                                                        encoding="utf-8")
    print("\nconcurrency:", json.dumps({k: v for k, v in figures.items() if k not in ("uploads",)}, ensure_ascii=False))

    # every reader worked the whole time and never saw an error, an exception or a half-written import;
    # an uncaught error shows on screen as a generic message (showErrorDetails = "none"): the server
    # log says which it was, and only the reported timing bug (BUG-7) is let through (as xfail, at the end)
    assert not run.problems, run.problems
    assert len(readers_seen) == WIRE_READERS + BROWSER_READERS, sorted(readers_seen)
    uncaught = uncaught_errors(log)
    unknown = [e for e in uncaught if not any(sig in e for sig in KNOWN_UNCAUGHT)]
    assert not unknown, unknown
    on_screen = figures["reader_exceptions"] + sum(len(u["exceptions"]) for u in run.uploads.values()
                                                   if isinstance(u, dict) and "exceptions" in u)
    assert on_screen <= len(uncaught), (on_screen, uncaught)
    assert figures["reader_errors"] == 0, [r for r in run.reads if r["errors"]][:3]
    assert counts and set(counts) <= {before, after_first, after_both}, figures["counts_seen"]
    reading_during = {r["reader"] for r in during}
    assert len({r for r in reading_during if r.startswith("wire")}) == WIRE_READERS, sorted(reading_during)
    stale = []
    for n in readers_seen:
        last = [r for r in overview if r["reader"] == n and r["after_finish"]]
        assert last and last[-1]["deals"], (n, last[-1:])
        if set(last[-1]["deals"]) != {after_both}:
            stale.append((n, last[-1]["deals"]))
    assert not lock_lines, lock_lines[:5]
    # the second import said it was queued, and both imports completed (checked in the file itself)
    # (when the machine is so loaded that the second session reached its import only after the first had
    # ended there was nothing to wait for; the queue itself is also shown deterministically by
    # test_a_second_import_waits_its_turn_and_says_so)
    if run.uploads["overlap"]["first_running_when_second_started"]:
        assert "queued_message_seen" in run.uploads, "the second import never showed data.queued"
    assert run.uploads["second"]["ended"] >= run.uploads["first"]["ended"]
    store = Store(files["db"], read_only=True)
    try:
        log_rows = store.imports_frame().filter(pl.col("kind") == "deals").sort("batch_id")
        assert log_rows["status"].to_list() == ["done", "done", "done"], log_rows
        assert log_rows["inserted"].to_list() == [EARLIER_ROWS, BIG_ROWS, SECOND_ROWS]
        assert log_rows["file_name"].to_list()[1:] == [files["big"].name, files["second"].name]
        assert store.table_count("deals") == after_both
    finally:
        store.close()
    # a second app process on the same file says so in plain words, in the user's language
    assert locked["db_locked_message"] and not locked["exceptions"], locked
    # what the two uploaders saw: success (a checkpoint refused by a busy reader is deferred, BUG-1)
    for name, n in (("first", BIG_ROWS), ("second", SECOND_ROWS)):
        up = run.uploads[name]
        assert not up["exceptions"] and not up["errors"], up
        assert f"{n:,} new" in " ".join(up["success"]), up
    assert not stale, (VERSION_BUG + f" (here: {len(stale)} session(s) opened the overview after both imports and "
                                     f"saw {sorted({c for _, cs in stale for c in cs})} deals instead of {after_both})")
    struck = sorted({bug for sig, bug in KNOWN_UNCAUGHT.items() if any(sig in e for e in uncaught)})
    if struck:
        pytest.xfail(" / ".join(struck) + f" — {len(uncaught)} uncaught error(s) in this run; everything else held "
                     "(figures in tests/artifacts/concurrency_summary.json)")


def second_process_on_the_same_file(files: dict) -> dict:
    """Start another app process on the database the first one holds; its page must say the file is
    in use (problem.db_locked, in the user's language), with no exception on screen."""
    other = Server(files["db"], files["folder"] / "server_second.log")
    result: dict = {"db_locked_message": True, "exceptions": [], "errors": []}
    try:
        other.wait_healthy()

        async def look() -> None:
            from playwright.async_api import async_playwright

            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                try:
                    for lang in ("en", "zh"):
                        ctx = await browser.new_context(viewport=VIEWPORT)
                        page = await ctx.new_page()
                        await open_page(page, f"{other.url}/?lang={lang}")
                        screen = await page.evaluate(SCREEN_JS)
                        expected = t("problem.db_locked", lang=lang, path=str(files["db"].resolve()))
                        result["db_locked_message"] &= any(expected in e for e in screen["errors"])
                        result["exceptions"] += screen["exceptions"]
                        result["errors"] += screen["errors"]
                        await ctx.close()
                finally:
                    await browser.close()

        run_in_thread(look)
    finally:
        other.stop()
    return result


def test_import_commits_while_another_session_is_mid_query(tmp_path):
    """Deterministic form of what the browser run hits by chance: another session's query is running
    (a long aggregation) when an import commits. The import must succeed and say so."""
    store = Store(tmp_path / "mid.duckdb")
    path = tmp_path / "deals.csv"
    make_deals(1_000, "M", 8).write_csv(path)
    reader_cur = store.cursor()
    started = threading.Event()

    def long_query() -> None:
        started.set()
        try:
            reader_cur.execute("SELECT sum(hash(i)) FROM range(4000000000) t(i)").fetchall()
        except Exception:  # noqa: BLE001 - interrupted at the end of the test
            pass

    thread = threading.Thread(target=long_query)
    thread.start()
    started.wait()
    time.sleep(0.5)
    try:
        try:
            result = import_file(store, path)
        except Exception as exc:  # noqa: BLE001
            row = store.imports_frame().row(0, named=True)
            kept = store.table_count("deals")
            raise AssertionError(f"import raised {type(exc).__name__}: {exc} — yet batch {row['batch_id']} is "
                                 f"{row['status']!r} with {kept} deals stored ({CHECKPOINT_BUG})") from exc
        assert result.inserted == 1_000
        assert store.import_row(result.batch_id)["status"] == "done"
    finally:
        reader_cur.interrupt()
        thread.join(timeout=60)
        store.close()


STATUS_BUG = ("BUG-2 ui/locales/*.toml have data.status_done/failed/undone but no data.status_running: while an "
              "import runs, every other user's Data page shows the raw key 'data.status_running' in the import "
              "history and the batch picker (ui/importer.py history_table / batch_label)")


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_import_status_has_a_label(lang):
    """Every status the import log can hold ('running' while an import writes) has a label."""
    source = (ROOT / "data" / "store.py").read_text(encoding="utf-8")
    statuses = {"running", "done", "failed", "undone"}
    assert all(f"'{s}'" in source for s in statuses)
    missing = sorted(s for s in statuses if f"data.status_{s}" not in catalog(lang))
    assert not missing, f"{lang}: no label for status {missing} ({STATUS_BUG})"


def test_version_changes_when_an_import_commits(tmp_path, monkeypatch):
    """What a session computes while an import writes must not be served (from the cache) after it."""
    store = Store(tmp_path / "v.duckdb")
    first, path = tmp_path / "first.csv", tmp_path / "deals.csv"
    make_deals(300, "W", 9).write_csv(first)
    import_file(store, first)                       # the pipeline (stages) is known from now on
    make_deals(500, "V", 9).write_csv(path)
    seen: dict[str, object] = {}
    original = Store._apply

    def spy(self, cur, w, batch_id):
        other = self.cursor()                      # another session, while this batch writes
        seen["version"] = self.version(other)
        seen["deals"] = self.table_count("deals", other)
        return original(self, cur, w, batch_id)

    monkeypatch.setattr(Store, "_apply", spy)
    try:
        result = import_file(store, path)
        assert seen["deals"] == 300 and store.table_count("deals") == 800 and result.inserted == 500
        assert store.version() != seen["version"], (
            f"version {seen['version']} was computed while the rows were uncommitted (300 deals) and is still the "
            f"version with 800 deals: a cached page from then is served as current")
    finally:
        store.close()


def test_a_second_import_waits_its_turn_and_says_so(tmp_path, monkeypatch):
    """Deterministic form of the queue the browser run shows when its two imports overlap: while one
    import holds the process's import lock, another says 'queued', writes nothing, and completes once
    the lock is free (ui/cache.run_import, the function the Data page's Import button calls)."""
    import streamlit as st

    from ui import cache

    monkeypatch.setenv("SALESCOPE_DB", str(tmp_path / "queue.duckdb"))
    st.cache_resource.clear()
    st.cache_data.clear()
    try:
        store = cache.store()
        path = tmp_path / "deals_queued.csv"
        make_deals(400, "Q", 11).write_csv(path)
        prepared, problem = cache.prepare_upload(path.read_bytes(), path.name, None, {})
        assert problem is None, problem
        steps: list[str] = []
        outcome: list = []
        store.import_lock.acquire()                     # another session's import is running
        try:
            worker = threading.Thread(target=lambda: outcome.append(
                cache.run_import(prepared, None, None, lambda _fraction, step: steps.append(step))))
            worker.start()
            deadline = time.monotonic() + 30
            while not steps and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.3)                             # it waits: nothing parsed, nothing written
            assert steps == ["queued"] and worker.is_alive()
            assert store.table_count("deals") == 0
        finally:
            store.import_lock.release()
        worker.join(timeout=60)
        assert not worker.is_alive()
        result, problem = outcome[0]
        assert problem is None and result.inserted == 400
        assert steps == ["queued", "step_parse", "step_write"]
        assert store.table_count("deals") == 400
        assert store.imports_frame()["status"].to_list() == ["done"]
        assert store.import_lock.acquire(blocking=False)  # released after the import
        store.import_lock.release()
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


def test_two_uploads_are_read_once_each_across_runs(tmp_path, monkeypatch):
    """The Data page asks for each upload as prepared (kind as chosen, None when detected) and for its
    mapping table's base: both are one cache entry, so two files on screen (two users importing at
    once) stay cached across runs instead of each run re-reading a file (the upload cache holds 3)."""
    import streamlit as st

    import data.ingest.pipeline as pipeline
    from ui import importer

    monkeypatch.setenv("SALESCOPE_DB", str(tmp_path / "reads.duckdb"))
    st.cache_resource.clear()
    st.cache_data.clear()
    reads: list[str] = []
    real_prepare = pipeline.prepare
    monkeypatch.setattr(pipeline, "prepare", lambda data, name, **kw: reads.append(name) or real_prepare(data, name, **kw))
    try:
        uploads = []
        for n, prefix in enumerate("AB"):
            path = tmp_path / f"deals_{prefix}.csv"
            make_deals(200, prefix, 20 + n).write_csv(path)
            uploads.append((path.read_bytes(), path.name, f"fid{n}"))
        for _run in range(3):                           # the page's calls, run after run, both files
            for data, name, fid in uploads:
                prepared, problem = importer.prepare(data, name, None, fid)
                assert problem is None and prepared.kind == "deals"
                assert importer.base(data, name, None) is not None
        assert sorted(reads) == ["deals_A.csv", "deals_B.csv"], reads
        page = (ROOT / "pages" / "data.py").read_text(encoding="utf-8")
        assert "importer.base(data, up.name, kind)" in page   # the page asks with the same kind as prepare
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()

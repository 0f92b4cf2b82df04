"""Meeting mode and the History page in a real headless Chromium: step through every slide with the
keyboard (← →) and the buttons in English and Chinese, the slide number in the URL, anonymised
slides that show no rep name anywhere, and the waterfall's click-to-drill-down.

Screenshots go to tests/artifacts/ (meeting_<lang>_<n>.png, history_<lang>.png, ...).
"""
from __future__ import annotations

import ast
import re
import uuid
from pathlib import Path

import pytest

from data import clock
from tests.browser_helpers import (  # noqa: F401  (browser, page: fixtures)
    CHROMIUM,
    IDLE_TIMEOUT,
    Server,
    browser,
    no_exception,
    open_page,
    page,
    page_text,
    screenshot,
    started,
    wait_idle,
)
from ui.i18n import t

ROOT = Path(__file__).resolve().parents[1]
SLIDES = ("changes", "leaderboard", "forecast", "stalled", "hygiene")
MY_PAGES = {"history": ("history.title", ":material/history:"), "meeting": ("meeting.title", ":material/co_present:")}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} not found: needs Debian's chromium"),
]


def _listed() -> set[str]:
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "PAGES":
            return {row[0] for row in ast.literal_eval(node.value)}
    return set()


class AppServer(Server):
    """`streamlit run <script>`: app.py, or — until the router lists History and Meeting — a copy of
    it beside app.py (so relative page links still resolve) that does."""

    def __init__(self, folder: Path) -> None:  # noqa: D107 (same fields as Server)
        self.copy: Path | None = None
        script = "app.py"
        missing = [stem for stem in MY_PAGES if stem not in _listed()]
        if missing:
            src = (ROOT / "app.py").read_text(encoding="utf-8")
            rows = "".join(f'    ("{s}", "{MY_PAGES[s][0]}", "{MY_PAGES[s][1]}", False),\n' for s in missing)
            self.copy = ROOT / f".app_meeting_{uuid.uuid4().hex[:8]}.py"
            self.copy.write_text(src.replace('    ("data", "nav.data"', rows + '    ("data", "nav.data"', 1),
                                 encoding="utf-8")
            script = self.copy.name
        super().__init__(folder, script=script)

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.copy is not None:
                self.copy.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    srv = AppServer(tmp_path_factory.mktemp("meeting_server"))
    try:
        started(browser, srv)   # the first session seeds the demo company
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def rep_names() -> list[str]:
    """Every rep of the demo company the server loaded (seed 7, as of today)."""
    from data.demo import generate

    return [n for n in generate(seed=7, as_of=clock.today()).reps["name"].to_list() if n]


def slide_title(n: int, lang: str) -> str:
    return f"{n} · {t(f'meeting.agenda_{SLIDES[n - 1]}', lang=lang)}"


def wait_for_slide(page, n: int, lang: str) -> None:
    page.locator("h1").filter(has_text=slide_title(n, lang)).first.wait_for(timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)
    assert re.search(rf"[?&]slide={n}\b", page.url), page.url


def press(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def click(page, label: str) -> None:
    page.get_by_role("button", name=re.compile(re.escape(label))).first.click()


# ------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_meeting_steps_through_every_slide(server, page, lang):
    open_page(page, f"{server.url}/meeting?lang={lang}")
    no_exception(page)
    wait_for_slide(page, 1, lang)
    how = ["keyboard", "button", "keyboard", "button"]
    for n in range(1, 6):
        no_exception(page)
        assert page.locator("h1").filter(has_text=slide_title(n, lang)).first.is_visible()
        main = page.locator('[data-testid="stMain"]').inner_text()
        assert t("meeting.slide_of", lang=lang, n=n, total=5, title=t(f"meeting.agenda_{SLIDES[n - 1]}", lang=lang)) \
            in main
        if n <= 3:   # waterfall, leaderboard, forecast: a drawn chart
            assert page.locator('[data-testid="stPlotlyChart"] svg.main-svg').first.is_visible()
        if n == 1:
            for bar in ("bar_start", "bar_won", "bar_end"):
                assert t(f"history.{bar}", lang=lang) in page_text(page)
        screenshot(page, f"meeting_{lang}_{n}.png")
        if n < 5:
            if how[n - 1] == "keyboard":
                press(page, "ArrowRight")
            else:
                click(page, t("meeting.next", lang=lang))
            wait_for_slide(page, n + 1, lang)
    # no slide after the last; ← goes back one, and so does the Back button
    press(page, "ArrowRight")
    page.wait_for_timeout(800)
    wait_idle(page)
    assert "slide=5" in page.url
    press(page, "ArrowLeft")
    wait_for_slide(page, 4, lang)
    click(page, t("meeting.prev", lang=lang))
    wait_for_slide(page, 3, lang)
    assert not page.dialogs and not page.errors, (page.dialogs, page.errors)


def test_meeting_opens_at_the_slide_of_the_link(server, page):
    open_page(page, f"{server.url}/meeting?lang=en&slide=4")
    wait_for_slide(page, 4, "en")
    no_exception(page)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_anonymised_slides_show_no_rep_name(server, page, rep_names, lang):
    assert len(rep_names) >= 30
    open_page(page, f"{server.url}/meeting?lang={lang}&slide=2")
    wait_for_slide(page, 2, lang)
    assert [n for n in rep_names if n in page_text(page)], "the leaderboard names reps before anonymising"
    page.get_by_text(t("meeting.anonymise", lang=lang), exact=True).first.click()
    page.wait_for_timeout(500)
    wait_idle(page)
    assert t("meeting.rep_alias", lang=lang, rank=1) in page_text(page)
    screenshot(page, f"meeting_{lang}_2_anonymised.png")
    press(page, "ArrowLeft")
    wait_for_slide(page, 1, lang)
    for n in range(1, 6):
        if n > 1:
            press(page, "ArrowRight")
            wait_for_slide(page, n, lang)
        page.wait_for_timeout(300)
        text = page_text(page)
        leaked = [name for name in rep_names if name in text]
        assert not leaked, f"slide {n} ({lang}) shows rep names while anonymised: {leaked}"
    assert not page.dialogs


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_history_page_and_drill_down(server, page, lang):
    open_page(page, f"{server.url}/history?lang={lang}")
    no_exception(page)
    assert page.locator("h1").filter(has_text=t("history.title", lang=lang)).first.is_visible()
    main = page.locator('[data-testid="stMain"]').inner_text()
    for key in ("history.slipped", "history.point_in_time", "history.trend", "history.deals_all"):
        assert t(key, lang=lang) in main, key
    screenshot(page, f"history_{lang}.png")
    # click the "Won" step of the waterfall: the table below lists that step's deals
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    won = chart.locator("g.point").nth(6).bounding_box()
    page.mouse.click(won["x"] + won["width"] / 2, won["y"] + won["height"] / 2)
    heading = t("history.deals_behind", lang=lang, bar=t("history.bar_won", lang=lang))
    page.locator("h3").filter(has_text=heading).first.wait_for(timeout=IDLE_TIMEOUT * 1000)
    wait_idle(page)
    no_exception(page)
    grid = page.locator('[data-testid="stDataFrame"]').first.locator("table").first.inner_text()
    assert t("history.bar_won", lang=lang) in grid and t("history.bar_created", lang=lang) not in grid
    screenshot(page, f"history_{lang}_won.png")
    assert not page.errors, page.errors

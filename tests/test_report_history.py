"""`python -m data report` with history: the `changes` waterfall of `--json` from two real uploads
(hand-checked), `--from-snapshot/--to-snapshot`, and the `--html` weekly report — one self-contained
file, opened in headless Chromium with the network blocked, CRM text shown literally."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "<img src=x onerror=alert(1)>"
HEADER = "Opportunity ID,Opportunity Name,Account Name,Opportunity Owner,Stage,Amount,Close Date,Created Date\n"

# Upload 1, as of 2024-06-01 (Q2's pipeline: H1 1000 + H2 2500 + H3 800 + H4 3000 + H7 400 + H9 2000 = 9700;
# H8 closes in August, H5 was won in April)
WEEK_1 = HEADER + (
    "H1,Alpha renewal,Acme Corp,Ann Lee,Prospecting,1000,2024-06-20,2024-05-01\n"
    f'H2,Beta expansion,Beta GmbH,"{HOSTILE}",Negotiation,2500,2024-06-15,2024-05-02\n'
    f'H3,Gamma pilot,Gamma Ltd,"{HOSTILE}",Negotiation,800,2024-06-25,2024-05-03\n'
    "H4,Delta new,Delta Inc,Ann Lee,Proposal,3000,2024-06-28,2024-05-04\n"
    "H5,Old win,Acme Corp,Ann Lee,Closed Won,500,2024-04-10,2024-03-01\n"
    "H7,Eta gone,Eta AG,Ann Lee,Prospecting,400,2024-06-29,2024-05-05\n"
    "H8,Theta later,Theta Ltd,Ann Lee,Prospecting,600,2024-08-15,2024-05-06\n"
    "H9,Iota cut,Iota SA,Ann Lee,Negotiation,2000,2024-06-22,2024-05-07\n"
)
# Upload 2, as of 2024-06-08
WEEK_2 = HEADER + (
    "H1,Alpha renewal,Acme Corp,Ann Lee,Prospecting,1200,2024-06-20,2024-05-01\n"          # amount up 200
    f'H2,Beta expansion,Beta GmbH,"{HOSTILE}",Closed Won,2500,2024-06-05,2024-05-02\n'     # won 2500
    f'H3,Gamma pilot,Gamma Ltd,"{HOSTILE}",Closed Lost,800,2024-06-06,2024-05-03\n'        # lost 800
    "H4,Delta new,Delta Inc,Ann Lee,Proposal,3000,2024-07-15,2024-05-04\n"                 # pushed out 3000
    "H5,Old win,Acme Corp,Ann Lee,Closed Won,500,2024-04-10,2024-03-01\n"
    f'H6,Epsilon new,Epsilon SA,"{HOSTILE}",Prospecting,700,2024-06-30,2024-06-03\n'       # created 700
    "H8,Theta later,Theta Ltd,Ann Lee,Prospecting,650,2024-06-20,2024-05-06\n"             # pulled in 650
    "H9,Iota cut,Iota SA,Ann Lee,Negotiation,1500,2024-06-22,2024-05-07\n"                 # amount down 500
)                                                                                          # H7 not exported: removed 400
# end = H1 1200 + H6 700 + H8 650 + H9 1500 = 4050
# 9700 + 700 + 650 + 200 - 500 - 3000 - 2500 - 800 - 400 = 4050
EXPECTED = {
    "from_snapshot": "2024-06-01", "to_snapshot": "2024-06-08", "start": 9700.0, "created": 700.0,
    "pulled_in": 650.0, "amount_up": 200.0, "amount_down": 500.0, "pushed_out": 3000.0, "won": 2500.0,
    "lost": 800.0, "removed": 400.0, "end": 4050.0,
}
PERIOD = ["--from", "2024-04-01", "--to", "2024-06-30", "--as-of", "2024-06-10"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def two_uploads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("history_report")
    db = folder / "salescope.duckdb"
    for name, text, day in (("week1.csv", WEEK_1, "2024-06-01"), ("week2.csv", WEEK_2, "2024-06-08")):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        res = run("import", str(path), "--db", str(db), "--as-of", day)
        assert res.returncode == 0, res.stderr
    return db


def test_changes_in_report_json(two_uploads):
    res = run("report", "--db", str(two_uploads), "--json", *PERIOD)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["changes"] == EXPECTED


def test_snapshot_choice(two_uploads):
    # a day between the uploads resolves to the latest snapshot on or before it
    res = run("report", "--db", str(two_uploads), "--json", *PERIOD, "--from-snapshot", "2024-06-03",
              "--to-snapshot", "2024-06-30")
    assert json.loads(res.stdout)["changes"] == EXPECTED
    bad = run("report", "--db", str(two_uploads), "--json", "--from-snapshot", "2024-01-01")
    assert bad.returncode == 1 and "no snapshot on or before 2024-01-01" in bad.stderr
    backwards = run("report", "--db", str(two_uploads), "--from-snapshot", "2024-06-08", "--to-snapshot", "2024-06-01")
    assert backwards.returncode == 1 and "not before" in backwards.stderr
    text = run("report", "--db", str(two_uploads), *PERIOD)
    assert "pipeline change 2024-06-01 → 2024-06-08: start 9,700" in text.stdout and "= end 4,050" in text.stdout


def test_changes_null_with_one_snapshot(tmp_path):
    db = tmp_path / "one.duckdb"
    path = tmp_path / "week1.csv"
    path.write_text(WEEK_1, encoding="utf-8")
    assert run("import", str(path), "--db", str(db), "--as-of", "2024-06-01").returncode == 0
    res = run("report", "--db", str(db), "--json", *PERIOD)
    assert json.loads(res.stdout)["changes"] is None
    html_file = tmp_path / "one.html"
    assert run("report", "--db", str(db), *PERIOD, "--html", str(html_file)).returncode == 0
    assert "History builds up from weekly uploads" in html_file.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def html_reports(two_uploads, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("html")
    out = {}
    for lang in ("en", "zh", "tr"):
        path = folder / f"weekly_{lang}.html"
        res = run("report", "--db", str(two_uploads), *PERIOD, "--html", str(path), "--lang", lang)
        assert res.returncode == 0, res.stderr
        assert path.is_file() and str(path) in res.stdout
        out[lang] = path
    return out


def test_html_is_self_contained_and_escaped(html_reports):
    for lang, path in html_reports.items():
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.count("<svg") >= 3, lang
        tags = re.findall(r"<[a-zA-Z][^>]*>", text)
        assert not [tag for tag in tags if re.match(r"<(script|link|img|iframe|object|embed)\b", tag, re.I)]
        assert not [tag for tag in tags if re.search(r"\s(src|href|on[a-z]+)=", tag, re.I)], "no fetches, no handlers"
        # the only URL is the SVG namespace (no request); nothing is fetched
        assert set(re.findall(r"https?://[^\s\"'<>]+", text)) <= {"http://www.w3.org/2000/svg"}
        assert HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
        assert "Content-Security-Policy" in text
    zh = html_reports["zh"].read_text(encoding="utf-8")
    assert "自上次会议以来的变化" in zh and "排行榜" in zh and "2024年6月1日" in zh


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_html_report_in_a_browser_offline(html_reports):
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            for lang, path in html_reports.items():
                page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
                requested, dialogs = [], []
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                           else (requested.append(route.request.url), route.abort()))
                page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                page.goto(path.as_uri())
                page.wait_for_load_state("load")
                from data.report_html import catalog

                words = catalog(lang)
                for key in ("meeting.agenda_changes", "meeting.agenda_leaderboard", "meeting.agenda_forecast",
                            "meeting.agenda_stalled", "meeting.agenda_hygiene"):
                    assert page.get_by_role("heading", name=re.compile(re.escape(words[key]))).first.is_visible()
                waterfall = page.locator("section").first.locator("svg")
                assert waterfall.count() == 1 and waterfall.first.is_visible()
                for bar in ("bar_start", "bar_won", "bar_end"):
                    assert words[f"history.{bar}"] in waterfall.first.text_content()
                board = page.locator("section").nth(1)
                assert board.locator("svg").first.is_visible() and "Ann Lee" in board.inner_text()
                # the hostile rep name is text, never an element
                assert page.get_by_text(HOSTILE).first.is_visible()
                assert page.locator('img[src="x"]').count() == 0
                page.wait_for_timeout(300)
                assert not dialogs and not requested, (dialogs, requested)
                page.screenshot(path=str(ARTIFACTS / f"report_html_{lang}.png"), full_page=True)
                page.context.close()
        finally:
            browser.close()

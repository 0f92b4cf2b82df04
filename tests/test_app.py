"""The Streamlit app end to end in-process (AppTest): every page in every language, the demo company
on first start, clearing it for good, and one upload through the Data page."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui.i18n import LANGUAGES, catalog, t

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
LANGS = list(LANGUAGES)
TIMEOUT = 120  # the first run of a fresh database generates and writes the demo company


# ---------------------------------------------------------------------------------- harness


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A fresh database file for this test; the per-process store and frame caches are dropped."""
    path = tmp_path / "salescope.duckdb"
    monkeypatch.setenv("SALESCOPE_DB", str(path))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield path
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def navigation_only(monkeypatch):
    """Work around an AppTest quirk: AppTest resets `PagesManager.uses_pages_directory` before every
    run and a `pages/` folder beside app.py turns it on again, so after `switch_page` AppTest runs the
    page file on its own (legacy pages/ mode) without app.py: no frame, no language, widget state lost.
    The real server turns that mode off once app.py has called st.navigation (its very first run of
    the process has the same problem: see test_browser.test_first_request_to_a_page_url_gets_the_frame);
    do the same here so every AppTest run goes through app.py like a browser session does."""
    from streamlit.runtime import pages_manager

    cls = pages_manager.PagesManager
    original = cls.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        cls.uses_pages_directory = False

    monkeypatch.setattr(cls, "uses_pages_directory", None)
    monkeypatch.setattr(cls, "__init__", init)


_OUTSIDE_LANG: list[str] = ["en"]


@pytest.fixture(autouse=True)
def language_outside_runs(monkeypatch):
    """AppTest calls a widget's format_func in the test thread, outside any script run, where
    `st.session_state` is not the session's: make `t()` there use the language `start()` chose."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from ui import i18n

    real = i18n.current_lang
    _OUTSIDE_LANG[0] = "en"
    monkeypatch.setattr(i18n, "current_lang",
                        lambda: real() if get_script_run_ctx(suppress_warning=True) else _OUTSIDE_LANG[0])


def start(lang: str | None = None, page: str | None = None) -> AppTest:
    """A new browser session: first run of app.py (optionally with ?lang=), then the page."""
    _OUTSIDE_LANG[0] = lang or "en"
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    if lang:
        at.query_params["lang"] = lang
    at.run()
    assert_ok(at)
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert_ok(at)
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert not errors, f"st.error shown: {errors}"


def texts(at: AppTest) -> str:
    """Everything textual on the screen (main area and sidebar), one string, for `in` checks."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error",
                 "toast"):
        parts += [str(el.value) for el in at.get(kind)]
    parts += [el.label for el in at.metric]
    parts += [el.label for el in at.button]
    parts += [el.label for el in at.selectbox] + [el.label for el in at.file_uploader]
    parts += [el.proto.label for el in at.get("page_link")]
    return "\n".join(parts)


def number(text: str) -> int:
    """A formatted count back to an int (1,234 / 1.234)."""
    digits = re.sub(r"\D", "", text)
    assert digits, f"not a number: {text!r}"
    return int(digits)


def metric(at: AppTest, label: str) -> str:
    found = [m.value for m in at.metric if m.label == label]
    assert found, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return found[0]


def tables(at: AppTest) -> list:
    """The read-only tables (st.dataframe) in page order, as pandas frames."""
    return [d.value for d in at.dataframe if d.editing_mode == "read_only"]


def demo_banner_shown(at: AppTest, lang: str) -> bool:
    return any(t("app.demo_banner", lang=lang) in el.value for el in at.info)


# -------------------------------------------------------------------------------- the router


def _pages_list() -> list[tuple[str, str, str]]:
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "PAGES":
            return ast.literal_eval(node.value)
    raise AssertionError("app.py has no PAGES list")


def test_pages_list_names_every_page_file():
    listed = [stem for stem, *_ in _pages_list()]
    files = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if p.stem != "__init__")
    assert sorted(listed) == files, f"app.py PAGES {listed} vs pages/ {files}"
    assert len(set(listed)) == len(listed), "a page is listed twice"
    for stem in listed:
        assert (ROOT / "pages" / f"{stem}.py").is_file()


def test_pages_list_is_well_formed():
    pages = _pages_list()
    assert pages[0][0] == "overview", "the root URL leads to the first page"
    for stem, label, icon in pages:
        assert label in catalog("en"), f"nav label key {label} missing from en.toml"
        assert icon.startswith(":material/") and icon.endswith(":")


# ------------------------------------------------------------------------ every page, language


@pytest.mark.parametrize("lang", LANGS)
def test_overview_first_start_loads_the_demo(db, lang):
    at = start(lang, "overview")
    assert at.session_state["lang"] == lang
    assert at.title[0].value == t("overview.title", lang=lang)
    assert demo_banner_shown(at, lang), [el.value for el in at.info]
    assert any(t("app.demo_badge", lang=lang) in el.value for el in at.info)
    screen = texts(at)
    for key in ("overview.loaded", "overview.deals_by_status", "tables.deals", "overview.open", "overview.won",
                "overview.lost", "overview.date_range", "overview.last_import", "app.clear_demo", "app.tagline",
                "app.language"):
        assert t(key, lang=lang) in screen, f"{key} ({t(key, lang=lang)!r}) not on the {lang} overview"
    deals = number(metric(at, t("tables.deals", lang=lang)))
    won = number(metric(at, t("overview.won", lang=lang)))
    lost = number(metric(at, t("overview.lost", lang=lang)))
    open_ = number(metric(at, t("overview.open", lang=lang)))
    assert deals > 0 and won > 0 and lost > 0 and open_ > 0
    assert open_ + won + lost == deals
    assert t("overview.none_yet", lang=lang) not in screen
    assert db.exists()


def test_demo_fills_every_table(db):
    at = start("en", "overview")
    empty = [table for table in ("reps", "accounts", "deals", "leads", "stage_history", "activities", "targets",
                                 "deal_snapshots")
             if number(metric(at, t(f"tables.{table}", lang="en"))) == 0]
    assert not empty, f"the demo company left these tables empty: {empty}"


@pytest.mark.parametrize("lang", LANGS)
def test_data_page(db, lang):
    at = start(lang, "data")
    assert at.title[0].value == t("data.title", lang=lang)
    assert demo_banner_shown(at, lang)
    screen = texts(at)
    for key in ("data.upload", "data.history", "data.pipeline", "data.save_pipeline", "data.col_batch",
                "data.undo"):
        assert t(key, lang=lang) in screen, f"{key} ({t(key, lang=lang)!r}) not on the {lang} data page"
    assert at.file_uploader[0].label == t("data.upload", lang=lang)
    # the import history lists the demo batches, labelled in the chosen language
    history = tables(at)[0]
    assert t("data.col_kind", lang=lang) in history.columns
    assert set(history[t("data.col_kind", lang=lang)]) == {t("kinds.demo", lang=lang)}
    assert set(history[t("data.col_status", lang=lang)]) == {t("data.status_done", lang=lang)}
    # the pipeline editor holds the demo stages
    stages = at.data_editor(key="data_stages").value
    assert len(stages) >= 5


@pytest.mark.parametrize("lang", LANGS)
def test_language_from_the_switch(db, lang):
    """The sidebar switch changes every label and the ?lang= of the URL."""
    at = start(None, "overview")
    assert at.title[0].value == t("overview.title", lang="en")
    at.selectbox(key="lang").set_value(lang).run()   # the widget states are read in English...
    _OUTSIDE_LANG[0] = lang                           # ...and from now on the screen is in `lang`
    assert_ok(at)
    assert at.title[0].value == t("overview.title", lang=lang)
    assert demo_banner_shown(at, lang)
    assert at.query_params.get("lang") in (lang, [lang])
    at.switch_page("pages/data.py").run()
    assert_ok(at)
    assert at.title[0].value == t("data.title", lang=lang)


def test_unknown_language_falls_back_to_english(db):
    at = start("xx", "overview")
    assert at.session_state["lang"] == "en"
    assert at.title[0].value == t("overview.title", lang="en")


def test_browser_locale_picks_the_language(db):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.context["locale"] = "zh-CN"
    at.run()
    assert_ok(at)
    assert at.session_state["lang"] == "zh"
    assert at.title[0].value == t("overview.title", lang="zh")


# -------------------------------------------------------------------------------- the demo


@pytest.mark.parametrize("lang", LANGS)
def test_clearing_the_demo_empties_the_data_for_good(db, lang):
    at = start(lang, "overview")
    assert demo_banner_shown(at, lang)
    at.button(key="clear_demo").click().run()
    assert_ok(at)
    assert not demo_banner_shown(at, lang)
    assert t("overview.none_yet", lang=lang) in [el.value for el in at.info]
    assert not [b for b in at.button if b.key == "clear_demo"]
    assert not at.metric, "no counts are shown on an empty database"

    # the next run of the same session does not bring the demo back
    at.run()
    assert_ok(at)
    assert t("overview.none_yet", lang=lang) in [el.value for el in at.info]
    assert not demo_banner_shown(at, lang)

    # nor does a new session, nor a restart of the process (caches dropped, same file)
    again = start(lang, "overview")
    assert t("overview.none_yet", lang=lang) in [el.value for el in again.info]
    st.cache_resource.clear()
    st.cache_data.clear()
    restarted = start(lang, "overview")
    assert t("overview.none_yet", lang=lang) in [el.value for el in restarted.info]
    assert not demo_banner_shown(restarted, lang)

    # the data page after clearing: the history keeps the undone demo batches, no banner
    restarted.switch_page("pages/data.py").run()
    assert_ok(restarted)
    assert not demo_banner_shown(restarted, lang)
    history = tables(restarted)[0]
    assert set(history[t("data.col_status", lang=lang)]) == {t("data.status_undone", lang=lang)}


def test_store_is_empty_after_clearing(db):
    at = start("en", "overview")
    at.button(key="clear_demo").click().run()
    from data.store import Store

    st.cache_resource.clear()  # release the app's connection to the file
    import gc

    gc.collect()
    store = Store(db)
    try:
        assert store.is_empty()
        assert not store.has_demo()
        assert store.imports_frame().height > 0
    finally:
        store.close()


def test_existing_database_is_not_seeded(db):
    """A database that already holds an import log (even of cleared data) is left alone."""
    from data.store import Store

    store = Store(db)
    store.record_failed("deals", "broken.csv", "abc", "empty_file", "The file is empty.")
    store.close()
    at = start("en", "overview")
    assert not demo_banner_shown(at, "en")
    assert t("overview.none_yet", lang="en") in [el.value for el in at.info]


# ------------------------------------------------------------------------- one upload, in process

DEALS_CSV = (
    "Opportunity ID,Opportunity Name,Account Name,Opportunity Owner,Stage,Amount,Close Date,Created Date\n"
    "006A1,Alpha renewal,Acme Corp,Jane Doe,Prospecting,1000,2024-06-30,2024-01-05\n"
    "006A2,Beta expansion,Beta GmbH,John Roe,Closed Won,2500.50,2024-05-15,2024-02-01\n"
    "006A3,Gamma pilot,Gamma Ltd,Jane Doe,Closed Lost,800,2024-04-01,2024-01-20\n"
    "006A4,Delta new,Delta Inc,Ann Lee,Negotiation,12000,2024-07-31,2024-03-03\n"
    "006A5,Epsilon deal,Epsilon SA,Ann Lee,Proposal,3000,not a date,2024-03-10\n"
)


def same_language_outside_runs(monkeypatch, lang: str) -> None:
    """AppTest calls a selectbox's format_func in the test thread, outside any script run, where
    `st.session_state` is not the session's; make `t()` there use the session's language too."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    from ui import i18n

    real = i18n.current_lang
    monkeypatch.setattr(i18n, "current_lang",
                        lambda: real() if get_script_run_ctx(suppress_warning=True) else lang)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_upload_a_deals_file(db, lang, monkeypatch):
    same_language_outside_runs(monkeypatch, lang)
    at = start(lang, "overview")
    at.button(key="clear_demo").click().run()  # import into an empty database
    at.switch_page("pages/data.py").run()
    assert_ok(at)
    at.file_uploader[0].set_value(("deals.csv", DEALS_CSV.encode(), "text/csv")).run()
    assert_ok(at)
    assert "deals\\.csv" in [s.value for s in at.subheader], "the file name, markdown-escaped (shows as deals.csv)"
    assert at.selectbox[0].value == "deals", "the kind is detected as deals"
    mapping = at.data_editor[0].value
    assert list(mapping[t("data.col_source", lang=lang)])[:3] == ["Opportunity ID", "Opportunity Name", "Account Name"]
    fields = [f.removesuffix(" *") for f in mapping[t("data.col_field", lang=lang)]]
    assert fields[0] == "deal_id" and "owner" in fields and "stage" in fields
    preview = tables(at)[0]
    assert len(preview) >= 4
    import_btn = [b for b in at.button if b.label == t("data.import_btn", lang=lang)]
    assert import_btn, [b.label for b in at.button]
    import_btn[0].click().run()
    assert_ok(at)
    success = " ".join(s.value for s in at.success)
    assert t("data.result_line", lang=lang, read=5, inserted=4, updated=0, unchanged=0, rejected=1,
             skipped=0) in success, success
    # the history table (after the preview) lists the file
    history = next(tb for tb in tables(at) if t("data.col_file", lang=lang) in tb.columns)
    assert "deals.csv" in set(history[t("data.col_file", lang=lang)]), history
    # the rejected rows shown are the new batch's: its one bad row, with the reason in this language
    rejects = tables(at)[-1]
    assert len(rejects) == 1 and t("data.col_reason", lang=lang) in rejects.columns
    # and the overview counts it
    at.switch_page("pages/overview.py").run()
    assert_ok(at)
    assert number(metric(at, t("tables.deals", lang=lang))) == 4


def test_clearing_the_demo_keeps_imported_files(db, monkeypatch):
    """The banner invites importing your own files while the demo is shown, then clearing the demo:
    the clear must take the demo company away, not the files the user imported meanwhile."""
    same_language_outside_runs(monkeypatch, "en")
    at = start("en", "data")
    at.file_uploader[0].set_value(("deals.csv", DEALS_CSV.encode(), "text/csv")).run()
    [b for b in at.button if b.label == t("data.import_btn", lang="en")][0].click().run()
    assert_ok(at)
    assert "4 new" in " ".join(s.value for s in at.success)
    at.button(key="clear_demo").click().run()
    assert_ok(at)
    at.switch_page("pages/overview.py").run()
    assert_ok(at)
    assert t("overview.none_yet", lang="en") not in [el.value for el in at.info], \
        "clearing the demo also deleted the deals imported from deals.csv"
    assert number(metric(at, t("tables.deals", lang="en"))) == 4


def test_snapshot_date_from_the_file_is_used(db, monkeypatch):
    """README: a deals upload's snapshot date is --as-of, else the file's own date (an "As of" title
    line or a snapshot_date column), else the upload date. The Data page must not override the
    file's own date with today's date unless the user picks one."""
    same_language_outside_runs(monkeypatch, "en")
    at = start("en", "data")
    dated = "Pipeline report\nAs of 2024-03-01\n" + DEALS_CSV
    at.file_uploader[0].set_value(("pipeline.csv", dated.encode(), "text/csv")).run()
    assert_ok(at)
    notes = " ".join(c.value for c in at.caption)
    assert "2024-03-01" in notes, f"snapshot note ignores the file's 'As of' line: {notes}"


def test_filters_survive_a_language_switch_and_a_page_change(db):
    """The period and team filters keep their values when the labels change language."""
    at = start("en", "overview")
    at.selectbox(key="f_period").set_value("this_year").run()
    team = at.multiselect(key="f_team").options[0]
    at.multiselect(key="f_team").set_value([team]).run()
    assert_ok(at)
    at.selectbox(key="lang").set_value("zh").run()
    _OUTSIDE_LANG[0] = "zh"
    at.switch_page("pages/funnel.py").run()
    assert_ok(at)
    assert at.session_state["f_period"] == "this_year"
    assert at.session_state["f_team"] == [team]
    assert at.query_params.get("period") in ("this_year", ["this_year"])

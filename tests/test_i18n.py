"""Translations: every language has every key, the same placeholders, a text for every importer
problem/note code, and no page writes user-visible English around `t()`."""
from __future__ import annotations

import ast
import re
import string
import textwrap
import tomllib
from pathlib import Path

import pytest

from data.ingest.problems import NOTES, PROBLEMS
from ui.i18n import LANGUAGES, LOCALES_DIR, catalog, problem_text, t

ROOT = Path(__file__).resolve().parents[1]
PAGE_FILES = sorted((ROOT / "pages").glob("*.py"))
# The frame (router, shared widgets) writes labels too; they obey the same rule as the pages.
FRAME_FILES = [ROOT / "app.py", ROOT / "ui" / "widgets.py", ROOT / "ui" / "importer.py"]
OTHER_LANGS = [lang for lang in LANGUAGES if lang != "en"]


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a format string (conversions and format specs ignored)."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(text):
        if field is not None:
            names.add(re.split(r"[.\[]", field, maxsplit=1)[0])
    return names


# ---------------------------------------------------------------------------------- the files


def test_every_language_has_a_locale_file():
    for lang in LANGUAGES:
        path = LOCALES_DIR / f"{lang}.toml"
        assert path.is_file(), f"missing locale file {path}"
        with path.open("rb") as fh:
            tomllib.load(fh)  # parses
        assert catalog(lang), f"{lang}.toml holds no strings"


@pytest.mark.parametrize("lang", OTHER_LANGS)
def test_no_key_missing(lang):
    missing = sorted(set(catalog("en")) - set(catalog(lang)))
    assert not missing, f"{lang}.toml lacks {len(missing)} key(s) that en.toml has: {missing}"


@pytest.mark.parametrize("lang", OTHER_LANGS)
def test_no_extra_key(lang):
    extra = sorted(set(catalog(lang)) - set(catalog("en")))
    assert not extra, f"{lang}.toml has {len(extra)} key(s) that en.toml lacks: {extra}"


@pytest.mark.parametrize("lang", OTHER_LANGS)
def test_placeholders_match_english(lang):
    en, other = catalog("en"), catalog(lang)
    wrong = {
        key: (sorted(placeholders(en[key])), sorted(placeholders(other[key])))
        for key in sorted(set(en) & set(other))
        if placeholders(en[key]) != placeholders(other[key])
    }
    assert not wrong, f"{lang}.toml placeholders differ from English (key: (en, {lang})): {wrong}"


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_no_empty_text(lang):
    empty = sorted(k for k, v in catalog(lang).items() if not v.strip())
    assert not empty, f"{lang}.toml has empty texts: {empty}"


@pytest.mark.parametrize("lang", list(LANGUAGES))
def test_every_text_formats(lang):
    """Each text with placeholders can be filled without error (no stray braces)."""
    bad = {}
    for key, text in catalog(lang).items():
        try:
            text.format(**{name: "x" for name in placeholders(text)})
        except (ValueError, IndexError, KeyError) as exc:
            bad[key] = f"{text!r}: {exc}"
    assert not bad, f"{lang}.toml texts that do not format: {bad}"


# ------------------------------------------------------------------- importer problems and notes


@pytest.mark.parametrize("code", sorted(PROBLEMS) + sorted(NOTES))
def test_every_problem_code_has_a_text(code):
    missing = [f"{lang}.toml" for lang in LANGUAGES if f"problem.{code}" not in catalog(lang)]
    assert not missing, f"data/ingest/problems.py code {code!r} has no problem.{code} in {missing}"


@pytest.mark.parametrize("code", sorted(PROBLEMS) + sorted(NOTES))
def test_problem_placeholders_match_the_english_template(code):
    """The UI fills a problem text with the same params as data/ingest/problems.py renders."""
    template = PROBLEMS.get(code) or NOTES[code]
    text = catalog("en").get(f"problem.{code}")
    if text is None:
        pytest.skip(f"problem.{code} is missing (reported by test_every_problem_code_has_a_text)")
    assert placeholders(text) == placeholders(template), (text, template)


def test_problem_text_translates_the_order_param():
    zh = problem_text("date_order_from_data", {"column": "Close Date", "order": "day-first"}, lang="zh")
    assert t("order.day-first", lang="zh") in zh
    assert "Close Date" in zh


def test_missing_key_falls_back_to_english_then_key():
    assert t("overview.title", lang="xx") == catalog("en")["overview.title"]
    assert t("no.such.key", lang="zh") == "no.such.key"


# ------------------------------------------------------------- no hard-coded text in the pages

# Streamlit calls (on `st`, `st.sidebar`, columns, containers...) whose first argument / label is shown.
DISPLAY_CALLS = {
    "title", "header", "subheader", "markdown", "caption", "text", "write", "code", "latex",
    "button", "download_button", "link_button", "page_link", "form_submit_button",
    "info", "warning", "error", "success", "exception", "toast", "status", "spinner", "progress",
    "metric", "selectbox", "multiselect", "radio", "toggle", "checkbox", "slider", "select_slider",
    "text_input", "text_area", "number_input", "date_input", "time_input", "datetime_input",
    "file_uploader", "color_picker", "camera_input", "audio_input", "chat_input", "pills",
    "segmented_control", "expander", "tabs", "popover", "feedback", "badge", "dialog",
}
LABEL_KEYWORDS = {"label", "body", "help", "placeholder", "text", "caption", "value_label"}
WORD = re.compile(r"[^\W\d_]{2,}")  # two letters in a row: a word, not an emoji or a symbol


def _visible_literals(node: ast.AST) -> list[str]:
    """String constants that end up in the displayed text of an argument expression."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    if isinstance(node, ast.BinOp):  # "ℹ️ " + t(...), "%s" % x
        return _visible_literals(node.left) + _visible_literals(node.right)
    if isinstance(node, ast.IfExp):
        return _visible_literals(node.body) + _visible_literals(node.orelse)
    if isinstance(node, (ast.List, ast.Tuple)):  # st.tabs(["Deals", ...])
        return [s for elt in node.elts for s in _visible_literals(elt)]
    return []


# Calls whose first argument is not shown (a page path); only their label= is checked.
FIRST_ARG_NOT_SHOWN = {"page_link"}


def _is_logger(node: ast.AST) -> bool:
    """`logging.x`, `log.x`, `logger.x`, `logging.getLogger(...).x`: not Streamlit."""
    while isinstance(node, (ast.Attribute, ast.Call)):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "getLogger":
                return True
            node = node.func
        else:
            node = node.value
    return isinstance(node, ast.Name) and ("log" in node.id.lower())


def hard_coded_texts(source: str) -> list[tuple[int, str, str]]:
    """(line, call, literal) for every display call given a literal with words in it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in DISPLAY_CALLS or _is_logger(node.func.value):
            continue
        first = [] if node.func.attr in FIRST_ARG_NOT_SHOWN else node.args[:1]
        args = first + [kw.value for kw in node.keywords if kw.arg in LABEL_KEYWORDS]
        for arg in args:
            for literal in _visible_literals(arg):
                if WORD.search(literal) and not literal.startswith(":material/"):
                    found.append((node.lineno, node.func.attr, literal))
    return found


def test_the_checker_finds_hard_coded_text():
    src = textwrap.dedent('''
        st.title("Hello")
        col.metric("Won deals", 3)
        st.button(label="Go")
        st.markdown(f"**Total** {n}")
        st.caption("Note: " + t("x"))
        st.tabs(["Deals", t("x")])
        st.info(t("x"), help="Some help")
        st.caption("ℹ️ " + t("x"))
        st.markdown(f"**{t('x')}**")
        st.metric(t("x"), f"{a} – {b}")
        st.page_link("pages/data.py", label=t("x"), icon=":material/arrow_forward:")
        st.title(t("x"))
        logging.getLogger("salescope").exception("could not open the database")
        log.warning("plain English for the log file")
        st.page_link("pages/data.py", label="Data")
    ''')
    assert [(line, call) for line, call, _ in hard_coded_texts(src)] == [
        (2, "title"), (3, "metric"), (4, "button"), (5, "markdown"), (6, "caption"), (7, "tabs"), (8, "info"),
        (16, "page_link"),
    ]


@pytest.mark.parametrize("path", PAGE_FILES + FRAME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hard_coded_text(path):
    found = hard_coded_texts(path.read_text(encoding="utf-8"))
    assert not found, f"{path.relative_to(ROOT)}: user-visible literals not taken from t(): {found}"


@pytest.mark.parametrize("path", PAGE_FILES + FRAME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_used_exists(path):
    """Literal keys passed to t() exist in English (a typo would show the bare key)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            if node.args[0].value not in catalog("en"):
                missing.append((node.lineno, node.args[0].value))
    assert not missing, f"{path.relative_to(ROOT)}: t() keys missing from en.toml: {missing}"


@pytest.mark.parametrize("path", PAGE_FILES + FRAME_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_prefix_used_exists(path):
    """f-string keys like t(f"kinds.{k}") point at a section that exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sections = {key.rsplit(".", 1)[0] + "." for key in catalog("en")}
    missing = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "t"
                and node.args and isinstance(node.args[0], ast.JoinedStr)):
            head = node.args[0].values[0]
            if isinstance(head, ast.Constant) and head.value.endswith("."):
                if head.value not in sections:
                    missing.append((node.lineno, head.value))
    assert not missing, f"{path.relative_to(ROOT)}: t(f'...') sections missing from en.toml: {missing}"


# ------------------------------------------------------- keys built at run time from data values


def test_every_table_has_a_label():
    from data.store import FACT_TABLES

    for name in FACT_TABLES + ("deal_snapshots",):
        assert f"tables.{name}" in catalog("en"), f"en.toml has no tables.{name} (overview metric label)"


def test_every_kind_has_a_label():
    from data.ingest.mapping import KINDS

    for kind in tuple(KINDS) + ("demo",):
        assert f"kinds.{kind}" in catalog("en"), f"en.toml has no kinds.{kind} (kind selectbox / history)"


def test_every_import_status_has_a_label():
    schema = (ROOT / "data" / "schema.sql").read_text(encoding="utf-8")
    statuses = {"done", "failed", "undone"} | set(re.findall(r"status\s*=\s*'(\w+)'", schema))
    for status in statuses:
        assert f"data.status_{status}" in catalog("en"), f"en.toml has no data.status_{status}"


def test_every_progress_step_has_a_label():
    """ui/cache.run_import reports steps that the Data page shows as t(f"data.{step}")."""
    source = (ROOT / "ui" / "cache.py").read_text(encoding="utf-8")
    for step in set(re.findall(r'progress\([^,]+,\s*"(step_\w+)"\)', source)) | {"done"}:
        assert f"data.{step}" in catalog("en")

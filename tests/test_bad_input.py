"""Bad input does not hurt: every file of tests/fixtures/bad/ (made by make_bad_corpus.py, expected
outcomes in expected.csv) is imported into a fresh store, through the pipeline and the command line,
and a few through the Data page; downloads escape formula-looking cells.

For each file: the outcome (ok / partial / refused with the right problem code), every row
accounted for, the good rows kept and checked, nothing changed in the database when refused, the
problem message present in en / zh / tr, and the command line never printing a traceback.
"""
from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from data.ingest import pipeline
from data.ingest.pipeline import import_file
from data.ingest.problems import PROBLEMS, ImportProblem
from data.ingest.read import read_table
from data.store import TABLES, Store
from tests.fixtures import make_bad_corpus as corpus
from ui.i18n import LANGUAGES, catalog, problem_text

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "fixtures" / "bad"
LANGS = list(LANGUAGES)

# Known product bugs this corpus finds, reported to the lead (see the report of the reliability task).
# file -> reason; the test of that file is xfail(strict=True) until the bug is fixed.
KNOWN_BUGS: dict[str, str] = {}


def _expected() -> list[dict[str, str]]:
    with (BAD / corpus.EXPECTED).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


CASES = _expected()


def _param(row: dict[str, str], known_bugs: bool = True):
    marks = []
    if known_bugs and row["file"] in KNOWN_BUGS:
        marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[row["file"]]))
    return pytest.param(row, id=row["file"], marks=marks)


PARAMS = [_param(r) for r in CASES]
PLAIN = [_param(r, known_bugs=False) for r in CASES]  # the command-line checks hold even for those files


@pytest.fixture(scope="module")
def large_files(tmp_path_factory) -> dict[str, Path]:
    """The corpus files built at test time (zip bomb, over-size file)."""
    return corpus.generate_large(tmp_path_factory.mktemp("bad_large"))


def source(row: dict[str, str], large_files: dict[str, Path]) -> Path:
    if row["generated_at_test_time"]:
        return large_files[row["file"]]
    return BAD / row["file"]


PIPELINE = pl.DataFrame({
    "name": ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"],
    "position": pl.Series([1, 2, 3, 4, 5, 6], dtype=pl.Int32),
    "probability": [0.1, 0.2, 0.5, 0.8, 1.0, 0.0],
    "is_won": [False, False, False, False, True, False],
    "is_lost": [False, False, False, False, False, True],
    "source": ["configured"] * 6,
})


def fresh_store(path: Path, setup: str) -> Store:
    store = Store(path)
    if setup == "pipeline":
        store.set_stages(PIPELINE)
    elif setup:
        raise AssertionError(f"unknown setup {setup!r}")
    return store


# ------------------------------------------------------------------------------------ the corpus


def test_corpus_is_regenerated_byte_for_byte(tmp_path):
    """The committed corpus is exactly what make_bad_corpus.py writes (the script is the source)."""
    corpus.write(tmp_path)
    made = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in BAD.iterdir() if p.is_file()}
    assert sorted(made) == sorted(committed), "run tests/fixtures/make_bad_corpus.py and commit the result"
    differ = [name for name in made if made[name] != committed[name]]
    assert not differ, f"committed files differ from the generator: {differ}"


def test_corpus_covers_enough():
    assert len(CASES) >= 40
    assert all(r["outcome"] in ("ok", "partial", "refused") for r in CASES)
    assert {r["outcome"] for r in CASES} == {"ok", "partial", "refused"}
    for r in CASES:
        if not r["generated_at_test_time"]:
            path = BAD / r["file"]
            assert path.is_file(), r["file"]
            assert path.stat().st_size < 100_000, f"{r['file']} is not small"
        if r["problem"]:
            assert r["problem"] in PROBLEMS, r["problem"]


def test_large_files_are_what_they_claim(large_files):
    bomb = large_files["bomb_zip_300mb.xlsx"]
    with zipfile.ZipFile(bomb) as z:
        total = sum(i.file_size for i in z.infolist())
    assert total >= 300 * 1024 * 1024 and bomb.stat().st_size < 2 * 1024 * 1024
    assert large_files["too_large.csv"].stat().st_size == corpus.UPLOAD_LIMIT + 1


# ------------------------------------------------------------------------------------ the checks


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def run_checks(checks: str, store: Store, result, problem: ImportProblem | None) -> None:
    for item in filter(None, (c.strip() for c in checks.split(";"))):
        if item.startswith("rejects="):
            want = [tuple(x.split("/", 1)) for x in item.removeprefix("rejects=").split(",")]
            got = [(str(r["line"]), r["column"]) for r in result.rejects]
            assert got == [(a, b) for a, b in want], f"rejects {got} != {want}: {result.rejects}"
        elif item.startswith("note="):
            code = item.removeprefix("note=")
            assert code in [c for c, _ in result.notes], f"note {code} not in {result.notes}"
        elif item.startswith("detail~"):
            assert problem is not None
            assert item.removeprefix("detail~") in problem.text(), problem.text()
        elif ".count=" in item:
            table, n = item.split(".count=")
            assert store.table_count(table) == int(n), f"{table} holds {store.table_count(table)} rows"
        else:
            match = re.fullmatch(r"(\w+)\[(.+?)\]\.(\w+)=(.*)", item, re.DOTALL)
            assert match, f"bad check {item!r}"
            table, key, column, want = match.groups()
            key_col = TABLES[table].key[0]
            frame = store.frame(table).filter(pl.col(key_col) == key)
            assert frame.height == 1, f"{table} has no row {key_col}={key!r}: {store.frame(table)[key_col].to_list()}"
            got = _fmt(frame[column][0])
            assert got == want, f"{table}[{key}].{column} = {got!r}, expected {want!r}"


def translated_everywhere(code: str, params: dict) -> None:
    """The message of a problem or note code exists in every language and takes its parameters."""
    for lang in LANGS:
        assert f"problem.{code}" in catalog(lang), f"problem.{code} missing from {lang}.toml"
        text = problem_text(code, params, lang)
        assert text and text != f"problem.{code}", (lang, code)
        leftover = [p for p in params if "{" + p in text]
        assert not leftover, f"{lang}: {code} left {leftover} unformatted: {text}"


# ------------------------------------------------------------------------------------ pipeline


@pytest.mark.parametrize("row", PARAMS)
def test_import(row, tmp_path, large_files):
    path = source(row, large_files)
    store = fresh_store(tmp_path / "bad.duckdb", row["setup"])
    try:
        before = store.content_digest()
        result, problem = None, None
        try:
            result = import_file(store, path, kind=row["kind"] or None)
        except ImportProblem as exc:
            problem = exc
        if row["outcome"] == "refused":
            assert problem is not None, f"expected {row['problem']}, got a result: {result}"
            assert problem.code == row["problem"], problem.text()
            assert store.content_digest() == before, "a refused file changed the database"
            log = store.imports_frame().filter(pl.col("status") == "failed")
            assert log.height == 1 and row["file"] in (log["file_name"][0] or ""), log
            translated_everywhere(problem.code, problem.params)
            run_checks(row["checks"], store, None, problem)
            return
        assert problem is None, f"{row['file']} refused: {problem.code}: {problem.text()}"
        assert result.rows_read == result.inserted + result.updated + result.unchanged + result.rejected + result.skipped
        assert (result.inserted, result.rejected, result.skipped) == (
            int(row["stored"]), int(row["rejected"]), int(row["skipped"])), (
            f"stored/rejected/skipped {result.inserted}/{result.rejected}/{result.skipped}; "
            f"rejects {result.rejects}")
        assert (row["outcome"] == "partial") == (result.rejected > 0)
        # the good rows are in the store, under this batch
        kind = result.kind
        stored = store.frame(kind)
        assert stored.height == result.inserted
        assert set(stored["batch_id"].to_list()) == {result.batch_id}
        logged = store.import_row(result.batch_id)
        assert logged["status"] == "done"
        assert (logged["rows_read"], logged["inserted"], logged["rejected"], logged["skipped"]) == (
            result.rows_read, result.inserted, result.rejected, result.skipped)
        assert store.rejected_frame(result.batch_id).height == result.rejected
        for rej in store.rejected_frame(result.batch_id).iter_rows(named=True):
            translated_everywhere(rej["reason_code"], json.loads(rej["params"]))
        for code, params in result.notes:
            translated_everywhere(code, params)
        run_checks(row["checks"], store, result, None)
    finally:
        store.close()


def test_read_table_refuses_over_a_small_limit(tmp_path):
    path = BAD / "enc_utf8_bom.csv"
    limit = path.stat().st_size - 1
    for src in (path, path.read_bytes(), io.BytesIO(path.read_bytes())):
        with pytest.raises(ImportProblem) as info:
            read_table(src, "x.csv", max_bytes=limit)
        assert info.value.code == "too_large"
    assert read_table(path, max_bytes=limit + 1).frame.height == 3


def test_pipeline_refuses_over_a_small_limit(tmp_path, monkeypatch):
    """The same refusal through import_file (its reader bound to a small limit): nothing written."""
    monkeypatch.setattr(pipeline, "read_table", functools.partial(read_table, max_bytes=100))
    store = Store(tmp_path / "small.duckdb")
    try:
        before = store.content_digest()
        with pytest.raises(ImportProblem) as info:
            import_file(store, BAD / "enc_utf8_bom.csv")
        assert info.value.code == "too_large"
        assert store.content_digest() == before
        translated_everywhere("too_large", info.value.params)
    finally:
        store.close()


# ------------------------------------------------------------------------------------ command line


@pytest.mark.parametrize("row", PLAIN)
def test_command_line(row, tmp_path, large_files):
    path = source(row, large_files)
    cmd = [sys.executable, "-m", "data", "import", str(path), "--db", str(tmp_path / "cli.duckdb")]
    if row["kind"]:
        cmd += ["--kind", row["kind"]]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    if row["outcome"] == "refused":
        assert proc.returncode == 1, out
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        prefix = PROBLEMS[row["problem"]].split("{")[0]
        assert lines[0].startswith(f"{path.name}: {prefix}"), lines[0]
    else:
        assert proc.returncode == 0, out
        assert proc.stderr.strip() == "", proc.stderr
        assert f"inserted {int(row['stored']):,}" in proc.stdout and f"rejected {int(row['rejected']):,}" in proc.stdout


# ------------------------------------------------------------------------------------ downloads

DANGEROUS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tTabbed", "\rReturn", "=HYPERLINK(\"http://x\")"]
SAFE = ["Acme", "a=b", "1-2", "", None, "'quoted", "中文", "<script>alert(1)</script>"]


def _frame() -> pl.DataFrame:
    values = DANGEROUS + SAFE
    return pl.DataFrame({"text": values, "n": list(range(len(values))),
                         "amount": [-1.5] * len(values)})


def _escaped(value: str | None) -> str | None:
    if value is None or value == "":
        return value
    return "'" + value if value[0] in "=+-@\t\r" else value


def test_csv_download_escapes_formula_cells():
    from ui.export import csv_bytes

    data = csv_bytes(_frame())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))
    assert rows[0] == ["text", "n", "amount"]
    got = [r[0] for r in rows[1:]]
    want = ["" if v is None else _escaped(v) for v in DANGEROUS + SAFE]
    assert got == want
    for cell in got:
        assert not cell or cell[0] not in "=+-@\t\r", cell
    assert all(r[2] == "-1.5" for r in rows[1:]), "numbers are numbers, not escaped text"


def test_xlsx_download_escapes_formula_cells():
    import fastexcel

    from ui.export import xlsx_bytes

    data = xlsx_bytes(_frame())
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        xml = b"".join(z.read(n) for n in sheets)
    assert b"<f>" not in xml and b"<f " not in xml, "a text cell was written as a formula"
    frame = fastexcel.read_excel(data).load_sheet(0, dtypes={"text": "string"}).to_polars()
    got = frame["text"].to_list()
    want = [_escaped(v) or None for v in DANGEROUS + SAFE]
    assert got == want
    assert frame["amount"].to_list() == [-1.5] * len(got)


@pytest.mark.parametrize("dtype", [pl.Categorical, pl.Enum(sorted({v for v in DANGEROUS + SAFE if v}))],
                         ids=["categorical", "enum"])
def test_downloads_escape_categorical_text(dtype):
    """Views may hand categorical columns (stage, owner names) to the download buttons."""
    import fastexcel

    from ui.export import csv_bytes, xlsx_bytes

    values = [v for v in DANGEROUS + SAFE if v]
    frame = pl.DataFrame({"stage": values}).with_columns(pl.col("stage").cast(dtype))
    rows = list(csv.reader(io.StringIO(csv_bytes(frame)[3:].decode("utf-8"), newline="")))
    got = [r[0] for r in rows[1:]]
    assert got == [_escaped(v) for v in values], f"unescaped formula cell from a {dtype} column: {got}"
    sheet = fastexcel.read_excel(xlsx_bytes(frame)).load_sheet(0, dtypes={"stage": "string"}).to_polars()
    assert sheet["stage"].to_list() == [_escaped(v) for v in values]


def test_downloads_escape_header_cells():
    """A pivot whose columns are CRM values (rep names, stages) puts those values in the header row."""
    import fastexcel

    from ui.export import csv_bytes, xlsx_bytes

    frame = pl.DataFrame({"rep": ["a"], "=HYPERLINK(\"http://x\")": [1.0], "@SUM(A1)": [2.0],
                          "'@SUM(A1)": [3.0], "-1": [4.0], "\tx": [5.0]})
    want = ["rep", "'=HYPERLINK(\"http://x\")", "''@SUM(A1)", "'@SUM(A1)", "'-1", "'\tx"]
    header = next(csv.reader(io.StringIO(csv_bytes(frame)[3:].decode("utf-8"), newline="")))
    assert all(not cell or cell[0] not in "=+-@\t\r" for cell in header), header
    assert header == want
    sheet = fastexcel.read_excel(xlsx_bytes(frame)).load_sheet(0).to_polars()
    assert sheet.columns == want
    assert sheet.row(0) == tuple(frame.row(0)), "the values stay under their (escaped) headers"


# ------------------------------------------------------------------------------------ the Data page

APP = ROOT / "app.py"
APP_TIMEOUT = 120


@pytest.fixture
def app_session(tmp_path, monkeypatch):
    """Start AppTest sessions on a database that already has an import log (so no demo is loaded),
    with test_app.py's two AppTest workarounds: every run goes through app.py's router, and t() called
    by AppTest outside a script run uses the session's language."""
    import streamlit as st
    from streamlit.runtime import pages_manager
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.testing.v1 import AppTest

    from ui import i18n

    path = tmp_path / "app.duckdb"
    store = Store(path)
    store.record_failed("deals", "earlier.csv", None, "empty_file", "The file is empty.")
    store.close()
    monkeypatch.setenv("SALESCOPE_DB", str(path))
    cls = pages_manager.PagesManager
    original = cls.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        cls.uses_pages_directory = False

    monkeypatch.setattr(cls, "uses_pages_directory", None)
    monkeypatch.setattr(cls, "__init__", init)
    outside = ["en"]
    real = i18n.current_lang
    monkeypatch.setattr(i18n, "current_lang",
                        lambda: real() if get_script_run_ctx(suppress_warning=True) else outside[0])
    st.cache_resource.clear()
    st.cache_data.clear()

    def start(lang: str) -> AppTest:
        outside[0] = lang
        at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
        at.query_params["lang"] = lang
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        at.switch_page("pages/data.py").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        return at

    yield start
    st.cache_resource.clear()
    st.cache_data.clear()


def _problem_of(name: str) -> ImportProblem:
    with pytest.raises(ImportProblem) as info:
        pipeline.prepare((BAD / name).read_bytes(), name)
    return info.value


@pytest.mark.parametrize("name,lang", [
    ("not_pdf_renamed.csv", "zh"), ("bomb_xml_entities.xlsx", "tr"), ("empty_header_only.xlsx", "en"),
    ("xlsx_encrypted.xlsx", "zh"), ("not_binary_garbage.csv", "tr"),
])
def test_data_page_refuses_a_bad_upload_in_the_users_language(app_session, name, lang):
    at = app_session(lang)
    at.file_uploader[0].set_value((name, (BAD / name).read_bytes(), "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    problem = _problem_of(name)
    expected = problem_text(problem.code, problem.params, lang)
    errors = [e.value for e in at.error]
    assert expected in errors, errors
    if lang != "en":
        assert problem_text(problem.code, problem.params, "en") not in errors
    from ui.i18n import t

    assert not [b for b in at.button if b.label == t("data.import_btn", lang=lang)], "an Import button for a refused file"


def test_data_page_import_of_a_file_whose_rows_are_all_rejected(app_session):
    """The preview shows, the import is refused at commit time: an error in Chinese, no exception, the
    database unchanged, the failed attempt in the history."""
    from ui.i18n import t

    at = app_session("zh")
    name = "rows_all_rejected.csv"
    at.file_uploader[0].set_value((name, (BAD / name).read_bytes(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [b for b in at.button if b.label == t("data.import_btn", lang="zh")][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    reason = problem_text("nothing_imported", {"rejected": 3}, "zh")
    assert t("data.failed", lang="zh", name=name, reason=reason) in [e.value for e in at.error]
    history = [d.value for d in at.dataframe if d.editing_mode == "read_only"
               and t("data.col_file", lang="zh") in d.value.columns][0]
    assert name in set(history[t("data.col_file", lang="zh")])


@pytest.mark.parametrize("lang", ["en", "tr"])
def test_data_page_lets_the_user_choose_the_kind_when_it_is_unknown(app_session, lang):
    """The kind cannot be detected: the page says so and offers the kind; once chosen, the mapping shows
    (here no column fits a deal, so the missing fields are named and nothing can be imported yet)."""
    from ui.i18n import t

    at = app_session(lang)
    name = "hdr_unknown_columns.csv"
    at.file_uploader[0].set_value((name, (BAD / name).read_bytes(), "text/csv")).run()
    assert not at.exception
    unknown = problem_text("kind_unknown", _problem_of(name).params, lang)
    assert unknown in [e.value for e in at.error]
    pickers = [s for s in at.selectbox if s.label == t("data.kind", lang=lang)]
    assert pickers, "no way to choose the kind"
    assert pickers[0].value is None and pickers[0].placeholder == t("data.kind_choose", lang=lang)
    pickers[0].select("deals").run()
    assert not at.exception, [e.value for e in at.exception]
    assert unknown not in [e.value for e in at.error]
    assert [s.value for s in at.selectbox if s.label == t("data.kind", lang=lang)] == ["deals"]
    assert any(t("data.missing", lang=lang, fields="")[:12] in w.value for w in at.warning), [w.value for w in at.warning]
    assert not [b for b in at.button if b.label == t("data.import_btn", lang=lang)]


def test_replaced_characters_are_reported(tmp_path):
    """Invalid bytes in a mostly-UTF-8 file are kept as U+FFFD, and the user is told how many and where."""
    store = Store(tmp_path / "dec.duckdb")
    try:
        assert read_table(BAD / "enc_mixed_utf8_cp1252.csv").decode_errors == 1
        res = import_file(store, BAD / "enc_mixed_utf8_cp1252.csv")
        assert store.frame("deals").filter(pl.col("deal_id") == "D3")["name"][0] == "Caf\ufffd"
        told = [(code, params) for code, params in res.notes if code == "decode_replaced"]
        assert told == [("decode_replaced", {"count": 1, "lines": "4"})], res.notes
        for lang in LANGS:
            text = problem_text(*told[0], lang)
            assert "4" in text and "{" not in text, (lang, text)
        for name in ("enc_utf8_bom.csv", "enc_cp1252_western.csv"):    # nothing replaced: no note
            other = Store(tmp_path / f"{name}.duckdb")
            try:
                assert "decode_replaced" not in [c for c, _ in import_file(other, BAD / name).notes]
            finally:
                other.close()
    finally:
        store.close()


# ------------------------------------------------------------------------------------ refused over the demo

REFUSED = [r for r in CASES if r["outcome"] == "refused"]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    from data.demo_load import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    store = Store(path)
    load_demo(store)
    store.close()
    return path


def _fingerprint(store: Store) -> tuple:
    return tuple(sorted(store.counts().items())), store.has_demo(), store.version().split(".")[1:2]


@pytest.mark.parametrize("row", [pytest.param(r, id=r["file"]) for r in REFUSED])
def test_refused_file_leaves_the_demo_company(row, demo_db, tmp_path, large_files):
    """A refused first file must not take the demo company away (the database is unchanged)."""
    import shutil

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    store = Store(db)
    try:
        before = _fingerprint(store)
        assert before[1], "the demo company is loaded"
        with pytest.raises(ImportProblem) as info:
            import_file(store, source(row, large_files), kind=row["kind"] or None)
        assert info.value.code == row["problem"]
        assert _fingerprint(store) == before, "a refused file changed the database (the demo company is gone)"
    finally:
        store.close()


FIRST_REAL = ("Opportunity ID,Opportunity Name,Account Name,Opportunity Owner,Stage,Amount,Close Date,Created Date\n"
              "X1,First real,Horizon Components plc,Grace Liu,Discovery,1000,2024-06-30,2024-01-05\n"
              "X2,Second real,Real Customer Ltd,Real Owner,Closed Won,2500,2024-05-15,2024-02-01\n"
              "X3,Third real,Real Customer Ltd,Real Owner,,300,2024-05-15,2024-02-01\n")


def test_first_real_import_replaces_the_demo_in_its_own_transaction(demo_db, tmp_path, monkeypatch):
    """The demo company goes in the transaction that stores the first real rows: until then every other
    session sees the demo (never an empty database), and the real rows are matched against real data
    only (an owner or account that shares a demo name is a new rep or account; the pipeline is learnt
    from the file, not taken from the demo)."""
    import shutil

    db = tmp_path / "first.duckdb"
    shutil.copy(demo_db, db)
    store = Store(db)
    seen: dict[str, object] = {}
    original = Store._apply

    def spy(self, cur, w, batch_id):
        other = self.cursor()                      # another session, while the first real batch writes
        seen["demo"], seen["deals"] = self.has_demo(other), self.table_count("deals", other)
        return original(self, cur, w, batch_id)

    monkeypatch.setattr(Store, "_apply", spy)
    try:
        demo_deals = store.table_count("deals")
        res = import_file(store, FIRST_REAL.encode("utf-8"), "first.csv")
        assert seen == {"demo": True, "deals": demo_deals}, seen
        assert (res.inserted, res.rejected) == (2, 1)
        assert not store.has_demo()
        assert store.counts()["deals"] == 2 and store.counts()["activities"] == 0
        assert sorted(store.frame("reps")["rep_id"]) == ["Grace Liu", "Real Owner"]
        assert sorted(store.frame("accounts")["name"]) == ["Horizon Components plc", "Real Customer Ltd"]
        assert set(store.frame("deals")["owner_rep_id"]) <= set(store.frame("reps")["rep_id"])
        assert set(store.stages_frame()["name"]) == {"Discovery", "Closed Won"}
        assert ("owners_created", {"count": 2}) in res.notes
    finally:
        store.close()

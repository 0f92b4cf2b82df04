"""Layering and safety rules read from the source (ast), so a violation fails before it ships.

Data flows data -> metrics -> ui -> pages: metrics is pure (polars only), only data/ talks to
DuckDB and only data/store.py runs SQL, with bound parameters (never an f-string of values).
"""
from __future__ import annotations

import ast
import os
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"app", "data", "metrics", "ui", "pages", "bench", "tests"}
SKIP_DIRS = {".venv", "tests", "__pycache__", ".git", ".pytest_cache", ".hypothesis", "node_modules"}
PAGE_MAX_LINES = 150


@lru_cache(maxsize=1)
def _all_source_files() -> tuple[Path, ...]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return tuple(sorted(found))


def source_files() -> list[Path]:
    """Every Python file of the product (tests, hidden folders and the virtualenv excluded)."""
    return list(_all_source_files())


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def under(folder: str) -> list[Path]:
    return [p for p in source_files() if rel(p).startswith(folder + "/")]


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # absolute dotted module name ("data.store", "duckdb", "streamlit.testing")

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def imports_of(path: Path) -> list[Import]:
    """All imports of a file, also those inside functions; relative imports resolved to absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = rel(path).removesuffix(".py").split("/")[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(Import(node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append(Import(node.lineno, module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in {"import_module", "__import__"}
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append(Import(node.lineno, node.args[0].value))
    return out


def violations(files: list[Path], forbidden: set[str]) -> list[str]:
    return [f"{rel(p)}:{imp.line} imports {imp.module}" for p in files for imp in imports_of(p) if imp.top in forbidden]


def test_the_project_is_where_we_look():
    names = {rel(p) for p in source_files()}
    assert "app.py" in names and "data/store.py" in names
    assert under("pages") and under("ui") and under("metrics") and under("data")
    assert not any(n.startswith((".venv/", "tests/")) for n in names)


# ------------------------------------------------------------------------------------ layering


def test_metrics_is_pure():
    """metrics/ imports none of our other packages, no duckdb and no streamlit (its own modules are fine)."""
    bad = violations(under("metrics"), (OURS - {"metrics"}) | {"duckdb", "streamlit"})
    assert not bad, bad


# The benchmark's floor is hand-written DuckDB SQL by design (bench/ is measuring equipment, never
# imported by the app): it may talk to DuckDB directly; no product package may.
BENCH = "bench/"


def test_only_data_imports_duckdb():
    bad = [v for v in violations(source_files(), {"duckdb"}) if not v.startswith(("data/", BENCH))]
    assert not bad, bad


def test_the_product_never_imports_the_benchmark():
    bad = [v for v in violations(source_files(), {"bench"}) if not v.startswith(BENCH)]
    assert not bad, bad


def test_data_does_not_import_the_ui():
    bad = violations(under("data"), {"ui", "pages", "app", "streamlit"})
    assert not bad, bad


def test_ui_does_not_import_pages():
    bad = violations(under("ui"), {"pages", "app"})
    assert not bad, bad


def test_nothing_imports_a_page_or_the_router():
    """Pages are run by st.navigation, never imported; app.py is the entry point only."""
    bad = violations([p for p in source_files() if rel(p) != "app.py"], {"pages", "app"})
    assert not bad, bad


def test_no_import_of_tests():
    bad = violations(source_files(), {"tests"})
    assert not bad, bad


# ------------------------------------------------------------------------------------------ SQL

SQL_METHODS = {"execute", "executemany", "sql", "query", "from_query"}
STORE = "data/store.py"


def sql_calls(source: str) -> list[tuple[int, str]]:
    """(line, method) of every `x.execute(` / `x.sql(` / ... call."""
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_METHODS
    ]


def _is_formatted(node: ast.AST) -> bool:
    """An f-string, "..." % x, "...".format(...) or a concatenation involving one of them / a name."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            return True
        if isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            has_text = any(isinstance(s, (ast.Constant, ast.JoinedStr, ast.BinOp)) for s in sides)
            return has_text and any(not (isinstance(s, ast.Constant)) for s in sides)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
    return False


def formatted_sql(source: str) -> list[tuple[int, str]]:
    """(line, call) where a formatted string goes straight into a SQL call (or the `_pl` helper)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in SQL_METHODS | {"_pl"}:
            continue
        args = list(node.args) + [kw.value for kw in node.keywords if kw.arg in {"query", "sql"}]
        if any(_is_formatted(a) for a in args):
            found.append((node.lineno, name))
    return found


def test_the_sql_checkers_work():
    src = textwrap.dedent('''
        cur.execute(f"SELECT * FROM deals WHERE owner = '{owner}'")
        cur.sql("SELECT * FROM deals WHERE id = %s" % deal_id)
        cur.execute("SELECT {} FROM deals".format(col))
        _pl(cur, "SELECT * FROM t WHERE name = '" + name + "'")
        cur.execute(SQL["deals"]["count"])
        cur.execute("SELECT * FROM deals WHERE id = ?", [deal_id])
        cur.execute("SELECT a " "FROM b")
        cur.execute(f"SELECT 1")
    ''')
    assert formatted_sql(src) == [(2, "execute"), (3, "sql"), (4, "execute"), (5, "_pl")]
    assert [line for line, _ in sql_calls(src)] == [2, 3, 4, 6, 7, 8, 9]


def test_only_the_store_runs_sql():
    bad = [f"{rel(p)}:{line} .{m}(" for p in source_files() if rel(p) != STORE and not rel(p).startswith(BENCH)
           for line, m in sql_calls(p.read_text(encoding="utf-8"))]
    assert not bad, f"SQL runs outside {STORE}: {bad}"


@pytest.mark.parametrize("path", under("data"), ids=rel)
def test_no_formatted_sql_in_data(path):
    bad = formatted_sql(path.read_text(encoding="utf-8"))
    assert not bad, f"{rel(path)}: formatted string passed directly to SQL (bind parameters instead): {bad}"


# --------------------------------------------------------------------------------- HTML, pages


def test_no_unsafe_html():
    bad = []
    for p in source_files():
        text = p.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.keyword) and node.arg == "unsafe_allow_html":
                if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                    bad.append(f"{rel(p)}:{node.value.lineno}")
            # **{"unsafe_allow_html": True}
            if isinstance(node, ast.Dict):
                for k in node.keys:
                    if isinstance(k, ast.Constant) and k.value == "unsafe_allow_html":
                        bad.append(f"{rel(p)}:{k.lineno}")
        bad += [f"{rel(p)} (text)" for _ in re.finditer(r"unsafe_allow_html\s*=\s*True", text)]
    assert not bad, f"unsafe_allow_html outside tests: {sorted(set(bad))}"


def test_no_raw_html_components():
    """st.html and components.html render markup as is; user text must never get there."""
    bad = [
        f"{rel(p)}:{node.lineno}"
        for p in source_files()
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "html"
        and isinstance(node.func.value, ast.Name) and node.func.value.id in {"st", "components"}
    ]
    assert not bad, bad


def test_one_clock():
    """Every 'today' of the product comes from data/clock.py (`$SALESCOPE_TODAY` pins it); import
    timestamps may read the wall clock."""
    bad = [rel(p) for p in source_files() if rel(p) != "data/clock.py"
           and re.search(r"\b(date|datetime)\.today\(", p.read_text(encoding="utf-8"))]
    assert not bad, bad


@pytest.mark.parametrize("path", sorted((ROOT / "pages").glob("*.py")), ids=rel)
def test_page_files_are_short(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_MAX_LINES, f"{rel(path)} has {lines} lines (at most {PAGE_MAX_LINES}: move logic to ui/)"


def test_only_ui_cache_uses_streamlit_caching():
    """README: ui/cache.py is the only st.cache_* (decorators and clears)."""
    bad = []
    for p in source_files():
        if rel(p) == "ui/cache.py":
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"cache_data", "cache_resource", "cache",
                                                                 "experimental_memo", "experimental_singleton"}:
                if isinstance(node.value, ast.Name) and node.value.id == "st":
                    bad.append(f"{rel(p)}:{node.lineno} st.{node.attr}")
    assert not bad, bad

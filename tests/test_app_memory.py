"""The app process's memory budget: the DuckDB connection the app opens runs under a memory limit
(settable from the environment), setting values are bound, DuckDB's allocator is configured before
DuckDB loads and then really gives freed memory back, and every data cache is bounded."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
import streamlit as st

from data import connection
from data.store import CONNECTION_SETTINGS, Store
from ui import allocators, cache

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"


def mib(size: str) -> float:
    """DuckDB's report of a size ('488.2 MiB', '1.0 GiB') in MiB."""
    number, unit = size.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


# ------------------------------------------------------------------------------------ the connection
def test_store_applies_the_settings_it_is_given(tmp_path):
    store = Store(tmp_path / "s.duckdb", settings={"memory_limit": "256MB", "threads": 1,
                                                   "allocator_background_threads": True})
    try:
        got = store.connection_settings()
        assert set(got) == set(CONNECTION_SETTINGS)
        assert mib(got["memory_limit"]) == pytest.approx(256e6 / 2**20, abs=0.1)
        assert got["threads"] == "1"
        assert got["allocator_background_threads"] == "true"
    finally:
        store.close()


def test_store_without_settings_keeps_duckdbs_defaults(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    try:
        assert mib(store.connection_settings()["memory_limit"]) > 1024     # 80% of the machine's RAM
    finally:
        store.close()


def test_store_refuses_a_setting_outside_its_list(tmp_path):
    with pytest.raises(ValueError, match="enable_external_access"):
        Store(tmp_path / "s.duckdb", settings={"enable_external_access": True})
    assert not (tmp_path / "s.duckdb").exists()


def test_setting_values_are_bound_not_spliced_into_sql(tmp_path):
    with pytest.raises(duckdb.Error):
        Store(tmp_path / "s.duckdb", settings={"memory_limit": "1GB'; CREATE TABLE pwned(x INT); --"})
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    try:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'pwned'").fetchall() == [(0,)]
    finally:
        con.close()


# ------------------------------------------------------------------------------------ the app's store
@pytest.fixture
def app_db(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESCOPE_DB", str(tmp_path / "app.duckdb"))
    monkeypatch.delenv("SALESCOPE_DB_MEMORY", raising=False)
    monkeypatch.delenv("SALESCOPE_DB_THREADS", raising=False)
    st.cache_resource.clear()
    yield tmp_path / "app.duckdb"
    cache.store().close()
    st.cache_resource.clear()


def test_the_apps_store_runs_under_the_memory_limit(app_db):
    got = cache.store().connection_settings()
    assert connection.DB_MEMORY_LIMIT == "320MB"
    assert mib(got["memory_limit"]) == pytest.approx(320e6 / 2**20, abs=0.1)
    assert got["allocator_background_threads"] == "true"
    assert got["temp_directory"] == str(app_db) + ".tmp"     # beyond the limit DuckDB spills beside the file
    assert cache.store().path == app_db


def test_the_apps_limit_and_threads_come_from_the_environment(app_db, monkeypatch):
    monkeypatch.setenv("SALESCOPE_DB_MEMORY", "1GB")
    monkeypatch.setenv("SALESCOPE_DB_THREADS", "1")
    got = cache.store().connection_settings()
    assert mib(got["memory_limit"]) == pytest.approx(1e9 / 2**20, abs=0.1)
    assert got["threads"] == "1"


def test_db_settings_defaults_and_overrides():
    assert connection.db_settings({}) == {"memory_limit": "320MB", "threads": None, "allocator_background_threads": True}
    assert connection.db_settings({"SALESCOPE_DB_MEMORY": " 2GB ", "SALESCOPE_DB_THREADS": "3"}) == {
        "memory_limit": "2GB", "threads": 3, "allocator_background_threads": True}
    assert connection.db_settings({"SALESCOPE_DB_MEMORY": "", "SALESCOPE_DB_THREADS": " "})["memory_limit"] == "320MB"
    for bad in ("two", "0", "-1", "1.5"):
        with pytest.raises(ValueError, match="SALESCOPE_DB_THREADS"):
            connection.db_settings({"SALESCOPE_DB_THREADS": bad})


# ------------------------------------------------------------------------------------ the allocator
def test_configure_sets_only_what_the_environment_lacks():
    env: dict[str, str] = {}
    assert allocators.configure(env) == allocators.ALLOCATOR_ENV
    assert env == allocators.ALLOCATOR_ENV
    mine = {"DUCKDB_JE_MALLOC_CONF": "dirty_decay_ms:5000"}
    assert allocators.configure(mine) == {}
    assert mine == {"DUCKDB_JE_MALLOC_CONF": "dirty_decay_ms:5000"}


def test_app_configures_the_allocator_before_anything_loads_duckdb():
    """app.py calls allocators.configure() before any import other than the standard library's and
    ui.allocators, and Streamlit's server has not loaded DuckDB or polars before app.py runs."""
    tree = ast.parse(APP.read_text(encoding="utf-8"))
    call = next(n.lineno for n in tree.body if isinstance(n, ast.Expr) and ast.unparse(n.value) == "allocators.configure()")
    before = [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) and n.lineno < call]
    assert before == ["from __future__ import annotations", "import logging", "from pathlib import Path",
                      "from ui import allocators"]
    out = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys
        import streamlit.web.bootstrap, streamlit.web.server.server, streamlit.runtime.scriptrunner
        import ui.allocators
        print(sorted(m for m in ("duckdb", "polars") if m in sys.modules))
    """)], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


_WORKLOAD = """
import sys, time
if sys.argv[1] == "configured":
    from ui import allocators
    allocators.configure()
import duckdb
import polars  # noqa: F401  (.pl() hands the results to polars, as the views do)

def rss():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024

con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("CREATE TABLE t AS SELECT i, 'name-' || (i % 50000)::VARCHAR AS s, i * 1.5 AS x, (i % 97)::INT AS k "
            "FROM range(3000000) t(i)")
base = rss()
frames = [con.sql("SELECT k, s, sum(x) AS x, count(*) AS n FROM t GROUP BY ALL").pl() for _ in range(2)]
frames += [con.sql("SELECT * FROM t WHERE k < 60 ORDER BY s, i").pl() for _ in range(2)]
del frames
time.sleep(3)
print(round(rss() - base))
"""


def _kept_mb(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "DUCKDB_JE_MALLOC_CONF"}
    out = subprocess.run([sys.executable, "-c", _WORKLOAD, mode], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=300)
    return int(out.stdout.strip().splitlines()[-1])


def test_duckdb_gives_freed_result_memory_back_once_configured():
    """Results handed out of DuckDB (as the views' frames are) and dropped: with the app's allocator
    setting the process keeps little of them; without it, DuckDB's jemalloc keeps hundreds of MB
    (measured 55 MB configured; 175-445 MB without, depending on the machine's load)."""
    configured, default = _kept_mb("configured"), _kept_mb("default")
    assert configured < 120, (configured, default)
    assert default > configured + 60, (configured, default)


# ------------------------------------------------------------------------------------ the caches
def _cache_decorators() -> dict[str, dict[str, object]]:
    """{function: decorator keywords} of every @st.cache_data in ui/cache.py (names resolved)."""
    tree = ast.parse((ROOT / "ui" / "cache.py").read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "st.cache_data":
                out[node.name] = {kw.arg: (getattr(cache, kw.value.id) if isinstance(kw.value, ast.Name)
                                           else ast.literal_eval(kw.value)) for kw in dec.keywords}
            elif ast.unparse(dec) == "st.cache_data":
                out[node.name] = {}
    return out


def test_every_data_cache_is_bounded():
    found = _cache_decorators()
    assert {"_view", "_prepare_upload", "dimensions", "imports"} <= set(found)
    unbounded = [name for name, kw in found.items() if not isinstance(kw.get("max_entries"), int)]
    assert not unbounded, f"st.cache_data without max_entries: {unbounded}"
    assert all(kw["max_entries"] <= 32 for kw in found.values()), found
    # the two that hold big values: view results (tens of MB at 1M deals) and read uploads (the whole file)
    assert found["_view"] == {"max_entries": 32, "ttl": 3600, "show_spinner": False}
    assert found["_prepare_upload"] == {"max_entries": 3, "ttl": 900, "show_spinner": False}


def test_no_cache_holds_a_whole_table():
    """Pages get views and aggregates; a cached copy of a whole canonical table (10M activities at the
    1m scale) is what the app must never hold."""
    assert not hasattr(cache, "table")
    cached = _cache_decorators()
    calls = [f"{fn.name}: {ast.unparse(call)}"
             for fn in ast.parse((ROOT / "ui" / "cache.py").read_text(encoding="utf-8")).body
             if isinstance(fn, ast.FunctionDef) and fn.name in cached
             for call in ast.walk(fn) if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
             and call.func.attr == "frame"]
    assert not calls, calls

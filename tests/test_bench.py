"""Smoke test of the benchmark: `python -m bench --scale small --json FILE` runs every op end to end,
the SQL floor and the pandas peer agree with each view's headline numbers, and the JSON has the
documented shape. No timing is asserted (timings belong to the report, not to CI).

The small data set (20k deals) is generated on the first run and cached in bench/.cache/small/.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from data.connection import db_settings

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = ("import_", "view_", "page_", "start_")
KEYS = ("op", "salescope_s", "floor_s", "pandas_s", "peak_rss_mb")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path_factory.mktemp("bench") / "small.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--scale", "small", "--runs", "1", "--json", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    doc = json.loads(out.read_text()) if out.exists() else {}
    return proc, doc


pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_bench_runs_and_every_view_agrees(bench_run):
    proc, doc = bench_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "agreement" in proc.stdout and "all agree" in proc.stdout, proc.stdout[-3000:]
    errors = [r for r in doc["results"] if "error" in r]
    assert not errors, errors


def test_the_json_has_the_documented_shape(bench_run):
    _, doc = bench_run
    assert doc["scale"] == "small"
    assert isinstance(doc["machine"], dict) and doc["machine"].get("cpus")
    results = doc["results"]
    assert results and all(set(KEYS) <= set(r) for r in results), [r for r in results if not set(KEYS) <= set(r)]
    assert all(r["op"].startswith(PREFIXES) for r in results)
    for r in results:
        for key in KEYS[1:]:
            assert r[key] is None or (isinstance(r[key], (int, float)) and r[key] >= 0), (r["op"], key, r[key])
    ops = {r["op"] for r in results}
    assert {"import_deals_csv", "import_stage_history_csv", "import_activities_csv", "import_deals_xlsx",
            "page_rerun_cached", "page_rerun_trivial", "start_app", "start_trivial"} <= ops
    for view in ("overview", "funnel", "leaderboard", "customers", "forecast", "history"):
        if (ROOT / "ui" / "views" / f"{view}.py").exists():
            assert {f"view_{view}_all", f"view_{view}_q_team", f"view_{view}_quarter"} <= ops


def test_every_op_is_compared_with_its_reference(bench_run):
    _, doc = bench_run
    by_op = {r["op"]: r for r in doc["results"]}
    for op, r in by_op.items():
        if op.startswith("import_"):
            assert r["salescope_s"] and r["floor_s"] and r["pandas_s"], op
            assert r["result"]["rejected"] == 0 and r["result"]["inserted"] == r["rows"], (op, r["result"])
        if op.startswith("view_") and op.split("_")[1] in ("overview", "funnel", "leaderboard", "customers",
                                                            "forecast", "history"):
            assert r["floor_s"] and r["pandas_s"] and r["agree"] is True, (op, r.get("floor_differences"),
                                                                           r.get("pandas_differences"))
    # the views run under the app's DuckDB limit, their floor and peer under DuckDB's default (README, Memory)
    def limit(**config) -> str:
        with duckdb.connect(config=config) as con:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    app_limit, default = limit(memory_limit=db_settings()["memory_limit"]), limit()
    assert app_limit != default
    for op, r in by_op.items():
        if op.startswith("view_") and r.get("floor_s"):
            assert r["duckdb_memory_limit"] == {"salescope": app_limit, "reference": default}, op
    assert by_op["page_rerun_cached"]["floor_s"] == by_op["page_rerun_trivial"]["salescope_s"]
    if by_op["start_app"].get("salescope_s") is not None:
        assert by_op["start_app"]["floor_s"] == by_op["start_trivial"]["salescope_s"]


def test_the_trivial_app_imports_what_app_py_imports_up_front():
    """start_app is compared with a one-line app importing the same libraries: every third-party
    module app.py imports at its top level is imported by the trivial app too, and nothing the app
    does not load."""
    import ast

    from bench.app_timing import TRIVIAL

    def modules(source: str) -> set[str]:
        found = set()
        for node in ast.parse(source).body:
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
        return found

    ours = {"app", "bench", "data", "metrics", "pages", "tests", "ui", "__future__"} | set(sys.stdlib_module_names)
    app_libs = modules((ROOT / "app.py").read_text()) - ours
    trivial_libs = modules(TRIVIAL) - ours
    assert app_libs and app_libs <= trivial_libs, (app_libs, trivial_libs)
    # the others are what the first page loads through ui/ and data/ (DuckDB, polars, plotly, numpy, pyarrow)
    assert trivial_libs - app_libs <= {"duckdb", "numpy", "plotly", "polars", "pyarrow"}

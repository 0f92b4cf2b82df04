"""The timed operations. Each runs inside a fresh worker process (bench.worker), so its peak RSS is
its own and no cache or allocator state leaks from one op into the next.

Imports: `data.ingest.pipeline.import_file` (what the Data page and `python -m data import` run)
into a fresh copy of the store the upload needs (see bench.dbs), against DuckDB's COPY with the
file's schema, read_csv_auto, and pandas `read_csv` (or `read_excel`) + a DuckDB table.
Views: `ui.views.<name>.compute(store, filters)` uncached (one warm-up run, then `runs` timed), against
the SQL floor (bench.floor) and the pandas peer (bench.pandas_peer), with the agreement check.
"""
from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path
from typing import Any

from bench import dbs, headline, measure
from bench.generate import COLUMN_TYPES, FLOOR_TABLE, XLSX, cache_dir, load_meta
from ui.filters import Filters, period_for

VIEW_NAMES: tuple[str, ...] = ("overview", "funnel", "leaderboard", "customers", "forecast", "history")
FILTERS: tuple[str, ...] = ("all", "q_team", "quarter")
Q_TEAM = "Shanghai"           # the biggest team of the demo company

IMPORTS: dict[str, dict[str, str]] = {
    "import_deals_csv": {"file": "deals.csv", "prereq": "base", "produces": "deals"},
    "import_stage_history_csv": {"file": "stage_history.csv", "prereq": "deals", "produces": "history"},
    "import_activities_csv": {"file": "activities.csv", "prereq": "history", "produces": "activities"},
    "import_deals_xlsx": {"file": XLSX, "prereq": "base", "produces": ""},
}


def filters(kind: str, as_of: date) -> Filters:
    """`all`: all time; `q_team`: the quarter of as_of (the app's default period), one team; `quarter`:
    the quarter of as_of, every team (what the app opens on)."""
    if kind == "all":
        return Filters("all_time", None, None, as_of=as_of)
    start, end = period_for("this_quarter", as_of)
    if kind == "quarter":
        return Filters("this_quarter", start, end, as_of=as_of)
    if kind != "q_team":
        raise ValueError(f"unknown filter: {kind!r}")
    return Filters("this_quarter", start, end, teams=(Q_TEAM,), as_of=as_of)


def available_views() -> list[str]:
    """The views of the task that exist in ui/views/ (history only if someone wrote it)."""
    root = Path(__file__).resolve().parents[1] / "ui" / "views"
    return [v for v in VIEW_NAMES if (root / f"{v}.py").exists()]


def _work(scale: str) -> Path:
    folder = cache_dir(scale) / "work"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------------------------------- imports
def _pandas_csv(path: Path, columns: dict[str, str]):
    import pandas as pd

    dates = [c for c, t in columns.items() if t in ("DATE", "TIMESTAMP")]
    return pd.read_csv(path, parse_dates=dates)


def run_import(op: str, scale: str, runs: int, **_: Any) -> dict[str, Any]:
    from data.ingest import read as rd
    from data.connection import db_settings
    from data.ingest.pipeline import import_file
    from data.store import Store
    from bench import sql

    spec = IMPORTS[op]
    path = cache_dir(scale) / spec["file"]
    size = path.stat().st_size
    over_limit = size > rd.DEFAULT_MAX_BYTES
    limit = dbs.lift_upload_limit()
    src = dbs.build(scale, spec["prereq"])
    work = _work(scale)
    db = work / f"{op}.duckdb"

    def setup() -> Store:
        dbs.remove(db)
        dbs.copy(src, db)
        return Store(db, settings=db_settings())       # as the Data page opens it

    as_of = load_meta(scale).as_of_date
    t = measure.timed(lambda store: import_file(store, path, as_of=as_of), runs, setup=setup,
                      teardown=lambda s: s.close())
    res = t.result
    if spec["produces"]:
        dbs.keep_result(scale, spec["produces"], db)
    dbs.remove(db)

    floor_db = work / "floor.duckdb"
    if path.suffix == ".csv":
        columns = COLUMN_TYPES[spec["file"]]
        table = FLOOR_TABLE[spec["file"]]
        tf = measure.timed(lambda: sql.copy_csv(floor_db, path, table, columns), runs)
        ta = measure.timed(lambda: sql.auto_csv(floor_db, path, table), runs)
        tp = measure.timed(lambda: sql.store_frame(floor_db, table, _pandas_csv(path, columns)), runs)
        floor_rows = tf.result
        floor_how = "DuckDB COPY FROM (HEADER, explicit column types); floor_auto: read_csv_auto"
    else:
        import pandas as pd
        import polars as pl

        tf = measure.timed(lambda: sql.store_frame(floor_db, "deals", pl.read_excel(path, engine="calamine")), runs)
        ta = None
        tp = measure.timed(lambda: sql.store_frame(floor_db, "deals", pd.read_excel(path)), runs)
        floor_rows = tf.result
        floor_how = "calamine (fastexcel) into Arrow, then a DuckDB table (DuckDB 2.0 has no offline excel extension)"
    dbs.remove(floor_db)
    return {
        "op": op, "salescope_s": t.median, "floor_s": tf.median, "pandas_s": tp.median, "peak_rss_mb": t.peak,
        "floor_auto_s": ta.median if ta else None, "first_s": t.first, "runs": runs,
        "salescope_cpu_s": t.cpu_median, "floor_cpu_s": tf.cpu_median, "pandas_cpu_s": tp.cpu_median,
        "times": t.times, "baseline_rss_mb": t.baseline_mb, "peak_reset": t.peak_reset,
        "floor_peak_rss_mb": tf.peak, "pandas_peak_rss_mb": tp.peak,
        "rows": floor_rows, "file_mb": round(size / 2**20, 1), "over_upload_limit": over_limit,
        "upload_limit_mb": limit // 2**20,
        "result": {"rows_read": res.rows_read, "inserted": res.inserted, "updated": res.updated,
                   "unchanged": res.unchanged, "rejected": res.rejected, "skipped": res.skipped},
        "floor": floor_how,
    }


# ---------------------------------------------------------------------------------------------- views
def _profile(fn, out: Path) -> str | None:
    """One extra run under pyinstrument (when installed); the text report goes to `out`."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return None
    prof = Profiler(interval=0.001)
    prof.start()
    fn()
    prof.stop()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(prof.output_text(unicode=True, color=False, show_all=False))
    return str(out)


def _memory_limit(cur: Any) -> str:
    """DuckDB's memory limit where `cur` runs, as DuckDB prints it (e.g. '305.1 MiB')."""
    return cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def run_view(op: str, scale: str, runs: int, view: str, filter: str, profile: bool = False, **_: Any) -> dict[str, Any]:
    from bench import floor, pandas_peer
    from data.connection import db_settings
    from data.store import Store

    meta = load_meta(scale)
    f = filters(filter, meta.as_of_date)
    store = Store(dbs.build(scale, "full"), settings=db_settings())     # as the app opens it
    module = importlib.import_module(f"ui.views.{view}")
    t = measure.timed(lambda: module.compute(store, f), runs, warmup=1)
    out: dict[str, Any] = {
        "op": op, "salescope_s": t.median, "floor_s": None, "pandas_s": None, "peak_rss_mb": t.peak,
        "first_s": t.first, "runs": runs, "times": t.times, "baseline_rss_mb": t.baseline_mb,
        "peak_reset": t.peak_reset, "filter": repr(f), "salescope_cpu_s": t.cpu_median,
    }
    if profile:
        out["profile"] = _profile(lambda: module.compute(store, f), cache_dir(scale) / "profiles" / f"{op}.txt")
    if view in floor.QUERIES:
        ours = headline.of_view(view, t.result)
        cur = store.cursor()
        # the floor and the peer run as DuckDB runs by itself (its default memory limit, as the imports'
        # floor on its own connection), not under the app's limit: a tighter one slows the peer's reads
        # (History 17.8 -> 23 s under 320MB) and the floor's funnel needs more than 256MB at 1M deals.
        # The setting is the database's, so it holds for the peer's cursors too; the store closes after.
        limits = {"salescope": _memory_limit(cur)}
        cur.execute("RESET memory_limit")
        limits["reference"] = _memory_limit(cur)
        tf = measure.timed(lambda: floor.compute(view, cur, f), runs, warmup=1)
        tp = measure.timed(lambda: pandas_peer.compute(view, store.cursor(), f), runs, warmup=1)
        floor_diff = headline.differences(ours, tf.result)
        pandas_diff = headline.differences(ours, tp.result)
        out.update({
            "floor_s": tf.median, "pandas_s": tp.median, "floor_peak_rss_mb": tf.peak, "duckdb_memory_limit": limits,
            "pandas_peak_rss_mb": tp.peak, "agree": not floor_diff and not pandas_diff,
            "floor_cpu_s": tf.cpu_median, "pandas_cpu_s": tp.cpu_median,
            "floor_differences": floor_diff, "pandas_differences": pandas_diff,
            "headline": headline.brief(ours),
        })
    store.close()
    return out

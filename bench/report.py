"""The printed table: times, ratios against the floor and the peer, peak memory and the targets of
the "Speed at a million deals" issue (no assertion: a missed target is reported, not failed)."""
from __future__ import annotations

import math
import os
import platform
from typing import Any

TARGETS = {
    "import_vs_copy": 1.5,          # import ≤ 1.5× DuckDB COPY
    "import_peak_mb": 1024,         # < 1 GB peak for 10M activities
    "view_vs_floor": 1.5,           # every view uncached ≤ 1.5× its SQL floor
    "view_vs_pandas": 3.0,          # ≥ 3× faster than pandas ...
    "view_vs_pandas_geomean": 10.0,  # ... 10× geometric mean
    "rerun_vs_trivial": 25.0,       # cached re-run ≤ 25× a trivial app's
    "start_vs_trivial": 1.5,        # first page ≤ 1.5× a trivial app's cold start
    "app_peak_mb": 1024,            # app peak memory < 1 GB
    "growth": 60.0,                 # small -> 1m ≤ 60× per view
}


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    versions = {}
    for mod in ("duckdb", "polars", "pandas", "streamlit", "pyarrow"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            versions[mod] = None
    return {"load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cpus": os.cpu_count(), "mem_gb": round(mem / 2**20, 1), "versions": versions}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def checks(row: dict[str, Any], small: dict[str, dict[str, Any]] | None = None) -> list[tuple[str, bool]]:
    """(description, met) for every target that applies to a result row."""
    op = row["op"]
    ours, floor, peer, peak = row.get("salescope_s"), row.get("floor_s"), row.get("pandas_s"), row.get("peak_rss_mb")
    out: list[tuple[str, bool]] = []
    if ours is None:
        return out
    if op.startswith("import_") and floor:
        out.append((f"≤{TARGETS['import_vs_copy']}× COPY", ours / floor <= TARGETS["import_vs_copy"]))
        if op == "import_activities_csv" and peak is not None:
            out.append(("<1 GB", peak < TARGETS["import_peak_mb"]))
    elif op.startswith("view_"):
        if floor:
            out.append((f"≤{TARGETS['view_vs_floor']}× floor", ours / floor <= TARGETS["view_vs_floor"]))
        if peer:
            out.append((f"≥{TARGETS['view_vs_pandas']:.0f}× pandas", peer / ours >= TARGETS["view_vs_pandas"]))
        if row.get("agree") is False:
            out.append(("agrees", False))
        if small and op in small and small[op].get("salescope_s"):
            out.append((f"growth ≤{TARGETS['growth']:.0f}×", ours / small[op]["salescope_s"] <= TARGETS["growth"]))
    elif op == "page_rerun_cached" and floor:
        out.append((f"≤{TARGETS['rerun_vs_trivial']:.0f}× trivial", ours / floor <= TARGETS["rerun_vs_trivial"]))
    elif op == "start_app":
        if floor:
            out.append((f"≤{TARGETS['start_vs_trivial']}× trivial", ours / floor <= TARGETS["start_vs_trivial"]))
        peaks = [p for p in (peak, row.get("tour_peak_rss_mb")) if p is not None]
        if peaks:
            out.append(("app <1 GB", max(peaks) < TARGETS["app_peak_mb"]))
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def _x(x: float | None) -> str:
    return "–" if x is None else (f"{x:.1f}×" if x < 100 else f"{x:,.0f}×")


def table(results: list[dict[str, Any]], small: dict[str, dict[str, Any]] | None = None) -> str:
    head = ["op", "salescope s", "floor s", "÷ floor", "pandas s", "pandas ÷", "peak MB", "growth", "targets"]
    rows = [head]
    for r in results:
        if "error" in r:
            rows.append([r["op"], "ERROR", "", "", "", "", "", "", r["error"][:70]])
            continue
        ours = r.get("salescope_s")
        grow = None
        if small and r["op"] in small and small[r["op"]].get("salescope_s") and ours:
            grow = ours / small[r["op"]]["salescope_s"]
        marks = " ".join(("✓ " if ok else "✗ ") + what for what, ok in checks(r, small))
        rows.append([r["op"], _fmt(ours), _fmt(r.get("floor_s")), _x(_ratio(ours, r.get("floor_s"))),
                     _fmt(r.get("pandas_s")), _x(_ratio(r.get("pandas_s"), ours)), _fmt(r.get("peak_rss_mb"), 0),
                     _x(grow), marks])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = []
    for i, row in enumerate(rows):
        cells = [str(c).ljust(w) if j in (0, len(head) - 1) else str(c).rjust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: list[dict[str, Any]]) -> list[str]:
    """Lines under the table: the pandas geometric mean, agreement, notes on over-limit files."""
    out = []
    speedups = [r["pandas_s"] / r["salescope_s"] for r in results
                if r["op"].startswith("view_") and r.get("pandas_s") and r.get("salescope_s")]
    if speedups:
        g = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
        ok = "✓" if g >= TARGETS["view_vs_pandas_geomean"] else "✗"
        out.append(f"views vs pandas, geometric mean: {g:.2f}× faster ({ok} target ≥{TARGETS['view_vs_pandas_geomean']:.0f}×)")
    bad = [r["op"] for r in results if r.get("agree") is False]
    checked = [r["op"] for r in results if "agree" in r]
    if checked:
        out.append("agreement (floor and pandas vs the view's headline numbers, 1e-6 relative): "
                   + ("all agree" if not bad else "DISAGREE: " + ", ".join(bad)))
    for r in results:
        if r.get("over_upload_limit"):
            out.append(f"{r['op']}: the file ({r['file_mb']:.0f} MB) is over the product's {r['upload_limit_mb']} MB "
                       "upload limit; the bench lifted it to measure the import")
        if r.get("tour_s") is not None:
            out.append(f"{r['op']}: tour of {', '.join(r['tour_pages'])} after the first page {r['tour_s']:.1f}s, "
                       f"server peak {r['tour_peak_rss_mb']:.0f} MB")
            pages = {k: v for k, v in (r.get("tour_page_peaks_mb") or {}).items() if v is not None}
            if pages:
                out.append(f"{r['op']}: each page's own server peak (MB): "
                           + ", ".join(f"{k} {v:.0f}" for k, v in pages.items()))
        if r["op"] == "page_rerun_cached" and r.get("first_page_run_s") is not None:
            out.append(f"page_rerun_cached: first AppTest run {r['first_page_run_s']:.2f}s, "
                       f"first switch to another period (uncached) {r['first_switch_s']:.2f}s")
    return out

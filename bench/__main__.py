"""python -m bench [--scale small|1m] [--json FILE] [--only PREFIX]... [--runs N]

Generates (once, cached in bench/.cache/<scale>/) a seeded CRM export of the scale, then times every
op in its own worker process and prints a table against the floors, the pandas peer and the targets.
Exit status 1 when an op failed or a view's headline numbers disagree with its floor or peer;
timings never fail the run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench import dbs, generate, report
from bench.generate import SCALES, cache_dir
from bench.ops import FILTERS, IMPORTS, available_views
from bench.worker import MARK

ROOT = Path(__file__).resolve().parents[1]


def plan(scale: str, runs: int, profile: bool, timeout: float) -> list[dict]:
    """Every op of the benchmark, in run order."""
    specs: list[dict] = [{"kind": "import", "op": op, "scale": scale, "runs": runs} for op in IMPORTS]
    for view in available_views():
        for fk in FILTERS:
            specs.append({"kind": "view", "op": f"view_{view}_{fk}", "scale": scale, "runs": runs, "view": view,
                          "filter": fk, "profile": profile})
    specs += [
        {"kind": "page", "op": "page_rerun_trivial", "scale": scale, "runs": max(runs, 5), "app": "trivial"},
        {"kind": "page", "op": "page_rerun_cached", "scale": scale, "runs": max(runs, 5), "app": "app",
         "timeout": timeout},
        {"kind": "start", "op": "start_trivial", "scale": scale, "runs": runs, "app": "trivial", "timeout": timeout},
        {"kind": "start", "op": "start_app", "scale": scale, "runs": runs, "app": "app", "timeout": timeout},
    ]
    return specs


def run_worker(spec: dict, log_dir: Path, timeout: float) -> dict:
    log = log_dir / f"{spec['op']}.log"
    with log.open("w") as err:
        try:
            proc = subprocess.run([sys.executable, "-m", "bench.worker", json.dumps(spec)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=err, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"op": spec["op"], "error": f"timed out after {timeout:.0f}s (log: {log})"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = log.read_text(errors="replace")[-1500:]
    return {"op": spec["op"], "error": f"worker exited {proc.returncode} without a result: {tail}"}


def _build_full(scale: str, log_dir: Path, timeout: float) -> None:
    """The views' database, built in a worker (at 1m the imports need several GB)."""
    if dbs.exists(scale, "full"):
        return
    code = f"from bench import dbs; dbs.build({scale!r}, 'full')"
    with (log_dir / "build.log").open("w") as err:
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, stdout=err, stderr=err, timeout=timeout)


def _saved(path: Path, as_of: str) -> dict[str, dict]:
    """The results kept from earlier runs on the same data (op -> row)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if doc.get("data", {}).get("as_of") != as_of:
        return {}
    return {r["op"]: r for r in doc.get("results", [])}


def _doc(args: argparse.Namespace, meta: generate.Meta, results: list[dict], t_start: float,
         partial: bool = False) -> dict:
    doc = {"scale": args.scale, "machine": report.machine(), "results": results,
           "data": {"as_of": meta.as_of, "seed": meta.seed, "rows": meta.rows, "bytes": meta.bytes},
           "targets": report.TARGETS, "runs": args.runs, "wall_s": round(time.perf_counter() - t_start, 1)}
    if partial:
        doc["partial"] = True
    return doc


def _write(path: Path, doc: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str))
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", choices=list(SCALES), default="small")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    ap.add_argument("--only", action="append", default=[], metavar="PREFIX",
                    help="run only ops whose name starts with PREFIX (repeatable)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per op; the median is reported (default 3)")
    ap.add_argument("--as-of", type=date.fromisoformat, help="as-of date of the generated data "
                    "(default: the cached data's, else today)")
    ap.add_argument("--profile", action="store_true", help="also profile each view with pyinstrument (if installed)")
    ap.add_argument("--fresh-db", action="store_true", help="rebuild the cached databases (after product changes "
                    "to the import path)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per op (default 3600)")
    ap.add_argument("--resume", action="store_true", help="keep the saved results of ops that already ran on "
                    "this data (after an interrupted run) and run only the others")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    t_start = time.perf_counter()
    meta = generate.ensure(args.scale, as_of=args.as_of)
    folder = cache_dir(args.scale)
    if args.fresh_db:
        for db in folder.glob("*.duckdb*"):
            db.unlink()
    log_dir = folder / "logs"
    log_dir.mkdir(exist_ok=True)
    specs = [s for s in plan(args.scale, args.runs, args.profile, args.timeout)
             if not args.only or any(s["op"].startswith(p) for p in args.only)]
    if not specs:
        ap.error(f"no op starts with {', '.join(args.only)}")
    print(f"Salescope bench, scale {args.scale}: {meta.rows['deals.csv']:,} deals, "
          f"{meta.rows['stage_history.csv']:,} stage rows, {meta.rows['activities.csv']:,} activities "
          f"(as of {meta.as_of}, seed {meta.seed}); {len(specs)} ops, {args.runs} runs each", flush=True)
    saved_path = folder / "results.json"
    saved = _saved(saved_path, meta.as_of)
    results: list[dict] = []
    for spec in specs:
        if args.resume and spec["op"] in saved and "error" not in saved[spec["op"]]:
            print(f"  {spec['op']:<28} (kept from the previous run)", flush=True)
            results.append(saved[spec["op"]])
            continue
        t0 = time.perf_counter()
        if spec["kind"] != "import":       # after the imports, which leave most steps' databases behind
            _build_full(args.scale, log_dir, args.timeout)
        load_before = os.getloadavg()[0]
        row = run_worker(spec, log_dir, args.timeout)
        row["load_avg"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]   # 1-min load, before / after
        status = row.get("error") or (f"{row['salescope_s']:.3f}s" if row.get("salescope_s") is not None
                                      else row.get("skipped", "–"))
        print(f"  {spec['op']:<28} {status}  ({time.perf_counter() - t0:.0f}s)", flush=True)
        results.append(row)
        saved[row["op"]] = row             # saved after every op: an interrupted run can --resume
        _write(saved_path, _doc(args, meta, list(saved.values()), t_start, partial=True))

    by_op = {r["op"]: r for r in results}
    for ours, trivial in (("page_rerun_cached", "page_rerun_trivial"), ("start_app", "start_trivial")):
        if ours in by_op and trivial in by_op and "error" not in by_op[ours]:
            by_op[ours]["floor_s"] = by_op[trivial].get("salescope_s")
    doc = _doc(args, meta, results, t_start)
    saved.update(by_op)
    _write(saved_path, {**doc, "results": list(saved.values())})
    if args.json:
        _write(args.json, doc)

    small = None
    other = cache_dir("small") / "results.json"
    if args.scale != "small" and other.exists():
        small = {r["op"]: r for r in json.loads(other.read_text())["results"]}
    print()
    print(report.table(results, small))
    print()
    for line in report.summary(results):
        print(line)
    print(f"\nwall time {doc['wall_s']:.0f}s; results in {saved_path}")
    failed = [r["op"] for r in results if "error" in r or r.get("agree") is False]
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

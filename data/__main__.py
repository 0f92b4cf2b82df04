"""Salescope's command line (also what scheduled jobs use).

    python -m data demo   [--db PATH] [--seed N] [--as-of DATE]
    python -m data import FILE... [--db PATH] [--kind KIND] [--map SRC=DST]... [--set FIELD=VALUE]...
                          [--dayfirst | --monthfirst] [--as-of DATE] [--sheet NAME] [--json]
    python -m data undo   BATCH_ID [--db PATH]
    python -m data report [--db PATH] [--from DATE] [--to DATE] [--as-of DATE] [--json]
                          [--from-snapshot DATE] [--to-snapshot DATE] [--html FILE] [--lang en|zh|tr]

Exit status: 0 when the work was done (an import with rejected rows, or unchanged, counts as done),
1 when it could not be (one clear line on stderr, never a traceback), 2 for a wrong command line.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Sequence

from data import clock
from data.ingest.problems import ImportProblem


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (use YYYY-MM-DD): {text!r}") from exc


def _pairs(items: Sequence[str] | None, flag: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            parser.error(f"{flag} takes SOURCE=TARGET, got {item!r}")
        src, dst = item.split("=", 1)
        out[src.strip()] = dst.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data", description="Salescope data: import, demo, undo, report.")
    sub = p.add_subparsers(dest="command", required=True)
    db_help = "database file (default: $SALESCOPE_DB or data/salescope.duckdb)"

    d = sub.add_parser("demo", help="load the seeded demo company (replaces the demo data if present)")
    d.add_argument("--db", help=db_help)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--as-of", type=_date, help="the demo's 'today' (default: today)")

    i = sub.add_parser("import", help="import CRM files (CSV or XLSX)")
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument("--db", help=db_help)
    i.add_argument("--kind", help="deals, leads, stage_history, activities, accounts, reps or targets (default: detected)")
    i.add_argument("--map", action="append", metavar="SRC=DST", help="map column SRC to field DST (DST empty: ignore)")
    i.add_argument("--set", action="append", metavar="FIELD=VALUE", help="give FIELD this value on every row")
    order = i.add_mutually_exclusive_group()
    order.add_argument("--dayfirst", action="store_true", default=None, help="read ambiguous dates as day/month")
    order.add_argument("--monthfirst", action="store_true", help="read ambiguous dates as month/day")
    i.add_argument("--as-of", type=_date, help="snapshot date of a deals file (default: the file's own, else today)")
    i.add_argument("--sheet", help="sheet of an XLSX file (default: the first non-empty one)")
    i.add_argument("--json", action="store_true", help="print one JSON object per file, in a list")

    u = sub.add_parser("undo", help="restore the database to its state before a batch")
    u.add_argument("batch_id", type=int)
    u.add_argument("--db", help=db_help)

    r = sub.add_parser("report", help="what is loaded and the headline figures")
    r.add_argument("--db", help=db_help)
    r.add_argument("--from", dest="period_from", type=_date)
    r.add_argument("--to", dest="period_to", type=_date)
    r.add_argument("--as-of", type=_date, help="the day the report is as of (default: today)")
    r.add_argument("--json", action="store_true")
    r.add_argument("--from-snapshot", type=_date, metavar="DATE",
                   help="compare from the snapshot of this day (or the latest before it); default: the one before --to-snapshot")
    r.add_argument("--to-snapshot", type=_date, metavar="DATE",
                   help="compare to the snapshot of this day (or the latest before it); default: the last snapshot")
    r.add_argument("--html", metavar="FILE",
                   help="also write the weekly meeting report as one self-contained HTML file (no scripts)")
    r.add_argument("--lang", choices=("en", "zh", "tr"), default="en", help="language of the HTML report")
    return p


def _open(db: str | None):
    from data.store import Store

    return Store(db)


def cmd_demo(args: argparse.Namespace) -> int:
    from data.demo_load import load_demo

    store = _open(args.db)
    summary = load_demo(store, seed=args.seed, as_of=args.as_of)
    print(f"demo company loaded into {store.path}: " + ", ".join(f"{k} {v:,}" for k, v in summary.items()))
    return 0


def cmd_import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from data.ingest.pipeline import import_file

    overrides = _pairs(args.map, "--map", parser)
    constants = _pairs(args.set, "--set", parser)
    dayfirst = True if args.dayfirst else (False if args.monthfirst else None)
    store = _open(args.db)
    results: list[dict[str, Any]] = []
    failed = 0
    for f in args.files:
        path = Path(f)
        try:
            if not path.is_file():
                raise ImportProblem("unreadable", detail=f"no such file: {f}")
            res = import_file(store, path, kind=args.kind, overrides=overrides or None, constants=constants or None,
                              dayfirst=dayfirst, as_of=args.as_of, sheet=args.sheet)
        except ImportProblem as problem:
            failed += 1
            print(f"{path.name}: {problem.text()}", file=sys.stderr)
            results.append({"file": path.name, "error": problem.text(), "code": problem.code})
            continue
        out = res.to_json()
        results.append(out)
        if not args.json:
            print(f"{res.file_name}: batch {res.batch_id} ({res.kind}) read {res.rows_read:,}: "
                  f"inserted {res.inserted:,}, updated {res.updated:,}, unchanged {res.unchanged:,}, "
                  f"rejected {res.rejected:,}, skipped {res.skipped:,}")
            for note in out["notes"]:
                print(f"  note: {note}")
            for rej in res.rejects[:20]:
                print(f"  line {rej['line']}: {rej['column']}: {rej['reason']}")
            if res.rejected > 20:
                print(f"  … and {res.rejected - 20:,} more rejected rows (see the Data page or --json)")
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2, default=str))
    return 1 if failed else 0


def cmd_undo(args: argparse.Namespace) -> int:
    store = _open(args.db)
    store.undo(args.batch_id)
    print(f"batch {args.batch_id} undone; the database is as it was before it")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from data.report import SnapshotChoiceError, build_report, format_report

    store = _open(args.db)
    as_of = args.as_of or clock.today()
    try:
        rep = build_report(store, period_from=args.period_from, period_to=args.period_to, as_of=as_of,
                           from_snapshot=args.from_snapshot, to_snapshot=args.to_snapshot)
    except SnapshotChoiceError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    if args.html:
        from data.report_html import write_report

        path = write_report(store, Path(args.html), period_from=args.period_from, period_to=args.period_to,
                            as_of=as_of, from_snapshot=args.from_snapshot, to_snapshot=args.to_snapshot,
                            lang=args.lang)
        print(f"weekly report written to {path}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(rep, ensure_ascii=False, indent=2, default=str))
    else:
        print(format_report(rep))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "import":
            return cmd_import(args, parser)
        if args.command == "undo":
            return cmd_undo(args)
        return cmd_report(args)
    except ImportProblem as problem:
        print(f"error: {problem.text()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was half-written", file=sys.stderr)
        return 1
    except Exception as exc:  # a last resort: one clear line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m data report`: what is loaded and the headline figures, for scripts and the weekly e-mail.

The figures come from the pure metrics library (`metrics.kpis.report`, and `metrics.changes` for
the pipeline change between two snapshots); this module only loads the canonical tables from the
store and adds what the store itself knows (rows per table, date range, last import).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from data.store import Store
from metrics import changes as history
from metrics.kpis import report as metrics_report

TABLES_FOR_METRICS = ("deals", "reps", "stage_history", "activities", "accounts", "targets", "stages", "leads")


class SnapshotChoiceError(ValueError):
    """--from-snapshot / --to-snapshot name no usable snapshot (the message says why)."""


def pick_snapshots(dates: list[date], from_snapshot: date | None, to_snapshot: date | None) -> tuple[date, date] | None:
    """The two snapshots to compare: each asked-for day resolves to the latest snapshot taken on or
    before it; by default the last snapshot and the one before it. None with fewer than two."""
    if to_snapshot is not None:
        to_day = history.resolve_snapshot(dates, to_snapshot)
        if to_day is None:
            raise SnapshotChoiceError(f"no snapshot on or before {to_snapshot.isoformat()} (snapshots: "
                                      f"{_span(dates)})")
    else:
        to_day = dates[-1] if dates else None
    if from_snapshot is not None:
        from_day = history.resolve_snapshot(dates, from_snapshot)
        if from_day is None:
            raise SnapshotChoiceError(f"no snapshot on or before {from_snapshot.isoformat()} (snapshots: "
                                      f"{_span(dates)})")
        if to_day is not None and from_day >= to_day:
            raise SnapshotChoiceError(f"--from-snapshot {from_day.isoformat()} is not before --to-snapshot "
                                      f"{to_day.isoformat()}")
    else:
        earlier = [d for d in dates if to_day is not None and d < to_day]
        from_day = earlier[-1] if earlier else None
    if from_day is None or to_day is None:
        return None
    return from_day, to_day


def _span(dates: list[date]) -> str:
    return f"{dates[0].isoformat()} … {dates[-1].isoformat()}" if dates else "none yet"


def build_changes(store: Store, *, period_from: date | None, period_to: date | None,
                  from_snapshot: date | None = None, to_snapshot: date | None = None) -> dict[str, Any] | None:
    """The pipeline change between two snapshots over the close-date window of the period
    (`changes` of `report --json`); None with fewer than two snapshots."""
    cur = store.cursor()
    pair = pick_snapshots(store.snapshot_dates(cur), from_snapshot, to_snapshot)
    if pair is None:
        return None
    snapshots = store.frame("deal_snapshots", cur)
    change = history.pipeline_change(snapshots, from_snapshot=pair[0], to_snapshot=pair[1],
                                     period_from=period_from, period_to=period_to)
    return history.change_summary(change)


def build_report(store: Store, *, period_from: date | None, period_to: date | None, as_of: date,
                 from_snapshot: date | None = None, to_snapshot: date | None = None) -> dict[str, Any]:
    """The report as plain JSON-ready values (contract of `report --json`).

    `changes` is the pipeline waterfall between two snapshots (default: the last two) over the
    period's close dates: {from_snapshot, to_snapshot, start, created, pulled_in, amount_up,
    amount_down, pushed_out, won, lost, removed, end}, or null with fewer than two snapshots."""
    cur = store.cursor()
    frames = {name: store.frame(name, cur) for name in TABLES_FOR_METRICS}
    out = metrics_report(**frames, period_from=period_from, period_to=period_to, as_of=as_of)
    first, last = store.date_range(cur)
    last_import = store.last_import(cur)
    out["rows"] = store.counts(cur)
    out["date_range"] = {"from": first.isoformat() if first else None, "to": last.isoformat() if last else None}
    out["last_import"] = (
        {"batch_id": last_import["batch_id"], "kind": last_import["kind"], "file": last_import["file_name"],
         "at": last_import["imported_at"].isoformat(timespec="seconds")} if last_import else None
    )
    out["demo"] = store.has_demo(cur)
    out["as_of"] = as_of.isoformat()
    out["changes"] = build_changes(store, period_from=period_from, period_to=period_to,
                                   from_snapshot=from_snapshot, to_snapshot=to_snapshot)
    return out


def _money(v: float | None) -> str:
    return "—" if v is None else f"{v:,.0f}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _days(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} days"


def format_report(rep: dict[str, Any]) -> str:
    """A plain-text rendering of the report for the terminal and e-mail."""
    p = rep["period"]
    d = rep["deals"]
    lines = [
        f"Salescope report  period {p.get('from') or 'all time'} … {p.get('to') or 'all time'}  (as of {rep['as_of']})"
        + ("  [demo data]" if rep.get("demo") else ""),
        "rows: " + ", ".join(f"{k} {v:,}" for k, v in rep["rows"].items()),
        f"deals: {d['total']:,} total, {d['open']:,} open, {d['won']:,} won, {d['lost']:,} lost",
        f"won revenue {_money(rep['won_revenue'])}   win rate {_pct(rep['win_rate'])}   "
        f"average won deal {_money(rep['avg_won_amount'])}   median cycle {_days(rep['median_cycle_days'])}",
    ]
    plan = rep.get("plan") or {}
    lines.append(f"plan: target {_money(plan.get('target'))}, actual {_money(plan.get('actual'))}, "
                 f"attainment {_pct(plan.get('attainment'))}")
    if rep.get("funnel"):
        lines.append("funnel:")
        for s in rep["funnel"]:
            lines.append(f"  {s['stage']:<28} reached {s['reached']:>8,}  to next {_pct(s['conversion_to_next'])}"
                         f"  median {_days(s['median_days'])}")
    if rep.get("leaderboard"):
        lines.append("leaderboard (top 10):")
        for i, r in enumerate(rep["leaderboard"][:10], 1):
            lines.append(f"  {i:>2}. {str(r['rep']):<24} {_money(r['won_revenue']):>14}  won {r['won_deals']:>5}"
                         f"  win rate {_pct(r['win_rate'])}  activities {r['activities']:,}")
    if rep.get("tiers"):
        lines.append("tiers: " + ", ".join(f"{t['tier']} {t['accounts']:,} accounts {_money(t['revenue'])}"
                                           for t in rep["tiers"]))
    lines.append(f"data quality score: {rep['quality']['score']}")
    ch = rep.get("changes")
    if ch:
        lines.append(
            f"pipeline change {ch['from_snapshot']} → {ch['to_snapshot']}: start {_money(ch['start'])}"
            f" + created {_money(ch['created'])} + pulled in {_money(ch['pulled_in'])}"
            f" + amount up {_money(ch['amount_up'])} − amount down {_money(ch['amount_down'])}"
            f" − pushed out {_money(ch['pushed_out'])} − won {_money(ch['won'])} − lost {_money(ch['lost'])}"
            f" − removed {_money(ch['removed'])} = end {_money(ch['end'])}")
    else:
        lines.append("pipeline change: history builds up from weekly uploads (needs two snapshots)")
    return "\n".join(lines)

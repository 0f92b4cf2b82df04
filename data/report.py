"""`python -m data report`: what is loaded and the headline figures, for scripts and the weekly e-mail.

The figures come from the pure metrics library (`metrics.kpis.report`); this module only loads the
canonical tables from the store and adds what the store itself knows (rows per table, date range,
last import).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from data.store import Store
from metrics.kpis import report as metrics_report

TABLES_FOR_METRICS = ("deals", "reps", "stage_history", "activities", "accounts", "targets", "stages", "leads")


def build_report(store: Store, *, period_from: date | None, period_to: date | None, as_of: date) -> dict[str, Any]:
    """The report as plain JSON-ready values (contract of `report --json`)."""
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
    return "\n".join(lines)

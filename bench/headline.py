"""The headline numbers of each view, taken from the product's output, and the agreement check.

Every implementation (the product's view, the SQL floor, the pandas peer) hands back the same shape
per view, so one comparison serves all:
- overview: won_revenue, won_deals, win_rate, avg_won_deal, sales_cycle, attainment, pipeline_coverage;
- funnel ("reached" method): per open stage in order: stage, reached, conversion_to_next, median_days;
- leaderboard (per rep): rep_id in rank order, won_revenue, won_deals, lost_deals, activities, target;
- customers: per ABC tier A, B, C, none: tier, accounts, revenue;
- forecast (plan vs actual by month): period_start, target, actual, pipeline;
- history (the waterfall between the last two snapshots): per bar in waterfall order: bar, amount, deals.
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any

REL_TOL = 1e-6
VIEWS: tuple[str, ...] = ("overview", "funnel", "leaderboard", "customers", "forecast", "history")


def _col(frame: Any, name: str) -> list[Any]:
    return frame[name].to_list()


def of_view(name: str, view: Any) -> dict[str, Any]:
    """The headline numbers of a computed view (ui.views.<name>.compute's result)."""
    if name == "overview":
        k = view.kpis
        return {"won_revenue": k.get("won_revenue"), "won_deals": view.won_deals, "win_rate": k.get("win_rate"),
                "avg_won_deal": k.get("avg_won_deal"), "sales_cycle": k.get("sales_cycle"),
                "attainment": k.get("attainment"), "pipeline_coverage": k.get("pipeline_coverage")}
    if name == "funnel":
        fr = view.funnels["reached"]
        return {c: _col(fr, c) for c in ("stage", "reached", "conversion_to_next", "median_days")}
    if name == "leaderboard":
        board = view.boards["rep"].sort("rank")
        return {c: _col(board, c) for c in ("rep_id", "won_revenue", "won_deals", "lost_deals", "activities", "target")}
    if name == "customers":
        s = view.summary
        return {c: _col(s, c) for c in ("tier", "accounts", "revenue")}
    if name == "forecast":
        m = view.monthly
        return {"period_start": [d.isoformat() for d in _col(m, "period_start")], "target": _col(m, "target"),
                "actual": _col(m, "actual"), "pipeline": _col(m, "pipeline")}
    if name == "history":
        return {c: _col(view.bars, c) for c in ("bar", "amount", "deals")}
    raise KeyError(name)


def _norm(v: Any) -> Any:
    if isinstance(v, date):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):      # numpy / pandas scalars
        try:
            v = v.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is not None and type(v).__name__ in ("NAType", "NaTType"):
        return None
    return v


def same(a: Any, b: Any, rel: float = REL_TOL) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)
    return a == b


def differences(expected: dict[str, Any], got: dict[str, Any], limit: int = 5) -> list[str]:
    """Where `got` differs from `expected` (empty when they agree within REL_TOL)."""
    out: list[str] = []
    for key, want in expected.items():
        have = got.get(key, "<missing>")
        if isinstance(want, list) or isinstance(have, list):
            want_l, have_l = list(want or []), list(have) if isinstance(have, list) else []
            if len(want_l) != len(have_l):
                out.append(f"{key}: {len(have_l)} rows, expected {len(want_l)}")
                continue
            for i, (w, h) in enumerate(zip(want_l, have_l)):
                if not same(w, h):
                    out.append(f"{key}[{i}]: {_norm(h)!r}, expected {_norm(w)!r}")
                    break
        elif not same(want, have):
            out.append(f"{key}: {_norm(have)!r}, expected {_norm(want)!r}")
        if len(out) >= limit:
            break
    return out


def brief(headline: dict[str, Any]) -> dict[str, Any]:
    """A short printable form (first rows of list columns)."""
    return {k: ([_norm(x) for x in v[:4]] + (["…"] if len(v) > 4 else []) if isinstance(v, list) else _norm(v))
            for k, v in headline.items()}

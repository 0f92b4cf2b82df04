"""Overview: the headline numbers of the period with their change, the monthly trend against the
target, and the three things that most need attention (bottleneck, plan gap, stalled value).

Comparison: the previous period is `Filters.previous()`. While the period is still running (it
ends after `as_of`), the previous period is cut to the same number of elapsed days, so a quarter
half-way through is compared with the first half of the last quarter, not with all of it; the
previous attainment then is the revenue won by that day over the previous period's full target,
as this period's is. Pipeline coverage has no previous value: the deals table is the current
state, the pipeline of a past day is not known from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

from metrics import forecast, funnel, kpis
from metrics._common import open_stages
from ui.filters import Filters
from ui.views import Frames, empty, scope_of

KPIS: tuple[str, ...] = ("won_revenue", "win_rate", "avg_won_deal", "sales_cycle", "attainment", "pipeline_coverage")
SHORT_PERIOD_MONTHS = 6   # shorter periods show the trend of the last TREND_MONTHS months
TREND_MONTHS = 12
BOTTLENECK_PERIODS = 4    # earlier periods of the bottleneck's benchmark (metrics.funnel.bottleneck)


@dataclass(frozen=True)
class OverviewView:
    """What the Overview page shows (numbers and small frames only)."""

    empty: bool
    currency: str | None = None
    kpis: dict[str, float | None] = field(default_factory=dict)
    previous: dict[str, float | None] = field(default_factory=dict)   # same keys; empty: no comparison
    comparison: str = "none"      # "full" | "to_date" | "none"
    won_deals: int = 0
    trend: pl.DataFrame = field(default_factory=pl.DataFrame)   # month, won_revenue, won_deals, target, partial
    bottleneck: dict[str, Any] | None = None   # team, from_stage, to_stage, conversion, benchmark, revenue_cost, basis
    plan_gap: dict[str, Any] | None = None     # level (team/rep), id, name, target, actual, gap, attainment
    stalled: dict[str, Any] | None = None      # deals, amount, stage, stage_amount


def single_currency(deals: pl.DataFrame) -> str | None:
    """The one currency of the deals, else None (amounts are then shown as plain numbers)."""
    found = deals["currency"].drop_nulls().unique().to_list() if "currency" in deals.columns else []
    return found[0] if len(found) == 1 else None


def comparison_window(f: Filters) -> tuple[date | None, date | None, str]:
    """The previous period to compare with: (from, to, "full" | "to_date" | "none")."""
    if not f.bounded:
        return None, None, "none"
    prev = f.previous()
    if f.period_from <= f.as_of < f.period_to:
        elapsed = (f.as_of - f.period_from).days
        return prev.period_from, min(prev.period_to, prev.period_from + timedelta(days=elapsed)), "to_date"
    return prev.period_from, prev.period_to, "full"


def trend_window(f: Filters, first_close: date | None) -> tuple[date, date] | None:
    """First and last month of the trend: the period's months, or the last 12 when it is short."""
    end = min(f.period_to, f.as_of) if f.period_to is not None else f.as_of
    end_month = end.replace(day=1)
    start = f.period_from or first_close
    if start is None or start > end:
        return None
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if f.bounded and months < SHORT_PERIOD_MONTHS:
        start = _add_months(end_month, -(TREND_MONTHS - 1))
    return start.replace(day=1), end_month


def _add_months(d: date, months: int) -> date:
    idx = d.year * 12 + d.month - 1 + months
    return date(idx // 12, idx % 12 + 1, 1)


def _month_end(d: date) -> date:
    return _add_months(d, 1) - timedelta(days=1)


class _Plans:
    """`forecast.plan_vs_actual` from the deals summed in DuckDB (`Store.plan_sums_in_scope`, a few
    rows per owner and month: `forecast.plan_sums`), each span and day read once."""

    def __init__(self, store: Any, scope: dict[str, Any], cur: Any, frames: Frames) -> None:
        self.store, self.scope, self.cur, self.frames = store, scope, cur, frames
        self.sums: dict[tuple[date, date, date], pl.DataFrame] = {}

    def __call__(self, period_from: date | None, period_to: date | None, as_of: date, scope: str,
                 grain: str | None) -> pl.DataFrame:
        fr = self.frames
        span = forecast.plan_span(fr.targets, period_from, period_to)
        sums = None
        if span is not None:
            key = (span[0], span[1], as_of)
            if key not in self.sums:
                self.sums[key] = self.store.plan_sums_in_scope(self.scope, span[0], span[1], as_of, self.cur)
            sums = self.sums[key]
        return forecast.plan_vs_actual(fr.deals, fr.targets, fr.reps, fr.activities, as_of=as_of,
                                       period_from=period_from, period_to=period_to, scope=scope, grain=grain,
                                       sums=sums)


def _headline(plans: _Plans, row: dict[str, Any], start: date | None, end: date | None,
              as_of: date, target_period: tuple[date | None, date | None] | None = None) -> dict[str, float | None]:
    """Won revenue, win rate, average deal and cycle over [start, end] (`row`: that period's
    `kpis.closed_summary`), attainment and pipeline coverage. With `target_period` (a period cut
    short to date), attainment is the revenue won in [start, end] over the whole target of
    `target_period`."""
    t_from, t_to = target_period or (start, end)
    plan = plans(t_from, t_to, as_of, "company", None)
    plan = plan.filter(pl.col("target").is_not_null())
    target = float(plan["target"].sum()) if plan.height else None
    achieved = (row["won_revenue"] or 0.0) if target_period else float(plan["actual"].sum())
    return {
        "won_revenue": row["won_revenue"] or 0.0, "win_rate": row["win_rate"], "avg_won_deal": row["avg_won_deal"],
        "sales_cycle": row["median_cycle_days"], "attainment": achieved / target if target else None,
        "pipeline_coverage": plan["pipeline_coverage"][0] if plan.height == 1 else None,
        "won_deals": row["won_deals"],
    }


def _trend(frames: Any, f: Filters, won_by_month: Any, closes: date | None) -> pl.DataFrame:
    """The trend's months; `won_by_month(first, last)` gives the won deals and revenue per month
    closed in [first, last] (`kpis.won_revenue(by="month")`, read from the store); `closes`, the
    first close day of the deals in scope. The monthly targets are the plan's (`plan_vs_actual`),
    which do not depend on the deals, so none are handed to it."""
    schema = {"month": pl.Date, "won_revenue": pl.Float64, "won_deals": pl.Int64, "target": pl.Float64,
              "partial": pl.Boolean}
    window = trend_window(f, closes)
    if window is None:
        return pl.DataFrame(schema=schema)
    first, last = window
    months = pl.date_range(first, last, interval="1mo", eager=True).alias("month").to_frame()
    won = won_by_month(first, _month_end(last))
    plan = forecast.plan_vs_actual(empty("deals"), frames.targets, frames.reps, frames.activities, as_of=f.as_of,
                                   period_from=first, period_to=_month_end(last), scope="company", grain="month")
    target = plan.select(pl.col("period_start").alias("month"), "target")
    return (
        months.join(won, on="month", how="left").join(target, on="month", how="left")
        .with_columns(pl.col("won_revenue").fill_null(0.0), pl.col("won_deals").fill_null(0).cast(pl.Int64),
                      (pl.col("month") == f.as_of.replace(day=1)).alias("partial"))
        .select(list(schema)).cast(schema)
    )


def _closed_summaries(counts: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    """`kpis.closed_summary` of each of the n periods counted by `Store.closed_deal_counts_in_scope`
    (a period without closed deals: zeros and nulls, as `kpis.deal_summary`)."""
    rows = {r["period"]: r for r in kpis.closed_summary(counts, by="period").iter_rows(named=True)}
    none = {"won_deals": 0, "lost_deals": 0, "won_revenue": 0.0, "win_rate": None, "avg_won_deal": None,
            "median_cycle_days": None}
    return [rows.get(k, none) for k in range(n)]


def _bottleneck(frames: Any, hist: _History, f: Filters) -> dict[str, Any] | None:
    found = funnel.bottleneck(frames.deals, None, frames.stages, frames.reps, as_of=f.as_of,
                              period_from=f.period_from, period_to=f.period_to, counts=hist.bottleneck,
                              earlier_periods=BOTTLENECK_PERIODS)
    found = found.filter(pl.col("is_bottleneck"))
    if found.height == 0:
        return None
    row = found.row(0, named=True)
    return {"team": row["team"], "from_stage": row["from_stage"], "to_stage": row["to_stage"],
            "conversion": row["conversion"], "benchmark": row["benchmark"], "revenue_cost": row["revenue_cost"],
            "basis": row["benchmark_basis"]}


def plan_level(reps: pl.DataFrame) -> str:
    """Compare teams when the scope holds several, else reps."""
    return "team" if reps["team"].drop_nulls().n_unique() > 1 else "rep"


def _plan_gap(frames: Any, plans: _Plans, f: Filters) -> dict[str, Any] | None:
    level = plan_level(frames.reps)
    plan = plans(f.period_from, f.period_to, f.as_of, level, None)
    plan = plan.filter(pl.col("target").is_not_null() & (pl.col("gap") > 0)).sort("gap", descending=True)
    if plan.height == 0:
        return None
    row = plan.row(0, named=True)
    names = dict(zip(frames.reps["rep_id"].to_list(), frames.reps["name"].to_list()))
    name = (names.get(row["scope_id"]) or row["scope_id"]) if level == "rep" else row["scope_id"]
    return {"level": level, "id": row["scope_id"], "name": name, "target": row["target"], "actual": row["actual"],
            "gap": row["gap"], "attainment": row["attainment"]}


def _stalled(frames: Any, hist: _History) -> dict[str, Any] | None:
    by_stage = funnel.stalled_by_stage(hist.days, hist.stays, frames.stages)
    if by_stage.height == 0:
        return None
    return {"deals": int(by_stage["deals"].sum()), "amount": float(by_stage["amount"].sum()),
            "stage": by_stage["stage"][0], "stage_amount": float(by_stage["amount"][0])}


@dataclass(frozen=True)
class _History:
    """What the attention cards need of the deals and their stage history, aggregated in DuckDB (see
    metrics.funnel: bottleneck_counts, completed_stays, stage_days)."""

    bottleneck: pl.DataFrame   # bottleneck_counts
    stays: pl.DataFrame        # completed_stays
    days: pl.DataFrame         # stage_days


def _frames(store: Any, f: Filters) -> tuple[Frames, _History]:
    """What the overview reads, the cheap way: no deal rows (the plans, headline numbers and
    attention cards read them summed in DuckDB); no activities (revenue plans and the headline
    numbers never count them); the stage history only as per-stage aggregates, never row by row."""
    cur, scope = store.cursor(), scope_of(f)
    none = {name: empty(name) for name in ("deals", "accounts", "activities", "leads", "stage_history")}
    stages = store.stages_frame(cur)
    frames = Frames(reps=store.reps_in_scope(scope, cur), targets=store.targets_in_scope(scope, cur),
                    stages=stages, **none)
    idx = open_stages(stages).select("stage", "stage_index")
    # the bottleneck compares deals closed in this period and the earlier ones, counted per team,
    # period, status and furthest stage in DuckDB
    counts = store.bottleneck_counts_in_scope(
        scope, idx, funnel.bottleneck_periods(f.period_from, f.period_to, BOTTLENECK_PERIODS), cur)
    hist = _History(bottleneck=counts,
                    stays=store.completed_stays_in_scope(scope, idx, cur),
                    days=store.stage_days_in_scope(scope, f.as_of, cur))
    return frames, hist


def compute(store: Any, f: Filters) -> OverviewView:
    """Headline numbers with the previous period, the monthly trend and what needs attention."""
    cur, scope = store.cursor(), scope_of(f)
    count, currencies = store.deal_currencies_in_scope(scope, cur)
    if count == 0:
        return OverviewView(empty=True)
    frames, hist = _frames(store, f)
    plans = _Plans(store, scope, cur, frames)
    prev_from, prev_to, how = comparison_window(f)
    periods = [(f.period_from, f.period_to)] + ([(prev_from, prev_to)] if how != "none" else [])
    summary = _closed_summaries(store.closed_deal_counts_in_scope(scope, periods, cur), len(periods))
    now = _headline(plans, summary[0], f.period_from, f.period_to, f.as_of)
    previous: dict[str, float | None] = {}
    if how != "none":
        full = f.previous()
        previous = _headline(plans, summary[1], prev_from, prev_to, min(f.as_of, prev_to),
                             (full.period_from, full.period_to) if how == "to_date" else None)
        previous["pipeline_coverage"] = None
    return OverviewView(
        empty=False, currency=currencies[0] if len(currencies) == 1 else None,
        kpis={k: now[k] for k in KPIS}, previous={k: previous[k] for k in KPIS} if previous else {},
        comparison=how, won_deals=int(now["won_deals"] or 0),
        trend=_trend(frames, f, lambda lo, hi: store.won_by_month_in_scope(scope, lo, hi, cur),
                     store.first_close_day_in_scope(scope, cur)),
        bottleneck=_bottleneck(frames, hist, f), plan_gap=_plan_gap(frames, plans, f), stalled=_stalled(frames, hist),
    )


def delta(view: OverviewView, key: str) -> float | None:
    """Change of one headline number against the previous period (None when not comparable)."""
    now, before = view.kpis.get(key), view.previous.get(key)
    if now is None or before is None:
        return None
    return now - before


def relative_delta(view: OverviewView, key: str) -> float | None:
    """Relative change (for amounts): (now − before) / before."""
    now, before = view.kpis.get(key), view.previous.get(key)
    if now is None or not before:
        return None
    return (now - before) / before


__all__ = ["OverviewView", "compute", "delta", "relative_delta", "comparison_window", "trend_window"]


# ------------------------------------------------------------------------------- presentation
# Pure helpers: the page passes the language, these return ready-to-show texts (no Streamlit).
PERCENT_POINTS = ("win_rate", "attainment")
RELATIVE = ("won_revenue", "avg_won_deal")


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()#+-.!|<>~$"})


def md(text: object) -> str:
    """CRM text for a markdown element (st.markdown, st.caption): markdown characters escaped, so a
    name like `*Acme*` or `[x](javascript:…)` shows as typed."""
    return str(text).translate(_MARKDOWN)


def rounded(table: pl.DataFrame, kinds: dict[str, str]) -> pl.DataFrame:
    """Money columns to whole units and day counts to whole days (tables show no false precision)."""
    whole = [c for c, k in kinds.items() if k in ("money", "days") and c in table.columns]
    return table.with_columns([pl.col(c).round(0) for c in whole])


def _signed(x: float, body: str) -> str:
    return ("+" if x > 0 else "-" if x < 0 else "±") + body


def kpi_cards(view: OverviewView, lang: str) -> list[dict[str, Any]]:
    """One dict per headline number: label, value, delta, delta_color, help."""
    from ui import format as fmt
    from ui.i18n import t

    cur = view.currency
    values = {
        "won_revenue": fmt.money(view.kpis.get("won_revenue"), cur, lang),
        "win_rate": fmt.pct(view.kpis.get("win_rate"), lang=lang),
        "avg_won_deal": fmt.money(view.kpis.get("avg_won_deal"), cur, lang),
        "sales_cycle": fmt.days(view.kpis.get("sales_cycle"), lang=lang),
        "attainment": fmt.pct(view.kpis.get("attainment"), lang=lang),
        "pipeline_coverage": _times(view.kpis.get("pipeline_coverage"), lang),
    }
    cards = []
    for key in KPIS:
        change: str | None = None
        if key in RELATIVE and (rel := relative_delta(view, key)) is not None:
            change = _signed(rel, fmt.pct(abs(rel), lang=lang))
        elif key in PERCENT_POINTS and (diff := delta(view, key)) is not None:
            change = _signed(diff, t("kpi.points", lang=lang, value=fmt.number(abs(diff) * 100, 1, lang)))
        elif key == "sales_cycle" and (diff := delta(view, key)) is not None:
            change = _signed(diff, fmt.days(abs(diff), lang=lang))
        cards.append({
            "label": t(f"kpi.{key}", lang=lang), "value": values[key], "delta": change,
            "delta_color": "inverse" if key == "sales_cycle" else "normal",
            "help": t(f"definitions.{key}", lang=lang),
        })
    return cards


def _times(x: float | None, lang: str) -> str:
    from ui import format as fmt

    return fmt.DASH if x is None else f"{fmt.number(x, 1, lang)}×"


def attention(view: OverviewView, lang: str) -> list[dict[str, Any]]:
    """The three things that need attention: title, value label, value, text, page, link."""
    from ui import format as fmt
    from ui.i18n import t

    cur = view.currency
    b, g, s = view.bottleneck, view.plan_gap, view.stalled
    return [
        {"title": t("kpi.bottleneck_title", lang=lang), "label": t("kpi.bottleneck_value", lang=lang),
         "value": fmt.money(b["revenue_cost"], cur, lang) if b else fmt.DASH,
         "text": t("kpi.bottleneck_text", lang=lang, team=md(b["team"] or t("kpi.no_team", lang=lang)),
                   step=f"{md(b['from_stage'])} → {md(b['to_stage'])}",
                   conversion=fmt.pct(b["conversion"], lang=lang),
                   benchmark=fmt.pct(b["benchmark"], lang=lang)) if b else t("kpi.bottleneck_none", lang=lang),
         "help": t("definitions.bottleneck", lang=lang), "page": "pages/funnel.py",
         "link": t("kpi.go_funnel", lang=lang), "icon": ":material/filter_alt:"},
        {"title": t("kpi.plan_gap_title", lang=lang), "label": t("kpi.plan_gap_value", lang=lang),
         "value": fmt.money(g["gap"], cur, lang) if g else fmt.DASH,
         "text": t("kpi.plan_gap_text", lang=lang, name=md(g["name"]), attainment=fmt.pct(g["attainment"], lang=lang),
                   target=fmt.money(g["target"], cur, lang)) if g else t("kpi.plan_gap_none", lang=lang),
         "help": t("definitions.plan_gap", lang=lang), "page": "pages/forecast.py",
         "link": t("kpi.go_forecast", lang=lang), "icon": ":material/trending_up:"},
        {"title": t("kpi.stalled_title", lang=lang), "label": t("kpi.stalled_value", lang=lang),
         "value": fmt.money(s["amount"], cur, lang) if s else fmt.DASH,
         "text": t("kpi.stalled_text", lang=lang, deals=fmt.number(s["deals"], lang=lang), stage=md(s["stage"]),
                   amount=fmt.money(s["stage_amount"], cur, lang)) if s else t("kpi.stalled_none", lang=lang),
         "help": t("definitions.stalled", lang=lang), "page": "pages/funnel.py",
         "link": t("kpi.go_stalled", lang=lang), "icon": ":material/hourglass_bottom:"},
    ]

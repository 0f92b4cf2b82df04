"""Leaderboard: reps (or teams) ranked on a chosen measure with the change of rank, effort against
results, top and bottom performers, the best of the period and the deals behind a name.

Ranking: `metrics.leaderboard` ranks by won revenue (then won deals, then name). The page lists
the names with something in the period (a closed or open deal, an activity) and ranks them on the
chosen measure the same way, ties broken by won revenue, then won deals, then name; the change of
rank ranks the previous period's board (`metrics.leaderboard` over the previous period) the same way
over the same names. Rates need a base: on win rate and average won deal, names with fewer than MIN_CLOSED closed
deals (won + lost) rank after all others, so one lucky deal does not top the board. Top and bottom
flags are the metric's (by won revenue).

Read the cheap way: no deal row reaches polars. DuckDB counts the closed deals of every board's
period and of its previous period per owner, status and sales cycle, and the open deals per owner at
each board's day (`closed_counts_by_owner_in_scope`, `open_counts_by_owner_in_scope`: the
`metrics.leaderboard.DealCounts` the metric ranks from, the same boards as the deals give); the
activities come as counts per rep and day (`activity_daily_in_scope`, what `metrics.leaderboard`
counts anyway); the deals behind one name are fetched for that name alone (`ui.views.leaderboard_deals`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from metrics import leaderboard
from metrics._common import previous_period
from ui.filters import Filters
from ui.views import scope_of
from ui.views.overview import comparison_window, rounded

MEASURES: tuple[str, ...] = ("won_revenue", "won_deals", "win_rate", "avg_won_deal", "activities", "attainment")
BY: tuple[str, ...] = ("rep", "team")
MIN_CLOSED = 5
RATES = ("win_rate", "avg_won_deal")
STATUS_ORDER = {"won": 0, "open": 1, "lost": 2}


@dataclass(frozen=True)
class LeaderboardView:
    """What the Leaderboard page shows (small frames only)."""

    empty: bool
    currency: str | None = None
    boards: dict[str, pl.DataFrame] = field(default_factory=dict)     # "rep" / "team" -> leaderboard()
    previous: dict[str, pl.DataFrame] = field(default_factory=dict)   # same, previous period (empty: none)
    to_date: dict[str, pl.DataFrame] = field(default_factory=dict)    # previous period cut to the days elapsed
    comparison: str = "none"                                          # "full" | "to_date" | "none"


def compute(store: Any, f: Filters) -> LeaderboardView:
    """Boards per rep and per team for the period and the previous one."""
    cur, scope = store.cursor(), scope_of(f)
    n_deals, currencies = store.deal_currencies_in_scope(scope, cur)
    reps, daily, targets = store.reps_in_scope(scope, cur), store.activity_daily_in_scope(scope, cur), \
        store.targets_in_scope(scope, cur)
    if n_deals == 0 and daily.height == 0:
        return LeaderboardView(empty=True)
    prev = previous_period(f.period_from, f.period_to)
    cut_from, cut_to, how = comparison_window(f)
    # each board: (from, to, as_of); the deals come counted for them and their previous periods
    wanted = {"boards": (f.period_from, f.period_to, f.as_of)}
    if prev:
        wanted["previous"] = (prev[0], prev[1], min(f.as_of, prev[1]))
    if how == "to_date":
        wanted["to_date"] = (cut_from, cut_to, min(f.as_of, cut_to))
    deals = counted_deals(store, scope, list(wanted.values()), cur)
    out: dict[str, dict[str, pl.DataFrame]] = {"boards": {}, "previous": {}, "to_date": {}}
    for by in BY:
        for name, (start, end, as_of) in wanted.items():
            out[name][by] = leaderboard.leaderboard(deals, reps, daily, targets, as_of=as_of, period_from=start,
                                                    period_to=end, by=by)
        out["previous"].setdefault(by, out["boards"][by].head(0))
        out["to_date"].setdefault(by, out["previous"][by])
    return LeaderboardView(empty=False, currency=currencies[0] if len(currencies) == 1 else None,
                           boards=out["boards"], previous=out["previous"], to_date=out["to_date"], comparison=how)


def counted_deals(store: Any, scope: dict[str, Any], boards: list[tuple[Any, Any, Any]],
                  cur: Any) -> leaderboard.DealCounts:
    """The deals counted in DuckDB for boards of (from, to, as_of): closed ones per owner for each
    board's period and its previous one (the change of rank), open ones per owner at each as_of."""
    periods = [(a, b) for a, b, _ in boards]
    periods += [p for p in (previous_period(a, b) for a, b in periods) if p is not None]
    return leaderboard.DealCounts(store.closed_counts_by_owner_in_scope(scope, periods, cur),
                                  store.open_counts_by_owner_in_scope(scope, [day for _, _, day in boards], cur))


# ------------------------------------------------------------------------------- derived
def key_of(by: str) -> str:
    return "rep_id" if by == "rep" else "team"


def name_of(by: str) -> str:
    return "rep" if by == "rep" else "team"


def active(board: pl.DataFrame) -> pl.DataFrame:
    """Names with something in the period: a deal closed, a deal open or an activity (reps who left
    before the period, or start after it, are not listed)."""
    return board.filter((pl.col("won_deals") + pl.col("lost_deals") + pl.col("open_deals") + pl.col("activities")) > 0)


def _rank(board: pl.DataFrame, measure: str, by: str) -> pl.DataFrame:
    """Rank 1..n on the measure (descending, nulls and too-small bases last, ties by won revenue)."""
    qualified = pl.lit(True)
    if measure in RATES:
        qualified = (pl.col("won_deals") + pl.col("lost_deals")) >= MIN_CLOSED
    keyed = board.with_columns(
        (~(qualified & pl.col(measure).is_not_null())).alias("_last"), (-pl.col(measure).fill_null(0)).alias("_m"),
        (-pl.col("won_revenue")).alias("_r"), (-pl.col("won_deals")).alias("_d"),
    )
    order = ["_last", "_m", "_r", "_d", name_of(by), key_of(by)]
    return keyed.sort(order, nulls_last=True).with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("m_rank")).drop("_last", "_m", "_r", "_d")


def ranked(view: LeaderboardView, by: str, measure: str) -> pl.DataFrame:
    """The listed names ranked on the measure, with m_rank, m_prev_rank and m_rank_change
    (positive = climbed): the previous period's board is ranked the same way over the same names.

    On won revenue this is the metric's own ranking (rank, prev_rank, rank_change), renumbered
    without the names that have nothing in the period."""
    board = _rank(active(view.boards[by]), measure, by)
    prev = view.previous[by]
    if prev.height == 0:
        return board.with_columns(pl.lit(None, dtype=pl.Int64).alias("m_prev_rank"),
                                  pl.lit(None, dtype=pl.Int64).alias("m_rank_change"))
    before = _rank(prev.join(board.select(key_of(by)), on=key_of(by), how="semi"), measure, by)
    return board.join(before.select(key_of(by), pl.col("m_rank").alias("m_prev_rank")), on=key_of(by), how="left") \
        .with_columns((pl.col("m_prev_rank") - pl.col("m_rank")).alias("m_rank_change")).sort("m_rank")


def best(view: LeaderboardView, by: str, measure: str) -> dict[str, Any] | None:
    """The first of the board on the measure, when it has anything to show."""
    board = ranked(view, by, measure)
    if board.height == 0:
        return None
    row = board.row(0, named=True)
    if not row[measure] or (measure in RATES and row["won_deals"] + row["lost_deals"] < MIN_CLOSED):
        return None
    return row


def flagged(view: LeaderboardView, by: str, flag: str) -> pl.DataFrame:
    """Names flagged "top" or "bottom" by the metric, best first."""
    board = active(view.boards[by]).filter(pl.col("flag") == flag)
    return board.sort("won_revenue", descending=flag == "top")


def arrow(change: int | None) -> str:
    """▲ 3 / ▼ 2 / = / – (no previous rank)."""
    if change is None:
        return "–"
    return f"▲ {change}" if change > 0 else f"▼ {-change}" if change < 0 else "="


# ------------------------------------------------------------------------------- presentation
KIND = {"won_revenue": "money", "won_deals": "int", "win_rate": "pct", "avg_won_deal": "money",
        "activities": "int", "attainment": "pct", "target": "money"}


def value_text(measure: str, value: float | None, currency: str | None, lang: str) -> str:
    """One value of a measure, formatted for a headline."""
    from ui import format as fmt

    kind = KIND[measure]
    if kind == "money":
        return fmt.money(value, currency, lang)
    return fmt.pct(value, lang=lang) if kind == "pct" else fmt.number(value, lang=lang)


def change_text(measure: str, now: float | None, before: float | None, lang: str) -> str | None:
    """Change of a measure against the previous period: relative for amounts and counts, points for rates."""
    from ui import format as fmt
    from ui.i18n import t

    if now is None or before is None:
        return None
    sign = lambda x: "+" if x > 0 else "-" if x < 0 else "±"  # noqa: E731
    if KIND[measure] == "pct":
        diff = now - before
        return sign(diff) + t("kpi.points", lang=lang, value=fmt.number(abs(diff) * 100, 1, lang))
    if not before:
        return None
    rel = (now - before) / before
    return sign(rel) + fmt.pct(abs(rel), lang=lang)


def best_card(view: LeaderboardView, by: str, measure: str, lang: str) -> dict[str, Any] | None:
    """The best of the period: name, team, and each measure with its change against the previous period."""
    from ui.i18n import t

    row = best(view, by, measure)
    if row is None:
        return None
    before = _before(view, by, row[key_of(by)])
    others = ("won_revenue", "won_deals", "win_rate", "attainment", "activities")
    shown = [measure] + [m for m in others if m != measure]
    return {
        "name": row[name_of(by)], "team": row.get("team") if by == "rep" else None, "key": row[key_of(by)],
        "vs": t("kpi.vs_to_date" if view.comparison == "to_date" else "common.vs_previous", lang=lang),
        "numbers": [{"label": t(f"leaderboard.measure_{m}", lang=lang),
                     "value": value_text(m, row[m], view.currency, lang),
                     "delta": change_text(m, row[m], before.get(m), lang),
                     "help": t(f"definitions.{DEFINITION[m]}", lang=lang)} for m in shown[:5]],
    }


def _before(view: LeaderboardView, by: str, key: str) -> dict[str, Any]:
    """One name's numbers in the comparison period: while this period runs, the same days of the
    previous one, with attainment = revenue won by that day over the previous period's whole target."""
    col = key_of(by)
    cut = view.to_date[by].filter(pl.col(col) == key)
    if cut.height == 0:
        return {}
    row = cut.row(0, named=True)
    if view.comparison == "to_date":
        full = view.previous[by].filter(pl.col(col) == key)
        target = full["target"][0] if full.height else None
        row["attainment"] = row["won_revenue"] / target if target else None
    return row


DEFINITION = {"won_revenue": "won_revenue", "won_deals": "deal_summary", "win_rate": "win_rate",
              "avg_won_deal": "avg_won_deal", "activities": "leaderboard", "attainment": "attainment"}


def board_table(view: LeaderboardView, by: str, measure: str, lang: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """The ranked board with translated headers: rank, change, name, [team], the measure first."""
    from ui.i18n import t

    board = ranked(view, by, measure)
    rest = [m for m in MEASURES if m != measure]
    h = {c: t(f"leaderboard.col_{c}", lang=lang) for c in ("rank", "change", "rep", "team", "target", "flag")}
    h.update({m: t(f"leaderboard.measure_{m}", lang=lang) for m in MEASURES})
    flags = {"top": t("leaderboard.flag_top", lang=lang), "bottom": t("leaderboard.flag_bottom", lang=lang)}
    cols = [pl.col("m_rank").alias(h["rank"]),
            pl.col("m_rank_change").map_elements(arrow, return_dtype=pl.String).fill_null("–").alias(h["change"]),
            pl.col(name_of(by)).alias(h[name_of(by)])]
    if by == "rep":
        cols.append(pl.col("team").alias(h["team"]))
    cols += [pl.col(m).alias(h[m]) for m in [measure, *rest]]
    cols += [pl.col("target").alias(h["target"]),
             pl.col("flag").replace_strict(flags, default="").fill_null("").alias(h["flag"])]
    out = board.select(cols)
    kinds = {h["rank"]: "int", h["change"]: "text", h[name_of(by)]: "text", h["team"]: "text",
             h["target"]: "money", h["flag"]: "text"} | {h[m]: KIND[m] for m in MEASURES}
    kinds = {c: kinds[c] for c in out.columns}
    return rounded(out, kinds), kinds


def deals_table(rows: pl.DataFrame, lang: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """The deals behind a name: deal, account, owner, stage, status (translated), amount, dates."""
    from ui.i18n import t

    status = {s: t(f"overview.{s}", lang=lang) for s in ("open", "won", "lost")}
    cols = [("deal_id", "columns.deal_id", "text"), ("name", "leaderboard.col_deal", "text"),
            ("account", "leaderboard.col_account", "text"), ("owner", "columns.owner_rep_id", "text"),
            ("stage", "columns.stage", "text"), ("status", "columns.status", "text"),
            ("amount", "columns.amount", "money"), ("close_day", "leaderboard.col_close_day", "date"),
            ("created_on", "columns.created_on", "date")]
    out = rows.with_columns(pl.col("status").replace_strict(status, default=pl.col("status"))).select(
        [pl.col(c).alias(t(k, lang=lang)) for c, k, _ in cols])
    kinds = {t(k, lang=lang): kind for _, k, kind in cols}
    return rounded(out, kinds), kinds


def deal_counts(rows: pl.DataFrame) -> dict[str, float]:
    """Won, lost and open deals and their amounts."""
    out: dict[str, float] = {}
    for s in ("won", "lost", "open"):
        part = rows.filter(pl.col("status") == s)
        out[s], out[f"{s}_amount"] = part.height, float(part["amount"].fill_null(0).sum())
    return out

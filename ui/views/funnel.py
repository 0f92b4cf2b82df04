"""Funnel: stages reached with conversion and time in stage (both counting methods), the
bottleneck and what it costs, conversion per team and per rep, and the stalled deals.

Both methods ("reached": any later stage counts; "strict": only deals seen entering every stage in
order) are computed at once, so the page's switch does not recompute. The funnel's bottleneck step
is the step whose shortfall costs the most revenue summed over the teams in scope
(`metrics.funnel.bottleneck`, one row per team and step); with a single team it is that team's own
bottleneck against its earlier periods.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from metrics import changes, funnel
from metrics._common import open_stages, with_team
from ui.filters import Filters
from ui.views import empty, scope_of
from ui.views.overview import rounded

METHODS: tuple[str, ...] = ("reached", "strict")
COMPARE: tuple[str, ...] = ("team", "rep")
DEFAULT_REPS = 5   # reps compared side by side when none is picked: the five with most deals
BOTTLENECK_PERIODS = 4   # earlier periods of the bottleneck's benchmark (metrics.funnel.bottleneck's default)


@dataclass(frozen=True)
class FunnelView:
    """What the Funnel page shows (small frames only)."""

    empty: bool
    currency: str | None = None
    stages: tuple[str, ...] = ()                                   # open stages in order
    won_stage: str = "won"
    funnels: dict[str, pl.DataFrame] = field(default_factory=dict)     # method -> funnel()
    compare: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)  # (method, team|rep) -> funnel(by=)
    bottlenecks: dict[str, pl.DataFrame] = field(default_factory=dict)  # method -> bottleneck()
    stalled: pl.DataFrame = field(default_factory=pl.DataFrame)   # with owner, team and account names
    rep_names: dict[str, str] = field(default_factory=dict)
    inferred_from: int = 0            # snapshots the stage history was inferred from (0: a history file was used)
    snapshot_gap_days: int | None = None  # median days between those snapshots: the precision of entry dates


def compute(store: Any, f: Filters) -> FunnelView:
    """Funnels (both methods, overall and per team / rep), bottlenecks and stalled deals.

    With a stored stage history, no closed deal reaches polars: DuckDB counts the funnel's deals per
    team, owner, status and furthest stage of each method (`metrics.funnel.reach_counts`), their
    completed stays per owner (`completed_stays`) and the bottleneck's compared deals
    (`bottleneck_counts_by_method`); the stalled list reads the open deals and their current stage
    entries (only a stalled deal whose current stage was entered again after `as_of` is looked up in
    the history rows). Without one, everything comes from the history inferred from the deal snapshots."""
    cur, scope = store.cursor(), scope_of(f)
    stages = store.stages_frame(cur)
    idx = open_stages(stages).select("stage", "stage_index")
    n_deals, currencies = store.deal_currencies_in_scope(scope, cur)
    if n_deals == 0 or idx.height == 0:
        return FunnelView(empty=True)
    reps = store.reps_in_scope(scope, cur)
    args = dict(as_of=f.as_of, period_from=f.period_from, period_to=f.period_to)
    groupings = (None, "team", "owner_rep_id")
    inferred_from, gap = 0, None
    if store.has_stage_history_in_scope(scope, cur):
        # the funnel's deals counted per team, owner, status and furthest stage of each method, their
        # completed stays per owner; the bottleneck's compared deals counted once for both methods; of
        # the deals themselves only the open ones (the stalled list)
        stays = with_team(store.funnel_stays_in_scope(scope, idx, f.period_from, f.period_to, f.as_of, cur), reps)
        counts = store.funnel_reach_counts_in_scope(scope, idx, f.period_from, f.period_to, f.as_of, METHODS, cur)
        found = funnel.funnel_set(None, None, stages, methods=METHODS, groupings=groupings, stays=stays,
                                  counts=counts, **args)
        compared = store.bottleneck_counts_by_method_in_scope(
            scope, idx, funnel.bottleneck_periods(f.period_from, f.period_to, BOTTLENECK_PERIODS), METHODS, cur)
        bottlenecks = {method: funnel.bottleneck(None, None, stages, reps, method=method, counts=compared[method], **args)
                       for method in METHODS}
        stalled = funnel.stalled(store.deal_facts_in_scope(scope, cur, open_only=True), None, stages, as_of=f.as_of,
                                 stays=store.completed_stays_in_scope(scope, idx, cur),
                                 entries=store.current_stage_entries_in_scope(scope, f.as_of, cur))
    else:
        deals = store.deal_facts_in_scope(scope, cur)
        hist, inferred_from, gap = inferred_history(store, f, empty("stage_history"))
        found = funnel.funnel_set(with_team(deals, reps), hist, stages, methods=METHODS, groupings=groupings, **args)
        bottlenecks = {method: funnel.bottleneck(deals, hist, stages, reps, method=method, **args) for method in METHODS}
        stalled = funnel.stalled(deals, hist, stages, as_of=f.as_of)
    funnels = {method: found[(method, None)] for method in METHODS}
    compare = {(method, by): found[(method, "team" if by == "team" else "owner_rep_id")]
               for method in METHODS for by in COMPARE}
    names = dict(zip(reps["rep_id"].to_list(), [n or r for r, n in zip(reps["rep_id"], reps["name"])]))
    return FunnelView(
        empty=False, currency=currencies[0] if len(currencies) == 1 else None, stages=tuple(idx["stage"].to_list()),
        won_stage=_won_label(stages), funnels=funnels, compare=compare, bottlenecks=bottlenecks,
        stalled=_named(stalled, reps, store.deal_names_in_scope(scope, stalled["deal_id"].to_list(), cur)),
        rep_names=names, inferred_from=inferred_from, snapshot_gap_days=gap,
    )


def inferred_history(store: Any, f: Filters, empty: pl.DataFrame) -> tuple[pl.DataFrame, int, int | None]:
    """Without a stage-history file, the stage history inferred from the deal snapshots in scope
    (`metrics.changes.infer_stage_history`), with the number of snapshots and their median spacing
    in days. Two snapshots at least: one alone dates every stage at the same upload day (then the
    empty history is given back)."""
    snaps = store.snapshots_in_scope(scope_of(f), store.cursor())
    days = changes.snapshot_dates(snaps)
    if len(days) < 2:
        return empty, 0, None
    gaps = sorted((b - a).days for a, b in zip(days, days[1:]))
    inferred = changes.infer_stage_history(snaps)
    return inferred, len(days), gaps[len(gaps) // 2]


def _won_label(stages: pl.DataFrame) -> str:
    won = stages.filter(pl.col("is_won").fill_null(False)).sort("position")
    return won["name"][0] if won.height else "won"


def _named(found: pl.DataFrame, reps: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """The stalled deals with their names, account names (else ids) and owner names (else ids) and teams
    (`names`: deal_id, name, account of those deals, `Store.deal_names_in_scope`)."""
    owners = reps.select(pl.col("rep_id").alias("owner_rep_id"), pl.col("name").alias("owner"), "team")
    return (
        found.drop("name").join(names.select("deal_id", "name", "account"), on="deal_id", how="left")
        .join(owners.unique("owner_rep_id", keep="first"), on="owner_rep_id", how="left")
        .select("deal_id", "name", pl.coalesce("account", "account_id").alias("account"),
                pl.coalesce("owner", "owner_rep_id").alias("owner"), "team", "stage", "amount", "entered_on",
                "days_in_stage", "threshold_days", "over_by_days")
    )


# ------------------------------------------------------------------------------- derived
def with_won(view: FunnelView, method: str) -> pl.DataFrame:
    """The funnel plus a last row for the won stage (reached = deals won from the last stage)."""
    fr = view.funnels[method]
    if fr.height == 0:
        return fr
    last = fr.row(fr.height - 1, named=True)
    won = round((last["conversion_to_next"] or 0.0) * last["reached"])
    first = fr["reached"][0]
    extra = pl.DataFrame({
        "stage": [view.won_stage], "stage_index": [fr.height], "next_stage": [None], "reached": [won],
        "conversion_to_next": [None], "pct_of_first": [won / first if first else None],
        "median_days": [None], "p90_days": [None],
    }, schema=fr.schema)
    return pl.concat([fr, extra], how="vertical")


def bottleneck_step(view: FunnelView, method: str) -> dict[str, Any] | None:
    """The step whose shortfall costs the most, summed over the teams in scope (or None)."""
    found = view.bottlenecks.get(method)
    if found is None or found.height == 0:
        return None
    steps = (
        found.filter(pl.col("revenue_cost") > 0)
        .group_by("from_stage", "to_stage")
        .agg(pl.col("revenue_cost").sum(), pl.len().alias("teams"), pl.col("team").sort_by("revenue_cost").last())
        .sort("revenue_cost", "from_stage", descending=[True, False])
    )
    return steps.row(0, named=True) if steps.height else None


def headline(view: FunnelView, method: str) -> dict[str, Any]:
    """Deals in the funnel, share that was won, bottleneck cost, stalled deals and their value."""
    full = with_won(view, method)
    step = bottleneck_step(view, method)
    first = full["reached"][0] if full.height else 0
    return {
        "entered": int(first), "won_share": full["pct_of_first"][-1] if full.height else None,
        "bottleneck_cost": step["revenue_cost"] if step else None,
        "stalled": view.stalled.height, "stalled_value": float(view.stalled["amount"].fill_null(0).sum()),
    }


def compare_frame(view: FunnelView, method: str, by: str, picked: tuple[str, ...] = ()) -> pl.DataFrame:
    """Conversion per step and group: group, step, conversion (for the grouped chart). Per rep, only
    the picked reps (default: the DEFAULT_REPS with most deals in the funnel)."""
    fr = view.compare[(method, by)]
    key = "team" if by == "team" else "owner_rep_id"
    if by == "rep":
        chosen = list(picked) or default_reps(view, method)
        fr = fr.filter(pl.col(key).is_in(chosen))
        fr = fr.with_columns(pl.col(key).replace_strict(view.rep_names, default=pl.col(key)).alias("group"))
    else:
        fr = fr.with_columns(pl.col(key).alias("group"))
    return fr.select("group", "stage", "next_stage", "stage_index", "reached", "conversion_to_next").sort(
        "group", "stage_index")


def default_reps(view: FunnelView, method: str) -> list[str]:
    """The reps with the most deals entering the funnel."""
    fr = view.compare[(method, "rep")].filter(pl.col("stage_index") == 0)
    return fr.sort("reached", "owner_rep_id", descending=[True, False])["owner_rep_id"].head(DEFAULT_REPS).to_list()


def rep_options(view: FunnelView, method: str) -> list[str]:
    """Every rep with deals in the funnel, most deals first."""
    fr = view.compare[(method, "rep")].filter((pl.col("stage_index") == 0) & (pl.col("reached") > 0))
    return fr.sort("reached", "owner_rep_id", descending=[True, False])["owner_rep_id"].to_list()


def stalled_rows(view: FunnelView, stage: str | None) -> pl.DataFrame:
    """The stalled deals, of one stage when a stage is picked."""
    if not stage or view.stalled.height == 0:
        return view.stalled
    return view.stalled.filter(pl.col("stage") == stage)


# ------------------------------------------------------------------------------- presentation
# Tables with translated headers for the page; `formats` maps a header to money / pct / int / days.
def _h(key: str, lang: str) -> str:
    from ui.i18n import has, t

    return t(f"columns.{key}", lang=lang) if has(f"columns.{key}", "en") else t(f"funnel.col_{key}", lang=lang)


def funnel_table(view: FunnelView, method: str, basis: str, lang: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """The rows behind the funnel chart."""
    from ui.charts.funnel import stage_shares

    fr = with_won(view, method)
    out = fr.select(
        pl.col("stage").alias(_h("stage", lang)), pl.col("reached").alias(_h("reached", lang)),
        pl.Series(_h(f"share_{basis}", lang), stage_shares(fr, basis), dtype=pl.Float64),
        pl.col("conversion_to_next").alias(_h("conversion_to_next", lang)),
        pl.col("median_days").alias(_h("median_days", lang)), pl.col("p90_days").alias(_h("p90_days", lang)),
    )
    kinds = dict(zip(out.columns, ["text", "int", "pct", "pct", "days", "days"]))
    return rounded(out, kinds), kinds


def stalled_table(rows: pl.DataFrame, lang: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """Stalled deals: deal, account, owner, team, stage, amount, days in stage, usual, over by, since."""
    cols = [("deal_id", "text"), ("name", "text"), ("account", "text"), ("owner", "text"), ("team", "text"),
            ("stage", "text"), ("amount", "money"), ("days_in_stage", "days"), ("threshold_days", "days"),
            ("over_by_days", "days"), ("entered_on", "date")]
    keys = {"name": "deal_name", "account": "account_name", "owner": "owner_rep_id"}
    out = rows.select([pl.col(c).alias(_h(keys.get(c, c), lang)) for c, _ in cols])
    kinds = {_h(keys.get(c, c), lang): kind for c, kind in cols}
    return rounded(out, kinds), kinds


def bottleneck_table(view: FunnelView, method: str, lang: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """Each team's bottleneck (its costliest step, when it costs anything) with conversion, usual level, cost."""
    found = view.bottlenecks.get(method, pl.DataFrame())
    if found.height == 0:
        return pl.DataFrame(), {}
    found = found.filter(pl.col("is_bottleneck")).sort("revenue_cost", descending=True, nulls_last=True)
    cols = [("team", "text"), ("step", "text"), ("entering", "int"), ("conversion", "pct"), ("benchmark", "pct"),
            ("revenue_cost", "money")]
    out = found.with_columns(pl.concat_str("from_stage", pl.lit(" → "), "to_stage").alias("step")).select(
        [pl.col(c).alias(_h(c, lang)) for c, _ in cols])
    kinds = {_h(c, lang): kind for c, kind in cols}
    return rounded(out, kinds), kinds

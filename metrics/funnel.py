"""Pipeline funnel: stages reached, conversion, time in stage, stalled deals and the bottleneck.

Decisions:
- The stage order is the `stages` frame's open stages (neither won nor lost) by position.
- "Reached" (default method): a deal reached a stage if its stage history or its current stage
  shows it there or in any later open stage; won deals reached every open stage; every deal in
  the cohort reached at least the first stage (it entered the pipeline). Lost deals therefore
  reach the stages up to their furthest open stage in history (or their current stage when it is
  an open one); a lost deal without history and without an open current stage counts as having
  reached the first stage only.
- "Strict" method: a deal counts at a stage only if its history shows it entering the first stage
  and every following stage up to this one, in that order (first entry of each stage no earlier
  than the previous one). Deals without history count at the first stage only.
- Conversion to next = reached(next) / reached(stage); for the last open stage the next step is
  "won": won deals that reached it / reached(last).
- Time in stage comes from consecutive `entered_at` rows of a deal (whole days between their
  dates). The last history row of a won or lost deal lasts until its close day; the last row of an
  open deal is still running, so it is left out of the completed-duration statistics (median, p75,
  p90) and used only for "days in current stage" (stalled). Repeated visits to a stage add up.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Literal

import polars as pl

from metrics._common import (
    ALL,
    OPEN,
    WON,
    Cohort,
    days_between,
    deals_in_scope,
    drop_group,
    earlier_period,
    group_columns,
    open_at,
    open_stages,
    position_in_run,
    prepare_deals,
    ratio,
    same_as_next,
    same_as_previous,
    with_group,
    with_team,
    won_in,
    won_stage_label,
)
from metrics.schema import conform

Method = Literal["reached", "strict"]


# ----------------------------------------------------------------------------- reached
def _history(stage_history: pl.DataFrame, deals: pl.DataFrame) -> pl.DataFrame:
    """The stage-history rows (deal_id, stage, entered_at) of the given deals."""
    hist = conform(stage_history, "stage_history").select("deal_id", "stage", "entered_at")
    return hist.join(deals.select("deal_id"), on="deal_id", how="semi")


def history_reach(stage_history: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """The history reach of a deal is the furthest open stage its stage history shows it in.

    Only rows whose stage is an open stage count (won, lost and unknown stages are left out);
    deals without such a row are absent. The "reached" funnel method builds on it, so a store may
    hand it over instead of the history rows.

    Columns: deal_id, hist_idx (0-based index of the stage in pipeline order, Int64). Sorted by
    deal_id.
    """
    idx = open_stages(stages)
    hist = conform(stage_history, "stage_history").select("deal_id", "stage")
    return (
        hist.join(idx.select("stage", "stage_index"), on="stage", how="inner")
        .group_by("deal_id")
        .agg(pl.col("stage_index").max().cast(pl.Int64).alias("hist_idx"))
        .sort("deal_id")
    )


def _furthest_reached(
    scope: pl.DataFrame, hist: pl.DataFrame | None, idx: pl.DataFrame, method: Method,
    reach: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Add `max_idx`: the index of the furthest open stage each deal reached (0-based).

    `hist` is the stage history already narrowed to the scope's deals (see `_history`); for the
    "reached" method `reach` (see `history_reach`) may stand in for it, for the "strict" method a
    `reach` with a `strict_idx` column (see `stage_reach`).
    """
    n = idx.height
    cur = idx.select(pl.col("stage"), pl.col("stage_index").alias("_cur_idx"))
    joined = pl.DataFrame({"deal_id": []}, schema={"deal_id": pl.String})  # a scope already carrying the reach
    if method == "reached" and reach is not None:
        per_deal = joined if "_hist_idx" in scope.columns else reach.select("deal_id", pl.col("hist_idx").alias("_hist_idx"))
    elif method == "strict" and reach is not None and "strict_idx" in reach.columns:
        per_deal = joined if "_strict_idx" in scope.columns else reach.select(
            "deal_id", pl.col("strict_idx").alias("_strict_idx"))
    elif hist is None:
        raise ValueError(f"the {method!r} funnel method needs the stage history rows")
    else:
        hist = hist.join(idx.select("stage", "stage_index"), on="stage", how="inner")
        per_deal = None
    if method == "reached":
        if per_deal is None:
            per_deal = hist.group_by("deal_id").agg(pl.col("stage_index").max().alias("_hist_idx"))
        out = scope.join(cur, on="stage", how="left")
        out = out if per_deal is joined else out.join(per_deal, on="deal_id", how="left")
        furthest = pl.max_horizontal("_hist_idx", "_cur_idx").fill_null(0)
        max_idx = pl.when(pl.col("status") == WON).then(pl.lit(n - 1, dtype=pl.Int64)).otherwise(furthest)
        return out.with_columns(max_idx.alias("max_idx")).drop("_hist_idx", "_cur_idx")
    if method != "strict":
        raise ValueError(f"unknown funnel method {method!r}")
    if per_deal is not None:
        out = scope if per_deal is joined else scope.join(per_deal, on="deal_id", how="left")
        return out.with_columns(pl.col("_strict_idx").fill_null(0).cast(pl.Int64).alias("max_idx")).drop("_strict_idx")
    out = scope.join(_strict_prefix(hist), on="deal_id", how="left")
    max_idx = (pl.col("_prefix").fill_null(1).clip(lower_bound=1) - 1).cast(pl.Int64)
    return out.with_columns(max_idx.alias("max_idx")).drop("_prefix")


def _strict_prefix(hist: pl.DataFrame) -> pl.DataFrame:
    """deal_id, _prefix: how many open stages, from the first on, each deal's history (rows with a
    `stage_index`) shows it entering in order (first entry of each no earlier than the previous one)."""
    first = (
        hist.group_by("deal_id", "stage_index")
        .agg(pl.col("entered_at").min().alias("_first"))
        .sort("deal_id", "stage_index")
    )
    prev = pl.when(same_as_previous(["deal_id"])).then(pl.col("_first").shift(1))
    first = first.with_columns(position_in_run(["deal_id"]).alias("_pos"), prev.alias("_prev"))
    in_order = (pl.col("stage_index") == pl.col("_pos")) & (
        pl.col("_prev").is_null() | (pl.col("_first") >= pl.col("_prev"))
    )
    return first.group_by("deal_id").agg(
        pl.coalesce(pl.col("_pos").filter(~in_order).min(), pl.len().cast(pl.Int64)).alias("_prefix")
    )


def stage_reach(stage_history: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """The stage reach of a deal is how far its stage history takes it by each funnel method:
    `hist_idx`, the furthest open stage the history shows it in (as `history_reach`), and
    `strict_idx`, the furthest open stage it is seen entering in order from the first one on
    (first entry of each stage no earlier than the previous one; 0 when the run breaks at once).

    Only rows whose stage is an open stage count; deals without such a row are absent. Both funnel
    methods build on it, so a store may hand it over instead of the history rows.

    Columns: deal_id, hist_idx, strict_idx (0-based indexes in pipeline order, Int64). Sorted by
    deal_id.
    """
    idx = open_stages(stages)
    hist = conform(stage_history, "stage_history").select("deal_id", "stage", "entered_at").join(
        idx.select("stage", "stage_index"), on="stage", how="inner")
    furthest = hist.group_by("deal_id").agg(pl.col("stage_index").max().cast(pl.Int64).alias("hist_idx"))
    strict = _strict_prefix(hist).select(
        "deal_id", (pl.col("_prefix").clip(lower_bound=1) - 1).cast(pl.Int64).alias("strict_idx"))
    return furthest.join(strict, on="deal_id", how="left").sort("deal_id")


def furthest_stage(
    deals: pl.DataFrame, stage_history: pl.DataFrame | None, stages: pl.DataFrame, method: Method = "reached",
    reach: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The furthest stage of a deal is the latest pipeline stage it is known to have reached.

    Returns the deals with an added `max_idx` column: the 0-based index of that open stage in
    pipeline order, by the rules of `funnel` (`method` "reached", the default, or "strict"); won
    deals reached the last open stage. With the "reached" method `reach` (`history_reach` of the
    stage history) may be given instead of `stage_history` (same result); with "strict", a `reach`
    with `strict_idx` (`stage_reach`).
    """
    prepared = prepare_deals(deals)
    if reach is not None and (method == "reached" or "strict_idx" in reach.columns):
        return _furthest_reached(prepared, None, open_stages(stages), method, reach)
    return _furthest_reached(prepared, _history(stage_history, prepared), open_stages(stages), method)


def _reached_counts(reached: pl.DataFrame, idx: pl.DataFrame, keys: list[str], weight: str | None = None) -> pl.DataFrame:
    """Per group and open stage: reached, won_from_last; plus conversion_to_next, pct_of_first.
    With `weight`, each row of `reached` stands for that many deals."""
    n = idx.height
    won_last = (pl.col("status") == WON) & (pl.col("max_idx") == n - 1)
    counts = reached.group_by(keys + ["max_idx"]).agg(
        (pl.col(weight).sum() if weight else pl.len()).cast(pl.Int64).alias("_deals"),
        (pl.col(weight).filter(won_last).sum() if weight else won_last.sum()).cast(pl.Int64).alias("_won_last"),
    )
    groups = counts.select(keys).unique()
    if keys == [ALL] and groups.height == 0:
        groups = pl.DataFrame({ALL: [0]}, schema={ALL: pl.Int8()})
    grid = groups.join(idx.select("stage", "stage_index"), how="cross")
    summed = (
        counts.join(idx.select("stage_index"), how="cross")
        .filter(pl.col("max_idx") >= pl.col("stage_index"))
        .group_by(keys + ["stage_index"])
        .agg(pl.col("_deals").sum().alias("reached"))
    )
    won_last = counts.group_by(keys).agg(pl.col("_won_last").sum())
    out = (
        grid.join(summed, on=keys + ["stage_index"], how="left", nulls_equal=True)
        .join(won_last, on=keys, how="left", nulls_equal=True)
        .with_columns(pl.col("reached").fill_null(0))
        .sort(keys + ["stage_index"], nulls_last=True)
    )
    nxt = pl.col("reached").shift(-1).over(keys)
    nxt = pl.when(pl.col("stage_index") == n - 1).then(pl.col("_won_last")).otherwise(nxt)
    first = pl.col("reached").first().over(keys)
    return out.with_columns(
        ratio(nxt, pl.col("reached")).alias("conversion_to_next"),
        ratio(pl.col("reached"), first).alias("pct_of_first"),
    ).drop("_won_last")


# ----------------------------------------------------------------------------- durations
def _stage_durations(
    scope: pl.DataFrame, hist: pl.DataFrame, idx: pl.DataFrame, as_of: date, keys: list[str]
) -> pl.DataFrame:
    """One row per history interval in an open stage: deal, stage, days, completed flag.

    `hist` is the stage history already narrowed to the scope's deals (see `_history`).
    """
    deal_cols = ["deal_id", "status", "_close_day", *keys]
    hist = hist.sort("deal_id", "entered_at", "stage").with_columns(  # stage breaks ties: the same on every call
        pl.when(same_as_next(["deal_id"])).then(pl.col("entered_at").shift(-1)).alias("_next")
    )
    hist = hist.join(scope.select(deal_cols), on="deal_id", how="inner")
    closed = (pl.col("status") != OPEN) & pl.col("_close_day").is_not_null()
    end = (
        pl.when(pl.col("_next").is_not_null())
        .then(pl.col("_next").cast(pl.Date))
        .when(closed)
        .then(pl.col("_close_day"))
        .otherwise(pl.lit(as_of))
    )
    completed = pl.col("_next").is_not_null() | closed
    return hist.join(idx.select("stage", "stage_index"), on="stage", how="inner").with_columns(
        days_between(pl.col("entered_at"), end).clip(lower_bound=0).alias("days"),
        completed.alias("completed"),
    )


def _completed_stats(durations: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    per_deal = (
        durations.filter(pl.col("completed"))
        .group_by(keys + ["deal_id", "stage_index"])
        .agg(pl.col("days").sum().cast(pl.Float64))
    )
    return per_deal.group_by(keys + ["stage_index"]).agg(
        pl.len().cast(pl.Int64).alias("deals"),
        pl.col("days").median().alias("median_days"),
        pl.col("days").quantile(0.75, interpolation="linear").alias("p75_days"),
        pl.col("days").quantile(0.9, interpolation="linear").alias("p90_days"),
    )


# ----------------------------------------------------------------------------- public
def funnel(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    method: Method = "reached",
    cohort: Cohort = "closed_and_open",
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """The funnel counts how many deals reached each pipeline stage and what share of them moved on
    to the next one.

    A deal reached a stage if its history or current stage shows it there or further along; won
    deals reached every stage. Conversion to next = deals reaching the next stage / deals reaching
    this one (for the last stage, the next step is winning).

    Variants: `method="reached"` (default) or `"strict"` (only deals seen entering every stage in
    order); `cohort="closed_and_open"` (default: won/lost in the period plus open pipeline),
    `"closed"` or `"created"` (see `_common.deals_in_scope`). `by` groups by deal columns.

    Columns: [by...], stage, stage_index, next_stage, reached, conversion_to_next, pct_of_first,
    median_days, p90_days (completed time in the stage, from stage history). Without grouping,
    every open stage is listed even when no deal is in scope (reached 0, rates null).
    """
    idx = open_stages(stages)
    keys = group_columns(by)
    scope = with_group(
        deals_in_scope(prepare_deals(deals, currency), period_from, period_to, as_of, cohort), keys
    )
    if idx.height == 0:
        return _empty_funnel(scope, keys)
    hist = _history(stage_history, scope)
    counts = _reached_counts(_furthest_reached(scope, hist, idx, method), idx, keys)
    stats = _completed_stats(_stage_durations(scope, hist, idx, as_of, keys), keys)
    nxt = idx.select(
        "stage_index",
        pl.col("stage").shift(-1).fill_null(won_stage_label(stages)).alias("next_stage"),
    )
    out = counts.join(nxt, on="stage_index", how="left").join(
        stats.select(keys + ["stage_index", "median_days", "p90_days"]),
        on=keys + ["stage_index"],
        how="left",
        nulls_equal=True,
    )
    cols = [*keys, "stage", "stage_index", "next_stage", "reached", "conversion_to_next",
            "pct_of_first", "median_days", "p90_days"]
    return drop_group(out.select(cols).sort(keys + ["stage_index"], nulls_last=True))


def funnel_set(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    methods: Sequence[Method] = ("reached", "strict"),
    groupings: Sequence[str | None] = (None,),
    cohort: Cohort = "closed_and_open",
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
    stays: pl.DataFrame | None = None,
    counts: Mapping[str, pl.DataFrame] | None = None,
) -> dict[tuple[str, str | None], pl.DataFrame]:
    """The funnel set is the funnel for several counting methods and groupings at once, keyed by
    (method, grouping column or None): the same table as `funnel(..., method=, by=)` for each pair,
    a grouped one over the deals whose group is known. The stage history is read once for all.

    Instead of the history rows, a store may hand over `reach` (`stage_reach` of the history) and
    `stays` (`completed_stays` of the funnel's deals — the cohort in the period — by the grouping
    columns); the result is the same. With `stays` and `counts` (`reach_counts` of the same deals by
    the grouping columns, for each method) the deals are not read at all.
    """
    idx = open_stages(stages)
    columns = [g for g in groupings if g is not None]
    if counts is not None and stays is not None and idx.height:
        reached = {m: with_group(counts[m], [ALL]).rename({"deals": "_n"}) for m in methods}
        return _funnel_tables(reached, with_group(stays, [ALL]), None, idx, stages, groupings)
    scope = with_group(deals_in_scope(prepare_deals(deals, currency), period_from, period_to, as_of, cohort), [ALL])
    if idx.height == 0:
        return {(m, g): funnel(deals, stage_history, stages, as_of=as_of, period_from=period_from,
                               period_to=period_to, method=m, cohort=cohort, by=g, currency=currency)
                for m in methods for g in groupings}
    if reach is not None and stays is not None:
        hist = None
        counted = with_group(stays, [ALL])
    else:
        hist = _history(stage_history, scope)
        durations = _stage_durations(scope, hist, idx, as_of, [ALL, *columns])
    if reach is not None:   # both methods' reach joined once
        names = {"hist_idx": "_hist_idx", "strict_idx": "_strict_idx"}
        scope = scope.join(reach.select("deal_id", *[pl.col(c).alias(a) for c, a in names.items() if c in reach.columns]),
                           on="deal_id", how="left")
    # each method's furthest stages counted per group, status and stage (a few rows per group)
    reached = {m: _furthest_reached(scope, hist, idx, m, reach).group_by(ALL, *columns, "status", "max_idx").agg(
        pl.len().alias("_n")) for m in methods}
    return _funnel_tables(reached, counted if hist is None else None, durations if hist is not None else None,
                          idx, stages, groupings)


def _funnel_tables(reached: Mapping[str, pl.DataFrame], counted: pl.DataFrame | None, durations: pl.DataFrame | None,
                   idx: pl.DataFrame, stages: pl.DataFrame, groupings: Sequence[str | None],
                   ) -> dict[tuple[str, str | None], pl.DataFrame]:
    """`funnel_set`'s tables from each method's deals counted per group, status and furthest stage
    (`_n`), and the completed stays: counted (`completed_stays` by the groupings) or as durations."""
    nxt = idx.select("stage_index", pl.col("stage").shift(-1).fill_null(won_stage_label(stages)).alias("next_stage"))
    cols = ["stage", "stage_index", "next_stage", "reached", "conversion_to_next", "pct_of_first", "median_days",
            "p90_days"]
    out: dict[tuple[str, str | None], pl.DataFrame] = {}
    for g in groupings:
        keys = group_columns(g)
        known = pl.lit(True) if g is None else pl.col(g).is_not_null()
        if counted is not None:
            stats = _stats_of_counts(counted.filter(known), keys)
        else:
            stats = _completed_stats(durations.filter(known), keys).select(keys + ["stage_index", "median_days",
                                                                                  "p90_days"])
        for m, frame in reached.items():
            counts = _reached_counts(frame.filter(known), idx, keys, weight="_n")
            table = counts.join(nxt, on="stage_index", how="left").join(
                stats, on=keys + ["stage_index"], how="left", nulls_equal=True)
            out[(m, g)] = drop_group(table.select(*keys, *cols).sort(keys + ["stage_index"], nulls_last=True))
    return out


def reach_counts(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    methods: Sequence[Method] = ("reached", "strict"),
    by: Sequence[str] = (),
    cohort: Cohort = "closed_and_open",
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """Reach counts are the funnel's deals (the cohort of `_common.deals_in_scope`) counted per
    group of the `by` deal columns, status and furthest open stage reached (`max_idx`, by each of
    `methods`, as `furthest_stage` gives it). Every funnel of `funnel_set` follows from them, so a
    store may hand them over instead of the deals (with `reach` standing in for the history rows).

    Columns, per method: [by...], status, max_idx (Int64), deals (Int64). Sorted by them.
    """
    idx = open_stages(stages)
    scope = deals_in_scope(prepare_deals(deals, currency), period_from, period_to, as_of, cohort)
    hist = None if reach is not None else _history(stage_history, scope)
    keys = [*by, "status", "max_idx"]
    return {m: _furthest_reached(scope, hist, idx, m, reach).group_by(keys).agg(pl.len().cast(pl.Int64).alias("deals"))
            .with_columns(pl.col("max_idx").cast(pl.Int64)).select(*keys, "deals").sort(keys, nulls_last=True)
            for m in methods}


def _stats_of_counts(stays: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """keys, stage_index, median_days, p90_days from completed stays counted per group (see
    `completed_stays`): the same numbers `_completed_stats` gives from the durations."""
    counts = stays.group_by(*keys, "stage_index", "days").agg(pl.col("deals").sum())
    by = [*keys, "stage_index"]
    median = quantile_of_counts(counts, 0.5, by=by).rename({"quantile": "median_days"})
    p90 = quantile_of_counts(counts, 0.9, by=by).rename({"quantile": "p90_days"})
    return median.join(p90, on=by, how="full", coalesce=True, nulls_equal=True).with_columns(
        pl.col("stage_index").cast(pl.Int64))


def _empty_funnel(scope: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    schema = {k: scope.schema[k] for k in keys}
    schema.update(
        stage=pl.String(), stage_index=pl.Int64(), next_stage=pl.String(), reached=pl.Int64(),
        conversion_to_next=pl.Float64(), pct_of_first=pl.Float64(), median_days=pl.Float64(),
        p90_days=pl.Float64(),
    )
    return drop_group(pl.DataFrame(schema=schema))


def time_in_stage(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    cohort: Cohort = "closed_and_open",
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Time in stage is how many days deals spent in each pipeline stage before moving on, as the
    median and the 90th percentile.

    It is measured from stage history, between a deal entering a stage and entering the next one
    (or closing); a stage an open deal is still in is not finished and is not counted here.

    Columns: [by...], stage, stage_index, deals (deals with a completed stay), median_days,
    p75_days, p90_days. Every open stage is listed; stages without data have nulls.
    """
    idx = open_stages(stages)
    keys = group_columns(by)
    scope = with_group(
        deals_in_scope(prepare_deals(deals, currency), period_from, period_to, as_of, cohort), keys
    )
    stats = _completed_stats(_stage_durations(scope, _history(stage_history, scope), idx, as_of, keys), keys)
    groups = scope.select(keys).unique()
    grid = groups.join(idx.select("stage", "stage_index"), how="cross")
    out = grid.join(stats, on=keys + ["stage_index"], how="left", nulls_equal=True).with_columns(
        pl.col("deals").fill_null(0)
    )
    cols = [*keys, "stage", "stage_index", "deals", "median_days", "p75_days", "p90_days"]
    return drop_group(out.select(cols).sort(keys + ["stage_index"], nulls_last=True))


def completed_stays(
    deals: pl.DataFrame, stage_history: pl.DataFrame, stages: pl.DataFrame, *, currency: str | None = None,
    by: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Completed stays count the deals by how many days they spent, in total, in each open stage
    they have left (or were in when they closed): a histogram of completed time in stage.

    Per deal and open stage, the completed intervals of its history (see the module notes: from one
    `entered_at` to the next, the last one of a won or lost deal up to its close day; each clipped
    at zero) add up to one stay; the stays are then counted per stage and whole number of days.
    Quantiles of time in stage over these deals follow exactly from it (`quantile_of_counts`),
    so a store may hand over this small frame instead of the history rows. `by` counts them per
    group of deal columns as well.

    Columns: [by...], stage_index, days (Int64), deals (Int64). Sorted by [by...], stage_index, days.
    """
    idx = open_stages(stages)
    keys = group_columns(by)
    prepared = with_group(prepare_deals(deals, currency), keys)
    durations = _stage_durations(prepared, _history(stage_history, prepared), idx, date.max, keys)
    return drop_group(
        durations.filter(pl.col("completed"))
        .group_by(*keys, "deal_id", "stage_index")
        .agg(pl.col("days").sum().cast(pl.Int64))
        .group_by(*keys, "stage_index", "days")
        .agg(pl.len().cast(pl.Int64).alias("deals"))
        .select(*keys, pl.col("stage_index").cast(pl.Int64), "days", "deals")
        .sort(*keys, "stage_index", "days", nulls_last=True)
    )


def quantile_of_counts(counts: pl.DataFrame, quantile: float, value: str = "days",
                       weight: str = "deals", by: str | Sequence[str] = "stage_index") -> pl.DataFrame:
    """The quantile of values given as counts (value, how many times it occurs), per group: the
    same number as polars' `quantile(q, interpolation="linear")` over the values written out
    (position q × (n − 1) in sorted order, linear between the two neighbours).

    Columns: [by...], quantile (Float64).
    """
    by = [by] if isinstance(by, str) else list(by)
    ordered = counts.filter(pl.col(weight) > 0).sort(*by, value, nulls_last=True)
    n = pl.col(weight).sum().over(by)
    pos = (n - 1).cast(pl.Float64) * quantile
    lo, hi = pos.floor(), pos.ceil()
    before = pl.col(weight).cum_sum().over(by) - pl.col(weight)      # values ahead of this row
    upto = pl.col(weight).cum_sum().over(by)                         # ... up to and including it
    at_lo = (before <= lo) & (lo < upto)
    at_hi = (before <= hi) & (hi < upto)
    picked = ordered.with_columns(pos.alias("_pos"), lo.alias("_lo"), at_lo.alias("_at_lo"), at_hi.alias("_at_hi"))
    return (
        picked.group_by(by)
        .agg(
            pl.col(value).filter(pl.col("_at_lo")).first().cast(pl.Float64).alias("_v_lo"),
            pl.col(value).filter(pl.col("_at_hi")).first().cast(pl.Float64).alias("_v_hi"),
            (pl.col("_pos").first() - pl.col("_lo").first()).alias("_frac"),
        )
        .select(*by, (pl.col("_v_lo") + pl.col("_frac") * (pl.col("_v_hi") - pl.col("_v_lo"))).alias("quantile"))
        .sort(by, nulls_last=True)
    )


def current_stage_entries(deals: pl.DataFrame, stage_history: pl.DataFrame, *, as_of: date) -> pl.DataFrame:
    """The current stage entry of an open deal is the latest day, up to `as_of`, its history
    shows it entering the stage it is in now (deals open at `as_of` only; deals without such a
    row are absent). Stalled deals are measured from it, so a store may hand it over instead of
    the history rows.

    Columns: deal_id, entered_on (Date). Sorted by deal_id.
    """
    live = open_at(prepare_deals(deals), as_of)
    return (
        _history(stage_history, live)
        .filter(pl.col("entered_at").cast(pl.Date) <= as_of)
        .join(live.select("deal_id", "stage"), on=["deal_id", "stage"], how="semi")
        .group_by("deal_id")
        .agg(pl.col("entered_at").max().cast(pl.Date).alias("entered_on"))
        .sort("deal_id")
    )


def stalled(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    *,
    as_of: date,
    quantile: float = 0.75,
    thresholds: Mapping[str, float] | None = None,
    currency: str | None = None,
    stays: pl.DataFrame | None = None,
    entries: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Stalled deals are open deals that have sat in their current stage longer than deals usually
    stay there.

    "Usually" is the 75th percentile of completed stays in that stage (from stage history); a
    threshold per stage can be set instead.

    Days in the current stage run from the deal's latest entry into it up to `as_of`; a deal with
    no history entry for its stage is measured from its creation date (`entered_source` =
    "created" instead of "history"). Variant: `quantile` (default 0.75); `thresholds` maps stage
    name to days and overrides the learned value. Stages without either are never flagged.
    Instead of `stage_history`, `stays` (`completed_stays` of the same deals) and `entries`
    (`current_stage_entries` at `as_of`) may be given (same result).

    Columns: deal_id, name, account_id, owner_rep_id, stage, amount, entered_on, entered_source,
    days_in_stage, threshold_days, over_by_days. Sorted by over_by_days descending.
    """
    idx = open_stages(stages)
    all_deals = prepare_deals(deals, currency)
    if stays is None or entries is None:
        if stage_history is None:
            raise ValueError("stalled needs the stage history, or its completed stays and current entries")
        stays = completed_stays(all_deals, stage_history, stages) if stays is None else stays
        entries = current_stage_entries(all_deals, stage_history, as_of=as_of) if entries is None else entries
    limits = _stall_limits(idx, stays, quantile, thresholds)
    live = open_at(all_deals, as_of).join(limits, on="stage", how="inner")
    entered = entries.select("deal_id", pl.col("entered_on").cast(pl.Date).alias("_entered"))
    out = live.join(entered, on="deal_id", how="left").with_columns(
        pl.coalesce("_entered", "created_on").alias("entered_on"),
        pl.when(pl.col("_entered").is_not_null())
        .then(pl.lit("history"))
        .when(pl.col("created_on").is_not_null())
        .then(pl.lit("created"))
        .alias("entered_source"),
    )
    out = out.with_columns(
        days_between(pl.col("entered_on"), pl.lit(as_of)).alias("days_in_stage")
    ).with_columns((pl.col("days_in_stage") - pl.col("threshold_days")).alias("over_by_days"))
    cols = ["deal_id", "name", "account_id", "owner_rep_id", "stage", "amount", "entered_on",
            "entered_source", "days_in_stage", "threshold_days", "over_by_days"]
    return (
        out.filter(pl.col("over_by_days") > 0)
        .select(cols)
        .sort("over_by_days", "deal_id", descending=[True, False])
    )


def _stall_limits(idx: pl.DataFrame, stays: pl.DataFrame, quantile: float,
                  thresholds: Mapping[str, float] | None) -> pl.DataFrame:
    """stage, threshold_days: each open stage's stalled threshold (`stalled`)."""
    learned = quantile_of_counts(stays, quantile).select(
        pl.col("stage_index").cast(idx.schema["stage_index"]), pl.col("quantile").alias("_learned"))
    chosen = dict(thresholds or {})
    override = pl.DataFrame(
        {"stage": list(chosen), "_override": [float(v) for v in chosen.values()]},
        schema={"stage": pl.String(), "_override": pl.Float64()},
    )
    return (
        idx.join(learned, on="stage_index", how="left")
        .join(override, on="stage", how="left")
        .select("stage", pl.coalesce("_override", "_learned").alias("threshold_days"))
    )


def stage_days(deals: pl.DataFrame, entries: pl.DataFrame, *, as_of: date, currency: str | None = None) -> pl.DataFrame:
    """The stage days count the open deals at `as_of` by their current stage and how many whole days
    they have been in it, as `stalled` measures it: from their current stage entry (`entries`,
    `current_stage_entries` at `as_of`), else from their creation date (null days when neither is
    known); with the sum of their known amounts. Whether a deal is stalled follows from its stage
    and days alone, so a store may hand this over instead of the deals (`stalled_by_stage`).

    Columns: stage, days_in_stage (Int64), deals (Int64), amount (Float64, 0 without a known
    amount). Sorted by stage, days_in_stage.
    """
    live = open_at(prepare_deals(deals, currency), as_of)
    entered = entries.select("deal_id", pl.col("entered_on").cast(pl.Date).alias("_entered"))
    return (
        live.join(entered, on="deal_id", how="left")
        .group_by("stage", days_between(pl.coalesce("_entered", "created_on"), pl.lit(as_of))
                  .cast(pl.Int64).alias("days_in_stage"))
        .agg(pl.len().cast(pl.Int64).alias("deals"), pl.col("amount").sum().cast(pl.Float64))
        .sort("stage", "days_in_stage", nulls_last=True)
    )


def stalled_by_stage(days: pl.DataFrame, stays: pl.DataFrame, stages: pl.DataFrame, *, quantile: float = 0.75,
                     thresholds: Mapping[str, float] | None = None) -> pl.DataFrame:
    """The stalled deals by stage are the deals `stalled` lists, counted per stage with the sum of
    their known amounts, from their `stage_days` and the `completed_stays` of the same deals
    (a deal is stalled when its days in stage exceed the stage's threshold; same `quantile` and
    `thresholds` as `stalled`).

    Columns: stage, deals (Int64), amount (Float64). Stages without a stalled deal are absent.
    Sorted by amount descending, then stage.
    """
    limits = _stall_limits(open_stages(stages), stays, quantile, thresholds)
    return (
        days.join(limits, on="stage", how="inner")
        .filter((pl.col("days_in_stage") - pl.col("threshold_days")) > 0)
        .group_by("stage")
        .agg(pl.col("deals").sum().cast(pl.Int64), pl.col("amount").sum().cast(pl.Float64))
        .sort("amount", "stage", descending=[True, False])
    )


def bottleneck(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    earlier_periods: int = 4,
    method: Method = "reached",
    cohort: Cohort = "closed",
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
    counts: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The bottleneck is the stage-to-stage step whose conversion falls furthest below its usual
    level, ranked by the revenue the shortfall costs.

    The usual level (benchmark) is the median conversion of the same step across teams, or, when
    there is only one team, across earlier periods of the same length. Cost = (benchmark − actual
    conversion) × deals entering the step × average won deal.

    Default cohort is `"closed"` (deals won or lost in each period), so that every period and team
    is compared on finished deals; `earlier_periods` (default 4) sets how many earlier periods form
    the benchmark (it needs a bounded period; otherwise the benchmark is null). The average won
    deal is the team's own in the period, else everyone's, else everyone's over the benchmark
    periods. With the "reached" method, `reach` (`history_reach` of the deals' stage history) may
    be given instead of `stage_history` (same result); it needs to cover the compared deals that
    are not won (won deals reached every stage). With the "strict" method, a `reach` with
    `strict_idx` (`stage_reach`) covering every compared deal may be given. Instead of all of them,
    `counts` (`bottleneck_counts` of the same deals and arguments) may be given (same result).

    Columns: team, from_stage, to_stage, entering, conversion, benchmark, benchmark_basis
    ("teams" or "earlier_periods"), gap (benchmark − conversion), avg_won_deal, revenue_cost,
    rank (1 = costliest within the team), is_bottleneck (rank 1 with a positive cost).
    Sorted by revenue_cost descending.
    """
    idx = open_stages(stages)
    if counts is None:
        counts = bottleneck_counts(deals, stage_history, stages, reps, as_of=as_of, period_from=period_from,
                                   period_to=period_to, earlier_periods=earlier_periods, method=method,
                                   cohort=cohort, currency=currency, reach=reach)
    current = counts.filter(pl.col("period") == 0)
    if current.select(pl.col("team").unique()).height > 1:
        frame, basis = current, "teams"
    else:
        frame, basis = counts, "earlier_periods"
    if idx.height == 0 or frame.height == 0:
        return _empty_bottleneck()
    keys = ["team", "_period"]
    reached = frame.select("team", pl.col("period").alias("_period"), "status", "max_idx", pl.col("deals").alias("_n"))
    conv = _reached_counts(reached, idx, keys, weight="_n")
    to_stage = pl.col("stage").shift(-1).fill_null(won_stage_label(stages)).alias("to_stage")
    conv = conv.join(idx.select("stage_index", to_stage), on="stage_index")
    if basis == "teams":
        bench = conv.group_by("stage_index").agg(pl.col("conversion_to_next").median().alias("benchmark"))
    else:
        bench = (
            conv.filter(pl.col("_period") > 0)
            .group_by("stage_index")
            .agg(pl.col("conversion_to_next").median().alias("benchmark"))
        )
    avg = _avg_won(current)
    out = (
        conv.filter(pl.col("_period") == 0)
        .join(bench, on="stage_index", how="left")
        .join(avg, on="team", how="left", nulls_equal=True)
        .with_columns(
            pl.coalesce(
                "avg_won_deal",
                pl.lit(_overall_avg_won(current), dtype=pl.Float64),
                pl.lit(_overall_avg_won(frame), dtype=pl.Float64),
            )
        )
        .with_columns((pl.col("benchmark") - pl.col("conversion_to_next")).alias("gap"))
        .with_columns((pl.col("gap") * pl.col("reached") * pl.col("avg_won_deal")).alias("revenue_cost"))
        .sort("team", "revenue_cost", "stage_index", descending=[False, True, False], nulls_last=True)
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("team").alias("rank"))
        .with_columns(
            ((pl.col("rank") == 1) & (pl.col("revenue_cost") > 0)).fill_null(False).alias("is_bottleneck")
        )
    )
    return out.select(
        "team",
        pl.col("stage").alias("from_stage"),
        "to_stage",
        pl.col("reached").alias("entering"),
        pl.col("conversion_to_next").alias("conversion"),
        "benchmark",
        pl.lit(basis).alias("benchmark_basis"),
        "gap",
        "avg_won_deal",
        "revenue_cost",
        "rank",
        "is_bottleneck",
    ).sort("revenue_cost", "team", "rank", descending=[True, False, False], nulls_last=True)


def bottleneck_periods(period_from: date | None, period_to: date | None, earlier_periods: int = 4,
                       ) -> list[tuple[date | None, date | None]]:
    """The bottleneck periods are the period itself, then up to `earlier_periods` earlier periods of
    the same length (`_common.earlier_period`; none for an all-time or half-open period), in that
    order: the index in this list is the `period` of `bottleneck_counts`."""
    out: list[tuple[date | None, date | None]] = [(period_from, period_to)]
    for i in range(1, earlier_periods + 1):
        window = earlier_period(period_from, period_to, i)
        if window is None:
            break
        out.append(window)
    return out


def bottleneck_counts(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    earlier_periods: int = 4,
    method: Method = "reached",
    cohort: Cohort = "closed",
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The bottleneck counts are the deals the bottleneck compares, counted per owner's team
    (`_common.with_team`), period of `bottleneck_periods` (the cohort of each, see
    `_common.deals_in_scope`, an earlier period's open pipeline taken at its last day), status and
    furthest stage reached (`furthest_stage`, by `method`), with the sum and number of their known
    amounts. Everything `bottleneck` computes follows from them, so a store may hand them over
    instead of the deals and their history.

    Columns: team, period (Int64, 0 = this period), status, max_idx (Int64), deals (Int64), amount
    (Float64, 0 without a known amount), amounts (Int64). Sorted by team, period, status, max_idx.
    """
    return bottleneck_counts_by_method(
        deals, stage_history, stages, reps, as_of=as_of, period_from=period_from, period_to=period_to,
        earlier_periods=earlier_periods, methods=(method,), cohort=cohort, currency=currency, reach=reach)[method]


def bottleneck_counts_by_method(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    reps: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    earlier_periods: int = 4,
    methods: tuple[Method, ...] = ("reached", "strict"),
    cohort: Cohort = "closed",
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
) -> dict[Method, pl.DataFrame]:
    """`bottleneck_counts` of each of `methods` (same arguments otherwise), the compared deals of the
    periods picked once for all of them."""
    idx = open_stages(stages)
    prepared = with_team(prepare_deals(deals, currency), reps)
    frames = []
    for k, (start, end) in enumerate(bottleneck_periods(period_from, period_to, earlier_periods)):
        day = as_of if k == 0 else min(as_of, end)
        frames.append(deals_in_scope(prepared, start, end, day, cohort).with_columns(
            pl.lit(k, dtype=pl.Int64).alias("_period")))
    frame = pl.concat(frames, how="vertical")
    out: dict[Method, pl.DataFrame] = {}
    for method in methods:
        if idx.height == 0 or frame.height == 0:
            out[method] = pl.DataFrame(schema={"team": pl.String, "period": pl.Int64, "status": pl.String,
                                               "max_idx": pl.Int64, "deals": pl.Int64, "amount": pl.Float64,
                                               "amounts": pl.Int64})
            continue
        by_reach = reach is not None and (method == "reached" or "strict_idx" in reach.columns)
        hist = None if by_reach else _history(stage_history, frame)
        reached = _furthest_reached(frame, hist, idx, method, reach)
        out[method] = (
            reached.group_by("team", pl.col("_period").alias("period"), "status", pl.col("max_idx").cast(pl.Int64))
            .agg(pl.len().cast(pl.Int64).alias("deals"),
                 pl.col("amount").sum().cast(pl.Float64).alias("amount"),
                 pl.col("amount").count().cast(pl.Int64).alias("amounts"))
            .sort("team", "period", "status", "max_idx", nulls_last=True)
        )
    return out


def _avg_won(counts: pl.DataFrame) -> pl.DataFrame:
    """team, avg_won_deal: the mean known amount of the won deals of `bottleneck_counts` rows."""
    return counts.filter(pl.col("status") == WON).group_by("team").agg(
        ratio(pl.col("amount").sum(), pl.col("amounts").sum()).alias("avg_won_deal"))


def _overall_avg_won(counts: pl.DataFrame) -> float | None:
    won = counts.filter(pl.col("status") == WON)
    n = int(won["amounts"].sum())
    return float(won["amount"].sum()) / n if n else None


def _empty_bottleneck() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "team": pl.String(), "from_stage": pl.String(), "to_stage": pl.String(),
            "entering": pl.Int64(), "conversion": pl.Float64(), "benchmark": pl.Float64(),
            "benchmark_basis": pl.String(), "gap": pl.Float64(), "avg_won_deal": pl.Float64(),
            "revenue_cost": pl.Float64(), "rank": pl.Int64(), "is_bottleneck": pl.Boolean(),
        }
    )


__all__ = ["funnel", "funnel_set", "reach_counts", "time_in_stage", "stalled", "bottleneck", "bottleneck_counts", "bottleneck_periods",
           "furthest_stage", "history_reach", "stage_days", "stalled_by_stage",
           "stage_reach", "completed_stays",
           "current_stage_entries", "quantile_of_counts"]

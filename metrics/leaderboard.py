"""Leaderboard per rep or per team, with rank, change of rank and top/bottom flags.

Decisions:
- Every known rep is listed: the reps table plus any rep id found as a deal owner or on an
  activity, in any period; reps without deals or activities show zeros (rates stay null, since
  a rate with nothing to divide by is undefined). Per team, the teams of the reps table plus the
  teams of owners seen. Deals without owner (or, per team, whose owner has no team) are left out;
  the data-quality checks report them.
- Rank orders by won revenue, then won deals (both descending), then name and id, so ranks are
  always 1..n without gaps or ties. The change of rank compares with the previous period of equal
  length (positive = climbed); all-time or half-open periods have no previous period.
- Top and bottom are positional, not a fixed count: a rep is "top" when their won revenue beats
  at least `flag_share` (default 0.8) of the other reps, "bottom" when at least that share of the
  others beat them. Equal revenues never beat each other, so an all-equal board has no flags.
- Targets are revenue targets of the rep (per team: the team's own target, else the sum of its
  reps' targets) overlapping the period, prorated by days.
- The deals may come already counted (`DealCounts`: closed deals per owner, period, status and
  cycle; open deals per owner and day), which gives the same board from a few thousand rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import polars as pl

from metrics._common import (
    ACTIVITY_KINDS,
    closed_in,
    counted_deal_stats,
    deal_stats,
    open_at,
    prepare_deals,
    previous_period,
    prorated_targets,
    ratio,
    within,
)
from metrics.schema import conform

By = Literal["rep", "team"]


DAILY_COUNTS: tuple[str, ...] = ("activities", *[f"activities_{k}" for k in ACTIVITY_KINDS])


@dataclass(frozen=True)
class DealCounts:
    """The deals a leaderboard reads, counted where they are stored (same board as the deals give).

    `closed`: owner_rep_id, period_from, period_to, status, cycle_days, deals, won_amount,
    won_amounts: for each period asked for (null bounds: all time, every closed deal), the deals won
    or lost with their close day in it, counted per owner, status and sales cycle (won deals: days
    from creation to the close day, null when unknown or negative; lost deals: null), with the sum
    of the won deals' amounts and how many have one.
    `open`: owner_rep_id, as_of, deals, amount: for each day asked for, per owner of any deal (zeros
    where none is open), the open deals created by then or without a creation day, and the sum of
    their known amounts (0 without any).
    """

    closed: pl.DataFrame
    open: pl.DataFrame


def _window(counts: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """The closed counts of the period [start, end]."""
    return counts.filter(pl.col("period_from").eq_missing(pl.lit(start, pl.Date))
                         & pl.col("period_to").eq_missing(pl.lit(end, pl.Date)))


def daily_activity_counts(activities: pl.DataFrame) -> pl.DataFrame:
    """Daily activity counts are a rep's activities per calendar day, in total and by kind.

    The kind is lower-cased and trimmed; kinds outside call/email/meeting/visit/task (or missing)
    count as "other". The day is the activity's date (`occurred_at` cast to a date). Every metric
    that counts activities by rep and period sums these rows, so a store may hand over the counts
    instead of the activities (the same frame, computed where the activities are).

    Columns: rep_id, day, activities, activities_<kind> for call/email/meeting/visit/task/other
    (all Int64). One row per rep and day with at least one activity, sorted by rep_id, day.
    """
    acts = conform(activities, "activities")
    kind = pl.col("kind").str.to_lowercase().str.strip_chars()
    kind = pl.when(kind.is_in(list(ACTIVITY_KINDS))).then(kind).otherwise(pl.lit("other"))
    return (
        acts.with_columns(pl.col("occurred_at").cast(pl.Date).alias("day"), kind.alias("_kind"))
        .group_by("rep_id", "day")
        .agg(
            pl.len().cast(pl.Int64).alias("activities"),
            *[(pl.col("_kind") == k).sum().cast(pl.Int64).alias(f"activities_{k}") for k in ACTIVITY_KINDS],
        )
        .sort("rep_id", "day", nulls_last=True)
    )


def _daily(activities: pl.DataFrame) -> pl.DataFrame:
    """Daily counts as given (a frame with the count columns), else counted from raw activities."""
    if set(DAILY_COUNTS) <= set(activities.columns) and "day" in activities.columns:
        return activities.select("rep_id", "day", *[pl.col(c).cast(pl.Int64) for c in DAILY_COUNTS])
    return daily_activity_counts(activities)


def _keyed(
    deals: pl.DataFrame | DealCounts, activities: pl.DataFrame, reps: pl.DataFrame, by: By
) -> tuple[pl.DataFrame | DealCounts, pl.DataFrame, pl.DataFrame]:
    """Add `_key` (rep id or team) to deals (or both frames of their counts) and daily activity
    counts; return them with the key universe."""
    rp = conform(reps, "reps")
    acts = _daily(activities)
    if by == "rep":
        def key(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.with_columns(pl.col("owner_rep_id").alias("_key"))
        a = acts.with_columns(pl.col("rep_id").alias("_key"))
        known = rp.select(pl.col("rep_id").alias("_key"))
    elif by == "team":
        team_of = rp.select("rep_id", pl.col("team").alias("_key")).unique("rep_id", keep="first")

        def key(frame: pl.DataFrame) -> pl.DataFrame:
            return frame.join(team_of.rename({"rep_id": "owner_rep_id"}), on="owner_rep_id", how="left")
        a = acts.drop("_key", strict=False).join(team_of, on="rep_id", how="left")
        known = rp.select(pl.col("team").alias("_key"))
    else:
        raise ValueError(f"unknown leaderboard grouping {by!r}")
    if isinstance(deals, DealCounts):       # every owner of a deal is in `open`, once per day counted
        d: pl.DataFrame | DealCounts = DealCounts(key(deals.closed), key(deals.open))
        owners = d.open.select("_key")
    else:
        d = key(deals)
        owners = d.select("_key")
    universe = (
        pl.concat([known, owners, a.select("_key")], how="vertical")
        .drop_nulls()
        .filter(pl.col("_key") != "")
        .unique()
    )
    return d, a, universe


def _activity_counts(daily: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    scoped = daily.filter(within(pl.col("day"), start, end))
    return scoped.group_by("_key").agg([pl.col(c).sum().cast(pl.Int64) for c in DAILY_COUNTS])


def _period_board(
    d: pl.DataFrame | DealCounts, a: pl.DataFrame, universe: pl.DataFrame, start: date | None, end: date | None
) -> pl.DataFrame:
    if isinstance(d, DealCounts):
        stats = counted_deal_stats(_window(d.closed, start, end), ["_key"])
    else:
        stats = deal_stats(closed_in(d, start, end), ["_key"])
    return (
        universe.join(stats, on="_key", how="left")
        .join(_activity_counts(a, start, end), on="_key", how="left")
        .with_columns(
            [pl.col(c).fill_null(0) for c in ["won_deals", "lost_deals", "activities"]]
            + [pl.col(f"activities_{k}").fill_null(0) for k in ACTIVITY_KINDS]
            + [pl.col("won_revenue").fill_null(0.0)]
        )
    )


def _ranked(board: pl.DataFrame, name: str) -> pl.DataFrame:
    return board.sort(
        ["won_revenue", "won_deals", name, "_key"],
        descending=[True, True, False, False],
        nulls_last=True,
    ).with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("rank"))


def _targets(
    targets: pl.DataFrame, reps: pl.DataFrame, by: By, start: date | None, end: date | None
) -> pl.DataFrame:
    rep_t = (
        prorated_targets(targets, "rep", start, end)
        .group_by("scope_id")
        .agg(pl.col("value").sum().alias("target"))
    )
    if by == "rep":
        return rep_t.rename({"scope_id": "_key"})
    team_t = (
        prorated_targets(targets, "team", start, end)
        .group_by("scope_id")
        .agg(pl.col("value").sum().alias("_team_target"))
        .rename({"scope_id": "_key"})
    )
    team_of = conform(reps, "reps").select("rep_id", "team").unique("rep_id", keep="first")
    summed = (
        rep_t.join(team_of, left_on="scope_id", right_on="rep_id", how="inner")
        .group_by(pl.col("team").alias("_key"))
        .agg(pl.col("target").sum().alias("_rep_sum"))
    )
    return team_t.join(summed, on="_key", how="full", coalesce=True).select(
        "_key", pl.coalesce("_team_target", "_rep_sum").alias("target")
    )


def _flags(flag_share: float) -> list[pl.Expr]:
    n = pl.len()
    below = ratio(pl.col("won_revenue").rank("min") - 1, n - 1)
    above = ratio(pl.col("won_revenue").rank("min", descending=True) - 1, n - 1)
    flag = (
        pl.when(below >= flag_share).then(pl.lit("top")).when(above >= flag_share).then(pl.lit("bottom"))
    )
    return [below.alias("percentile"), flag.alias("flag")]


def leaderboard(
    deals: pl.DataFrame | DealCounts,
    reps: pl.DataFrame,
    activities: pl.DataFrame,
    targets: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    by: By = "rep",
    flag_share: float = 0.8,
    currency: str | None = None,
) -> pl.DataFrame:
    """The leaderboard ranks every rep (or team) by the revenue they won in the period and shows the
    numbers behind it.

    Alongside won revenue it lists won deals, win rate, average won deal, sales cycle, activities
    by kind, activities per won deal, target attainment and the change of rank since the previous
    period of the same length.

    Variants: `by="rep"` (default) or `"team"`; `flag_share` (default 0.8) sets how much of the
    field a rep must beat to be flagged "top" (or be beaten by to be flagged "bottom").
    `activities` is either the activities or their `daily_activity_counts` (same result), `deals`
    either the deals or their `DealCounts` covering the period, the previous one and `as_of`.

    Columns: rank, rep_id, rep (name, else id), team [rep only] or team [team only], won_revenue,
    won_deals, lost_deals, win_rate, avg_won_deal, median_cycle_days, open_deals, open_pipeline
    (open at `as_of`), activities, activities_<kind> for call/email/meeting/visit/task/other,
    activities_per_won_deal, target, attainment, prev_rank, rank_change (prev_rank − rank;
    positive = climbed), percentile (share of others with less won revenue), flag ("top",
    "bottom" or null). Sorted by rank.
    """
    if not 0.5 < flag_share <= 1:
        raise ValueError("flag_share must be above 0.5 and at most 1")
    if isinstance(deals, DealCounts):
        if currency is not None:
            raise ValueError("counted deals are not split by currency")
        d, a, universe = _keyed(deals, activities, reps, by)
        pipeline = d.open.filter(pl.col("as_of") == as_of).group_by("_key").agg(
            pl.col("deals").sum().cast(pl.Int64).alias("open_deals"),
            pl.col("amount").sum().cast(pl.Float64).alias("open_pipeline"))
    else:
        d, a, universe = _keyed(prepare_deals(deals, currency), activities, reps, by)
        pipeline = open_at(d, as_of).group_by("_key").agg(
            pl.len().cast(pl.Int64).alias("open_deals"), pl.col("amount").sum().alias("open_pipeline")
        )
    board = _period_board(d, a, universe, period_from, period_to)
    board = board.join(pipeline, on="_key", how="left").with_columns(
        pl.col("open_deals").fill_null(0), pl.col("open_pipeline").fill_null(0.0)
    )
    rp = conform(reps, "reps").unique("rep_id", keep="first")
    if by == "rep":
        board = board.join(
            rp.select(pl.col("rep_id").alias("_key"), pl.col("name").alias("_name"), "team"),
            on="_key",
            how="left",
        ).with_columns(pl.coalesce("_name", "_key").alias("_display"))
    else:
        board = board.with_columns(pl.col("_key").alias("_display"))
    board = _ranked(board, "_display")
    prev = previous_period(period_from, period_to)
    if prev is None:
        board = board.with_columns(pl.lit(None, dtype=pl.Int64).alias("prev_rank"))
    else:
        before = _ranked(
            _period_board(d, a, universe, *prev).join(board.select("_key", "_display"), on="_key"),
            "_display",
        )
        board = board.join(before.select("_key", pl.col("rank").alias("prev_rank")), on="_key", how="left")
    board = (
        board.join(_targets(targets, reps, by, period_from, period_to), on="_key", how="left")
        .with_columns(
            ratio(pl.col("activities"), pl.col("won_deals")).alias("activities_per_won_deal"),
            ratio(pl.col("won_revenue"), pl.col("target")).alias("attainment"),
            (pl.col("prev_rank") - pl.col("rank")).alias("rank_change"),
            *_flags(flag_share),
        )
        .sort("rank")
    )
    ident = (
        [pl.col("_key").alias("rep_id"), pl.col("_display").alias("rep"), "team"]
        if by == "rep"
        else [pl.col("_key").alias("team")]
    )
    metrics = [
        "won_revenue", "won_deals", "lost_deals", "win_rate", "avg_won_deal", "median_cycle_days",
        "open_deals", "open_pipeline", "activities", *[f"activities_{k}" for k in ACTIVITY_KINDS],
        "activities_per_won_deal", "target", "attainment", "prev_rank", "rank_change",
        "percentile", "flag",
    ]
    return board.select("rank", *ident, *metrics)


__all__ = ["DAILY_COUNTS", "DealCounts", "daily_activity_counts", "leaderboard"]

"""Helpers shared by every metric: period filters, deal status, ratios, stage order, targets.

Conventions (documented once here, relied on everywhere):
- Periods are inclusive date ranges; `None` for a bound means unbounded, so `(None, None)` is all
  time. An all-time filter also keeps closed deals that have no close date at all.
- The close day of a won or lost deal is `closed_on` when present, else `close_date`.
- Won and lost deals count in the period of their close day; open pipeline is what is open at
  `as_of`: deals whose status is open and that were created on or before `as_of` (or have no
  creation date). The deals table holds the current state, so an `as_of` in the past does not
  reopen deals closed since; snapshot history is the place for that.
- Amounts are summed as plain numbers; currency is ignored unless a `currency` filter is given,
  which keeps only deals in exactly that currency. Deals without amount count in counts, not sums.
- Durations are whole calendar days between dates (timestamps are reduced to their date).
- Undefined ratios (division by zero) are null, never 0 or infinity.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

import polars as pl

from metrics.schema import conform

OPEN, WON, LOST = "open", "won", "lost"
ACTIVITY_KINDS: tuple[str, ...] = ("call", "email", "meeting", "visit", "task", "other")
TIERS: tuple[str, ...] = ("A", "B", "C", "none")
ALL = "_all"  # constant group column used when a caller asks for no grouping

Cohort = Literal["closed_and_open", "closed", "created"]


# ----------------------------------------------------------------------------- expressions
def close_day() -> pl.Expr:
    """Return the expression for a deal's close day: the actual close date, else the expected one.

    `closed_on` is used when present, otherwise `close_date`.
    """
    return pl.coalesce(pl.col("closed_on"), pl.col("close_date"))


def within(expr: pl.Expr, start: date | None, end: date | None) -> pl.Expr:
    """Return a filter that keeps values inside the inclusive period from start to end.

    With both bounds `None` everything is kept, nulls included (all time).
    """
    if start is None and end is None:
        return pl.lit(True)
    cond = expr.is_not_null()
    if start is not None:
        cond = cond & (expr >= start)
    if end is not None:
        cond = cond & (expr <= end)
    return cond


def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """Return num divided by den as a float, or null when the denominator is zero or missing.

    Used for every rate so that an undefined rate reads as "no data", not as zero.
    """
    return pl.when(den.cast(pl.Float64) != 0).then(num.cast(pl.Float64) / den.cast(pl.Float64))


def days_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Return the whole number of calendar days from start to end (dates or timestamps).

    Timestamps are reduced to their date first, so the result counts calendar days.
    """
    return (_as_date(end) - _as_date(start)).dt.total_days()


def _as_date(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Date)


def group_columns(by: str | Sequence[str] | None) -> list[str]:
    """Return grouping columns as a list; no grouping gives the constant `_all` column.

    Callers add the constant column with `with_group` and drop it with `drop_group`.
    """
    if by is None:
        return [ALL]
    if isinstance(by, str):
        return [by]
    return list(by) or [ALL]


def with_group(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Add the constant `_all` group column when the grouping is "no grouping".

    Frames that already hold the key columns are returned unchanged.
    """
    return df.with_columns(pl.lit(0, dtype=pl.Int8).alias(ALL)) if ALL in keys else df


def drop_group(df: pl.DataFrame) -> pl.DataFrame:
    """Remove the constant `_all` group column from a result, if present.

    The inverse of `with_group`, applied just before a result is returned.
    """
    return df.drop(ALL) if ALL in df.columns else df


# ----------------------------------------------------------------------------- deal filters
def prepare_deals(deals: pl.DataFrame, currency: str | None = None) -> pl.DataFrame:
    """Conform a deals frame and keep only one currency when a currency filter is given.

    The `_close_day` column (actual close date, else expected) is added for the other helpers.
    """
    df = conform(deals, "deals")
    if currency is not None:
        df = df.filter(pl.col("currency") == currency)
    return df.with_columns(close_day().alias("_close_day"))


def _close(df: pl.DataFrame) -> pl.Expr:
    return pl.col("_close_day") if "_close_day" in df.columns else close_day()


def closed_in(deals: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """Return the won and lost deals whose close day falls in the period.

    The close day is `closed_on` when present, else `close_date`.
    """
    return deals.filter(pl.col("status").is_in([WON, LOST]) & within(_close(deals), start, end))


def won_in(deals: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """Return the won deals whose close day falls in the period.

    The close day is `closed_on` when present, else `close_date`.
    """
    return deals.filter((pl.col("status") == WON) & within(_close(deals), start, end))


def open_at(deals: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """Return the open pipeline at a date: open deals created on or before that date.

    Deals without a creation date are assumed to exist already.
    """
    created = pl.col("created_on")
    return deals.filter((pl.col("status") == OPEN) & (created.is_null() | (created <= as_of)))


def deals_in_scope(
    deals: pl.DataFrame,
    start: date | None,
    end: date | None,
    as_of: date,
    cohort: Cohort = "closed_and_open",
) -> pl.DataFrame:
    """Return the deals a period-level view looks at, by the chosen cohort rule.

    `closed_and_open` (default): deals won or lost in the period plus the open pipeline at
    `as_of` (to look at a past period's pipeline, pass its last day as `as_of`); `closed`: only
    deals won or lost in the period; `created`: every deal created in the period, whatever its
    status.
    """
    if cohort == "closed":
        return closed_in(deals, start, end)
    if cohort == "created":
        return deals.filter(within(pl.col("created_on"), start, end))
    if cohort != "closed_and_open":
        raise ValueError(f"unknown cohort {cohort!r}")
    return pl.concat([closed_in(deals, start, end), open_at(deals, as_of)], how="vertical")


def with_team(deals: pl.DataFrame, reps: pl.DataFrame) -> pl.DataFrame:
    """Add each deal owner's team (from the reps table) as a `team` column.

    Deals whose owner is unknown or has no team get a null team.
    """
    team = conform(reps, "reps").select(
        pl.col("rep_id").alias("owner_rep_id"), pl.col("team")
    ).unique("owner_rep_id", keep="first")
    base = deals.drop("team") if "team" in deals.columns else deals
    return base.join(team, on="owner_rep_id", how="left")


# ----------------------------------------------------------------------------- periods
def period_length(start: date, end: date) -> int:
    """Return the number of days in an inclusive period (0 when end is before start).

    A period from a day to the same day is one day long.
    """
    return max((end - start).days + 1, 0)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, 1)


def _is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def earlier_period(start: date | None, end: date | None, steps: int = 1) -> tuple[date, date] | None:
    """Return the period of equal length that lies `steps` periods before this one.

    Whole calendar months move by months (March 2024 -> February 2024; a quarter -> the previous
    quarter); any other period moves by its number of days. All-time or half-open periods have
    no earlier period, so `None` is returned.
    """
    if start is None or end is None or end < start:
        return None
    if start.day == 1 and _is_month_end(end):
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        first = _add_months(start, -months * steps)
        return first, _add_months(first, months) - timedelta(days=1)
    length = timedelta(days=period_length(start, end))
    return start - length * steps, end - length * steps


def previous_period(start: date | None, end: date | None) -> tuple[date, date] | None:
    """Return the period of equal length just before this one (see `earlier_period`).

    All-time or half-open periods have no previous period, so `None` is returned.
    """
    return earlier_period(start, end, 1)


def elapsed_share(start: date, end: date, as_of: date) -> float:
    """Return the share of the period's days that have passed by the end of `as_of` (0 to 1).

    A period that has not started gives 0; one that is over gives 1.
    """
    total = period_length(start, end)
    if total == 0:
        return 0.0
    done = min(max((as_of - start).days + 1, 0), total)
    return done / total


# ----------------------------------------------------------------------------- stages
def open_stages(stages: pl.DataFrame) -> pl.DataFrame:
    """Return the open stages in pipeline order with a 0-based `stage_index`.

    Open stages are those neither won nor lost, ordered by position (then name).
    Columns: stage, stage_index, position, probability.
    """
    st = conform(stages, "stages")
    return (
        st.filter(~pl.col("is_won").fill_null(False) & ~pl.col("is_lost").fill_null(False))
        .unique("name", keep="first")
        .sort("position", "name", nulls_last=True)
        .select(
            pl.col("name").alias("stage"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("stage_index"),
            pl.col("position"),
            pl.col("probability"),
        )
    )


def won_stage_label(stages: pl.DataFrame) -> str:
    """Return the name of the first won stage, or "won" when the stages table names none.

    Used as the destination of the last open stage in a funnel.
    """
    st = conform(stages, "stages").filter(pl.col("is_won").fill_null(False)).sort("position")
    return st.item(0, "name") if st.height else WON


# ----------------------------------------------------------------------------- targets
def prorated_targets(
    targets: pl.DataFrame,
    scope: str,
    start: date | None,
    end: date | None,
    measure: str = "revenue",
    prorate: bool = True,
) -> pl.DataFrame:
    """Return target values of one scope and measure that overlap the period, prorated by days.

    A target whose own period lies partly outside the requested period counts for the share of
    its days inside it (when `prorate` is true, the default), in full otherwise.
    Columns: scope_id, period_start, period_end, value (the counted part).
    """
    tg = conform(targets, "targets").filter(
        (pl.col("scope") == scope) & (pl.col("measure") == measure) & pl.col("value").is_not_null()
    )
    if start is not None:
        tg = tg.filter(pl.col("period_end") >= start)
    if end is not None:
        tg = tg.filter(pl.col("period_start") <= end)
    value = pl.col("value")
    if prorate and (start is not None or end is not None):
        lo = pl.col("period_start") if start is None else pl.max_horizontal("period_start", pl.lit(start))
        hi = pl.col("period_end") if end is None else pl.min_horizontal("period_end", pl.lit(end))
        inside = (days_between(lo, hi) + 1).clip(lower_bound=0)
        length = days_between(pl.col("period_start"), pl.col("period_end")) + 1
        value = pl.when(length > 0).then(value * inside / length).otherwise(value)
    return tg.select(
        pl.col("scope_id").fill_null(""), "period_start", "period_end", value.alias("value")
    )


def total_target(
    targets: pl.DataFrame, start: date | None, end: date | None, measure: str = "revenue"
) -> float | None:
    """Return the organisation's target for the period without double counting scopes.

    The company-level target is used when there is one, else the sum of rep targets, else the
    sum of team targets; values are prorated to the period. `None` when there is no target.
    """
    for scope in ("company", "rep", "team"):
        tg = prorated_targets(targets, scope, start, end, measure)
        if tg.height:
            return float(tg["value"].sum())
    return None


# ----------------------------------------------------------------------------- deal statistics
def cycle_days() -> pl.Expr:
    """Return the expression for a deal's sales cycle: days from creation to its close day.

    Negative cycles (closed before created, a data error) are treated as unknown.
    """
    days = days_between(pl.col("created_on"), pl.col("_close_day"))
    return pl.when(days >= 0).then(days)


def deal_stats(scope: pl.DataFrame, keys: list[str], weighting: str = "count") -> pl.DataFrame:
    """Aggregate won and lost deals per group: counts, won revenue, win rate, average and cycle.

    `weighting="count"` (default) gives win rate = won / (won + lost) deals; `"value"` weighs deals
    by amount. The average won deal is taken over won deals that have an amount. Without
    grouping there is always exactly one row (zeros and nulls for an empty scope).
    Columns: [keys], won_deals, lost_deals, won_revenue, win_rate, avg_won_deal,
    median_cycle_days, p90_cycle_days.
    """
    if weighting not in ("count", "value"):
        raise ValueError(f"unknown weighting {weighting!r}")
    won = pl.col("status") == WON
    lost = pl.col("status") == LOST
    amount = pl.col("amount")
    if weighting == "count":
        rate = ratio(won.sum(), won.sum() + lost.sum())
    else:
        # summed separately, won/(won+lost) can exceed 1 by a rounding ulp: keep it a share
        rate = ratio(amount.filter(won).sum(), amount.filter(won | lost).sum()).clip(0.0, 1.0)
    cycle = cycle_days().filter(won).cast(pl.Float64)
    stats = scope.group_by(keys).agg(
        won.sum().cast(pl.Int64).alias("won_deals"),
        lost.sum().cast(pl.Int64).alias("lost_deals"),
        amount.filter(won).sum().cast(pl.Float64).alias("won_revenue"),
        rate.alias("win_rate"),
        amount.filter(won).mean().cast(pl.Float64).alias("avg_won_deal"),
        cycle.median().alias("median_cycle_days"),
        cycle.quantile(0.9, interpolation="linear").alias("p90_cycle_days"),
    )
    if keys != [ALL]:
        return stats
    one = pl.DataFrame({ALL: [0]}, schema={ALL: pl.Int8()})
    return one.join(stats, on=ALL, how="left").with_columns(
        pl.col("won_deals").fill_null(0),
        pl.col("lost_deals").fill_null(0),
        pl.col("won_revenue").fill_null(0.0),
    )


def counted_deal_stats(counts: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """`deal_stats` (count weighting, without the p90 cycle) of closed deals already counted: one row
    per group, status and cycle with [keys], status, cycle_days (days from creation to close of won
    deals, null when unknown), deals, won_amount (sum of the won deals' amounts) and won_amounts (how
    many of them have one). The median cycle is taken over the cycles weighted by their deal counts
    (the mean of the two middle ones for an even count). One row per group present in `counts`.

    Columns: [keys], won_deals, lost_deals, won_revenue, _amounts, win_rate, avg_won_deal,
    median_cycle_days.
    """
    won, lost = pl.col("status") == WON, pl.col("status") == LOST
    totals = counts.group_by(keys).agg(
        pl.col("deals").filter(won).sum().cast(pl.Int64).alias("won_deals"),
        pl.col("deals").filter(lost).sum().cast(pl.Int64).alias("lost_deals"),
        pl.col("won_amount").filter(won).sum().cast(pl.Float64).alias("won_revenue"),
        pl.col("won_amounts").filter(won).sum().alias("_amounts"),
    )
    cycles = counts.filter(won & pl.col("cycle_days").is_not_null()).sort(keys + ["cycle_days"])
    upto = pl.col("deals").cum_sum().over(keys)
    n = pl.col("deals").sum().over(keys)
    # the cycle at 0-based position i of the sorted won deals: the first whose running count passes i
    lo = pl.col("cycle_days").filter(upto > (n - 1) // 2).first()
    hi = pl.col("cycle_days").filter(upto > n // 2).first()
    medians = cycles.group_by(keys).agg(((lo + hi).cast(pl.Float64) / 2).alias("median_cycle_days"))
    return totals.join(medians, on=keys, how="left", nulls_equal=True).with_columns(
        ratio(pl.col("won_deals"), pl.col("won_deals") + pl.col("lost_deals")).alias("win_rate"),
        ratio(pl.col("won_revenue"), pl.col("_amounts")).alias("avg_won_deal"),
    )


# ----------------------------------------------------------------------------- sorted-run helpers
# Window functions (`.over(key)`) are slow with a million small groups; on a frame sorted by the
# key, comparing a row with its neighbour gives the same answers in a single vectorised pass.
def same_as_next(keys: Sequence[str]) -> pl.Expr:
    """Return true where the next row (of a frame sorted by keys) has the same key values.

    Null keys compare equal to null keys.
    """
    cond = pl.lit(True)
    for key in keys:
        cond = cond & pl.col(key).eq_missing(pl.col(key).shift(-1))
    return cond & pl.int_range(pl.len()).lt(pl.len() - 1)


def same_as_previous(keys: Sequence[str]) -> pl.Expr:
    """Return true where the previous row (of a frame sorted by keys) has the same key values.

    Null keys compare equal to null keys; the first row is never a repeat.
    """
    cond = pl.lit(True)
    for key in keys:
        cond = cond & pl.col(key).eq_missing(pl.col(key).shift(1))
    return cond & pl.int_range(pl.len()).gt(0)


def position_in_run(keys: Sequence[str]) -> pl.Expr:
    """Return each row's 0-based position among the consecutive rows that share its key values.

    The frame must be sorted by the keys; the first row of each run gets 0.
    """
    row = pl.int_range(pl.len(), dtype=pl.Int64)
    start = pl.when(~same_as_previous(keys)).then(row).forward_fill()
    return row - start

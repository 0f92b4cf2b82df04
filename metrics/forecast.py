"""Forecast vs plan: targets, actuals, attainment, pacing, pipeline coverage and three forecasts.

Decisions:
- Targets are spread over calendar months or quarters (or one bucket for the whole period) in
  proportion to the days they share with each bucket, so a quarterly target counts one third per
  month (by days) and a target half inside the period counts half.
- No double counting of scopes: per team, the team's own target is used, else the sum of its
  reps' targets; for the company, the company target, else the sum of rep targets, else the sum
  of team targets — decided per bucket.
- Actuals: revenue = won amounts, deals = won deals (by close day); activities by their date.
- Pacing: the expected attainment at `as_of` is the share of the bucket's days that have passed
  (including `as_of`); pace = attainment / expected attainment (1 = on track).
- Pipeline for a bucket = open deals at `as_of` whose expected close date falls in the bucket
  (overdue deals whose date is in the bucket included). Coverage = pipeline / remaining target;
  pipeline needed = remaining target / historical win rate (deals closed up to `as_of`).
- Forecasts cover the open deals expected to close in the rest of the period (close date in the
  period, and only while the period has not ended) and add them to revenue won so far. The range
  is a normal approximation: weighted and historical forecasts treat each deal as an independent
  win/lose draw, run-rate uses the day-to-day variation of won revenue; low/high are the 10th and
  90th percentiles (z = 1.2816) clipped to what is possible.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

import polars as pl

from metrics._common import (
    ALL,
    WON,
    closed_in,
    days_between,
    drop_group,
    group_columns,
    open_at,
    open_stages,
    period_length,
    prepare_deals,
    prorated_targets,
    ratio,
    with_group,
    with_team,
    within,
    won_in,
)
from metrics.funnel import furthest_stage
from metrics.schema import conform

Scope = Literal["rep", "team", "company", "product"]
Grain = Literal["month", "quarter"]
Measure = Literal["revenue", "deals", "activities"]

Z_80 = 1.2816  # 10th/90th percentile of the standard normal distribution
AGE_EDGES = (0, 30, 90, 180)  # the historical forecast's age buckets (days from creation), by default
TRAILING_DAYS = 90  # the run-rate's trailing window, by default
_TRUNC = {"month": "1mo", "quarter": "1q"}


# ----------------------------------------------------------------------------- plan
def _span(
    targets: pl.DataFrame, measure: str, start: date | None, end: date | None
) -> tuple[date, date] | None:
    tg = conform(targets, "targets").filter(pl.col("measure") == measure)
    lo = start if start is not None else tg["period_start"].min()
    hi = end if end is not None else tg["period_end"].max()
    if lo is None or hi is None or hi < lo:
        return None
    return lo, hi  # type: ignore[return-value]


def _buckets(lo: date, hi: date, grain: Grain | None) -> pl.DataFrame:
    if grain is None:
        return pl.DataFrame({"period_start": [lo], "period_end": [hi], "_cal": [lo]})
    if grain not in _TRUNC:
        raise ValueError(f"unknown grain {grain!r}")
    every = _TRUNC[grain].replace("1q", "3mo")
    first = pl.select(pl.lit(lo).dt.truncate(_TRUNC[grain])).item()
    cal = pl.date_range(first, hi, every, eager=True).alias("_cal").to_frame()
    ends = pl.col("_cal").dt.offset_by(every).dt.offset_by("-1d")
    return cal.select(
        pl.max_horizontal(pl.col("_cal"), pl.lit(lo)).alias("period_start"),
        pl.min_horizontal(ends, pl.lit(hi)).alias("period_end"),
        "_cal",
    )


def _bucket_key(day: pl.Expr, grain: Grain | None, lo: date) -> pl.Expr:
    return pl.lit(lo) if grain is None else day.dt.truncate(_TRUNC[grain])


def _bucket_targets(targets: pl.DataFrame, scope: str, buckets: pl.DataFrame, measure: str) -> pl.DataFrame:
    lo, hi = buckets["period_start"].min(), buckets["period_end"].max()
    rows = prorated_targets(targets, scope, lo, hi, measure, prorate=False)  # type: ignore[arg-type]
    joined = rows.join(buckets.rename({"period_start": "_bs", "period_end": "_be"}), how="cross")
    inside = (
        days_between(pl.max_horizontal("period_start", "_bs"), pl.min_horizontal("period_end", "_be")) + 1
    ).clip(lower_bound=0)
    length = days_between(pl.col("period_start"), pl.col("period_end")) + 1
    share = pl.when(length > 0).then(inside / length).otherwise(1.0)
    return (
        joined.with_columns((pl.col("value") * share).alias("target"), inside.alias("_inside"))
        .filter(pl.col("_inside") > 0)
        .group_by(pl.col("scope_id").alias("_key"), "_cal")
        .agg(pl.col("target").sum())
    )


def _resolved_targets(
    targets: pl.DataFrame, reps: pl.DataFrame, scope: Scope, buckets: pl.DataFrame, measure: str
) -> pl.DataFrame:
    rep_t = _bucket_targets(targets, "rep", buckets, measure)
    if scope in ("rep", "product"):
        return rep_t if scope == "rep" else _bucket_targets(targets, "product", buckets, measure)
    team_t = _bucket_targets(targets, "team", buckets, measure)
    if scope == "team":
        team_of = conform(reps, "reps").select(pl.col("rep_id").alias("_key"), "team").unique("_key")
        summed = (
            rep_t.join(team_of, on="_key", how="inner")
            .group_by(pl.col("team").alias("_key"), "_cal")
            .agg(pl.col("target").sum().alias("_rep_sum"))
        )
        return team_t.join(summed, on=["_key", "_cal"], how="full", coalesce=True).select(
            "_key", "_cal", pl.coalesce("target", "_rep_sum").alias("target")
        )
    if scope != "company":
        raise ValueError(f"unknown scope {scope!r}")
    company_t = _bucket_targets(targets, "company", buckets, measure)
    levels = [
        frame.group_by("_cal").agg(pl.col("target").sum().alias(f"_{name}"))
        for name, frame in (("c", company_t), ("r", rep_t), ("t", team_t))
    ]
    merged = levels[0].join(levels[1], on="_cal", how="full", coalesce=True)
    merged = merged.join(levels[2], on="_cal", how="full", coalesce=True)
    return merged.select(pl.lit("").alias("_key"), "_cal", pl.coalesce("_c", "_r", "_t").alias("target"))


def _keyed_deals(deals: pl.DataFrame, reps: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    if scope == "rep":
        return deals.with_columns(pl.col("owner_rep_id").alias("_key"))
    if scope == "team":
        return with_team(deals, reps).with_columns(pl.col("team").alias("_key"))
    if scope == "product":
        return deals.with_columns(pl.col("product").alias("_key"))
    return deals.with_columns(pl.lit("").alias("_key"))


def _keyed_activities(activities: pl.DataFrame, reps: pl.DataFrame, scope: Scope) -> pl.DataFrame:
    acts = conform(activities, "activities")
    if scope == "rep":
        return acts.with_columns(pl.col("rep_id").alias("_key"))
    if scope == "team":
        team_of = conform(reps, "reps").select("rep_id", pl.col("team").alias("_key")).unique("rep_id")
        return acts.join(team_of, on="rep_id", how="left")
    if scope == "company":
        return acts.with_columns(pl.lit("").alias("_key"))
    raise ValueError("activity targets cannot be split by product")


def historical_win_rate(deals: pl.DataFrame, *, as_of: date, currency: str | None = None) -> float | None:
    """The historical win rate is the share of all deals closed up to the given day that were won.

    Counts deals (not amounts); `None` when no deal has closed yet.
    """
    closed = closed_in(prepare_deals(deals, currency), None, as_of)
    won = closed.filter(pl.col("status") == WON).height
    return won / closed.height if closed.height else None


def plan_vs_actual(
    deals: pl.DataFrame,
    targets: pl.DataFrame,
    reps: pl.DataFrame,
    activities: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    scope: Scope = "company",
    grain: Grain | None = "month",
    measure: Measure = "revenue",
    win_rate: float | None = None,
    currency: str | None = None,
    sums: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Plan versus actual sets each target against what was actually achieved, per rep, team or
    company and per month or quarter, with attainment, the gap, pacing and pipeline coverage.

    Attainment = actual / target; the gap is what is still missing to reach the target.

    Variants: `scope` "rep", "team", "company" (default) or "product"; `grain` "month" (default),
    "quarter" or None (the whole period as one bucket); `measure` "revenue" (default), "deals" or
    "activities"; `win_rate` overrides the historical win rate used for pipeline needed. Without a
    period, the span of the targets is used.

    Columns: scope, scope_id, period_start, period_end, target, actual, attainment, gap
    (target − actual), expected_attainment (share of the bucket elapsed at `as_of`), pace
    (attainment / expected_attainment), pipeline, remaining (target − actual, not below 0),
    pipeline_coverage (pipeline / remaining), pipeline_needed (remaining / win rate).
    Sorted by scope_id, then period_start.

    Instead of `deals`, `sums` (`plan_sums` of the deals, in `currency` when one is given, over
    `plan_span` and at `as_of`) may be given (same result; not with scope "product").
    """
    span = _span(targets, measure, period_from, period_to)
    if span is None:
        return _empty_plan()
    lo, hi = span
    buckets = _buckets(lo, hi, grain)
    tgt = _resolved_targets(targets, reps, scope, buckets, measure)
    if sums is None:
        prepared = prepare_deals(deals, currency)
        actual = _actuals(prepared, activities, reps, scope, measure, lo, hi, grain)
        pipeline = _pipeline(prepared, reps, scope, measure, as_of, lo, hi, grain)
        rate = win_rate if win_rate is not None else historical_win_rate(prepared, as_of=as_of)
    else:
        actual, pipeline, rate = _of_sums(sums, activities, reps, scope, measure, lo, hi, grain)
        rate = win_rate if win_rate is not None else rate
    rows = (
        pl.concat([tgt.select("_key", "_cal"), actual.select("_key", "_cal")], how="vertical")
        .unique()
        .join(buckets, on="_cal", how="inner")
        .join(tgt, on=["_key", "_cal"], how="left", nulls_equal=True)
        .join(actual, on=["_key", "_cal"], how="left", nulls_equal=True)
        .join(pipeline, on=["_key", "_cal"], how="left", nulls_equal=True)
    )
    total = days_between(pl.col("period_start"), pl.col("period_end")) + 1
    done = (days_between(pl.col("period_start"), pl.lit(as_of)) + 1).clip(0, None)
    expected = ratio(pl.min_horizontal(done, total), total)
    remaining = pl.max_horizontal(pl.col("target") - pl.col("actual"), pl.lit(0.0))
    needed = pl.lit(None, dtype=pl.Float64) if not rate else pl.col("remaining") / rate
    out = rows.with_columns(
        pl.col("actual").fill_null(0.0),
        pl.col("pipeline").fill_null(pl.lit(None if measure == "activities" else 0.0, dtype=pl.Float64)),
    ).with_columns(
        ratio(pl.col("actual"), pl.col("target")).alias("attainment"),
        (pl.col("target") - pl.col("actual")).alias("gap"),
        expected.alias("expected_attainment"),
        pl.when(pl.col("target").is_not_null()).then(remaining).alias("remaining"),
    )
    out = out.with_columns(
        ratio(pl.col("attainment"), pl.col("expected_attainment")).alias("pace"),
        ratio(pl.col("pipeline"), pl.col("remaining")).alias("pipeline_coverage"),
        needed.alias("pipeline_needed"),
    )
    return out.select(
        pl.lit(scope).alias("scope"), pl.col("_key").alias("scope_id"), "period_start", "period_end",
        "target", "actual", "attainment", "gap", "expected_attainment", "pace", "pipeline",
        "remaining", "pipeline_coverage", "pipeline_needed",
    ).sort("scope_id", "period_start", nulls_last=True)


def _actuals(
    deals: pl.DataFrame, activities: pl.DataFrame, reps: pl.DataFrame, scope: Scope, measure: str,
    lo: date, hi: date, grain: Grain | None,
) -> pl.DataFrame:
    if measure == "activities":
        acts = _keyed_activities(activities, reps, scope)
        day = pl.col("occurred_at").cast(pl.Date)
        return (
            acts.filter(within(day, lo, hi))
            .group_by("_key", _bucket_key(day, grain, lo).alias("_cal"))
            .agg(pl.len().cast(pl.Float64).alias("actual"))
        )
    if measure not in ("revenue", "deals"):
        raise ValueError(f"unknown measure {measure!r}")
    won = _keyed_deals(won_in(deals, lo, hi), reps, scope)
    value = pl.col("amount").sum() if measure == "revenue" else pl.len().cast(pl.Float64)
    return won.group_by("_key", _bucket_key(pl.col("_close_day"), grain, lo).alias("_cal")).agg(
        value.cast(pl.Float64).alias("actual")
    )


def _pipeline(
    deals: pl.DataFrame, reps: pl.DataFrame, scope: Scope, measure: str, as_of: date,
    lo: date, hi: date, grain: Grain | None,
) -> pl.DataFrame:
    live = _keyed_deals(open_at(deals, as_of), reps, scope).filter(within(pl.col("close_date"), lo, hi))
    value = pl.col("amount").sum() if measure == "revenue" else pl.len().cast(pl.Float64)
    if measure == "activities":
        value = pl.lit(None, dtype=pl.Float64).first()
    return live.group_by("_key", _bucket_key(pl.col("close_date"), grain, lo).alias("_cal")).agg(
        value.cast(pl.Float64).alias("pipeline")
    )


def plan_span(targets: pl.DataFrame, period_from: date | None = None, period_to: date | None = None,
              measure: Measure = "revenue") -> tuple[date, date] | None:
    """The plan span is the period `plan_vs_actual` compares over: the given bounds, a missing one
    taken from the targets of the measure (earliest start, latest end); None when it is empty."""
    return _span(targets, measure, period_from, period_to)


PLAN_SUM_KINDS = ("won", "pipeline", "closed_won", "closed_lost")


def plan_sums(deals: pl.DataFrame, *, as_of: date, period_from: date, period_to: date,
              currency: str | None = None) -> pl.DataFrame:
    """The plan sums are the deals `plan_vs_actual` reads, summed per owner and month: "won" rows,
    the deals won in the span (close day from `period_from` to `period_to`) by the month of their
    close day; "pipeline" rows, the open pipeline at `as_of` (`_common.open_at`) expected to close
    in the span, by the month of `close_date`; and "closed_won" / "closed_lost" rows (no owner, no
    month), the deals closed up to `as_of` that the historical win rate counts.

    Columns: kind, owner_rep_id, month (first day), deals (Int64), amount (Float64, sum of the
    known amounts, 0 without any). Sorted by kind, owner_rep_id, month.
    """
    prepared = prepare_deals(deals, currency)
    month = pl.col("_day").dt.truncate("1mo").alias("month")
    won = won_in(prepared, period_from, period_to).select("owner_rep_id", pl.col("_close_day").alias("_day"), "amount")
    live = open_at(prepared, as_of).filter(within(pl.col("close_date"), period_from, period_to)).select(
        "owner_rep_id", pl.col("close_date").alias("_day"), "amount")
    sums = [
        frame.group_by("owner_rep_id", month).agg(pl.len().cast(pl.Int64).alias("deals"),
                                                  pl.col("amount").sum().cast(pl.Float64))
        .select(pl.lit(kind).alias("kind"), "owner_rep_id", "month", "deals", "amount")
        for kind, frame in (("won", won), ("pipeline", live))
    ]
    closed = closed_in(prepared, None, as_of).group_by("status").agg(pl.len().cast(pl.Int64).alias("deals")).select(
        ("closed_" + pl.col("status")).alias("kind"), pl.lit(None, pl.String).alias("owner_rep_id"),
        pl.lit(None, pl.Date).alias("month"), "deals", pl.lit(0.0).alias("amount"))
    return pl.concat([*sums, closed]).sort("kind", "owner_rep_id", "month", nulls_last=True)


def _of_sums(sums: pl.DataFrame, activities: pl.DataFrame, reps: pl.DataFrame, scope: Scope, measure: str,
             lo: date, hi: date, grain: Grain | None) -> tuple[pl.DataFrame, pl.DataFrame, float | None]:
    """`_actuals`, `_pipeline` and the historical win rate from `plan_sums` rows."""
    if scope == "product":
        raise ValueError("plan sums are per owner; the product scope needs the deals")
    if measure not in ("revenue", "deals", "activities"):
        raise ValueError(f"unknown measure {measure!r}")
    keyed = _keyed_deals(sums, reps, scope)
    value = pl.col("amount").sum() if measure == "revenue" else pl.col("deals").sum()
    if measure == "activities":
        actual = _actuals(sums.clear(), activities, reps, scope, measure, lo, hi, grain)
        value = pl.lit(None, dtype=pl.Float64).first()
    else:
        actual = keyed.filter(pl.col("kind") == "won").group_by(
            "_key", _bucket_key(pl.col("month"), grain, lo).alias("_cal")).agg(value.cast(pl.Float64).alias("actual"))
    pipeline = keyed.filter(pl.col("kind") == "pipeline").group_by(
        "_key", _bucket_key(pl.col("month"), grain, lo).alias("_cal")).agg(value.cast(pl.Float64).alias("pipeline"))
    won = int(sums.filter(pl.col("kind") == "closed_won")["deals"].sum())
    closed = won + int(sums.filter(pl.col("kind") == "closed_lost")["deals"].sum())
    return actual, pipeline, (won / closed if closed else None)


def _empty_plan() -> pl.DataFrame:
    f = pl.Float64()
    return pl.DataFrame(
        schema={
            "scope": pl.String(), "scope_id": pl.String(), "period_start": pl.Date(),
            "period_end": pl.Date(), "target": f, "actual": f, "attainment": f, "gap": f,
            "expected_attainment": f, "pace": f, "pipeline": f, "remaining": f,
            "pipeline_coverage": f, "pipeline_needed": f,
        }
    )


# ----------------------------------------------------------------------------- forecasts
def _rest(deals: pl.DataFrame, as_of: date, start: date, end: date) -> pl.DataFrame:
    if as_of > end:
        return deals.clear()
    return open_at(deals, as_of).filter(within(pl.col("close_date"), start, end))


def _won_to_date(deals: pl.DataFrame, keys: list[str], as_of: date, start: date, end: date) -> pl.DataFrame:
    return won_in(deals, start, min(as_of, end)).group_by(keys).agg(
        pl.col("amount").sum().cast(pl.Float64).alias("won_to_date")
    )


def _bernoulli(rest: pl.DataFrame, keys: list[str], p: pl.Expr) -> pl.DataFrame:
    amount = pl.col("amount").fill_null(0.0)
    return rest.with_columns(p.clip(0.0, 1.0).alias("_p")).group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("open_deals"),
        amount.sum().alias("open_pipeline"),
        (amount * pl.col("_p")).sum().alias("expected_rest"),
        (amount * amount * pl.col("_p") * (1 - pl.col("_p"))).sum().alias("_var"),
    )


def _finish(
    won: pl.DataFrame, rest: pl.DataFrame, keys: list[str], method: str, z: float
) -> pl.DataFrame:
    """Join won-to-date with the rest-of-period estimate and add ranges and totals."""
    groups = pl.concat([won.select(keys), rest.select(keys)], how="vertical").unique()
    if keys == [ALL] and groups.height == 0:
        groups = pl.DataFrame({ALL: [0]}, schema={ALL: pl.Int8()})
    out = (
        groups.join(won, on=keys, how="left", nulls_equal=True)
        .join(rest, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.col("won_to_date").fill_null(0.0),
            pl.col("open_deals").fill_null(0),
            pl.col("open_pipeline").fill_null(0.0),
            pl.col("expected_rest").fill_null(0.0),
            pl.col("_var").fill_null(0.0),
        )
    )
    if "_cap" not in out.columns:
        out = out.with_columns(pl.col("open_pipeline").alias("_cap"))
    spread = z * pl.col("_var").clip(lower_bound=0.0).sqrt()
    out = out.with_columns(
        (pl.col("expected_rest") - spread).clip(lower_bound=0.0).alias("low_rest"),
        pl.min_horizontal(pl.col("expected_rest") + spread, pl.col("_cap").fill_null(float("inf"))).alias(
            "high_rest"
        ),
    ).with_columns(
        (pl.col("won_to_date") + pl.col("expected_rest")).alias("forecast"),
        (pl.col("won_to_date") + pl.col("low_rest")).alias("forecast_low"),
        (pl.col("won_to_date") + pl.col("high_rest")).alias("forecast_high"),
    )
    cols = [*keys, pl.lit(method).alias("method"), "won_to_date", "open_deals", "open_pipeline",
            "expected_rest", "low_rest", "high_rest", "forecast", "forecast_low", "forecast_high"]
    return drop_group(out.select(cols).sort(keys, nulls_last=True))


def _check_period(period_from: date, period_to: date) -> None:
    if period_from is None or period_to is None or period_to < period_from:
        raise ValueError("a forecast needs a bounded period with period_from <= period_to")


def forecast_weighted(
    deals: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date,
    period_to: date,
    use_deal_probability: bool = True,
    by: str | Sequence[str] | None = None,
    z: float = Z_80,
    currency: str | None = None,
) -> pl.DataFrame:
    """The weighted forecast adds to the revenue already won each open deal expected to close in the
    period, multiplied by its chance of winning.

    The chance is the deal's own probability when it has one, else its stage's probability.

    Variant: `use_deal_probability=True` (default); `False` always uses the stage probability.
    Deals with neither count as 0. `by` groups by deal columns.

    Columns: [by...], method ("weighted"), won_to_date, open_deals, open_pipeline, expected_rest,
    low_rest, high_rest, forecast (won_to_date + expected_rest), forecast_low, forecast_high.
    """
    _check_period(period_from, period_to)
    keys = group_columns(by)
    prepared = with_group(prepare_deals(deals, currency), keys)
    probs = open_stages(stages).select("stage", pl.col("probability").alias("_stage_p"))
    rest = _rest(prepared, as_of, period_from, period_to).join(probs, on="stage", how="left")
    p = pl.coalesce("probability", "_stage_p") if use_deal_probability else pl.col("_stage_p")
    estimate = _bernoulli(rest, keys, p.fill_null(0.0))
    won = _won_to_date(prepared, keys, as_of, period_from, period_to)
    return _finish(won, estimate, keys, "weighted", z)


def age_bucket(age: pl.Expr, edges: Sequence[int]) -> pl.Expr:
    """The age bucket of a deal is how many of the sorted `edges` (0 among them) its age in days
    reaches, minus one: -1 for a negative or missing age (the historical forecast's buckets)."""
    return pl.sum_horizontal([(age >= e).cast(pl.Int64) for e in edges]) - 1


def historical_training(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    *,
    as_of: date,
    age_edges: Sequence[int] = AGE_EDGES,
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The historical training counts are what the historical forecast learns from: the deals closed
    up to the given day, counted by the furthest stage they reached and their age at close, with how
    many of them were won.

    The furthest stage is `metrics.funnel.furthest_stage` ("reached"; won deals reached the last
    open stage); the age bucket is the number of `age_edges` (0 always among them) the days from
    creation to close reach, minus one (-1: closed before created, or no creation date). `reach`
    (`metrics.funnel.history_reach`) may be given instead of `stage_history` (same result).

    Columns: max_idx, bucket, deals, won (Int64). Unsorted.
    """
    edges = sorted(set(age_edges) | {0})
    closed = closed_in(prepare_deals(deals, currency), None, as_of)
    return furthest_stage(closed, stage_history, stages, reach=reach).group_by(
        pl.col("max_idx").cast(pl.Int64),
        age_bucket(days_between(pl.col("created_on"), pl.col("_close_day")), edges).alias("bucket"),
    ).agg(pl.len().cast(pl.Int64).alias("deals"), (pl.col("status") == WON).sum().cast(pl.Int64).alias("won"))


def forecast_historical(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date,
    period_to: date,
    age_edges: Sequence[int] = AGE_EDGES,
    min_deals: int = 5,
    by: str | Sequence[str] | None = None,
    z: float = Z_80,
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
    trained: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The historical forecast adds to the revenue already won each open deal expected to close in
    the period, multiplied by how often past deals at the same stage and age ended up won.

    The rates are learned from deals closed up to today: among closed deals that reached a stage
    and were still open at a given age, the share that was won.

    An open deal is placed at the furthest stage it reached and at its age (days since created,
    in buckets starting at `age_edges`, default 0/30/90/180 days). Its rate comes from closed deals
    that reached that stage and lived at least the bucket's lower bound; when fewer than
    `min_deals` (default 5) such deals exist, the stage's rate over all ages is used, then the
    overall win rate, then the stage probability. `by` groups by deal columns. `reach`
    (`metrics.funnel.history_reach` of the stage history) may be given instead of `stage_history`
    (same result); so may `trained` (`historical_training` of the same deals, day and `age_edges`)
    instead of the closed deals the rates are learned from.

    Columns: as `forecast_weighted`, with method "historical".
    """
    _check_period(period_from, period_to)
    edges = sorted(set(age_edges) | {0})
    keys = group_columns(by)
    prepared = with_group(prepare_deals(deals, currency), keys)
    idx = open_stages(stages)
    if trained is None:
        trained = historical_training(prepared, stage_history, stages, as_of=as_of, age_edges=edges, reach=reach)
    counts = trained.select("max_idx", pl.col("bucket").alias("_bucket"), pl.col("deals").alias("_n"),
                            pl.col("won").alias("_won"))
    grid = idx.select("stage_index").join(pl.DataFrame({"bucket": list(range(len(edges)))}), how="cross")
    rate = ratio(pl.col("_won").sum(), pl.col("_n").sum())
    cell = (
        grid.join(counts, how="cross")
        .filter((pl.col("max_idx") >= pl.col("stage_index")) & (pl.col("_bucket") >= pl.col("bucket")))
        .group_by("stage_index", "bucket")
        .agg(rate.alias("_cell"), pl.col("_n").sum().alias("_cell_n"))
    )
    stage_rate = (
        idx.select("stage_index")
        .join(counts, how="cross")
        .filter(pl.col("max_idx") >= pl.col("stage_index"))
        .group_by("stage_index")
        .agg(rate.alias("_stage"), pl.col("_n").sum().alias("_stage_n"))
    )
    seen = counts["_n"].sum()
    overall = counts["_won"].sum() / seen if seen else None
    rest = furthest_stage(_rest(prepared, as_of, period_from, period_to), stage_history, stages, reach=reach)
    age = days_between(pl.col("created_on"), pl.lit(as_of))
    rest = (
        rest.with_columns(age_bucket(age, edges).clip(lower_bound=0).alias("bucket"))
        .join(cell, left_on=["max_idx", "bucket"], right_on=["stage_index", "bucket"], how="left")
        .join(stage_rate, left_on="max_idx", right_on="stage_index", how="left")
        .join(idx.select("stage_index", pl.col("probability").alias("_prior")), left_on="max_idx",
              right_on="stage_index", how="left")
    )
    enough = pl.lit(min_deals)
    p = (
        pl.when(pl.col("_cell_n") >= enough).then(pl.col("_cell"))
        .when(pl.col("_stage_n") >= enough).then(pl.col("_stage"))
        .otherwise(pl.coalesce(pl.lit(overall, dtype=pl.Float64), pl.col("_prior"), pl.lit(0.0)))
    )
    estimate = _bernoulli(rest, keys, p)
    won = _won_to_date(prepared, keys, as_of, period_from, period_to)
    return _finish(won, estimate, keys, "historical", z)


def forecast_run_rate(
    deals: pl.DataFrame,
    *,
    as_of: date,
    period_from: date,
    period_to: date,
    basis: Literal["period_to_date", "trailing"] = "period_to_date",
    trailing_days: int = TRAILING_DAYS,
    by: str | Sequence[str] | None = None,
    z: float = Z_80,
    currency: str | None = None,
) -> pl.DataFrame:
    """The run-rate forecast assumes the rest of the period will bring revenue at the same daily
    pace as so far in the period.

    Forecast = revenue won so far + revenue per day × days left.

    Variant: `basis="period_to_date"` (default: the pace since the period started) or `"trailing"`
    (the pace over the last `trailing_days`, default 90, up to `as_of`); when no day of the period
    has passed yet the trailing pace is used. The range comes from how much daily won revenue
    varies. `by` groups by deal columns.

    Columns: as `forecast_weighted`, with method "run_rate" (open_deals and open_pipeline still
    describe the open deals expected to close in the period).
    """
    _check_period(period_from, period_to)
    keys = group_columns(by)
    prepared = with_group(prepare_deals(deals, currency), keys)
    total = period_length(period_from, period_to)
    elapsed = min(max((as_of - period_from).days + 1, 0), total)
    left = total - elapsed
    if basis not in ("period_to_date", "trailing"):
        raise ValueError(f"unknown run-rate basis {basis!r}")
    if basis == "trailing" or elapsed == 0:
        window = (as_of - timedelta(days=trailing_days - 1), as_of)
        days = trailing_days
    else:
        window = (period_from, min(as_of, period_to))
        days = elapsed
    daily = (
        won_in(prepared, *window)
        .group_by(keys + ["_close_day"])
        .agg(pl.col("amount").sum().fill_null(0.0).alias("_x"))
        .group_by(keys)
        .agg(pl.col("_x").sum().alias("_sum"), (pl.col("_x") ** 2).sum().alias("_sq"))
    )
    mean = pl.col("_sum") / days
    var = (pl.col("_sq") / days - mean**2).clip(lower_bound=0.0)
    rate = daily.with_columns(
        (mean * left).alias("expected_rest"),
        (var * left).alias("_var"),
        pl.lit(None, dtype=pl.Float64).alias("_cap"),
    ).select(keys + ["expected_rest", "_var", "_cap"])
    pipe = _rest(prepared, as_of, period_from, period_to).group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("open_deals"), pl.col("amount").sum().alias("open_pipeline")
    )
    estimate = pipe.join(rate, on=keys, how="full", coalesce=True, nulls_equal=True)
    won = _won_to_date(prepared, keys, as_of, period_from, period_to)
    return _finish(won, estimate, keys, "run_rate", z)


def forecasts(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    *,
    as_of: date,
    period_from: date,
    period_to: date,
    currency: str | None = None,
    reach: pl.DataFrame | None = None,
    trained: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The forecast comparison shows the three forecasts for the period side by side: stage-
    weighted, historical and run-rate.

    Each row is one method with its expected total for the period and its low/high range, using
    each method's defaults. `reach` may stand in for `stage_history`, `trained` for the closed deals
    the historical rates are learned from (see `forecast_historical`).

    Columns: as `forecast_weighted`, one row per method.
    """
    kw = {"as_of": as_of, "period_from": period_from, "period_to": period_to, "currency": currency}
    return pl.concat(
        [
            forecast_weighted(deals, stages, **kw),  # type: ignore[arg-type]
            forecast_historical(deals, stage_history, stages, reach=reach, trained=trained, **kw),  # type: ignore[arg-type]
            forecast_run_rate(deals, **kw),  # type: ignore[arg-type]
        ],
        how="vertical",
    )


__all__ = [
    "plan_vs_actual", "historical_win_rate", "forecast_weighted", "historical_training", "forecast_historical",
    "forecast_run_rate", "forecasts", "Z_80", "AGE_EDGES", "TRAILING_DAYS",
]

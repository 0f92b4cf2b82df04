"""Headline KPIs (win rate, revenue, deal size, cycle, leads, retention, cross-sell) and `report`.

Decisions:
- Win rate, won revenue, average won deal and sales cycle look at deals won or lost in the
  period (by close day: `closed_on`, else `close_date`).
- The average won deal is taken over won deals that have an amount (a missing amount is unknown,
  not zero). Sales cycles shorter than zero days (closed before created) are treated as unknown.
- Lead conversion follows the leads created in the period: a lead is converted when it has a
  conversion date on or before `as_of` or is linked to a deal (then without a date).
- Retention and cross-sell look at won deals with an account; products are counted as distinct
  non-empty product names.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import polars as pl

from metrics._common import (
    counted_deal_stats,
    OPEN,
    closed_in,
    deal_stats,
    deals_in_scope,
    drop_group,
    group_columns,
    prepare_deals,
    ratio,
    total_target,
    with_group,
    within,
    won_in,
)
from metrics.funnel import funnel
from metrics.leaderboard import leaderboard
from metrics.quality import quality_score
from metrics.schema import conform
from metrics.tiering import abc_tiers, tier_summary

Weighting = Literal["count", "value"]


def _ungrouped(keys: list[str]) -> bool:
    return keys == group_columns(None)


def _closed_stats(
    deals: pl.DataFrame,
    period_from: date | None,
    period_to: date | None,
    by: str | Sequence[str] | None,
    currency: str | None,
    weighting: Weighting = "count",
) -> tuple[pl.DataFrame, list[str]]:
    keys = group_columns(by)
    closed = with_group(closed_in(prepare_deals(deals, currency), period_from, period_to), keys)
    return deal_stats(closed, keys, weighting), keys


def win_rate(
    deals: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    weighting: Weighting = "count",
    currency: str | None = None,
) -> pl.DataFrame:
    """Win rate is the share of deals closed in the period that were won: won deals divided by won
    plus lost deals.

    Open deals do not count until they close.

    Variant: `weighting="count"` (default) counts deals; `"value"` weighs each deal by its amount
    (won amount / closed amount). `by` groups by deal columns.

    Columns: [by...], won_deals, lost_deals, win_rate.
    """
    stats, keys = _closed_stats(deals, period_from, period_to, by, currency, weighting)
    return drop_group(stats.select(*keys, "won_deals", "lost_deals", "win_rate").sort(keys, nulls_last=True))


def won_revenue(
    deals: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Won revenue is the total amount of the deals won in the period.

    Amounts are added as plain numbers; deals without an amount add nothing.

    Variant: `currency` keeps only deals in that currency (default: all, currency ignored).
    `by` groups by deal columns.

    Columns: [by...], won_deals, won_revenue.
    """
    stats, keys = _closed_stats(deals, period_from, period_to, by, currency)
    return drop_group(stats.select(*keys, "won_deals", "won_revenue").sort(keys, nulls_last=True))


def avg_won_deal(
    deals: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """The average won deal is the won revenue divided by the number of won deals in the period.

    Won deals without an amount are left out of both parts.

    Columns: [by...], won_deals, won_revenue, avg_won_deal.
    """
    stats, keys = _closed_stats(deals, period_from, period_to, by, currency)
    cols = [*keys, "won_deals", "won_revenue", "avg_won_deal"]
    return drop_group(stats.select(cols).sort(keys, nulls_last=True))


def sales_cycle(
    deals: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """The sales cycle is how many days won deals took from creation to close, given as the median
    and the 90th percentile.

    Only deals won in the period count; deals without a creation date are left out.

    Columns: [by...], won_deals, median_cycle_days, p90_cycle_days.
    """
    stats, keys = _closed_stats(deals, period_from, period_to, by, currency)
    cols = [*keys, "won_deals", "median_cycle_days", "p90_cycle_days"]
    return drop_group(stats.select(cols).sort(keys, nulls_last=True))


def deal_summary(
    deals: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """The deal summary gives the headline numbers of the period in one row: deals open, won and
    lost, won revenue, win rate, average won deal and sales cycle.

    Won and lost deals count by close date; open deals are those open at `as_of`.

    Columns: [by...], deals (open + won + lost), open_deals, open_pipeline, won_deals,
    lost_deals, won_revenue, win_rate, avg_won_deal, median_cycle_days, p90_cycle_days.
    """
    keys = group_columns(by)
    scope = with_group(
        deals_in_scope(prepare_deals(deals, currency), period_from, period_to, as_of), keys
    )
    stats = deal_stats(scope, keys)
    opened = scope.filter(pl.col("status") == OPEN).group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("open_deals"), pl.col("amount").sum().alias("open_pipeline")
    )
    groups = scope.select(keys).unique()
    if _ungrouped(keys) and groups.height == 0:
        groups = pl.DataFrame({keys[0]: [0]}, schema={keys[0]: pl.Int8()})
    out = (
        groups.join(stats, on=keys, how="left", nulls_equal=True)
        .join(opened, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.col("open_deals").fill_null(0),
            pl.col("open_pipeline").fill_null(0.0),
            pl.col("won_deals").fill_null(0),
            pl.col("lost_deals").fill_null(0),
            pl.col("won_revenue").fill_null(0.0),
        )
        .with_columns((pl.col("open_deals") + pl.col("won_deals") + pl.col("lost_deals")).alias("deals"))
    )
    cols = [*keys, "deals", "open_deals", "open_pipeline", "won_deals", "lost_deals", "won_revenue",
            "win_rate", "avg_won_deal", "median_cycle_days", "p90_cycle_days"]
    return drop_group(out.select(cols).sort(keys, nulls_last=True))


def closed_summary(counts: pl.DataFrame, *, by: str | Sequence[str] | None = None) -> pl.DataFrame:
    """The closed-deal part of the deal summary (`deal_summary`, same definitions) from deals
    already counted: won and lost deals, won revenue, win rate (won / (won + lost)), average won
    deal (won revenue / won deals with an amount) and the median sales cycle of the won deals.

    `counts` has one row per group, status and cycle: [by...], status, cycle_days (days from
    creation to close of won deals, null when unknown), deals, won_amount (sum of the won deals'
    amounts) and won_amounts (how many of them have one). The median is taken over the cycles
    weighted by their deal counts (the mean of the two middle ones for an even count).

    Without grouping there is always one row (zeros and nulls when nothing closed).

    Columns: [by...], won_deals, lost_deals, won_revenue, win_rate, avg_won_deal, median_cycle_days.
    """
    keys = group_columns(by)
    out = counted_deal_stats(with_group(counts, keys), keys)
    if _ungrouped(keys) and out.height == 0:   # no closed deal: one row of zeros, as deal_summary
        out = pl.DataFrame({keys[0]: [0]}, schema={keys[0]: pl.Int8()}).join(out, on=keys, how="left").with_columns(
            pl.col("won_deals").fill_null(0), pl.col("lost_deals").fill_null(0), pl.col("won_revenue").fill_null(0.0))
    cols = [*keys, "won_deals", "lost_deals", "won_revenue", "win_rate", "avg_won_deal", "median_cycle_days"]
    return drop_group(out.select(cols).sort(keys, nulls_last=True))


def lead_conversion(
    leads: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
) -> pl.DataFrame:
    """Lead conversion is the share of leads created in the period that became deals.

    A lead counts as converted when it has a conversion date up to today or is linked to a deal.

    Variant: `by` groups by lead columns (for example "source" or "owner_rep_id").

    Columns: [by...], leads, converted, conversion_rate, median_days_to_convert.
    """
    keys = group_columns(by)
    ld = with_group(conform(leads, "leads"), keys)
    ld = ld.filter(within(pl.col("created_on"), period_from, period_to))
    dated = pl.col("converted_on").is_not_null() & (pl.col("converted_on") <= as_of)
    linked = pl.col("deal_id").is_not_null() & (pl.col("deal_id").str.strip_chars() != "")
    converted = dated | (pl.col("converted_on").is_null() & linked)
    days = (pl.col("converted_on") - pl.col("created_on")).dt.total_days().cast(pl.Float64)
    out = ld.with_columns(converted.alias("_conv")).group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("leads"),
        pl.col("_conv").sum().cast(pl.Int64).alias("converted"),
        days.filter(dated & (days >= 0)).median().alias("median_days_to_convert"),
    )
    out = out.with_columns(ratio(pl.col("converted"), pl.col("leads")).alias("conversion_rate"))
    cols = [*keys, "leads", "converted", "conversion_rate", "median_days_to_convert"]
    return drop_group(out.select(cols).sort(keys, nulls_last=True))


def _account_revenue(deals: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    return (
        won_in(deals, start, end)
        .filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(pl.col("amount").sum().alias("revenue"))
    )


def retention(
    deals: pl.DataFrame,
    *,
    first_from: date | None,
    first_to: date | None,
    second_from: date | None,
    second_to: date | None,
    basis: Literal["accounts", "revenue"] = "accounts",
    currency: str | None = None,
) -> pl.DataFrame:
    """Retention is the share of customers who bought in the first window that bought again in the
    second: accounts with won revenue in both windows divided by accounts with won revenue in the
    first.

    A customer "bought" when they have a won deal in the window.

    Variant: `basis="accounts"` (default) counts customers; `"revenue"` gives revenue retention:
    second-window revenue of the first window's customers / their first-window revenue.

    Columns: accounts_first, accounts_retained, revenue_first, revenue_second (from the first
    window's customers), retention. One row.
    """
    if basis not in ("accounts", "revenue"):
        raise ValueError(f"unknown retention basis {basis!r}")
    prepared = prepare_deals(deals, currency)
    first = _account_revenue(prepared, first_from, first_to)
    second = _account_revenue(prepared, second_from, second_to).rename({"revenue": "_second"})
    both = first.join(second, on="account_id", how="left")
    out = both.select(
        pl.len().cast(pl.Int64).alias("accounts_first"),
        pl.col("_second").is_not_null().sum().cast(pl.Int64).alias("accounts_retained"),
        pl.col("revenue").sum().cast(pl.Float64).alias("revenue_first"),
        pl.col("_second").sum().cast(pl.Float64).alias("revenue_second"),
    )
    rate = (
        ratio(pl.col("accounts_retained"), pl.col("accounts_first"))
        if basis == "accounts"
        else ratio(pl.col("revenue_second"), pl.col("revenue_first"))
    )
    return out.with_columns(rate.alias("retention"))


def cross_sell(
    deals: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    by: str | Sequence[str] | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Cross-sell is the share of customers with a won deal in the period who bought more than one
    product.

    Products are counted by name across the customer's won deals in the period.

    Variant: `by` groups by deal columns (an account then counts in each group it bought in).

    Columns: [by...], accounts, multi_product_accounts, cross_sell_rate, avg_products.
    """
    keys = group_columns(by)
    won = with_group(won_in(prepare_deals(deals, currency), period_from, period_to), keys).filter(
        pl.col("account_id").is_not_null()
    )
    product = pl.col("product").str.strip_chars()
    per = won.group_by(keys + ["account_id"]).agg(
        product.filter(product.is_not_null() & (product != "")).n_unique().alias("_products")
    )
    out = per.group_by(keys).agg(
        pl.len().cast(pl.Int64).alias("accounts"),
        (pl.col("_products") > 1).sum().cast(pl.Int64).alias("multi_product_accounts"),
        pl.col("_products").mean().alias("avg_products"),
    )
    if _ungrouped(keys) and out.height == 0:
        out = pl.DataFrame(
            {keys[0]: [0], "accounts": [0], "multi_product_accounts": [0], "avg_products": [None]},
            schema={keys[0]: pl.Int8(), "accounts": pl.Int64(), "multi_product_accounts": pl.Int64(),
                    "avg_products": pl.Float64()},
        )
    rate = ratio(pl.col("multi_product_accounts"), pl.col("accounts"))
    out = out.with_columns(rate.alias("cross_sell_rate"))
    cols = [*keys, "accounts", "multi_product_accounts", "cross_sell_rate", "avg_products"]
    return drop_group(out.select(cols).sort(keys, nulls_last=True))


# ----------------------------------------------------------------------------- report
def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def report(
    *,
    deals: pl.DataFrame,
    reps: pl.DataFrame,
    stage_history: pl.DataFrame,
    activities: pl.DataFrame,
    accounts: pl.DataFrame,
    targets: pl.DataFrame,
    stages: pl.DataFrame,
    leads: pl.DataFrame,
    period_from: date | None,
    period_to: date | None,
    as_of: date,
) -> dict[str, Any]:
    """The report gathers the period's headline numbers in one place: deal counts, won revenue, win
    rate, average won deal, sales cycle, the funnel, the leaderboard, customer tiers, plan
    attainment and the data-quality score.

    Without a period it covers all time.

    Plain JSON-ready values (ints, floats, strings, None; dates as ISO strings):
    period {from, to}; deals {total, open, won, lost} (won/lost in the period, open at `as_of`);
    won_revenue; win_rate; avg_won_amount; median_cycle_days; funnel [{stage, reached,
    conversion_to_next, median_days}] over the open stages in pipeline order; leaderboard [{rep,
    won_revenue, won_deals, win_rate, activities}] for every known rep by won revenue descending
    (rep = name, else id); tiers [{tier, accounts, revenue}] for A, B, C and none over won revenue
    in the period; plan {target, actual, attainment} (revenue targets overlapping the period,
    prorated: company level if present, else the sum of rep targets, else of team targets;
    attainment null when the target is missing or zero); quality {score} (0–100, null without
    deals). Over all time every target counts and the actual is all won revenue. `leads` is
    accepted so callers can pass every table; no field depends on it.
    """
    del leads  # accepted so the command line can pass every table; no report field depends on it
    period = {"period_from": period_from, "period_to": period_to}
    summary = deal_summary(deals, as_of=as_of, **period).row(0, named=True)
    fun = funnel(deals, stage_history, stages, as_of=as_of, period_from=period_from, period_to=period_to)
    board = leaderboard(
        deals, reps, activities, targets, as_of=as_of, period_from=period_from, period_to=period_to
    )
    tiers = tier_summary(abc_tiers(deals, accounts, window_from=period_from, window_to=period_to))
    target = total_target(targets, period_from, period_to)
    actual = float(summary["won_revenue"])
    score = quality_score(deals, stage_history, stages, as_of=as_of)["score"].item()
    return {
        "period": {
            "from": None if period_from is None else period_from.isoformat(),
            "to": None if period_to is None else period_to.isoformat(),
        },
        "deals": {
            "total": int(summary["deals"]),
            "open": int(summary["open_deals"]),
            "won": int(summary["won_deals"]),
            "lost": int(summary["lost_deals"]),
        },
        "won_revenue": actual,
        "win_rate": _num(summary["win_rate"]),
        "avg_won_amount": _num(summary["avg_won_deal"]),
        "median_cycle_days": _num(summary["median_cycle_days"]),
        "funnel": [
            {
                "stage": row["stage"],
                "reached": int(row["reached"]),
                "conversion_to_next": _num(row["conversion_to_next"]),
                "median_days": _num(row["median_days"]),
            }
            for row in fun.iter_rows(named=True)
        ],
        "leaderboard": [
            {
                "rep": row["rep"],
                "won_revenue": float(row["won_revenue"]),
                "won_deals": int(row["won_deals"]),
                "win_rate": _num(row["win_rate"]),
                "activities": int(row["activities"]),
            }
            for row in board.iter_rows(named=True)
        ],
        "tiers": [
            {"tier": row["tier"], "accounts": int(row["accounts"]), "revenue": float(row["revenue"])}
            for row in tiers.iter_rows(named=True)
        ],
        "plan": {
            "target": _num(target),
            "actual": actual,
            "attainment": None if not target else _num(actual / target),
        },
        "quality": {"score": _num(score)},
    }


__all__ = [
    "win_rate", "won_revenue", "avg_won_deal", "sales_cycle", "deal_summary", "closed_summary", "lead_conversion",
    "retention", "cross_sell", "report",
]

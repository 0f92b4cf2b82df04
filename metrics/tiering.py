"""Customer tiering: ABC tiers, RFM scores and segments, tier movement, coverage, neglected
accounts.

Decisions:
- Revenue is the amount of won deals whose close day falls in the window. Won deals without an
  account are left out (they belong to no customer).
- Accounts are the accounts table plus any account id seen on a deal. Accounts whose won revenue
  in the window is zero, negative or absent form the tier "none".
- ABC: accounts are sorted by revenue (descending, ties broken by account id so the result is
  deterministic). An account is A when the revenue of the accounts before it is still below 80%
  of the total (so A is the smallest top set reaching 80%), B likewise for 95%, C otherwise.
  Shares are compared with a tolerance of 1e-9 of the total so that float rounding never moves
  an account across a boundary.
- RFM scores 1..5 are quintiles of the rank (average rank for ties, so tied accounts share a
  score): score = 1 + floor(5 × (rank − 0.5) / n), with rank 1 = worst. Recency counts the days
  from the last won deal to `as_of` (fewer days = better).
- Coverage attributes an activity to an account through its account id, else through its deal's
  account; activities with neither are left out of coverage.
"""
from __future__ import annotations

from datetime import date

import polars as pl

from metrics._common import (
    TIERS,
    days_between,
    open_at,
    prepare_deals,
    ratio,
    within,
    won_in,
)
from metrics.schema import conform

RFM_SEGMENTS: dict[str, str] = {
    "champions": "Bought recently, often and for a lot.",
    "loyal": "Buy often and for a lot, though not the most recently.",
    "potential_loyalists": "Recent customers with average frequency and spend.",
    "new_customers": "Bought recently, but rarely and for little so far.",
    "need_attention": "Middling recency, frequency and spend.",
    "about_to_sleep": "Middling recency with low frequency and spend.",
    "cannot_lose": "Used to buy often and for the most, but not for a long time.",
    "at_risk": "Bought often or for a lot, but not recently.",
    "hibernating": "Low recency, frequency and spend.",
    "lost": "Lowest recency, frequency and spend.",
}

_TIER_ORDER = {t: i for i, t in enumerate(TIERS)}  # A=0 (best) .. none=3


def _won_per_account(prepared: pl.DataFrame, start: date | None, end: date | None) -> pl.DataFrame:
    """account_id, revenue, won_deals, last_won_on of the deals won in the window (with an account)."""
    return (
        won_in(prepared, start, end)
        .filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(pl.col("amount").sum().cast(pl.Float64).alias("revenue"), pl.len().cast(pl.Int64).alias("won_deals"),
             pl.col("_close_day").max().alias("last_won_on"))
    )


def _every_account(prepared: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """account_id, name, owner_rep_id of the accounts table plus any account id seen on a deal."""
    acc = conform(accounts, "accounts").select("account_id", "name", "owner_rep_id").unique("account_id", keep="first")
    seen = prepared.select("account_id").drop_nulls().unique()
    every = pl.concat([acc.select("account_id").drop_nulls(), seen], how="vertical").unique()
    return every.join(acc, on="account_id", how="left")


def _open_per_account(prepared: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """account_id, open_deals, open_pipeline: the open pipeline at `as_of` per account."""
    return open_at(prepared, as_of).group_by("account_id").agg(
        pl.len().cast(pl.Int64).alias("open_deals"), pl.col("amount").sum().cast(pl.Float64).alias("open_pipeline")
    )


def _latest_deal_owner(prepared: pl.DataFrame) -> pl.DataFrame:
    """account_id, deal_owner_rep_id: the owner of each account's latest deal with an owner (by
    created_on, undated first, then deal_id)."""
    return (
        prepared.filter(pl.col("account_id").is_not_null() & pl.col("owner_rep_id").is_not_null())
        .sort("created_on", "deal_id", nulls_last=False)
        .group_by("account_id")
        .agg(pl.col("owner_rep_id").last().alias("deal_owner_rep_id"))
    )


def account_sums(
    deals: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    windows: list[tuple[date | None, date | None]],
    as_of: date,
    currency: str | None = None,
) -> pl.DataFrame:
    """Account sums are, for every account (the accounts table plus any account id seen on a deal),
    what the tiering metrics read of its deals: per window its won deals counted and summed with
    their last close day, its open pipeline at `as_of`, and the owner of its latest deal.

    `windows` lists (from, to) periods (a None bound is open; both None is all time, undated closes
    included); window k gives won_deals_k (Int64), revenue_k (Float64, the sum of the known amounts,
    0 without any) and last_won_on_k (the latest close day, null without a won deal). open_deals and
    open_pipeline count and sum the deals open at `as_of` (`_common.open_at`). name and owner_rep_id
    are the accounts table's (null for an account seen only on deals); for an account without an
    owner, deal_owner_rep_id is the owner of its latest deal that has an owner (by created_on,
    undated first, then by deal_id), the owner `neglected_accounts` falls back to (null for an
    account with an owner). Deals without an account are left out. `abc_tiers`, `rfm` and `neglected_accounts` take
    this frame as `sums` instead of the deals (a store may hand it over); `abc_tiers` and `rfm` read
    the window `window`.

    Columns: account_id, name, owner_rep_id, deal_owner_rep_id, open_deals, open_pipeline, then
    won_deals_k, revenue_k, last_won_on_k for each window k. Sorted by account_id.
    """
    prepared = prepare_deals(deals, currency)
    out = _every_account(prepared, accounts).join(_latest_deal_owner(prepared), on="account_id", how="left")
    out = out.with_columns(pl.when(pl.col("owner_rep_id").is_null()).then(pl.col("deal_owner_rep_id"))
                           .alias("deal_owner_rep_id"))
    out = out.join(_open_per_account(prepared, as_of), on="account_id", how="left").with_columns(
        pl.col("open_deals").fill_null(0), pl.col("open_pipeline").fill_null(0.0))
    for k, (start, end) in enumerate(windows):
        won = _won_per_account(prepared, start, end)
        out = out.join(won, on="account_id", how="left").with_columns(
            pl.col("won_deals").fill_null(0).alias(f"won_deals_{k}"), pl.col("revenue").fill_null(0.0).alias(f"revenue_{k}"),
            pl.col("last_won_on").alias(f"last_won_on_{k}"),
        ).drop("won_deals", "revenue", "last_won_on")
    return out.sort("account_id")


def _window_sums(sums: pl.DataFrame, window: int) -> pl.DataFrame:
    """account_id, name, revenue, won_deals, last_won_on of one window of `account_sums`."""
    if f"revenue_{window}" not in sums.columns:
        raise ValueError(f"the account sums have no window {window}")
    return sums.select("account_id", "name", pl.col(f"revenue_{window}").alias("revenue"),
                       pl.col(f"won_deals_{window}").alias("won_deals"), pl.col(f"last_won_on_{window}").alias("last_won_on"))


def abc_tiers(
    deals: pl.DataFrame | None,
    accounts: pl.DataFrame | None,
    *,
    window_from: date | None = None,
    window_to: date | None = None,
    a_share: float = 0.8,
    b_share: float = 0.95,
    currency: str | None = None,
    sums: pl.DataFrame | None = None,
    window: int = 0,
) -> pl.DataFrame:
    """ABC tiers sort customers by the revenue they brought in the window: A is the smallest group
    of top accounts making 80% of revenue, B the next accounts up to 95%, C the rest.

    Accounts that brought no revenue in the window are in their own group, "none".

    Variant: `a_share` (default 0.8) and `b_share` (default 0.95) move the boundaries. Instead of
    `deals` and `accounts`, `sums` may give their `account_sums`; its window `window` is then the
    window (same result).

    Columns: account_id, name, revenue, won_deals, share (of total revenue), cum_share (running,
    in rank order), revenue_rank (1 = most revenue, only for accounts with revenue), tier
    ("A", "B", "C" or "none"). Sorted by revenue descending.
    """
    if not 0 < a_share <= b_share <= 1:
        raise ValueError("need 0 < a_share <= b_share <= 1")
    if sums is not None:
        rev = _window_sums(sums, window).drop("last_won_on")
    else:
        prepared = prepare_deals(deals, currency)
        rev = _every_account(prepared, accounts).drop("owner_rep_id").join(
            _won_per_account(prepared, window_from, window_to).drop("last_won_on"), on="account_id", how="left"
        ).with_columns(pl.col("revenue").fill_null(0.0), pl.col("won_deals").fill_null(0))
    positive = pl.col("revenue") > 0
    total = pl.col("revenue").filter(positive).sum()
    ranked = rev.sort(["revenue", "account_id"], descending=[True, False], nulls_last=True)
    pos_rev = pl.when(positive).then(pl.col("revenue")).otherwise(0.0)
    before = pos_rev.cum_sum() - pos_rev
    tol = total * 1e-9
    tier = (
        pl.when(~positive)
        .then(pl.lit("none"))
        .when(before < total * a_share - tol)
        .then(pl.lit("A"))
        .when(before < total * b_share - tol)
        .then(pl.lit("B"))
        .otherwise(pl.lit("C"))
    )
    return ranked.with_columns(
        ratio(pos_rev, total).alias("share"),
        pl.when(positive).then(ratio(pos_rev.cum_sum(), total)).alias("cum_share"),
        pl.when(positive).then(pl.int_range(1, pl.len() + 1, dtype=pl.Int64)).alias("revenue_rank"),
        tier.alias("tier"),
    ).select("account_id", "name", "revenue", "won_deals", "share", "cum_share", "revenue_rank", "tier")


def tier_summary(tiers: pl.DataFrame) -> pl.DataFrame:
    """The tier summary counts the accounts in each ABC tier and adds up the revenue they brought.

    Takes the output of `abc_tiers`; every tier (A, B, C, none) is listed, even when empty.
    Columns: tier, accounts, revenue, revenue_share.
    """
    grid = pl.DataFrame({"tier": list(TIERS)})
    agg = tiers.group_by("tier").agg(
        pl.len().cast(pl.Int64).alias("accounts"), pl.col("revenue").sum().alias("revenue")
    )
    out = grid.join(agg, on="tier", how="left").with_columns(
        pl.col("accounts").fill_null(0), pl.col("revenue").fill_null(0.0)
    )
    return out.with_columns(ratio(pl.col("revenue"), pl.col("revenue").sum()).alias("revenue_share"))


def _quintile(expr: pl.Expr) -> pl.Expr:
    """Score 1..5 by quintile of the average rank (rank 1 = worst)."""
    rank = expr.rank("average")
    return (1 + ((rank - 0.5) * 5 / pl.len()).floor()).clip(1, 5).cast(pl.Int8)


def _segment() -> pl.Expr:
    r, fm = pl.col("r_score"), pl.col("_fm")
    return (
        pl.when((r >= 4) & (fm >= 4)).then(pl.lit("champions"))
        .when((r == 3) & (fm >= 4)).then(pl.lit("loyal"))
        .when((r >= 4) & (fm >= 2)).then(pl.lit("potential_loyalists"))
        .when(r >= 4).then(pl.lit("new_customers"))
        .when((r == 3) & (fm == 3)).then(pl.lit("need_attention"))
        .when(r == 3).then(pl.lit("about_to_sleep"))
        .when((r == 1) & (fm == 5)).then(pl.lit("cannot_lose"))
        .when(fm >= 3).then(pl.lit("at_risk"))
        .when(r == 2).then(pl.lit("hibernating"))
        .otherwise(pl.lit("lost"))
    )


def rfm(
    deals: pl.DataFrame | None,
    *,
    as_of: date,
    window_from: date | None = None,
    window_to: date | None = None,
    currency: str | None = None,
    sums: pl.DataFrame | None = None,
    window: int = 0,
) -> pl.DataFrame:
    """RFM scores each customer from 1 to 5 on how recently, how often and how much they bought, and
    names the resulting segment (champions, loyal, at risk, hibernating and so on).

    Scores are quintiles among the customers with a won deal in the window; 5 is best.

    Segments use the recency score R and FM = (F + M) / 2 rounded up: champions R≥4 FM≥4; loyal
    R=3 FM≥4; potential_loyalists R≥4 FM 2–3; new_customers R≥4 FM=1; need_attention R=3 FM=3;
    about_to_sleep R=3 FM≤2; cannot_lose R=1 FM=5; at_risk R≤2 FM≥3; hibernating R=2 FM≤2;
    lost R=1 FM≤2 (see `RFM_SEGMENTS`).

    Instead of `deals`, `sums` may give their `account_sums`; its window `window` is then the
    window (same result).

    Columns: account_id, last_won_on, recency_days, frequency (won deals), monetary (won revenue),
    r_score, f_score, m_score, rfm (e.g. "545"), segment. Sorted by rfm descending.
    """
    if sums is not None:
        won = _window_sums(sums, window).filter(pl.col("won_deals") > 0)
    else:
        won = _won_per_account(prepare_deals(deals, currency), window_from, window_to)
    per = won.select("account_id", "last_won_on", pl.col("won_deals").alias("frequency"),
                     pl.col("revenue").alias("monetary"))
    per = per.with_columns(days_between(pl.col("last_won_on"), pl.lit(as_of)).alias("recency_days"))
    scored = per.with_columns(
        _quintile(-pl.col("recency_days").fill_null(pl.col("recency_days").max())).alias("r_score"),
        _quintile(pl.col("frequency")).alias("f_score"),
        _quintile(pl.col("monetary")).alias("m_score"),
    ).with_columns(((pl.col("f_score").cast(pl.Int16) + pl.col("m_score") + 1) // 2).alias("_fm"))
    code = pl.concat_str([pl.col("r_score"), pl.col("f_score"), pl.col("m_score")])
    return scored.with_columns(code.alias("rfm"), _segment().alias("segment")).select(
        "account_id", "last_won_on", "recency_days", "frequency", "monetary",
        "r_score", "f_score", "m_score", "rfm", "segment",
    ).sort(["rfm", "account_id"], descending=[True, False])


def tier_movement(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Tier movement shows, for every account, its ABC tier in an earlier window and in a later one,
    and whether it moved up, down or stayed.

    Takes two outputs of `abc_tiers` (earlier window first); an account missing from one side
    counts as tier "none" there.

    Columns: account_id, name, tier_before, tier_after, revenue_before, revenue_after, movement
    ("up", "down" or "same").
    """
    b = before.select("account_id", pl.col("name").alias("_nb"), pl.col("tier").alias("tier_before"),
                      pl.col("revenue").alias("revenue_before"))
    a = after.select("account_id", pl.col("name").alias("_na"), pl.col("tier").alias("tier_after"),
                     pl.col("revenue").alias("revenue_after"))
    out = b.join(a, on="account_id", how="full", coalesce=True).with_columns(
        pl.coalesce("_na", "_nb").alias("name"),
        pl.col("tier_before").fill_null("none"),
        pl.col("tier_after").fill_null("none"),
        pl.col("revenue_before").fill_null(0.0),
        pl.col("revenue_after").fill_null(0.0),
    )
    rb = pl.col("tier_before").replace_strict(_TIER_ORDER, return_dtype=pl.Int8)
    ra = pl.col("tier_after").replace_strict(_TIER_ORDER, return_dtype=pl.Int8)
    move = pl.when(ra < rb).then(pl.lit("up")).when(ra > rb).then(pl.lit("down")).otherwise(pl.lit("same"))
    return out.with_columns(move.alias("movement")).select(
        "account_id", "name", "tier_before", "tier_after", "revenue_before", "revenue_after", "movement"
    ).sort("account_id")


def tier_transitions(movement: pl.DataFrame) -> pl.DataFrame:
    """The tier transition table counts how many accounts moved from each tier to each other tier
    between the two windows.

    Takes the output of `tier_movement`; all 16 tier pairs are listed.
    Columns: tier_before, tier_after, accounts.
    """
    tiers = pl.DataFrame({"tier_before": list(TIERS)}).join(
        pl.DataFrame({"tier_after": list(TIERS)}), how="cross"
    )
    counts = movement.group_by("tier_before", "tier_after").agg(pl.len().cast(pl.Int64).alias("accounts"))
    return tiers.join(counts, on=["tier_before", "tier_after"], how="left").with_columns(
        pl.col("accounts").fill_null(0)
    )


def _activities_with_account(activities: pl.DataFrame, deals: pl.DataFrame) -> pl.DataFrame:
    acts = conform(activities, "activities")
    deal_acc = deals.select("deal_id", pl.col("account_id").alias("_deal_acc")).unique("deal_id")
    return acts.join(deal_acc, on="deal_id", how="left").with_columns(
        pl.coalesce("account_id", "_deal_acc").alias("account_id")
    )


def tier_activity_counts(
    tiers: pl.DataFrame,
    deals: pl.DataFrame,
    activities: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Tier activity counts are each rep's activities dated in the period, counted by the ABC tier
    of the account they were for.

    An activity's account is its own, else its deal's (a deal of `deals`); activities with neither
    are left out. Accounts missing from `tiers` (the output of `abc_tiers`) count as tier "none".
    `coverage` counts activities this way; a store may hand over these counts instead of the
    activities.

    Columns: rep_id, tier, activities (Int64, only pairs with activities). Sorted by rep_id, tier.
    """
    prepared = prepare_deals(deals, currency)
    tier_of = tiers.select("account_id", "tier").unique("account_id", keep="first")
    acts = _activities_with_account(activities, prepared).filter(
        within(pl.col("occurred_at").cast(pl.Date), period_from, period_to)
        & pl.col("account_id").is_not_null()
    )
    return (
        acts.join(tier_of, on="account_id", how="left")
        .with_columns(pl.col("tier").fill_null("none"))
        .group_by("rep_id", "tier")
        .agg(pl.len().cast(pl.Int64).alias("activities"))
        .sort("rep_id", "tier", nulls_last=True)
    )


def last_activity(
    deals: pl.DataFrame, activities: pl.DataFrame, *, as_of: date, currency: str | None = None
) -> pl.DataFrame:
    """The last activity of an account is the latest day, up to and including `as_of`, of an
    activity linked to it through its own account or its deal's account (a deal of `deals`).

    `neglected_accounts` measures "no recent activity" from it; a store may hand it over instead
    of the activities. Columns: account_id, last_activity_on (Date). Sorted by account_id.
    """
    acts = _activities_with_account(activities, prepare_deals(deals, currency)).filter(
        pl.col("occurred_at").cast(pl.Date) <= as_of
    )
    return (
        acts.filter(pl.col("account_id").is_not_null())
        .group_by("account_id")
        .agg(pl.col("occurred_at").max().cast(pl.Date).alias("last_activity_on"))
        .sort("account_id")
    )


def tier_deal_sums(
    tiers: pl.DataFrame,
    deals: pl.DataFrame,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    currency: str | None = None,
) -> pl.DataFrame:
    """Tier deal sums are each owner's deals counted and summed by the ABC tier of their account:
    the deals won in the period (revenue) and the deals open at `as_of` (pipeline).

    Accounts missing from `tiers` (the output of `abc_tiers`), and deals without an account, count
    as tier "none". `coverage` sums deals this way; a store may hand over these sums instead of
    the deals. Amounts sum the known ones (0 without any).

    Columns: rep_id (the deal owner), tier, won_deals, revenue, open_deals, pipeline (only pairs with
    a won or an open deal). Sorted by rep_id, tier.
    """
    prepared = prepare_deals(deals, currency)
    tier_of = tiers.select("account_id", "tier").unique("account_id", keep="first")

    def per_tier(df: pl.DataFrame, count: str, total: str) -> pl.DataFrame:
        return (df.join(tier_of, on="account_id", how="left").with_columns(pl.col("tier").fill_null("none"))
                .group_by(pl.col("owner_rep_id").alias("rep_id"), "tier")
                .agg(pl.len().cast(pl.Int64).alias(count), pl.col("amount").sum().cast(pl.Float64).alias(total)))

    won = per_tier(won_in(prepared, period_from, period_to), "won_deals", "revenue")
    live = per_tier(open_at(prepared, as_of), "open_deals", "pipeline")
    return (
        won.join(live, on=["rep_id", "tier"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("won_deals").fill_null(0), pl.col("revenue").fill_null(0.0),
                      pl.col("open_deals").fill_null(0), pl.col("pipeline").fill_null(0.0))
        .select("rep_id", "tier", "won_deals", "revenue", "open_deals", "pipeline")
        .sort("rep_id", "tier", nulls_last=True)
    )


def coverage(
    tiers: pl.DataFrame,
    deals: pl.DataFrame,
    activities: pl.DataFrame | None,
    *,
    as_of: date,
    period_from: date | None = None,
    period_to: date | None = None,
    per_rep: bool = True,
    currency: str | None = None,
    activity_counts: pl.DataFrame | None = None,
    deal_sums: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Coverage compares, for each rep, each tier's share of won revenue and open pipeline with its
    share of the rep's activities, showing whether effort goes where the money is.

    A positive effort gap means the tier gets more of the activities than its share of revenue.

    Takes the output of `abc_tiers` for tier membership; accounts not in it count as "none".
    Revenue is won in the period, pipeline is open at `as_of`, activities are those dated in the
    period. Variant: `per_rep=True` (default); `False` gives one set of rows for everyone.
    Instead of `activities`, `activity_counts` may give their `tier_activity_counts` for the same
    tiers, deals and period; instead of `deals`, `deal_sums` may give their `tier_deal_sums` for the
    same tiers, period and `as_of` (same result).

    Columns: rep_id [per rep only], tier, revenue, revenue_share, pipeline, pipeline_share,
    activities, activity_share, effort_gap (activity_share − revenue_share). Every tier is
    listed for every rep with revenue, pipeline or activities.
    """
    key = "rep_id"
    if deal_sums is None:
        deal_sums = tier_deal_sums(tiers, deals, as_of=as_of, period_from=period_from, period_to=period_to,
                                   currency=currency)
    sums = deal_sums if per_rep else deal_sums.with_columns(pl.lit("").alias(key))
    rev = sums.filter(pl.col("won_deals") > 0).group_by(key, "tier").agg(pl.col("revenue").sum())
    pipe = sums.filter(pl.col("open_deals") > 0).group_by(key, "tier").agg(pl.col("pipeline").sum())
    if activity_counts is None:
        if activities is None:
            raise ValueError("coverage needs the activities or their tier_activity_counts")
        activity_counts = tier_activity_counts(
            tiers, deals, activities, period_from=period_from, period_to=period_to, currency=currency
        )
    counts = activity_counts if per_rep else activity_counts.with_columns(pl.lit("").alias(key))
    act = counts.group_by(key, "tier").agg(pl.col("activities").sum().cast(pl.Int64))
    reps = pl.concat([rev.select(key), pipe.select(key), act.select(key)], how="vertical").unique()
    grid = reps.join(pl.DataFrame({"tier": list(TIERS)}), how="cross")
    out = (
        grid.join(rev, on=[key, "tier"], how="left", nulls_equal=True)
        .join(pipe, on=[key, "tier"], how="left", nulls_equal=True)
        .join(act, on=[key, "tier"], how="left", nulls_equal=True)
        .with_columns(
            pl.col("revenue").fill_null(0.0),
            pl.col("pipeline").fill_null(0.0),
            pl.col("activities").fill_null(0),
        )
        .with_columns(
            ratio(pl.col("revenue"), pl.col("revenue").sum().over(key)).alias("revenue_share"),
            ratio(pl.col("pipeline"), pl.col("pipeline").sum().over(key)).alias("pipeline_share"),
            ratio(pl.col("activities"), pl.col("activities").sum().over(key)).alias("activity_share"),
        )
        .with_columns((pl.col("activity_share") - pl.col("revenue_share")).alias("effort_gap"))
        .with_columns(pl.col("tier").replace_strict(_TIER_ORDER, return_dtype=pl.Int8).alias("_order"))
        .sort(key, "_order", nulls_last=True)
    )
    cols = [key, "tier", "revenue", "revenue_share", "pipeline", "pipeline_share", "activities",
            "activity_share", "effort_gap"]
    return out.select(cols if per_rep else cols[1:])


def neglected_accounts(
    tiers: pl.DataFrame,
    deals: pl.DataFrame,
    activities: pl.DataFrame | None,
    *,
    as_of: date,
    days: int = 30,
    tier: str = "A",
    currency: str | None = None,
    last_activities: pl.DataFrame | None = None,
    sums: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Neglected accounts are top-tier (A) customers that have no open deal or have had no activity
    in the last 30 days.

    Variant: `days` (default 30) and `tier` (default "A") choose the window and the tier.

    Activities count when dated in the `days` days up to and including `as_of`, linked through
    their account or their deal's account. The owner is the account's owner when the tiers frame
    carries `owner_rep_id`, else the owner of the account's latest deal. Instead of `activities`,
    `last_activities` may give their `last_activity` for the same deals and `as_of`, and instead of
    `deals`, `sums` may give their `account_sums` at the same `as_of` (same result; the tiers
    frame must then carry the accounts' `owner_rep_id`).

    Columns: account_id, name, revenue, owner_rep_id, open_deals, open_pipeline,
    last_activity_on, days_since_activity, no_open_deal, no_recent_activity.
    Sorted by revenue descending.
    """
    chosen = tiers.filter(pl.col("tier") == tier).select("account_id", "name", "revenue")
    if sums is not None:
        if "owner_rep_id" not in tiers.columns:
            raise ValueError("with account sums, the tiers must carry the accounts' owner_rep_id")
        pipe = sums.select("account_id", "open_deals", "open_pipeline")
        latest_owner = sums.select("account_id", pl.col("deal_owner_rep_id").alias("_deal_owner"))
    else:
        prepared = prepare_deals(deals, currency)
        pipe = _open_per_account(prepared, as_of)
        latest_owner = _latest_deal_owner(  # only the chosen accounts' deals are ordered
            prepared.join(chosen.select("account_id"), on="account_id", how="semi")
        ).rename({"deal_owner_rep_id": "_deal_owner"})
    if last_activities is None:
        if activities is None:
            raise ValueError("neglected_accounts needs the activities or their last_activity")
        last_activities = last_activity(deals, activities, as_of=as_of, currency=currency)
    last = last_activities.select("account_id", pl.col("last_activity_on").cast(pl.Date))
    out = chosen.join(pipe, on="account_id", how="left").join(last, on="account_id", how="left")
    out = out.join(latest_owner, on="account_id", how="left")
    owner = pl.col("_deal_owner")
    if "owner_rep_id" in tiers.columns:
        owner = pl.coalesce("owner_rep_id", "_deal_owner")
        out = out.join(tiers.select("account_id", "owner_rep_id"), on="account_id", how="left")
    since = days_between(pl.col("last_activity_on"), pl.lit(as_of))
    out = out.with_columns(
        owner.alias("owner_rep_id"),
        pl.col("open_deals").fill_null(0),
        pl.col("open_pipeline").fill_null(0.0),
        since.alias("days_since_activity"),
    ).with_columns(
        (pl.col("open_deals") == 0).alias("no_open_deal"),
        (pl.col("days_since_activity").is_null() | (pl.col("days_since_activity") >= days)).alias(
            "no_recent_activity"
        ),
    )
    return out.filter(pl.col("no_open_deal") | pl.col("no_recent_activity")).select(
        "account_id", "name", "revenue", "owner_rep_id", "open_deals", "open_pipeline",
        "last_activity_on", "days_since_activity", "no_open_deal", "no_recent_activity",
    ).sort(["revenue", "account_id"], descending=[True, False])


__all__ = [
    "RFM_SEGMENTS", "abc_tiers", "tier_summary", "rfm", "tier_movement", "tier_transitions",
    "coverage", "neglected_accounts", "tier_activity_counts", "last_activity", "account_sums", "tier_deal_sums",
]

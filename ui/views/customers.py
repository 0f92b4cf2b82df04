"""Customers: ABC tiers and their Pareto curve, RFM segments, tier movement since the previous window,
revenue versus effort by tier and rep, and A-tier accounts that nobody looks after.

The window is the period filter (all time when it is unbounded). Tier movement compares the
previous window of equal length (`Filters.previous`) with this one and needs a bounded period. The
headline numbers compare with the previous period up to the same day (`same_point`), so a quarter
half gone is not set against a whole one.

Read the cheap way: no deal row and no activity row is loaded. DuckDB sums the deals per account
for the three windows (`account_sums_in_scope`, what `metrics.tiering.account_sums` gives) and, once
the tiers are known, per owner and tier (`tier_deal_sums_in_scope`, `tier_deal_sums`); it counts the
activities per rep and tier and finds each account's last one (`activity_coverage_in_scope`, what
`tier_activity_counts` and `last_activity` give). The metrics rank, score and compare those sums.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from metrics import tiering
from ui.filters import Filters
from ui.views import scope_of

TIERS: tuple[str, ...] = ("A", "B", "C", "none")
SEGMENTS: tuple[str, ...] = tuple(tiering.RFM_SEGMENTS)
PARETO_POINTS = 600  # at most this many accounts are drawn on the Pareto chart
GAP_COLUMNS: tuple[str, ...] = tuple(f"effort_gap_{tier}" for tier in TIERS)


@dataclass(frozen=True)
class CustomersView:
    """What the Customers page shows (small frames only)."""

    empty: bool
    bounded: bool
    currency: str | None
    headline: dict[str, Any]     # customers, a_accounts, revenue, champions (+ *_prev for deltas)
    summary: pl.DataFrame        # tier, accounts, revenue, revenue_share, account_share
    pareto: pl.DataFrame         # revenue_rank, account_id, name, revenue, cum_share, tier
    segments: pl.DataFrame       # segment, accounts, revenue, revenue_share (every RFM segment)
    accounts: pl.DataFrame       # one row per account: name, owner, tier, segment, revenue, ...
    transitions: pl.DataFrame    # tier_before, tier_after, accounts (16 rows; empty when unbounded)
    movement: dict[str, int]     # up, down, same
    coverage: pl.DataFrame       # tier, revenue_share, pipeline_share, activity_share, effort_gap
    coverage_reps: pl.DataFrame  # rep_id, rep, team, activities, A shares, effort_gap_<tier>
    a_accounts: pl.DataFrame     # every A account with its open deals and last activity


def single_currency(deals: pl.DataFrame) -> str | None:
    """The one currency of the deals, else None (then amounts are shown as plain numbers)."""
    found = deals["currency"].drop_nulls().unique().to_list() if "currency" in deals.columns else []
    return found[0] if len(found) == 1 else None


def same_point(f: Filters) -> tuple[date, date] | None:
    """The previous period from its start to the same number of days in as this one has run
    (to its end when this period is over); None without a bounded period or before it starts."""
    if not f.bounded:
        return None
    p = f.previous()
    elapsed = (min(f.as_of, f.period_to) - f.period_from).days
    if elapsed < 0:
        return None
    return p.period_from, min(p.period_from + timedelta(days=elapsed), p.period_to)


def window_end(f: Filters) -> date:
    """The day recency is measured from: today, or the end of a window that is already over."""
    return min(f.as_of, f.period_to) if f.period_to is not None else f.as_of


def compute(store: Any, f: Filters) -> CustomersView:
    """Tiers, segments, movement, coverage and neglected accounts for the filters."""
    cur, scope = store.cursor(), scope_of(f)
    n_deals, currencies = store.deal_currencies_in_scope(scope, cur)
    if n_deals == 0:
        return _empty(f)
    windows = [(f.period_from, f.period_to)]       # 0: this window; 1: the previous one; 2: it up to the same day
    window = same_point(f)
    if f.bounded:
        p = f.previous()
        windows += [(p.period_from, p.period_to)] + ([window] if window is not None else [])
    sums = store.account_sums_in_scope(scope, windows, f.as_of, cur)
    names = store.reps_in_scope(scope, cur).select("rep_id", pl.col("name").alias("rep"), "team")
    tiers = tiering.abc_tiers(None, None, sums=sums, window=0)
    scores = tiering.rfm(None, as_of=window_end(f), sums=sums, window=0)
    summary = tiering.tier_summary(tiers)
    summary = summary.with_columns((pl.col("accounts") / pl.col("accounts").sum()).alias("account_share"))
    to_date = transitions = None
    movement = {"up": 0, "down": 0, "same": 0}
    if f.bounded:
        prev_tiers = tiering.abc_tiers(None, None, sums=sums, window=1)
        if window is not None:
            to_date = tiering.abc_tiers(None, None, sums=sums, window=2)
        moved = tiering.tier_movement(prev_tiers, tiers)
        transitions = tiering.tier_transitions(moved)
        counts = dict(moved.group_by("movement").len().iter_rows())
        movement = {k: int(counts.get(k, 0)) for k in movement}
    with_owner = tiers.join(sums.select("account_id", "owner_rep_id"), on="account_id", how="left")
    counts, last = store.activity_coverage_in_scope(scope, tiers, f.period_from, f.period_to, f.as_of, cur)
    deal_sums = store.tier_deal_sums_in_scope(scope, tiers, f.period_from, f.period_to, f.as_of, cur)
    span = {"as_of": f.as_of, "period_from": f.period_from, "period_to": f.period_to, "activity_counts": counts,
            "deal_sums": deal_sums}
    cov = tiering.coverage(tiers, None, None, per_rep=False, **span)
    cov_reps = tiering.coverage(tiers, None, None, **span)
    a_accounts = tiering.neglected_accounts(with_owner, None, None, as_of=f.as_of, days=0, last_activities=last,
                                            sums=sums)
    return CustomersView(
        empty=False, bounded=f.bounded, currency=currencies[0] if len(currencies) == 1 else None,
        headline=_headline(tiers, scores, to_date),
        summary=summary, pareto=_pareto(tiers), segments=_segments(scores),
        accounts=_accounts(with_owner, scores, names),
        transitions=transitions if transitions is not None else _no_transitions(),
        movement=movement, coverage=cov.select("tier", "revenue_share", "pipeline_share", "activity_share",
                                               "effort_gap"),
        coverage_reps=_coverage_reps(cov_reps, names),
        a_accounts=_named_owner(a_accounts, names),
    )


def _headline(tiers: pl.DataFrame, scores: pl.DataFrame, prev: pl.DataFrame | None) -> dict[str, Any]:
    def nums(t: pl.DataFrame) -> tuple[int, int, float]:
        paying = t.filter(pl.col("tier") != "none")
        return paying.height, t.filter(pl.col("tier") == "A").height, float(paying["revenue"].sum())

    customers, a_count, revenue = nums(tiers)
    out: dict[str, Any] = {"customers": customers, "a_accounts": a_count, "revenue": revenue,
                           "champions": scores.filter(pl.col("segment") == "champions").height}
    if prev is not None:
        out["customers_prev"], out["a_accounts_prev"], out["revenue_prev"] = nums(prev)
    return out


def _pareto(tiers: pl.DataFrame) -> pl.DataFrame:
    """Accounts with revenue in rank order; thinned evenly to at most PARETO_POINTS (the last
    account of each tier is always kept so the tier boundaries stay exact)."""
    paying = tiers.filter(pl.col("tier") != "none").select(
        "revenue_rank", "account_id", "name", "revenue", "cum_share", "tier")
    if paying.height <= PARETO_POINTS:
        return paying
    step = -(-paying.height // PARETO_POINTS)
    last_of_tier = pl.col("tier") != pl.col("tier").shift(-1)
    return paying.filter(((pl.col("revenue_rank") - 1) % step == 0) | last_of_tier.fill_null(True))


def _segments(scores: pl.DataFrame) -> pl.DataFrame:
    grid = pl.DataFrame({"segment": list(SEGMENTS)})
    agg = scores.group_by("segment").agg(pl.len().cast(pl.Int64).alias("accounts"),
                                         pl.col("monetary").sum().alias("revenue"))
    out = grid.join(agg, on="segment", how="left").with_columns(
        pl.col("accounts").fill_null(0), pl.col("revenue").fill_null(0.0))
    total = out["revenue"].sum()
    return out.with_columns((pl.col("revenue") / total if total else pl.lit(None, pl.Float64)).alias("revenue_share"))


def _accounts(tiers: pl.DataFrame, scores: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    rfm = scores.select("account_id", "segment", "rfm", "last_won_on", "recency_days")
    out = tiers.join(rfm, on="account_id", how="left")
    out = _named_owner(out, names)
    return out.select("account_id", "name", "owner", "tier", "segment", "rfm", "revenue", "won_deals", "share",
                      "last_won_on", "recency_days")


def _named_owner(df: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Add `owner`: the owner's name (their id when the rep is unknown)."""
    named = df.join(names.select("rep_id", "rep"), left_on="owner_rep_id", right_on="rep_id", how="left")
    return named.with_columns(pl.coalesce("rep", "owner_rep_id").alias("owner")).drop("rep")


def _coverage_reps(cov: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """One row per rep: activities, the A tier's shares and the effort gap of every tier."""
    if cov.height == 0:
        schema = {"rep_id": pl.String, "rep": pl.String, "team": pl.String, "activities": pl.Int64,
                  "revenue_share_A": pl.Float64, "activity_share_A": pl.Float64}
        return pl.DataFrame(schema=schema | {c: pl.Float64 for c in GAP_COLUMNS})
    wide = cov.pivot(on="tier", index="rep_id", values=["effort_gap", "revenue_share", "activity_share"],
                     separator="_")
    for col in GAP_COLUMNS + ("revenue_share_A", "activity_share_A"):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(col))
    acts = cov.group_by("rep_id").agg(pl.col("activities").sum())
    out = wide.join(acts, on="rep_id", how="left").join(names, on="rep_id", how="left")
    return out.with_columns(pl.coalesce("rep", "rep_id").alias("rep")).select(
        "rep_id", "rep", "team", "activities", "revenue_share_A", "activity_share_A", *GAP_COLUMNS,
    ).sort("effort_gap_A", "rep", nulls_last=True)


def _no_transitions() -> pl.DataFrame:
    return pl.DataFrame(schema={"tier_before": pl.String, "tier_after": pl.String, "accounts": pl.Int64})


def _empty(f: Filters) -> CustomersView:
    none = pl.DataFrame()
    return CustomersView(True, f.bounded, None, {}, none, none, none, none, _no_transitions(),
                         {"up": 0, "down": 0, "same": 0}, none, none, none)


# ------------------------------------------------------------------------------ page helpers
def neglected(a_accounts: pl.DataFrame, days: int) -> pl.DataFrame:
    """The A accounts with no open deal or no activity in `days` days (tiering.neglected_accounts'
    rule, applied to the A accounts the view prepared with every account kept)."""
    if a_accounts.height == 0:
        return a_accounts
    quiet = pl.col("days_since_activity").is_null() | (pl.col("days_since_activity") >= days)
    return a_accounts.with_columns(quiet.alias("no_recent_activity")).filter(
        pl.col("no_open_deal") | pl.col("no_recent_activity"))


def drill(accounts: pl.DataFrame, tier: str | None, segment: str | None) -> pl.DataFrame:
    """The accounts table narrowed to a clicked tier and/or RFM segment; without a click, the
    accounts that brought revenue in the window."""
    out = accounts
    if tier:
        out = out.filter(pl.col("tier") == tier)
    if segment:
        out = out.filter(pl.col("segment") == segment)
    if not tier and not segment:
        out = out.filter(pl.col("tier") != "none")
    return out


def picked(event: Any, field: int = 0) -> str | None:
    """The value a click on a chart chose: `customdata[field]` of the first selected point."""
    try:
        points = event.selection.points if event is not None else []
    except AttributeError:
        return None
    for point in points or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and len(data) > field:
            return str(data[field])
        if isinstance(data, str) and field == 0:
            return data
    return None


def delta(now: float | int | None, before: float | int | None, relative: bool = False) -> float | None:
    """Change against the previous period: a difference, or a ratio of change when `relative`
    (None when there is nothing to compare with)."""
    if now is None or before is None:
        return None
    if relative:
        return (now - before) / before if before else None
    return now - before


def labelled(df: pl.DataFrame, values: dict[str, dict[str, str]]) -> pl.DataFrame:
    """Key values shown as their labels (tier "none" → "No revenue", segment keys → names), for
    the columns of `values` that the frame has."""
    exprs = [pl.col(c).replace_strict(m, default=pl.col(c), return_dtype=pl.String) for c, m in values.items()
             if c in df.columns]
    return df.with_columns(exprs) if exprs else df

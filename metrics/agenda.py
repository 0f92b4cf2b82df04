"""The weekly sales meeting's agenda, computed once for the meeting slides and the e-mailed report.

Agenda (fixed order): 1 what changed since the last meeting (the pipeline waterfall between the
last two snapshots, with the new, won, lost and pushed-out deals), 2 the leaderboard, 3 forecast
versus plan, 4 stalled deals, 5 the data-hygiene list.

Decisions:
- "Since the last meeting" = between the two latest snapshots (or the two given), over the
  period's close-date window (metrics.changes.pipeline_change).
- The forecast shown first is the method that was most accurate on past snapshots once three
  could be checked (metrics.changes.best_method), else the stage-weighted one.
- Lists are cut to the `limit` largest rows (by amount, or by days over for stalled deals);
  the totals give the full counts.
- The data-hygiene list holds the data-quality issues of the deals (metrics.quality) with the
  open deals first; per rep it counts issues by check.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from metrics import changes
from metrics.forecast import forecasts, plan_vs_actual
from metrics.funnel import stalled
from metrics.leaderboard import DealCounts, leaderboard
from metrics.quality import CHECKS, QualityChecks, quality_check_set, quality_issues, quality_score
from metrics.schema import conform

DEAL_LISTS: tuple[str, ...] = ("created", "won", "lost", "pushed_out")
LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "rank", "rep_id", "rep", "team", "won_revenue", "won_deals", "win_rate", "target", "attainment",
    "open_pipeline", "rank_change",
)


@dataclass(frozen=True)
class Agenda:
    """Everything the meeting shows (small frames; reps by id and name, deals by id and name)."""

    as_of: date
    period_from: date | None
    period_to: date | None
    snapshots: tuple[date, ...]
    change: changes.PipelineChange | None        # None with fewer than two snapshots
    deal_lists: dict[str, pl.DataFrame]           # created/won/lost/pushed_out -> deals (top `limit`)
    leaderboard: pl.DataFrame                     # LEADERBOARD_COLUMNS, every rep, by rank
    plan: dict[str, Any]                          # target, actual, attainment, gap, expected_attainment, pace, pipeline, pipeline_coverage
    forecasts: pl.DataFrame                       # method, forecast, forecast_low, forecast_high (bounded periods)
    accuracy: pl.DataFrame                        # method, snapshots, mape, bias
    best_method: str
    stalled: pl.DataFrame                         # deal_id, name, account, owner_rep_id, rep, stage, amount, days_in_stage, threshold_days, over_by_days
    hygiene: pl.DataFrame                         # deal_id, name, owner_rep_id, rep, status, amount, check, value
    hygiene_by_rep: pl.DataFrame                  # owner_rep_id, rep, <check>..., issues
    quality_score: float | None
    totals: dict[str, int] = field(default_factory=dict)   # full counts behind the cut lists
    sums: dict[str, float] = field(default_factory=dict)   # full amounts behind the cut lists


def _names(deals: pl.DataFrame, reps: pl.DataFrame,
           accounts: pl.DataFrame) -> tuple[Callable[[pl.Series], pl.DataFrame], pl.DataFrame]:
    """A lookup of (deal_id, name, account) for given deal ids, and (owner_rep_id, rep) of every rep."""
    rep = conform(reps, "reps").select(pl.col("rep_id").alias("owner_rep_id"), pl.col("name").alias("rep")).unique(
        "owner_rep_id", keep="first")
    acc = conform(accounts, "accounts").select("account_id", pl.col("name").alias("account")).unique(
        "account_id", keep="first")
    named = conform(deals, "deals").select("deal_id", "name", "account_id")

    def deal_names(ids: pl.Series) -> pl.DataFrame:
        return (_first_of(named, ids).join(acc, on="account_id", how="left")
                .select("deal_id", "name", pl.coalesce("account", "account_id").alias("account")))

    return deal_names, rep


def _first_of(deals: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The first row of each deal among `ids` (only the deals a list shows are looked up, not every
    deal: the same rows as the first row per deal of all of them)."""
    return deals.filter(pl.col("deal_id").is_in(ids.implode())).unique("deal_id", keep="first")


def _with_rep(frame: pl.DataFrame, rep: pl.DataFrame) -> pl.DataFrame:
    return frame.join(rep, on="owner_rep_id", how="left").with_columns(
        pl.coalesce("rep", "owner_rep_id").alias("rep")
    )


def meeting_pair(dates: list[date], from_snapshot: date | None = None,
                 to_snapshot: date | None = None) -> tuple[date | None, date | None]:
    """The two snapshots "since the last meeting" compares: the latest taken on or before each given
    day, else the last snapshot and the one before it (None where there is none)."""
    dates = sorted(dates)
    to_day = changes.resolve_snapshot(dates, to_snapshot) if to_snapshot else (dates[-1] if dates else None)
    earlier = [d for d in dates if to_day is not None and d < to_day]
    from_day = changes.resolve_snapshot(dates, from_snapshot) if from_snapshot else (earlier[-1] if earlier else None)
    return from_day, to_day


def meeting_agenda(
    *,
    deals: pl.DataFrame,
    reps: pl.DataFrame,
    accounts: pl.DataFrame,
    activities: pl.DataFrame,
    targets: pl.DataFrame,
    stages: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    snapshots: pl.DataFrame | None,
    as_of: date,
    period_from: date | None,
    period_to: date | None,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
    limit: int = 15,
    dates: list[date] | None = None,
    change_deals: pl.DataFrame | None = None,
    reach: pl.DataFrame | None = None,
    accuracy: pl.DataFrame | None = None,
    stays: pl.DataFrame | None = None,
    entries: pl.DataFrame | None = None,
    checks: QualityChecks | None = None,
    plan_sums: pl.DataFrame | None = None,
    forecast_deals: pl.DataFrame | None = None,
    trained: pl.DataFrame | None = None,
    board_deals: DealCounts | None = None,
) -> Agenda:
    """The meeting agenda gathers what a weekly sales meeting walks through: what changed in the
    pipeline since the last meeting, the leaderboard, forecast versus plan, stalled deals and the
    data-hygiene list.

    "Since the last meeting" is the waterfall between the two latest snapshots (or the two
    given) over the period's close dates; the forecast shown first is the method that was most
    accurate on past snapshots (stage-weighted until three snapshots could be checked).
    `activities` may be empty: the agenda shows no activity counts. Lists hold the `limit`
    (default 15) largest rows; `totals` and `sums` give what is behind them.

    Pre-aggregated inputs may stand in for the snapshots and the stage history (same result):
    `dates` (the snapshot dates), `change_deals` (`metrics.changes.change_deals` of the pair
    `meeting_pair` picks), `accuracy` (`metrics.changes.forecast_accuracy` of the period), `reach`
    (`metrics.funnel.history_reach`, for the forecasts), `stays` and `entries` (for the stalled
    deals, as `metrics.funnel.stalled` takes them) and `checks` (`metrics.quality.quality_check_set`
    of the deals at `as_of` with these snapshots). Others stand in for part of the deals (same
    result): `plan_sums` (`metrics.forecast.plan_sums` over `metrics.forecast.plan_span` of the
    period, at `as_of`) for the plan; for the forecasts `forecast_deals` (of the deals at least the
    open ones and those won in the period or the run rate's trailing window before `as_of`) with
    `trained` (`metrics.forecast.historical_training` of the deals at `as_of`) and `reach` of at
    least the open ones; for the leaderboard `board_deals` (`metrics.leaderboard.DealCounts` of the
    period, the previous one and `as_of`). When all of them are given (the plan's sums when the
    targets set a plan, the forecasts' inputs for a bounded period), `deals` need only hold the open
    deals and those the lists name (the changed deals, the deals failing a check).
    """
    if forecast_deals is not None and trained is None:
        raise ValueError("forecast_deals stand in for the deals only with trained (the closed deals' counts)")
    deal_names, rep = _names(deals, reps, accounts)
    dates = changes.snapshot_dates(snapshots) if dates is None else sorted(dates)
    from_day, to_day = meeting_pair(dates, from_snapshot, to_snapshot)
    change = None
    lists: dict[str, pl.DataFrame] = {}
    totals: dict[str, int] = {}
    sums: dict[str, float] = {}
    if from_day is not None and to_day is not None and from_day != to_day:
        change = changes.pipeline_change(snapshots, from_snapshot=from_day, to_snapshot=to_day,
                                         period_from=period_from, period_to=period_to, deals=change_deals)
        for bar in DEAL_LISTS:
            rows = change.deals_of(bar)
            rows = rows.join(deal_names(rows["deal_id"]), on="deal_id", how="left")
            rows = _with_rep(rows, rep).with_columns(pl.coalesce("name", "deal_id").alias("name"))
            totals[bar] = rows.height
            sums[bar] = float(rows["change"].abs().sum())
            lists[bar] = rows.sort(pl.col("change").abs(), descending=True).head(limit).select(
                "deal_id", "name", "account", "owner_rep_id", "rep", "stage_before", "stage_after", "close_before",
                "close_after", "amount_before", "amount_after", "change")

    board = leaderboard(deals if board_deals is None else board_deals, reps, activities, targets, as_of=as_of,
                        period_from=period_from, period_to=period_to)
    board = board.select(*LEADERBOARD_COLUMNS)

    plan_rows = plan_vs_actual(deals, targets, reps, activities, as_of=as_of, period_from=period_from,
                               period_to=period_to, grain=None, sums=plan_sums)
    plan = plan_rows.row(0, named=True) if plan_rows.height else {}
    bounded = period_from is not None and period_to is not None
    if bounded:
        fc = forecasts(deals if forecast_deals is None else forecast_deals, stage_history, stages, as_of=as_of,
                       period_from=period_from, period_to=period_to, reach=reach, trained=trained)
        fc = fc.select("method", "won_to_date", "forecast", "forecast_low", "forecast_high")
        acc = accuracy if accuracy is not None else changes.forecast_accuracy(
            deals, stage_history, stages, snapshots, as_of=as_of, period_from=period_from, period_to=period_to)
    else:
        fc = pl.DataFrame(schema={"method": pl.String, "won_to_date": pl.Float64, "forecast": pl.Float64,
                                  "forecast_low": pl.Float64, "forecast_high": pl.Float64})
        acc = pl.DataFrame(schema=changes.ACCURACY_SCHEMA)
    best = changes.best_method(acc)

    stuck = stalled(deals, stage_history, stages, as_of=as_of, stays=stays, entries=entries)
    totals["stalled"] = stuck.height
    sums["stalled"] = float(stuck["amount"].fill_null(0.0).sum())
    stuck = _with_rep(stuck.join(deal_names(stuck["deal_id"]).select("deal_id", "account"), on="deal_id", how="left"),
                      rep)
    stuck = stuck.head(limit).select("deal_id", pl.coalesce("name", "deal_id").alias("name"), "account",
                                     "owner_rep_id", "rep", "stage", "amount", "days_in_stage", "threshold_days",
                                     "over_by_days")

    if checks is None:
        checks = quality_check_set(deals, stage_history, stages, as_of=as_of, snapshots=snapshots)
    issues = quality_issues(deals, stage_history, stages, as_of=as_of, checks=checks)
    info = _first_of(conform(deals, "deals").select("deal_id", "status", "amount"), issues["deal_id"])
    issues = _with_rep(issues.join(info, on="deal_id", how="left").join(
        deal_names(issues["deal_id"]).select("deal_id", "name"), on="deal_id", how="left"), rep)
    totals["hygiene"] = issues.height
    totals["hygiene_deals"] = issues["deal_id"].n_unique()
    by_rep = (
        issues.group_by("owner_rep_id", "rep", "check").agg(pl.len().cast(pl.Int64).alias("n"))
        .pivot(on="check", index=["owner_rep_id", "rep"], values="n")
    ) if issues.height else pl.DataFrame(schema={"owner_rep_id": pl.String, "rep": pl.String})
    for check in CHECKS:
        if check not in by_rep.columns:
            by_rep = by_rep.with_columns(pl.lit(0, pl.Int64).alias(check))
    by_rep = by_rep.with_columns(pl.col(list(CHECKS)).fill_null(0)).with_columns(
        pl.sum_horizontal(list(CHECKS)).alias("issues")
    ).select("owner_rep_id", "rep", *CHECKS, "issues").sort(["issues", "rep"], descending=[True, False],
                                                           nulls_last=True)
    hygiene = (
        issues.with_columns((pl.col("status") == "open").fill_null(False).alias("_open"))
        .sort(["_open", "amount", "deal_id"], descending=[True, True, False], nulls_last=True)
        .head(limit)
        .select("deal_id", pl.coalesce("name", "deal_id").alias("name"), "owner_rep_id", "rep", "status", "amount",
                "check", "value")
    )
    score = quality_score(deals, stage_history, stages, as_of=as_of, checks=checks)["score"].item()
    return Agenda(
        as_of=as_of, period_from=period_from, period_to=period_to, snapshots=tuple(dates), change=change,
        deal_lists=lists, leaderboard=board, plan=plan, forecasts=fc, accuracy=changes.forecast_mape(acc),
        best_method=best, stalled=stuck, hygiene=hygiene, hygiene_by_rep=by_rep,
        quality_score=None if score is None else float(score), totals=totals, sums=sums,
    )


__all__ = ["Agenda", "DEAL_LISTS", "meeting_agenda", "meeting_pair"]

"""Forecast vs plan: target, won revenue and the forecast range by month; attainment and pacing per
rep and team; pipeline coverage and the pipeline needed at the historical win rate.

Forecasts cover the rest of a bounded period; with an all-time period only plan versus actual by
month is computed (over the span of the targets). The headline compares won revenue with the
previous period up to the same day (the same number of days into it), so a half-way quarter is not
set against a whole one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import polars as pl

from metrics import changes, forecast, kpis
from metrics._common import open_stages
from ui.filters import Filters
from ui.views import load, scope_of
from ui.views.customers import same_point, single_currency

METHODS: tuple[str, ...] = ("weighted", "historical", "run_rate")
STATUSES: tuple[str, ...] = ("over", "on", "under")  # target met / on pace / behind pace
# What the page's "how is this computed" panel lists (i18n keys), in order.
EXPLAINED: tuple[str, ...] = (
    *(f"definitions.{k}" for k in ("plan_vs_actual", "won_revenue", "attainment", "plan_gap", "pacing",
                                   "pipeline_coverage", "pipeline_needed", "historical_win_rate",
                                   "forecast_weighted", "forecast_historical", "forecast_run_rate")),
    "history.def_forecast_accuracy", "forecast.how_mape", "history.def_best_method",
    "forecast.how_range", "forecast.how_status", "forecast.how_previous",
)
FORECAST_COLUMNS = ("forecast", "forecast_low", "forecast_high", "won_to_date", "expected_rest", "open_deals",
                    "open_pipeline")


@dataclass(frozen=True)
class ForecastView:
    """What the Forecast vs plan page shows (small frames only)."""

    empty: bool
    bounded: bool
    currency: str | None
    has_targets: bool
    total: dict[str, Any]        # the period as one bucket: target, actual, attainment, gap, pace, ...
    previous: dict[str, Any]     # actual and attainment of the previous period up to the same day
    win_rate: float | None       # historical win rate (deals closed up to as_of)
    monthly: pl.DataFrame        # period_start, period_end, target, actual, attainment, pipeline
    month_forecasts: pl.DataFrame  # period_start, method, forecast, forecast_low, forecast_high (months not over)
    forecasts: pl.DataFrame      # one row per method for the whole period
    reps: pl.DataFrame           # rep_id, rep, team, target, actual, attainment, ..., status
    teams: pl.DataFrame          # team, target, actual, attainment, ..., status
    open_deals: pl.DataFrame     # open deals expected to close in the period (for the drill-down)
    accuracy: pl.DataFrame = field(default_factory=pl.DataFrame)  # method, snapshots, mape, bias
    accuracy_points: pl.DataFrame = field(default_factory=pl.DataFrame)  # snapshot_date, method, forecast, actual, ...
    best_method: str = METHODS[0]  # the default method: most accurate on past snapshots, else weighted


def compute(store: Any, f: Filters) -> ForecastView:
    """Plan versus actual by month, the three forecasts, attainment by rep and team."""
    cur, scope = store.cursor(), scope_of(f)
    # the stage history is never loaded: its reach (now and at each snapshot) is aggregated in DuckDB
    fr = load(store, f, tables=("reps", "targets", "accounts") if f.bounded else ("reps", "targets"))
    reps, idx = fr.reps, open_stages(fr.stages)
    if f.bounded:
        # of a bounded period only the open deals and the recently won ones are read; the closed ones the
        # historical rates (and the win rate) are learned from are counted in DuckDB
        count, currency = deal_count_and_currency(store, scope, cur)
        trained, deals = forecast_inputs(store, scope, idx, f, cur)
        closed = trained["deals"].sum()
        rate = trained["won"].sum() / closed if closed else None
    else:
        deals = store.deal_facts_in_scope(scope, cur, columns=_PLAN_FACTS)
        count, rate, currency = deals.height, forecast.historical_win_rate(deals, as_of=f.as_of), single_currency(deals)
    if count == 0 and fr.targets.height == 0:
        return _empty(f)
    plan = dict(deals=deals, targets=fr.targets, reps=reps, activities=fr.activities, as_of=f.as_of)
    monthly = forecast.plan_vs_actual(**plan, period_from=f.period_from, period_to=f.period_to, grain="month",
                                      win_rate=rate)
    monthly = monthly.select("period_start", "period_end", "target", "actual", "attainment", "pipeline")
    has_targets = fr.targets.filter(pl.col("measure") == "revenue").height > 0
    if not f.bounded:
        return ForecastView(False, False, currency, has_targets, {}, {}, rate, monthly, _no_month_forecasts(),
                            pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    span = dict(period_from=f.period_from, period_to=f.period_to, grain=None)
    total = forecast.plan_vs_actual(**plan, **span, win_rate=rate)
    names = reps.select("rep_id", pl.col("name").alias("rep"), "team")
    rep_rows = forecast.plan_vs_actual(**plan, **span, scope="rep", win_rate=rate).rename({"scope_id": "rep_id"})
    rep_rows = rep_rows.join(names, on="rep_id", how="left").with_columns(pl.coalesce("rep", "rep_id").alias("rep"))
    team_rows = forecast.plan_vs_actual(**plan, **span, scope="team", win_rate=rate).rename({"scope_id": "team"})
    # the stage history's reach today, of the open deals (the only ones placed by it)
    reach = store.history_reach_in_scope(scope, idx, cur, status="open")
    fc = forecast.forecasts(deals, None, fr.stages, as_of=f.as_of, period_from=f.period_from,
                            period_to=f.period_to, reach=reach, trained=trained)
    points = past_accuracy(store, scope, deals, fr.stages, f, cur)
    return ForecastView(
        empty=False, bounded=True, currency=currency, has_targets=has_targets,
        total=total.row(0, named=True) if total.height else {},
        previous=_previous(deals, fr.targets, reps, f), win_rate=rate, monthly=monthly,
        month_forecasts=_month_forecasts(deals, reach, trained, fr.stages, f),
        forecasts=fc.select("method", *FORECAST_COLUMNS),
        reps=_with_status(rep_rows).select("rep_id", "rep", "team", *_PLAN_COLUMNS, "status"),
        teams=_with_status(team_rows).select("team", *_PLAN_COLUMNS, "status"),
        open_deals=_open_deals(deals, names, fr.accounts, f),
        accuracy=changes.forecast_mape(points), accuracy_points=points, best_method=changes.best_method(points),
    )


def past_accuracy(store: Any, scope: dict[str, Any], deals: pl.DataFrame, stages: pl.DataFrame, f: Filters,
                  cur: Any) -> pl.DataFrame:
    """`metrics.changes.forecast_accuracy` of a bounded period over the snapshot rows in scope (deals
    since deleted in the CRM counted by their snapshot owner, as on the History page), the Forecast and
    Meeting pages alike: only the snapshots before the period's cut are read, and of the deals at each
    only what its forecasts read, counted in DuckDB. `deals`: the scoped deals, at least the won ones
    closed in the period (the actual)."""
    days, at, fit = store.snapshot_forecast_inputs_in_scope(
        scope, open_stages(stages), before=min(f.period_to, f.as_of), period_from=f.period_from,
        age_edges=list(forecast.AGE_EDGES), trailing_days=forecast.TRAILING_DAYS, cur=cur)
    return changes.forecast_accuracy(deals, None, stages, None, as_of=f.as_of, period_from=f.period_from,
                                     period_to=f.period_to, days=days, at=at, trained=fit)


def deal_count_and_currency(store: Any, scope: dict[str, Any], cur: Any) -> tuple[int, str | None]:
    """How many deals are in scope, and their one currency (None when they have none or several),
    counted in DuckDB."""
    count, currencies = store.deal_currencies_in_scope(scope, cur)
    return count, currencies[0] if len(currencies) == 1 else None


def forecast_inputs(store: Any, scope: dict[str, Any], stage_index: pl.DataFrame, f: Filters,
                    cur: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What a bounded period's forecasts read, the Forecast and Meeting pages alike: the closed deals
    up to as_of counted as `metrics.forecast.historical_training` counts them (`trained=`), and of the
    deals only the open ones and those won in `_won_span`."""
    trained = store.historical_training_in_scope(scope, stage_index, f.as_of, list(forecast.AGE_EDGES), cur)
    return trained, store.forecast_deals_in_scope(scope, *_won_span(f), cur)


def _won_span(f: Filters) -> tuple[date, date]:
    """The close days of the won deals a bounded period's view reads: its own, the previous period's up
    to the same day, and the run-rate's trailing window before as_of."""
    window = same_point(f) or (f.period_from, f.period_to)
    start = min(f.period_from, f.as_of - timedelta(days=forecast.TRAILING_DAYS - 1), window[0])
    return start, max(f.period_to, window[1])


# what the company's plan by month and the win rate read of a deal (all a period without bounds needs)
_PLAN_FACTS = ("amount", "currency", "status", "created_on", "close_date", "closed_on")
_PLAN_COLUMNS = ("target", "actual", "attainment", "gap", "expected_attainment", "pace", "pipeline",
                 "pipeline_coverage", "pipeline_needed")


def _with_status(rows: pl.DataFrame) -> pl.DataFrame:
    """over: target met; on: attainment at least the share of the period gone; under: behind."""
    att, exp = pl.col("attainment"), pl.col("expected_attainment")
    status = (pl.when(att.is_null()).then(pl.lit(None, pl.String))
              .when(att >= 1).then(pl.lit("over"))
              .when(att >= exp).then(pl.lit("on"))
              .otherwise(pl.lit("under")))
    return rows.with_columns(status.alias("status"))


def _previous(deals: pl.DataFrame, targets: pl.DataFrame, reps: pl.DataFrame, f: Filters) -> dict[str, Any]:
    window = same_point(f)
    if window is None:
        return {}
    p = f.previous()
    won = kpis.won_revenue(deals, period_from=window[0], period_to=window[1])
    actual = float(won["won_revenue"][0] or 0.0)
    plan = forecast.plan_vs_actual(deals, targets, reps, pl.DataFrame(), as_of=f.as_of,
                                   period_from=p.period_from, period_to=p.period_to, grain=None)
    target = plan["target"][0] if plan.height else None
    return {"actual": actual, "target": target, "attainment": actual / target if target else None}


def _month_forecasts(deals: pl.DataFrame, reach: pl.DataFrame, trained: pl.DataFrame, stages: pl.DataFrame,
                     f: Filters) -> pl.DataFrame:
    """The three forecasts for each month of the period that is not over yet (`reach`: the stage
    history's `metrics.funnel.history_reach`; `trained`: `metrics.forecast.historical_training` at as_of)."""
    frames = []
    start = f.period_from.replace(day=1)
    while start <= f.period_to:
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        lo, hi = max(start, f.period_from), min(end, f.period_to)
        if hi >= f.as_of:
            fc = forecast.forecasts(deals, None, stages, as_of=f.as_of, period_from=lo, period_to=hi, reach=reach,
                                    trained=trained)
            frames.append(fc.select(pl.lit(lo).alias("period_start"), "method", "forecast", "forecast_low",
                                    "forecast_high"))
        start = end + timedelta(days=1)
    return pl.concat(frames, how="vertical") if frames else _no_month_forecasts()


def _open_deals(deals: pl.DataFrame, names: pl.DataFrame, accounts: pl.DataFrame, f: Filters) -> pl.DataFrame:
    """Open deals at as_of expected to close in the period (overdue ones included), biggest first, then
    by id (the pipeline of `plan_vs_actual`)."""
    created = pl.col("created_on")
    live = deals.filter((pl.col("status") == "open") & (created.is_null() | (created <= f.as_of))
                        & pl.col("close_date").is_between(f.period_from, f.period_to))
    acc = accounts.select("account_id", pl.col("name").alias("account")).unique("account_id", keep="first")
    live = live.join(names, left_on="owner_rep_id", right_on="rep_id", how="left").join(acc, on="account_id",
                                                                                          how="left")
    return live.select("deal_id", "name", "owner_rep_id", pl.coalesce("rep", "owner_rep_id").alias("owner"),
                       "team", pl.coalesce("account", "account_id").alias("account"), "stage", "amount",
                       "probability", "close_date", "forecast_category").sort(
        "amount", "deal_id", descending=[True, False], nulls_last=True)


def _no_month_forecasts() -> pl.DataFrame:
    f = pl.Float64
    return pl.DataFrame(schema={"period_start": pl.Date, "method": pl.String, "forecast": f, "forecast_low": f,
                                "forecast_high": f})


def _empty(f: Filters) -> ForecastView:
    none = pl.DataFrame()
    return ForecastView(True, f.bounded, None, False, {}, {}, None, none, _no_month_forecasts(), none, none, none,
                        none)


# ------------------------------------------------------------------------------ page helpers
def chosen(forecasts: pl.DataFrame, method: str) -> dict[str, Any]:
    """The forecast row of one method (empty when there is none)."""
    rows = forecasts.filter(pl.col("method") == method) if forecasts.height else forecasts
    return rows.row(0, named=True) if rows.height else {}


def accuracy_note(accuracy: pl.DataFrame, best: str) -> tuple[str, dict[str, Any]]:
    """Why the default method is the default: the i18n key and its values (measured accuracy of the
    best method once three snapshots could be checked, else how many there are so far)."""
    row = accuracy.filter(pl.col("method") == best) if accuracy.height else accuracy
    n = int(row["snapshots"][0]) if row.height else 0
    if n >= changes.MIN_ACCURACY_SNAPSHOTS and row["mape"][0] is not None:
        return "forecast.best_method", {"method": best, "mape": row["mape"][0], "n": n}
    most = int(accuracy["snapshots"].max() or 0) if accuracy.height else 0
    return "forecast.default_method", {"method": best, "n": most}


def deals_of(open_deals: pl.DataFrame, *, rep_id: str | None = None, team: str | None = None) -> pl.DataFrame:
    """The open deals of a clicked rep or team (all of them without a click)."""
    if rep_id:
        return open_deals.filter(pl.col("owner_rep_id") == rep_id)
    if team:
        return open_deals.filter(pl.col("team") == team)
    return open_deals


def of_method(month_forecasts: pl.DataFrame, method: str) -> pl.DataFrame:
    """The monthly forecasts of one method."""
    return month_forecasts.filter(pl.col("method") == method)

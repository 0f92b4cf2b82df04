"""History: what changed in the pipeline between two snapshots (waterfall and the deals behind each
bar), slipped close dates per rep, the pipeline as it stood at each snapshot and the trend of open
pipeline and coverage over the snapshots.

The close-date window is the filters' period; the scope (team, region, rep, product, segment) is
applied in DuckDB. Deals deleted in the CRM (in older snapshots, gone from the deals table) are
kept when their snapshot owner is in scope, so the "removed" bar can show them.

Read the cheap way: no snapshot row is handed to polars. DuckDB counts the snapshots per date, stage
and close month (`Store.snapshot_pipeline_in_scope`: the dates, the trend and the point-in-time
pipeline), reads only the two compared snapshots for the waterfall and returns only the deals behind
its bars (`change_deals_in_scope`), and finds the pushed close dates in one pass over the snapshots,
returning the slipped deals and the tracked deals per rep (`slipped_in_scope`); the metrics in
`metrics.changes` take these as stand-ins. Deal and account names are fetched only for the deals the
tables list.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from metrics import changes
from metrics._common import open_stages
from ui.filters import Filters
from ui.views import scope_of


@dataclass(frozen=True)
class HistoryView:
    """What the History page shows (small frames only)."""

    empty: bool                      # no deals in scope
    dates: tuple[date, ...]          # snapshot dates, oldest first
    from_snapshot: date | None
    to_snapshot: date | None
    currency: str | None
    bars: pl.DataFrame               # bar, kind, amount, signed, deals (metrics.changes.BARS order)
    deals: pl.DataFrame              # bar, deal_id, name, account, owner, stage/close/amount before and after, change
    slipped_reps: pl.DataFrame       # owner_rep_id, rep, tracked_deals, slipped_deals, pushes, days_pushed, ...
    slipped_deals: pl.DataFrame      # deal_id, name, account, rep, stage, amount, first/last close date, pushes, ...
    at_snapshot: pl.DataFrame        # snapshot_date, stage, stage_index, close_month, deals, amount
    trend: pl.DataFrame              # snapshot_date, open_deals, open_pipeline, won_revenue, target, remaining, coverage
    stages: tuple[str, ...]          # open stages in pipeline order


def single_currency(deals: pl.DataFrame) -> str | None:
    """The one currency of the deals in scope, or None when there are none or several."""
    found = deals["currency"].drop_nulls().unique().to_list() if "currency" in deals.columns else []
    return found[0] if len(found) == 1 else None


def pick(dates: tuple[date, ...], from_snapshot: date | None, to_snapshot: date | None) -> tuple[date | None, date | None]:
    """The two snapshots to compare: the chosen ones when they exist, else the last two."""
    to_day = to_snapshot if to_snapshot in dates else (dates[-1] if dates else None)
    if from_snapshot in dates:
        return from_snapshot, to_day
    earlier = [d for d in dates if to_day is not None and d < to_day]
    return (earlier[-1] if earlier else None), to_day


def compute(store: Any, f: Filters, from_snapshot: date | None = None, to_snapshot: date | None = None) -> HistoryView:
    """The waterfall between two snapshots (default: the last two) and the history around it."""
    cur, scope = store.cursor(), scope_of(f)
    n_deals, currencies = store.deal_currencies_in_scope(scope, cur)
    reps_in_scope, targets, stages = store.reps_in_scope(scope, cur), store.targets_in_scope(scope, cur), \
        store.stages_frame(cur)
    window = {"period_from": f.period_from, "period_to": f.period_to}
    # per snapshot, the open pipeline by stage and close month, the won deals and the rest: the dates,
    # the trend and the point-in-time pipeline come from these few hundred rows
    grouped = store.snapshot_pipeline_in_scope(scope, f.period_from, f.period_to, cur)
    dates = tuple(sorted(grouped["snapshot_date"].unique().to_list()))
    stage_order = tuple(open_stages(stages)["stage"].to_list())
    a, b = pick(dates, from_snapshot, to_snapshot)
    change = changes.pipeline_change(None, from_snapshot=a, to_snapshot=b, **window,
                                     deals=store.change_deals_in_scope(scope, a, b, f.period_from, f.period_to, cur))
    tracked, slipped = store.slipped_in_scope(scope, f.period_from, f.period_to, cur=cur)
    by_rep, slipped = changes.slipped_close_dates(None, **window, tracked=tracked, slipped=slipped)
    listed = pl.concat([change.deals["deal_id"], slipped["deal_id"]]).unique().to_list()
    names = store.deal_names_in_scope(scope, listed, cur)
    reps = reps_in_scope.select("rep_id", pl.col("name").alias("rep"))
    deals = (change.deals.join(names, on="deal_id", how="left")
             .join(reps, left_on="owner_rep_id", right_on="rep_id", how="left")
             .with_columns(pl.coalesce("name", "deal_id").alias("name"), pl.coalesce("rep", "owner_rep_id").alias("owner")))
    slipped = slipped.join(names, on="deal_id", how="left").join(
        reps, left_on="owner_rep_id", right_on="rep_id", how="left").with_columns(
        pl.coalesce("name", "deal_id").alias("name"), pl.coalesce("rep", "owner_rep_id").alias("rep"))
    by_rep = by_rep.join(reps, left_on="owner_rep_id", right_on="rep_id", how="left")
    return HistoryView(
        empty=n_deals == 0 and grouped.height == 0,
        dates=dates, from_snapshot=a, to_snapshot=b, currency=currencies[0] if len(currencies) == 1 else None,
        bars=change.bars,
        deals=deals.select("bar", "deal_id", "name", "account", "owner", "stage_before", "stage_after", "close_before",
                           "close_after", "amount_before", "amount_after", "change"),
        slipped_reps=by_rep.with_columns(pl.coalesce("rep", "owner_rep_id").alias("rep")).select(
            "owner_rep_id", "rep", "tracked_deals", "slipped_deals", "pushes", "days_pushed", "avg_days_per_push",
            "flagged_deals", "slip_rate"),
        slipped_deals=slipped.select("deal_id", "name", "account", "rep", "stage", "amount", "first_close_date",
                                     "last_close_date", "pushes", "days_pushed", "flagged"),
        at_snapshot=changes.pipeline_at(None, stages, **window, grouped=grouped),
        trend=changes.pipeline_trend(None, targets, **window, grouped=grouped),
        stages=stage_order,
    )


# ------------------------------------------------------------------------------ page helpers
def signed(money: Callable[[float | None], str], x: float | None) -> str:
    """A change with its sign in front (`-¥1.2M` / `+¥300K`): Streamlit colours metric deltas by a
    leading minus sign."""
    if x is None:
        return money(None)
    return ("-" if x < 0 else "+") + money(abs(x))


def deals_of(view: HistoryView, bar: str | None) -> pl.DataFrame:
    """The deals behind a clicked bar; without a click every deal that moved (start and end left out)."""
    if bar is None:
        return view.deals.filter(~pl.col("bar").is_in(["start", "end"]))
    return view.deals.filter(pl.col("bar") == bar)


def clicked_bar(event: Any) -> str | None:
    """The bar key of a Plotly selection event on the waterfall (points carry the key as customdata)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in points or []:
        key = point.get("customdata")
        key = key[0] if isinstance(key, (list, tuple)) else key
        if key in changes.BARS:
            return key
    return None


def pipeline_at(view: HistoryView, day: date | None) -> pl.DataFrame:
    """The point-in-time pipeline rows of one snapshot."""
    return view.at_snapshot.filter(pl.col("snapshot_date") == day)


def totals(view: HistoryView) -> dict[str, float]:
    """{bar: amount} of the waterfall."""
    return dict(zip(view.bars["bar"].to_list(), view.bars["amount"].to_list(), strict=True))


def counts(view: HistoryView) -> dict[str, int]:
    """{bar: deals} of the waterfall."""
    return dict(zip(view.bars["bar"].to_list(), view.bars["deals"].to_list(), strict=True))


def formatted(frame: pl.DataFrame, formats: dict[str, Callable]) -> pl.DataFrame:
    """The frame with some columns turned into display text, formatted here in the calling thread
    (polars would call a Python function from its own threads, where the session's language is
    not known)."""
    return frame.with_columns([pl.Series(col, [f(v) for v in frame[col].to_list()], dtype=pl.String)
                               for col, f in formats.items()])


def deal_table(rows: pl.DataFrame, label: Callable[[str], str], bar_label: Callable[[str], str],
               money: Callable[[float | None], str], day: Callable[[date | None], str]) -> pl.DataFrame:
    """The deals behind the waterfall as shown: translated headers (`label(column)`), formatted values."""
    shown = formatted(rows, {"bar": bar_label, "close_before": day, "close_after": day, "amount_before": money,
                             "amount_after": money, "change": lambda x: signed(money, x)})
    cols = ("bar", "name", "account", "owner", "stage_before", "stage_after", "close_before", "close_after",
            "amount_before", "amount_after", "change")
    return shown.select([pl.col(c).alias(label(c)) for c in cols])


def slipped_rep_table(rows: pl.DataFrame, label: Callable[[str], str], pct: Callable, number: Callable) -> pl.DataFrame:
    """Slipped close dates per rep as shown."""
    shown = formatted(rows, {"avg_days_per_push": lambda v: number(v, 1), "slip_rate": pct})
    cols = ("rep", "tracked_deals", "slipped_deals", "pushes", "days_pushed", "avg_days_per_push", "flagged_deals",
            "slip_rate")
    return shown.select([pl.col(c).alias(label(c)) for c in cols])


def slipped_deal_table(rows: pl.DataFrame, label: Callable[[str], str], money: Callable,
                       day: Callable) -> pl.DataFrame:
    """The flagged deals (pushed three times or more) as shown."""
    shown = formatted(rows.filter(pl.col("flagged")), {"amount": money, "first_close_date": day,
                                                       "last_close_date": day})
    return shown.select(
        pl.col("name").alias(label("name")), pl.col("account").alias(label("account")),
        pl.col("rep").alias(label("owner")), pl.col("stage").alias(label("stage_after")),
        pl.col("amount").alias(label("amount_after")), pl.col("first_close_date").alias(label("first_close_date")),
        pl.col("last_close_date").alias(label("last_close_date")), pl.col("pushes").alias(label("pushes")),
        pl.col("days_pushed").alias(label("days_pushed")),
    )

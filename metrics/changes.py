"""History from successive uploads: what changed in the pipeline between two snapshots, slipped
close dates, the pipeline as it stood at any snapshot, stage history inferred from snapshots and
how accurate past forecasts turned out to be.

Inputs are `deal_snapshots` rows (snapshot_date, deal_id, stage, status, amount, close_date,
owner_rep_id; batch_id optional). When one date holds several uploads, the latest upload (highest
batch_id) wins for each deal, as in the store.

Decisions:
- A deal is in a close-date window's pipeline at a snapshot when its status there is open and its
  expected close date falls in the window (inclusive; None = unbounded; with no bounds at all,
  open deals without a close date count too).
- Waterfall between snapshot A (first) and B (second): start = the window's pipeline at A, end =
  the same at B. Every deal in A's window pipeline that is not in B's leaves through exactly one
  bar, at its amount at A: won or lost (its status at B), removed (absent from B: deleted in the
  CRM or no longer exported), else pushed out (still open, close date now outside the window —
  usually later; also earlier or blank). Every deal in B's window pipeline that was not in A's
  enters through one bar, at its amount at B: created (absent from A), else pulled in (in A but
  outside the window: close date moved into it, or reopened). Deals in both add their amount
  change to amount up or amount down. So start + created + pulled_in + amount_up − amount_down −
  pushed_out − won − lost − removed = end, exactly.
- Amounts are plain numbers (snapshots carry no currency); a missing amount counts as 0 in sums.
- A push is a move of the expected close date to a later day between two successive snapshots
  that show the deal, while it is open in the earlier one; days pushed = the size of the move.
  Deals pushed at least `flag_after` (default 3) times are flagged.
- Inferred stage history: a deal enters a stage at the first snapshot that shows it there (again
  after each change), so the real entry lies between that snapshot and the one before it.
- Forecast accuracy: a forecast made at a past snapshot uses the pipeline as it stood then (its
  snapshot rows; closed deals it does not list are taken from the deals table when they had closed
  by then), stage probabilities (a deal's own probability is only known today) and the stage
  history up to that day. It predicts the revenue won in the period up to the last day known
  (`as_of`, or the period end when earlier) and is compared with what was actually won.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from metrics._common import (
    LOST,
    OPEN,
    WON,
    close_day,
    days_between,
    open_stages,
    ratio,
    same_as_next,
    same_as_previous,
    total_target,
    within,
)
from metrics.forecast import AGE_EDGES, age_bucket, forecast_historical, forecast_run_rate, forecast_weighted
from metrics.schema import conform

BARS: tuple[str, ...] = (
    "start", "created", "pulled_in", "amount_up", "amount_down", "pushed_out", "won", "lost", "removed", "end",
)
SIGN: dict[str, int] = {
    "created": 1, "pulled_in": 1, "amount_up": 1, "amount_down": -1, "pushed_out": -1, "won": -1, "lost": -1,
    "removed": -1,
}
METHODS: tuple[str, ...] = ("weighted", "historical", "run_rate")
ACCURACY_SCHEMA: dict[str, pl.DataType] = {
    "snapshot_date": pl.Date(), "method": pl.String(), "forecast": pl.Float64(), "actual": pl.Float64(),
    "error": pl.Float64(), "abs_pct_error": pl.Float64(),
}
_SNAP_COLS = ("deal_id", "stage", "status", "amount", "close_date", "owner_rep_id")


# ----------------------------------------------------------------------------- snapshot helpers
def latest_rows(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Return the snapshot rows with one row per snapshot date and deal: the latest upload of the date.

    The canonical snapshot columns are ensured; with a `batch_id` the highest one wins, otherwise
    the last row given wins. Rows that are already one per date and deal come back as they are.
    Rows given in order of snapshot_date, deal_id (and batch_id) are reduced in one pass.
    """
    snaps = conform(snapshots, "deal_snapshots")
    if _in_key_order(snaps):
        key = ["snapshot_date", "deal_id"]
        if snaps.height < 2:
            return snaps
        return snaps.filter(~same_as_next(key).fill_null(False))
    if snaps.height == 0 or snaps.select(pl.struct("snapshot_date", "deal_id").n_unique()).item() == snaps.height:
        return snaps
    order = pl.col("batch_id").fill_null(-1)
    return (
        snaps.with_row_index("_row")
        .sort(order, "_row")
        .unique(["snapshot_date", "deal_id"], keep="last", maintain_order=True)
        .drop("_row")
        .sort("snapshot_date", "deal_id")
    )


def _in_key_order(snaps: pl.DataFrame) -> bool:
    """True when the rows are sorted by snapshot_date, deal_id, batch_id (no null date or deal)."""
    if snaps.height < 2:
        return True
    if snaps.select(pl.col("snapshot_date").is_null().any() | pl.col("deal_id").is_null().any()).item():
        return False
    d, k, b = pl.col("snapshot_date"), pl.col("deal_id"), pl.col("batch_id").fill_null(-1)
    after = (d > d.shift(1)) | ((d == d.shift(1)) & ((k > k.shift(1)) | ((k == k.shift(1)) & (b >= b.shift(1)))))
    return bool(snaps.select(after.slice(1).all()).item())


def snapshot_dates(snapshots: pl.DataFrame) -> list[date]:
    """Return the distinct snapshot dates of the snapshot rows, oldest first, nulls left out.

    Each deals upload adds one snapshot date; history needs at least two of them.
    """
    snaps = conform(snapshots, "deal_snapshots")
    return sorted(d for d in snaps["snapshot_date"].unique().to_list() if d is not None)


def resolve_snapshot(dates: Sequence[date], day: date | None) -> date | None:
    """Return the snapshot to use for a requested day: the latest snapshot taken on or before it.

    `None` when no snapshot is that old (or no day is given).
    """
    if day is None:
        return None
    earlier = [d for d in dates if d <= day]
    return max(earlier) if earlier else None


def _at(rows: pl.DataFrame, day: date | None) -> pl.DataFrame:
    return rows.filter(pl.col("snapshot_date") == day).select(_SNAP_COLS) if day else rows.clear().select(_SNAP_COLS)


def _in_window(status: str, close: str, start: date | None, end: date | None) -> pl.Expr:
    return (pl.col(status) == OPEN).fill_null(False) & within(pl.col(close), start, end)


# ----------------------------------------------------------------------------- the waterfall
@dataclass(frozen=True)
class PipelineChange:
    """The waterfall between two snapshots: `bars` (bar, kind, amount, signed, deals, in BARS
    order) and `deals` (one row per bar and deal: bar, deal_id, owner_rep_id, stage_before,
    stage_after, status_before, status_after, close_before, close_after, amount_before,
    amount_after, change)."""

    from_snapshot: date | None
    to_snapshot: date | None
    bars: pl.DataFrame
    deals: pl.DataFrame

    def amounts(self) -> dict[str, float]:
        """{bar: amount} with every bar (magnitudes; start and end are the pipeline totals)."""
        return dict(zip(self.bars["bar"].to_list(), self.bars["amount"].to_list(), strict=True))

    def counts(self) -> dict[str, int]:
        """{bar: number of deals behind the bar}."""
        return dict(zip(self.bars["bar"].to_list(), self.bars["deals"].to_list(), strict=True))

    def deals_of(self, bar: str | None) -> pl.DataFrame:
        """The deals behind one bar; with no bar, every deal that moved (start and end left out)."""
        if bar is None:
            return self.deals.filter(~pl.col("bar").is_in(["start", "end"]))
        return self.deals.filter(pl.col("bar") == bar)


def pipeline_change(
    snapshots: pl.DataFrame | None,
    *,
    from_snapshot: date | None,
    to_snapshot: date | None,
    period_from: date | None = None,
    period_to: date | None = None,
    deals: pl.DataFrame | None = None,
) -> PipelineChange:
    """The pipeline change between two snapshots is a waterfall from the open pipeline closing in
    the period at the first snapshot to the same at the second, through what was created, pulled
    in, grew, shrank, was pushed out, won, lost or removed.

    Start + created + pulled in + amount up − amount down − pushed out − won − lost − removed =
    end, exactly. Won, lost, pushed out and removed count a deal's amount at the first snapshot;
    created and pulled in its amount at the second; deals in the period's pipeline at both add
    their amount change to up or down. The period is a window of expected close dates.

    Returns a `PipelineChange`: `bars` (bar, kind "total"/"increase"/"decrease", amount ≥ 0 for
    the moves, signed, deals) and `deals` (the deals behind each bar, start and end included).
    `deals` may be given instead of `snapshots`: the `deals` of this function for the same
    arguments, worked out elsewhere (the bars are summed from it; same result).
    """
    if deals is None:
        deals = change_deals(snapshots, from_snapshot=from_snapshot, to_snapshot=to_snapshot,
                             period_from=period_from, period_to=period_to)
    return PipelineChange(from_snapshot, to_snapshot, _bars(deals), deals)


def change_deals(
    snapshots: pl.DataFrame,
    *,
    from_snapshot: date | None,
    to_snapshot: date | None,
    period_from: date | None = None,
    period_to: date | None = None,
) -> pl.DataFrame:
    """The deals behind the pipeline change between two snapshots: one row per bar and deal that
    moved the period's open pipeline from the first snapshot to the second, and one per deal in it
    at either (the "start" and "end" bars). See `pipeline_change` for the bars.

    Columns: bar, deal_id, owner_rep_id (at the second snapshot, else the first), stage_before,
    stage_after, status_before, status_after, close_before, close_after, amount_before,
    amount_after, change (signed; start and end: the amount). Sorted by bar (BARS order), then
    |change| descending, then deal_id.
    """
    rows = latest_rows(snapshots)
    a = _at(rows, from_snapshot).rename({c: f"{c}_before" for c in _SNAP_COLS if c != "deal_id"})
    b = _at(rows, to_snapshot).rename({c: f"{c}_after" for c in _SNAP_COLS if c != "deal_id"})
    a = a.with_columns(pl.lit(True).alias("_in_a"), _in_window("status_before", "close_date_before",
                                                               period_from, period_to).alias("_win_a"))
    b = b.with_columns(pl.lit(True).alias("_in_b"), _in_window("status_after", "close_date_after",
                                                               period_from, period_to).alias("_win_b"))
    both = a.join(b, on="deal_id", how="full", coalesce=True).with_columns(
        pl.col("_in_a", "_in_b", "_win_a", "_win_b").fill_null(False),
        pl.col("amount_before").fill_null(0.0).alias("_amt_a"),
        pl.col("amount_after").fill_null(0.0).alias("_amt_b"),
    )
    win_a, win_b = pl.col("_win_a"), pl.col("_win_b")
    diff = pl.col("_amt_b") - pl.col("_amt_a")
    status_b = pl.col("status_after")
    bar = (
        pl.when(win_a & win_b & (diff > 0)).then(pl.lit("amount_up"))
        .when(win_a & win_b & (diff < 0)).then(pl.lit("amount_down"))
        .when(win_a & win_b).then(pl.lit(None, pl.String))
        .when(win_a & ~pl.col("_in_b")).then(pl.lit("removed"))
        .when(win_a & (status_b == WON)).then(pl.lit("won"))
        .when(win_a & (status_b == LOST)).then(pl.lit("lost"))
        .when(win_a).then(pl.lit("pushed_out"))
        .when(win_b & ~pl.col("_in_a")).then(pl.lit("created"))
        .when(win_b).then(pl.lit("pulled_in"))
    )
    change = (
        pl.when(win_a & win_b).then(diff)
        .when(win_a).then(-pl.col("_amt_a"))
        .when(win_b).then(pl.col("_amt_b"))
    )
    both = both.with_columns(bar.alias("bar"), change.alias("change"))
    detail = [
        "deal_id", pl.coalesce("owner_rep_id_after", "owner_rep_id_before").alias("owner_rep_id"),
        "stage_before", "stage_after", "status_before", "status_after",
        pl.col("close_date_before").alias("close_before"), pl.col("close_date_after").alias("close_after"),
        "amount_before", "amount_after",
    ]
    moves = both.filter(pl.col("bar").is_not_null()).select(pl.col("bar"), *detail, pl.col("change"))
    start = both.filter(win_a).select(pl.lit("start").alias("bar"), *detail, pl.col("_amt_a").alias("change"))
    end = both.filter(win_b).select(pl.lit("end").alias("bar"), *detail, pl.col("_amt_b").alias("change"))
    order = pl.DataFrame({"bar": list(BARS), "_order": list(range(len(BARS)))})
    return (
        pl.concat([start, moves, end], how="vertical")
        .join(order, on="bar", how="left")
        .sort("_order", pl.col("change").abs(), "deal_id", descending=[False, True, False])
        .drop("_order")
    )


def _bars(deals: pl.DataFrame) -> pl.DataFrame:
    """The waterfall's bars (bar, kind, amount, signed, deals in BARS order) of `change_deals`."""
    order = pl.DataFrame({"bar": list(BARS), "_order": list(range(len(BARS)))})
    sums = deals.group_by("bar").agg(
        pl.col("change").sum().alias("signed"), pl.len().cast(pl.Int64).alias("deals")
    )
    kind = pl.col("bar").replace_strict(
        {b: ("total" if b in ("start", "end") else ("increase" if SIGN[b] > 0 else "decrease")) for b in BARS}
    )
    bars = (
        order.join(sums, on="bar", how="left")
        .sort("_order")
        .with_columns(pl.col("signed").fill_null(0.0), pl.col("deals").fill_null(0))
        .select("bar", kind.alias("kind"), pl.col("signed").abs().alias("amount"), "signed", "deals")
    )
    return bars.with_columns(
        pl.when(pl.col("kind") == "total").then(pl.col("signed")).otherwise(pl.col("amount")).alias("amount")
    )


def change_summary(change: PipelineChange) -> dict[str, Any]:
    """The change summary gives the waterfall between two snapshots as plain numbers, one per bar,
    with the two snapshot dates.

    Keys: from_snapshot, to_snapshot (ISO dates), start, created, pulled_in, amount_up,
    amount_down, pushed_out, won, lost, removed, end (amounts; moves as positive magnitudes).
    """
    out: dict[str, Any] = {
        "from_snapshot": change.from_snapshot.isoformat() if change.from_snapshot else None,
        "to_snapshot": change.to_snapshot.isoformat() if change.to_snapshot else None,
    }
    out.update({bar: float(value) for bar, value in change.amounts().items()})
    return out


# ----------------------------------------------------------------------------- slipped close dates
def _considered(rows: pl.DataFrame, from_snapshot: date | None, to_snapshot: date | None) -> pl.DataFrame:
    return rows.filter(within(pl.col("snapshot_date"), from_snapshot, to_snapshot))


def close_date_pushes(
    snapshots: pl.DataFrame,
    *,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
) -> pl.DataFrame:
    """A close-date push is a move of an open deal's expected close date to a later day between two
    successive snapshots that show the deal.

    One row per push, over the snapshots from `from_snapshot` to `to_snapshot` (default: all).
    Columns: deal_id, owner_rep_id (at the later snapshot), snapshot_before, snapshot_after,
    close_before, close_after, days (how much later). Sorted by deal_id, snapshot_after.
    """
    return _pushes(_considered(latest_rows(snapshots), from_snapshot, to_snapshot).sort("deal_id", "snapshot_date"))


def _pushes(rows: pl.DataFrame) -> pl.DataFrame:
    """`close_date_pushes` of rows already reduced, considered and sorted by deal_id, snapshot_date."""
    same = same_as_previous(["deal_id"])
    prev = rows.with_columns(
        same.alias("_same"),
        pl.col("snapshot_date").shift(1).alias("snapshot_before"),
        pl.col("close_date").shift(1).alias("close_before"),
        pl.col("status").shift(1).alias("_status_before"),
    )
    return prev.filter(
        pl.col("_same") & (pl.col("_status_before") == OPEN) & (pl.col("close_date") > pl.col("close_before"))
    ).select(
        "deal_id", "owner_rep_id", "snapshot_before", pl.col("snapshot_date").alias("snapshot_after"),
        "close_before", pl.col("close_date").alias("close_after"),
        (pl.col("close_date") - pl.col("close_before")).dt.total_days().alias("days"),
    )


def _window_deals(rows: pl.DataFrame, period_from: date | None, period_to: date | None) -> pl.DataFrame:
    """The rows of deals that were in the window's pipeline at one of the snapshots at least."""
    inside = rows.filter(_in_window("status", "close_date", period_from, period_to)).select("deal_id").unique()
    return rows.join(inside, on="deal_id", how="semi")


def _tracked(rows: pl.DataFrame, last_day: date | None) -> pl.DataFrame:
    """Deals open at some considered snapshot before the last one (`last_day`) that a later snapshot
    shows again (the deals whose close date could be seen to move), with their latest row (`rows`
    sorted by deal_id, snapshot_date)."""
    last = pl.lit(last_day, pl.Date)
    per_deal = rows.group_by("deal_id").agg(
        ((pl.col("status") == OPEN) & (pl.col("snapshot_date") < last)).fill_null(False).any()
        .alias("_open_before_last"),
        pl.len().alias("_seen"),
        pl.col("owner_rep_id").last(), pl.col("stage").last(), pl.col("status").last(),
        pl.col("amount").last(), pl.col("close_date").last().alias("last_close_date"),
        pl.col("close_date").first().alias("first_close_date"),
    )
    return per_deal.filter(pl.col("_open_before_last") & (pl.col("_seen") >= 2)).drop("_open_before_last", "_seen")


def _slipped(rows: pl.DataFrame, last_day: date | None, flag_after: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tracked deals, slipped deals) of prepared rows (latest per date, considered, in the window)."""
    by_deal = rows.sort("deal_id", "snapshot_date")      # once, for both
    tracked = _tracked(by_deal, last_day)
    pushes = _pushes(by_deal).group_by("deal_id").agg(
        pl.len().cast(pl.Int64).alias("pushes"), pl.col("days").sum().cast(pl.Int64).alias("days_pushed"),
        pl.col("snapshot_after").max().alias("last_pushed_at"),
    )
    slipped = (
        tracked.join(pushes, on="deal_id", how="inner")
        .with_columns((pl.col("pushes") >= flag_after).alias("flagged"))
        .select("deal_id", "owner_rep_id", "stage", "status", "amount", "first_close_date", "last_close_date",
                "pushes", "days_pushed", "last_pushed_at", "flagged")
        .sort(["pushes", "days_pushed", "deal_id"], descending=[True, True, False])
    )
    return tracked, slipped


def _prepared(snapshots: pl.DataFrame, from_snapshot: date | None, to_snapshot: date | None,
              period_from: date | None, period_to: date | None) -> tuple[pl.DataFrame, date | None]:
    """The considered rows of deals in the window's pipeline at some snapshot, and the last snapshot."""
    rows = _considered(latest_rows(snapshots), from_snapshot, to_snapshot)
    return _window_deals(rows, period_from, period_to), rows["snapshot_date"].max()


def slipped_deals(
    snapshots: pl.DataFrame,
    *,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    flag_after: int = 3,
) -> pl.DataFrame:
    """Slipped deals are open deals whose expected close date moved later across the snapshots:
    how often and by how many days in total; deals pushed three times or more are flagged.

    Considers the snapshots from `from_snapshot` to `to_snapshot` (default: all) and the deals that
    were in the period's pipeline (open, close date in the window) at one of them at least.
    Variant: `flag_after` (default 3) pushes to be flagged.

    Columns: deal_id, owner_rep_id, stage, status, amount (at the latest snapshot showing the deal),
    first_close_date, last_close_date, pushes, days_pushed, last_pushed_at (snapshot), flagged.
    Sorted by pushes, then days pushed, descending.
    """
    rows, last_day = _prepared(snapshots, from_snapshot, to_snapshot, period_from, period_to)
    return _slipped(rows, last_day, flag_after)[1]


def slipped_by_rep(
    snapshots: pl.DataFrame,
    *,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    flag_after: int = 3,
) -> pl.DataFrame:
    """Slipped close dates per rep shows how many of each rep's deals had their close date pushed
    later across the snapshots, how often and by how many days.

    Deals count for their owner at the latest snapshot showing them; tracked deals are those open
    in the period's pipeline at a snapshot that a later snapshot shows again (see `slipped_deals`).
    slip_rate = slipped deals / tracked deals.

    Columns: owner_rep_id, tracked_deals, slipped_deals, pushes, days_pushed, avg_days_per_push,
    flagged_deals, slip_rate. Sorted by pushes descending, then owner.
    """
    rows, last_day = _prepared(snapshots, from_snapshot, to_snapshot, period_from, period_to)
    tracked, slipped = _slipped(rows, last_day, flag_after)
    return _per_rep(_tracked_counts(tracked), slipped)


def tracked_by_rep(
    snapshots: pl.DataFrame,
    *,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
) -> pl.DataFrame:
    """Tracked deals per rep are the deals whose close date could be seen to move: in the period's
    pipeline at one of the considered snapshots at least, open at one before the last of them and
    shown again by a later one; each counts for its owner at the latest snapshot showing it (see
    `slipped_by_rep`).

    Columns: owner_rep_id, tracked_deals. Reps without a tracked deal are absent; unsorted.
    """
    rows, last_day = _prepared(snapshots, from_snapshot, to_snapshot, period_from, period_to)
    return _tracked_counts(_tracked(rows.sort("deal_id", "snapshot_date"), last_day))


def _tracked_counts(tracked: pl.DataFrame) -> pl.DataFrame:
    return tracked.group_by("owner_rep_id").agg(pl.len().cast(pl.Int64).alias("tracked_deals"))


def _per_rep(counts: pl.DataFrame, slipped: pl.DataFrame) -> pl.DataFrame:
    counts = counts.select("owner_rep_id", pl.col("tracked_deals").cast(pl.Int64))
    per_rep = slipped.group_by("owner_rep_id").agg(
        pl.len().cast(pl.Int64).alias("slipped_deals"), pl.col("pushes").sum().cast(pl.Int64),
        pl.col("days_pushed").sum().cast(pl.Int64), pl.col("flagged").sum().cast(pl.Int64).alias("flagged_deals"),
    )
    return (
        counts.join(per_rep, on="owner_rep_id", how="left", nulls_equal=True)
        .with_columns(pl.col("slipped_deals", "pushes", "days_pushed", "flagged_deals").fill_null(0))
        .with_columns(
            ratio(pl.col("days_pushed"), pl.col("pushes")).alias("avg_days_per_push"),
            ratio(pl.col("slipped_deals"), pl.col("tracked_deals")).alias("slip_rate"),
        )
        .select("owner_rep_id", "tracked_deals", "slipped_deals", "pushes", "days_pushed", "avg_days_per_push",
                "flagged_deals", "slip_rate")
        .sort(["pushes", "owner_rep_id"], descending=[True, False], nulls_last=True)
    )


def slipped_close_dates(
    snapshots: pl.DataFrame | None,
    *,
    from_snapshot: date | None = None,
    to_snapshot: date | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    flag_after: int = 3,
    tracked: pl.DataFrame | None = None,
    slipped: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Slipped close dates gives both views of pushed close dates in one pass: per rep and per deal.

    Returns (`slipped_by_rep(...)`, `slipped_deals(...)`) for the same arguments. `tracked`
    (`tracked_by_rep(...)`) and `slipped` (`slipped_deals(...)`) of the same arguments may be given
    instead of `snapshots` (same result).
    """
    if tracked is not None and slipped is not None:
        return _per_rep(tracked, slipped), slipped
    rows, last_day = _prepared(snapshots, from_snapshot, to_snapshot, period_from, period_to)
    found, slipped = _slipped(rows, last_day, flag_after)
    return _per_rep(_tracked_counts(found), slipped), slipped


# ----------------------------------------------------------------------------- point in time
def snapshot_pipeline(
    snapshots: pl.DataFrame,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
) -> pl.DataFrame:
    """The snapshot pipeline counts, at every snapshot, the deals in the period's open pipeline by
    stage and month of expected close, the deals won with a close date in the period, and the rest.

    One row per snapshot_date and group: status "open" (open, close date in the period; by stage
    and close_month, the first day of the close date's month), "won" (won, close date in the
    period; stage and close_month null) or null (every other row of that snapshot; amount 0).
    Every snapshot date with a row is present. Columns: snapshot_date, status, stage, close_month,
    deals, amount (missing amounts count as 0). Unsorted.
    """
    rows = latest_rows(snapshots)
    is_open = _in_window("status", "close_date", period_from, period_to)
    is_won = (pl.col("status") == WON).fill_null(False) & within(pl.col("close_date"), period_from, period_to)
    group = rows.select(
        "snapshot_date",
        pl.when(is_open).then(pl.lit(OPEN)).when(is_won).then(pl.lit(WON)).otherwise(pl.lit(None, pl.String))
        .alias("status"),
        pl.when(is_open).then(pl.col("stage")).alias("stage"),
        pl.when(is_open).then(pl.col("close_date").dt.truncate("1mo")).alias("close_month"),
        pl.when(is_open | is_won).then(pl.col("amount").fill_null(0.0)).otherwise(0.0).alias("amount"),
    )
    return group.group_by("snapshot_date", "status", "stage", "close_month").agg(
        pl.len().cast(pl.Int64).alias("deals"), pl.col("amount").sum().cast(pl.Float64))


def pipeline_at(
    snapshots: pl.DataFrame | None,
    stages: pl.DataFrame | None = None,
    *,
    snapshot: date | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    grouped: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The point-in-time pipeline is the open pipeline as it stood at a snapshot, by stage and by
    month of expected close.

    One snapshot (`snapshot`) or every snapshot (default); optionally only deals whose close date
    falls in the period. With `stages`, rows carry the stage's 0-based pipeline index (null for a
    stage the pipeline does not know) and sort in pipeline order.

    Columns: snapshot_date, stage, stage_index, close_month (first day; null without close date),
    deals, amount. Sorted by snapshot_date, stage_index, close_month. `grouped`
    (`snapshot_pipeline(...)` of the same snapshots and period, what they are counted from) may be
    given instead of `snapshots`.
    """
    if grouped is None:
        grouped = snapshot_pipeline(snapshots, period_from=period_from, period_to=period_to)
    out = grouped.filter(pl.col("status") == OPEN).select("snapshot_date", "stage", "close_month", "deals", "amount")
    if snapshot is not None:
        out = out.filter(pl.col("snapshot_date") == snapshot)
    if stages is not None:
        idx = open_stages(stages).select("stage", "stage_index")
        out = out.join(idx, on="stage", how="left")
    else:
        out = out.with_columns(pl.lit(None, pl.Int64).alias("stage_index"))
    return out.select("snapshot_date", "stage", "stage_index", "close_month", "deals", "amount").sort(
        "snapshot_date", "stage_index", "stage", "close_month", nulls_last=True
    )


def pipeline_trend(
    snapshots: pl.DataFrame | None,
    targets: pl.DataFrame | None = None,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    grouped: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The pipeline trend shows, at every snapshot, the open pipeline closing in the period and its
    coverage of the revenue target still to win.

    Won revenue at a snapshot = won deals it shows with a close date in the period; remaining =
    target − won (not below 0); coverage = open pipeline / remaining (null without a target or
    when nothing remains). The target is the period's revenue target without double counting
    scopes (company, else reps, else teams).

    Columns: snapshot_date, open_deals, open_pipeline, won_deals, won_revenue, target, remaining,
    coverage. Sorted by snapshot_date. `grouped` (`snapshot_pipeline(...)` of the same snapshots and
    period) may be given instead of `snapshots` (it is what they are summed from).
    """
    target = total_target(targets, period_from, period_to) if targets is not None else None
    if grouped is None:
        grouped = snapshot_pipeline(snapshots, period_from=period_from, period_to=period_to)
    is_open, is_won = pl.col("status") == OPEN, pl.col("status") == WON
    per = grouped.group_by("snapshot_date").agg(
        pl.col("deals").filter(is_open).sum().cast(pl.Int64).alias("open_deals"),
        pl.col("amount").filter(is_open).sum().cast(pl.Float64).alias("open_pipeline"),
        pl.col("deals").filter(is_won).sum().cast(pl.Int64).alias("won_deals"),
        pl.col("amount").filter(is_won).sum().cast(pl.Float64).alias("won_revenue"),
    )
    tgt = pl.lit(target, dtype=pl.Float64)
    remaining = pl.max_horizontal(tgt - pl.col("won_revenue"), pl.lit(0.0))
    return (
        per.with_columns(tgt.alias("target"))
        .with_columns(pl.when(pl.col("target").is_not_null()).then(remaining).alias("remaining"))
        .with_columns(ratio(pl.col("open_pipeline"), pl.col("remaining")).alias("coverage"))
        .select("snapshot_date", "open_deals", "open_pipeline", "won_deals", "won_revenue", "target", "remaining",
                "coverage")
        .sort("snapshot_date")
    )


# ----------------------------------------------------------------------------- stage history
def infer_stage_history(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Inferred stage history dates each stage a deal entered by the first snapshot that shows the
    deal in that stage, for CRMs whose exports carry no stage history.

    A new row starts whenever a snapshot shows the deal in a different stage than the snapshot
    before it (so a deal that moves back gets a second entry); the real move happened between
    the two snapshots. Rows without a stage are skipped.

    Columns: deal_id, stage, entered_at (the snapshot date at midnight), inferred (always true),
    as in the `stage_history` table. Sorted by deal_id, entered_at.
    """
    rows = latest_rows(snapshots).filter(pl.col("stage").is_not_null()).sort("deal_id", "snapshot_date")
    changed = ~(same_as_previous(["deal_id"]) & pl.col("stage").eq_missing(pl.col("stage").shift(1)))
    return rows.filter(changed).select(
        "deal_id", "stage",
        pl.col("snapshot_date").cast(pl.Datetime("us")).alias("entered_at"),
        pl.lit(True).alias("inferred"),
    )


# ----------------------------------------------------------------------------- forecast accuracy
def deals_at_snapshot(deals: pl.DataFrame, snapshots: pl.DataFrame, snapshot: date) -> pl.DataFrame:
    """The deals at a snapshot are the deals as they stood on that day: stage, status, amount, close
    date and owner from the snapshot, everything else from the deals table.

    Deals the snapshot shows are kept (also those since deleted); deals it does not show are added
    only when the deals table says they had closed by then. Closed deals get a close day no later
    than the snapshot; open ones none. A deal's own probability is dropped (only known today).
    """
    rows = latest_rows(snapshots.filter(pl.col("snapshot_date") == snapshot) if "snapshot_date" in snapshots.columns
                       else snapshots)
    return _deals_at(conform(deals, "deals"), rows, snapshot)


def _deals_at(table: pl.DataFrame, rows: pl.DataFrame, snapshot: date) -> pl.DataFrame:
    snap = rows.filter(pl.col("snapshot_date") == snapshot).select(_SNAP_COLS)
    shown = snap.join(table.drop("stage", "status", "amount", "close_date", "owner_rep_id"), on="deal_id", how="left")
    shown = conform(shown, "deals")
    closed = pl.col("status").is_in([WON, LOST]).fill_null(False)
    real = pl.when(pl.col("closed_on") <= snapshot).then(pl.col("closed_on"))
    planned = pl.when(pl.col("close_date") <= snapshot).then(pl.col("close_date"))
    shown = shown.with_columns(
        pl.when(closed).then(pl.coalesce(real, planned, pl.lit(snapshot))).alias("closed_on")
    )
    closed_then = table.join(snap.select("deal_id"), on="deal_id", how="anti").filter(
        pl.col("status").is_in([WON, LOST]) & (close_day() <= snapshot)
    )
    out = pl.concat([shown.select(table.columns), closed_then.select(table.columns)], how="vertical")
    return out.with_columns(pl.lit(None, pl.Float64).alias("probability"))


_FORECAST_COLS = ("deal_id", "owner_rep_id", "product", "amount", "currency", "stage", "status", "created_on",
                  "close_date", "closed_on", "probability")


def summed_reads(at: pl.DataFrame, *, age_edges: Sequence[int] = AGE_EDGES) -> pl.DataFrame:
    """The summed reads are the deals past forecasts read, summed over the deals those forecasts
    treat alike: per snapshot date, the open deals by stage, history reach and age bucket that day,
    and the won deals by close day.

    `at`: the rows `forecast_accuracy` reads (snapshot_date, deal_id, stage, status, amount,
    created_on, close_date, closed_on, hist_idx), only those: open deals created by their date (or
    undated) expected to close in the period, won ones. Each group becomes one row with the amounts summed
    (0 without any) and the smallest deal_id, created_on and close_date of its deals: every one
    gives the group's age bucket and period. A won group carries its close day as closed_on and
    close_date, and no stage, reach or creation day. Every point forecast is a sum over deals of the amount times
    a rate the group shares, so `forecast_accuracy` gives the same on these rows. Same columns as
    `at`; sorted by snapshot_date, deal_id.
    """
    edges = sorted(set(age_edges) | {0})
    is_open = pl.col("status") == OPEN
    age = days_between(pl.col("created_on"), pl.col("snapshot_date"))
    keyed = at.with_columns(
        pl.when(is_open).then(pl.col("stage")).alias("stage"),
        pl.when(is_open).then(pl.col("hist_idx")).alias("hist_idx"),
        pl.when(is_open).then(age_bucket(age, edges).clip(lower_bound=0)).alias("_bucket"),
        pl.when(~is_open).then(close_day()).alias("_day"),
    )
    summed = keyed.group_by("snapshot_date", "status", "stage", "hist_idx", "_bucket", "_day").agg(
        pl.col("deal_id").min(), pl.col("amount").sum(), pl.col("created_on").min(), pl.col("close_date").min(),
    )
    return summed.select(
        "snapshot_date", "deal_id", "stage", "status", "amount",
        pl.when(is_open).then(pl.col("created_on")).alias("created_on"),
        pl.coalesce("_day", "close_date").alias("close_date"),
        pl.col("_day").alias("closed_on"), "hist_idx",
    ).cast(at.schema).sort("snapshot_date", "deal_id")


def history_reach_by_day(stage_history: pl.DataFrame, stages: pl.DataFrame, days: Sequence[date]) -> pl.DataFrame:
    """The history reach of a deal at a day is the furthest open stage its stage history shows it
    in by that day: `metrics.funnel.history_reach` of the rows entered on or before the day (by date).

    One block of rows per given day; deals without such a row by that day are absent.
    Columns: deal_id, snapshot_date (the day), hist_idx (Int64). Sorted by snapshot_date, deal_id.
    """
    staged = conform(stage_history, "stage_history").join(
        open_stages(stages).select("stage", "stage_index"), on="stage", how="inner"
    ).select("deal_id", "stage_index", pl.col("entered_at").cast(pl.Date).alias("_day"))
    frames = [
        staged.filter(pl.col("_day") <= day).group_by("deal_id")
        .agg(pl.col("stage_index").max().cast(pl.Int64).alias("hist_idx"))
        .select("deal_id", pl.lit(day, pl.Date).alias("snapshot_date"), "hist_idx")
        for day in sorted(set(days))
    ]
    schema = {"deal_id": pl.String, "snapshot_date": pl.Date, "hist_idx": pl.Int64}
    out = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=schema)
    return out.sort("snapshot_date", "deal_id")


def forecast_accuracy(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame | None,
    stages: pl.DataFrame,
    snapshots: pl.DataFrame | None,
    *,
    as_of: date,
    period_from: date,
    period_to: date,
    methods: Sequence[str] = METHODS,
    reaches: pl.DataFrame | None = None,
    days: Sequence[date] | None = None,
    at: pl.DataFrame | None = None,
    trained: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Forecast accuracy compares, for each past snapshot, what each forecast method predicted from
    the pipeline as it stood then with the revenue actually won.

    The period is cut at the last day known (`as_of`) when it is not over, so the actual is
    complete; snapshots taken before that day are evaluated. Methods: weighted (stage
    probabilities), historical and run-rate, as in metrics.forecast with their defaults.

    `reaches` (`history_reach_by_day` of the stage history for the snapshot dates, or more) may be
    given instead of `stage_history` (same result). So may, instead of both `snapshots` and
    `stage_history`: `days` (the snapshot dates), `at` (the rows of `deals_at_snapshot` at each of
    them the forecasts read — open deals expected to close in the period, won deals closed in it or
    in the run-rate's trailing window — with snapshot_date and their `hist_idx` by that day) and
    `trained` (`metrics.forecast.historical_training` at each: snapshot_date and its columns). The rows
    of `at` may be `summed_reads` (the same result: only the point forecasts are compared).

    Columns: snapshot_date, method, forecast, actual, error (forecast − actual), abs_pct_error
    (|error| / actual; null when nothing was won). Sorted by snapshot_date, method.
    """
    end = min(period_to, as_of)
    schema = ACCURACY_SCHEMA
    if end < period_from:
        return pl.DataFrame(schema=schema)
    # only the columns the forecasts read (the others would be carried through every join for nothing)
    table = conform(deals, "deals").select(_FORECAST_COLS)
    won = table.filter((pl.col("status") == WON) & within(close_day(), period_from, end))
    actual = float(won["amount"].fill_null(0.0).sum())
    given = at is not None and trained is not None and days is not None
    if not given and (at is not None or trained is not None or days is not None):
        raise ValueError("days, at and trained stand in for the snapshots together")
    days = [d for d in (sorted(set(days)) if given else snapshot_dates(snapshots)) if d < end and d <= as_of]
    no_reach = pl.DataFrame(schema={"deal_id": pl.String, "hist_idx": pl.Int64})
    if given:
        at_day = at.partition_by("snapshot_date", as_dict=True, include_key=False)
        trained_on = trained.partition_by("snapshot_date", as_dict=True, include_key=False)
        empty_at = at.clear().drop("snapshot_date")
    else:
        rows = latest_rows(conform(snapshots, "deal_snapshots").filter(pl.col("snapshot_date").is_in(days)))
        if reaches is None:
            reaches = history_reach_by_day(stage_history, stages, days)
        reaches = reaches.filter(pl.col("snapshot_date").is_in(days)).partition_by(
            "snapshot_date", as_dict=True, include_key=False)
    frames = []
    for day in days:
        if given:
            then = at_day.get((day,), empty_at)
            reach = then.filter(pl.col("hist_idx").is_not_null()).select("deal_id", "hist_idx")
            then = then.drop("hist_idx").with_columns(pl.lit(None, pl.Float64).alias("probability"))
            fit = trained_on.get((day,), trained.clear().drop("snapshot_date"))
        else:
            then = _deals_at(table, rows, day)
            reach = reaches.get((day,), no_reach).select("deal_id", pl.col("hist_idx").cast(pl.Int64))
            fit = None
        window = {"as_of": day, "period_from": period_from, "period_to": end}
        runs = {
            "weighted": lambda: forecast_weighted(then, stages, use_deal_probability=False, **window),
            "historical": lambda: forecast_historical(then, None, stages, reach=reach, trained=fit, **window),
            "run_rate": lambda: forecast_run_rate(then, **window),
        }
        for method in methods:
            value = float(runs[method]()["forecast"][0])
            frames.append({"snapshot_date": day, "method": method, "forecast": value})
    if not frames:
        return pl.DataFrame(schema=schema)
    out = pl.DataFrame(frames, schema={k: schema[k] for k in ("snapshot_date", "method", "forecast")})
    return out.with_columns(pl.lit(actual).alias("actual")).with_columns(
        (pl.col("forecast") - pl.col("actual")).alias("error"),
    ).with_columns(
        ratio(pl.col("error").abs(), pl.col("actual")).alias("abs_pct_error")
    ).sort("snapshot_date", "method")


def forecast_mape(accuracy: pl.DataFrame) -> pl.DataFrame:
    """The mean absolute percentage error (MAPE) of a forecast method is the average, over past
    snapshots, of how far its forecast was from the revenue actually won, as a share of that revenue.

    Snapshots where nothing was won (percentage undefined) are left out.
    Columns: method, snapshots (evaluated), mape, bias (mean of forecast − actual). Ordered by METHODS.
    """
    order = pl.DataFrame({"method": list(METHODS), "_o": list(range(len(METHODS)))})
    if accuracy.height == 0:
        return order.select("method", pl.lit(0, pl.Int64).alias("snapshots"), pl.lit(None, pl.Float64).alias("mape"),
                            pl.lit(None, pl.Float64).alias("bias"))
    per = accuracy.group_by("method").agg(
        pl.col("abs_pct_error").is_not_null().sum().cast(pl.Int64).alias("snapshots"),
        pl.col("abs_pct_error").mean().alias("mape"),
        pl.col("error").mean().alias("bias"),
    )
    return order.join(per, on="method", how="left").with_columns(pl.col("snapshots").fill_null(0)).sort("_o").select(
        "method", "snapshots", "mape", "bias"
    )


MIN_ACCURACY_SNAPSHOTS = 3  # snapshots a method's accuracy needs before it may pick the default method


def best_method(accuracy: pl.DataFrame, *, min_snapshots: int = MIN_ACCURACY_SNAPSHOTS,
                default: str = "weighted") -> str:
    """The best forecast method is the one whose past forecasts were closest to the revenue actually
    won (lowest MAPE), once at least three snapshots of history could be checked.

    With fewer evaluated snapshots (`min_snapshots`, default 3) the `default` method (weighted) is
    returned; ties go to the earlier method in METHODS order.
    """
    scores = forecast_mape(accuracy).filter(
        (pl.col("snapshots") >= min_snapshots) & pl.col("mape").is_not_null()
    )
    if scores.height == 0:
        return default
    return str(scores.sort("mape", maintain_order=True)["method"][0])


__all__ = [
    "ACCURACY_SCHEMA", "BARS", "MIN_ACCURACY_SNAPSHOTS", "METHODS", "PipelineChange", "pipeline_change", "change_summary", "latest_rows", "snapshot_dates",
    "resolve_snapshot", "close_date_pushes", "slipped_deals", "slipped_by_rep", "slipped_close_dates", "pipeline_at", "pipeline_trend",
    "change_deals", "tracked_by_rep", "snapshot_pipeline",
    "infer_stage_history", "deals_at_snapshot", "history_reach_by_day", "forecast_accuracy", "forecast_mape", "best_method",
]

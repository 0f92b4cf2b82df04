"""Meeting mode: the weekly sales meeting's fixed agenda (metrics.agenda) for the filters' scope and
period, computed once per filters and store version.

1 what changed since the last meeting (waterfall between the last two snapshots, new, won, lost and
pushed deals), 2 leaderboard, 3 forecast vs plan, 4 stalled deals, 5 data hygiene.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics import forecast, quality
from metrics._common import open_stages
from metrics.agenda import Agenda, meeting_agenda, meeting_pair
from ui.filters import Filters
from ui.views import load, scope_of
from ui.views.forecast import deal_count_and_currency, forecast_inputs, past_accuracy
from ui.views.leaderboard import counted_deals


@dataclass(frozen=True)
class MeetingView:
    """The agenda plus what the slides need around it."""

    empty: bool                 # no deals in scope
    currency: str | None
    agenda: Agenda
    ranks: dict[str, int]       # rep_id -> leaderboard rank (the anonymised "Rep #n")


def compute(store: Any, f: Filters) -> MeetingView:
    """The meeting agenda for the filters (last two snapshots, the period's close dates).

    Neither the stage history nor the snapshots are loaded: the agenda gets what the other pages
    read in their place (`metrics.agenda.meeting_agenda`'s stand-ins): the waterfall's deals from the
    two compared snapshots (as the History page), the forecasts from the open and recently won deals
    with the closed ones counted in DuckDB and the forecasts' accuracy from what each past snapshot's
    forecasts read (as the Forecast page), the plan from the deals summed per owner and month (as the
    Overview page), the completed stays and current stage entries for the stalled deals (as the
    Funnel page) and the quality checks counted in the store with the duplicate check on its candidates
    (as the Data page), and the leaderboard from the deals counted per owner (as the Leaderboard page).
    Of the deals themselves only the open ones (the stalled deals) and those the lists name are loaded,
    with the columns the stalled deals and the lists read."""
    # activities are not loaded: the slides show no activity counts (the leaderboard ranks by revenue)
    cur, scope = store.cursor(), scope_of(f)
    fr = load(store, f, tables=("reps", "accounts", "targets"))
    count, currency = deal_count_and_currency(store, scope, cur)
    idx = open_stages(fr.stages)
    dates = store.snapshot_dates_in_scope(scope, cur)
    pair = meeting_pair(dates)
    change_deals = store.change_deals_in_scope(scope, *pair, f.period_from, f.period_to, cur) \
        if None not in pair and pair[0] != pair[1] else None
    span = forecast.plan_span(fr.targets, f.period_from, f.period_to)
    plan_sums = store.plan_sums_in_scope(scope, *span, f.as_of, cur) if span is not None else None
    reach = accuracy = trained = forecast_deals = None
    if f.bounded:
        # the Forecast page's inputs: the open and recently won deals, the closed ones counted in DuckDB
        trained, forecast_deals = forecast_inputs(store, scope, idx, f, cur)
        reach = store.history_reach_in_scope(scope, idx, cur, status="open")
        accuracy = past_accuracy(store, scope, forecast_deals, fr.stages, f, cur)
    tallies, failing = store.quality_tallies_in_scope(scope, idx, f.as_of, cur=cur)
    checks = quality.tallied_check_set(tallies, failing, store.duplicate_candidates_in_scope(scope, cur))
    del tallies, failing
    # of the deals only the open ones (the stalled deals) and those the lists name (the changed deals,
    # the failing ones): the leaderboard ranks the deals counted per owner, as the Leaderboard page
    board_deals = counted_deals(store, scope, [(f.period_from, f.period_to, f.as_of)], cur)
    named = set(change_deals["deal_id"].to_list()) if change_deals is not None else set()
    for _, failed, _, _ in checks.frames.values():
        named.update(failed["deal_id"].to_list())
    deals = store.deal_facts_in_scope(scope, cur, columns=_DEAL_COLUMNS, open_only=True,
                                      with_ids=sorted(i for i in named if i is not None))
    agenda = meeting_agenda(
        deals=deals, reps=fr.reps, accounts=fr.accounts, activities=fr.activities, targets=fr.targets,
        stages=fr.stages, stage_history=None, snapshots=None, as_of=f.as_of,
        period_from=f.period_from, period_to=f.period_to, dates=dates, change_deals=change_deals, reach=reach,
        accuracy=accuracy, stays=store.completed_stays_in_scope(scope, idx, cur),
        entries=store.current_stage_entries_in_scope(scope, f.as_of, cur), checks=checks, plan_sums=plan_sums,
        forecast_deals=forecast_deals, trained=trained, board_deals=board_deals,
    )
    board = agenda.leaderboard
    ranks = dict(zip(board["rep_id"].to_list(), board["rank"].to_list(), strict=True))
    return MeetingView(empty=count == 0, currency=currency, agenda=agenda, ranks=_complete(ranks, agenda))


# the deal columns the agenda reads of the deals it gets (the plan, forecasts, quality checks and the
# leaderboard have their own inputs): the stalled deals' facts and stage, the listed deals' names
_DEAL_COLUMNS = ("deal_id", "name", "account_id", "owner_rep_id", "amount", "stage", "status", "created_on",
                 "close_date", "closed_on")


def _complete(ranks: dict[str, int], agenda: Agenda) -> dict[str, int]:
    """Give every owner on the slides a number: leaderboard ranks first, then owners not on it."""
    owners: list[str] = []
    frames = [*agenda.deal_lists.values(), agenda.stalled, agenda.hygiene, agenda.hygiene_by_rep]
    for frame in frames:
        if "owner_rep_id" in frame.columns:
            owners += [o for o in frame["owner_rep_id"].to_list() if o is not None]
    out = dict(ranks)
    nxt = max(out.values(), default=0)
    for owner in dict.fromkeys(owners):
        if owner not in out:
            nxt += 1
            out[owner] = nxt
    return out


def anonymise(frame: pl.DataFrame, ranks: dict[str, int], alias: str, *, id_col: str = "owner_rep_id",
              name_col: str = "rep") -> pl.DataFrame:
    """Replace rep names by "Rep #<rank>" (alias is a format string with {rank}); rows without an
    owner show "—". The id column is dropped so nothing identifying is left."""
    if name_col not in frame.columns:
        return frame
    ids = frame[id_col].to_list() if id_col in frame.columns else [None] * frame.height
    names = [alias.format(rank=ranks[i]) if i in ranks else "—" for i in ids]
    out = frame.with_columns(pl.Series(name_col, names, dtype=pl.String))
    return out.drop(id_col) if id_col in out.columns else out


def band(value: float | None) -> tuple[float, float] | None:
    """The revenue band around a value: 1-2-5 steps (0–1K, …, 100K–200K, 200K–500K, 500K–1M, …)."""
    if value is None or value <= 0:
        return None
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for lo, hi in ((1, 2), (2, 5), (5, 10)):
        if step * lo <= value < step * hi:
            return step * lo, step * hi
    return step * 5, step * 10

"""Meeting mode: the weekly sales meeting's fixed agenda (metrics.agenda) for the filters' scope and
period, computed once per filters and store version.

1 what changed since the last meeting (waterfall between the last two snapshots, new, won, lost and
pushed deals), 2 leaderboard, 3 forecast vs plan, 4 stalled deals, 5 data hygiene.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics.agenda import Agenda, meeting_agenda
from ui.filters import Filters
from ui.views import load, scope_of
from ui.views.history import single_currency


@dataclass(frozen=True)
class MeetingView:
    """The agenda plus what the slides need around it."""

    empty: bool                 # no deals in scope
    currency: str | None
    agenda: Agenda
    ranks: dict[str, int]       # rep_id -> leaderboard rank (the anonymised "Rep #n")


def compute(store: Any, f: Filters) -> MeetingView:
    """The meeting agenda for the filters (last two snapshots, the period's close dates)."""
    # activities are not loaded: the slides show no activity counts (the leaderboard ranks by revenue)
    fr = load(store, f, tables=("deals", "reps", "accounts", "targets", "stage_history"))
    snaps = store.snapshots_with_removed_in_scope(scope_of(f), store.cursor())
    agenda = meeting_agenda(
        deals=fr.deals, reps=fr.reps, accounts=fr.accounts, activities=fr.activities, targets=fr.targets,
        stages=fr.stages, stage_history=fr.stage_history, snapshots=snaps, as_of=f.as_of,
        period_from=f.period_from, period_to=f.period_to,
    )
    board = agenda.leaderboard
    ranks = dict(zip(board["rep_id"].to_list(), board["rank"].to_list(), strict=True))
    return MeetingView(empty=fr.deals.height == 0, currency=single_currency(fr.deals), agenda=agenda,
                       ranks=_complete(ranks, agenda))


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

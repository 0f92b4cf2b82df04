"""The deals behind one name on the Leaderboard: won or lost in the period, and open now.

Its own view (cached per filters, grouping and name) so the board does not carry every deal of the
period: at a million deals that list is most of the work, and the page shows one name's deals.
"""
from __future__ import annotations

from typing import Any

import polars as pl

from ui.filters import Filters
from ui.views import scope_of

SCHEMA: dict[str, pl.DataType] = {
    "deal_id": pl.String(), "name": pl.String(), "account": pl.String(), "owner_rep_id": pl.String(),
    "owner": pl.String(), "team": pl.String(), "stage": pl.String(), "status": pl.String(),
    "amount": pl.Float64(), "close_day": pl.Date(), "created_on": pl.Date(),
}


def compute(store: Any, f: Filters, by: str = "rep", key: str | None = None) -> pl.DataFrame:
    """Deals of the rep (`by="rep"`, key = rep id) or team (`by="team"`) in scope: won or lost
    with a close day in the period, open at as_of; with owner, team and account names. Won first,
    then open, then lost; latest close day first."""
    if not key:
        return pl.DataFrame(schema=SCHEMA)
    rows = store.owner_deals_in_scope(scope_of(f), f.period_from, f.period_to, f.as_of, by, key, store.cursor())
    return rows.select([pl.col(c).cast(t) for c, t in SCHEMA.items()])

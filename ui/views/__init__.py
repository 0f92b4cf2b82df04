"""What each page computes, as plain functions of (store, filters): no Streamlit here.

A view loads the canonical tables already narrowed to the filters' scope in DuckDB (`load`), hands
them to the pure metrics, and returns small frames and numbers ready for charts and tables. Pages get
views through `ui.cache.view(name, filters)`, which caches them per filters and store version; the
benchmark calls them uncached. One module per page: `ui/views/<page>.py` with `compute(store, f)`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from metrics.schema import SCHEMAS
from ui.filters import Filters


@dataclass(frozen=True)
class Frames:
    """The canonical tables narrowed to a scope (team, region, rep, product, segment)."""

    deals: pl.DataFrame
    reps: pl.DataFrame
    accounts: pl.DataFrame
    activities: pl.DataFrame
    stage_history: pl.DataFrame
    targets: pl.DataFrame
    stages: pl.DataFrame
    leads: pl.DataFrame

    def as_kwargs(self) -> dict[str, pl.DataFrame]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def empty(name: str) -> pl.DataFrame:
    """A canonical table with its columns and no rows (for a table a view does not read)."""
    return pl.DataFrame(schema=SCHEMAS[name])


def scope_of(f: Filters) -> dict[str, tuple[str, ...]]:
    """The dimension part of the filters, as the store's scope."""
    return {"teams": f.teams, "regions": f.regions, "reps": f.reps, "products": f.products, "segments": f.segments}


def load(store: Any, f: Filters, tables: tuple[str, ...] = tuple(Frames.__dataclass_fields__)) -> Frames:
    """The tables a view needs, filtered by scope in DuckDB (tables not asked for come back empty)."""
    cur = store.cursor()
    scope = scope_of(f)
    loaders = {
        "deals": store.deals_in_scope, "reps": store.reps_in_scope, "accounts": store.accounts_in_scope,
        "activities": store.activities_in_scope, "stage_history": store.stage_history_in_scope,
        "targets": store.targets_in_scope, "leads": store.leads_in_scope,
    }
    out: dict[str, pl.DataFrame] = {}
    for name in Frames.__dataclass_fields__:
        if name == "stages":
            out[name] = store.stages_frame(cur)
        elif name in tables:
            out[name] = loaders[name](scope, cur)
        else:
            out[name] = empty(name)
    return Frames(**out)

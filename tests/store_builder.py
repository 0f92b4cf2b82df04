"""A small hand-built store for tests: rows written through the store's own import path
(`Store.apply_import`), one batch per table, so every view reads them as it reads an upload."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from data.store import TABLES, ImportWrite, Store
from metrics import schema


def stages_frame(names: list[str], won: str, lost: str, probabilities: list[float] | None = None) -> pl.DataFrame:
    """The pipeline in this order; `won` and `lost` are the closing stages."""
    probs = probabilities or [round(min(0.9, 0.1 + 0.2 * i), 2) for i in range(len(names))]
    probs = [1.0 if n == won else 0.0 if n == lost else p for n, p in zip(names, probs)]
    return pl.DataFrame({
        "name": names, "position": list(range(1, len(names) + 1)), "probability": probs,
        "is_won": [n == won for n in names], "is_lost": [n == lost for n in names],
        "source": ["configured"] * len(names),
    }, schema_overrides={"position": pl.Int32})


def write(store: Store, kind: str, rows: list[dict], *, file_name: str | None = None,
          snapshot_date: date | None = None, **extra) -> int:
    """One import batch of `rows` (canonical fields of `kind`); returns its batch id."""
    frame = schema.frame(kind, rows).select(TABLES[kind].columns)
    counts = store.apply_import(ImportWrite(
        kind=kind, file_name=file_name or f"{kind}.csv", sha256=f"{kind}-{snapshot_date}-{len(rows)}", rows=frame,
        rows_read=frame.height, snapshot_date=snapshot_date, **extra))
    return counts.batch_id


def build(path: Path, *, stages: pl.DataFrame, reps: list[dict], accounts: list[dict],
          deal_snapshots: list[tuple[date, list[dict]]], history: list[tuple[str, str, str]] = (),
          targets: list[dict] = (), activities: list[dict] = (), leads: list[dict] = (),
          file_names: dict[str, str] | None = None) -> Path:
    """Write a whole company to a new database file and close it (so a server process may open it).

    `deal_snapshots`: (snapshot date, deals) in upload order — each is one deals upload, the last
    one is the deals table as it stands. `history`: (deal id, stage, 'YYYY-MM-DD')."""
    names = file_names or {}
    store = Store(path)
    try:
        write(store, "reps", reps, stages=stages, file_name=names.get("reps"))
        write(store, "accounts", accounts, file_name=names.get("accounts"))
        for when, deals in deal_snapshots:
            write(store, "deals", deals, snapshot_date=when, file_name=names.get("deals"))
        if history:
            write(store, "stage_history", [{"deal_id": d, "stage": s, "entered_at": f"{at} 09:00:00", "inferred": False}
                                           for d, s, at in history])
        for kind, rows in (("targets", targets), ("activities", activities), ("leads", leads)):
            if rows:
                write(store, kind, list(rows), file_name=names.get(kind))
        store.checkpoint()
    finally:
        store.close()
    return path


DEMO_AS_OF = date(2026, 11, 22)
# the Filters periods (preset, from, to) the view fast-path tests compare over on the demo
DEMO_PERIODS = [
    ("this_quarter", date(2026, 10, 1), date(2026, 12, 31)),
    ("this_month", date(2026, 11, 1), date(2026, 11, 30)),
    ("custom", date(2026, 3, 15), date(2026, 6, 14)),
    ("custom", date(2026, 12, 1), date(2026, 12, 31)),          # not started yet
    ("all_time", None, None),
]


def demo_store(path: Path) -> Store:
    """The demo company as of DEMO_AS_OF in a new store at `path`."""
    from data.demo_load import load_demo

    store = Store(path)
    load_demo(store, as_of=DEMO_AS_OF)
    return store


def demo_scopes(store: Store) -> list[dict]:
    """The scopes the fast-path tests compare over: none, one team, two teams, a region, two reps, a
    product, a segment, a team with the other segments."""
    dims = store.dimension_values()
    return [
        {}, {"teams": dims["teams"][:1]}, {"teams": dims["teams"][1:3]}, {"regions": dims["regions"][:1]},
        {"reps": [dims["reps"][0][0], dims["reps"][3][0]]}, {"products": dims["products"][:1]},
        {"segments": dims["segments"][:1]}, {"teams": dims["teams"][:1], "segments": dims["segments"][1:]},
    ]


def pairwise(rows: list, cols: list, options: tuple) -> list[tuple]:
    """Every (row, column) pair once, with the options taken in turn along both: the i-th row and
    the j-th column get options[(i + j) % len(options)]. Each row and each column meets every option
    (given at least as many columns and rows as options), and every pair of the three is covered, in
    len(rows) * len(cols) runs instead of len(rows) * len(cols) * len(options)."""
    return [(r, c, options[(i + j) % len(options)]) for i, r in enumerate(rows) for j, c in enumerate(cols)]

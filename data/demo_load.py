"""Write the seeded demo company (data/demo.py) into a store through the normal import path."""
from __future__ import annotations

from datetime import date

from data.demo import generate
from data.ingest.problems import ImportProblem
from data.store import ImportWrite, Store

ORDER = ("reps", "accounts", "deals", "leads", "stage_history", "activities", "targets")


def load_demo(store: Store, seed: int = 7, as_of: date | None = None) -> dict[str, int]:
    """Load the demo company: one batch per table, all marked as demo, plus eight weekly snapshots.

    Refuses to mix the demo with real data: it runs only on an empty store or one holding the demo
    (which it replaces)."""
    cur = store.cursor()
    if not store.is_empty(cur):
        if not store.has_demo(cur):
            raise ImportProblem("demo_over_data")
        store.clear_all()
    demo = generate(seed=seed, as_of=as_of)
    counts: dict[str, int] = {}
    deals_batch = None
    for kind in ORDER:
        frame = getattr(demo, kind)
        res = store.apply_import(ImportWrite(
            kind=kind, file_name=None, sha256=None, rows=frame, rows_read=frame.height, is_demo=True,
            stages=demo.stages if kind == "reps" else None,
        ))
        counts[kind] = frame.height
        if kind == "deals":
            deals_batch = res.batch_id
    store.append_snapshots(demo.snapshots, deals_batch)
    store.checkpoint()
    counts["deal_snapshots"] = demo.snapshots.height
    return counts

"""The benchmark's databases, built through the product's own import path and cached per scale.

Each file of the scale is imported in the order a new user would upload them; every step's database
is kept, so a timed import can start from a copy of exactly the store it needs:

    base       reps and accounts imported, the pipeline configured (Data page: stages editor)
    deals      + deals.csv                 <- import_deals_csv and import_deals_xlsx start from `base`
    history    + stage_history.csv         <- import_stage_history_csv starts from `deals`
    activities + activities.csv            <- import_activities_csv starts from `history`
    full       + targets.csv and leads.csv, and the seven weekly snapshots before as_of (the earlier
                 weekly deals uploads, appended with `Store.append_snapshots` as the demo loader does):
                 the database the views, the page and the app run on

Every import passes the data's as_of (the Data page's as-of date), so the deals upload's snapshot is
dated as_of whatever day the bench runs.

The product refuses files over 200 MB (`data.ingest.read.DEFAULT_MAX_BYTES`, also Streamlit's upload
limit); at the 1m scale deals.csv and activities.csv are bigger, so the benchmark lifts that limit
for its own imports (`lift_upload_limit`) and reports which files were over it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from bench.generate import SNAPSHOTS, cache_dir, load_meta

STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("reps.csv", "accounts.csv")),
    ("deals", ("deals.csv",)),
    ("history", ("stage_history.csv",)),
    ("activities", ("activities.csv",)),
    ("full", ("targets.csv", "leads.csv")),
)
PREVIOUS: dict[str, str | None] = {name: (STEPS[i - 1][0] if i else None) for i, (name, _) in enumerate(STEPS)}


def path(scale: str, step: str) -> Path:
    return cache_dir(scale) / f"{step}.duckdb"


def exists(scale: str, step: str) -> bool:
    return path(scale, step).exists()


def copy(src: Path, dst: Path) -> None:
    """Copy a (checkpointed, closed) database file; any stale WAL of the target goes."""
    dst.with_name(dst.name + ".wal").unlink(missing_ok=True)
    shutil.copyfile(src, dst)


def remove(db: Path) -> None:
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)


def lift_upload_limit() -> int:
    """Let `import_file` read files of any size (the product's limit is 200 MB); returns the limit."""
    import data.ingest.read as rd

    limit = rd.DEFAULT_MAX_BYTES
    for reader in (rd.read_table, rd.open_csv_stream):     # the whole-file reader and the streamed one
        defaults = list(reader.__defaults__)
        defaults[-1] = 1 << 42
        reader.__defaults__ = tuple(defaults)
    return limit


def configure_stages(store) -> None:
    """The demo company's pipeline, as a user sets it up on the Data page before the first deals
    upload (the importer would otherwise learn an order from the stage names alone)."""
    from data.demo import _stages_frame

    store.set_stages(_stages_frame())


def build(scale: str, step: str, log=print) -> Path:
    """The database of `step`, built (and cached) from the previous step when missing."""
    target = path(scale, step)
    if target.exists():
        return target
    prev = PREVIOUS[step]
    from data.ingest.pipeline import import_file
    from data.store import Store

    lift_upload_limit()
    tmp = target.with_name(target.name + ".tmp")
    remove(tmp)
    if prev is not None:
        copy(build(scale, prev, log), tmp)
    files = dict(STEPS)[step]
    log(f"  building {scale}/{step}.duckdb: importing {', '.join(files)} ...")
    as_of = load_meta(scale).as_of_date
    store = Store(tmp)
    try:
        if step == "base":
            configure_stages(store)
        for name in files:
            import_file(store, cache_dir(scale) / name, as_of=as_of)
        if step == "full":
            append_snapshots(store, scale)
        store.checkpoint()
    finally:
        store.close()
    tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    tmp.rename(target)
    return target


def append_snapshots(store, scale: str) -> None:
    """The weekly snapshots before as_of, added to the deals upload's batch (as data.demo_load does)."""
    import polars as pl

    imports = store.imports_frame()
    deals = imports.filter((pl.col("kind") == "deals") & (pl.col("status") == "done")).sort("batch_id")
    store.append_snapshots(pl.read_parquet(cache_dir(scale) / SNAPSHOTS), int(deals["batch_id"][0]))


def keep_result(scale: str, step: str, db: Path) -> None:
    """Keep a timed import's result as the cached database of its step (saves rebuilding it)."""
    target = path(scale, step)
    if not target.exists() and db.exists():
        copy(db, target)

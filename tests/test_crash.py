"""Crash safety: an import SIGKILLed at random points never leaves half a batch behind.

A child process imports a 200,000-row deals CSV (through `data.ingest.pipeline.import_file`) into a
database that already holds one earlier batch; the parent kills it with SIGKILL after seeded random
delays inside the read, build and write phases (the child prints a marker, flushed, as each phase
starts; the write phase is the transaction and the CHECKPOINT after its COMMIT), at least 32 times,
on the same database file (reset to the earlier batch alone whenever a batch got committed). After
every kill a new `Store` must open the file and find: no batch still 'running' (the interrupted one
is marked 'failed' at start), every 'done' batch wholly present (its deals rows = its inserted +
updated count), no row of any table carrying the id of a batch that is not 'done', the earlier batch
exactly as it was, and a batch killed after its COMMIT (during the checkpoint) 'done' and whole.
Figures go to tests/artifacts/crash_summary.json.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from data.ingest.pipeline import import_file
from data.store import FACT_TABLES, Store

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
ROWS = 200_000
MIN_KILLS = 32          # at least this many kills
MIN_PER_PHASE = 6       # and go on (up to MAX_KILLS, within BUDGET_S) until read, build and write have this many
MAX_KILLS = 48
BUDGET_S = 110
SEED = 20241122
# where the kills aim: the marker to wait for, then a random delay within that phase's length
PHASES = ("read", "build", "transaction", "checkpoint")

CHILD = r'''
import sys, time
t0 = time.monotonic()
from data.ingest import pipeline
from data.store import Store


def mark(name):
    sys.stdout.write(f"{name} {time.monotonic() - t0:.4f}\n")
    sys.stdout.flush()


def marked(name, fn):
    def wrapper(*args, **kwargs):
        mark(name)
        return fn(*args, **kwargs)
    return wrapper


pipeline.prepare = marked("read", pipeline.prepare)
pipeline.build = marked("build", pipeline.build)
pipeline.commit = marked("write", pipeline.commit)
Store.apply_import = marked("transaction", Store.apply_import)
Store.checkpoint = marked("checkpoint", Store.checkpoint)
mark("start")
store = Store(sys.argv[1])
mark("open")
result = pipeline.import_file(store, sys.argv[2])
mark(f"done {result.batch_id} {result.inserted}")
'''
WRITE_MARKERS = {"write", "transaction", "checkpoint"}  # commit() started and "done" not yet printed


def make_deals(n: int, prefix: str, seed: int) -> pl.DataFrame:
    """A deals export of n rows (Salesforce column names), deterministic for a seed."""
    i = pl.int_range(0, n, eager=True)
    stages = ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"]
    return pl.DataFrame({
        "Opportunity ID": prefix + i.cast(pl.String).str.zfill(7),
        "Opportunity Name": "Deal " + i.cast(pl.String),
        "Account Name": "Account " + ((i * 7 + seed) % 5000).cast(pl.String),
        "Opportunity Owner": "Rep " + ((i * 13 + seed) % 150).cast(pl.String),
        "Stage": pl.Series(stages).gather((i * 31 + seed) % len(stages)),
        "Amount": ((i * 37 + seed) % 100_000).cast(pl.String) + ".50",
        "Close Date": [f"2024-{1 + k % 12:02d}-{1 + k % 28:02d}" for k in range(n)],
        "Created Date": [f"2023-{1 + k % 12:02d}-{1 + (k * 3) % 28:02d}" for k in range(n)],
    })


def batch_digest(store: Store, batch_id: int) -> dict[str, list[tuple]]:
    """Every row written by one batch, sorted: equal digests mean the batch is intact."""
    cur = store.cursor()
    out = {}
    for table in FACT_TABLES + ("deal_snapshots", "rejected_rows"):
        rows = cur.execute(f"SELECT * FROM {table} WHERE batch_id = ?", [batch_id]).fetchall()  # noqa: S608 - fixed names
        out[table] = sorted(rows, key=repr)
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("crash")
    big = folder / "deals_200k.csv"
    make_deals(ROWS, "K", 1).write_csv(big)
    early = folder / "deals_earlier.csv"
    make_deals(2_000, "E", 2).write_csv(early)
    base = folder / "base.duckdb"
    store = Store(base)
    res = import_file(store, early)
    digest = batch_digest(store, res.batch_id)
    store.close()
    child = folder / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    return {"folder": folder, "big": big, "base": base, "earlier": res.batch_id, "earlier_rows": res.inserted,
            "digest": digest, "child": child}


class Child:
    """The importing child process, its phase markers read as they come."""

    def __init__(self, setup: dict, db: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(setup["child"]), str(db), str(setup["big"])],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.markers: list[tuple[str, float]] = []
        self.seen = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            name = line.split(" ", 1)[0].strip()
            with self.seen:
                self.markers.append((name, time.monotonic()))
                self.seen.notify_all()

    def wait_for(self, marker: str, timeout: float = 60) -> bool:
        with self.seen:
            return self.seen.wait_for(
                lambda: any(m == marker for m, _ in self.markers) or self.proc.poll() is not None, timeout)

    def kill(self, wait: bool = False) -> None:
        """SIGKILL now (or, with `wait`, let it finish)."""
        if not wait and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=120)
        self.reader.join(timeout=30)
        self.stderr = self.proc.stderr.read()
        self.proc.stderr.close()

    @property
    def last(self) -> str:
        return self.markers[-1][0] if self.markers else "(not started)"


def check_store(db: Path, setup: dict) -> dict:
    """Open the file as the app would after the crash and check every invariant; returns the import log."""
    store = Store(db)                                   # must open; marks 'running' batches failed
    try:
        cur = store.cursor()
        log = {b: (status, kind, ins, upd) for b, status, kind, ins, upd in cur.execute(
            "SELECT batch_id, status, kind, inserted, updated FROM imports").fetchall()}
        assert "running" not in {s for s, *_ in log.values()}, log
        per_batch = dict(cur.execute("SELECT batch_id, count(*) FROM deals GROUP BY 1").fetchall())
        for batch, (status, kind, ins, upd) in log.items():
            if status == "done" and kind == "deals":
                assert per_batch.get(batch, 0) == ins + upd, (batch, per_batch.get(batch), ins, upd)
        live = {b for b, (s, *_) in log.items() if s == "done"}
        for table in FACT_TABLES + ("deal_snapshots", "rejected_rows", "stages"):
            ids = {r[0] for r in cur.execute(f"SELECT DISTINCT batch_id FROM {table}").fetchall()}  # noqa: S608
            stray = ids - live - {None}
            assert not stray, f"{table} holds rows of batches that are not done: {stray}"
        assert batch_digest(store, setup["earlier"]) == setup["digest"], "the earlier batch changed"
        done_big = [b for b, (s, k, ins, _) in log.items() if s == "done" and b != setup["earlier"]]
        assert store.table_count("deals") == setup["earlier_rows"] + ROWS * len(done_big)
        return log
    finally:
        store.close()


@pytest.mark.slow
def test_sigkill_during_import_never_leaves_half_a_batch(setup):
    db = setup["folder"] / "crash.duckdb"
    shutil.copy(setup["base"], db)

    # calibration: one full run gives each phase's length on this machine (updated by every kill)
    calib = Child(setup, db)
    calib.kill(wait=True)
    assert calib.proc.returncode == 0, calib.stderr
    durations: dict[str, list[float]] = {p: [] for p in PHASES}
    observe(calib.markers, durations)
    log = check_store(db, setup)
    assert sum(1 for s, *_ in log.values() if s == "done") == 2
    shutil.copy(setup["base"], db)                     # start the kills from the earlier batch alone
    Path(str(db) + ".wal").unlink(missing_ok=True)
    log = check_store(db, setup)

    rng = random.Random(SEED)
    outcomes: list[dict] = []
    started = time.monotonic()
    aimed = {p: 0 for p in PHASES}
    i = 0
    while i < MIN_KILLS or (min(_hits(outcomes, p) for p in PHASES[:3]) < MIN_PER_PHASE and i < MAX_KILLS
                            and time.monotonic() - started < BUDGET_S):
        # aim at the phase hit least so far (then in order), a seeded random point inside it
        phase = min(PHASES, key=lambda p: (_hits(outcomes, p), aimed[p], PHASES.index(p)))
        aimed[phase] += 1
        delay = rng.uniform(0.0, 0.9 * statistics.median(durations[phase]))
        before = set(log)
        child = Child(setup, db)
        assert child.wait_for(phase), (child.markers, child.proc.poll())
        time.sleep(delay)
        child.kill()
        hit = child.last
        if hit == "done":                              # finished before the kill: a whole batch
            assert child.proc.returncode in (0, -signal.SIGKILL), child.stderr
        else:
            assert child.proc.returncode == -signal.SIGKILL, (child.proc.returncode, child.stderr)
        log = check_store(db, setup)
        new = {b: v for b, v in log.items() if b not in before}
        statuses = [status for status, *_ in new.values()]
        if hit in ("read", "build", "write", "transaction"):
            # not committed: the batch, if it was logged at all, is failed and left nothing behind
            assert all(status == "failed" for status in statuses), new
            assert len(statuses) <= 1, new
        else:
            # "checkpoint": the transaction had committed (whole batch); "done": it had finished
            assert statuses == ["done"], new
            shutil.copy(setup["base"], db)             # back to the earlier batch alone
            Path(str(db) + ".wal").unlink(missing_ok=True)
            log = check_store(db, setup)
        observe(child.markers, durations)
        outcomes.append({"kill": i, "aimed_at": phase, "delay_s": round(delay, 3), "hit": hit,
                         "logged_as": [s for s, *_ in new.values()]})
        i += 1
    elapsed = time.monotonic() - started

    hits = [o["hit"] for o in outcomes]
    summary = {
        "kills": len(outcomes), "seconds": round(elapsed, 1), "rows": ROWS,
        "phase_seconds": {p: round(statistics.median(d), 3) for p, d in durations.items()},
        "hit_counts": {h: hits.count(h) for h in sorted(set(hits))},
        "during_write": sum(1 for h in hits if h in WRITE_MARKERS),
        "logged_then_marked_failed": sum(1 for o in outcomes if o["logged_as"] == ["failed"]),
        "finished_before_kill": hits.count("done"), "outcomes": outcomes,
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "crash_summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(f"\ncrash: {summary['kills']} kills in {summary['seconds']} s, hits {summary['hit_counts']}, "
          f"during the write: {summary['during_write']}, logged then marked failed: "
          f"{summary['logged_then_marked_failed']}")
    assert len(outcomes) >= 30
    for phase in PHASES[:3]:                           # aimed at 6+ times each; timing may shift a few
        assert hits.count(phase) >= MIN_PER_PHASE - 2, summary["hit_counts"]
    assert summary["during_write"] >= MIN_PER_PHASE, summary["hit_counts"]


def _hits(outcomes: list[dict], phase: str) -> int:
    return sum(1 for o in outcomes if o["hit"] == phase)


NEXT = {"read": "build", "build": "write", "transaction": "checkpoint", "checkpoint": "done"}


def observe(markers: list[tuple[str, float]], durations: dict[str, list[float]]) -> None:
    """Add the phase lengths a child showed (a phase whose next marker came) to the estimates."""
    at = dict(markers)
    for phase, following in NEXT.items():
        if phase in at and following in at:
            durations[phase].append(at[following] - at[phase])


"""Import memory (issue #6): once a file is built, the write does not hold its rows as read.

`build_and_commit` lets go of `prepared.raw.frame` (every cell as text) before DuckDB writes, keeping
what it counted: at 1M deals the import's peak 1,005 -> 826 MB, 5M stage-history rows 1,093 -> 1,025 MB.
These tests show that the write sees no read rows, that the prepared file holds the frame no more, that
what the import reports is what it reported before (rows read, skipped, rejected, inserted), and that
the disk check still counts the size of the rows read, not of the empty frame left.
"""
from __future__ import annotations

import gc
import weakref

import pytest

from data.ingest import pipeline as pp
from data.ingest.problems import ImportProblem
from data.store import Store

DEALS = (
    '"Pipeline report"\n\n'
    "Deal ID,Deal Name,Owner,Amount,Stage,Close Date\n"
    + "".join(f"D{i},Deal {i},R{i % 3},{i * 10},Prospecting,2025-03-{i % 28 + 1:02d}\n" for i in range(40))
    + "D40,Deal 40,R1,lots,Prospecting,2025-03-05\n"          # a bad amount: rejected with its line
    + "D3,Deal 3 again,R1,5,Prospecting,2025-03-05\n"         # a repeated id: rejected
    + "\nGrand Totals (42 records)\n"                         # a footer: skipped
)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "r.duckdb")
    yield s
    s.close()


def _file(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text(DEALS, encoding="utf-8")
    return p


def test_the_write_holds_no_read_rows_and_reports_what_it_did(store, tmp_path, monkeypatch):
    path = _file(tmp_path)
    kept_before = pp.prepare(path, store=store)
    reference = pp.commit(Store(tmp_path / "ref.duckdb"), kept_before, pp.build(kept_before, store))

    prepared = pp.prepare(path, store=store)
    read = prepared.raw.frame
    assert read.height == 42 and prepared.raw.rows_read == reference.rows_read
    gone = weakref.ref(read)
    del read
    seen = []
    apply_import = Store.apply_import

    def watching(self, write):
        seen.append((prepared.raw.frame.height, write.rows_read, write.skipped))
        return apply_import(self, write)
    monkeypatch.setattr(Store, "apply_import", watching)
    result = pp.build_and_commit(store, prepared)
    gc.collect()

    assert seen == [(0, reference.rows_read, reference.skipped)]   # DuckDB wrote with the read rows let go
    assert gone() is None                                         # nothing of the import holds them
    assert prepared.raw.frame.columns == kept_before.raw.frame.columns
    assert prepared.raw.rows_read == reference.rows_read == 42 + reference.skipped
    assert reference.skipped >= 1
    for name in ("rows_read", "inserted", "updated", "unchanged", "rejected", "skipped", "rejects", "notes"):
        assert getattr(result, name) == getattr(reference, name), name
    assert (result.inserted, result.rejected) == (40, 2)
    assert store.frame("deals").height == 40


def test_the_disk_check_counts_the_rows_read(store, tmp_path, monkeypatch):
    """About three times the rows read plus 64 MB must be free (`check_disk`), though the frame is let
    go before the write: one byte short refuses the file, and nothing is stored."""
    path = _file(tmp_path)
    size = pp.prepare(path, store=store).raw.frame.estimated_size()
    need = 3 * size + 64 * 1024 * 1024
    monkeypatch.setattr(Store, "free_disk_bytes", lambda self: need - 1)
    with pytest.raises(ImportProblem) as refused:
        pp.build_and_commit(store, pp.prepare(path, store=store))
    assert refused.value.code == "disk_full"
    assert store.frame("deals").height == 0
    monkeypatch.setattr(Store, "free_disk_bytes", lambda self: need)
    assert pp.build_and_commit(store, pp.prepare(path, store=store)).inserted == 40

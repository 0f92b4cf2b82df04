"""An import's rows reach DuckDB as Arrow string views (issue #6: no 1.1 GB copy held until COMMIT).

`Store._arrow` hands the frame over at polars' newest Arrow level instead of letting DuckDB convert the
polars frame itself (which copies every text column into large_string arrays and keeps them until the
transaction ends). These tests store the same files both ways, on the new-rows path (`insert_frame`)
and the upsert path (`incoming`, more than one row group of 122,880 rows), and compare every table.
"""
from __future__ import annotations

import random

import polars as pl
import pyarrow as pa
import pytest

from data import store as store_module
from data.ingest.pipeline import import_file
from data.store import TABLES, Store

TEXTS = ["", " x ", "ünïcödé", "合计 销售额", "emoji 🚀", "a" * 40, "x\ny", "O'Brien; \"quoted\"", "🚀" * 5]


def _activities(rng: random.Random, n: int, prefix: str = "A") -> bytes:
    lines = ["Activity ID,Owner ID,Activity Type,Activity Date Time,Account ID,Opportunity ID,Duration (min),Outcome"]
    for i in range(n):
        outcome = rng.choice(TEXTS[1:]).replace("\n", " ").replace('"', "").replace(",", " ")
        lines.append(",".join([
            f"{prefix}{i:07d}" if i % 50 else f"{prefix}-long-identifier-{i:012d}", rng.choice(["R1", "R2", "Rép 3"]),
            rng.choice(["call", "email", "meeting"]), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
            rng.choice(["C1", "Cüstomer two", ""]), rng.choice(["", "D1", "D-2"]),
            rng.choice(["", "0", "7.5", "120"]), outcome,
        ]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _deals(rng: random.Random, n: int, bump: float = 0.0) -> bytes:
    lines = ["Deal ID,Deal Name,Owner,Account,Amount,Stage,Probability,Created Date,Close Date"]
    for i in range(n):
        name = rng.choice(TEXTS[1:]).replace("\n", " ").replace('"', "").replace(",", " ")
        lines.append(",".join([
            f"D{i:06d}", name, rng.choice(["R1", "R2"]), rng.choice(["C1", "C2", "Cüstomer"]),
            str(round(rng.uniform(0, 1e6) + bump, 2)), rng.choice(["Prospecting", "Proposal", "Closed Won", "Closed Lost"]),
            rng.choice(["10", "50", ""]), f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        ]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _tables(store: Store) -> dict[str, pl.DataFrame]:
    out = {}
    for name in ("deals", "activities", "reps", "accounts", "deal_snapshots", "deal_versions"):
        if name in TABLES or name in ("deal_snapshots", "deal_versions"):
            try:
                frame = store.frame(name)
            except Exception:  # noqa: BLE001 - a table this schema does not have
                continue
            out[name] = frame.sort(frame.columns)
    return out


def _run(tmp_path, name: str, files: list[tuple[bytes, str]], monkeypatch, old: bool):
    with monkeypatch.context() as m:
        if old:
            m.setattr(store_module, "_arrow", lambda frame: frame)   # the polars frame, as before
        store = Store(tmp_path / f"{name}.duckdb")
        try:
            counts = []
            for data, file_name in files:
                res = import_file(store, data, file_name)
                counts.append((res.inserted, res.updated, res.unchanged, res.rejected))
            return counts, _tables(store)
        finally:
            store.close()


@pytest.mark.parametrize("case", ["activities_new_then_same", "deals_new_then_changed"])
def test_rows_stored_through_string_views_equal_the_polars_frame_route(tmp_path, monkeypatch, case):
    rng = random.Random(case)
    if case == "activities_new_then_same":     # the second import goes through `incoming`: every key stored
        first = _activities(rng, 130_000)
        files = [(first, "activities.csv"), (first, "activities.csv")]
    else:
        files = [(_deals(random.Random(1), 3_000), "deals.csv"), (_deals(random.Random(1), 3_000, 1.5), "deals.csv")]
    new_counts, new_tables = _run(tmp_path, "new", files, monkeypatch, old=False)
    old_counts, old_tables = _run(tmp_path, "old", files, monkeypatch, old=True)
    assert new_counts == old_counts
    assert new_counts[0][0] > 0 and (new_counts[1][1] > 0 or new_counts[1][2] > 0)
    assert new_tables.keys() == old_tables.keys()
    for name, frame in old_tables.items():
        if "batch_id" in frame.columns:        # the two stores number their batches alike, but be explicit
            assert new_tables[name]["batch_id"].to_list() == frame["batch_id"].to_list(), name
        assert new_tables[name].equals(frame), name


def test_text_goes_over_as_string_views():
    frame = pl.DataFrame({"t": ["a", None, "ü" * 20], "n": [1.0, None, float("nan")],
                          "d": pl.Series([None, 1, 2]).cast(pl.Date), "none": pl.Series([None] * 3, dtype=pl.String)})
    table = store_module._arrow(frame)
    assert pa.types.is_string_view(table.schema.field("t").type)
    assert pa.types.is_string_view(table.schema.field("none").type)
    assert pl.from_arrow(table).equals(frame)


def _chunked(sizes: list[int]) -> pl.DataFrame:
    """A frame of sum(sizes) rows held in chunks of those sizes (as a streamed CSV read hands them over)."""
    parts, start = [], 0
    for n in sizes:
        parts.append(pl.DataFrame({"deal_id": [f"D{i:07d}" for i in range(start, start + n)],
                                   "amount": [float(i) for i in range(start, start + n)], "status": "open"}))
        start += n
    frame = pl.concat(parts, rechunk=False)
    assert frame.n_chunks() == len(sizes)
    return frame


RG = store_module.ROW_GROUP_ROWS


@pytest.mark.parametrize("sizes", [[158_580, 158_580, 7], [RG], [RG, RG], [1, RG - 1, 5], [3, 4], [], [RG + 1, 2 * RG + 3]])
def test_rows_go_over_in_whole_row_groups_in_order(sizes):
    frame = _chunked(sizes) if sizes else _chunked([0])
    reader = store_module._arrow_once(frame)
    pieces = list(reader)
    lengths = [p.num_rows for p in pieces]
    # every piece but the last is one whole row group; the rows are the frame's, in its order
    assert all(n == RG for n in lengths[:-1]) and (not lengths or 0 < lengths[-1] <= RG or frame.height == 0)
    assert sum(lengths) == frame.height
    back = pl.from_arrow(pa.Table.from_batches(pieces, reader.schema)) if pieces else frame.clear()
    assert back.equals(frame)


def test_an_insert_leaves_only_full_row_groups(tmp_path):
    """Rows arriving in the CSV reader's pieces (not row-group sized) are stored as full row groups, so
    the checkpoint after an import has none to rewrite."""
    store = Store(tmp_path / "rg.duckdb")
    try:
        frame = _chunked([158_580, 158_580, 12_345])
        cur = store.cursor()
        assert store._insert_if_all_new(cur, "deals", frame, batch_id=1, known_new=True, before=None)
        groups = cur.execute("SELECT row_group_id, max(count) FROM pragma_storage_info('deals') "
                             "WHERE column_name = 'deal_id' GROUP BY 1 ORDER BY 1").fetchall()
        assert [n for _, n in groups] == [RG, RG, 329_505 - 2 * RG]
        assert cur.execute("SELECT count(*), sum(amount) FROM deals").fetchone() == (329_505, float(sum(range(329_505))))
    finally:
        store.close()

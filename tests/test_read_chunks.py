"""The reader keeps polars' chunks (issue #6: no copy of the whole table at the end of reading).

polars reads a big file in parallel and hands back each column in many chunks. `_finish` used to put
the one-chunk line numbers beside them, and its final select then copied every column into one chunk
(1.2 GB for the 10M activities). The line numbers are now cut like the columns, so nothing is copied.
These tests show the frames are the same as those of the one-chunk (old) path, and that the chunks are
really kept.
"""
from __future__ import annotations

import json
import random

import polars as pl
import pytest

from data.ingest import read as rd
from data.ingest.pipeline import import_file
from data.store import Store

HEADER = ["Opportunity ID", "Owner", "", "Amount", "Note"]


def _rows(rng: random.Random, n: int) -> tuple[list[list[str | None]], list[int]]:
    """Data rows (header cells as the reader sees them) with blank, repeated-header, subtotal and footer
    rows mixed in, and each row's line."""
    out: list[list[str | None]] = []
    for i in range(n):
        pick = rng.random()
        if pick < 0.03:
            out.append([None] * 5)
        elif pick < 0.05:
            out.append(list(HEADER[:2]) + [None] + HEADER[3:])
        elif pick < 0.07:
            out.append([f"Team {i % 3} Total", None, None, str(rng.randint(1, 999)), None])
        else:
            out.append([f"D{i}", rng.choice(["R1", "R2", None, " "]), None,
                        rng.choice([str(rng.randint(1, 10**6)), "", None, "1.250,50"]),
                        rng.choice([None, "x" * rng.randint(0, 30), "Grand Total", "multi\nline"])])
    for _ in range(rng.randint(0, 3)):
        out.append([rng.choice(["Grand Total", "Confidential", "Generated on 2024-01-01"]), None, None, None, None])
    lines = sorted(rng.sample(range(2, 4 * n + 10), len(out)))
    return out, lines


def _frame(rows: list[list[str | None]]) -> pl.DataFrame:
    names = rd._column_names(len(HEADER))
    return pl.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(names)}, schema={c: pl.String for c in names})


def _in_chunks(frame: pl.DataFrame, rng: random.Random) -> pl.DataFrame:
    """The same frame in random aligned chunks, as polars' parallel reader gives it."""
    cuts = sorted(rng.sample(range(1, frame.height), min(frame.height - 1, rng.randint(1, 12))))
    bounds = list(zip([0] + cuts, cuts + [frame.height]))
    return pl.concat([frame.slice(a, b - a) for a, b in bounds], rechunk=False)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("empty_is_null", [True, False])
def test_finish_on_chunks_equals_finish_on_one_chunk(seed, empty_is_null):
    rng = random.Random(seed)
    rows, lines = _rows(rng, rng.randint(2, 300))
    one = _frame(rows)
    many = _in_chunks(one, rng)
    assert many.n_chunks() > 1 and one.n_chunks() == 1
    line_series = pl.Series("line", lines, pl.Int64)
    cells = list(HEADER[:2]) + [None] + HEADER[3:]
    try:
        want = rd._finish(one, line_series, cells, empty_is_null=empty_is_null)
    except rd.ImportProblem as problem:
        with pytest.raises(rd.ImportProblem) as got:
            rd._finish(many, line_series, cells, empty_is_null=empty_is_null)
        assert got.value.code == problem.code
        return
    got = rd._finish(many, line_series, cells, empty_is_null=empty_is_null)
    assert got[0] == want[0] and got[2] == want[2]
    assert got[1].schema == want[1].schema
    assert got[1].equals(want[1])


def test_finish_keeps_the_chunks_when_nothing_is_skipped():
    rng = random.Random(5)
    one = _frame([[f"D{i}", "R1", None, str(i), "n"] for i in range(1000)])
    many = _in_chunks(one, rng)
    layout = [c.len() for c in many.get_column("c0").get_chunks()]
    _, frame, skipped = rd._finish(many, pl.Series(range(2, 1002)), list(HEADER[:2]) + [None] + HEADER[3:],
                                   empty_is_null=True)
    assert skipped == []
    for name in frame.columns:      # the line numbers too: every column cut as the reader's
        assert [c.len() for c in frame.get_column(name).get_chunks()] == layout, name
    assert frame.get_column(rd.LINE_COLUMN).to_list() == list(range(2, 1002))


def test_chunked_like():
    values = pl.Series("v", range(10), pl.Int64)
    like = pl.concat([pl.Series(["a"] * 3), pl.Series(["b"] * 7)], rechunk=False)
    cut = rd.chunked_like(values, like)
    assert cut.to_list() == list(range(10)) and [c.len() for c in cut.get_chunks()] == [3, 7]
    assert rd.chunked_like(values, pl.Series(["a"] * 10)).n_chunks() == 1


def _csv(rng: random.Random, n: int) -> bytes:
    """A CSV export big enough for polars to read it in several chunks, with blank and footer rows."""
    lines = ["Activity ID,Owner ID,Activity Type,Activity Date Time,Account ID,Duration (min),Outcome"]
    for i in range(n):
        if i in (500, 7000):
            lines.append(",,,,,,")
            continue
        if i == 9000:
            lines.append("Grand Total,,,,,,")               # in the middle: a subtotal
        act = f"A{i}" if i != 12000 else "A77"             # a duplicate id in another chunk
        owner = rng.choice(["R1", "R2", "R3", ""])
        when = "2024-13-01 10:00" if i % 97 == 0 else f"2024-03-{rng.randint(1, 28):02d} 10:{i % 60:02d}"
        lines.append(",".join([act, owner, rng.choice(["call", "email"]), when, f"C{rng.randint(1, 50)}",
                               "x" if i % 89 == 0 else rng.choice(["5", "7.5"]), rng.choice(["Connected", ""])]))
    lines += ["Grand Total,,,,,,", "Confidential,,,,,,"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_a_file_read_in_chunks_equals_the_exact_one_chunk_reader(monkeypatch):
    data = _csv(random.Random(11), 20_000)
    fast = rd.read_table(data, "activities.csv")
    assert fast.frame.n_chunks() > 1                   # polars did read it in pieces
    monkeypatch.setattr(rd, "_polars_rows", lambda *a, **k: None)   # the exact Python reader: one chunk
    exact = rd.read_table(data, "activities.csv")
    assert exact.frame.n_chunks() == 1
    assert (fast.headers, fast.skipped, fast.rows_read) == (exact.headers, exact.skipped, exact.rows_read)
    assert fast.frame.equals(exact.frame)


def _stored(store: Store) -> tuple:
    rows = store.frame("activities").drop("batch_id").sort("activity_id")
    rej = store.frame("rejected_rows").select("line", "column_name", "reason_code", "params", "raw").sort("line")
    notes = [(n["code"], n["params"]) for n in json.loads(store.imports_frame()["notes"][0])]
    return rows, rej, notes, store.frame("reps").height, store.frame("accounts").height


def test_an_import_read_in_chunks_stores_what_the_one_chunk_read_stores(tmp_path, monkeypatch):
    data = _csv(random.Random(12), 20_000)
    assert rd.read_table(data, "activities.csv").frame.n_chunks() > 1
    results = []
    for name, one_chunk in (("fast", False), ("exact", True)):
        if one_chunk:
            monkeypatch.setattr(rd, "_polars_rows", lambda *a, **k: None)
        store = Store(tmp_path / f"{name}.duckdb")
        try:
            res = import_file(store, data, "activities.csv")
            results.append(((res.rows_read, res.inserted, res.rejected, res.skipped), _stored(store)))
        finally:
            store.close()
    (counts_a, (rows_a, rej_a, notes_a, reps_a, acc_a)), (counts_b, (rows_b, rej_b, notes_b, reps_b, acc_b)) = results
    assert counts_a == counts_b and counts_a[1] > 10_000 and counts_a[2] > 0 and counts_a[3] == 5
    assert rows_a.equals(rows_b) and rej_a.equals(rej_b)
    assert notes_a == notes_b and (reps_a, acc_a) == (reps_b, acc_b)

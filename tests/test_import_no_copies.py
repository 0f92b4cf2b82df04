"""Import memory (issue #6): the columns an import does not change stay the file's own buffers.

Three shortcuts cut the 10M-activity import's peak (3.5 -> 2.6 GB): `clean_text` (and so every id and
text column) runs only the cleaning steps that change some value, so a clean column comes back as the
same buffers; `normalize_activity_kind` gives back a column whose types are all canonical; `build` cuts
the parsed columns into the reader's chunks (`pipeline._aligned`), and `store._arrow` hands each
column to DuckDB with its own chunks, so no select, drop or Arrow export merges the rows into one
piece. Each test compares with the full computation as it was before (the definitions below), on the
values the cleaning steps exist for, and on whole imports (rejects, duplicates, an update, a footer).
"""
from __future__ import annotations

import json
import random

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from data import store as store_module
from data.ingest import mapping as mp
from data.ingest import parse as ps
from data.ingest import pipeline as pp
from data.ingest import read as rd
from data.ingest.pipeline import import_file
from data.store import Store

_POOL = ["call", " call ", "CALL", "\u00a0Call\u00a0", "e\u200bmail", "\u200b", "  meeting   room ", "visit\tnow",
         "task\n", "", " ", "N/A", "n/a", "null", "NULL", "-", "none", "unknown", "?", "Connected", "No\u202fanswer",
         "\ufeffR001", "R001", "R001 ", "ACC-1\u00ad2", "\u3000", "x\u2028y", "a  b", None]


# ---------------------------------------------------------------------------------------------- definitions
def _old_clean_column(frame: pl.DataFrame, source: str, target: str, tokens: frozenset[str]) -> pl.DataFrame:
    """`parse._clean_column` before the shortcut: strip and the null-token test always run."""
    text = pl.col(source)
    if frame.select(text.str.contains(ps._INVISIBLE).any()).item():
        frame = frame.with_columns(text.str.replace_all(ps._INVISIBLE, "").alias(target))
        text = pl.col(target)
    if frame.select(text.str.contains(ps._ODD_SPACE).any()).item():
        frame = frame.with_columns(text.str.replace_all(ps._ODD_SPACE, " ").alias(target))
        text = pl.col(target)
    frame = frame.with_columns(text.str.strip_chars(" ").alias(target))
    t = pl.col(target)
    return frame.with_columns(pl.when(t.str.contains(ps._token_pattern(tokens))).then(None).otherwise(t).alias(target))


def _old_clean_text(s: pl.Series) -> pl.Series:
    """`clean_text` by its definition: every value cleaned on its own, every step run."""
    raw = s if s.dtype == pl.String else s.cast(pl.String)
    return _old_clean_column(raw.rename("raw").to_frame(), "raw", "v", ps.NULL_TOKENS)["v"].rename(s.name)


def _old_activity_kind(s: pl.Series) -> pl.Series:
    text = s.cast(pl.String)
    table = {v: mp._activity_kind(v) for v in text.drop_nulls().unique().to_list()}
    return text.replace_strict(table, default=None, return_dtype=pl.String).alias(s.name)


def _buffers(s: pl.Series) -> list[int]:
    """Addresses of the Arrow data buffers behind a column (views and text), to tell a copy from the same memory."""
    return [b.address for chunk in pa.chunked_array(s).chunks for b in chunk.buffers()[1:] if b is not None]


def _column(rng: random.Random, values: list[str | None], n: int, name: str = "col") -> pl.Series:
    return pl.Series(name, [rng.choice(values) for _ in range(n)], pl.String)


# ---------------------------------------------------------------------------------------------- cleaning
@given(st.lists(st.sampled_from(_POOL) | st.text(max_size=6), min_size=1, max_size=12), st.integers(0, 2**31),
       st.sampled_from([300, ps._FEW_DISTINCT_MIN_ROWS + 11]))
@settings(max_examples=30, deadline=None)
def test_clean_text_equals_running_every_step(values: list[str | None], seed: int, n: int) -> None:
    s = _column(random.Random(seed), values, n)
    assert ps.clean_text(s).equals(_old_clean_text(s), check_names=True)
    for tokens in (ps.NULL_TOKENS, ps._MISSING_WORDS):       # the typed parsers' distinct tables too
        frame = s.rename("raw").to_frame()
        assert ps._clean_column(frame, "raw", "v", tokens).equals(_old_clean_column(frame, "raw", "v", tokens))


@pytest.mark.parametrize("n", [300, ps._FEW_DISTINCT_MIN_ROWS + 11])
@pytest.mark.parametrize("dirty", [" R2", "R2 ", "n/a", "", "R\u200b2", "R\u00a02"])
def test_one_dirty_value_is_still_cleaned(n: int, dirty: str) -> None:
    values = [f"R{i % 7}" for i in range(n)]
    values[n // 2] = dirty                      # one value anywhere in the column needs each step
    s = pl.Series("owner", values, pl.String)
    got = ps.clean_text(s)
    assert got.equals(_old_clean_text(s)) and got[n // 2] != dirty


@pytest.mark.parametrize("n", [300, ps._FEW_DISTINCT_MIN_ROWS + 11, 120_000])
def test_a_clean_column_comes_back_as_its_own_buffers(n: int) -> None:
    rng = random.Random(n)
    few = _column(rng, ["R001", "Connected", "No answer", None], n, "few")
    unique = pl.Series("ids", [f"ACT-{i:07d}" if i % 5 else None for i in range(n)], pl.String)
    for s in (few, unique):
        got = ps.clean_text(s)
        assert got.equals(_old_clean_text(s), check_names=True)
        assert _buffers(got) == _buffers(s)
        ids = ps.to_id(got, cleaned=True)
        assert _buffers(ids) == _buffers(s)


def test_activity_kinds_equal_the_mapping_and_canonical_ones_are_not_copied() -> None:
    rng = random.Random(5)
    canonical = _column(rng, ["call", "email", "meeting", "visit", "task", "other", None], 60_000, "kind")
    mixed = _column(rng, ["call", "Phone Call", "E-mail", "Meeting", "visit", "Görüşme", "电话", "lunch", None],
                    60_000, "kind")
    for s in (canonical, mixed, canonical.head(0), pl.Series("kind", [None, None], pl.String)):
        assert mp.normalize_activity_kind(s).equals(_old_activity_kind(s), check_names=True)
    assert _buffers(mp.normalize_activity_kind(canonical)) == _buffers(canonical)


# ---------------------------------------------------------------------------------------------- chunks
def _pieces(rng: random.Random, n: int, name: str, values: list) -> pl.Series:
    cuts = sorted(rng.sample(range(1, n), rng.randint(1, 12)))
    bounds = [0, *cuts, n]
    return pl.concat([pl.Series(name, values[a:b]) for a, b in zip(bounds, bounds[1:])], rechunk=False)


@pytest.mark.parametrize("seed", range(8))
def test_aligned_cuts_every_column_like_the_raw_frame(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(20, 400)
    like = _pieces(rng, n, "__line", list(range(2, n + 2)))
    text = [rng.choice(["a", None, "ü" * 20]) for _ in range(n)]
    rows = pl.DataFrame([
        pl.Series("same", text),                                              # one piece
        _pieces(rng, n, "other", [rng.random() for _ in range(n)]),          # cut elsewhere
        like.rename("line_copy"),                                              # cut like the raw frame already
    ])
    out = pp._aligned(rows, like)
    assert out.equals(rows) and out.columns == rows.columns
    lengths = [c.len() for c in like.get_chunks()]
    assert all([c.len() for c in col.get_chunks()] == lengths for col in out.get_columns())
    assert _buffers(out["line_copy"]) == _buffers(rows["line_copy"])          # already aligned: untouched
    dropped = out.drop("other")                                                # no merge into one piece
    assert all([c.len() for c in col.get_chunks()] == lengths for col in dropped.get_columns())
    one = like.rechunk()
    assert pp._aligned(rows, one) is rows


@pytest.mark.parametrize("seed", range(4))
def test_arrow_keeps_each_columns_chunks_and_duckdb_reads_the_same_rows(seed: int) -> None:
    rng = random.Random(seed)
    n = 3000
    frame = pl.DataFrame([
        _pieces(rng, n, "t", [rng.choice(["x", None, "合计 " * 5, "🚀"]) for _ in range(n)]),
        pl.Series("d", [rng.choice([None, 1, 20000]) for _ in range(n)]).cast(pl.Date),
        _pieces(rng, n, "f", [rng.choice([None, 1.5, float("nan")]) for _ in range(n)]),
        pl.Series("ts", [None] * n, pl.Datetime("us")),
    ])
    table = store_module._arrow(frame)
    assert [table.column(c).num_chunks for c in frame.columns] == [s.n_chunks() for s in frame.get_columns()]
    assert pa.types.is_string_view(table.schema.field("t").type)
    con = duckdb.connect()
    con.register("a", table)
    got = con.sql("SELECT * FROM a").pl()
    con.register("b", frame.to_arrow())
    want = con.sql("SELECT * FROM b").pl()
    assert got.equals(want) and got.height == n


# ---------------------------------------------------------------------------------------------- whole imports
def _activities(seed: int, n: int, changed: bool = False) -> bytes:
    """An export polars reads in several chunks: clean id, owner, type and outcome columns (the shared-buffer
    path), a few dirty cells, rejects, a duplicate id in another chunk, a blank and a footer row."""
    rng = random.Random(seed)
    lines = ["Activity ID,Owner ID,Activity Type,Activity Date Time,Account ID,Opportunity ID,Duration (min),Outcome"]
    for i in range(n):
        if i == 777:
            lines.append(",,,,,,,")
            continue
        act = f"A{i:07d}" if i != n - 50 else "A0000077"
        owner = rng.choice(["R1", "R2", "R3"]) if i % 1001 else rng.choice(["", " R4 ", "n/a"])
        kind = rng.choice(["call", "email", "meeting"]) if i % 2003 else "Phone Call"
        when = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} 10:{i % 60:02d}:00" if i % 997 else "2024-02-30"
        duration = rng.choice(["5", "7.5", ""]) if i % 1009 else "x"
        outcome = rng.choice(["Connected", "Sent", ""]) if i % 3001 else "\u00a0Left voicemail "
        if changed and i % 10 == 0:
            outcome = "Rescheduled"
        lines.append(",".join([act, owner, kind, when, rng.choice(["C1", "C2", "C3", ""]), rng.choice(["", "D1"]),
                               duration, outcome]))
    if changed:
        lines += [f"B{i:07d},R1,task,2025-01-0{1 + i % 9} 09:00:00,C1,,1,Done" for i in range(300)]
    lines += ["Grand Total,,,,,,,"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _deals(seed: int, n: int, bump: float = 0.0) -> bytes:
    rng = random.Random(seed)
    lines = ["Deal ID,Deal Name,Owner,Account,Amount,Stage,Probability,Created Date,Close Date"]
    for i in range(n):
        lines.append(",".join([
            f"D{i:06d}", rng.choice(["Renewal", "New logo", " Upsell "]), rng.choice(["R1", "R2"]),
            rng.choice(["C1", "C2"]), str(round(rng.uniform(0, 1e6) + bump, 2)) if i % 701 else "1,2,3",
            rng.choice(["Prospecting", "Proposal", "Closed Won", "Closed Lost"]), rng.choice(["10", "50", ""]),
            f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        ]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _everything(store: Store) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in ("activities", "activities_prev", "deals", "deals_prev", "reps", "accounts", "deal_snapshots",
                 "rejected_rows"):
        frame = store.frame(name) if name in store_module.READABLE else store.con.sql(f"SELECT * FROM {name}").pl()
        out[name] = frame.sort(frame.columns, nulls_last=True)
    imports = store.imports_frame().sort("batch_id")
    out["imports"] = [(r["kind"], r["rows_read"], r["inserted"], r["updated"], r["unchanged"], r["rejected"],
                       r["skipped"], json.loads(r["notes"])) for r in imports.iter_rows(named=True)]
    return out


def _import_all(path, files: list[tuple[bytes, str]], old: bool, monkeypatch) -> dict[str, object]:
    with monkeypatch.context() as m:
        if old:
            m.setattr(ps, "_clean_column", _old_clean_column)
            m.setattr(mp, "normalize_activity_kind", _old_activity_kind)
            m.setattr(pp, "_aligned", lambda rows, like: rows)
            m.setattr(store_module, "_arrow", lambda frame: frame.to_arrow(compat_level=pl.CompatLevel.newest()))
        store = Store(path)
        try:
            for data, name in files:
                import_file(store, data, name)
            return _everything(store)
        finally:
            store.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_imports_store_what_the_full_computation_stored(tmp_path, monkeypatch, seed: int) -> None:
    first = _activities(seed, 40_000)
    assert rd.read_table(first, "activities.csv").frame.n_chunks() > 1      # the reader's pieces are in play
    files = [(_deals(seed, 5_000), "deals.csv"), (first, "activities.csv"),
             (_activities(seed, 40_000, changed=True), "activities.csv"), (_deals(seed, 5_000, 2.5), "deals.csv")]
    new = _import_all(tmp_path / "new.duckdb", files, False, monkeypatch)
    old = _import_all(tmp_path / "old.duckdb", files, True, monkeypatch)
    counts = [i[2:6] for i in new["imports"]]                              # type: ignore[index]
    assert counts[1][0] > 30_000 and counts[1][3] > 0                     # stored and rejected rows
    assert counts[2][1] > 0 and counts[2][2] > 0 and counts[3][1] > 0     # updates and unchanged rows
    assert new.keys() == old.keys()
    for name in new:
        if isinstance(new[name], pl.DataFrame):
            assert new[name].equals(old[name]), name                       # type: ignore[union-attr]
        else:
            assert new[name] == old[name], name

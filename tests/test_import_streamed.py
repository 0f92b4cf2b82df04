"""A big activities file named by path is imported in row batches (issue #6): the same as the whole file.

`pipeline._import_streamed` reads the file twice: once to gather what the whole file decides (skipped
rows and the footer in its trailing block, the day/month order of ambiguous dates and Excel serials,
the decimal separator of durations, the keys that may repeat), then batch by batch, building each
batch with those decisions and writing it inside the import's one transaction. Here every file is
imported both ways into equal stores, the streamed one in tiny batches (pieces of a few hundred bytes
to a few KB, so every decision, duplicate and footer spans batches): the stored rows of every table,
the derived tables, the rejects (line, column, reason, code, parameters, raw text), the import log
(counts and notes) and what `import_file` returns must be identical, and a refused file must be
refused with the same problem. The files are generated with the cases the whole-file decisions exist
for, placed late so that a batch-local decision would go wrong, in several layouts (delimiters, CRLF,
BOM, quotes, no id column), over a store that already holds reps, accounts and deals (names resolve
to them) or the demo company (which a first real import replaces); the real public exports under
../shared/realdata go through it too.
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest

from data import store as store_module
from data.ingest import pipeline as pp
from data.ingest import read as rd
from data.ingest.pipeline import import_file
from data.ingest.problems import ImportProblem
from data.store import Store

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
HEADER = ["Activity ID", "Owner ID", "Activity Type", "Activity Date Time", "Account ID", "Opportunity ID",
          "Duration (min)", "Outcome"]


# ---------------------------------------------------------------------------------------------- files
def _when(rng: random.Random, dates: str, i: int, n: int) -> str:
    """A date cell; the decisions are taken by rows near the end of the file."""
    h, mi = rng.randint(0, 23), rng.randint(0, 59)
    if dates == "iso":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {h:02d}:{mi:02d}:{rng.randint(0, 59):02d}"
    if dates == "serial":
        return f"{rng.randint(44000, 46000)}.{rng.randint(0, 99):02d}" if i != n - 7 else "45123"
    if dates == "serial_broken":                          # serials but for one late value: none are dates
        return f"{rng.randint(44000, 46000)}" if i != n - 7 else "2024-03-04"
    if dates == "epoch":
        return str(rng.randint(1_600_000_000, 1_700_000_000)) if i % 3 else f"2024-05-{rng.randint(1, 28):02d}"
    day, month = rng.randint(1, 12), rng.randint(1, 12)
    if i in (n - 9, n - 17):
        day = rng.randint(13, 28)                         # late day-first votes
    if i == 31:
        return f"{month:02d}/25/2024 {h:02d}:{mi:02d}"   # an early month-first vote: rejected once day-first
    text = f"{day:02d}/{month:02d}/2024 {h:02d}:{mi:02d}"
    return text if dates == "ambiguous" or i % 2 else f"2024-{month:02d}-{day:02d} {h:02d}:{mi:02d}"


def _file(seed: int, *, n: int = 1000, sep: str = ",", crlf: bool = False, bom: bool = False,
          dates: str = "ambiguous", quoted: bool = False, ids: bool = True, comma_late: bool = False,
          changed: bool = False, dups: bool = True) -> bytes:
    rng = random.Random(seed)
    header = HEADER if ids else HEADER[1:]
    lines = [sep.join(header)]
    for i in range(n):
        if i == 200:
            lines.append(sep * (len(header) - 1))                            # blank
        if i == 400:
            lines.append(sep.join(header))                                    # repeated header
        if i == 600:
            lines.append(sep.join(["Subtotal", "", "", "", "", "", "12", ""][: len(header)]))
        if i == 700:
            lines.append(sep.join(["Generated on 2024-01-01"] + [""] * (len(header) - 1)))  # a data row here
        act = f"A{i:05d}"
        if i % 97 == 5:
            act = f" A{i:05d}\u00a0"                                        # cleaned to A0xxxx
        if dups and i in (n - 3, n - 30):
            act = "A00010"                                                   # repeats an early good id
        if dups and i in (n - 4, 33):
            act = "A00031"                                                   # repeats a rejected row's id
        if dups and i in (250, 900, n - 2):
            act = "A00\u200b010"                                             # the same id once cleaned
        if i in (150, n - 9):
            act = " "                                                        # no id, early and late: rejected
        owner = rng.choice(["R1", "R2", "R3", "alice smith", "ALICE SMITH ", "Newbie", "R9"])
        if i % 211 == 3 or i == n - 11:
            owner = rng.choice(["", "n/a"])                                  # missing owner, late too
        kind = rng.choice(["call", "email", "meeting", "Phone Call", "Görüşme", "visit"])
        if i == n - 13:
            kind = ""
        when = _when(rng, dates, i, n)
        if i in (77, n - 21):
            when = "2024-02-30" if dates != "serial" else "not a date"
        account = rng.choice(["C1", "C2", "Acme Corp", "acme corp", "New Account", ""])
        deal = rng.choice(["", "", "", "D1", "Renewal one", "D404"])
        minutes = rng.choice(["5", "7.5", "1,250", "", "12", "0.5"] if not comma_late else ["5", "1.250", "", "12"])
        if comma_late and i in (n - 6, n - 15):
            minutes = "2,5"                                                  # late decimal-comma votes
        if i in (120, n - 25):
            minutes = "x"
        outcome = rng.choice(["Connected", "\u00a0Left voicemail ", "", "No answer"])
        if changed and i % 10 == 0:
            outcome = "Rescheduled"
        if quoted and i > n - 60 and i % 7 == 0:                             # quotes only late
            outcome = '"Left, then called back"' if sep == "," else '"Left; then called back"'
        cells = [act, owner, kind, when, account, deal, minutes, outcome]
        lines.append(sep.join(cells if ids else cells[1:]))
        if dups and not ids and i in (12, 640):
            lines.append(lines[-1])                              # the same row twice: ids by occurrence
        if dups and not ids and i == n - 8:
            lines.append(lines[14])                              # and once more, late
    if changed:
        lines += [sep.join(([f"B{i:04d}"] if ids else []) + ["R1", "task", "2024-01-02 09:00", "C1", "", "1", "Done"])
                  for i in range(40)]
    lines += ["", "Grand Total" + sep * (len(header) - 1), "Report generated on 2024-05-01",
              "Confidential - internal use only", ""]                 # footers: the file's trailing block
    text = ("\r\n" if crlf else "\n").join(lines)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


VARIANTS = {
    "clean": {"dates": "iso", "dups": False},         # decided by its first batch: read once
    "ambiguous": {},
    "mixed_crlf_bom": {"dates": "mixed", "crlf": True, "bom": True},
    "iso_semicolon_comma_late": {"dates": "iso", "sep": ";", "comma_late": True},
    "serial": {"dates": "serial"},
    "serial_broken": {"dates": "serial_broken"},
    "epoch_tab": {"dates": "epoch", "sep": "\t"},
    "no_ids": {"ids": False, "dates": "iso"},
    "quoted_late": {"quoted": True},                  # quotes late: streamed, then imported whole
}


# ---------------------------------------------------------------------------------------------- stores
def _seed_store(path: Path) -> None:
    """Reps, accounts and deals the files' names resolve to."""
    store = Store(path)
    try:
        import_file(store, ("Rep ID,Name,Team\nR1,Alice Smith,East\nR2,Bob Jones,West\nR3,Chen Li,East\n").encode(),
                    "reps.csv")
        import_file(store, ("Account ID,Account Name,Industry\nC1,Acme Corp,Retail\nC2,Beta GmbH,Tech\n").encode(),
                    "accounts.csv")
        import_file(store, ("Deal ID,Deal Name,Owner,Account,Amount,Stage,Created Date,Close Date\n"
                            "D1,Renewal one,R1,C1,100,Prospecting,2024-01-01,2024-06-01\n"
                            "D2,New logo,R2,C2,200,Proposal,2024-01-02,2024-07-01\n").encode(), "deals.csv")
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "seeded.duckdb"
    _seed_store(path)
    return path


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from data.demo_load import load_demo

    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    store = Store(path)
    load_demo(store)
    store.close()
    return path


def _contents(store: Store) -> dict[str, object]:
    """Every table an import writes (sorted), the derived activity tables and the import log."""
    out: dict[str, object] = {}
    for name in ("activities", "activities_prev", "reps", "accounts", "deals", "rejected_rows",
                 "activity_daily", "activity_months"):
        frame = store.con.sql(f"SELECT * FROM {name}").pl()
        out[name] = frame.sort(frame.columns, nulls_last=True)
    out["imports"] = store.con.sql("SELECT * EXCLUDE (imported_at) FROM imports ORDER BY batch_id").pl()
    return out


def _run(base: Path | None, path: Path, files: list[tuple[bytes, dict]], streamed: bool,
         piece: int, monkeypatch) -> tuple[list[object], dict[str, object], list[list[tuple[str, int]]]]:
    """Import the files one after the other by path; what each import returned (or the problem it
    raised), the store's contents, and per import the ways its batches were made (guessed, exact,
    whole) with how many batches each wrote."""
    if base is not None:
        shutil.copyfile(base, path)
    results: list[object] = []
    ways: list[list[tuple[str, int]]] = []
    with monkeypatch.context() as m:
        if streamed:
            m.setattr(rd, "_PIECES_MIN_BYTES", 0)
            m.setattr(rd, "_PIECE_BYTES", piece)
            m.setattr(rd, "_QUOTE_SCAN", 100)                # so that a late quote is found late
            for way in ("guessed", "exact", "whole"):
                def counted(self, _way=way, _real=getattr(pp._Streamed, way)):
                    if _way == "guessed":
                        ways.append([])
                    ways[-1].append((_way, 0))
                    for item in _real(self):
                        ways[-1][-1] = (_way, ways[-1][-1][1] + 1)
                        yield item
                m.setattr(pp._Streamed, way, counted)
        else:
            m.setattr(pp, "_STREAMED", {})               # the whole-file import, as before streaming
        store = Store(path)
        try:
            for k, (data, kwargs) in enumerate(files):
                csv = path.with_name(f"{path.stem}_{k}.csv")
                csv.write_bytes(data)
                try:
                    results.append(import_file(store, csv, "activities.csv", **kwargs).to_json())
                except ImportProblem as problem:
                    results.append(("refused", problem.code, problem.text()))
            return results, _contents(store), ways
        finally:
            store.close()


def _assert_same(tmp_path: Path, base: Path | None, files: list[tuple[bytes, dict]], piece: int,
                 monkeypatch) -> list[list[tuple[str, int]]]:
    whole, whole_store, _ = _run(base, tmp_path / "whole.duckdb", files, False, piece, monkeypatch)
    streamed, streamed_store, ways = _run(base, tmp_path / "streamed.duckdb", files, True, piece, monkeypatch)
    assert streamed == whole
    assert streamed_store.keys() == whole_store.keys()
    for name, frame in whole_store.items():
        assert streamed_store[name].equals(frame), name       # type: ignore[union-attr]
    return ways


# ---------------------------------------------------------------------------------------------- tests
# every variant with seed 1; a second seed for the variants decided late (the CI run stays under 20 minutes)
SECOND_SEED = ("ambiguous", "iso_semicolon_comma_late", "serial_broken", "quoted_late")
# piece (= batch) bytes of the streamed import, about 11, 32 or 80 rows of a 1,000-row file: every case
# streams in more than 5 batches; 700 (fewer rows than the 20 held back as possible footers, so the held
# rows span batches) costs most, so two second-seed cases take it, not a random third of all
PIECE = {1: 2000, 2: 5000}
TINY_PIECE = ("serial_broken", "quoted_late")


@pytest.mark.parametrize(("variant", "seed"), [(v, 1) for v in VARIANTS] + [(v, 2) for v in SECOND_SEED])
def test_a_streamed_import_stores_what_the_whole_file_stores(tmp_path, monkeypatch, seeded, variant, seed):
    opts = VARIANTS[variant]
    piece = 700 if seed == 2 and variant in TINY_PIECE else PIECE[seed]
    first = _file(seed, **opts)
    files = [(first, {}), (first, {}), (_file(seed, changed=True, **opts), {})]
    if seed == 1:                                        # the user's date order, and the kind given
        files.append((first, {"dayfirst": True, "kind": "activities"}))
    ways = _assert_same(tmp_path, seeded, files, piece, monkeypatch)
    assert len(ways) == len(files)
    for way in ways:                                       # streamed, in many batches
        assert way[0][0] == "guessed" and way[0][1] > 5, ways
        if variant == "clean":
            assert len(way) == 1, ways                      # the first batch decided: one reading
        elif variant == "quoted_late":
            assert way[-1] == ("whole", 1), ways            # a quote: the whole-file import after all
        else:
            assert way[-1][0] == "exact" and way[-1][1] > 5, ways   # a late decision or a repeated id


def test_the_whole_import_decisions_are_taken_late_and_kept(tmp_path, monkeypatch, seeded):
    """The oracle for the cases the streamed path decides late: the rejects and notes name them."""
    files = [(_file(3, sep=";", comma_late=True), {})]
    _assert_same(tmp_path, seeded, files, 500, monkeypatch)
    store = Store(tmp_path / "streamed.duckdb")
    try:
        notes = json.loads(store.imports_frame().sort("batch_id")["notes"][-1])
        reasons = store.con.sql("SELECT line, reason_code, params FROM rejected_rows ORDER BY line").pl()
        durations = set(store.con.sql("SELECT DISTINCT duration_min FROM activities").pl()["duration_min"].to_list())
    finally:
        store.close()
    assert {"code": "date_order_from_data", "params": {"column": "Activity Date Time", "order": "day-first"}} in notes
    codes = reasons["reason_code"].to_list()
    assert "duplicate_id" in codes and "bad_date" in codes and "missing_value" in codes
    no_id = [line for line, c, p in reasons.iter_rows() if c == "missing_value" and json.loads(p)["column"] == "Activity ID"]
    assert len(no_id) == 2 and no_id[0] < 160 < no_id[1], no_id   # a row without an id: rejected, not the file
    dup = [json.loads(p) for c, p in zip(codes, reasons["params"].to_list()) if c == "duplicate_id"]
    assert any(d["value"] == "A00010" and d["first_line"] == 12 for d in dup)   # first row 10 lines down
    assert {2.5, 1250.0} <= durations                          # a decimal comma: 2,5 and 1.250 (thousands)


def test_a_first_real_import_replaces_the_demo_the_same_way(tmp_path, monkeypatch, demo):
    _assert_same(tmp_path, demo, [(_file(4, dates="iso"), {})], 2000, monkeypatch)


def test_a_file_of_rejects_only_is_refused_the_same_way(tmp_path, monkeypatch, seeded):
    data = _file(5, dates="iso")
    lines = data.decode().split("\n")
    bad = [lines[0]] + [",".join(["X%d" % i, ""] + line.split(",")[2:]) for i, line in enumerate(lines[1:300])]
    files = [(("\n".join(bad) + "\n").encode(), {}), (data, {})]
    _assert_same(tmp_path, seeded, files, 700, monkeypatch)
    store = Store(tmp_path / "streamed.duckdb")
    try:
        log = store.imports_frame().sort("batch_id")
    finally:
        store.close()
    assert log["status"].to_list()[-2:] == ["failed", "done"]
    assert json.loads(log["notes"][-2])[0]["code"] == "nothing_imported"


@pytest.mark.parametrize("rel", ["salesforce_dtc_sample/DTC_Event.csv", "salesforce_dtc_sample/DTC_Task.csv"])
def test_real_exports_stream_as_they_import_whole(tmp_path, monkeypatch, seeded, rel):
    source = REALDATA / rel
    if not source.exists():
        pytest.skip("../shared/realdata is not here")
    data = source.read_bytes()
    ways = _assert_same(tmp_path, seeded, [(data, {}), (data, {})], 3000, monkeypatch)
    assert len(ways) == 2 and all(way[0][0] == "guessed" and way[-1][1] > 5 for way in ways), ways


def test_a_failure_in_a_late_batch_leaves_the_store_as_it_was(tmp_path, monkeypatch, seeded):
    """All or nothing: a write that fails in the third batch rolls back the batches before it."""
    shutil.copyfile(seeded, tmp_path / "s.duckdb")
    data = _file(6, dates="iso")
    csv = tmp_path / "activities.csv"
    csv.write_bytes(data)
    store = Store(tmp_path / "s.duckdb")
    try:
        import_file(store, csv)                              # an earlier batch (whole-file: the file is small)
        before = _contents(store)
        monkeypatch.setattr(rd, "_PIECES_MIN_BYTES", 0)
        monkeypatch.setattr(rd, "_PIECE_BYTES", 2000)
        real = store_module.Store._upsert
        calls = []

        def failing(self, cur, table, rows, batch_id, **kw):
            calls.append(table)
            if len(calls) == 3:
                raise OSError("disk went away")
            return real(self, cur, table, rows, batch_id, **kw)
        monkeypatch.setattr(store_module.Store, "_upsert", failing)
        with pytest.raises(OSError):
            import_file(store, csv)
        after = _contents(store)
        log = store.imports_frame().sort("batch_id")
    finally:
        store.close()
    assert len(calls) == 3
    for name, frame in before.items():
        if name != "imports":
            assert after[name].equals(frame), name           # type: ignore[union-attr]
    assert log["status"].to_list()[-1] == "failed"
    assert json.loads(log["notes"][-1])[0]["code"] == "write_failed"

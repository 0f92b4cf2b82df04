"""A big CSV file named by path is read from disk in pieces (issue #6: the 10M-activity import held the
file's 690 MB of bytes beside the table it was parsed into; its peak while reading 2.55 -> 1.87 GB).

`read._read_csv_file` takes UTF-8 files without quotes with LF or CRLF line ends, and must give what
`read_table` of the whole file's bytes gives: the same headers, rows, line numbers, skipped rows
(blank, repeated header, subtotal, footer), title lines, encoding, delimiter and line ending. Any other
file (a quote anywhere, invalid UTF-8 late in the file, CR line ends, UTF-16, a workbook) is read whole.
Pieces are made tiny here so that their ends fall everywhere: on blank lines, inside the title block,
on the last line without a line break.
"""
from __future__ import annotations

import codecs
import hashlib
import json
import random
from pathlib import Path

import polars as pl
import pytest

from data.ingest import read as rd
from data.ingest.pipeline import import_file, prepare
from data.store import Store

HEADER = ["Activity ID", "Owner ID", "Activity Type", "Activity Date Time", "Account ID", "Duration (min)", "Outcome"]
CELLS = ["R1", "R2", "Rép 3", "合计 销售额", "🚀", " padded ", "", "n/a", "x y", "1.234,5", "2024-03-01 10:00"]


def _lines(rng: random.Random, n: int, delimiter: str) -> list[str]:
    """Title lines, the header, data rows with every kind of skipped row, ragged rows and a footer."""
    d = delimiter
    out = [f"Activities report{d}{d}", "As of 2024-06-30", ""][: rng.randint(0, 3)]
    out.append(d.join(HEADER))
    for i in range(n):
        r = rng.random()
        if r < 0.02:
            out.append("")                                          # a truly empty line
        elif r < 0.04:
            out.append(d * rng.randint(1, 8))                       # ",,,,"
        elif r < 0.05:
            out.append("   ")
        elif r < 0.06:
            out.append(d.join(HEADER))                              # repeated header
        elif r < 0.07:
            out.append(d.join(["Subtotal", "", "", "", "", "12", ""]))
        elif r < 0.08:
            out.append(d.join([f"A{i}", "R1"]))                     # too few fields
        elif r < 0.09:
            out.append(d.join([f"A{i}", *[rng.choice(CELLS) for _ in range(9)]]))   # too many
        else:
            out.append(d.join([f"A{i:06d}", *[rng.choice(CELLS) for _ in range(6)]]))
    out += rng.choice([[], [d.join(["Grand Total", "", "", "", "", "999", ""]), "Confidential"], ["Generated on 2024-07-01"]])
    return out


def _write(tmp_path: Path, name: str, text: str, *, bom: bool = False, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    data = text.encode(encoding)
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + data)
    return path


def _csv_text(rng: random.Random, n: int) -> tuple[str, str]:
    delimiter = rng.choice([",", ";", "\t", "|"])
    lines = _lines(rng, n, delimiter)
    if rng.random() < 0.2 and delimiter == ";":
        lines.insert(0, "sep=;")
    end = rng.choice(["\n", "\r\n"])
    text = end.join(lines) + rng.choice([end, ""])
    if end == "\n" and rng.random() < 0.3:                          # a stray CR inside a cell
        text = text.replace("x y", "x\ry", 1)
    return text, delimiter


def _same(a: rd.RawTable, b: rd.RawTable) -> None:
    assert (a.headers, a.skipped, a.encoding, a.delimiter, a.line_ending, a.header_line, a.title_lines, a.sheet,
            a.sheets, a.decode_errors, a.rows_read) == \
           (b.headers, b.skipped, b.encoding, b.delimiter, b.line_ending, b.header_line, b.title_lines, b.sheet,
            b.sheets, b.decode_errors, b.rows_read)
    assert a.frame.equals(b.frame)


@pytest.fixture
def pieces(monkeypatch):
    """Every file is a big file, cut in pieces of `set(n)` bytes; counts the files read whole."""
    whole: list[str] = []
    load = rd._load

    def spy(source, filename, max_bytes):
        whole.append(str(source)[:40])
        return load(source, filename, max_bytes)

    monkeypatch.setattr(rd, "_PIECES_MIN_BYTES", 0)
    monkeypatch.setattr(rd, "_load", spy)

    class Pieces:
        read_whole = whole

        @staticmethod
        def set(n: int) -> None:
            monkeypatch.setattr(rd, "_PIECE_BYTES", n)

    return Pieces


@pytest.mark.parametrize("seed", range(30))
def test_a_file_read_in_pieces_equals_the_whole_file(tmp_path, pieces, seed):
    rng = random.Random(seed)
    text, _ = _csv_text(rng, rng.randint(1, 1500))
    path = _write(tmp_path, "a.csv", text, bom=rng.random() < 0.3)
    pieces.set(rng.choice([1, 7, 64, 333, 4096, 1 << 20]))
    got = rd.read_table(path)
    from_path = not pieces.read_whole
    want = rd.read_table(path.read_bytes(), "a.csv")
    _same(got, want)
    assert from_path, "read whole although the file qualifies"


def test_most_files_take_the_pieces(tmp_path, pieces):
    taken = 0
    for seed in range(20):
        rng = random.Random(100 + seed)
        text, _ = _csv_text(rng, 400)
        path = _write(tmp_path, f"{seed}.csv", text)
        pieces.set(rng.choice([50, 200, 1000]))
        before = len(pieces.read_whole)
        got = rd.read_table(path)
        taken += len(pieces.read_whole) == before
        _same(got, rd.read_table(path.read_bytes(), "x.csv"))
    assert taken == 20


@pytest.mark.parametrize("case", ["quote_late", "bad_utf8_late", "cr_only", "crcrlf", "latin1", "utf16", "nul",
                                  "html", "only_header", "empty_lines_only"])
def test_other_files_are_read_whole_and_equal(tmp_path, pieces, case):
    rng = random.Random(case)
    text, _ = _csv_text(rng, 800)
    body = text.replace("\r\n", "\n")
    encoding, bom = "utf-8", False
    if case == "quote_late":                 # a quoted cell with a line break and a delimiter, late in the file
        cut = body.index("\n", len(body) * 3 // 4) + 1
        body = body[:cut] + 'A999999,"R1\nstill R1, and more",call\n' + body[cut:]
    elif case == "cr_only":
        body = body.replace("\n", "\r")
    elif case == "crcrlf":
        body = body.replace("\n", "\r\r\n")
    elif case == "latin1":
        body = body.replace("🚀", "").replace("合计 销售额", "Müller").replace("Rép", "Rép")
        encoding = "cp1252"
    elif case == "utf16":
        encoding = "utf-16"
    elif case == "html":
        body = "<html><body>" + body
    elif case == "only_header":
        body = ",".join(HEADER) + "\n"
    elif case == "empty_lines_only":
        body = ",".join(HEADER) + "\n\n\n"
    path = _write(tmp_path, "b.csv", body, bom=bom, encoding=encoding)
    if case == "bad_utf8_late":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) * 3 // 4] + b"\xff\xfe" + data[len(data) * 3 // 4:])
    if case == "nul":
        path.write_bytes(path.read_bytes().replace(b"A000", b"A\x0000", 1))
    pieces.set(97)
    errors = []
    results = []
    for source in (path, path.read_bytes()):
        try:
            results.append(rd.read_table(source, "b.csv"))
        except rd.ImportProblem as problem:
            errors.append((problem.code, problem.params))
    if errors:
        assert len(errors) == 2 and errors[0] == errors[1]
    else:
        _same(*results)
    if case not in ("only_header", "empty_lines_only"):
        assert str(path)[:40] in pieces.read_whole               # the path went the whole-file way


def test_an_import_from_the_path_stores_what_the_bytes_store(tmp_path, monkeypatch):
    monkeypatch.setattr(rd, "_PIECES_MIN_BYTES", 0)
    monkeypatch.setattr(rd, "_PIECE_BYTES", 4096)
    rng = random.Random(7)
    lines = [",".join(HEADER)]
    for i in range(6000):
        if i in (10, 3000):
            lines.append("")
        owner = rng.choice(["R1", "R2", " R3 ", ""])
        when = "2024-13-01 10:00" if i % 97 == 0 else f"2024-03-{rng.randint(1, 28):02d} 10:{i % 60:02d}"
        act = f"A{i}" if i != 5000 else "A77"
        lines.append(",".join([act, owner, rng.choice(["call", "email", "Phone Call"]), when, f"C{rng.randint(1, 40)}",
                               "x" if i % 89 == 0 else rng.choice(["5", "7,5", ""]), rng.choice(["Connected", ""])]))
    lines += ["Grand Total,,,,,,", "Confidential,,,,,,"]
    path = _write(tmp_path, "activities.csv", "\r\n".join(lines) + "\r\n")
    assert rd._read_csv_file(path, "activities.csv", rd.DEFAULT_MAX_BYTES) is not None
    assert prepare(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    stored = []
    for name, source in (("path", path), ("bytes", path.read_bytes())):
        store = Store(tmp_path / f"{name}.duckdb")
        try:
            res = import_file(store, source, "activities.csv")
            imports = store.imports_frame().drop("batch_id", "imported_at")
            stored.append((res.to_json() | {"batch_id": None}, store.frame("activities").drop("batch_id").sort("activity_id"),
                           store.frame("rejected_rows").drop("batch_id").sort("line"),
                           store.frame("reps").drop("batch_id").sort("rep_id"),
                           store.frame("accounts").drop("batch_id").sort("account_id"), imports))
        finally:
            store.close()
    (res_a, *tables_a), (res_b, *tables_b) = stored
    assert res_a == res_b and res_a["inserted"] > 4000 and res_a["rejected"] > 0 and res_a["skipped"] == 4
    for a, b in zip(tables_a, tables_b):
        assert a.equals(b)
    assert json.loads(tables_a[-1]["notes"][0]) == json.loads(tables_b[-1]["notes"][0])


def test_pieces_end_at_line_breaks(tmp_path, monkeypatch):
    path = _write(tmp_path, "c.csv", "a,b\n" + "x" * 50 + "\n\n1,2\nlast")
    monkeypatch.setattr(rd, "_PIECE_BYTES", 8)
    got = list(rd._pieces(path))
    assert b"".join(got) == path.read_bytes()
    assert all(p.endswith(b"\n") for p in got[:-1]) and got[-1] == b"last"


def test_a_missing_or_oversized_path_still_reports_as_before(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(rd.ImportProblem) as err:
        rd.read_table(missing)
    assert err.value.code == "unreadable"
    with pytest.raises(OSError):
        prepare(missing)
    big = _write(tmp_path, "big.csv", "a,b\n1,2\n" * 100)
    with pytest.raises(rd.ImportProblem) as err:
        rd.read_table(big, max_bytes=100)
    assert err.value.code == "too_large" and err.value.params["file"] == "big.csv"

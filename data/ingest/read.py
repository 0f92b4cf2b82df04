"""Turn an uploaded CSV or Excel file into a table of strings, with exact line accounting.

`read_table` never guesses types: every column comes back as `pl.String` (empty cells are null),
plus `__line`, the 1-based physical line (CSV) or sheet row (Excel) where the record starts.

Decisions (see also the README of the ingest package):

* **Kind by content.** Magic bytes decide: a zip holding `xl/workbook.xml` (or `.bin`) or an
  OpenDocument spreadsheet is a workbook whatever its name; an OLE2 file is tried as `.xls`; PDF,
  images, archives, HTML/XML pages and other binary files raise `not_a_table`.
* **Zip safety before any Excel parsing.** Declared sizes are checked (refused when the total
  uncompressed size is more than 50x the file *and* more than 200 MB; zip readers cap every entry
  at its declared size, so a lying header gives a CRC error, not a bomb), and the prolog of every
  XML part is scanned for `<!DOCTYPE` / `<!ENTITY` (an entity bomb needs a DTD, which can only
  stand before the root element).
* **Encoding.** A BOM wins (UTF-8, UTF-16 LE/BE); then UTF-16 without BOM (NUL bytes on one parity);
  then strict UTF-8. A file that is *mostly* UTF-8 (at least two valid multi-byte characters per
  invalid sequence) is decoded lossily: each invalid sequence becomes U+FFFD and is counted in
  `RawTable.decode_errors`, encoding stays "utf-8". Otherwise it is a legacy code page: gb18030 when
  it decodes strictly and at least 80% of its non-ASCII characters are common GB2312 characters
  (Western cp1252 text pairs an accented byte with an ASCII letter, which gb18030 maps to rare
  GBK-extension characters), else cp1252.
* **Line endings** LF, CRLF, CR and CR CR LF (one line each) are told apart by counting; CR and CRCRLF
  are normalised before parsing. Line breaks inside cells come back as "\\n".
* **Line numbers.** Physical lines are counted on the normalised text: a record starts on the line
  after the previous record ends, so a record after a quoted cell holding two line breaks is two
  lines further on. The fast path (polars' multithreaded reader) counts line breaks inside cells
  and checks the total against the file's line count; on any disagreement (or a polars parse error)
  the file is re-read by a lenient pure-Python parser that is exact by construction.
* **Header row.** The first row (of the first 50 non-blank ones) that has at least two non-empty
  cells (one for a one-column file), is mostly non-empty compared with the rows after it, has
  mostly distinct cells of which at least half are text (not numbers or dates), and is not narrower
  than most of the next 8 rows (title and filter rows are). If no row passes, a lenient pass wants
  one text cell only and lets the next rows be a quarter wider (pivot headers such as
  `Owner, 2023, 2024`; data rows with a stray extra field); if still none, `no_header`.
  An Excel `sep=;` first line sets the delimiter and is not a title line.
* **Skipped rows** after the header: "blank" (every cell empty or whitespace, e.g. `,,,,`),
  "repeated_header", "subtotal" (first non-empty cell such as Total / Subtotal / 合计 / Ara Toplam
  / "<group> Total", the rest mostly empty or numeric), and "footer" (Salesforce's Grand Totals,
  confidentiality and copyright lines, "generated on" lines ...) in the trailing block of the file.
* **Columns.** Header cells are stripped; an empty one is named `column_<n>` (1-based position),
  duplicates get " (2)", " (3)". A column that has neither a header nor any value is dropped
  (Excel's phantom columns). Extra fields beyond the header are dropped, missing ones are null.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import re
import statistics
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import fastexcel
import polars as pl

from data.ingest.problems import ImportProblem

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
LINE_COLUMN = "__line"
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
WORKBOOK_ENCODING = "xlsx"

_SAMPLE_BYTES = 64 * 1024
_SAMPLE_BYTES_MAX = 1024 * 1024
_PIECES_MIN_BYTES = 64 * 1024 * 1024  # a CSV file named by path from this size is read in pieces
_PIECE_BYTES = 32 * 1024 * 1024
_BATCH_BYTES = 16 * 1024 * 1024       # a streamed import's batch (`CsvStream`): two are in memory at once
_QUOTE_SCAN = 1024 * 1024             # a file with a quote this near its start is not streamed at all
_SAMPLE_MIN_RECORDS = 60
_HEADER_SCAN = 50
_FOLLOWING = 8
_TAIL_ROWS = 20
_LEGACY_SAMPLE = 1024 * 1024
_UTF8_CHUNK = 16 * 1024 * 1024
_ZIP_RATIO = 50
_ZIP_LIMIT = 200 * 1024 * 1024
_ZIP_MAX_ENTRIES = 10_000
_XML_PROLOG = 64 * 1024
_XML_PROLOG_MAX = 1024 * 1024

Cells = list[str | None]
Record = tuple[int, Cells]  # (physical line where it starts, cells)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (b"\x1f\x8b", "GZIP archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", "Zstandard archive"),
    (b"{\\rtf", "RTF document"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"\x7fELF", "program"),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")

_VALUE_RE = re.compile(r"[-+(]?\s*[$€£¥₺₹]?\s*\d[\d\s.,:/\-]*(?:%|\)|\s*[A-Za-z]{1,3})?")
_KEYWORD_TOTAL = (
    r"grand\s+totals?|sub-?\s*totals?|totals?|sum|summe|gesamt(?:summe)?|zwischensumme"
    r"|total\s+g[ée]n[ée]ral|sous-total|totale|subtotale|ara\s+toplam|genel\s+toplam|toplam"
    r"|合\s*[计計]|总\s*[计計]|總\s*[计計]|小\s*[计計]|汇\s*总|匯\s*總|共\s*[计計]"
)
# Rust regex (polars): first non-empty cell of a subtotal row.
_SUBTOTAL_PATTERN = (
    rf"(?i)^\s*(?:(?:{_KEYWORD_TOTAL})\s*(?:[:：].*|[(（].*[)）])?"
    r"|\S.{0,79}\s(?:total|toplam|汇总|合计))\s*$"
)
_SUBTOTAL_RE = re.compile(_SUBTOTAL_PATTERN)
_JSON_START_RE = re.compile(r'(?:\[\s*)?\{\s*"[^"\n]*"\s*:')  # a JSON object (or array of them, or JSON lines)
_SEP_HINT_RE = re.compile(r"(?i)sep=([^\"\n])\n")  # Excel's delimiter hint on the first line
_GRAND_TOTAL_RE = re.compile(r"(?i)^grand\s+totals?\b")
_FOOTER_RE = re.compile(
    r"(?i)^(?:grand\s+totals?\b|confidential\b|.*\bconfidential\s+information\b|.*\bcopyright\b"
    r"|.*©|.*\ball\s+rights\s+reserved\b|(?:report\s+)?(?:generated|exported|printed|run)\s+(?:on|at|by)\b"
    r"|(?:total\s+)?(?:number\s+of\s+)?(?:records|rows)\s*[:：]|\d[\d,.]*\s+(?:records|rows)\b"
    r"|powered\s+by\b|共\s*\d+\s*(?:条|行|项|筆)|(?:导出|打印|制表)(?:时间|人|日期))"
)


@dataclass
class RawTable:
    """A file read as strings: header, rows with their line numbers, and what was skipped."""

    headers: list[str]
    frame: pl.DataFrame
    skipped: list[tuple[int, str]]
    encoding: str
    delimiter: str | None
    line_ending: str
    header_line: int
    title_lines: list[str]
    sheet: str | None
    sheets: list[str]
    decode_errors: int = 0  # invalid UTF-8 sequences replaced by U+FFFD (lossy UTF-8 only)
    kept_rows: int | None = None  # a streamed file (`CsvStream`): its kept rows, which `frame` does not hold
    kept_bytes: int | None = None  # rows let go once built (`pipeline.release_rows`): their size as read

    @property
    def rows_read(self) -> int:
        """Data rows after the header: rows kept plus rows skipped."""
        kept = self.frame.height if self.kept_rows is None else self.kept_rows
        return kept + len(self.skipped)

    @property
    def size_bytes(self) -> int:
        """The estimated size of the kept rows as read (the disk check's measure), let go or not."""
        return self.frame.estimated_size() if self.kept_bytes is None else self.kept_bytes


@dataclass
class _Text:
    """A CSV payload as UTF-8 bytes for polars, with what was learnt while decoding it."""

    payload: bytes  # UTF-8, line ends LF or CRLF, may start with a UTF-8 BOM
    encoding: str
    line_ending: str
    decode_errors: int = 0
    text: str | None = None  # the normalised text when it was decoded in Python anyway
    newlines: int = 0  # count of b"\n" in the payload

    def total_lines(self) -> int:
        """Physical lines of the payload (a final line break does not start a new line)."""
        if not self.payload:
            return 0
        return self.newlines + (0 if self.payload.endswith(b"\n") else 1)


@dataclass
class _Header:
    """Where the header record is and what stands above it."""

    index: int  # index in the records it was found in
    line: int
    span: int  # physical lines the header record covers
    cells: Cells
    titles: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- public API


def read_table(
    source: str | Path | bytes,
    filename: str | None = None,
    sheet: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RawTable:
    """Read a CSV or Excel file (path, bytes or an uploaded-file object) into a `RawTable`.

    Raises `ImportProblem` for every file-level failure; `filename` only labels the problem
    (param `file`), the kind of file is decided from its content.
    """
    if isinstance(source, (str, Path)):
        table = _read_csv_file(Path(source), filename or Path(source).name, max_bytes)
        if table is not None:
            return table
    data, name = _load(source, filename, max_bytes)
    try:
        kind = _sniff_kind(data)
        if kind == "csv":
            return _read_csv(data)
        return _read_workbook(data, kind, sheet)
    except ImportProblem as problem:
        problem.params.setdefault("file", name)
        raise
    except MemoryError as exc:
        raise ImportProblem("unreadable", detail="not enough memory to read it", file=name) from exc
    except Exception as exc:  # noqa: BLE001 - a bad file must never surface as a raw exception
        raise ImportProblem("unreadable", detail=f"{type(exc).__name__}: {exc}", file=name) from exc


def list_sheets(source: str | Path | bytes, filename: str | None = None) -> list[str]:
    """Sheet names of a workbook (all of them, hidden included); [] for a CSV file."""
    data, name = _load(source, filename, DEFAULT_MAX_BYTES)
    try:
        kind = _sniff_kind(data)
        if kind == "csv":
            return []
        return list(_open_workbook(data, kind).sheet_names)
    except ImportProblem as problem:
        problem.params.setdefault("file", name)
        raise
    except Exception as exc:  # noqa: BLE001
        raise ImportProblem("unreadable", detail=f"{type(exc).__name__}: {exc}", file=name) from exc


# ----------------------------------------------------------------------------- loading and kind


def _load(source: Any, filename: str | None, max_bytes: int) -> tuple[bytes, str | None]:
    """The file's bytes and a name for messages; refuses files over `max_bytes` before reading."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        size = memoryview(source).nbytes
        if size > max_bytes:
            raise _too_large(size, max_bytes, filename)
        return bytes(source), filename
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = filename or path.name
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise _too_large(size, max_bytes, name)
            return path.read_bytes(), name
        except OSError as exc:
            raise ImportProblem("unreadable", detail=exc.strerror or str(exc), file=name) from exc
    if hasattr(source, "getvalue") or hasattr(source, "read"):
        name = filename or getattr(source, "name", None)
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes, name)
        return bytes(data), name
    raise TypeError(f"read_table needs a path, bytes or a file object, not {type(source).__name__}")


def _too_large(size: int, limit: int, name: str | None) -> ImportProblem:
    """The too_large problem with sizes in MB (three significant digits below 1 MB)."""

    def mb(n: int) -> float:
        value = n / (1024 * 1024)
        return round(value, 1) if value >= 1 else float(f"{value:.3g}")

    return ImportProblem("too_large", size_mb=mb(size), limit_mb=mb(limit), file=name)


def _sniff_kind(data: bytes) -> str:
    """'csv', 'zip' or 'ole' from the magic bytes; raises for empty files and non-tables."""
    if not data:
        raise ImportProblem("empty_file")
    if data.startswith(_ZIP_MAGIC):
        return "zip"
    if data.startswith(_OLE_MAGIC):
        return "ole"
    for magic, looks_like in _MAGIC:
        if data.startswith(magic):
            raise ImportProblem("not_a_table", looks_like=looks_like)
    if data[4:8] == b"ftyp" or (data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE", b"AVI ")):
        raise ImportProblem("not_a_table", looks_like="media file")
    return "csv"


# ----------------------------------------------------------------------------- CSV


def _read_csv(data: bytes) -> RawTable:
    """Read delimited text: decode, sniff delimiter and header, parse, classify rows."""
    text = _decode(data)
    sample, final = _sample(text)
    _refuse_non_table_text(sample, final)
    hint = _SEP_HINT_RE.match(sample)
    delimiter = hint.group(1) if hint else _sniff_delimiter(sample, final)
    records = _parse_records(sample, delimiter, final=final)
    header = _find_header(records, first_line=2 if hint else 1)
    parsed = _polars_rows(text, delimiter, header)
    if parsed is None:
        parsed = _python_rows(text, delimiter, header)
    rows, lines = parsed
    del parsed
    if text.line_ending == "CRLF":
        rows = _normalise_cell_breaks(rows)
    # an empty cell reads as null, except a quoted "" from polars: without quotes there is none to fix
    headers, frame, skipped = _finish(rows, lines, header.cells, empty_is_null=b'"' not in text.payload)
    return RawTable(
        headers=headers,
        frame=frame,
        skipped=skipped,
        encoding=text.encoding,
        delimiter=delimiter,
        line_ending=text.line_ending,
        header_line=header.line,
        title_lines=header.titles,
        sheet=None,
        sheets=[],
        decode_errors=text.decode_errors,
    )


def _csv_head(path: Path, max_bytes: int, *, quote_free: bool = False) -> tuple[str, _Header, int] | None:
    """How a big UTF-8 CSV file read in pieces starts: its delimiter, its header and the byte offset
    where its rows begin; None for a file to read whole (outside the pieces' sizes, UTF-16, binary, not
    a CSV table, a header beyond the sample; with `quote_free`, a quote in its first `_QUOTE_SCAN` bytes)."""
    try:
        size = path.stat().st_size
        if size > max_bytes or size < _PIECES_MIN_BYTES:
            return None
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES_MAX)
    except OSError:
        return None                                     # the whole-file path reports it
    if (head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _utf16_without_bom(head[:4096])
            or b"\x00" in head[:8192] or (quote_free and b'"' in head[:_QUOTE_SCAN])):
        return None
    try:
        if _sniff_kind(head) != "csv":
            return None
        sample, final = _sample_of(head, size)
        _refuse_non_table_text(sample, final)
        hint = _SEP_HINT_RE.match(sample)
        delimiter = hint.group(1) if hint else _sniff_delimiter(sample, final)
        header = _find_header(_parse_records(sample, delimiter, final=final), first_line=2 if hint else 1)
    except ImportProblem:
        return None                                     # the whole-file path reports the file's problem
    header_end = -1                                     # the first piece holds the header's lines
    for _ in range(header.line - 1 + header.span):
        header_end = head.find(b"\n", header_end + 1)
        if header_end < 0:
            return None
    return delimiter, header, header_end + 1


def _read_csv_file(path: Path, name: str, max_bytes: int) -> RawTable | None:
    """A big UTF-8 CSV file without quotes, read from disk in pieces of `_PIECE_BYTES` cut at line ends,
    so the file's bytes are never all in memory beside the table (690 MB for 10M activities); None
    (read it whole) for any other file. The table equals `_read_csv` of the whole file's bytes: without a
    quote every line is one record, so polars parses each piece's lines as it parses them in the whole
    file, and every whole-file condition (UTF-8, no quote, the line ending, the line count) is checked
    over all pieces before the table is returned. A file with a problem is read again whole, which
    reports it (the sample here is not normalised as the whole file's is for CR line ends)."""
    start = _csv_head(path, max_bytes)
    if start is None:
        return None
    delimiter, header, rows_at = start
    try:
        parsed = _polars_pieces(path, delimiter, header, rows_at)
        if parsed is None:
            return None
        rows, lines, encoding, line_ending = parsed
        del parsed
        if line_ending == "CRLF":
            rows = _normalise_cell_breaks(rows)
        headers, frame, skipped = _finish(rows, lines, header.cells, empty_is_null=True)
    except (ImportProblem, OSError):
        return None                                     # the whole-file path reports the file's problem
    except MemoryError as exc:
        raise ImportProblem("unreadable", detail="not enough memory to read it", file=name) from exc
    return RawTable(
        headers=headers, frame=frame, skipped=skipped, encoding=encoding, delimiter=delimiter,
        line_ending=line_ending, header_line=header.line, title_lines=header.titles, sheet=None, sheets=[],
    )


@dataclass
class CsvStream:
    """A big CSV file named by path, read in row batches instead of as one table (issue #6).

    `open_csv_stream` takes the files `_read_csv_file` reads in pieces (UTF-8 without quotes, LF or
    CRLF, at least `_PIECES_MIN_BYTES`) whose header cells are all named (so no column can be dropped
    for being empty, and the headers are known before the rows are read). `read_once` yields the batches
    of kept rows as it reads, checking every whole-file condition of the pieces reader on the way (it
    raises `NotStreamable` at the first that fails); `scan` reads the file once, handing each batch to
    `observe`, and `batches` reads it again and yields the same rows. Each batch is a slice of the rows
    of `_read_csv_file`'s table (same columns, cells and `__line`), and the rows skipped are the same:
    blank, repeated-header and subtotal rows are found row by row, and footer rows, which only the
    trailing block of the whole file can hold, are looked for among the rows held back from the end."""

    path: Path
    table: RawTable                         # headers and what the reader learnt; `frame` holds no row
    header: _Header
    header_end: int
    scanned: bool = False
    sha256: str = ""                        # of the file's bytes, as `scan` read them

    def scan(self, observe: Callable[[pl.DataFrame], None] | None = None) -> bool:
        """Read the file once; False (read it as a whole instead) when it is not what the pieces reader
        takes or has no data row. Afterwards `table.skipped`, `table.kept_rows` and the encoding are set."""
        kept = 0
        skipped: list[tuple[int, str]] = []
        digest = hashlib.sha256()
        try:
            for frame in self._scanned(skipped, digest):
                kept += frame.height
                if observe is not None:
                    observe(frame)
        except NotStreamable:
            return False
        if kept == 0:
            return False                    # no_data_rows: the whole-file path reports it
        self.table.skipped, self.table.kept_rows, self.scanned = skipped, kept, True
        self.sha256 = digest.hexdigest()
        return True

    def read_once(self) -> Iterator[pl.DataFrame]:
        """`scan` without a second reading: the kept rows batch by batch, `table.skipped` and `kept_rows`
        set when they end. Raises `NotStreamable` (at any batch) where `scan` returns False."""
        kept = 0
        skipped: list[tuple[int, str]] = []
        for frame in self._scanned(skipped, None):
            kept += frame.height
            yield frame
        self.table.skipped, self.table.kept_rows, self.scanned = skipped, kept, True

    def batches(self) -> Iterator[pl.DataFrame]:
        """The kept rows again, a piece of the file at a time (the rows `scan` skipped left out)."""
        if not self.scanned:
            raise RuntimeError("CsvStream.batches before a successful scan")
        skipped = pl.Series(LINE_COLUMN, [line for line, _ in self.table.skipped], pl.Int64)
        used = _header_names(self.header.cells)
        names = _column_names(len(self.header.cells))
        kept = 0
        stats: dict[str, str] = {}
        try:
            for rows in self._pieces_read(stats):
                if skipped.len():
                    rows = rows.filter(~pl.col(LINE_COLUMN).is_in(skipped.implode()))
                kept += rows.height
                yield rows.select([pl.col(c).alias(n) for c, n in zip(names, used)] + [pl.col(LINE_COLUMN)])
        except NotStreamable as exc:
            raise RuntimeError(f"{self.path} changed while it was imported") from exc
        if kept != self.table.kept_rows:
            raise RuntimeError(f"{self.path} changed while it was imported")

    def _pieces_read(self, stats: dict[str, str], digest: Any = None) -> Iterator[pl.DataFrame]:
        """The file's data rows (c0.., __line) a batch at a time (`_checked_pieces`)."""
        return _checked_pieces(self.path, self.table.delimiter or ",", self.header, self.header_end,
                               min(_BATCH_BYTES, _PIECE_BYTES), stats, digest)

    def _scanned(self, skipped: list[tuple[int, str]], digest: Any) -> Iterator[pl.DataFrame]:
        """The kept rows, batch by batch, as `_finish` keeps them; the skipped ones go to `skipped`."""
        header, width = self.header, len(self.header.cells)
        names = _column_names(width)
        used = _header_names(header.cells)
        held: pl.DataFrame | None = None               # rows that may still turn out to be footers
        stats: dict[str, str] = {}
        for rows in self._pieces_read(stats, digest):
            rows = _with_reasons(rows, header.cells, width)
            held = rows if held is None else pl.concat([held, rows], how="vertical")
            nonblank = held.select(pl.arg_where(~pl.col("_blank"))).to_series()
            if nonblank.len() >= _TAIL_ROWS:        # rows before the last _TAIL_ROWS non-blank ones are no footers
                cut = int(nonblank[-_TAIL_ROWS])
                if cut:
                    yield _release(held.slice(0, cut), names, used, skipped)
                    held = held.slice(cut)
        if held is not None and held.height:
            cells = held.select(names)
            flags = held.select(pl.int_range(0, pl.len(), dtype=pl.Int64).alias("i"), pl.col("_blank").alias("blank"))
            reasons = {i: r for i, r in enumerate(held["_reason"].to_list()) if r is not None}
            footers = _footer_rows(cells, flags, reasons, width)
            if footers:
                reason = held["_reason"].scatter(footers, "footer")
                held = held.with_columns(reason.alias("_reason"))
            yield _release(held, names, used, skipped)
        self.table.encoding, self.table.line_ending = stats["encoding"], stats["line_ending"]


class NotStreamable(Exception):
    """The file is not one the pieces reader takes (or polars disagrees): read it whole."""


def _with_reasons(rows: pl.DataFrame, header_cells: Cells, width: int) -> pl.DataFrame:
    """`rows` (c0.., __line) with `_blank` and `_reason`: blank, repeated_header or subtotal, as `_finish`
    finds them (footers come later, from the file's end)."""
    flags = _row_flags(rows.drop(LINE_COLUMN), header_cells)
    reason = (pl.when(pl.col("blank")).then(pl.lit("blank"))
              .when(pl.col("repeated")).then(pl.lit("repeated_header")))
    out = rows.with_columns(flags["blank"].alias("_blank"), flags.select(reason.alias("r"))["r"].alias("_reason"))
    labelled = flags.filter(pl.col("total_label") & ~pl.col("blank") & ~pl.col("repeated"))["i"].to_list()
    totals = [i for i in labelled if _is_subtotal(_values(rows.drop(LINE_COLUMN).row(i)), width)]
    if totals:
        out = out.with_columns(out["_reason"].scatter(totals, "subtotal").alias("_reason"))
    return out


def _release(rows: pl.DataFrame, names: list[str], used: list[str], skipped: list[tuple[int, str]]) -> pl.DataFrame:
    """The kept rows of a batch, named as the table's columns; the skipped ones go to `skipped`."""
    gone = rows.filter(pl.col("_reason").is_not_null())
    skipped.extend(zip(gone[LINE_COLUMN].to_list(), gone["_reason"].to_list()))
    kept = rows.filter(pl.col("_reason").is_null()) if gone.height else rows
    return kept.select([pl.col(c).alias(n) for c, n in zip(names, used)] + [pl.col(LINE_COLUMN)])


def open_csv_stream(path: str | Path, name: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> CsvStream | None:
    """A `CsvStream` of the file, or None when it is to be read as a whole (see `CsvStream`)."""
    path = Path(path)
    start = _csv_head(path, max_bytes, quote_free=True)   # quotes: read whole (a late one is found later)
    if start is None:
        return None
    delimiter, header, rows_at = start
    if not header.cells or any(cell is None or not cell.strip() for cell in header.cells):
        return None                                     # a column might be dropped: read it whole
    headers = _header_names(header.cells)
    empty = pl.DataFrame(schema={**{h: pl.String for h in headers}, LINE_COLUMN: pl.Int64})
    table = RawTable(headers=headers, frame=empty, skipped=[], encoding="utf-8", delimiter=delimiter,
                     line_ending="LF", header_line=header.line, title_lines=header.titles, sheet=None, sheets=[],
                     kept_rows=0)
    return CsvStream(path, table, header, rows_at)


def _pieces(path: Path, first: int = 0, piece: int | None = None) -> Iterable[bytes]:
    """The file's bytes in pieces of about `piece` bytes (`_PIECE_BYTES`; the first one at least `first`
    bytes), each ending with a line break (but the last)."""
    carry = b""
    piece = piece or _PIECE_BYTES
    size = max(piece, first)
    with path.open("rb") as handle:
        while True:
            block = handle.read(size)
            size = piece
            if not block:
                break
            block = carry + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                carry = block
                continue
            carry = block[cut:]
            yield block[:cut]
    if carry:
        yield carry


def _checked_pieces(path: Path, delimiter: str, header: _Header, header_end: int, piece_bytes: int,
                    stats: dict[str, str], digest: Any = None) -> Iterator[pl.DataFrame]:
    """The file's data rows (c0.., __line) a piece of about `piece_bytes` at a time, checked on the way:
    raises `NotStreamable` where the file is not strict UTF-8 without quotes with LF or CRLF line ends,
    or polars disagrees anywhere (its header row, its count of lines). At the end `stats` holds the
    "encoding" (utf-8, or utf-8-sig with a BOM) and the "line_ending" (LF or CRLF); `digest` (a hashlib
    object) is fed every byte of the file."""
    names = _column_names(len(header.cells))
    newlines = returns = crlf = crcrlf = 0
    first_piece, last = True, b""
    line = header.line + header.span             # the line of the next data row
    for piece in _pieces(path, header_end, piece_bytes):
        if digest is not None:
            digest.update(piece)
        if b'"' in piece:
            raise NotStreamable
        if not piece.isascii():     # a piece ends with a line break, so no character spans two pieces
            try:
                piece.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NotStreamable from exc
        newlines += piece.count(b"\n")
        returns += piece.count(b"\r")
        if returns:
            crlf += piece.count(b"\r\n")
            crcrlf += piece.count(b"\r\r\n")
        try:
            rows = pl.read_csv(
                piece, has_header=False, separator=delimiter, quote_char='"',
                skip_lines=header.line - 1 if first_piece else 0, infer_schema=False,
                schema={name: pl.String for name in names}, truncate_ragged_lines=True,
                missing_columns="insert", extra_columns="ignore", raise_if_empty=False,
            )
        except Exception as exc:  # noqa: BLE001 - any polars failure: read the whole file (the exact reader if need be)
            raise NotStreamable from exc
        if first_piece:                     # the first piece starts at the file's first byte
            if rows.height == 0 or not _same_cells(rows.row(0), header.cells):
                raise NotStreamable
            rows = rows.slice(1)
            first_piece = False
            stats["encoding"] = "utf-8-sig" if piece.startswith(codecs.BOM_UTF8) else "utf-8"
        last = piece[-1:]
        yield rows.with_columns(pl.int_range(line, line + rows.height, dtype=pl.Int64).alias(LINE_COLUMN))
        line += rows.height
    if first_piece:
        raise NotStreamable
    ending = "LF"
    if returns:
        ending = _line_ending(crcrlf if crlf else 0, crlf, returns, newlines)
        if ending not in ("LF", "CRLF"):            # CR and CR CR LF files are normalised first: read whole
            raise NotStreamable
    if line - 1 != newlines + (0 if last == b"\n" else 1):
        raise NotStreamable
    stats["line_ending"] = ending


def _polars_pieces(path: Path, delimiter: str, header: _Header,
                   header_end: int) -> tuple[pl.DataFrame, pl.Series, str, str] | None:
    """`_polars_rows` over the file's pieces (`_checked_pieces`): rows, line numbers, encoding and line
    ending; None where `_checked_pieces` raises `NotStreamable`."""
    stats: dict[str, str] = {}
    try:
        frames = list(_checked_pieces(path, delimiter, header, header_end, _PIECE_BYTES, stats))
    except NotStreamable:
        return None
    rows = pl.concat(frames, how="vertical", rechunk=False)
    del frames
    return rows.drop(LINE_COLUMN), rows[LINE_COLUMN], stats["encoding"], stats["line_ending"]


def _decode(data: bytes) -> _Text:
    """Decide the encoding, give UTF-8 bytes for polars, normalise CR and CR CR LF line ends."""
    if data.startswith(codecs.BOM_UTF8) and _is_utf8(data):
        return _from_utf8_bytes(data, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _from_text(data.decode("utf-16", errors="replace"), "utf-16", count_errors=True)
    utf16 = _utf16_without_bom(data[:4096])
    if utf16:
        return _from_text(data.decode(utf16, errors="replace"), "utf-16", count_errors=True)
    if b"\x00" in data[:8192]:
        raise ImportProblem("not_a_table", looks_like="binary file")
    if _is_utf8(data):
        return _from_utf8_bytes(data, "utf-8")
    lossy = data.decode("utf-8", errors="replace")
    bad = lossy.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    good = len(lossy) - len(lossy.encode("ascii", "ignore")) - lossy.count("\ufffd")
    if good >= 2 * bad:
        decoded = _from_text(lossy, "utf-8", count_errors=False)
        decoded.decode_errors = bad
        return decoded
    encoding = _legacy_encoding(data)
    return _from_text(data.decode(encoding, errors="replace"), encoding, count_errors=True)


def _is_utf8(data: bytes) -> bool:
    """Strict UTF-8 check in chunks (no full-size copy)."""
    if data.isascii():
        return True
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    try:
        for start in range(0, len(data), _UTF8_CHUNK):
            decoder.decode(view[start : start + _UTF8_CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NUL bytes sit on one parity only, as in UTF-16 text."""
    head = head[: len(head) // 2 * 2]
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if odd >= 0.2 * pairs and even <= 0.02 * pairs:
        return "utf-16-le"
    if even >= 0.2 * pairs and odd <= 0.02 * pairs:
        return "utf-16-be"
    return None


def _legacy_encoding(data: bytes) -> str:
    """gb18030 or cp1252 for bytes that are not UTF-8 (see the module docstring)."""
    sample = data[:_LEGACY_SAMPLE]
    if len(data) > _LEGACY_SAMPLE and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n")]
    as_gb = _strict(sample, "gb18030")
    as_cp = _strict(sample, "cp1252")
    if as_gb is None and as_cp is None:
        gb_bad = sample.decode("gb18030", errors="replace").count("\ufffd")
        cp_bad = sample.decode("cp1252", errors="replace").count("\ufffd")
        return "gb18030" if gb_bad < cp_bad else "cp1252"
    if as_gb is None:
        return "cp1252"
    if as_cp is None:
        return "gb18030"
    wide = [ch for ch in as_gb if ord(ch) > 127]
    common = sum(1 for ch in wide if _in_gb2312(ch))
    return "gb18030" if wide and common >= 0.8 * len(wide) else "cp1252"


def _strict(data: bytes, encoding: str) -> str | None:
    """The text, or None when `data` does not decode strictly."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _in_gb2312(ch: str) -> bool:
    """True for characters of the common GB2312 set (both bytes >= 0xA1)."""
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _line_ending(crcrlf: int, crlf: int, cr: int, lf: int) -> str:
    """The dominant line ending from raw counts of '\\r\\r\\n', '\\r\\n', '\\r' and '\\n'."""
    counts = {
        "CRCRLF": crcrlf,
        "CRLF": crlf - crcrlf,
        "CR": cr - crlf - crcrlf,
        "LF": lf - crlf,
    }
    best = max(counts, key=lambda key: counts[key])
    return best if counts[best] > 0 else "LF"


def _from_utf8_bytes(data: bytes, encoding: str) -> _Text:
    """Valid UTF-8 bytes: kept as they are for polars unless CR or CR CR LF must be normalised."""
    newlines, returns = data.count(b"\n"), data.count(b"\r")
    if not returns:
        return _Text(payload=data, encoding=encoding, line_ending="LF", newlines=newlines)
    crlf = data.count(b"\r\n")
    ending = _line_ending(data.count(b"\r\r\n") if crlf else 0, crlf, returns, newlines)
    if ending == "CRCRLF":
        data = data.replace(b"\r\r\n", b"\n").replace(b"\r\n", b"\n")
    elif ending == "CR":
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if ending in ("CRCRLF", "CR"):
        newlines = data.count(b"\n")
    return _Text(payload=data, encoding=encoding, line_ending=ending, newlines=newlines)


def _from_text(text: str, encoding: str, count_errors: bool) -> _Text:
    """Text decoded in Python: line ends normalised to LF, re-encoded as UTF-8 for polars."""
    errors = text.count("\ufffd") if count_errors else 0
    text = text.removeprefix("\ufeff")
    ending = _line_ending(text.count("\r\r\n"), text.count("\r\n"), text.count("\r"), text.count("\n"))
    if ending == "CRCRLF":
        text = text.replace("\r\r\n", "\n")
    text = text.replace("\r\n", "\n")
    if ending == "CR":
        text = text.replace("\r", "\n")
    return _Text(
        payload=text.encode("utf-8"),
        encoding=encoding,
        line_ending=ending,
        decode_errors=errors,
        text=text,
        newlines=text.count("\n"),
    )


def _sample(text: _Text) -> tuple[str, bool]:
    """The beginning of the file as LF text, cut at a line end; True when it is the whole file."""
    return _sample_of(text.payload, len(text.payload))


def _sample_of(payload: bytes, total: int) -> tuple[str, bool]:
    """`_sample` of a file of `total` bytes whose first bytes (at least `_SAMPLE_BYTES_MAX` of them, or
    all) are `payload`."""
    size = _SAMPLE_BYTES
    while True:
        final = total <= size
        chunk = payload if final else payload[:size]
        if not final and b"\n" in chunk:
            chunk = chunk[: chunk.rindex(b"\n") + 1]
        sample = chunk.decode("utf-8", errors="replace").removeprefix("\ufeff").replace("\r\n", "\n")
        if final or size >= _SAMPLE_BYTES_MAX or sample.count("\n") >= _SAMPLE_MIN_RECORDS * 2:
            return sample, final
        size *= 4


def _refuse_non_table_text(sample: str, final: bool) -> None:
    """empty_file for whitespace/delimiter-only files, not_a_table for HTML and XML documents."""
    if final and not sample.strip(" \t\r\n\ufeff\u00a0" + "".join(DELIMITERS) + '"'):
        raise ImportProblem("empty_file")
    head = sample.lstrip()[:100].lower()
    if head.startswith(("<!doctype html", "<html")):
        raise ImportProblem("not_a_table", looks_like="HTML page")
    if head.startswith("<?xml"):
        raise ImportProblem("not_a_table", looks_like="XML document")
    if _JSON_START_RE.match(head):
        raise ImportProblem("not_a_table", looks_like="JSON document")


_FIELD_RE_CACHE: dict[str, re.Pattern[str]] = {}


def _field_re(delimiter: str) -> re.Pattern[str]:
    """One CSV field: quoted (with `""` escapes and any text after the closing quote) or not."""
    if delimiter not in _FIELD_RE_CACHE:
        d = re.escape(delimiter)
        _FIELD_RE_CACHE[delimiter] = re.compile(rf'"([^"]*(?:""[^"]*)*)"([^{d}\n]*)|([^{d}\n]*)')
    return _FIELD_RE_CACHE[delimiter]


def _parse_records(text: str, delimiter: str, final: bool = True, limit: int | None = None) -> list[Record]:
    """Lenient quote-aware CSV parse of LF text into (start line, cells) records.

    Blank lines are records of one None cell. A quote that opens a field and never closes makes
    that field literal text (or, when `final` is False, ends the sample there). Empty cells are None.
    """
    pattern = _field_re(delimiter)
    records: list[Record] = []
    pos, line, end = 0, 1, len(text)
    cells: Cells = []
    start = line
    while pos < end:
        match = pattern.match(text, pos)
        assert match is not None  # the unquoted alternative always matches
        if match.group(3) is not None:
            value = match.group(3)
            if not final and value.startswith('"'):
                break
        else:
            value = match.group(1).replace('""', '"') + match.group(2)
            line += value.count("\n")
        cells.append(value or None)
        pos = match.end()
        if pos < end and text[pos] == delimiter:
            pos += 1
            if pos == end:
                cells.append(None)
            continue
        records.append((start, cells))
        if limit is not None and len(records) >= limit:
            return records
        cells = []
        pos += 1
        line += 1
        start = line
    if cells:
        records.append((start, cells))
    if not final and records and pos >= end and not text.endswith("\n"):
        records.pop()
    return records


def _is_blank(cells: Sequence[str | None]) -> bool:
    """True when every cell is empty or whitespace."""
    return all(cell is None or not cell.strip() for cell in cells)


def _sniff_delimiter(sample: str, final: bool) -> str:
    """The delimiter giving the most consistent field count (quotes respected) on the sample."""
    parsed = {d: _parse_records(sample, d, final=final, limit=200) for d in DELIMITERS}
    header_lines = [
        next((line for line, cells in recs if len(cells) >= 2 and not _is_blank(cells)), None)
        for recs in parsed.values()
    ]
    header_line = min((line for line in header_lines if line is not None), default=None)
    best, best_score = DELIMITERS[0], 0.0
    for delimiter, recs in parsed.items():
        widths = [len(cells) for _, cells in recs if not _is_blank(cells)]
        multi = Counter(w for w in widths if w >= 2)
        if not multi:
            continue
        width, freq = max(multi.items(), key=lambda item: (item[1], item[0]))
        score = float(freq * (width - 1))
        first = next((len(cells) for line, cells in recs if line == header_line), None)
        if first == width:
            score *= 2
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _trimmed_width(cells: Sequence[str | None]) -> int:
    """Position of the last non-empty cell (1-based), 0 for a blank row."""
    for index in range(len(cells) - 1, -1, -1):
        cell = cells[index]
        if cell is not None and cell.strip():
            return index + 1
    return 0


def _values(cells: Sequence[str | None]) -> list[str]:
    """The non-empty cells, stripped."""
    return [cell.strip() for cell in cells if cell is not None and cell.strip()]


def _is_value_like(text: str) -> bool:
    """True for numbers, amounts, percentages and dates: cells a header would not hold."""
    return _VALUE_RE.fullmatch(text) is not None


def _find_header(records: list[Record], first_line: int = 1) -> _Header:
    """The header record among the first non-blank records (see the module docstring).

    A strict pass wants half the cells to be text and no wider rows below; a lenient pass (pivot
    headers such as `Owner, 2023, 2024`, data rows with an extra field) wants one text cell and
    allows most rows below to be a quarter wider.
    """
    nonblank = [
        (i, rec) for i, rec in enumerate(records) if rec[0] >= first_line and not _is_blank(rec[1])
    ][: _HEADER_SCAN + _FOLLOWING]
    if not nonblank:
        raise ImportProblem("empty_file")
    single_column = all(len(_values(cells)) <= 1 for _, (_, cells) in nonblank)
    for strict in (True, False):
        for position, (index, (line, cells)) in enumerate(nonblank[:_HEADER_SCAN]):
            following = [rec[1] for _, rec in nonblank[position + 1 : position + 1 + _FOLLOWING]]
            if _looks_like_header(cells, following, single_column, strict):
                return _header_at(records, index, first_line)
    raise ImportProblem("no_header", rows=min(len(nonblank), _HEADER_SCAN))


def _looks_like_header(cells: Cells, following: list[Cells], single_column: bool, strict: bool) -> bool:
    """Mostly non-empty distinct text cells, not narrower than the rows after it."""
    values = _values(cells)
    needed = 1 if single_column else 2
    if len(values) < needed:
        return False
    width = _trimmed_width(cells)
    widths = [_trimmed_width(row) for row in following]
    typical = statistics.median(widths) if widths else width
    if len(values) < 0.5 * max(width, typical):
        return False
    if len({value.casefold() for value in values}) < 0.75 * len(values):
        return False
    texts = sum(1 for value in values if not _is_value_like(value))
    if texts < (0.5 * len(values) if strict else 1):
        return False
    allowance = 0 if strict else max(1, width // 4)
    span = width
    if strict and texts == len(values) and len(cells) > width and len(values) >= 0.6 * typical:
        # trailing columns without a name over data ("Amount,," above "1000,2024-06-30,x"): the row
        # spans them with its delimiters and names most of them, so it is still the header
        span = len(cells)
    similar = sum(1 for w in widths if w <= span + allowance)
    return not widths or similar * 2 >= len(widths)


def _header_at(records: list[Record], index: int, first_line: int = 1) -> _Header:
    """Describe the header record at `index` and the title rows above it (from `first_line`)."""
    line, cells = records[index]
    span = 1 + sum(cell.count("\n") for cell in cells if cell)
    titles = [
        " ".join(_values(rec_cells))
        for rec_line, rec_cells in records[:index]
        if rec_line >= first_line and not _is_blank(rec_cells)
    ]
    return _Header(index=index, line=line, span=span, cells=cells, titles=titles)


def _column_names(count: int) -> list[str]:
    """Positional working names of the raw columns."""
    return [f"c{i}" for i in range(count)]


def _polars_rows(text: _Text, delimiter: str, header: _Header) -> tuple[pl.DataFrame, pl.Series] | None:
    """Fast path: polars parses from the header on; None when its result cannot be trusted."""
    names = _column_names(len(header.cells))
    try:
        frame = pl.read_csv(
            text.payload,
            has_header=False,
            separator=delimiter,
            quote_char='"',
            skip_lines=header.line - 1,
            infer_schema=False,
            schema={name: pl.String for name in names},
            truncate_ragged_lines=True,
            missing_columns="insert",
            extra_columns="ignore",
            raise_if_empty=False,
        )
    except Exception:  # noqa: BLE001 - any polars failure means: use the exact Python parser
        return None
    if frame.height == 0 or not _same_cells(frame.row(0), header.cells):
        return None
    rows = frame.slice(1)
    first = header.line + header.span
    offsets = pl.int_range(0, rows.height, dtype=pl.Int64, eager=True) + first
    if b'"' not in text.payload:  # no quoted cell, so no line break inside a cell: one record per line
        if header.line - 1 + header.span + rows.height != text.total_lines():
            return None
        return rows, offsets
    breaks = rows.select(
        pl.sum_horizontal(
            [pl.col(name).str.count_matches("\n", literal=True).fill_null(0) for name in names]
        ).alias("n")
    ).to_series()
    if header.line - 1 + header.span + rows.height + int(breaks.sum()) != text.total_lines():
        return None
    lines = (offsets + breaks.cum_sum() - breaks).cast(pl.Int64)
    return rows, lines


def _same_cells(row: Sequence[str | None], cells: Cells) -> bool:
    """True when polars read the header record as the sample parser did."""

    def norm(value: str | None) -> str:
        return (value or "").replace("\r\n", "\n").strip()

    return len(row) == len(cells) and all(norm(a) == norm(b) for a, b in zip(row, cells))


def _python_rows(text: _Text, delimiter: str, header: _Header) -> tuple[pl.DataFrame, pl.Series]:
    """Exact, lenient pure-Python parse of the whole file (for files polars refuses)."""
    full = text.text
    if full is None:
        full = text.payload.decode("utf-8", errors="replace").removeprefix("\ufeff").replace("\r\n", "\n")
    records = _parse_records(full, delimiter, final=True)
    start = next((i for i, (line, _) in enumerate(records) if line == header.line), None)
    if start is None:
        raise ImportProblem("unreadable", detail=f"the header on line {header.line} could not be parsed again")
    data = records[start + 1 :]
    width = len(header.cells)
    columns = {
        name: [cells[i] if i < len(cells) else None for _, cells in data]
        for i, name in enumerate(_column_names(width))
    }
    frame = pl.DataFrame(columns, schema={name: pl.String for name in columns})
    lines = pl.Series("line", [line for line, _ in data], dtype=pl.Int64)
    return frame, lines


def _normalise_cell_breaks(rows: pl.DataFrame) -> pl.DataFrame:
    """CRLF inside quoted cells of a CRLF file becomes LF, like every other line break."""
    affected = [
        name for name in rows.columns if rows.select(pl.col(name).str.contains("\r\n", literal=True).any()).item()
    ]
    if not affected:
        return rows
    return rows.with_columns([pl.col(name).str.replace_all("\r\n", "\n", literal=True) for name in affected])


# ----------------------------------------------------------------------------- Excel


def _check_zip(data: bytes) -> zipfile.ZipFile:
    """Refuse zip bombs, broken zips and XML parts with a DTD; return the opened archive."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise ImportProblem("xlsx_unsafe", detail="it is not a valid zip file") from exc
    if len(infos) > _ZIP_MAX_ENTRIES:
        raise ImportProblem("xlsx_unsafe", detail=f"it holds {len(infos)} parts")
    total = sum(info.file_size for info in infos)
    if total > _ZIP_RATIO * len(data) and total > _ZIP_LIMIT:
        raise ImportProblem(
            "xlsx_unsafe",
            detail=f"it would expand from {len(data):,} bytes to {total:,} bytes (a zip bomb)",
        )
    for info in infos:
        if info.filename.lower().endswith((".xml", ".rels", ".vml")):
            _check_xml_prolog(archive, info)
    return archive


def _check_xml_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """Refuse an XML part declaring a DTD or entities (billion-laughs and external entities).

    A DTD can only stand in the prolog, before the root element, but comments and processing
    instructions may pad the prolog to any length: the scan reads on (in steps) until the root
    element starts, and refuses a prolog longer than `_XML_PROLOG_MAX` (no real workbook has one)."""
    head = b""
    try:
        with archive.open(info) as part:
            while True:
                chunk = part.read(_XML_PROLOG)
                head += chunk
                prolog = _xml_prolog(head)
                if prolog is not None or not chunk:
                    break
                if len(head) >= _XML_PROLOG_MAX:
                    raise ImportProblem("xlsx_unsafe", detail=f"{info.filename} has an XML prolog over "
                                        f"{_XML_PROLOG_MAX // 1024} KB")
    except ImportProblem:
        raise
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError) as exc:
        raise ImportProblem("xlsx_unsafe", detail="it is not a valid zip file") from exc
    except Exception as exc:  # noqa: BLE001 - zlib.error and friends
        raise ImportProblem("xlsx_unsafe", detail="it is not a valid zip file") from exc
    lowered = (prolog if prolog is not None else _xml_text(head)).lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise ImportProblem("xlsx_unsafe", detail=f"{info.filename} declares a DTD or XML entities")


_XML_MISC_RE = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)


def _xml_text(head: bytes) -> str:
    """The start of an XML part as text (UTF-16 parts have a BOM; the rest is UTF-8 or ASCII-compatible)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head[: len(head) // 2 * 2].decode("utf-16", errors="ignore")
    return head.decode("utf-8", errors="ignore").removeprefix("\ufeff")


def _xml_prolog(head: bytes) -> str | None:
    """The text before the root element (declaration, comments, PIs, DOCTYPE), or None when `head`
    ends before the root element starts."""
    text = _xml_text(head)
    pos = 0
    while True:
        match = _XML_MISC_RE.match(text, pos)
        if match is None or match.end() == pos:
            break
        pos = match.end()
    rest = text[pos:]
    if rest.startswith(("<!--", "<?")) or len(rest) < 10:  # a comment or PI not finished yet: read on
        return None
    if rest.startswith("<!"):  # a DOCTYPE
        return text
    return text[:pos] if rest.startswith("<") else text


def _workbook_kind(archive: zipfile.ZipFile) -> None:
    """Raise not_a_table unless the zip is an Excel or OpenDocument spreadsheet."""
    names = set(archive.namelist())
    if {"xl/workbook.xml", "xl/workbook.bin"} & names:
        return
    if "content.xml" in names and "mimetype" in names:
        mimetype = archive.read("mimetype")[:100]
        if b"spreadsheet" in mimetype:
            return
        raise ImportProblem("not_a_table", looks_like="OpenDocument text or presentation")
    if "word/document.xml" in names:
        raise ImportProblem("not_a_table", looks_like="Word document")
    if "ppt/presentation.xml" in names:
        raise ImportProblem("not_a_table", looks_like="PowerPoint presentation")
    raise ImportProblem("not_a_table", looks_like="ZIP archive")


def _open_workbook(data: bytes, kind: str) -> fastexcel.ExcelReader:
    """Open with calamine (fastexcel); an OLE2 file that is no .xls is not a table."""
    if kind == "zip":
        _workbook_kind(_check_zip(data))
    elif _OLE_ENCRYPTED in data:
        raise ImportProblem("xlsx_encrypted")
    try:
        return fastexcel.read_excel(data)
    except Exception as exc:  # noqa: BLE001 - calamine errors have several types
        if kind == "ole":
            raise ImportProblem("not_a_table", looks_like="old Office document") from exc
        raise ImportProblem("unreadable", detail=str(exc)) from exc


def _read_workbook(data: bytes, kind: str, sheet: str | None) -> RawTable:
    """Read one sheet (the chosen one, or the first visible non-empty one) as strings."""
    reader = _open_workbook(data, kind)
    names = list(reader.sheet_names)
    if sheet is not None:
        name = _match_sheet(sheet, names)
        cells = _sheet_frame(reader, name)
        if cells is None:
            raise ImportProblem("empty_file", sheet=name)
    else:
        name, cells = _first_sheet(reader, names)
    sample = cells.head(_HEADER_SCAN * 4).rows()
    records: list[Record] = [(i + 1, list(row)) for i, row in enumerate(sample)]
    header = _find_header(records)
    width = max(1, _trimmed_width(header.cells))
    header.cells = header.cells[:width]
    rows = cells.slice(header.index + 1).select(cells.columns[:width])
    rows.columns = _column_names(width)
    lines = pl.int_range(header.line + 1, cells.height + 1, dtype=pl.Int64, eager=True)
    headers, frame, skipped = _finish(rows, lines, header.cells)
    return RawTable(
        headers=headers,
        frame=frame,
        skipped=skipped,
        encoding=WORKBOOK_ENCODING,
        delimiter=None,
        line_ending="",
        header_line=header.line,
        title_lines=header.titles,
        sheet=name,
        sheets=names,
    )


def _match_sheet(wanted: str, names: list[str]) -> str:
    """The sheet named `wanted` (exact, else the one case-insensitive match)."""
    if wanted in names:
        return wanted
    folded = [name for name in names if name.strip().casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise ImportProblem("sheet_not_found", sheet=wanted, sheets=", ".join(names))


def _first_sheet(reader: fastexcel.ExcelReader, names: list[str]) -> tuple[str, pl.DataFrame]:
    """The first visible sheet holding any value (hidden ones only when all visible are empty)."""
    hidden: list[str] = []
    for name in names:
        sheet = _load_sheet(reader, name)
        if sheet is None:
            continue
        if sheet.visible != "visible":
            hidden.append(name)
            continue
        cells = _sheet_frame(reader, name, sheet)
        if cells is not None:
            return name, cells
    for name in hidden:
        cells = _sheet_frame(reader, name)
        if cells is not None:
            return name, cells
    raise ImportProblem("empty_file")


def _load_sheet(reader: fastexcel.ExcelReader, name: str) -> fastexcel.ExcelSheet | None:
    """A sheet with every cell as text from row 1 on; None for sheets calamine cannot read."""
    try:
        return reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
    except Exception:  # noqa: BLE001 - chart sheets and the like
        return None


def _sheet_frame(
    reader: fastexcel.ExcelReader, name: str, sheet: fastexcel.ExcelSheet | None = None
) -> pl.DataFrame | None:
    """The sheet as String columns c0.. with Excel-like text; None when it holds no value."""
    sheet = sheet or _load_sheet(reader, name)
    if sheet is None or sheet.width == 0 or sheet.height == 0:
        return None
    frame = sheet.to_polars()
    frame.columns = _column_names(frame.width)
    frame = frame.with_columns([pl.col(column).cast(pl.String) for column in frame.columns])
    # a date cell's midnight and a time cell's 1899-12-30/31 go (as Excel shows them); the patterns are
    # sought only in the columns holding a cell they may match (a literal test first: of 100k deals' 16
    # columns, two; the xlsx import 1.72-1.81 -> 1.68-1.70 s with the blank test below)
    seen = frame.select([pl.col(c).str.ends_with(" 00:00:00").any().alias(f"m{c}") for c in frame.columns]
                        + [pl.col(c).str.starts_with("1899-12-3").any().alias(f"t{c}") for c in frame.columns]).row(0, named=True)
    midnight, times = [c for c in frame.columns if seen[f"m{c}"]], [c for c in frame.columns if seen[f"t{c}"]]
    if midnight:
        frame = frame.with_columns(pl.col(c).str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "${1}") for c in midnight)
    if times:
        frame = frame.with_columns(pl.col(c).str.replace(r"^1899-12-3[01] (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$", "${1}")
                                   for c in times)
    if _all_blank_cells(frame):
        return None
    return frame


def _all_blank_cells(frame: pl.DataFrame) -> bool:
    """True when every cell is null or whitespace (the first rows settle it for almost every sheet)."""
    for part in (frame.head(_HEADER_SCAN * 4), frame):
        if not part.select(pl.all_horizontal([_blank_cell(c) for c in part.columns])).to_series().all():
            return False
    return True


# ----------------------------------------------------------------------------- rows and columns


def _blank_cell(column: str) -> pl.Expr:
    """True when the cell is null or whitespace."""
    return pl.col(column).is_null() | pl.col(column).str.contains(r"^\s*$")


def _finish(
    rows: pl.DataFrame, lines: pl.Series, header_cells: Cells, empty_is_null: bool = False
) -> tuple[list[str], pl.DataFrame, list[tuple[int, str]]]:
    """Skip blank, repeated-header, subtotal and footer rows; name and prune the columns.

    Empty cells become null (`empty_is_null`: the caller knows that no cell is empty text)."""
    columns = rows.columns
    if not empty_is_null:
        rows = rows.with_columns([pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in columns])
    flags = _row_flags(rows, header_cells)
    reasons: dict[int, str] = {}
    for index in flags.filter(pl.col("blank"))["i"].to_list():
        reasons[index] = "blank"
    for index in flags.filter(pl.col("repeated") & ~pl.col("blank"))["i"].to_list():
        reasons[index] = "repeated_header"
    width = len(columns)
    for index in flags.filter(pl.col("total_label") & ~pl.col("blank") & ~pl.col("repeated"))["i"].to_list():
        if _is_subtotal(_values(rows.row(index)), width):
            reasons[index] = "subtotal"
    for index in _footer_rows(rows, flags, reasons, width):
        reasons[index] = "footer"
    kept = rows.with_columns(chunked_like(lines.cast(pl.Int64), rows.get_column(columns[0])).alias(LINE_COLUMN))
    skipped: list[tuple[int, str]] = []
    if reasons:
        line_list = lines.to_list()
        skipped = sorted((line_list[i], reason) for i, reason in reasons.items())
        keep = pl.Series("keep", [True] * rows.height, dtype=pl.Boolean).scatter(list(reasons), False)
        kept = kept.filter(keep)
    names = _header_names(header_cells)
    used = [
        (column, name)
        for column, name, cell in zip(columns, names, header_cells)
        if (cell is not None and cell.strip()) or not _all_blank(kept, column)
    ]
    frame = kept.select([pl.col(column).alias(name) for column, name in used] + [pl.col(LINE_COLUMN)])
    if frame.height == 0:
        raise ImportProblem("no_data_rows")
    return [name for _, name in used], frame, skipped


def chunked_like(values: pl.Series, like: pl.Series) -> pl.Series:
    """`values` cut into pieces of the lengths of `like`'s chunks (same values, no copy).

    polars' reader gives a big file in hundreds of chunks (read in parallel); a column of one chunk
    beside them makes every later select or filter first copy the whole table into one chunk."""
    if like.n_chunks() <= 1 or values.n_chunks() != 1:
        return values
    pieces, offset = [], 0
    for chunk in like.get_chunks():
        pieces.append(values.slice(offset, chunk.len()))
        offset += chunk.len()
    return pl.concat(pieces, rechunk=False)


def _all_blank(frame: pl.DataFrame, column: str) -> bool:
    """True when the column holds no value."""
    return bool(frame.select(_blank_cell(column).all()).item())


def _row_flags(rows: pl.DataFrame, header_cells: Cells) -> pl.DataFrame:
    """Per row (vectorised): blank, equal to the header, first value looks like a total label."""
    columns = rows.columns
    repeated = [
        (pl.col(c) == cell).fill_null(False) if cell is not None and cell.strip() else _blank_cell(c)
        for c, cell in zip(columns, header_cells)
    ]
    return rows.select(
        pl.int_range(0, pl.len(), dtype=pl.Int64).alias("i"),
        pl.all_horizontal([_blank_cell(c) for c in columns]).alias("blank"),
        pl.all_horizontal(repeated).alias("repeated"),
        pl.coalesce(columns).str.contains(_SUBTOTAL_PATTERN).fill_null(False).alias("total_label"),
    )


def _is_subtotal(values: list[str], width: int) -> bool:
    """A total label first; besides it few cells, or only numbers."""
    if not values or _SUBTOTAL_RE.match(values[0]) is None:
        return False
    others = values[1:]
    return len(others) <= max(1, (width - 1) // 2) or all(_is_value_like(value) for value in others)


def _footer_rows(rows: pl.DataFrame, flags: pl.DataFrame, reasons: dict[int, str], width: int) -> list[int]:
    """Footer rows in the trailing block (blank, subtotal and footer rows only) of the data.

    A "Grand Totals" row there is a footer rather than a subtotal.
    """
    tail = flags.filter(~pl.col("blank"))["i"].tail(_TAIL_ROWS).to_list()
    found: list[int] = []
    for index in reversed(tail):
        values = _values(rows.row(index))
        label = values[0] if values else ""
        few = len(values) - 1 <= max(1, (width - 1) // 2)
        if _FOOTER_RE.match(label) and (few or _GRAND_TOTAL_RE.match(label)):
            found.append(index)
        elif index not in reasons:
            break
    return found


def _header_names(cells: Iterable[str | None]) -> list[str]:
    """Clean header names: stripped, `column_<n>` for empty ones, " (2)" suffixes for duplicates."""
    used = {LINE_COLUMN}
    names: list[str] = []
    for position, cell in enumerate(cells, start=1):
        base = (cell or "").strip().strip("\ufeff\u200b").strip() or f"column_{position}"
        name, suffix = base, 2
        while name in used:
            name = f"{base} ({suffix})"
            suffix += 1
        used.add(name)
        names.append(name)
    return names

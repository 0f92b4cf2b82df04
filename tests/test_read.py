"""Tests of data/ingest/read.py: every case is generated in tmp_path, plus the real CRM files."""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
import zipfile
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.ingest.problems import PROBLEMS, ImportProblem
from data.ingest.read import LINE_COLUMN, RawTable, list_sheets, read_table

ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r", "CRCRLF": "\r\r\n"}
DELIMITERS = [",", ";", "\t", "|"]


# ----------------------------------------------------------------------------- helpers


def csv_text(rows: list[list[str]], delimiter: str = ",", ending: str = "\n") -> str:
    """Rows as CSV text (minimal quoting); line breaks inside cells use the file's line ending."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=ending, quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([cell.replace("\n", ending) for cell in row])
    return buffer.getvalue()


def write(tmp_path: Path, name: str, content: bytes | str, encoding: str = "utf-8") -> Path:
    """Write a file in tmp_path and return its path."""
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def problem(source: Path | bytes, **kwargs: object) -> ImportProblem:
    """The ImportProblem read_table raises (fails when it raises nothing or something else)."""
    with pytest.raises(ImportProblem) as info:
        read_table(source, **kwargs)  # type: ignore[arg-type]
    assert info.value.code in PROBLEMS
    return info.value


def cells(table: RawTable) -> list[list[str | None]]:
    """Data cells without the line column."""
    return [list(row) for row in table.frame.drop(LINE_COLUMN).rows()]


def lines(table: RawTable) -> list[int]:
    """__line of every kept row."""
    return table.frame[LINE_COLUMN].to_list()


def check_shape(table: RawTable) -> None:
    """Contract every table honours."""
    assert table.frame.columns == table.headers + [LINE_COLUMN]
    assert all(table.frame[name].dtype == pl.String for name in table.headers)
    assert table.frame[LINE_COLUMN].dtype == pl.Int64
    assert table.rows_read == table.frame.height + len(table.skipped)
    every = sorted(lines(table) + [line for line, _ in table.skipped])
    assert len(set(every)) == len(every)
    assert all(line > table.header_line for line in every)
    assert lines(table) == sorted(lines(table))


def workbook(tmp_path: Path, name: str, build) -> Path:  # type: ignore[no-untyped-def]
    """An .xlsx written by xlsxwriter; `build(workbook)` adds the sheets."""
    path = tmp_path / name
    book = xlsxwriter.Workbook(str(path))
    build(book)
    book.close()
    return path


# ----------------------------------------------------------------------------- encodings

CHINESE = [
    ["商机名称", "客户名称", "负责人", "商机金额"],
    ["华为年度采购", "华为技术有限公司", "张伟", "120000"],
    ["阿里云续约", "阿里巴巴集团", "李娜", "88000.50"],
    ["企业微信集成", "深圳市腾讯计算机系统有限公司", "王芳", "56000"],
]
WESTERN = [
    ["Kunde", "Straße", "Betrag", "Notiz"],
    ["Müller GmbH", "Königsallee 5", "€ 1.000", "Café naïve"],
    ["Jürgen Groß", "Hauptstraße 1", "2500", "déjà vu"],
]


@pytest.mark.parametrize(
    ("encoding", "rows", "expected"),
    [
        ("utf-8", CHINESE, "utf-8"),
        ("utf-8-sig", WESTERN, "utf-8-sig"),
        ("utf-16", CHINESE, "utf-16"),
        ("utf-16", WESTERN, "utf-16"),
        ("gbk", CHINESE, "gb18030"),
        ("gb18030", CHINESE, "gb18030"),
        ("cp1252", WESTERN, "cp1252"),
    ],
)
def test_encodings(tmp_path: Path, encoding: str, rows: list[list[str]], expected: str) -> None:
    path = write(tmp_path, "deals.csv", csv_text(rows, ending="\r\n"), encoding)
    table = read_table(path)
    assert table.encoding == expected
    assert table.headers == rows[0]
    assert cells(table) == rows[1:]
    assert lines(table) == list(range(2, len(rows) + 1))
    check_shape(table)


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_and_without_bom(tmp_path: Path, codec: str) -> None:
    text = csv_text(WESTERN)
    bom = b"\xff\xfe" if codec.endswith("le") else b"\xfe\xff"
    for name, content in (("bom.csv", bom + text.encode(codec)), ("nobom.csv", text.encode(codec))):
        table = read_table(write(tmp_path, name, content))
        assert table.encoding == "utf-16"
        assert table.headers == WESTERN[0]
        assert cells(table) == WESTERN[1:]


def test_gbk_headers_are_chinese(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "crm.csv", csv_text(CHINESE), "gbk"))
    assert table.headers == ["商机名称", "客户名称", "负责人", "商机金额"]
    assert table.frame["负责人"].to_list() == ["张伟", "李娜", "王芳"]


def test_cp1252_mueller(tmp_path: Path) -> None:
    text = "Name,City,Amount\nMüller,Köln,€ 100\nJosé,São Paulo,50\n"
    table = read_table(write(tmp_path, "w.csv", text, "cp1252"))
    assert table.encoding == "cp1252"
    assert table.frame["Name"].to_list() == ["Müller", "José"]
    assert table.frame["Amount"].to_list() == ["€ 100", "50"]


def test_utf8_with_a_few_invalid_bytes_is_read_lossily(tmp_path: Path) -> None:
    good = "Name,City\nMüller,Köln\nJosé,São Paulo\nZoë,Zürich\n".encode()
    broken = good + b"Bad\xff name,Paris\n"
    table = read_table(write(tmp_path, "lossy.csv", broken))
    assert table.encoding == "utf-8"
    assert table.decode_errors == 1
    assert table.frame["Name"].to_list() == ["Müller", "José", "Zoë", "Bad\ufffd name"]
    assert table.frame["City"].to_list()[:2] == ["Köln", "São Paulo"]


# ----------------------------------------------------------------------------- delimiters and line endings


@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_each_delimiter(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["id", "name", "profile", "amount"],
        ["00123", f"Acme{delimiter} Inc", "cat, wolf", "1,5"],
        ["7", 'Say "hi"', "shark", "2,5"],
    ]
    table = read_table(write(tmp_path, "d.csv", csv_text(rows, delimiter)))
    assert table.delimiter == delimiter
    assert table.headers == rows[0]
    assert cells(table) == rows[1:]


def test_semicolon_with_decimal_commas_in_every_cell(tmp_path: Path) -> None:
    text = "a;b;c\n1,5;2,5;3,5\n4,5;5,5;6,5\n7,5;8,5;9,5\n"
    table = read_table(write(tmp_path, "dec.csv", text))
    assert table.delimiter == ";"
    assert table.frame["b"].to_list() == ["2,5", "5,5", "8,5"]


@pytest.mark.parametrize("label", list(ENDINGS))
def test_each_line_ending_with_multiline_cell_and_blank_line(tmp_path: Path, label: str) -> None:
    eol = ENDINGS[label]
    text = "\n".join(["id,note,amount", '1,"first\nsecond",10', "", '2,"x ""quoted""",20', "3,plain,30", ""])
    text = text.replace("\n", eol)
    table = read_table(write(tmp_path, "e.csv", text))
    assert table.line_ending == label
    assert cells(table) == [["1", "first\nsecond", "10"], ["2", 'x "quoted"', "20"], ["3", "plain", "30"]]
    assert lines(table) == [2, 5, 6]
    assert table.skipped == [(4, "blank")]
    check_shape(table)


def test_no_final_newline(tmp_path: Path) -> None:
    for eol in ENDINGS.values():
        table = read_table(write(tmp_path, "n.csv", f"a,b{eol}1,2{eol}3,4"))
        assert cells(table) == [["1", "2"], ["3", "4"]]
        assert lines(table) == [2, 3]


def test_crlf_inside_quoted_cell_becomes_lf(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "c.csv", 'a,b\r\n"x\r\ny",z\r\nq,r\r\n'))
    assert table.line_ending == "CRLF"
    assert cells(table) == [["x\ny", "z"], ["q", "r"]]
    assert lines(table) == [2, 4]


# ----------------------------------------------------------------------------- header, titles, footers


def test_bom_and_leading_space_headers_are_stripped(tmp_path: Path) -> None:
    text = "\ufeffOpportunityName, CloseDate, Amount\nA, 2015-09-26, 32400\n"
    table = read_table(write(tmp_path, "h.csv", text))
    assert table.encoding == "utf-8-sig"
    assert table.headers == ["OpportunityName", "CloseDate", "Amount"]
    assert cells(table) == [["A", " 2015-09-26", " 32400"]]


def test_title_rows_above_header(tmp_path: Path) -> None:
    text = (
        "Opportunity Pipeline Report,,,\n"
        "Report generated 2024-05-31,,,\n"
        "Filtered By:,Stage equals Closed Won,,\n"
        ",,,\n"
        "\n"
        "Opportunity Name,Account Name,Amount,Close Date\n"
        "Big deal,Acme,1000,2024-05-01\n"
        "Small deal,Globex,10,2024-05-02\n"
    )
    table = read_table(write(tmp_path, "t.csv", text))
    assert table.header_line == 6
    assert table.title_lines == [
        "Opportunity Pipeline Report",
        "Report generated 2024-05-31",
        "Filtered By: Stage equals Closed Won",
    ]
    assert table.headers == ["Opportunity Name", "Account Name", "Amount", "Close Date"]
    assert lines(table) == [7, 8]
    assert table.skipped == []


def test_single_cell_title_lines_and_quoted_multiline_title(tmp_path: Path) -> None:
    text = '"Sales report\nQ2"\nAs of 2024-05-31\n\nname,amount\nA,1\n'
    table = read_table(write(tmp_path, "t.csv", text))
    assert table.header_line == 5
    assert table.title_lines == ["Sales report\nQ2", "As of 2024-05-31"]
    assert lines(table) == [6]


def test_salesforce_footer(tmp_path: Path) -> None:
    text = (
        '"Opportunity Name","Amount","Stage"\n'
        '"Acme - 100 units","1000","Closed Won"\n'
        '"Globex renewal","2000","Prospecting"\n'
        '"Initech","3000","Closed Lost"\n'
        "\n"
        '"Grand Totals (3 records)","6000",""\n'
        "\n"
        '"Confidential Information - Do Not Distribute"\n'
        "\n"
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
    )
    table = read_table(write(tmp_path, "sf.csv", text))
    assert table.frame.height == 3
    assert table.skipped == [(5, "blank"), (6, "footer"), (7, "blank"), (8, "footer"), (9, "blank"), (10, "footer")]
    assert table.rows_read == 9


def test_subtotal_rows_in_many_languages(tmp_path: Path) -> None:
    rows = [
        ["Deal", "Owner", "Amount", "Stage"],
        ["A", "Ann", "10", "Won"],
        ["Subtotal", "", "10", ""],
        ["Total Solutions Inc", "Bob", "20", "Won"],
        ["Ann Total", "", "30", ""],
        ["Ara Toplam", "", "30", ""],
        ["B", "Can", "5", "Lost"],
        ["合计", "", "35", ""],
        ["Toplam:", "", "35", ""],
        ["Total", "", "35", ""],
    ]
    table = read_table(write(tmp_path, "s.csv", csv_text(rows)))
    assert table.frame["Deal"].to_list() == ["A", "Total Solutions Inc", "B"]
    assert table.skipped == [(line, "subtotal") for line in (3, 5, 6, 8, 9, 10)]


def test_chinese_totals(tmp_path: Path) -> None:
    rows = CHINESE + [["总计", "", "", "264000.50"], ["小计", "", "", "1"]]
    table = read_table(write(tmp_path, "zh.csv", csv_text(rows), "gbk"))
    assert table.frame.height == 3
    assert [reason for _, reason in table.skipped] == ["subtotal", "subtotal"]


def test_repeated_header_blank_and_delimiter_only_rows(tmp_path: Path) -> None:
    text = "id,name,amount\n1,a,10\n,,\n  , ,\t\nid,name,amount\n\n2,b,20\n,,,,\n"
    table = read_table(write(tmp_path, "r.csv", text))
    assert cells(table) == [["1", "a", "10"], ["2", "b", "20"]]
    assert lines(table) == [2, 7]
    assert table.skipped == [(3, "blank"), (4, "blank"), (5, "repeated_header"), (6, "blank"), (8, "blank")]


def test_header_heuristic_edge_cases(tmp_path: Path) -> None:
    titled = read_table(b"Report generated 31 May, 2024\nName,Amount,Stage\nA,1,Won\nB,2,Lost\n")
    assert (titled.header_line, titled.title_lines) == (2, ["Report generated 31 May 2024"])
    pivot = read_table(b"Owner,2023,2024\nAnn,100,200\nBob,300,400\n")
    assert (pivot.header_line, pivot.headers) == (1, ["Owner", "2023", "2024"])
    wider = read_table(b"a,b\n1,2,3\n4,5,6\n")
    assert (wider.headers, cells(wider)) == (["a", "b"], [["1", "2"], ["4", "5"]])
    single = read_table(b"email\na@b.com\nc@d.com\n")
    assert (single.headers, single.frame.height) == (["email"], 2)


def test_excel_sep_hint_line(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "sep.csv", "sep=;\r\nName;Amount\r\nA;1,5\r\nB;2,5\r\n"))
    assert (table.delimiter, table.header_line, table.title_lines) == (";", 2, [])
    assert cells(table) == [["A", "1,5"], ["B", "2,5"]]
    assert lines(table) == [3, 4]


# ----------------------------------------------------------------------------- cells


def test_embedded_newlines_give_exact_line_numbers(tmp_path: Path) -> None:
    text = (
        "id,description,profile\n"
        '1,"line one\nline two\nline three","cat, wolf"\n'
        '2,"He said ""hi""",shark\n'
        '3,"\n\nstarts with blank lines",eagle\n'
        "4,last,cat\n"
    )
    table = read_table(write(tmp_path, "m.csv", text))
    assert lines(table) == [2, 5, 6, 9]
    assert table.frame["description"].to_list() == [
        "line one\nline two\nline three",
        'He said "hi"',
        "\n\nstarts with blank lines",
        "last",
    ]
    assert table.frame["profile"][0] == "cat, wolf"


def test_ragged_rows_pad_and_truncate_without_shifting(tmp_path: Path) -> None:
    text = "a,b,c\n1,2,3\n4,5\n6\n7,8,9,10,11\n12,13,14\n"
    table = read_table(write(tmp_path, "rag.csv", text))
    assert cells(table) == [["1", "2", "3"], ["4", "5", None], ["6", None, None], ["7", "8", "9"], ["12", "13", "14"]]
    assert lines(table) == [2, 3, 4, 5, 6]


def test_leading_zero_ids_and_no_type_guessing(tmp_path: Path) -> None:
    text = "id,zip,amount,date,flag\n00123,01040,1.50,2024-05-31,TRUE\n007,99999,2,31/05/2024,false\n"
    table = read_table(write(tmp_path, "z.csv", text))
    assert table.frame["id"].to_list() == ["00123", "007"]
    assert table.frame["zip"].to_list() == ["01040", "99999"]
    assert table.frame["amount"].to_list() == ["1.50", "2"]


def test_duplicate_and_empty_headers(tmp_path: Path) -> None:
    text = "Name,,Name,Amount,Name (2),,\nA,x,B,1,C,,\nD,y,E,2,F,,\n"
    table = read_table(write(tmp_path, "dup.csv", text))
    assert table.headers == ["Name", "column_2", "Name (2)", "Amount", "Name (2) (2)"]
    assert cells(table) == [["A", "x", "B", "1", "C"], ["D", "y", "E", "2", "F"]]


def test_unnamed_index_column_and_reserved_name(tmp_path: Path) -> None:
    text = ",__line,amount\n0,a,1\n1,b,2\n"
    table = read_table(write(tmp_path, "idx.csv", text))
    assert table.headers == ["column_1", "__line (2)", "amount"]
    assert table.frame["column_1"].to_list() == ["0", "1"]


def test_unbalanced_quotes_do_not_crash(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "q1.csv", 'a,b,c\n1,"x"y,2\n3,5" monitor,4\n'))
    assert cells(table) == [["1", "xy", "2"], ["3", '5" monitor', "4"]]
    assert lines(table) == [2, 3]
    table = read_table(write(tmp_path, "q2.csv", 'a,b,c\n1,2,3\n4,"never closed,5\n6,7,8\n'))
    assert cells(table)[0] == ["1", "2", "3"]
    assert table.rows_read >= 2
    check_shape(table)


def test_whitespace_cells_are_kept_and_empty_cells_are_null(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "w.csv", 'a,b,c\n x ,"",  \n'))
    assert cells(table) == [[" x ", None, "  "]]


# ----------------------------------------------------------------------------- file-level problems


def test_empty_and_header_only_files(tmp_path: Path) -> None:
    assert problem(write(tmp_path, "e.csv", b"")).code == "empty_file"
    assert problem(write(tmp_path, "ws.csv", "\ufeff \n\n,,,\n")).code == "empty_file"
    assert problem(write(tmp_path, "h.csv", "a,b,c\n")).code == "no_data_rows"
    assert problem(write(tmp_path, "h2.csv", "a,b,c")).code == "no_data_rows"
    assert problem(write(tmp_path, "h3.csv", "a,b,c\n,,\n\n")).code == "no_data_rows"


def test_no_header(tmp_path: Path) -> None:
    found = problem(write(tmp_path, "n.csv", "1\n2\n3\n"))
    assert found.code == "no_header"
    assert "rows" in found.params


@pytest.mark.parametrize(
    ("content", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "PNG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG image"),
        (b"<!DOCTYPE html><html><body><table></table></body></html>", "HTML page"),
        (b"\x00\x01\x02\x03binary\x00stuff\xff" * 10, "binary file"),
    ],
)
def test_not_a_table(tmp_path: Path, content: bytes, looks_like: str) -> None:
    found = problem(write(tmp_path, "renamed.csv", content))
    assert found.code == "not_a_table"
    assert found.params["looks_like"] == looks_like
    assert found.params["file"] == "renamed.csv"


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("export.csv", "a,b\n1,2\n")
    found = problem(write(tmp_path, "export.csv", buffer.getvalue()))
    assert (found.code, found.params["looks_like"]) == ("not_a_table", "ZIP archive")
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    assert problem(docx.getvalue()).params["looks_like"] == "Word document"


def test_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", "a,b\n" + "1,2\n" * 1000)
    found = problem(path, max_bytes=1000)
    assert found.code == "too_large"
    assert found.params["limit_mb"] > 0
    assert problem(path.read_bytes(), max_bytes=1000).code == "too_large"


def test_missing_path_is_unreadable(tmp_path: Path) -> None:
    assert problem(tmp_path / "nope.csv").code == "unreadable"


def test_sources_bytes_and_file_objects(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n"
    assert cells(read_table(data)) == [["1", "2"]]
    assert cells(read_table(io.BytesIO(data))) == [["1", "2"]]
    assert cells(read_table(str(write(tmp_path, "s.csv", data)))) == [["1", "2"]]
    assert list_sheets(data) == []


# ----------------------------------------------------------------------------- Excel


def _deals_sheets(book: xlsxwriter.Workbook) -> None:
    """An empty first sheet, a deals sheet with a title block, a second data sheet."""
    book.add_worksheet("Empty")
    sheet = book.add_worksheet("Deals")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write(0, 0, "Opportunity Report")
    sheet.write(1, 0, "As of 2024-05-31")
    sheet.write_row(3, 0, ["Id", "Name", "Amount", "Close Date", "Updated", "Won", "Double"])
    sheet.write_string(4, 0, "00123")
    sheet.write_string(4, 1, "Müller")
    sheet.write_number(4, 2, 123)
    sheet.write_datetime(4, 3, dt.datetime(2024, 5, 31), date)
    sheet.write_datetime(4, 4, dt.datetime(2024, 5, 31, 13, 45, 10), stamp)
    sheet.write_boolean(4, 5, True)
    sheet.write_formula(4, 6, "=C5*2", None, 246)
    sheet.write_row(6, 0, ["7", "Zoë", 1234.5])
    sheet.write_row(7, 0, ["Total", None, 1357.5])
    other = book.add_worksheet("Reps")
    other.write_row(0, 0, ["Rep", "Team"])
    other.write_row(1, 0, ["Ann", "East"])
    header_only = book.add_worksheet("HeaderOnly")
    header_only.write_row(0, 0, ["a", "b"])


def test_xlsx_first_non_empty_sheet(tmp_path: Path) -> None:
    path = workbook(tmp_path, "deals.xlsx", _deals_sheets)
    table = read_table(path)
    assert table.sheet == "Deals"
    assert table.sheets == ["Empty", "Deals", "Reps", "HeaderOnly"]
    assert (table.encoding, table.delimiter, table.line_ending) == ("xlsx", None, "")
    assert table.header_line == 4
    assert table.title_lines == ["Opportunity Report", "As of 2024-05-31"]
    assert table.headers == ["Id", "Name", "Amount", "Close Date", "Updated", "Won", "Double"]
    assert table.frame.row(0) == ("00123", "Müller", "123", "2024-05-31", "2024-05-31 13:45:10", "true", "246", 5)
    assert table.frame.row(1)[:3] == ("7", "Zoë", "1234.5")
    assert lines(table) == [5, 7]
    assert table.skipped == [(6, "blank"), (8, "subtotal")]
    check_shape(table)


def test_xlsx_chosen_sheet_and_list_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path, "deals.xlsx", _deals_sheets)
    assert list_sheets(path) == ["Empty", "Deals", "Reps", "HeaderOnly"]
    table = read_table(path, sheet="Reps")
    assert (table.sheet, table.headers, cells(table)) == ("Reps", ["Rep", "Team"], [["Ann", "East"]])
    assert read_table(path, sheet="reps").sheet == "Reps"
    found = problem(path, sheet="Nope")
    assert found.code == "sheet_not_found"
    assert "Deals" in found.params["sheets"]
    assert problem(path, sheet="HeaderOnly").code == "no_data_rows"
    assert problem(path, sheet="Empty").code == "empty_file"


def test_xlsx_header_only(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        book.add_worksheet("S").write_row(0, 0, ["Deal", "Amount"])

    assert problem(workbook(tmp_path, "h.xlsx", build)).code == "no_data_rows"


def test_xlsx_detected_by_content_not_name(tmp_path: Path) -> None:
    source = workbook(tmp_path, "deals.xlsx", _deals_sheets)
    renamed = write(tmp_path, "really_excel.csv", source.read_bytes())
    table = read_table(renamed)
    assert table.encoding == "xlsx"
    assert table.frame.height == 2
    assert read_table(source.read_bytes()).sheet == "Deals"


def test_xlsx_formula_cached_value_and_numbers(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("F")
        sheet.write_row(0, 0, ["qty", "price", "total", "ratio", "phone"])
        sheet.write_row(1, 0, [3, 2.5])
        sheet.write_formula(1, 2, "=A2*B2", None, 7.5)
        sheet.write_formula(1, 3, "=A2/3", None, 1)
        sheet.write_number(1, 4, 4915112345678)

    table = read_table(workbook(tmp_path, "f.xlsx", build))
    assert cells(table) == [["3", "2.5", "7.5", "1", "4915112345678"]]


def test_xlsx_formatted_report_with_footer(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("Report")
        sheet.write(0, 1, "Closed Won Opportunities")
        sheet.write(1, 1, "Filtered By:")
        sheet.write(1, 2, "Stage equals Closed Won")
        sheet.write_row(4, 1, ["Opportunity Owner", "Account Name", "Amount", "Close Date"])
        sheet.write_row(5, 1, ["Ann", "Acme", 1000, "2024-05-01"])
        sheet.write_row(6, 1, ["Bob", "Globex", 2000, "2024-05-02"])
        sheet.write_row(7, 1, ["Grand Totals (2 records)", None, 3000])
        sheet.write(9, 1, "Confidential Information - Do Not Distribute")
        sheet.write(10, 1, "Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.")

    table = read_table(workbook(tmp_path, "report.xlsx", build))
    assert table.header_line == 5
    assert table.title_lines == ["Closed Won Opportunities", "Filtered By: Stage equals Closed Won"]
    assert table.headers == ["Opportunity Owner", "Account Name", "Amount", "Close Date"]
    assert cells(table) == [["Ann", "Acme", "1000", "2024-05-01"], ["Bob", "Globex", "2000", "2024-05-02"]]
    assert table.skipped == [(8, "footer"), (9, "blank"), (10, "footer"), (11, "footer")]


def test_xlsx_hidden_sheet_is_not_the_default(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        hidden = book.add_worksheet("Lookup")
        hidden.write_row(0, 0, ["code", "label"])
        hidden.write_row(1, 0, ["x", "y"])
        shown = book.add_worksheet("Deals")
        shown.write_row(0, 0, ["deal", "amount"])
        shown.write_row(1, 0, ["A", 5])
        shown.activate()
        hidden.hide()

    path = workbook(tmp_path, "hidden.xlsx", build)
    assert read_table(path).sheet == "Deals"
    assert read_table(path, sheet="Lookup").headers == ["code", "label"]


def test_zip_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        chunk = b"\0" * (1 << 20)
        with archive.open("xl/worksheets/sheet1.xml", "w") as entry:
            for _ in range(300):
                entry.write(chunk)
    assert path.stat().st_size < 2 * 1024 * 1024
    found = problem(path)
    assert found.code == "xlsx_unsafe"
    assert "zip bomb" in found.params["detail"]
    assert problem(path.read_bytes()).code == "xlsx_unsafe"


def test_xml_bomb_is_refused(tmp_path: Path) -> None:
    def build(book: xlsxwriter.Workbook) -> None:
        sheet = book.add_worksheet("S")
        sheet.write_row(0, 0, ["a", "b"])
        sheet.write_row(1, 0, ["1", "2"])

    source = workbook(tmp_path, "ok.xlsx", build)
    bomb_xml = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    target = tmp_path / "xmlbomb.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in original.infolist():
            data = bomb_xml.encode() if info.filename == "xl/worksheets/sheet1.xml" else original.read(info)
            out.writestr(info.filename, data)
    found = problem(target)
    assert found.code == "xlsx_unsafe"
    assert "sheet1.xml" in found.params["detail"]


def test_broken_zip_and_encrypted_workbook(tmp_path: Path) -> None:
    assert problem(write(tmp_path, "broken.xlsx", b"PK\x03\x04" + b"\x00garbage" * 20)).code == "xlsx_unsafe"
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 100
    assert problem(write(tmp_path, "locked.xlsx", ole)).code == "xlsx_encrypted"
    ole_other = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600
    assert problem(write(tmp_path, "old.doc", ole_other)).code == "not_a_table"


# ----------------------------------------------------------------------------- properties

ASCII_WORDS = ["Acme", "deal", "x", "42", "00123", "won", "  pad ", "Q2", "a'b"]
WORDS = {
    "utf-8": ASCII_WORDS + ["Müller", "商机", "€", "🙂", "naïve", "Zoë", "\u00a0"],
    "utf-8-sig": ASCII_WORDS + ["Müller", "São", "客户"],
    "utf-16": ASCII_WORDS + ["Größe", "负责人", "🙂"],
    "gb18030": ASCII_WORDS + ["华为", "张伟", "客户名称", "商机金额"],
    "cp1252": ASCII_WORDS + ["Müller", "Straße", "Café", "€", "Zoë", "François"],
}
HEADER_WORDS = {
    "utf-8": ["Name", "Owner", "Amount", "Stage", "Close", "Notes"],
    "utf-8-sig": ["Name", "Owner", "Amount", "Stage", "Close", "Notes"],
    "utf-16": ["Name", "Owner", "Amount", "Stage", "Close", "Notes"],
    "gb18030": ["商机名称", "客户名称", "负责人", "商机金额", "阶段", "备注"],
    "cp1252": ["Kunde Müller", "Straße", "Café Preis", "Größe", "Zoë", "Notiz"],
}


@st.composite
def random_tables(draw: st.DrawFn) -> tuple[str, str, str, list[str], list[list[str]]]:
    """An encoding, delimiter, line ending, header and rows of realistic awkward cells."""
    encoding = draw(st.sampled_from(list(WORDS)))
    delimiter = draw(st.sampled_from(DELIMITERS))
    ending = draw(st.sampled_from(list(ENDINGS)))
    width = draw(st.integers(2, 6))
    header = HEADER_WORDS[encoding][:width]
    token = st.sampled_from(WORDS[encoding] + [delimiter, '"', "\n", ""])
    cell = st.lists(token, max_size=4).map(" ".join)
    count = draw(st.integers(1, 12))
    rows = [[f"R{i} {draw(cell)}"] + [draw(cell) for _ in range(width - 1)] for i in range(count)]
    return encoding, delimiter, ending, header, rows


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=random_tables())
def test_property_round_trip(tmp_path: Path, case: tuple[str, str, str, list[str], list[list[str]]]) -> None:
    encoding, delimiter, ending, header, rows = case
    text = csv_text([header] + rows, delimiter, ENDINGS[ending])
    table = read_table(text.encode(encoding))
    assert table.delimiter == delimiter
    assert table.line_ending == ending
    assert table.encoding == encoding
    assert table.headers == [h.strip() for h in header]
    assert cells(table) == [[value or None for value in row] for row in rows]
    starts, line = [], 2
    for row in rows:
        starts.append(line)
        line += 1 + sum(value.count("\n") for value in row)
    assert lines(table) == starts
    assert table.skipped == []
    check_shape(table)


MESSY_LINES = st.lists(
    st.sampled_from(
        ["id,name,amount", "1,a,10", '2,"b, c",20', '3,"multi', 'line",30', ",,", "", "   ", "Total,,60",
         "Grand Totals (3 records)", 'x,"y""z",1', "4;5;6", "7,8,9,10,11", '"', "id,name,amount", "合计,,1"]
    ),
    min_size=0,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(body=MESSY_LINES, ending=st.sampled_from(list(ENDINGS.values())), final=st.booleans())
def test_property_messy_files_keep_exact_accounting(body: list[str], ending: str, final: bool) -> None:
    text = ending.join(["id,name,amount"] + body) + (ending if final else "")
    try:
        table = read_table(text.encode())
    except ImportProblem as found:
        assert found.code in {"no_data_rows", "empty_file", "no_header"}
        return
    check_shape(table)
    physical = 1 + len(body)
    assert all(line <= physical for line in lines(table) + [line for line, _ in table.skipped])


FUZZ_TOKENS = st.sampled_from(
    list(',;\t|"\n\r \'abc01é中\x00\ufeff') + ["Total", "\r\n", '""', "sep=;", "PK\x03\x04", "Grand Totals (1 records)"]
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(FUZZ_TOKENS, max_size=80).map("".join).map(lambda text: text.encode("utf-8", "surrogatepass")),
    )
)
def test_property_garbage_never_escapes_as_raw_exception(data: bytes) -> None:
    try:
        table = read_table(data)
    except ImportProblem as found:
        assert found.code in {"empty_file", "no_header", "no_data_rows", "not_a_table", "xlsx_unsafe"}
        return
    check_shape(table)


def test_list_sheets_refuses_non_tables(tmp_path: Path) -> None:
    with pytest.raises(ImportProblem) as info:
        list_sheets(write(tmp_path, "image.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64))
    assert info.value.code == "not_a_table"


# ----------------------------------------------------------------------------- real files

REAL_COUNTS = {
    "ecommerce_sales_targets/List of Orders.csv": (500, 60),
    "ecommerce_sales_targets/Order Details.csv": (1500, 0),
    "ecommerce_sales_targets/Sales target.csv": (36, 0),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/List of Orders.csv": (500, 0),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/Order Details.csv": (1500, 0),
    "ecommerce_sales_targets/variant_dirty_nikkimittal/Sales target.csv": (36, 0),
    "olist_marketing_funnel/olist_marketing_qualified_leads_dataset.csv": (8000, 0),
    "olist_marketing_funnel/olist_closed_deals_dataset.csv": (842, 0),
    "olist_marketing_funnel/olist_sellers_dataset.csv": (3095, 0),
    "olist_marketing_funnel/variant_excel_dmy/olist_marketing_qualified_leads_dataset.csv": (8000, 0),
    "olist_marketing_funnel/variant_excel_dmy/olist_closed_deals_dataset.csv": (842, 0),
    "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_qualified_leads_dataset.csv": (8000, 0),
    "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_closed_deals_dataset.csv": (842, 0),
    "olist_marketing_funnel/variant_excel_us_trimmed/olist_marketing_qualified_leads_dataset.csv": (8000, 0),
    "olist_marketing_funnel/variant_excel_us_trimmed/olist_closed_deals_dataset.csv": (380, 0),
    "salesforce_dtc_sample/DTC_Opportunity.csv": (1999, 0),
    "salesforce_dtc_sample/DTC_OpportunityHistory.csv": (387, 0),
    "salesforce_dtc_sample/DTC_OpportunityLineItem.csv": (3999, 0),
    "salesforce_dtc_sample/DTC_Account.csv": (1001, 0),
    "salesforce_dtc_sample/DTC_Task.csv": (1999, 0),
    "salesforce_dtc_sample/DTC_Event.csv": (1999, 0),
    "salesforce_dtc_sample/DTC_Telephony.csv": (1838, 0),
    "salesforce_dtc_sample/DTC_Product2.csv": (17, 0),
    "salesforce_dtc_sample/DTC_PriceBookEntry.csv": (17, 0),
    "superstore/Sample - Superstore.csv": (9994, 0),
    "superstore/variant_tableau_2020/Sample - Superstore.csv": (10194, 0),
}


@pytest.mark.parametrize("relative", sorted(REAL_COUNTS))
def test_real_files_row_counts(realdata: Path, relative: str) -> None:
    path = realdata / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in {realdata}")
    table = read_table(path)
    rows, skipped = REAL_COUNTS[relative]
    assert (table.frame.height, len(table.skipped)) == (rows, skipped)
    assert table.header_line == 1
    assert table.title_lines == []
    check_shape(table)


def test_every_real_csv_reads(realdata: Path) -> None:
    files = sorted(realdata.rglob("*.csv"))
    assert files
    for path in files:
        table = read_table(path)
        check_shape(table)
        assert table.frame.height > 0, path


def test_real_list_of_orders_blank_tail(realdata: Path) -> None:
    table = read_table(realdata / "ecommerce_sales_targets/List of Orders.csv")
    assert table.line_ending == "CRLF"
    assert table.skipped == [(line, "blank") for line in range(502, 562)]
    assert lines(table)[-1] == 501
    assert table.rows_read == 560


def test_real_opportunity_history_header_space(realdata: Path) -> None:
    table = read_table(realdata / "salesforce_dtc_sample/DTC_OpportunityHistory.csv")
    assert table.headers[:3] == ["OpportunityName", "CloseDate", "Amount"]
    assert " CloseDate" not in table.headers


def test_real_semicolon_bom_variant(realdata: Path) -> None:
    table = read_table(
        realdata / "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_closed_deals_dataset.csv"
    )
    assert (table.encoding, table.delimiter, table.line_ending) == ("utf-8-sig", ";", "CRLF")
    assert table.headers[:7] == ["mql_id", "seller_id", "sdr_id", "sr_id", "won_date", "business segment", "lead type"]
    assert len(table.headers) == 14
    assert table.frame["won_date"][0] == "2018.02.26 19:58"
    leads = read_table(
        realdata / "olist_marketing_funnel/variant_excel_semicolon_bom/olist_marketing_qualified_leads_dataset.csv"
    )
    assert leads.headers == ["mql_id", "first_contact_date", "landing_page_id", "origin"]


def test_real_olist_details(realdata: Path) -> None:
    deals = read_table(realdata / "olist_marketing_funnel/olist_closed_deals_dataset.csv")
    assert "cat, wolf" in deals.frame["lead_behaviour_profile"].to_list()
    sellers = read_table(realdata / "olist_marketing_funnel/olist_sellers_dataset.csv")
    assert sellers.frame["seller_zip_code_prefix"].str.starts_with("0").sum() == 1027


def test_real_superstore_details(realdata: Path) -> None:
    classic = read_table(realdata / "superstore/Sample - Superstore.csv")
    assert classic.headers[0] == "Row ID"
    assert classic.frame["Postal Code"].null_count() == 11
    assert classic.frame["Product Name"].str.contains("\u00a0", literal=True).any()
    variant = read_table(realdata / "superstore/variant_tableau_2020/Sample - Superstore.csv")
    assert "Country/Region" in variant.headers
    assert lines(variant)[-1] == 10195
    assert "01040" in variant.frame["Postal Code"].to_list()


def test_real_account_crlf_without_final_newline(realdata: Path) -> None:
    table = read_table(realdata / "salesforce_dtc_sample/DTC_Account.csv")
    assert table.line_ending == "CRLF"
    assert lines(table)[-1] == 1002


# ----------------------------------------------------------------------------- speed


@pytest.mark.slow
def test_one_million_rows_read_fast(tmp_path: Path) -> None:
    count = 1_000_000
    index = pl.int_range(0, count, eager=True)
    frame = pl.DataFrame({f"col{i}": index.cast(pl.String) + f"_v{i}" for i in range(10)}).with_columns(
        amount=(index * 1.37).cast(pl.String),
        close_date=pl.lit("2024-05-31"),
        account=pl.lit('Müller, "Hans"'),
        id=pl.lit("00123"),
        stage=pl.lit("Closed Won"),
    )
    path = tmp_path / "big.csv"
    frame.write_csv(path)
    started = time.perf_counter()
    table = read_table(path)
    elapsed = time.perf_counter() - started
    print(f"\n1,000,000 rows x 15 columns ({path.stat().st_size / 1e6:.0f} MB) read in {elapsed:.2f} s")
    assert table.frame.height == count
    assert table.frame["account"][0] == 'Müller, "Hans"'
    assert table.frame[LINE_COLUMN][-1] == count + 1
    assert elapsed < 15


def test_xlsx_dates_and_times_read_as_excel_shows_them(tmp_path: Path) -> None:
    """A date cell without a time reads as its day, a time cell as its time (not 1899-12-30 ...), a
    datetime as both; text cells are left alone; the patterns are sought in every column that has one,
    down to the last row; a sheet of blank cells (spaces included) is no data."""
    def build(book: xlsxwriter.Workbook) -> None:
        blank = book.add_worksheet("Blank")
        blank.write_string(0, 0, "  ")
        blank.write_string(200, 3, " ")
        sheet = book.add_worksheet("Deals")
        day, moment, hours = (book.add_format({"num_format": f}) for f in ("yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss", "hh:mm:ss"))
        sheet.write_row(0, 0, ["deal", "close", "logged", "call at", "note"])
        for i in range(1, 301):
            sheet.write_string(i, 0, f"D{i}")
            sheet.write_string(i, 4, "kept 00:00:00 text" if i % 2 else "1899-12-30 is a date")
        sheet.write_datetime(1, 1, dt.datetime(2024, 3, 5), day)
        sheet.write_datetime(300, 1, dt.datetime(2024, 3, 6), day)              # the last row too
        sheet.write_datetime(1, 2, dt.datetime(2024, 3, 5, 14, 30, 15), moment)
        sheet.write_datetime(300, 2, dt.datetime(2024, 3, 7), moment)           # a datetime at midnight: its day
        sheet.write_datetime(300, 3, dt.time(9, 5, 7), hours)
        sheet.write_datetime(150, 3, dt.datetime(1899, 12, 31, 23, 59, 58), hours)

    table = read_table(workbook(tmp_path, "dates.xlsx", build))
    assert table.sheet == "Deals"
    rows = cells(table)
    assert len(rows) == 300
    assert rows[0][1:3] == ["2024-03-05", "2024-03-05 14:30:15"]
    assert rows[-1][1:4] == ["2024-03-06", "2024-03-07", "09:05:07"]
    assert rows[149][3] == "23:59:58"
    assert {r[4] for r in rows} == {"kept 00:00:00 text", "1899-12-30 is a date"}

"""Tests for data/ingest/parse.py: golden cases for every trap, property tests, real files."""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from data.ingest.parse import (
    NULL_TOKENS,
    ColumnParse,
    clean_text,
    parse_amounts,
    parse_bool,
    parse_dates,
    parse_numbers,
    parse_periods,
    parse_probability,
    parse_status,
    to_id,
)
from data.ingest.parse import _mostly_unique
from data.ingest.problems import NOTES, PROBLEMS

D = dt.date
DT = dt.datetime


def dates(values: list[str | None], **kw: object) -> ColumnParse:
    return parse_dates(pl.Series("c", values, dtype=pl.String), **kw)


def amounts(values: list[str | None]) -> ColumnParse:
    return parse_amounts(pl.Series("c", values, dtype=pl.String))


def codes(result: ColumnParse) -> list[str | None]:
    return result.error.to_list()


# --------------------------------------------------------------------------------------------------
# contract


def test_every_code_used_is_declared() -> None:
    for code in ("bad_date", "bad_amount", "bad_number", "bad_probability", "bad_period", "bad_status", "bad_bool"):
        assert code in PROBLEMS
    for note in ("date_order_from_data", "date_order_from_user", "date_order_default", "date_excel_serial"):
        assert note in NOTES


def test_result_shapes_and_dtypes() -> None:
    s = pl.Series("x", ["2024-01-02", None, "", "nope"])
    r = parse_dates(s)
    assert r.values.dtype == pl.Date and r.error.dtype == pl.String
    assert r.values.len() == r.error.len() == 4 and r.values.name == "x"
    assert parse_dates(s, with_time=True).values.dtype == pl.Datetime("us")
    assert parse_amounts(s).values.dtype == pl.Float64 and parse_amounts(s).extra.dtype == pl.String
    p = parse_periods(s)
    assert p.values.dtype == pl.Date and p.extra.dtype == pl.Date
    assert parse_bool(s).values.dtype == pl.Boolean
    assert to_id(s).dtype == pl.String


def test_empty_and_all_null_columns() -> None:
    for s in (pl.Series("c", [], dtype=pl.String), pl.Series("c", [None, None], dtype=pl.String)):
        for fn in (parse_dates, parse_amounts, parse_numbers, parse_probability, parse_periods, parse_status, parse_bool):
            r = fn(s)
            assert r.values.len() == s.len() and r.error.null_count() == s.len()
        assert to_id(s).len() == s.len()


# --------------------------------------------------------------------------------------------------
# clean_text, to_id


def test_clean_text() -> None:
    s = pl.Series(["  Konftel 250 Conference\u00a0phone ", "N/A", "#n/a", "a\u200bb", "\t x \u202f\u3000y ", "Kerala ", "—", "无", None])
    assert clean_text(s).to_list() == [
        "Konftel 250 Conference phone", None, None, "ab", "x y", "Kerala", None, None, None,
    ]


def test_clean_text_keeps_case_and_words() -> None:
    assert clean_text(pl.Series(["CLOTHING", " clothing ", "unknown"])).to_list() == ["CLOTHING", "clothing", "unknown"]


def test_null_tokens_include_required() -> None:
    required = {"", "na", "n/a", "#n/a", "null", "none", "nan", "-", "--", "—", "#ref!", "#value!", "#div/0!", "#name?", "(blank)", "无", "空"}
    assert required <= NULL_TOKENS


def test_to_id() -> None:
    s = pl.Series([" 00123 ", "123.0", "1.23E+05", "1.2345E+02", "ABC-01", "1E+03", None, "007.00", "01040", "B3H", "4.5e3"])
    assert to_id(s).to_list() == ["00123", "123", "123000", "1.2345E+02", "ABC-01", "1000", None, "007", "01040", "B3H", "4500"]


# --------------------------------------------------------------------------------------------------
# dates: golden cases


def test_tableau_2020_two_digit_day_first() -> None:
    r = dates(["03/01/19", "04/01/19", "13/01/19", "30/12/22"], column="Order Date")
    assert r.values.to_list() == [D(2019, 1, 3), D(2019, 1, 4), D(2019, 1, 13), D(2022, 12, 30)]
    assert r.note == ("date_order_from_data", {"column": "Order Date", "order": "day-first"})


def test_month_first_decided_by_data() -> None:
    r = dates(["11/8/2018", "1/31/2019", "12/1/2017"], column="Order Date")
    assert r.values.to_list() == [D(2018, 11, 8), D(2019, 1, 31), D(2017, 12, 1)]
    assert r.note == ("date_order_from_data", {"column": "Order Date", "order": "month-first"})


def test_undecidable_order_uses_user_then_default() -> None:
    values = ["01/02/2024", "03/04/2024"]
    r = dates(values, column="c")
    assert r.values.to_list() == [D(2024, 1, 2), D(2024, 3, 4)]
    assert r.note == ("date_order_default", {"column": "c", "order": "month-first"})
    r = dates(values, column="c", dayfirst=True)
    assert r.values.to_list() == [D(2024, 2, 1), D(2024, 4, 3)]
    assert r.note == ("date_order_from_user", {"column": "c", "order": "day-first"})
    assert dates(["05/05/2024"], column="c").note is None  # same either way: nothing to say


def test_contradicting_orders_minority_is_bad() -> None:
    r = dates(["13/01/2024", "14/01/2024", "02/01/2024", "01/13/2024"])
    assert r.values.to_list() == [D(2024, 1, 13), D(2024, 1, 14), D(2024, 1, 2), None]
    assert codes(r) == [None, None, None, "bad_date"]
    assert r.note == ("date_order_from_data", {"column": "", "order": "day-first"})


def test_data_beats_user_choice() -> None:
    r = dates(["25/12/2024", "01/02/2024"], dayfirst=False)
    assert r.values.to_list() == [D(2024, 12, 25), D(2024, 2, 1)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-03", D(2024, 5, 3)),
        ("2024-05-03T10:20:30", D(2024, 5, 3)),
        ("2024-05-03T10:20:30.123Z", D(2024, 5, 3)),
        ("2024-05-03 10:20", D(2024, 5, 3)),
        ("2024/5/3", D(2024, 5, 3)),
        ("2024.05.03", D(2024, 5, 3)),
        ("2018.02.26 19:58", D(2018, 2, 26)),
        ("2018. 02. 26.", D(2018, 2, 26)),
        ("20240503", D(2024, 5, 3)),
        ("2024年5月3日", D(2024, 5, 3)),
        ("2024年5月3日 14:30", D(2024, 5, 3)),
        ("3 May 2024", D(2024, 5, 3)),
        ("3rd May 2024", D(2024, 5, 3)),
        ("May 3, 2024", D(2024, 5, 3)),
        ("September 30 2024", D(2024, 9, 30)),
        ("03-Jan-19", D(2019, 1, 3)),
        ("3-jan-2019", D(2019, 1, 3)),
        ("Mon, 3 Jan 2019", D(2019, 1, 3)),
        ("2019-Jan-03", D(2019, 1, 3)),
        ("1 Ocak 2024", D(2024, 1, 1)),
        ("15 Şubat 2024", D(2024, 2, 15)),
        ("15 ŞUBAT 2024", D(2024, 2, 15)),
        ("20 Ağustos 2023", D(2023, 8, 20)),
        ("31 Aralık 2023", D(2023, 12, 31)),
        ("5 Mayıs 2024 14:30", D(2024, 5, 5)),
        ("26.02.2018", D(2018, 2, 26)),
        ("26-02-2018 19:58", D(2018, 2, 26)),
        ("2/26/2018 7:58 PM", D(2018, 2, 26)),
        ("1700000000000", D(2023, 11, 14)),
        ("1700000000", D(2023, 11, 14)),
        ("  2024-05-03\u00a0", D(2024, 5, 3)),
    ],
)
def test_date_formats(text: str, expected: dt.date) -> None:
    r = dates([text])
    assert r.values.to_list() == [expected], text
    assert codes(r) == [None]


@pytest.mark.parametrize(
    "text",
    ["12-04-201800", "17-04-2018000", "31/02/2024", "29/02/2023", "2024-13-01", "2024-00-10", "0019-01-03",
     "1899-12-31", "2101-01-01", "Apr-18", "01-May", "May-20", "20.máj", "hello", "2024-05-03 25:00",
     "2024-05-03 10:61", "13:00 PM", "2024-05-03 13:00 PM", "03/01-19", "32 Jan 2024", "3 Foo 2024"],
)
def test_bad_dates(text: str) -> None:
    r = dates([text, "2024-01-01"])
    assert r.values.to_list()[0] is None
    assert codes(r) == ["bad_date", None]


def test_null_tokens_are_empty_not_bad() -> None:
    r = dates(["", "NA", "n/a", "#N/A", "-", "unknown", None, "  "])
    assert r.values.null_count() == 8 and r.error.null_count() == 8


def test_leap_day_and_two_digit_pivot() -> None:
    r = dates(["29/02/2024", "13/01/68", "13/01/69", "13/01/00"])
    assert r.values.to_list() == [D(2024, 2, 29), D(2068, 1, 13), D(1969, 1, 13), D(2000, 1, 13)]


def test_with_time_and_zones() -> None:
    r = dates(
        ["2024-01-05T23:30:00-05:00", "2024-01-05T10:20:30.123456Z", "2024-01-05 10:20:30 +0530", "2024-01-05",
         "2024-01-05T12:00:00+00:00", "2024-01-05 12:00 AM", "2024-01-05 12:00 PM"],
        with_time=True,
    )
    assert r.values.to_list() == [
        DT(2024, 1, 6, 4, 30), DT(2024, 1, 5, 10, 20, 30, 123456), DT(2024, 1, 5, 4, 50, 30), DT(2024, 1, 5),
        DT(2024, 1, 5, 12), DT(2024, 1, 5, 0), DT(2024, 1, 5, 12),
    ]
    # without time the UTC date is kept
    assert dates(["2024-01-05T23:30:00-05:00"]).values.to_list() == [D(2024, 1, 6)]


def test_excel_serial_column() -> None:
    r = dates(["45123", "45123.5", "", "43831"], column="Close")
    assert r.values.to_list() == [D(2023, 7, 16), D(2023, 7, 16), None, D(2020, 1, 1)]
    assert r.note == ("date_excel_serial", {"column": "Close"})
    t = dates(["45123.75"], with_time=True)
    assert t.values.to_list() == [DT(2023, 7, 16, 18)]


def test_numbers_outside_serial_window_are_not_dates() -> None:
    r = dates(["45123", "123"])
    assert codes(r) == ["bad_date", "bad_date"]
    assert dates(["45123", "2024-01-01"]).error.to_list() == ["bad_date", None]


def test_olist_variants_won_date() -> None:
    assert dates(["26-02-2018 19:58", "08-05-2018 20:17"], with_time=True).values.to_list() == [
        DT(2018, 2, 26, 19, 58), DT(2018, 5, 8, 20, 17)
    ]
    assert dates(["2018.02.26 19:58", "2018.05.08 9:05"], with_time=True).values.to_list() == [
        DT(2018, 2, 26, 19, 58), DT(2018, 5, 8, 9, 5)
    ]
    assert dates(["2/26/2018 19:58", "6/5/2018 17:27"], with_time=True).values.to_list() == [
        DT(2018, 2, 26, 19, 58), DT(2018, 6, 5, 17, 27)
    ]


def test_nikkimittal_corrupted_years() -> None:
    r = dates(["01-04-2018", "12-04-201800", "17-04-2018000", "13-04-2018"])
    assert r.values.to_list() == [D(2018, 4, 1), None, None, D(2018, 4, 13)]
    assert codes(r) == [None, "bad_date", "bad_date", None]


def test_many_rows_keep_alignment() -> None:
    base = D(2020, 1, 1)
    values = [(base + dt.timedelta(days=i % 900)).strftime("%d/%m/%Y") if i % 7 else None for i in range(60_000)]
    assert not _mostly_unique(pl.Series(values))  # parsed per distinct value, spread back by a join
    r = dates(values)
    expected = [base + dt.timedelta(days=i % 900) if i % 7 else None for i in range(60_000)]
    assert r.values.to_list() == expected


def test_many_distinct_rows_keep_alignment() -> None:
    start = DT(2015, 1, 1)
    stamps = [start + dt.timedelta(minutes=37 * i) for i in range(60_000)]
    values = [s.strftime("%Y-%m-%d %H:%M") if i % 11 else "junk" for i, s in enumerate(stamps)]
    assert _mostly_unique(pl.Series(values))  # parsed in place, row by row order kept
    r = dates(values, with_time=True)
    assert r.values.to_list() == [s if i % 11 else None for i, s in enumerate(stamps)]
    assert r.error.to_list() == [None if i % 11 else "bad_date" for i in range(60_000)]


# --------------------------------------------------------------------------------------------------
# amounts, numbers, probabilities: golden cases


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("$1,234.56", 1234.56, "USD"),
        ("US$ 1,234.56", 1234.56, "USD"),
        ("1.234,56 €", 1234.56, "EUR"),
        ("€1.234,56", 1234.56, "EUR"),
        ("£99", 99.0, "GBP"),
        ("¥1,000", 1000.0, "CNY"),
        ("￥1,000", 1000.0, "CNY"),
        ("500元", 500.0, "CNY"),
        ("RMB 500", 500.0, "CNY"),
        ("CNY500", 500.0, "CNY"),
        ("1 234,56 TL", 1234.56, "TRY"),
        ("₺1.234,56", 1234.56, "TRY"),
        ("TRY 1.234,56", 1234.56, "TRY"),
        ("1\u00a0234,56", 1234.56, None),
        ("1\u202f234,56", 1234.56, None),
        ("1'234.50", 1234.5, None),
        ("1’234.50", 1234.5, None),
        ("12,34,567.00", 1234567.0, None),
        ("(1,200)", -1200.0, None),
        ("($1,200.00)", -1200.0, "USD"),
        ("-1200", -1200.0, None),
        ("−1200", -1200.0, None),
        ("1200-", -1200.0, None),
        ("-$1,200", -1200.0, "USD"),
        ("$-1,200", -1200.0, "USD"),
        ("+15", 15.0, None),
        ("1.2k", 1200.0, None),
        ("1,5M", 1_500_000.0, None),
        ("$1.5M", 1_500_000.0, "USD"),
        ("3万", 30_000.0, None),
        ("12.5万元", 125_000.0, "CNY"),
        ("1.1万", 11_000.0, None),
        ("2亿", 200_000_000.0, None),
        ("$ -", 0.0, "USD"),
        ("0", 0.0, None),
        (".5", 0.5, None),
        ("1275.00", 1275.0, None),
        ("1,234,567", 1234567.0, None),
        ("1.234.567", 1234567.0, None),
        ("1234,5", 1234.5, None),
        ("100 USD", 100.0, "USD"),
        ("$100 USD", 100.0, "USD"),
    ],
)
def test_amount_formats(text: str, value: float, currency: str | None) -> None:
    r = amounts([text])
    assert r.values.to_list() == [pytest.approx(value)], text
    assert r.extra.to_list() == [currency]
    assert codes(r) == [None]


@pytest.mark.parametrize(
    "text", ["12%", "$100 EUR", "1,2,3", "1.234,56.7", "abc", "--5", "(5", "5)", "((5))", "-(5)", "100-200", "12 5", "$", "1e5", "Q2 100", "5 apples"]
)
def test_bad_amounts(text: str) -> None:
    r = amounts([text, "10"])
    assert r.values.to_list() == [None, 10.0]
    assert codes(r) == ["bad_amount", None]


def test_ambiguous_thousands_follow_the_column() -> None:
    assert amounts(["1,234", "1,234.56"]).values.to_list() == [1234.0, 1234.56]
    assert amounts(["12,5", "3,75", "1,234"]).values.to_list() == [12.5, 3.75, 1.234]
    assert amounts(["1.234", "2.500,50"]).values.to_list() == [1234.0, 2500.5]
    assert amounts(["1.500", "3.750.000"]).values.to_list() == [1500.0, 3_750_000.0]
    assert amounts(["16.448", "261.96"]).values.to_list() == [16.448, 261.96]  # Superstore Sales
    # nothing decides: "," groups thousands, "." is the decimal point
    assert amounts(["1,234"]).values.to_list() == [1234.0]
    assert amounts(["1.234"]).values.to_list() == [1.234]
    assert amounts(["0,123", "0.123"]).values.to_list() == [0.123, 0.123]


def test_no_negative_zero() -> None:
    values = amounts(["-0", "(0.00)", "0-"]).values.to_list()
    assert values == [0.0, 0.0, 0.0] and all(str(v) == "0.0" for v in values)


def test_amount_nulls_and_currency_extra() -> None:
    r = amounts(["", "NA", None, "-", "$5"])
    assert r.values.to_list() == [None, None, None, None, 5.0]
    assert r.extra.to_list() == [None, None, None, None, "USD"]
    assert r.error.null_count() == 5


def test_parse_numbers() -> None:
    r = parse_numbers(pl.Series(["12", "1.5M", "$3", "abc", "1 234,5", "-7", "", "45 min"]))
    assert r.values.to_list() == [12.0, 1.5e6, None, None, 1234.5, -7.0, None, None]
    assert codes(r) == [None, None, "bad_number", "bad_number", None, None, None, "bad_number"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["50%", "0.5", "%50", "50,5%", " 5 % "], [0.5, 0.5, 0.5, 0.505, 0.05]),
        (["10", "90", "0.5", "100"], [0.1, 0.9, 0.005, 1.0]),  # max > 1: a 0..100 column
        (["0.1", "0.9", "1", "0"], [0.1, 0.9, 1.0, 0.0]),
        (["0,25", "0,5"], [0.25, 0.5]),
    ],
)
def test_probability(values: list[str], expected: list[float]) -> None:
    r = parse_probability(pl.Series(values))
    assert r.values.to_list() == [pytest.approx(x) for x in expected]
    assert r.error.null_count() == len(values)


def test_bad_probability() -> None:
    r = parse_probability(pl.Series(["150%", "-0.1", "abc", "$5", "", "50"]))
    assert r.values.to_list() == [None, None, None, None, None, 0.5]
    assert codes(r) == ["bad_probability"] * 4 + [None, None]


# --------------------------------------------------------------------------------------------------
# periods, status, bool


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2024-05", D(2024, 5, 1), D(2024, 5, 31)),
        ("2024/05", D(2024, 5, 1), D(2024, 5, 31)),
        ("202402", D(2024, 2, 1), D(2024, 2, 29)),
        ("05/2024", D(2024, 5, 1), D(2024, 5, 31)),
        ("2024-Q2", D(2024, 4, 1), D(2024, 6, 30)),
        ("2024Q4", D(2024, 10, 1), D(2024, 12, 31)),
        ("Q2 2024", D(2024, 4, 1), D(2024, 6, 30)),
        ("Q2-2024", D(2024, 4, 1), D(2024, 6, 30)),
        ("q1 24", D(2024, 1, 1), D(2024, 3, 31)),
        ("2024 Q2", D(2024, 4, 1), D(2024, 6, 30)),
        ("2024-H2", D(2024, 7, 1), D(2024, 12, 31)),
        ("Apr-18", D(2018, 4, 1), D(2018, 4, 30)),
        ("Apr 2018", D(2018, 4, 1), D(2018, 4, 30)),
        ("April 2018", D(2018, 4, 1), D(2018, 4, 30)),
        ("Nisan 2018", D(2018, 4, 1), D(2018, 4, 30)),
        ("2024年5月", D(2024, 5, 1), D(2024, 5, 31)),
        ("2024年第2季度", D(2024, 4, 1), D(2024, 6, 30)),
        ("2024年第二季度", D(2024, 4, 1), D(2024, 6, 30)),
        ("2024年Q2", D(2024, 4, 1), D(2024, 6, 30)),
        ("2024 2. Çeyrek", D(2024, 4, 1), D(2024, 6, 30)),
        ("01 April 2018", D(2018, 4, 1), D(2018, 4, 30)),
        ("2018-04-17", D(2018, 4, 1), D(2018, 4, 30)),
        ("FY2024", D(2024, 1, 1), D(2024, 12, 31)),
        ("FY24", D(2024, 1, 1), D(2024, 12, 31)),
        ("2024", D(2024, 1, 1), D(2024, 12, 31)),
    ],
)
def test_periods(text: str, start: dt.date, end: dt.date) -> None:
    r = parse_periods(pl.Series([text]))
    assert (r.values.to_list(), r.extra.to_list(), codes(r)) == ([start], [end], [None]), text


def test_bad_periods_and_dates_in_periods() -> None:
    r = parse_periods(pl.Series(["bogus", "2024-13", "Q5 2024", "Foo-18", None, "NA", "13/04/2018", "01/02/2018"]))
    assert r.values.to_list() == [None, None, None, None, None, None, D(2018, 4, 1), D(2018, 2, 1)]
    assert codes(r) == ["bad_period"] * 4 + [None] * 4
    assert r.note == ("date_order_from_data", {"column": "", "order": "day-first"})


def test_period_dates_that_are_month_starts_read_day_first() -> None:
    # Excel re-typed "Apr-18" as 01/04/2018: the day is always 1, so the column is day-first
    r = parse_periods(pl.Series(["01/04/2018", "01/05/2018", "01/12/2018"]), column="Month")
    assert r.values.to_list() == [D(2018, 4, 1), D(2018, 5, 1), D(2018, 12, 1)]
    assert r.note == ("date_order_from_data", {"column": "Month", "order": "day-first"})
    r = parse_periods(pl.Series(["04/01/2018", "05/01/2018"]), column="Month")
    assert r.values.to_list() == [D(2018, 4, 1), D(2018, 5, 1)]
    assert parse_periods(pl.Series(["01/04/2018"]), dayfirst=False).values.to_list() == [D(2018, 1, 1)]


def test_status() -> None:
    values = ["Open", "in progress", "Active", "pipeline", "进行中", "跟进中", "未结束", "Açık", "AÇIK", "devam ediyor",
              "Won", "Closed Won", "closed_won", "closedwon", "win", "赢单", "成交", "已成交", "Kazanıldı", "KAZANILAN",
              "Lost", "Closed Lost", "Closed-Lost to Competition", "loss", "输单", "丢单", "失败", "已失败", "kaybedildi", "Kaybedilen",
              "closed", "maybe", "", None]
    r = parse_status(pl.Series(values))
    assert r.values.to_list() == ["open"] * 10 + ["won"] * 10 + ["lost"] * 10 + [None] * 4
    assert codes(r) == [None] * 30 + ["bad_status", "bad_status", None, None]


def test_bool() -> None:
    values = ["True", "FALSE", "true", "yes", "No", "1", "0", "是", "否", "evet", "hayır", "HAYIR", "Y", "n", "x", "", None]
    r = parse_bool(pl.Series(values))
    assert r.values.to_list() == [True, False, True, True, False, True, False, True, False, True, False, False, True, False, None, None, None]
    assert codes(r) == [None] * 14 + ["bad_bool", None, None]


# --------------------------------------------------------------------------------------------------
# property tests

_EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
_TR_MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık"]


def _fmt(when: dt.datetime, pattern: str) -> str:
    """Format with {Y} {y} {m} {mm} {d} {dd} {H} {HH} {MM} {SS} {I} {p} {B} {b} {T} placeholders."""
    hour12 = when.hour % 12 or 12
    return pattern.format(
        Y=f"{when.year:04d}", y=f"{when.year % 100:02d}", m=when.month, mm=f"{when.month:02d}", d=when.day,
        dd=f"{when.day:02d}", H=when.hour, HH=f"{when.hour:02d}", MM=f"{when.minute:02d}", SS=f"{when.second:02d}",
        I=hour12, p="AM" if when.hour < 12 else "PM", B=_EN_MONTHS[when.month - 1], b=_EN_MONTHS[when.month - 1][:3],
        T=_TR_MONTHS[when.month - 1],
    )


# (pattern, precision kept: "d" date, "m" minutes, "s" seconds, two-digit year?)
_DATE_FORMATS = [
    ("{Y}-{mm}-{dd}", "d", False), ("{Y}/{mm}/{dd}", "d", False), ("{Y}.{mm}.{dd}", "d", False),
    ("{Y}{mm}{dd}", "d", False), ("{Y}年{m}月{d}日", "d", False), ("{dd}/{mm}/{Y}", "d", False),
    ("{mm}/{dd}/{Y}", "d", False), ("{d}/{m}/{Y}", "d", False), ("{m}/{d}/{Y}", "d", False),
    ("{dd}-{mm}-{Y}", "d", False), ("{dd}.{mm}.{Y}", "d", False), ("{mm}-{dd}-{Y}", "d", False),
    ("{dd}/{mm}/{y}", "d", True), ("{mm}/{dd}/{y}", "d", True), ("{d}/{m}/{y}", "d", True),
    ("{d} {B} {Y}", "d", False), ("{B} {d}, {Y}", "d", False), ("{dd}-{b}-{y}", "d", True),
    ("{b} {d} {Y}", "d", False), ("{d} {T} {Y}", "d", False),
    ("{Y}-{mm}-{dd}T{HH}:{MM}:{SS}", "s", False), ("{Y}-{mm}-{dd}T{HH}:{MM}:{SS}Z", "s", False),
    ("{Y}-{mm}-{dd}T{HH}:{MM}:{SS}.000+00:00", "s", False), ("{Y}-{mm}-{dd} {HH}:{MM}", "m", False),
    ("{dd}-{mm}-{Y} {HH}:{MM}", "m", False), ("{m}/{d}/{Y} {H}:{MM}", "m", False),
    ("{Y}.{mm}.{dd} {H}:{MM}", "m", False), ("{m}/{d}/{Y} {I}:{MM} {p}", "m", False),
    ("{dd}/{mm}/{Y} {HH}:{MM}:{SS}", "s", False), ("{B} {d}, {Y} {I}:{MM} {p}", "m", False),
    ("{Y}年{m}月{d}日 {HH}:{MM}", "m", False),
]


def _truncate(when: dt.datetime, precision: str) -> dt.datetime:
    if precision == "d":
        return dt.datetime(when.year, when.month, when.day)
    if precision == "m":
        return when.replace(second=0, microsecond=0)
    return when.replace(microsecond=0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(_DATE_FORMATS),
    stamps=st.lists(st.datetimes(min_value=DT(1900, 1, 1), max_value=DT(2100, 12, 31, 23, 59, 59)), min_size=1, max_size=12),
)
def test_any_supported_date_format_round_trips(fmt: tuple[str, str, bool], stamps: list[dt.datetime]) -> None:
    pattern, precision, two_digit = fmt
    if two_digit:  # a two-digit year stands for 1969..2068
        stamps = [s if 1969 <= s.year <= 2068 else s.replace(year=2000 + s.year % 4, day=min(s.day, 28)) for s in stamps]
    # one value whose day is > 12 lets the column decide its order
    decider = dt.datetime(2020, 1, 25, 13, 45, 30)
    values = [_fmt(s, pattern) for s in stamps] + [_fmt(decider, pattern)]
    r = dates(values, with_time=True)
    assert r.error.null_count() == len(values), list(zip(values, r.error.to_list()))
    assert r.values.to_list() == [_truncate(s, precision) for s in [*stamps, decider]]
    assert dates(values).values.to_list() == [s.date() for s in [*stamps, decider]]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.datetimes(min_value=DT(2001, 9, 10), max_value=DT(2100, 12, 31)), min_size=1, max_size=10))
def test_epoch_round_trips(stamps: list[dt.datetime]) -> None:
    epoch = dt.datetime(1970, 1, 1)
    millis = [str((s.replace(microsecond=s.microsecond // 1000 * 1000) - epoch) // dt.timedelta(milliseconds=1)) for s in stamps]
    r = dates(millis, with_time=True)
    assume(all(len(m) == 13 for m in millis))
    assert r.values.to_list() == [s.replace(microsecond=s.microsecond // 1000 * 1000) for s in stamps]


# (thousands separator, decimal separator)
_CONVENTIONS = [(",", "."), (".", ","), (" ", ","), ("\u00a0", ","), ("\u202f", ","), ("'", "."), ("", "."), ("", ",")]
# (prefix, suffix, ISO code)
_DECORATIONS = [
    ("", "", None), ("$", "", "USD"), ("US$ ", "", "USD"), ("", " €", "EUR"), ("€", "", "EUR"), ("£", "", "GBP"),
    ("¥", "", "CNY"), ("￥", "", "CNY"), ("", "元", "CNY"), ("RMB ", "", "CNY"), ("CNY ", "", "CNY"), ("USD ", "", "USD"),
    ("", " EUR", "EUR"), ("", " TRY", "TRY"), ("", " TL", "TRY"), ("₺", "", "TRY"),
]
_NEGATIVES = ["-{}", "({})", "{}-"]


def _money(cents: int, thousands: str, decimal: str, with_decimals: bool) -> str:
    whole, frac = divmod(abs(cents), 100)
    grouped = f"{whole:,}".replace(",", thousands)
    return grouped + (f"{decimal}{frac:02d}" if with_decimals else "")


@settings(max_examples=400, deadline=None)
@given(
    cents=st.integers(min_value=-(10**13), max_value=10**13),
    convention=st.sampled_from(_CONVENTIONS),
    decoration=st.sampled_from(_DECORATIONS),
    negative=st.sampled_from(_NEGATIVES),
    with_decimals=st.booleans(),
)
def test_any_amount_format_round_trips(
    cents: int, convention: tuple[str, str], decoration: tuple[str, str, str | None], negative: str, with_decimals: bool
) -> None:
    thousands, decimal = convention
    prefix, suffix, code = decoration
    if not with_decimals:
        cents -= cents % 100 if cents >= 0 else -(-cents % 100)
    body = prefix + _money(cents, thousands, decimal, with_decimals) + suffix
    text = negative.format(body) if cents < 0 else body
    decider = prefix + _money(123456789, thousands, decimal, True) + suffix  # shows the decimal separator
    r = amounts([text, decider])
    assert codes(r) == [None, None], text
    assert r.values[0] == pytest.approx(float(Decimal(cents) / 100), abs=0.005), text
    assert r.extra.to_list() == [code, code]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.floats(min_value=-200, max_value=200).map(lambda x: f"{x:.3f}%"),
    st.integers(min_value=-500, max_value=500).map(str),
), min_size=1, max_size=10))
def test_probabilities_in_range_or_flagged(values: list[str]) -> None:
    r = parse_probability(pl.Series(values, dtype=pl.String))
    cleaned = clean_text(pl.Series(values, dtype=pl.String)).to_list()
    for text, value, error in zip(cleaned, r.values.to_list(), r.error.to_list()):
        if value is not None:
            assert 0.0 <= value <= 1.0 and error is None
        elif text is not None and text.lower() not in {"unknown", "?", "未知", "bilinmiyor"}:
            assert error == "bad_probability", text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=10))
def test_percent_probabilities_round_trip(values: list[float]) -> None:
    r = parse_probability(pl.Series([f"{v:.2f}%" for v in values]))
    assert r.values.to_list() == [pytest.approx(round(v, 2) / 100) for v in values]


_ODD = st.sampled_from([" ", "\u00a0", "\u202f", "\u3000", "\t", "\u200b", "\ufeff", "\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.one_of(st.characters(codec="utf-8"), _ODD), max_size=12),
                          st.sampled_from(sorted(NULL_TOKENS)).map(str.upper)), max_size=12))
def test_clean_text_is_idempotent(values: list[str | None]) -> None:
    once = clean_text(pl.Series(values, dtype=pl.String))
    assert clean_text(once).to_list() == once.to_list()
    for text in once.drop_nulls().to_list():
        assert text == text.strip(" ") and "  " not in text and "\u00a0" not in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"\A0{1,5}[0-9]{1,10}\Z"), min_size=1, max_size=10), st.booleans())
def test_to_id_keeps_leading_zeros(ids: list[str], float_suffix: bool) -> None:
    raw = [f"{i}.0" if float_suffix else f" {i} " for i in ids]
    assert to_id(pl.Series(raw)).to_list() == ids


# --------------------------------------------------------------------------------------------------
# real files (../shared/realdata)


def _read(realdata: Path, relative: str, separator: str = ",") -> pl.DataFrame:
    return pl.read_csv(realdata / relative, infer_schema=False, separator=separator)


def _range(result: ColumnParse) -> tuple[object, object]:
    values = result.values.drop_nulls()
    return values.min(), values.max()


def test_real_superstore_classic(realdata: Path) -> None:
    df = _read(realdata, "superstore/Sample - Superstore.csv")
    r = parse_dates(df["Order Date"], column="Order Date")
    assert r.error.null_count() == df.height
    assert _range(r) == (D(2016, 1, 3), D(2019, 12, 30))
    assert r.note == ("date_order_from_data", {"column": "Order Date", "order": "month-first"})
    sales = parse_amounts(df["Sales"])
    assert sales.error.null_count() == df.height and _range(sales) == (0.444, 22638.48)
    assert (parse_amounts(df["Profit"]).values < 0).sum() == 1871


def test_real_superstore_tableau_2020(realdata: Path) -> None:
    df = _read(realdata, "superstore/variant_tableau_2020/Sample - Superstore.csv")
    r = parse_dates(df["Order Date"], column="Order Date")
    assert r.error.null_count() == df.height
    assert _range(r) == (D(2019, 1, 3), D(2022, 12, 30))
    assert r.values[0] == D(2019, 1, 3)  # "03/01/19"
    order_year = df["Order ID"].str.extract(r"-(\d{4})-", 1).cast(pl.Int32)
    assert (r.values.dt.year() == order_year).all()
    zips = to_id(df["Postal Code"])
    assert zips.str.starts_with("0").sum() == 449 and "B3H" in zips.to_list()


@pytest.mark.parametrize(
    ("variant", "separator", "deals_file"),
    [
        ("", ",", "olist_closed_deals_dataset.csv"),
        ("variant_excel_dmy/", ",", "olist_closed_deals_dataset.csv"),
        ("variant_excel_semicolon_bom/", ";", "olist_marketing_closed_deals_dataset.csv"),
        ("variant_excel_us_trimmed/", ",", "olist_closed_deals_dataset.csv"),
    ],
)
def test_real_olist_every_variant(realdata: Path, variant: str, separator: str, deals_file: str) -> None:
    mql = _read(realdata, f"olist_marketing_funnel/{variant}olist_marketing_qualified_leads_dataset.csv", separator)
    r = parse_dates(mql["first_contact_date"], column="first_contact_date")
    assert r.error.null_count() == mql.height == 8000
    assert _range(r) == (D(2017, 6, 14), D(2018, 5, 31))
    deals = _read(realdata, f"olist_marketing_funnel/{variant}{deals_file}", separator)
    won = parse_dates(deals["won_date"], column="won_date", with_time=True)
    assert won.error.null_count() == deals.height
    low, high = _range(won)
    assert DT(2017, 12, 5) <= low and high < DT(2018, 11, 15)
    if deals.height == 842:
        assert (low.date(), high.date()) == (D(2017, 12, 5), D(2018, 11, 14))
    for flag in ("has_company", "has_gtin"):
        if flag in deals.columns:
            assert parse_bool(deals[flag]).error.null_count() == deals.height


def test_real_olist_original_won_date_keeps_seconds(realdata: Path) -> None:
    deals = _read(realdata, "olist_marketing_funnel/olist_closed_deals_dataset.csv")
    won = parse_dates(deals["won_date"], with_time=True)
    assert won.values[0] == DT(2018, 2, 26, 19, 58, 54)


def test_real_ecommerce_orders_and_targets(realdata: Path) -> None:
    orders = _read(realdata, "ecommerce_sales_targets/List of Orders.csv")
    r = parse_dates(orders["Order Date"])
    assert _range(r) == (D(2018, 4, 1), D(2019, 3, 31))
    assert r.values.null_count() == 60 and r.error.null_count() == orders.height  # 60 blank rows, no errors
    targets = _read(realdata, "ecommerce_sales_targets/Sales target.csv")
    period = parse_periods(targets["MonthofOrderDate"])
    assert period.error.null_count() == 36
    assert (period.values.min(), period.extra.max()) == (D(2018, 4, 1), D(2019, 3, 31))
    assert period.values[0] == D(2018, 4, 1) and period.extra[0] == D(2018, 4, 30)
    profit = parse_amounts(_read(realdata, "ecommerce_sales_targets/Order Details.csv")["Profit"])
    assert (profit.values < 0).sum() == 503


def test_real_nikkimittal_corrupted_dates(realdata: Path) -> None:
    orders = _read(realdata, "ecommerce_sales_targets/variant_dirty_nikkimittal/List of Orders.csv")
    r = parse_dates(orders["Order Date"])
    bad = orders["Order Date"].filter(r.error == "bad_date").to_list()
    assert sorted(bad) == ["12-04-201800", "17-04-2018000"]
    assert r.values.dt.year().is_between(2018, 2019).all()
    targets = _read(realdata, "ecommerce_sales_targets/variant_dirty_nikkimittal/Sales target.csv")
    assert parse_periods(targets["Month of Order Date"]).error.null_count() == 36
    assert parse_numbers(targets["Target"]).error.null_count() == 36


def test_real_salesforce(realdata: Path) -> None:
    opp = _read(realdata, "salesforce_dtc_sample/DTC_Opportunity.csv")
    close = parse_dates(opp["CloseDate"])
    assert close.error.null_count() == opp.height and close.note is None
    assert _range(close)[0].year == 2012 and _range(close)[1].year == 2016
    assert parse_amounts(opp["Amount"]).error.null_count() == opp.height
    history = _read(realdata, "salesforce_dtc_sample/DTC_OpportunityHistory.csv")
    probability = parse_probability(history[" Probability"])
    assert probability.error.null_count() == history.height
    assert probability.values.max() <= 1.0 and probability.values.filter(history[" Probability"] == "90").unique().to_list() == [0.9]


# --------------------------------------------------------------------------------------------------
# speed: a row-by-row Python loop would take far longer than these bounds


@pytest.mark.slow
def test_million_rows_parse_quickly() -> None:
    n = 1_000_000
    minutes = pl.int_range(0, n, eager=True) * 7
    stamps = (pl.lit(DT(2015, 1, 1)) + pl.duration(minutes=minutes))
    frame = pl.select(
        iso=stamps.dt.strftime("%Y-%m-%d %H:%M:%S"),
        us=stamps.dt.strftime("%-m/%-d/%Y %-H:%M"),
        money=pl.format("${}.{}", minutes * 3 % 9_999_999, (minutes % 90 + 10)),
    )
    for column, parse in (("iso", parse_dates), ("us", parse_dates), ("money", parse_amounts)):
        started = time.perf_counter()
        result = parse(frame[column])
        elapsed = time.perf_counter() - started
        assert result.error.null_count() == n
        assert elapsed < 10, f"{column}: {elapsed:.1f}s"

"""Vectorised parsers for the raw text cells of uploaded CRM files.

Every parser takes a column of raw cell text (``pl.String``) and returns a :class:`ColumnParse`: the
parsed values, a per-row problem code (null where the value parsed or the cell was empty), an optional
note about a decision taken for the whole column, and for some parsers a second output.

How it stays fast without a Python loop over rows:

- a column is reduced to its distinct values with their row counts (unless over half its values are
  distinct, then rows are parsed in place), and results are spread back with one join;
- the common fixed-width ISO dates are cut with string slices instead of regular expressions;
- an amount is split once into its number and its decoration (``$#``, ``(# €)``, ``#万``); the few
  distinct decorations are parsed by a regular expression and joined back;
- column-level decisions (day-first or month-first, decimal comma or point, a 0..100 probability scale,
  Excel serial dates) come from row counts over the distinct values.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl


@dataclass
class ColumnParse:
    """Result of parsing one column.

    values: parsed values (dtype per parser), null where the cell was empty or invalid.
    error: problem code (pl.String, a key of ``problems.PROBLEMS``) where a non-empty value failed.
    note: a ``problems.NOTES`` code with its parameters, for a decision taken for the whole column.
    extra: a second output (currency code for amounts, inclusive period end for periods).
    """

    values: pl.Series
    error: pl.Series
    note: tuple[str, dict] | None = None
    extra: pl.Series | None = None


NULL_TOKENS: frozenset[str] = frozenset(
    {
        "", "na", "n/a", "n.a.", "n.a", "#n/a", "null", "#null!", "none", "nil", "nan", "-", "--", "---",
        "—", "–", "#ref!", "#value!", "#div/0!", "#name?", "#num!", "(blank)", "(empty)", "(none)",
        "(null)", "无", "空", "空白", "(空白)",
    }
)
"""Cell texts that mean "no value", compared case-insensitively after :func:`clean_text` spacing."""

# Typed parsers (dates, numbers, statuses ...) also read these words as "no value" rather than as a
# bad value. clean_text keeps them: in a text column "unknown" may be a real category.
_MISSING_WORDS: frozenset[str] = NULL_TOKENS | {"unknown", "未知", "bilinmiyor", "?"}

_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"
_ODD_SPACE = r"\s{2,}|[^\S ]"
_MOSTLY_UNIQUE_MIN_ROWS = 50_000
# clean_text cleans the distinct values only of a column this long with at most one distinct value
# per this many rows (HyperLogLog estimate); below that, mapping back costs more than it saves
_FEW_DISTINCT_MIN_ROWS, _FEW_DISTINCT_RATIO = 50_000, 1000
_YEAR_MIN, _YEAR_MAX = 1900, 2100


# --------------------------------------------------------------------------------------------------
# shared helpers


def _token_pattern(tokens: frozenset[str]) -> str:
    """Case-insensitive whole-value regex matching any of ``tokens``."""
    return "(?i)^(?:" + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) + ")$"


def _clean_column(frame: pl.DataFrame, source: str, target: str, tokens: frozenset[str]) -> pl.DataFrame:
    """Add ``target``: ``source`` with odd spaces fixed, stripped, and null tokens turned to null.

    Replacements run only when some value needs them (checked first for the whole column).
    """
    text = pl.col(source)
    if frame.select(text.str.contains(_INVISIBLE).any()).item():
        frame = frame.with_columns(text.str.replace_all(_INVISIBLE, "").alias(target))
        text = pl.col(target)
    if frame.select(text.str.contains(_ODD_SPACE).any()).item():
        frame = frame.with_columns(text.str.replace_all(_ODD_SPACE, " ").alias(target))
        text = pl.col(target)
    # each step runs only when it changes some value: an already clean column comes back as the same
    # buffers (no copy of a 10M-row column; issue #6, import memory)
    if frame.select((text.str.starts_with(" ") | text.str.ends_with(" ")).any()).item():
        frame = frame.with_columns(text.str.strip_chars(" ").alias(target))
    else:
        frame = frame.with_columns(text.alias(target))
    target_col = pl.col(target)
    is_token = target_col.str.contains(_token_pattern(tokens))
    if not frame.select(is_token.any()).item():
        return frame
    return frame.with_columns(pl.when(is_token).then(None).otherwise(target_col).alias(target))


def clean_text(s: pl.Series) -> pl.Series:
    """Strip, turn NBSP and other odd spaces into one space, drop zero-width characters, null tokens -> null.

    Case is kept. The function is idempotent. Each value is cleaned on its own, so a long column of few
    distinct values (owners, activity types, outcomes) has only those cleaned and mapped back.
    """
    raw = s if s.dtype == pl.String else s.cast(pl.String)
    if raw.len() >= _FEW_DISTINCT_MIN_ROWS and raw.approx_n_unique() * _FEW_DISTINCT_RATIO <= raw.len():
        distinct = raw.unique()
        cleaned = _clean_values(distinct)
        if cleaned.equals(distinct, check_names=False, null_equal=True):
            return raw.rename(s.name)      # every value is clean already: the column itself, not a copy
        return raw.replace_strict(distinct, cleaned, return_dtype=pl.String).rename(s.name)
    return _clean_values(raw).rename(s.name)


def _clean_values(raw: pl.Series) -> pl.Series:
    """`clean_text` of a String series, value by value over the whole series."""
    return _clean_column(raw.rename("raw").to_frame(), "raw", "v", NULL_TOKENS)["v"]


def _mostly_unique(raw: pl.Series) -> bool:
    """True when over half the values are distinct (HyperLogLog estimate): grouping would not pay off."""
    if raw.len() < _MOSTLY_UNIQUE_MIN_ROWS:
        return False
    return raw.approx_n_unique() > 0.5 * raw.len()


@dataclass(frozen=True)
class _Distinct:
    """The distinct values of a column: ``table`` has k (key), raw, n (row count) and v (cleaned)."""

    raw: pl.Series
    table: pl.DataFrame
    aligned: bool  # table rows are the input rows in order, so spreading back needs no join


def _distinct(s: pl.Series, tokens: frozenset[str] = _MISSING_WORDS, *, clean: bool = True) -> _Distinct:
    """Reduce a column to its distinct values with their row counts and cleaned text (``clean=False``: the
    values are clean already, ``v`` is the value itself)."""
    raw = (s if s.dtype == pl.String else s.cast(pl.String)).rename("raw")
    aligned = _mostly_unique(raw)
    if aligned:
        table = raw.to_frame().with_columns(n=pl.lit(1, pl.UInt32))
    else:
        table = raw.to_frame().group_by("raw").len("n").with_columns(pl.col("n").cast(pl.UInt32))
    table = table.with_row_index("k")
    table = _clean_column(table, "raw", "v", tokens) if clean else table.with_columns(v=pl.col("raw"))
    return _Distinct(raw=raw, table=table, aligned=aligned)


def _spread(d: _Distinct, result: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Spread per-distinct-value results (keyed by k, in any order) back to the input rows."""
    if not result["k"].is_sorted():         # usually in order already: no copy of every column
        result = result.sort("k")
    if d.aligned:
        return result.select(columns)
    keyed = d.table.select("k", "raw").join(result.select("k", *columns), on="k", how="left")
    return d.raw.to_frame().join(keyed.drop("k"), on="raw", how="left", maintain_order="left").select(columns)


def _error_expr(value: pl.Expr, code: str) -> pl.Expr:
    """The problem code where a non-empty cleaned value ``v`` gave no parsed value."""
    return pl.when(pl.col("v").is_not_null() & value.is_null()).then(pl.lit(code)).otherwise(None)


def _extract(frame: pl.DataFrame, pattern: str, groups: tuple[str, ...], source: str = "v") -> pl.DataFrame:
    """Add the named groups of ``pattern`` matched on ``source`` as string columns; ``groups`` not in it are null."""
    names = re.findall(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", pattern)
    out = frame.with_columns(_g=pl.col(source).str.extract_groups(pattern)).unnest("_g")
    missing = [pl.lit(None, pl.String).alias(g) for g in groups if g not in names]
    return out.with_columns(missing) if missing else out


def _fold(expr: pl.Expr) -> pl.Expr:
    """Lower-case and fold Turkish letters to ASCII (so ``ŞUBAT``, ``şubat`` and ``subat`` compare equal)."""
    return expr.str.to_lowercase().str.replace_many(
        ["\u0307", "ı", "ş", "ğ", "ç", "ö", "ü", "â", "î", "û"],
        ["", "i", "s", "g", "c", "o", "u", "a", "i", "u"],
    )


def _map(expr: pl.Expr, mapping: Mapping[str, object], dtype: pl.DataType) -> pl.Expr:
    """Look a value up in ``mapping``; null where absent."""
    return expr.replace_strict(dict(mapping), default=None, return_dtype=dtype)


def _sum_n(frame: pl.DataFrame, condition: pl.Expr) -> int:
    """Number of rows (sum of the count column ``n``) where ``condition`` holds."""
    return int(frame.select(pl.col("n").filter(condition.fill_null(False)).sum()).item() or 0)


# --------------------------------------------------------------------------------------------------
# dates

_MONTHS_EN = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
    "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9,
    "oct": 10, "nov": 11, "dec": 12,
}
# Turkish names, already folded to ASCII by _fold (Şubat -> subat, Ağustos -> agustos ...).
_MONTHS_TR = {
    "ocak": 1, "subat": 2, "mart": 3, "nisan": 4, "mayis": 5, "haziran": 6, "temmuz": 7,
    "agustos": 8, "eylul": 9, "ekim": 10, "kasim": 11, "aralik": 12,
    "oca": 1, "sub": 2, "nis": 4, "haz": 6, "tem": 7, "agu": 8, "eyl": 9, "eki": 10, "kas": 11, "ara": 12,
}
MONTH_NAMES: dict[str, int] = {**_MONTHS_EN, **_MONTHS_TR}
"""Month words (lower case, Turkish folded to ASCII) to month numbers."""

_DATE_GROUPS = ("y", "mo", "d", "a", "b", "mon", "s1", "s2", "H", "Mi", "S", "F", "ap", "tz")


def _time_re(prefix: str) -> str:
    """Optional time part after ``prefix``: H:MM[:SS[.fff]] [AM|PM] [Z|UTC|GMT|±HH[:MM]]."""
    return (
        rf"(?:{prefix}(?<H>[0-9]{{1,2}}):(?<Mi>[0-9]{{2}})(?::(?<S>[0-9]{{2}})(?:[.,](?<F>[0-9]{{1,9}}))?)?"
        r" ?(?<ap>[AaPp]\.?[Mm]\.?)? ?(?<tz>[Zz]|UTC|GMT|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
    )


_TIME = _time_re(r"(?:[Tt]| |, )")
_TIME_CJK = _time_re(r" ?")
_YEAR = r"(?<y>[0-9]{2}(?:[0-9]{2})?)"
_ORD = r"(?:st|nd|rd|th)?"
_WEEKDAY = r"(?:\p{L}+\.?,? )?"

# The common machine formats (YYYY-MM-DD, with " HH:MM[:SS]" or "THH:MM[:SS]"), cut with slices.
_ISO_FIXED = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2})?)?$"
# Everything else: tried in order on the values no earlier shape matched. a/b: numbers whose day/month
# order the column decides; mo/d: fixed month and day; mon: a month word. Values are already cleaned
# (single spaces, stripped), so " ?" stands for optional spacing.
_DATE_SHAPES: tuple[str, ...] = (
    rf"^(?<y>[0-9]{{4}})[-/.] ?(?<mo>[0-9]{{1,2}})[-/.] ?(?<d>[0-9]{{1,2}})\.?{_TIME}$",
    rf"^(?<a>[0-9]{{1,2}})(?<s1>[-/.]) ?(?<b>[0-9]{{1,2}})(?<s2>[-/.]) ?{_YEAR}\.?{_TIME}$",
    r"^(?<y>[0-9]{4})(?<mo>[0-9]{2})(?<d>[0-9]{2})$",
    rf"^(?<y>[0-9]{{4}}) ?年 ?(?<mo>[0-9]{{1,2}}) ?月 ?(?<d>[0-9]{{1,2}}) ?[日号]?{_TIME_CJK}$",
    rf"(?i)^{_WEEKDAY}(?<d>[0-9]{{1,2}}){_ORD}\.?[ /-]*(?<mon>\p{{L}}+)\.?,?[ ./-]*{_YEAR}{_TIME}$",
    rf"(?i)^{_WEEKDAY}(?<mon>\p{{L}}+)\.?[ /-]*(?<d>[0-9]{{1,2}}){_ORD},?[ ./-]+{_YEAR}{_TIME}$",
    rf"(?i)^(?<y>[0-9]{{4}})[ ./-]*(?<mon>\p{{L}}+)\.?[ ./-]*(?<d>[0-9]{{1,2}}){_TIME}$",
)
_EPOCH = r"^[0-9]{10}$|^[0-9]{13}$"
_SERIAL = r"^[0-9]+(?:\.[0-9]+)?$"
_SERIAL_MIN, _SERIAL_MAX = 20_000, 80_000
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_DATE_SLICE = 1_000_000  # rows whose date parts are made at once
_TWO_DIGIT_PIVOT = 69  # 00..68 -> 2000..2068, 69..99 -> 1969..1999 (as POSIX strptime %y)


def _most_common_first(frame: pl.DataFrame, patterns: tuple[str, ...]) -> list[str]:
    """``patterns`` ordered by how many values of a small sample of ``v`` they match (most first).

    Only speed depends on this: the shapes do not overlap, and every value is still tried on all.
    """
    if frame.height == 0:
        return list(patterns)
    sample = frame.gather_every(max(1, frame.height // 2_000))
    hits = sample.select(
        *(pl.col("v").str.contains(p).sum().alias(str(i)) for i, p in enumerate(patterns))
    ).row(0)
    ranked = sorted(range(len(patterns)), key=lambda i: -hits[i])
    return [patterns[i] for i in ranked]


def _iso_fixed_groups() -> dict[str, pl.Expr]:
    """Date groups of fixed-width ISO values, cut by position (the groups they lack are null)."""
    v = pl.col("v")
    cuts = {"y": (0, 4), "mo": (5, 2), "d": (8, 2), "H": (11, 2), "Mi": (14, 2), "S": (17, 2)}
    return {g: v.str.slice(*cuts[g]) if g in cuts else pl.lit(None, pl.String) for g in _DATE_GROUPS}


def _date_parts(frame: pl.DataFrame) -> pl.DataFrame:
    """Match the date shapes on ``v``; return k, n, v and integer parts (y, p1, p2, amb, time, off).

    Each shape's matches are turned into numbers on their own (the text of the groups never exists for
    the whole column at once: fixed-width ISO values are cut and converted in one pass)."""
    columns = ("k", "n", "v", *_DATE_GROUPS)
    fixed = pl.col("v").str.contains(_ISO_FIXED)
    parts = [_part_numbers(frame.filter(fixed), _iso_fixed_groups())]
    remaining = frame.filter(~fixed).select("k", "n", "v")
    extracted = {g: pl.col(g) for g in _DATE_GROUPS}
    for pattern in _most_common_first(remaining, _DATE_SHAPES):
        if remaining.height == 0:
            break
        got = _extract(remaining, pattern, _DATE_GROUPS)
        hit = pl.col("y").is_not_null() | pl.col("a").is_not_null()
        parts.append(_part_numbers(got.filter(hit).select(columns), extracted))
        remaining = got.filter(~hit).select("k", "n", "v")
    parts.append(_part_numbers(remaining, {g: pl.lit(None, pl.String) for g in _DATE_GROUPS}))
    return pl.concat(parts, how="vertical")


def _part_numbers(frame: pl.DataFrame, g: dict[str, pl.Expr]) -> pl.DataFrame:
    """k, n, v and the integer parts of the date groups ``g`` (text expressions over ``frame``)."""

    def number(name: str) -> pl.Expr:
        return g[name].cast(pl.Int32, strict=False)

    return frame.select(
        "k",
        "n",
        "v",
        number("y").alias("y"),
        (g["y"].str.len_chars() == 2).alias("yy"),
        pl.coalesce(number("mo"), _map(_fold(g["mon"]), MONTH_NAMES, pl.Int32()), number("a")).alias("p1"),
        pl.coalesce(number("d"), number("b")).alias("p2"),
        g["a"].is_not_null().alias("amb"),
        (g["s1"].is_null() | (g["s1"] == g["s2"])).alias("sep_ok"),
        number("H").alias("H"),
        number("Mi").alias("Mi"),
        number("S").alias("S"),
        g["F"].str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int32, strict=False).alias("us"),
        _map(g["ap"].str.to_lowercase().str.slice(0, 1), {"a": 0, "p": 1}, pl.Int32()).alias("pm"),
        _tz_minutes(g["tz"]).alias("off"),
    )


def _tz_minutes(tz: pl.Expr) -> pl.Expr:
    """Offset of a zone designator in minutes east of UTC (Z/UTC/GMT -> 0, +05:30 -> 330)."""
    digits = tz.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int32, strict=False)
    minutes = digits.str.slice(2, 2).cast(pl.Int32, strict=False).fill_null(0)
    sign = pl.when(tz.str.starts_with("-")).then(-1).otherwise(1)
    return pl.when(tz.is_null()).then(None).when(digits == "").then(0).otherwise(sign * (hours * 60 + minutes))


def _order(dayfirst: bool) -> str:
    return "day-first" if dayfirst else "month-first"


def _decide_dayfirst(
    parts: pl.DataFrame, dayfirst: bool | None, column: str, *, month_starts: bool = False
) -> tuple[bool, tuple[str, dict] | None]:
    """Day-first or month-first for the ambiguous numeric dates of a column, and the note saying why.

    Rows whose first number exceeds 12 vote day-first, rows whose second does vote month-first; the
    majority wins (a tie goes to ``dayfirst``, else month-first) and the minority rows become invalid
    dates. With no votes and ``month_starts`` (period columns, where dates are first days of months),
    a part that is 1 in every value while the other varies is the day. Then ``dayfirst`` decides, else
    month-first.
    """
    amb = parts.filter(pl.col("amb"))
    p1, p2 = pl.col("p1"), pl.col("p2")
    votes = _amb_votes(amb)
    if month_starts and dayfirst is None and votes.amb and not (votes.day or votes.month) and votes.unsure:
        first_is_one, second_is_one = amb.select((p1 == 1).all(), (p2 == 1).all()).row(0)
        if first_is_one != second_is_one:
            return first_is_one, ("date_order_from_data", {"column": column, "order": _order(first_is_one)})
    return _choose_dayfirst(votes, dayfirst, column)


@dataclass(frozen=True)
class DateVotes:
    """What a column's values say about its dates, summed over pieces of the column (a streamed import):
    whether any value is present and all are Excel serials, whether some date is ambiguous, and the row
    counts of ambiguous dates that only day-first (`day`) or only month-first (`month`) can read and of
    those both can read differently (`unsure`). The sum over pieces is the whole column's."""

    present: bool = False
    all_serial: bool = True
    amb: bool = False
    day: int = 0
    month: int = 0
    unsure: int = 0

    def __add__(self, other: "DateVotes") -> "DateVotes":
        return DateVotes(self.present or other.present, self.all_serial and other.all_serial,
                         self.amb or other.amb, self.day + other.day, self.month + other.month,
                         self.unsure + other.unsure)


@dataclass(frozen=True)
class DateDecision:
    """The whole column's date decision: Excel serials or not, day-first or not, and its note."""

    serial: bool
    dayfirst: bool
    note: tuple[str, dict] | None


def _amb_votes(amb: pl.DataFrame) -> DateVotes:
    p1, p2 = pl.col("p1"), pl.col("p2")
    return DateVotes(amb=amb.height > 0, day=_sum_n(amb, (p1 > 12) & (p2 <= 12)),
                     month=_sum_n(amb, (p2 > 12) & (p1 <= 12)),
                     unsure=_sum_n(amb, (p1 <= 12) & (p2 <= 12) & (p1 != p2)))


def _choose_dayfirst(votes: DateVotes, dayfirst: bool | None, column: str) -> tuple[bool, tuple[str, dict] | None]:
    """`_decide_dayfirst` from the votes (without the period columns' first-of-month rule)."""
    if not votes.amb:
        return bool(dayfirst), None
    if votes.day or votes.month:
        chosen = votes.day > votes.month if votes.day != votes.month else bool(dayfirst)
        return chosen, ("date_order_from_data", {"column": column, "order": _order(chosen)})
    if not votes.unsure:
        return bool(dayfirst), None
    if dayfirst is not None:
        return dayfirst, ("date_order_from_user", {"column": column, "order": _order(dayfirst)})
    return False, ("date_order_default", {"column": column, "order": _order(False)})


def _days_in_month(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (
        pl.when(month == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


def _build_datetime(dayfirst: bool) -> pl.Expr:
    """Naive UTC datetime from the integer parts of :func:`_date_parts`; null where a part is out of range."""
    swap = pl.col("amb") & pl.lit(dayfirst)
    month = pl.when(swap).then(pl.col("p2")).otherwise(pl.col("p1"))
    day = pl.when(swap).then(pl.col("p1")).otherwise(pl.col("p2"))
    y = pl.col("y")
    year = (
        pl.when(pl.col("yy") & (y < _TWO_DIGIT_PIVOT)).then(y + 2000)
        .when(pl.col("yy")).then(y + 1900)
        .otherwise(y)
    )
    h, pm = pl.col("H").fill_null(0), pl.col("pm")
    hour = pl.when(pm.is_null()).then(h).otherwise(h % 12 + 12 * pm)
    minute, second = pl.col("Mi").fill_null(0), pl.col("S").fill_null(0)
    ok = (
        pl.col("sep_ok")
        & year.is_between(_YEAR_MIN, _YEAR_MAX)
        & month.is_between(1, 12)
        & (day >= 1)
        & (day <= _days_in_month(year, month))
        & pl.when(pm.is_null()).then(h <= 23).otherwise(h.is_between(1, 12))
        & (minute <= 59)
        & (second <= 59)
    )

    # a null year makes the whole datetime null without checking the other parts
    built = pl.datetime(
        pl.when(ok).then(year), month, day, hour, minute, second, pl.col("us").fill_null(0), time_unit="us"
    )
    return built - pl.duration(minutes=pl.col("off").fill_null(0))


def _serial_column(table: pl.DataFrame) -> bool:
    """True when every non-empty value is a number within the Excel serial-date window."""
    values = table.filter(pl.col("v").is_not_null())
    if values.height == 0:
        return False
    v = pl.col("v")
    if not values.select(v.str.contains(_SERIAL).all()).item():
        return False
    return bool(values.select(v.cast(pl.Float64).is_between(_SERIAL_MIN, _SERIAL_MAX).all()).item())


def _from_serial(v: pl.Expr) -> pl.Expr:
    """Excel 1900-system serial (fraction = time of day) to a datetime, rounded to the second."""
    seconds = (v.cast(pl.Float64) * 86_400).round(0).cast(pl.Int64)
    return pl.lit(_EXCEL_EPOCH, pl.Datetime("us")) + pl.duration(seconds=seconds)


def _from_epoch(v: pl.Expr) -> pl.Expr:
    """Epoch seconds (10 digits) or milliseconds (13 digits, HubSpot) to a naive UTC datetime."""
    number = v.cast(pl.Int64)
    return (
        pl.when(v.str.len_chars() == 13)
        .then(pl.from_epoch(number, time_unit="ms"))
        .otherwise(pl.from_epoch(number, time_unit="s"))
        .cast(pl.Datetime("us"))
    )


def _dates_table(
    table: pl.DataFrame, *, dayfirst: bool | None, column: str, month_starts: bool = False,
    decided: DateDecision | None = None,
) -> tuple[pl.DataFrame, tuple[str, dict] | None]:
    """Parse the cleaned values ``v`` of a k/n/v table to a naive UTC datetime ``dt`` (one row per k)."""
    in_range = pl.when(pl.col("dt").dt.year().is_between(_YEAR_MIN, _YEAR_MAX)).then(pl.col("dt")).alias("dt")
    if decided.serial if decided is not None else _serial_column(table):
        out = table.select("k", "v", _from_serial(pl.col("v")).alias("dt"))
        return out.with_columns(in_range), ("date_excel_serial", {"column": column})
    present = table.filter(pl.col("v").is_not_null())
    epoch = pl.col("v").str.contains(_EPOCH)
    epochs = present.filter(epoch).select("k", "v", _from_epoch(pl.col("v")).alias("dt"))
    # the integer parts are made _DATE_SLICE rows at a time, so those of a 10M-row column never exist at
    # once (about 550 MB): a row that is not ambiguous is built at once (the day/month order cannot change
    # it), an ambiguous one keeps its parts until the whole column has voted on the order
    dated = present.filter(~epoch)
    plain, ambiguous = [], []
    for start in range(0, max(dated.height, 1), _DATE_SLICE):
        parts = _date_parts(dated.slice(start, _DATE_SLICE))
        plain.append(parts.filter(~pl.col("amb")).select("k", "v", _build_datetime(False).alias("dt")))
        ambiguous.append(parts.filter(pl.col("amb")))
        del parts
    amb = pl.concat(ambiguous, how="vertical")
    if decided is not None:                  # a piece of a column decided as a whole (a streamed import)
        chosen, note = decided.dayfirst, decided.note
    else:
        chosen, note = _decide_dayfirst(amb, dayfirst, column, month_starts=month_starts)
    built = amb.select("k", "v", _build_datetime(chosen).alias("dt"))
    empty = table.filter(pl.col("v").is_null()).select("k", "v", pl.lit(None, pl.Datetime("us")).alias("dt"))
    return pl.concat([epochs, *plain, built, empty], how="vertical").with_columns(in_range), note


def parse_dates(
    s: pl.Series, *, dayfirst: bool | None = None, column: str = "", with_time: bool = False,
    decided: DateDecision | None = None,
) -> ColumnParse:
    """Parse a column of date or datetime text.

    Values are ``pl.Date`` (datetimes truncated to their date), or naive ``pl.Datetime("us")`` when
    ``with_time`` (date-only values at midnight). Zoned datetimes are converted to UTC first. The order
    of ambiguous numeric dates (``03/01/19``) is decided for the whole column from the data; ``dayfirst``
    is used only when the data cannot decide. A column of numbers all within 20000..80000 is read as
    Excel serial dates (1900 date system). Error code: ``bad_date``. ``decided``: the whole column's
    decision (`decide_dates` over the `date_votes` of all its pieces) for a piece of it.
    """
    d = _distinct(s)
    extra = {"decided": decided} if decided is not None else {}
    out, note = _dates_table(d.table, dayfirst=dayfirst, column=column, **extra)
    value = pl.col("dt") if with_time else pl.col("dt").dt.date()
    result = out.select("k", value.alias("value"), _error_expr(pl.col("dt"), "bad_date").alias("error"))
    rows = _spread(d, result, ["value", "error"])
    return ColumnParse(values=rows["value"].rename(s.name), error=rows["error"].rename(s.name), note=note)


def date_votes(s: pl.Series) -> DateVotes:
    """What this piece of a date column says towards the column's decisions (see `DateVotes`)."""
    raw = s if s.dtype == pl.String else s.cast(pl.String)
    iso = raw.str.contains(_ISO_FIXED).fill_null(False)
    if iso.any():
        # a fixed-width ISO value is clean already and neither an Excel serial nor ambiguous: it only
        # says that the column has a value that is not a serial (most of a big export is such values)
        rest = date_votes(raw.filter(~iso)) if not iso.all() else DateVotes()
        return DateVotes(True, False, rest.amb, rest.day, rest.month, rest.unsure)
    table = _distinct(raw).table
    values = table.filter(pl.col("v").is_not_null())
    if values.height == 0:
        return DateVotes()
    serial = _serial_column(table)
    # only dates of the day/month shape are ambiguous (fixed-width ISO ones, most of a big export, never are)
    dated = values.filter(~pl.col("v").str.contains(_EPOCH) & ~pl.col("v").str.contains(_ISO_FIXED))
    votes = DateVotes()
    for start in range(0, dated.height, _DATE_SLICE):
        parts = _date_parts(dated.slice(start, _DATE_SLICE))
        votes = votes + _amb_votes(parts.filter(pl.col("amb")))
        del parts
    return DateVotes(True, serial, votes.amb, votes.day, votes.month, votes.unsure)


def decide_dates(votes: DateVotes, *, dayfirst: bool | None, column: str) -> DateDecision:
    """The decision `parse_dates` takes for a whole column whose pieces voted `votes`."""
    if votes.present and votes.all_serial:
        return DateDecision(True, False, ("date_excel_serial", {"column": column}))
    chosen, note = _choose_dayfirst(votes, dayfirst, column)
    return DateDecision(False, chosen, note)


# --------------------------------------------------------------------------------------------------
# numbers and amounts

_CURRENCY_SYMBOLS: dict[str, str] = {
    "us$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "￥": "CNY", "元": "CNY", "人民币": "CNY",
    "rmb": "CNY", "₺": "TRY", "tl": "TRY", "r$": "BRL", "₹": "INR", "rs": "INR", "₩": "KRW", "₽": "RUB",
}
_CURRENCY_CODES = (
    "USD", "EUR", "GBP", "CNY", "JPY", "TRY", "INR", "BRL", "CHF", "CAD", "AUD", "NZD", "HKD", "SGD", "KRW",
    "RUB", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR", "AED", "SAR", "TWD", "THB", "IDR", "MYR", "PHP", "VND",
    "HUF", "CZK", "ILS", "EGP", "NGN", "KES", "ARS", "CLP", "COP", "PEN",
)
CURRENCIES: dict[str, str] = {**{c.lower(): c for c in _CURRENCY_CODES}, **_CURRENCY_SYMBOLS}
"""Currency symbols and codes (lower case) to ISO 4217 codes."""

MULTIPLIERS: dict[str, float] = {
    "k": 1e3, "m": 1e6, "mn": 1e6, "mio": 1e6, "b": 1e9, "bn": 1e9,
    "千": 1e3, "万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8,
}
"""Amount suffixes (lower case) to their factor."""

_CUR = "(?i:" + "|".join(re.escape(k) for k in sorted(CURRENCIES, key=len, reverse=True)) + ")"
_MULT = "(?i:" + "|".join(re.escape(k) for k in sorted(MULTIPLIERS, key=len, reverse=True)) + ")"
# A value is split into its number and the decoration around it by stripping decoration characters
# from both ends (a trailing "." may close "Mio."; a leading one starts ".5"). Whatever is left must be
# a valid number, and the decoration, with the number as "#", must match _AMOUNT_DECO.
_DECO_CHARS = "".join(
    sorted({ch for word in (*CURRENCIES, *MULTIPLIERS) for ch in word + word.upper()} | set("()+-%' "))
)
_AMOUNT_DECO = (
    rf"^(?<po>\()? ?(?<s1>[-+])? ?(?<c1>{_CUR})? ?(?<s2>[-+])? ?(?<po2>\()? ?# ?(?:(?<mult>{_MULT})\.?)?"
    rf" ?(?<pc>\))? ?(?<c2>{_CUR})? ?(?<s3>-)? ?(?<pc2>\))?$"
)
_AMOUNT_GROUPS = ("po", "s1", "c1", "s2", "po2", "mult", "pc", "c2", "s3", "pc2")
_ACCOUNTING_ZERO = rf"^(?<cz>{_CUR}) ?-+$|^-+ ?(?<cz2>{_CUR})$"  # Excel accounting format shows 0 as "$ -"
_PERCENT_DECO = r"^(?<pp>%)? ?(?<s1>[-+])? ?# ?(?<pct>%)?$"
_TYPOGRAPHIC = ["\u2212", "\u2013", "\u2010", "\u2019", "\u00b4", "`"]
_VALID_NUMBER = (
    r"^(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+"
    r"|[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?"  # 1,234,567.89
    r"|[0-9]{1,2}(?:,[0-9]{2})+,[0-9]{3}(?:\.[0-9]+)?"  # 12,34,567.89 (Indian grouping)
    r"|[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?"  # 1.234.567,89
    r"|[0-9]{1,3}(?:[ '][0-9]{3})+(?:[.,][0-9]+)?)$"  # 1 234 567,89 / 1'234'567.89
)


def _split_number(table: pl.DataFrame) -> pl.DataFrame:
    """k, n, v, ``num`` (the number characters) and ``deco`` (the value with the number as ``#``)."""
    frame = table.select("k", "n", "v")
    if frame.select(pl.col("v").str.contains("[" + "".join(_TYPOGRAPHIC) + "]").any()).item():
        frame = frame.with_columns(pl.col("v").str.replace_many(_TYPOGRAPHIC, ["-", "-", "-", "'", "'", "'"]))
    v = pl.col("v")
    frame = frame.with_columns(
        _len=v.str.len_chars(),
        _pre=v.str.len_chars() - v.str.strip_chars_start(_DECO_CHARS).str.len_chars(),
        _suf=v.str.len_chars() - v.str.strip_chars_end(_DECO_CHARS + ".").str.len_chars(),
    )
    size, pre, suf = pl.col("_len"), pl.col("_pre"), pl.col("_suf")
    has_number = pre + suf < size
    num = pl.when(has_number).then(v.str.slice(pre, size - pre - suf))
    deco = pl.when(has_number).then(pl.concat_str(v.str.head(pre), pl.lit("#"), v.str.tail(suf))).otherwise(v)
    return frame.select("k", "n", "v", num.alias("num"), deco.alias("deco"))


def _decode_numbers(frame: pl.DataFrame, comma_decimal: bool | None = None) -> pl.DataFrame:
    """Read the digit strings in ``num`` with a per-column decimal-separator decision.

    Adds ``number`` (Float64, unsigned; null where the grouping is invalid). Unambiguous values vote
    for the decimal separator; a value with one separator and exactly three digits after it (``1,234``,
    ``1.234``) follows the majority of rows, and reads as 1234 / 1.234 when no row decides.
    ``comma_decimal``: the whole column's decision (`number_votes` of all its pieces), for a piece of it.
    """
    frame = _number_kinds(frame)
    if comma_decimal is None:
        comma_decimal = _comma_decimal(*_separator_votes(frame))
    return _read_numbers(frame, comma_decimal)


def _number_kinds(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the separator counts and the decimal separator of each value (``_dec``)."""
    num = pl.col("num")
    frame = frame.with_columns(
        _dots=num.str.count_matches(".", literal=True),
        _commas=num.str.count_matches(",", literal=True),
        _spaced=num.str.contains("[ ']"),
        _valid=num.str.contains(_VALID_NUMBER),
        _pos=num.str.find(r"[.,][0-9]*$").cast(pl.Int32),
    )
    dots, commas, spaced, pos = pl.col("_dots"), pl.col("_commas"), pl.col("_spaced"), pl.col("_pos")
    last_sep = num.str.slice(pos, 1)
    after = num.str.len_chars().cast(pl.Int32) - pos - 1
    single = (dots + commas == 1) & ~spaced
    ambiguous = single & (after == 3) & pos.is_between(1, 3) & ~num.str.starts_with("0")
    # decimal separator per value: "." / "," / "" (integer); "?." / "?," ambiguous; null invalid
    dec = (
        pl.when(~pl.col("_valid")).then(None)
        .when(ambiguous).then(pl.concat_str(pl.lit("?"), last_sep))
        .when(((dots > 0) & (commas > 0)) | single | spaced).then(pl.coalesce(last_sep, pl.lit("")))
        .otherwise(pl.lit(""))
    )
    return frame.with_columns(_dec=dec)


def _separator_votes(frame: pl.DataFrame) -> tuple[int, int]:
    """Rows that read only with a decimal comma, and only with a decimal point."""
    dec, dots, commas = pl.col("_dec"), pl.col("_dots"), pl.col("_commas")
    return (_sum_n(frame, (dec == ",") | ((dec == "") & (dots > 1))),
            _sum_n(frame, (dec == ".") | ((dec == "") & (commas > 1))))


def _comma_decimal(comma_votes: int, dot_votes: int) -> bool:
    return comma_votes > dot_votes


def _read_numbers(frame: pl.DataFrame, comma_decimal: bool) -> pl.DataFrame:
    """The numbers of a `_number_kinds` frame, the ambiguous ones read as `comma_decimal` says."""
    num, dec = pl.col("num"), pl.col("_dec")
    dots, commas, spaced, pos = pl.col("_dots"), pl.col("_commas"), pl.col("_spaced"), pl.col("_pos")
    after = num.str.len_chars().cast(pl.Int32) - pos - 1
    resolved = (
        pl.when(dec == "?,").then(pl.lit("," if comma_decimal else ""))
        .when(dec == "?.").then(pl.lit("" if comma_decimal else "."))
        .otherwise(dec)
    )
    frame = frame.with_columns(_dec=resolved)
    decimals = pl.when(dec.is_in([".", ","])).then(after).otherwise(0)
    plain = ((dec == ".") & (commas == 0) & ~spaced) | ((dec == "") & (dots + commas == 0) & ~spaced)
    if frame.select((dec.is_not_null() & ~plain).any()).item():
        digits = num
        for sep in (",", ".", "'", " "):
            if frame.select(num.str.contains(sep, literal=True).any()).item():
                digits = digits.str.replace_all(sep, "", literal=True)
        shifted = digits.cast(pl.Float64, strict=False) / pl.lit(10.0).pow(decimals)
        number = pl.when(plain).then(num.cast(pl.Float64, strict=False)).when(dec.is_not_null()).then(shifted)
    else:
        number = pl.when(plain).then(num.cast(pl.Float64, strict=False))
    return frame.with_columns(number=number).drop("_dots", "_commas", "_spaced", "_valid", "_pos", "_dec")


def _decoration_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Parse each distinct amount decoration: ok, minus, factor, currency, zero (accounting dash)."""
    decos = frame.group_by("deco").agg(pl.col("n").sum()).rename({"deco": "v"})
    got = _extract(decos, _AMOUNT_DECO, _AMOUNT_GROUPS)

    def present(name: str) -> pl.Expr:
        return pl.col(name).is_not_null().cast(pl.Int32)

    opens, closes = present("po") + present("po2"), present("pc") + present("pc2")
    minus = (
        (pl.col("s1") == "-").fill_null(False).cast(pl.Int32)
        + (pl.col("s2") == "-").fill_null(False).cast(pl.Int32)
        + present("s3")
        + (opens == 1).cast(pl.Int32)
    )
    plus = (pl.col("s1") == "+").fill_null(False).cast(pl.Int32) + (pl.col("s2") == "+").fill_null(False).cast(
        pl.Int32
    )
    cur1 = _map(pl.col("c1").str.to_lowercase(), CURRENCIES, pl.String())
    cur2 = _map(pl.col("c2").str.to_lowercase(), CURRENCIES, pl.String())
    ok = (
        pl.col("v").str.contains(_AMOUNT_DECO)
        & (opens == closes)
        & (opens <= 1)
        & (minus + plus <= 1)  # one sign at most: "-", "+", a trailing "-" or parentheses
        & (cur1.is_null() | cur2.is_null() | (cur1 == cur2))
    )
    zero = _extract(got.select("v"), _ACCOUNTING_ZERO, ("cz", "cz2")).select(
        "v", _map(pl.coalesce("cz", "cz2").str.to_lowercase(), CURRENCIES, pl.String()).alias("zero_cur")
    )
    return got.join(zero, on="v", how="left").select(
        pl.col("v").alias("deco"),
        (ok | pl.col("zero_cur").is_not_null()).alias("deco_ok"),
        pl.when(minus == 1).then(-1.0).otherwise(1.0).alias("sign"),
        pl.coalesce(_map(pl.col("mult").str.to_lowercase(), MULTIPLIERS, pl.Float64()), pl.lit(1.0)).alias("factor"),
        pl.coalesce(cur1, cur2, pl.col("zero_cur")).alias("currency"),
        pl.col("zero_cur").is_not_null().alias("zero"),
    )


def _amount_parts(table: pl.DataFrame, comma_decimal: bool | None = None) -> pl.DataFrame:
    """k, n, v, ``amount`` (Float64, signed, null when invalid) and ``currency`` of every value."""
    frame = _decode_numbers(_split_number(table), comma_decimal)
    frame = frame.join(_decoration_table(frame), on="deco", how="left")
    number, factor = pl.col("number"), pl.col("factor")
    # rounded so that 1.1万 is 11000, not 11000.000000000002
    scaled = pl.when(factor == 1.0).then(number).otherwise((number * factor).round(6))
    amount = (
        pl.when(~pl.col("deco_ok").fill_null(False)).then(None)
        .when(pl.col("zero") | (scaled == 0)).then(pl.lit(0.0))  # also no -0.0 from "-0" or "(0.00)"
        .otherwise(scaled * pl.col("sign"))
    )
    currency = pl.when(amount.is_not_null()).then(pl.col("currency"))
    return frame.select("k", "n", "v", amount.alias("amount"), currency.alias("currency"))


def parse_amounts(s: pl.Series, *, column: str = "") -> ColumnParse:
    """Parse money amounts: currency symbols or codes, thousands separators, decimal comma, negatives.

    Accepts ``$1,234.56``, ``1.234,56 €``, ``1 234,56``, ``(1,200)``, ``1200-``, ``1.2k``, ``3万``,
    ``RMB 500``, ``₺1.500``; percent is refused. ``extra`` holds the ISO currency code (or null).
    Error code: ``bad_amount``.
    """
    d = _distinct(s)
    parts = _amount_parts(d.table)
    error = _error_expr(pl.col("amount"), "bad_amount")
    result = parts.select("k", pl.col("amount").alias("value"), "currency", error.alias("error"))
    rows = _spread(d, result, ["value", "error", "currency"])
    return ColumnParse(
        values=rows["value"].rename(s.name), error=rows["error"].rename(s.name), extra=rows["currency"].rename(s.name)
    )


def parse_numbers(s: pl.Series, *, column: str = "", comma_decimal: bool | None = None) -> ColumnParse:
    """Parse plain numbers (durations, targets, counts) with the same separator and sign rules as amounts.

    A currency symbol or code makes the value a ``bad_number``; ``k``/``M``/``万`` multipliers are kept.
    ``comma_decimal``: the whole column's decision (`decide_numbers`), for a piece of it.
    """
    d = _distinct(s)
    parts = _amount_parts(d.table, comma_decimal)
    value = pl.when(pl.col("currency").is_null()).then(pl.col("amount"))
    result = parts.select("k", value.alias("value"), _error_expr(value, "bad_number").alias("error"))
    rows = _spread(d, result, ["value", "error"])
    return ColumnParse(values=rows["value"].rename(s.name), error=rows["error"].rename(s.name))


def number_votes(s: pl.Series) -> tuple[int, int]:
    """The rows of this piece of a number column that read only with a decimal comma, and only with a
    decimal point; summed over the pieces, `decide_numbers` gives the whole column's separator."""
    return _separator_votes(_number_kinds(_split_number(_distinct(s).table)))


def decide_numbers(votes: tuple[int, int]) -> bool:
    """True when a number column whose pieces voted `votes` has a decimal comma (as `parse_numbers` decides)."""
    return _comma_decimal(*votes)


def parse_probability(s: pl.Series, *, column: str = "") -> ColumnParse:
    """Parse probabilities to Float64 in [0, 1].

    ``50%``, ``%50`` and ``50,5%`` are percents; bare numbers are fractions unless the column's largest
    bare number exceeds 1, in which case the column is on a 0..100 scale. Anything outside [0, 1] after
    scaling is ``bad_probability``.
    """
    d = _distinct(s)
    frame = _decode_numbers(_split_number(d.table))
    decos = frame.group_by("deco").agg(pl.col("n").sum()).rename({"deco": "v"})
    decos = _extract(decos, _PERCENT_DECO, ("pp", "s1", "pct")).select(
        pl.col("v").alias("deco"),
        pl.col("v").str.contains(_PERCENT_DECO).alias("deco_ok"),
        (pl.col("pp").is_not_null() | pl.col("pct").is_not_null()).alias("percent"),
        pl.when(pl.col("s1") == "-").then(-1.0).otherwise(1.0).alias("sign"),
    )
    frame = frame.join(decos, on="deco", how="left").with_columns(
        signed=pl.when(pl.col("deco_ok")).then(pl.col("number") * pl.col("sign"))
    )
    bare_max = frame.select(pl.col("signed").filter(~pl.col("percent")).max()).item()
    hundred = bare_max is not None and bare_max > 1
    scaled = pl.when(pl.col("percent") | pl.lit(hundred)).then(pl.col("signed") / 100).otherwise(pl.col("signed"))
    value = pl.when(scaled.is_between(0.0, 1.0)).then(scaled)
    result = frame.select("k", value.alias("value"), _error_expr(value, "bad_probability").alias("error"))
    rows = _spread(d, result, ["value", "error"])
    return ColumnParse(values=rows["value"].rename(s.name), error=rows["error"].rename(s.name))


# --------------------------------------------------------------------------------------------------
# periods

_PERIOD_GROUPS = ("y", "m", "q", "q2", "q3", "q4", "h", "mon", "fy")
_CN_QUARTER = {"1": 1, "2": 2, "3": 3, "4": 4, "一": 1, "二": 2, "三": 3, "四": 4}
_PY = r"(?<y>[0-9]{2}(?:[0-9]{2})?)"
# Tried in order; the first shape that matches a value decides its reading. Values no shape matches
# are read as dates (the period is the month containing the date).
_PERIOD_SHAPES: tuple[str, ...] = (
    r"^(?<y>[0-9]{4}) ?[-/.] ?(?<m>[0-9]{1,2})$",
    r"^(?<y>[0-9]{4})(?<m>0[1-9]|1[0-2])$",
    r"^(?<m>[0-9]{1,2}) ?[-/.] ?(?<y>[0-9]{4})$",
    r"^(?<y>[0-9]{4}) ?年 ?(?<m>[0-9]{1,2}) ?月份?$",
    r"(?i)^(?<y>[0-9]{4}) ?[-/ ]? ?q(?<q>[1-4])$",
    rf"(?i)^q(?<q>[1-4]) ?[-/ ']? ?{_PY}$",
    r"^(?<y>[0-9]{4}) ?年 ?(?:[Qq](?<q>[1-4])|第? ?(?<q2>[1-4一二三四]) ?季度?)$",
    r"(?i)^(?<y>[0-9]{4}) ?[-/ ]? ?(?<q3>[1-4]) ?\.? ?çeyrek$",
    r"(?i)^(?<q4>[1-4]) ?\.? ?çeyrek ?[-/ ]? ?(?<y>[0-9]{4})$",
    r"(?i)^(?<y>[0-9]{4}) ?[-/ ]? ?h(?<h>[12])$",
    rf"(?i)^h(?<h>[12]) ?[-/ ']? ?{_PY}$",
    r"(?i)^(?<fy>fy|cy) ?'?(?<y>[0-9]{2}(?:[0-9]{2})?)$",
    r"^(?<y>[0-9]{4}) ?年?$",
    rf"(?i)^(?<mon>\p{{L}}+)\.? ?[-/ ,'.]? ?{_PY}$",
    r"(?i)^(?<y>[0-9]{4}) ?[-/ ]? ?(?<mon>\p{L}+)\.?$",
)


def _period_parts(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Match the period shapes on ``v``.

    Returns (parsed, rest): parsed has k, v, ``first`` (month index ``year * 12 + month - 1``, null when
    out of range) and ``months`` (length); rest holds the k/n/v rows no shape matched.
    """
    columns = ("k", "n", "v", *_PERIOD_GROUPS)
    remaining = frame.select("k", "n", "v")
    parts = [remaining.clear().with_columns(pl.lit(None, pl.String).alias(g) for g in _PERIOD_GROUPS)]
    for pattern in _PERIOD_SHAPES:
        if remaining.height == 0:
            break
        got = _extract(remaining, pattern, _PERIOD_GROUPS)
        hit = pl.col("y").is_not_null()
        parts.append(got.filter(hit).select(columns))
        remaining = got.filter(~hit).select("k", "n", "v")
    got = pl.concat([p.select(columns) for p in parts], how="vertical")
    y = pl.col("y").cast(pl.Int32)
    year = pl.when(pl.col("y").str.len_chars() == 2).then(y + 2000).otherwise(y)
    quarter = pl.coalesce(
        pl.col("q").cast(pl.Int32),
        _map(pl.col("q2"), _CN_QUARTER, pl.Int32()),
        pl.col("q3").cast(pl.Int32),
        pl.col("q4").cast(pl.Int32),
    )
    first_month = (
        pl.when(pl.col("m").is_not_null()).then(pl.col("m").cast(pl.Int32))
        .when(quarter.is_not_null()).then((quarter - 1) * 3 + 1)
        .when(pl.col("h").is_not_null()).then((pl.col("h").cast(pl.Int32) - 1) * 6 + 1)
        .when(pl.col("mon").is_not_null()).then(_map(_fold(pl.col("mon")), MONTH_NAMES, pl.Int32()))
        .otherwise(1)
    )
    months = (
        pl.when(pl.col("m").is_not_null() | pl.col("mon").is_not_null()).then(1)
        .when(quarter.is_not_null()).then(3)
        .when(pl.col("h").is_not_null()).then(6)
        .otherwise(12)
    )
    ok = year.is_between(_YEAR_MIN, _YEAR_MAX) & first_month.is_between(1, 12)
    parsed = got.select(
        "k",
        "v",
        pl.when(ok).then(year * 12 + first_month - 1).cast(pl.Int32).alias("first"),
        pl.when(ok).then(months).cast(pl.Int32).alias("months"),
    )
    return parsed, remaining


def _month_start(index: pl.Expr) -> pl.Expr:
    """First day of the month numbered ``year * 12 + month - 1``."""
    return pl.date(index // 12, index % 12 + 1, 1)


def parse_periods(s: pl.Series, *, column: str = "", dayfirst: bool | None = None) -> ColumnParse:
    """Parse target periods: values = first day (pl.Date), extra = last day, inclusive (pl.Date).

    Months (``2024-05``, ``05/2024``, ``Apr-18``, ``April 2018``, ``2024年5月``), quarters (``2024-Q2``,
    ``Q2 2024``, ``2024年第2季度``), halves (``2024-H1``), years (``FY2024``, ``2024``). A full date means the
    month containing it; a column of dates like ``01/04/2018`` whose first part is always 1 is read as
    first days of months (day-first). Two-digit years are 20xx. Error code: ``bad_period``.
    """
    d = _distinct(s)
    parsed, rest = _period_parts(d.table.filter(pl.col("v").is_not_null()))
    dates, note = _dates_table(rest, dayfirst=dayfirst, column=column, month_starts=True)
    from_dates = dates.select(
        "k",
        "v",
        (pl.col("dt").dt.year().cast(pl.Int32) * 12 + pl.col("dt").dt.month().cast(pl.Int32) - 1).alias("first"),
        pl.when(pl.col("dt").is_not_null()).then(pl.lit(1, pl.Int32)).alias("months"),
    )
    empty = d.table.filter(pl.col("v").is_null()).select(
        "k", "v", pl.lit(None, pl.Int32).alias("first"), pl.lit(None, pl.Int32).alias("months")
    )
    both = pl.concat([parsed, from_dates, empty], how="vertical")
    start = _month_start(pl.col("first"))
    end = _month_start(pl.col("first") + pl.col("months") - 1).dt.month_end()
    error = _error_expr(pl.col("first"), "bad_period")
    result = both.select("k", start.alias("value"), end.alias("end"), error.alias("error"))
    rows = _spread(d, result, ["value", "error", "end"])
    return ColumnParse(
        values=rows["value"].rename(s.name),
        error=rows["error"].rename(s.name),
        note=note,
        extra=rows["end"].rename(s.name),
    )


# --------------------------------------------------------------------------------------------------
# statuses, booleans, ids

_STATUS_WORDS: dict[str, str] = {
    **dict.fromkeys(
        ["open", "opened", "in progress", "inprogress", "active", "pipeline", "ongoing",
         "进行中", "跟进中", "未结束", "开放", "acik", "devam ediyor", "devam eden", "aktif"],
        "open",
    ),
    **dict.fromkeys(
        ["won", "closed won", "closedwon", "win", "赢单", "赢", "已赢单", "成交", "已成交",
         "kazanildi", "kazanilan"],
        "won",
    ),
    **dict.fromkeys(
        ["lost", "closed lost", "closedlost", "loss", "lose", "输单", "输", "已输单", "丢单", "已丢单",
         "失败", "已失败", "kaybedildi", "kaybedilen"],
        "lost",
    ),
}
"""Status words (lower case, Turkish folded, ``_``/``-`` read as spaces) to open/won/lost."""

_BOOL_WORDS: dict[str, bool] = {
    **dict.fromkeys(["true", "t", "yes", "y", "1", "1.0", "on", "是", "真", "对", "evet", "dogru", "var"], True),
    **dict.fromkeys(["false", "f", "no", "n", "0", "0.0", "off", "否", "假", "错", "hayir", "yanlis", "yok"], False),
}
"""Yes/no words (lower case, Turkish folded) to booleans."""


def _word_key(v: pl.Expr) -> pl.Expr:
    """Lookup key for vocabulary words: lower case, Turkish folded, runs of space ``_`` ``-`` ``/`` as one space."""
    return _fold(v).str.replace_all(r"[\s_\-/]+", " ").str.strip_chars(" ")


def parse_status(s: pl.Series, *, column: str = "") -> ColumnParse:
    """Map status words (English, Chinese, Turkish) to ``open`` / ``won`` / ``lost``; else ``bad_status``.

    Besides the vocabulary, any value starting with "closed won" / "closed lost" (Zoho's
    "Closed-Lost to Competition") is won / lost.
    """
    d = _distinct(s)
    key = _word_key(pl.col("v"))
    value = pl.coalesce(
        _map(key, _STATUS_WORDS, pl.String()),
        pl.when(key.str.contains(r"^closed ?won\b")).then(pl.lit("won"))
        .when(key.str.contains(r"^closed ?lost\b")).then(pl.lit("lost")),
    )
    result = d.table.select("k", value.alias("value"), _error_expr(value, "bad_status").alias("error"))
    rows = _spread(d, result, ["value", "error"])
    return ColumnParse(values=rows["value"].rename(s.name), error=rows["error"].rename(s.name))


def parse_bool(s: pl.Series, *, column: str = "") -> ColumnParse:
    """Map yes/no words (true/false, yes/no, 1/0, 是/否, evet/hayır ...) to booleans; else ``bad_bool``."""
    d = _distinct(s)
    value = _map(_word_key(pl.col("v")), _BOOL_WORDS, pl.Boolean())
    result = d.table.select("k", value.alias("value"), _error_expr(value, "bad_bool").alias("error"))
    rows = _spread(d, result, ["value", "error"])
    return ColumnParse(values=rows["value"].rename(s.name), error=rows["error"].rename(s.name))


_ID_FLOAT = r"^(?<whole>[+-]?[0-9]+)\.0+$"
_ID_SCI = r"^(?<lead>[1-9])(?:[.,](?<frac>[0-9]+))?[eE]\+?(?<exp>[0-9]{1,2})$"
_ID_NUMERIC = r"^[+-]?[0-9]+\.0+$|^[1-9](?:[.,][0-9]+)?[eE]\+?[0-9]{1,2}$"
_ZEROS = "0" * 100


def to_id(s: pl.Series, *, cleaned: bool = False) -> pl.Series:
    """Ids stay strings: clean spacing, ``123.0`` -> ``123``, Excel ``1.23E+05`` -> ``123000``.

    Scientific notation is expanded only when it is an exact integer; leading zeros are kept.
    ``cleaned``: ``s`` is :func:`clean_text` output already, so the (idempotent) cleaning is not repeated.
    """
    if cleaned and not s.cast(pl.String).str.contains(_ID_NUMERIC).any():
        return s.cast(pl.String)           # clean text and no number-like id: every id is the text itself
    d = _distinct(s, NULL_TOKENS, clean=not cleaned)
    table = d.table
    if not table.select(pl.col("v").str.contains(_ID_NUMERIC).any()).item():
        return _spread(d, table.select("k", pl.col("v").alias("value")), ["value"])["value"].rename(s.name)
    frame = _extract(_extract(table, _ID_FLOAT, ("whole",)), _ID_SCI, ("lead", "frac", "exp"))
    frac = pl.col("frac").fill_null("").str.strip_chars_end("0")
    pad = pl.col("exp").cast(pl.Int32) - frac.str.len_chars().cast(pl.Int32)
    expanded = pl.when(pl.col("lead").is_not_null() & (pad >= 0)).then(
        pl.concat_str(pl.col("lead"), frac, pl.lit(_ZEROS).str.slice(0, pad.clip(0, 100)))
    )
    value = pl.coalesce(pl.col("whole"), expanded, pl.col("v"))
    return _spread(d, frame.select("k", value.alias("value")), ["value"])["value"].rename(s.name)

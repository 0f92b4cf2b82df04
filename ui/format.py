"""Numbers, money, percentages and dates written the way each language writes them.

English: 1,234,567.8 · 25.3% · 12 Mar 2024.  中文: 1,234,567.8 · 25.3% · 2024年3月12日, compact
amounts in 万/亿.  Türkçe: 1.234.567,8 · %25,3 · 12 Mart 2024.
"""
from __future__ import annotations

from datetime import date, datetime

from ui.i18n import current_lang

_TR_MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım", "Aralık"]
_EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CNY": "¥", "TRY": "₺"}
DASH = "—"


def _group(text: str, lang: str) -> str:
    """Swap separators for Turkish (1.234,5)."""
    if lang == "tr":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def number(x: float | int | None, decimals: int = 0, lang: str | None = None) -> str:
    """A number with thousands separators."""
    if x is None:
        return DASH
    lang = lang or current_lang()
    return _group(f"{x:,.{decimals}f}", lang)


def compact(x: float | int | None, lang: str | None = None) -> str:
    """A large number shortened for a headline: 1.2M / 120万 / 1,2 Mn."""
    if x is None:
        return DASH
    lang = lang or current_lang()
    v = float(x)
    a = abs(v)
    if lang == "zh":
        if a >= 1e8:
            return f"{v / 1e8:.2f}亿"
        if a >= 1e4:
            return f"{v / 1e4:.1f}万"
        return number(v, 0, lang)
    units = [(1e9, "B" if lang == "en" else " Mr"), (1e6, "M" if lang == "en" else " Mn"), (1e3, "K" if lang == "en" else " B")]
    for size, suffix in units:
        if a >= size:
            return _group(f"{v / size:,.1f}", lang) + suffix
    return number(v, 0, lang)


def money(x: float | int | None, currency: str | None = None, lang: str | None = None, short: bool = True) -> str:
    """An amount with its currency symbol when one currency is known."""
    if x is None:
        return DASH
    lang = lang or current_lang()
    body = compact(x, lang) if short else number(x, 0, lang)
    sym = _SYMBOLS.get((currency or "").upper(), "")
    if not sym:
        return body if not currency else f"{body} {currency}"
    return f"{body} {sym}" if lang == "tr" else f"{sym}{body}"


def pct(x: float | None, decimals: int = 1, lang: str | None = None) -> str:
    """A ratio 0..1 as a percentage (%25,3 in Turkish)."""
    if x is None:
        return DASH
    lang = lang or current_lang()
    body = _group(f"{x * 100:,.{decimals}f}", lang)
    return f"%{body}" if lang == "tr" else f"{body}%"


def day(d: date | datetime | None, lang: str | None = None) -> str:
    """A date in the language's usual long form."""
    if d is None:
        return DASH
    lang = lang or current_lang()
    if lang == "zh":
        return f"{d.year}年{d.month}月{d.day}日"
    if lang == "tr":
        return f"{d.day} {_TR_MONTHS[d.month - 1]} {d.year}"
    return f"{d.day} {_EN_MONTHS[d.month - 1]} {d.year}"


def moment(d: datetime | None, lang: str | None = None) -> str:
    """A date and time (minutes)."""
    if d is None:
        return DASH
    return f"{day(d, lang)} {d:%H:%M}"


def days(x: float | None, lang: str | None = None) -> str:
    """A duration in days."""
    if x is None:
        return DASH
    lang = lang or current_lang()
    n = number(x, 0, lang)
    return {"zh": f"{n} 天", "tr": f"{n} gün"}.get(lang, f"{n} days")

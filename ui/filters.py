"""The cross-page filters every view respects, and their mirror in the URL.

Filters are a frozen, hashable value: they are the cache key of every view (with the store version)
and round-trip through `st.query_params`, so a link reproduces the view.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Mapping

from data import clock

PRESETS: tuple[str, ...] = ("this_month", "this_quarter", "this_year", "last_90_days", "all_time", "custom")
DEFAULT_PRESET = "this_quarter"
LIST_PARAMS: dict[str, str] = {"team": "teams", "region": "regions", "rep": "reps", "product": "products",
                               "segment": "segments"}


@dataclass(frozen=True)
class Filters:
    """Period (inclusive) and dimension filters; an empty tuple means 'all'."""

    preset: str = DEFAULT_PRESET
    period_from: date | None = None
    period_to: date | None = None
    teams: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    reps: tuple[str, ...] = ()          # rep ids
    products: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()      # account sizes
    as_of: date = field(default_factory=clock.today)

    @property
    def bounded(self) -> bool:
        return self.period_from is not None and self.period_to is not None

    def previous(self) -> "Filters":
        """The previous period of equal length (for 'change vs previous period')."""
        if not self.bounded:
            return self
        step = {"this_month": 1, "this_quarter": 3, "this_year": 12}.get(self.preset)
        if step and self.period_from.day == 1:
            start = _add_months(self.period_from, -step)
            return replace(self, preset="custom", period_from=start, period_to=self.period_from - timedelta(days=1))
        days = (self.period_to - self.period_from).days + 1
        return replace(self, preset="custom", period_from=self.period_from - timedelta(days=days),
                       period_to=self.period_from - timedelta(days=1))

    def key(self) -> tuple:
        """A hashable cache key."""
        return (self.preset, self.period_from, self.period_to, self.teams, self.regions, self.reps,
                self.products, self.segments, self.as_of)


def _add_months(d: date, months: int) -> date:
    idx = d.year * 12 + d.month - 1 + months
    return date(idx // 12, idx % 12 + 1, 1)


def quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def period_for(preset: str, as_of: date) -> tuple[date | None, date | None]:
    """The inclusive dates of a preset period around `as_of` (to the end of the current period)."""
    if preset == "this_month":
        start = as_of.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return start, end
    if preset == "this_quarter":
        start = quarter_start(as_of)
        nxt = date(start.year + (start.month + 3 > 12), (start.month + 2) % 12 + 1, 1)
        return start, nxt - timedelta(days=1)
    if preset == "this_year":
        return date(as_of.year, 1, 1), date(as_of.year, 12, 31)
    if preset == "last_90_days":
        return as_of - timedelta(days=89), as_of
    return None, None


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def from_params(params: Mapping[str, object], as_of: date) -> Filters:
    """Filters from URL query parameters (unknown or malformed values fall back to defaults)."""
    def one(name: str) -> str | None:
        v = params.get(name)
        return v[-1] if isinstance(v, list) and v else (v if isinstance(v, str) else None)

    def many(name: str) -> tuple[str, ...]:
        v = params.get(name)
        items = v if isinstance(v, list) else ([v] if isinstance(v, str) else [])
        out: list[str] = []
        for item in items:
            out.extend(x for x in str(item).split(",") if x)
        return tuple(dict.fromkeys(out))

    preset = one("period") or DEFAULT_PRESET
    if preset not in PRESETS:
        preset = DEFAULT_PRESET
    if preset == "custom":
        start, end = _date(one("from")), _date(one("to"))
        if start and end and start > end:
            start, end = end, start
    else:
        start, end = period_for(preset, as_of)
    return Filters(preset, start, end, *(many(p) for p in LIST_PARAMS), as_of=as_of)


def to_params(f: Filters) -> dict[str, str]:
    """URL query parameters of the filters (only what differs from the defaults)."""
    out: dict[str, str] = {}
    if f.preset != DEFAULT_PRESET:
        out["period"] = f.preset
    if f.preset == "custom":
        if f.period_from:
            out["from"] = f.period_from.isoformat()
        if f.period_to:
            out["to"] = f.period_to.isoformat()
    for param, attr in LIST_PARAMS.items():
        values = getattr(f, attr)
        if values:
            out[param] = ",".join(values)
    return out

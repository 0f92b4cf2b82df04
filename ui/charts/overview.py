"""Overview charts: won revenue per month against the target. Also the money-axis helper the
other page charts share (ticks written like the headline numbers: ¥1.2M, ¥120万, 1,2 Mn ₺)."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

from ui import format as fmt
from ui.charts import BAD, NEUTRAL, PALETTE, base_layout

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TR_MONTHS = ("Oca", "Şub", "Mar", "Nis", "May", "Haz", "Tem", "Ağu", "Eyl", "Eki", "Kas", "Ara")


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not top or top <= 0 or not math.isfinite(top):
        return [0.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(math.ceil(top / step)) + 1)]


_DECIMALS = re.compile(r"(\d)([.,])(\d{1,2})(?=\s?[A-Za-z万亿])")


def tick_text(value: float, currency: str | None, lang: str) -> str:
    """A round amount for an axis: ¥20M, ¥8000万, ¥1.5亿, 20 Mn ₺ (no trailing zero decimals)."""
    def trim(m: re.Match) -> str:
        digits = m.group(3).rstrip("0")
        return m.group(1) + (m.group(2) + digits if digits else "")

    return _DECIMALS.sub(trim, fmt.money(value, currency, lang))


def money_axis(fig: go.Figure, values: Sequence[float | None], currency: str | None, lang: str,
               axis: str = "yaxis") -> go.Figure:
    """Write an amount axis with the app's money format (ticks from 0 to the largest value)."""
    top = max((v for v in values if v is not None and math.isfinite(v)), default=0.0)
    ticks = nice_ticks(top * 1.05)
    fig.update_layout({axis: dict(tickmode="array", tickvals=ticks,
                                  ticktext=[tick_text(v, currency, lang) for v in ticks],
                                  range=[0, ticks[-1] if len(ticks) > 1 else 1])})
    return fig


def month_label(month: object, lang: str) -> str:
    """A short month name: Nov 2026 / 2026年11月 / Kas 2026."""
    if lang == "zh":
        return f"{month.year}年{month.month}月"
    names = _TR_MONTHS if lang == "tr" else _EN_MONTHS
    return f"{names[month.month - 1]} {month.year}"


def trend(frame: pl.DataFrame, *, won_label: str, target_label: str, partial_label: str, x_title: str,
          y_title: str, currency: str | None, lang: str, dark: bool = False) -> go.Figure:
    """Won revenue per month (bars; the running month lighter) with the monthly target as a line.

    `frame`: month, won_revenue, won_deals, target, partial."""
    months = [month_label(m, lang) for m in frame["month"]]
    won = frame["won_revenue"].to_list()
    partial = frame["partial"].to_list()
    deals = frame["won_deals"].to_list()
    hover = [
        f"{m}<br>{won_label}: {fmt.money(v, currency, lang)} · {fmt.number(n, lang=lang)}"
        + (f"<br>{partial_label}" if p else "")
        for m, v, n, p in zip(months, won, deals, partial)
    ]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        x=months, y=won, name=won_label, marker_color=[NEUTRAL if p else PALETTE[0] for p in partial],
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>",
    ))
    targets = frame["target"].to_list()
    if any(v is not None for v in targets):
        fig.add_trace(go.Scatter(
            x=months, y=targets, name=target_label, mode="lines+markers",
            line=dict(color=BAD, width=3, dash="dash"), marker=dict(size=8, symbol="diamond"),
            hovertext=[f"{m}<br>{target_label}: {fmt.money(v, currency, lang)}" for m, v in zip(months, targets)],
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=400)
    fig.update_layout(bargap=0.25, showlegend=True)
    for m, v, p in zip(months, won, partial):
        if p:
            fig.add_annotation(x=m, y=v, text=partial_label, showarrow=False, yanchor="bottom", yshift=4,
                               font=dict(size=13, color=NEUTRAL))
    return money_axis(fig, won + targets, currency, lang)

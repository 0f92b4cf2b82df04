"""Leaderboard chart: effort against outcome (activities against won revenue, one point per rep or
team; top and bottom performers coloured, the top ones and the picked one named and ringed)."""
from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from ui import format as fmt
from ui.charts import BAD, GOOD, HIGHLIGHT, PALETTE, base_layout, safe
from ui.charts.overview import money_axis


def effort_scatter(board: pl.DataFrame, *, key: str, name: str, selected: str | None, x_title: str, y_title: str,
                   won_label: str, activities_label: str, flag_labels: dict[str, str], currency: str | None,
                   lang: str, dark: bool = False) -> go.Figure:
    """Activities (x) against won revenue (y), one point per row of `board` (point index = row).

    `board`: key, name, activities, won_revenue, won_deals, flag."""
    flags = board["flag"].to_list()
    names = [safe(n) for n in board[name].to_list()]
    keys = board[key].to_list()
    won = board["won_revenue"].to_list()
    acts = board["activities"].to_list()
    colours = [GOOD if fl == "top" else BAD if fl == "bottom" else PALETTE[0] for fl in flags]
    sizes = [22 if k == selected else 14 for k in keys]
    rings = [4 if k == selected else 1 for k in keys]
    hover = [
        f"<b>{n}</b><br>{activities_label}: {fmt.number(a, lang=lang)}<br>{won_label}: {fmt.money(w, currency, lang)}"
        + (f"<br>{flag_labels[fl]}" if fl in flag_labels else "")
        for n, a, w, fl in zip(names, acts, won, flags)
    ]
    fig = go.Figure(go.Scatter(
        x=acts, y=won, mode="markers+text", customdata=keys,
        text=[n if fl == "top" or k == selected else "" for n, fl, k in zip(names, flags, keys)],
        textposition="top center", textfont=dict(size=14),
        marker=dict(color=colours, size=sizes, opacity=0.9,
                    line=dict(color=[HIGHLIGHT if k == selected else "#FFFFFF" for k in keys], width=rings)),
        hovertext=hover, hovertemplate="%{hovertext}<extra></extra>", cliponaxis=False,
    ))
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=520)
    fig.update_layout(showlegend=False, margin=dict(l=10, r=30, t=40, b=10))
    fig.update_xaxes(rangemode="tozero", tickformat=",d")
    return money_axis(fig, won, currency, lang)

"""Charts of the meeting slides, drawn for a meeting-room screen: the leaderboard and forecast vs
plan. (The first slide's waterfall is `ui.charts.history.waterfall(big=True)`.)

Pure builders: frames in, `go.Figure` out; names arrive already anonymised when the presenter asks
for it, labels arrive translated.
"""
from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import polars as pl

from ui.charts import GOOD, HIGHLIGHT, NEUTRAL, PALETTE, base_layout, safe
from ui.charts.history import room_size


def leaderboard(rows: pl.DataFrame, *, label: str, value: str, text: str, x_title: str, y_title: str, lang: str,
                big: bool = True) -> go.Figure:
    """Horizontal bars, best at the top: `label` (rep or alias), `value` (won revenue), `text` (shown)."""
    labels = [safe(v) for v in rows[label].to_list()]
    fig = go.Figure(go.Bar(
        x=rows[value].to_list(), y=labels, orientation="h", text=rows[text].to_list(), textposition="auto",
        marker_color=PALETTE[0], hoverinfo="text", hovertext=[f"{n}: {t}" for n, t in zip(labels, rows[text].to_list(),
                                                                                        strict=True)],
        cliponaxis=False,
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    top = max([v for v in rows[value].to_list() if v is not None] + [0.0])
    fig.update_xaxes(range=[0, top * 1.3 or 1])   # room for values printed after the shorter bars
    fig.update_layout(showlegend=False, bargap=0.25)
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, height=max(420, 46 * rows.height + 120))
    return room_size(fig, big)


def forecast_vs_plan(rows: list[dict], *, target: float | None, target_name: str, x_title: str, y_title: str,
                     lang: str, money: Callable[[float], str], big: bool = True) -> go.Figure:
    """Won so far and each method's forecast as horizontal bars with their 10–90% range; the
    target as a vertical line. `rows`: name, value, low, high, kind ("won"/"forecast"/"best")."""
    colours = {"won": GOOD, "forecast": NEUTRAL, "best": PALETTE[0]}
    fig = go.Figure()
    for part in ([r for r in rows if r.get("low") is None], [r for r in rows if r.get("low") is not None]):
        if not part:
            continue
        ranged = part[0].get("low") is not None
        values = [r["value"] for r in part]
        fig.add_bar(
            x=values, y=[r["name"] for r in part], orientation="h", marker_color=[colours[r["kind"]] for r in part],
            error_x={"type": "data", "array": [r["high"] - r["value"] for r in part],
                     "arrayminus": [r["value"] - r["low"] for r in part], "color": "#1F2430", "thickness": 2,
                     "width": 8} if ranged else None,
            text=[money(v) for v in values], textposition="inside", insidetextanchor="start",
            hoverinfo="text", hovertext=[f"{r['name']}: {money(r['value'])}" for r in part],
        )
    fig.update_layout(barmode="overlay")
    if target is not None:
        fig.add_vline(x=target, line={"color": HIGHLIGHT, "width": 4, "dash": "dash"},
                      annotation={"text": f"{target_name}: {money(target)}", "font": {"size": 22 if big else 15}},
                      annotation_position="top")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(showlegend=False, bargap=0.3, margin={"t": 70})
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, height=460 if big else 360)
    return room_size(fig, big)

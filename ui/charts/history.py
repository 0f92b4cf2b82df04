"""Charts of the History page (and the meeting's first slide): the pipeline waterfall between two
snapshots, the point-in-time pipeline by stage and close month, the pipeline/coverage trend.

Pure builders: frames in, `go.Figure` out; labels arrive translated, numbers arrive formatted
through the `money` callable the page passes in. `big=True` is the meeting-room size.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go
import polars as pl

from ui.charts import BAD, GOOD, PALETTE, base_layout, safe

TOTAL = PALETTE[0]


def room_size(fig: go.Figure, big: bool) -> go.Figure:
    """Meeting-room type: bigger fonts everywhere when `big`."""
    if big:
        fig.update_layout(font_size=22, xaxis_tickfont_size=20, yaxis_tickfont_size=20, xaxis_title_font_size=20,
                          yaxis_title_font_size=20, legend_font_size=20, hoverlabel_font_size=20)
    return fig


def waterfall(bars: pl.DataFrame, labels: dict[str, str], *, money: Callable[[float], str], x_title: str,
              y_title: str, lang: str, count: Callable[[int], str] = str, big: bool = False,
              height: int | None = None) -> go.Figure:
    """The waterfall: start and end are totals, each move floats from the running total.

    `bars` has bar, kind, amount, signed, deals (metrics.changes order); each step carries its bar
    key as customdata (for the click-to-drill-down) and turns amber when selected. The figure does
    not depend on the selection, so Streamlit keeps the selection across reruns."""
    rows = bars.to_dicts()
    measure = ["absolute" if r["bar"] == "start" else ("total" if r["bar"] == "end" else "relative") for r in rows]
    y = [r["amount"] if r["bar"] == "start" else (0.0 if r["bar"] == "end" else r["signed"]) for r in rows]
    text = [("" if r["kind"] == "total" else ("+" if r["signed"] >= 0 else "−")) + money(abs(r["amount"]))
            for r in rows]
    hover = [f"{safe(labels[r['bar']])}<br>{money(abs(r['amount']))} · {count(r['deals'])}" for r in rows]
    names = [labels[r["bar"]] for r in rows]
    if big:  # two lines instead of slanted labels on the meeting-room chart
        names = [n.replace(" ", "<br>", 1) if len(n) > 7 else n for n in names]
    fig = go.Figure(go.Waterfall(
        x=names, y=y, measure=measure, text=text, textposition="outside", hoverinfo="skip",
        increasing={"marker": {"color": GOOD}}, decreasing={"marker": {"color": BAD}},
        totals={"marker": {"color": TOTAL}}, connector={"line": {"color": "#8C8C8C", "width": 1, "dash": "dot"}},
        cliponaxis=False,
    ))
    # Plotly cannot select waterfall points: an invisible bar over each step carries the bar key
    # (customdata), the hover text and the click that filters the table below.
    zoom = _zoom(rows)
    base, tall = _spans(rows, zoom)
    fig.add_bar(x=names, y=tall, base=base, customdata=[r["bar"] for r in rows], hovertext=hover,
                hoverinfo="text", marker={"color": "rgba(0,0,0,0)"}, showlegend=False,
                selected={"marker": {"color": "rgba(230,159,0,0.45)"}}, unselected={"marker": {"opacity": 0}})
    fig.update_layout(showlegend=False, clickmode="event+select", dragmode=False, barmode="overlay",
                      waterfallmode="overlay")
    fig.update_yaxes(range=zoom)
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, height=height or (560 if big else 440))
    room_size(fig, big)
    longest = max((len(part) for n in names for part in n.split("<br>")), default=0)
    size = (17 if longest <= 8 else 14) if big else (14 if longest <= 10 else 12)
    fig.update_xaxes(tickangle=0, tickfont_size=size)   # ten steps: keep the labels level
    return fig


def _spans(rows: list[dict], zoom: list[float] | None) -> tuple[list[float], list[float]]:
    """(base, height) of each waterfall step, at least 3% of the axis tall so every step is clickable."""
    lo_axis = zoom[0] if zoom else 0.0
    hi_axis = zoom[1] if zoom else max([abs(r["amount"]) for r in rows] + [1.0])
    least = (hi_axis - lo_axis) * 0.03
    level, bases, heights = 0.0, [], []
    for r in rows:
        if r["kind"] == "total":
            lo, hi = lo_axis, r["amount"]
            level = r["amount"]
        else:
            lo, hi = sorted((level, level + r["signed"]))
            level += r["signed"]
        if hi - lo < least:
            mid = (hi + lo) / 2
            lo, hi = mid - least / 2, mid + least / 2
        bases.append(lo)
        heights.append(hi - lo)
    return bases, heights


def _zoom(rows: list[dict]) -> list[float] | None:
    """A y range that shows the moves: when the running total never gets near zero, start the axis
    below its lowest level (the totals' values are printed on them)."""
    level, levels = 0.0, []
    for r in rows:
        if r["kind"] == "total":
            level = r["amount"]
            levels.append(level)
        else:
            levels += [level, level + r["signed"]]
            level += r["signed"]
    if not levels:
        return None
    lo, hi = min(levels), max(levels)
    if hi <= 0:
        return None
    if lo <= 0 or (hi - lo) / hi > 0.5:
        return [min(lo, 0.0), hi * 1.12]
    pad = hi - lo
    return [max(lo - pad * 0.6, 0.0), hi + pad * 0.25]


def pipeline_by_month(rows: pl.DataFrame, stage_order: Sequence[str], month_label: Callable, *, x_title: str,
                      y_title: str, lang: str, money: Callable[[float], str], big: bool = False) -> go.Figure:
    """The open pipeline at one snapshot: a bar per close month, stacked by stage in pipeline order."""
    fig = go.Figure()
    months = sorted(m for m in rows["close_month"].unique().to_list() if m is not None)
    stages = [s for s in stage_order if s in set(rows["stage"].to_list())]
    stages += sorted(s for s in set(rows["stage"].drop_nulls().to_list()) if s not in stages)
    x = [month_label(m) for m in months]
    for i, stage in enumerate(stages):
        part = rows.filter(pl.col("stage") == stage)
        by_month = dict(zip(part["close_month"].to_list(), part["amount"].to_list(), strict=True))
        counts = dict(zip(part["close_month"].to_list(), part["deals"].to_list(), strict=True))
        values = [by_month.get(m, 0.0) for m in months]
        fig.add_bar(x=x, y=values, name=safe(stage), marker_color=PALETTE[i % len(PALETTE)],
                    hovertext=[f"{safe(stage)} · {month_label(m)}<br>{money(by_month.get(m, 0.0))} · "
                               f"{counts.get(m, 0):,}" for m in months], hoverinfo="text")
    fig.update_layout(barmode="stack", legend_traceorder="normal")
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, height=560 if big else 420)
    return room_size(fig, big)


def trend(rows: pl.DataFrame, day_label: Callable, *, pipeline_name: str, coverage_name: str, x_title: str,
          y_title: str, y2_title: str, lang: str, money: Callable[[float], str], big: bool = False) -> go.Figure:
    """Open pipeline (bars) and its coverage of the remaining target (line, right axis) per snapshot."""
    x = [day_label(d) for d in rows["snapshot_date"].to_list()]
    fig = go.Figure()
    fig.add_bar(x=x, y=rows["open_pipeline"].to_list(), name=pipeline_name, marker_color=TOTAL,
                hovertext=[money(v) for v in rows["open_pipeline"].to_list()], hoverinfo="text+x")
    if rows["coverage"].null_count() < rows.height:
        fig.add_scatter(x=x, y=rows["coverage"].to_list(), name=coverage_name, yaxis="y2", mode="lines+markers",
                        line={"color": PALETTE[1], "width": 3}, marker={"size": 10})
        fig.update_layout(yaxis2={"title": {"text": y2_title}, "overlaying": "y", "side": "right", "rangemode": "tozero",
                                  "showgrid": False, "tickformat": ".1f", "ticksuffix": "×"})
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, height=560 if big else 420)
    return room_size(fig, big)

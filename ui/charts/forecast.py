"""Charts of the Forecast vs plan page: won revenue against target by month with the forecast range,
and attainment by rep or team against 100% and today's pace. Pure builders.

Attainment bars carry the rep id (or team) in `customdata[0]` for the drill-down.
"""
from __future__ import annotations

from collections.abc import Mapping
import plotly.graph_objects as go
import polars as pl

from ui import format as fmt
from ui.charts import BAD, GOOD, HIGHLIGHT, PALETTE, base_layout, safe
from ui.charts.overview import money_axis, month_label

STATUS_COLORS: dict[str, str] = {"over": GOOD, "on": PALETTE[0], "under": BAD}


def plan_by_month(monthly: pl.DataFrame, forecasts: pl.DataFrame, *, labels: Mapping[str, str], x_title: str,
                  y_title: str, currency: str | None, lang: str, height: int = 460, dark: bool = False) -> go.Figure:
    """Won revenue (bars) against the target (line with markers) per month; for months not over yet
    the chosen forecast with its low–high range (diamonds with error bars).

    `labels` names the series: actual, target, forecast, range."""
    def money(values: list) -> list[str]:
        return [fmt.money(x, currency, lang) for x in values]

    x = [month_label(d, lang) for d in monthly["period_start"].to_list()]
    actual, target = monthly["actual"].to_list(), monthly["target"].to_list()
    fig = go.Figure()
    fig.add_bar(x=x, y=actual, name=labels["actual"], marker_color=PALETTE[0], customdata=money(actual),
                hovertemplate=f"%{{x}}<br>{labels['actual']}: %{{customdata}}<extra></extra>")
    if any(v is not None for v in target):
        width = max(16, min(90, 900 // max(len(x), 1)))  # a tick across each bar, whatever the number of months
        fig.add_scatter(x=x, y=target, name=labels["target"], mode="lines+markers", customdata=money(target),
                        line=dict(color=PALETTE[7], width=1.5, dash="dot"),
                        marker=dict(symbol="line-ew", size=width, line=dict(color=PALETTE[7], width=4)),
                        hovertemplate=f"%{{x}}<br>{labels['target']}: %{{customdata}}<extra></extra>")
    mid, low, high = (forecasts[c].to_list() for c in ("forecast", "forecast_low", "forecast_high"))
    if forecasts.height:
        fig.add_scatter(
            x=[month_label(d, lang) for d in forecasts["period_start"].to_list()], y=mid, name=labels["forecast"],
            mode="markers", marker=dict(symbol="diamond", size=16, color=HIGHLIGHT, line=dict(color=PALETTE[7], width=1)),
            error_y=dict(type="data", symmetric=False, array=[h - m for h, m in zip(high, mid)],
                         arrayminus=[m - lo for m, lo in zip(mid, low)], color=HIGHLIGHT, thickness=3, width=12),
            customdata=list(zip(money(mid), money(low), money(high))),
            hovertemplate=(f"%{{x}}<br>{labels['forecast']}: %{{customdata[0]}}<br>{labels['range']}: "
                           "%{customdata[1]} – %{customdata[2]}<extra></extra>"))
    fig.update_layout(bargap=0.35, hovermode="closest")
    money_axis(fig, [*actual, *target, *high], currency, lang)
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=height)


def attainment(rows: pl.DataFrame, *, id_col: str, name_col: str, expected: float | None,
               status_labels: Mapping[str, str], target_label: str, pace_label: str, x_title: str, y_title: str,
               currency: str | None, lang: str, dark: bool = False) -> go.Figure:
    """Attainment per rep or team (horizontal bars, best on top) coloured by status — target met,
    on pace, behind pace — with the 100% line and a dashed line at today's expected attainment."""
    shown = rows.filter(pl.col("attainment").is_not_null()).sort("attainment")
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        part = shown.filter(pl.col("status") == status)
        if part.height == 0:
            continue
        names = [safe(n) for n in part[name_col].to_list()]
        fig.add_bar(x=part["attainment"].to_list(), y=names, orientation="h", name=status_labels[status],
                    marker_color=color, texttemplate="%{x:.0%}", textposition="outside",
                    customdata=[[i, fmt.money(a, currency, lang), fmt.money(t, currency, lang)] for i, a, t in
                                zip(part[id_col].to_list(), part["actual"].to_list(), part["target"].to_list())],
                    hovertemplate="%{y}: %{x:.1%}<br>%{customdata[1]} / %{customdata[2]}<extra>%{fullData.name}</extra>")
    fig.add_vline(x=1.0, line=dict(color=PALETTE[7], width=2))
    fig.add_annotation(x=1.0, y=1, yref="paper", text=target_label, showarrow=False, xanchor="left",
                       yanchor="bottom", font=dict(size=14))
    if expected is not None:
        fig.add_vline(x=expected, line=dict(color=HIGHLIGHT, width=3, dash="dash"))
        fig.add_annotation(x=expected, y=1, yref="paper", text=pace_label, showarrow=False, xanchor="right",
                           yanchor="bottom", font=dict(size=14, color=PALETTE[7]))
    top = max([1.15, *(a * 1.12 for a in shown["attainment"].to_list())])
    fig.update_layout(clickmode="event+select", xaxis_tickformat=".0%", barmode="overlay",
                      yaxis=dict(categoryorder="array", categoryarray=[safe(n) for n in shown[name_col].to_list()]))
    fig.update_xaxes(range=[0, top])
    height = max(320, 28 * shown.height + 140)
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=height)
    return fig.update_yaxes(title_standoff=16)  # after base_layout, which sets the title anew


def accuracy_lines(points: pl.DataFrame, *, method_labels: Mapping[str, str], actual_label: str, best: str,
                   x_title: str, y_title: str, currency: str | None, lang: str, dark: bool = False) -> go.Figure:
    """What each forecast method predicted at each past snapshot (one line per method, the default
    method drawn thick) against the revenue actually won (a horizontal line)."""
    fig = go.Figure()
    if points.height == 0:
        return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=380)
    days = sorted(set(points["snapshot_date"].to_list()))
    for i, (method, label) in enumerate(method_labels.items()):
        part = points.filter(pl.col("method") == method).sort("snapshot_date")
        if part.height == 0:
            continue
        values = part["forecast"].to_list()
        err = part["abs_pct_error"].to_list()
        fig.add_scatter(
            x=part["snapshot_date"].to_list(), y=values, name=label, mode="lines+markers",
            line=dict(color=PALETTE[i], width=4 if method == best else 2),
            marker=dict(size=9 if method == best else 6),
            customdata=[[fmt.money(v, currency, lang), fmt.pct(e, lang=lang) if e is not None else fmt.DASH]
                        for v, e in zip(values, err)],
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{label}: %{{customdata[0]}} (±%{{customdata[1]}})<extra></extra>")
    actual = float(points["actual"][0] or 0.0)
    fig.add_scatter(x=[days[0], days[-1]], y=[actual, actual], name=actual_label, mode="lines",
                    line=dict(color=PALETTE[7], width=2, dash="dash"),
                    hovertemplate=f"{actual_label}: {fmt.money(actual, currency, lang)}<extra></extra>")
    money_axis(fig, [*points["forecast"].to_list(), actual], currency, lang)
    fig.update_xaxes(tickformat="%m-%d" if lang != "zh" else "%m月%d日")
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=380)

"""Charts of the Customers page: tier shares, the Pareto curve, RFM segments, the tier transition
matrix and revenue-versus-effort coverage. Pure builders: frames and translated labels in, figures out.

Bars that can be clicked carry the tier or segment key in `customdata[0]` (the page reads it back
from the selection event to filter the accounts table).
"""
from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from ui import format as fmt
from ui.charts import BAD, NEUTRAL, PALETTE, base_layout, safe
from ui.charts.overview import money_axis

TIER_COLORS: dict[str, str] = {"A": PALETTE[0], "B": PALETTE[1], "C": PALETTE[4], "none": NEUTRAL}
SHARE_COLORS: tuple[str, ...] = (PALETTE[0], PALETTE[4], PALETTE[1])


def png_config(filename: str) -> dict:
    """Plotly's modebar without the logo, with a PNG download named after the chart."""
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}


def tier_shares(summary: pl.DataFrame, *, tier_labels: Mapping[str, str], accounts_label: str,
                revenue_label: str, x_title: str, y_title: str, currency: str | None, lang: str,
                dark: bool = False) -> go.Figure:
    """Share of accounts next to share of revenue for each tier (the 80/20 story in four pairs)."""
    tiers = summary["tier"].to_list()
    x = [tier_labels.get(t, t) for t in tiers]
    custom = [[t, fmt.number(n, lang=lang), fmt.money(r, currency, lang)]
              for t, n, r in zip(tiers, summary["accounts"], summary["revenue"])]
    fig = go.Figure()
    for col, name, color in (("account_share", accounts_label, NEUTRAL), ("revenue_share", revenue_label, PALETTE[0])):
        fig.add_bar(x=x, y=summary[col].to_list(), name=name, marker_color=color,
                    customdata=custom, texttemplate="%{y:.0%}", textposition="outside",
                    hovertemplate=f"%{{x}}<br>{name}: %{{y:.1%}}<br>%{{customdata[1]}} · %{{customdata[2]}}"
                                  "<extra></extra>")
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", clickmode="event+select")
    fig.update_yaxes(range=[0, 1.1])
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=380)


def pareto(frame: pl.DataFrame, *, tier_labels: Mapping[str, str], x_title: str, y_title: str, y2_title: str,
           cum_label: str, currency: str | None, lang: str, height: int = 460, dark: bool = False) -> go.Figure:
    """Accounts sorted by revenue (bars coloured by tier) with the cumulative share of revenue and
    the 80% and 95% marks that bound tiers A and B."""
    fig = go.Figure()
    for tier in ("A", "B", "C"):
        part = frame.filter(pl.col("tier") == tier)
        if part.height == 0:
            continue
        names = [safe(n) for n in part["name"].to_list()]
        money = [fmt.money(r, currency, lang) for r in part["revenue"].to_list()]
        fig.add_bar(x=part["revenue_rank"].to_list(), y=part["revenue"].to_list(), name=tier_labels.get(tier, tier),
                    marker=dict(color=TIER_COLORS[tier], line=dict(width=0)),
                    customdata=[[tier, n, m] for n, m in zip(names, money)],
                    hovertemplate="#%{x} %{customdata[1]}<br>%{customdata[2]}<extra>%{fullData.name}</extra>")
    fig.add_scatter(x=frame["revenue_rank"].to_list(), y=frame["cum_share"].to_list(), name=cum_label,
                    yaxis="y2", mode="lines", line=dict(color=PALETTE[7], width=3),
                    customdata=[[t] for t in frame["tier"].to_list()],
                    hovertemplate="#%{x}: %{y:.1%}<extra></extra>")
    for mark, dash in ((0.8, "dash"), (0.95, "dot")):
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y2", y0=mark, y1=mark,
                      line=dict(color=BAD, width=2, dash=dash))
        fig.add_annotation(xref="paper", x=0.5, yref="y2", y=mark, text=f"{mark:.0%}", showarrow=False,
                           yanchor="bottom", font=dict(color=BAD, size=15), bgcolor="rgba(255,255,255,0.75)")
    fig.update_layout(bargap=0.05, clickmode="event+select",
                      yaxis2=dict(overlaying="y", side="right", range=[0, 1.05], tickformat=".0%",
                                  tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0], title=dict(text=y2_title), showgrid=False))
    money_axis(fig, frame["revenue"].to_list(), currency, lang)
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=height)


def segments(frame: pl.DataFrame, *, segment_labels: Mapping[str, str], x_title: str, y_title: str,
             revenue_label: str, currency: str | None, lang: str, dark: bool = False) -> go.Figure:
    """Accounts per RFM segment (horizontal bars, best segments on top); hover adds the revenue."""
    keys = frame["segment"].to_list()[::-1]
    counts = frame["accounts"].to_list()[::-1]
    revenue = frame["revenue"].to_list()[::-1]
    fig = go.Figure(go.Bar(
        x=counts, y=[segment_labels.get(k, k) for k in keys], orientation="h", marker_color=PALETTE[0],
        customdata=[[k, fmt.money(r, currency, lang)] for k, r in zip(keys, revenue)], texttemplate="%{x:,}",
        textposition="outside", hovertemplate=f"%{{y}}: %{{x:,}}<br>{revenue_label}: %{{customdata[1]}}<extra></extra>"))
    fig.update_layout(clickmode="event+select", showlegend=False)
    fig.update_xaxes(range=[0, max([*counts, 1]) * 1.15])  # room for the count written after the longest bar
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=420)
    return fig.update_yaxes(title_standoff=16)  # after base_layout, which sets the title anew


def transitions(frame: pl.DataFrame, *, tier_labels: Mapping[str, str], x_title: str, y_title: str,
                colorbar_title: str, lang: str, dark: bool = False) -> go.Figure:
    """The 4×4 matrix of accounts moving from a tier in the previous window (rows) to a tier in
    this one (columns), counts written in the cells."""
    order = list(tier_labels)
    lookup = {(b, a): n for b, a, n in frame.select("tier_before", "tier_after", "accounts").iter_rows()}
    z = [[lookup.get((b, a), 0) for a in order] for b in order]
    labels = [tier_labels[t] for t in order]
    # the customers without revenue in both windows dwarf every other cell: scale the colours on the rest
    top = max([n for (b, a), n in lookup.items() if (b, a) != ("none", "none")] or [1])
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, colorscale="Blues", zmin=0, zmax=top, texttemplate="%{z:,}", textfont=dict(size=16),
        colorbar=dict(title=dict(text=colorbar_title)), xgap=2, ygap=2,
        hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>%{{z:,}}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=420)


def coverage(frame: pl.DataFrame, *, tier_labels: Mapping[str, str], series: Mapping[str, str], x_title: str,
             y_title: str, lang: str, dark: bool = False) -> go.Figure:
    """For each tier, its share of won revenue, of open pipeline and of activities side by side."""
    x = [tier_labels.get(t, t) for t in frame["tier"].to_list()]
    fig = go.Figure()
    for (col, name), color in zip(series.items(), SHARE_COLORS):
        fig.add_bar(x=x, y=frame[col].to_list(), name=name, marker_color=color, texttemplate="%{y:.0%}",
                    textposition="outside", hovertemplate=f"%{{x}}<br>{name}: %{{y:.1%}}<extra></extra>")
    fig.update_layout(barmode="group", yaxis_tickformat=".0%")
    fig.update_yaxes(rangemode="tozero")
    return base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=420)


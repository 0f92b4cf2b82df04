"""Funnel charts: the stages as horizontal bars (count, share, conversion to the next stage, time in
stage; the bottleneck in the warning colour with what it costs) and conversion per step compared
across teams or reps."""
from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import polars as pl

from ui import format as fmt
from ui.charts import BAD, GOOD, PALETTE, base_layout, safe


@dataclass(frozen=True)
class FunnelLabels:
    """Translated texts of the funnel chart."""

    x_title: str           # "Deals (count)"
    y_title: str           # "Stage"
    share: str             # "{pct} of previous" / "{pct} of first" (a template with {pct})
    conversion: str        # "→ {pct} to next" (a template with {pct})
    time: str              # "median time in stage"
    time_short: str        # "median" (before the days on the bar)
    p90: str               # "90th percentile"
    bottleneck: str        # annotation text, already filled in (or "")


def stage_shares(frame: pl.DataFrame, basis: str) -> list[float | None]:
    """Each stage's share: of the previous stage ("previous") or of the first stage ("first")."""
    if basis == "first":
        return frame["pct_of_first"].to_list()
    reached = frame["reached"].to_list()
    return [1.0 if i == 0 else (r / reached[i - 1] if reached[i - 1] else None) for i, r in enumerate(reached)]


def funnel_bars(frame: pl.DataFrame, *, basis: str, labels: FunnelLabels, lang: str, won_stage: str,
                bottleneck_stage: str | None = None, selected: str | None = None, dark: bool = False) -> go.Figure:
    """Horizontal funnel: one bar per stage (first at the top) including the won stage.

    `frame`: stage, reached, conversion_to_next, pct_of_first, median_days, p90_days (see
    `ui.views.funnel.with_won`). Clicking a bar selects its stage (point index = row)."""
    stages = frame["stage"].to_list()
    reached = frame["reached"].to_list()
    shares = stage_shares(frame, basis)
    colours, lines, texts, hovers = [], [], [], []
    for i, row in enumerate(frame.iter_rows(named=True)):
        stage = row["stage"]
        colours.append(GOOD if stage == won_stage else BAD if stage == bottleneck_stage else PALETTE[0])
        lines.append(4 if stage == selected else 0)
        parts = [f"<b>{fmt.number(row['reached'], lang=lang)}</b>"]
        if i > 0 or basis == "first":
            parts.append(labels.share.format(pct=fmt.pct(shares[i], 0, lang)))
        if row["conversion_to_next"] is not None:
            parts.append(labels.conversion.format(pct=fmt.pct(row["conversion_to_next"], 0, lang)))
        if row["median_days"] is not None:
            parts.append(f"{labels.time_short} {fmt.days(row['median_days'], lang)}")
        texts.append(" · ".join(parts))
        hovers.append("<br>".join([
            f"<b>{safe(stage)}</b>", *parts[:3],
            f"{labels.time}: {fmt.days(row['median_days'], lang)} ({labels.p90}: {fmt.days(row['p90_days'], lang)})",
        ]))
    fig = go.Figure(go.Bar(
        y=[safe(s) for s in stages], x=reached, orientation="h", marker=dict(
            color=colours, line=dict(color="#FFFFFF" if dark else "#000000", width=lines)),
        text=texts, textposition="outside", cliponaxis=False, textfont=dict(size=16),
        hovertext=hovers, hovertemplate="%{hovertext}<extra></extra>", customdata=stages,
    ))
    top = max([r for r in reached if r is not None] or [1])
    base_layout(fig, x_title=labels.x_title, y_title=labels.y_title, lang=lang, dark=dark,
                height=max(360, 70 * len(stages) + 120))
    fig.update_layout(showlegend=False, bargap=0.25, margin=dict(l=10, r=10, t=50 if labels.bottleneck else 20, b=10))
    fig.update_xaxes(range=[0, top * 1.9], tickformat=",d")
    fig.update_yaxes(autorange="reversed")
    if bottleneck_stage in stages and labels.bottleneck:
        fig.add_annotation(
            xref="paper", yref="paper", x=0, y=1.0, xanchor="left", yanchor="bottom", showarrow=False,
            text=f"■ {labels.bottleneck}", font=dict(color=BAD, size=17), align="left",
        )
    return fig


def compare_bars(frame: pl.DataFrame, *, x_title: str, y_title: str, lang: str, dark: bool = False) -> go.Figure:
    """Conversion to the next stage per step, one bar colour per team or rep (grouped).

    `frame`: group, stage, next_stage, stage_index, reached, conversion_to_next."""
    fig = go.Figure()
    steps = (frame.select("stage_index", "stage", "next_stage").unique().sort("stage_index"))
    labels = [f"{safe(a)} → {safe(b)}" for a, b in zip(steps["stage"], steps["next_stage"])]
    for i, group in enumerate(frame["group"].unique(maintain_order=True).to_list()):
        part = steps.join(frame.filter(pl.col("group") == group), on=["stage_index", "stage", "next_stage"], how="left")
        conv = part["conversion_to_next"].to_list()
        fig.add_trace(go.Bar(
            x=labels, y=conv, name=safe(group), marker_color=PALETTE[i % len(PALETTE)],
            hovertext=[f"<b>{safe(group)}</b><br>{lab}: {fmt.pct(c, 1, lang)} ({fmt.number(n, lang=lang)})"
                       for lab, c, n in zip(labels, conv, part["reached"].to_list())],
            hovertemplate="%{hovertext}<extra></extra>",
        ))
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=420)
    fig.update_layout(barmode="group", bargap=0.2, bargroupgap=0.05)
    fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    return fig

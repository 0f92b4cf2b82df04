"""The data-quality chart of the Data page: the part score of each check. Pure builder."""
from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from ui.charts import BAD, GOOD, HIGHLIGHT, base_layout

GOOD_FROM, FAIR_FROM = 95.0, 80.0  # part scores from 95 look good, below 80 bad


def score_color(score: float | None) -> str:
    """Green from 95, orange from 80, vermillion below (Okabe–Ito, colour-blind safe)."""
    if score is None:
        return HIGHLIGHT
    return GOOD if score >= GOOD_FROM else HIGHLIGHT if score >= FAIR_FROM else BAD


def parts(frame: pl.DataFrame, *, check_labels: Mapping[str, str], failing_label: str, x_title: str,
          y_title: str, lang: str, dark: bool = False) -> go.Figure:
    """One horizontal bar per check: its part score from 0 to 100, the failing deals in the hover."""
    keys = frame["check"].to_list()[::-1]
    scores = frame["part_score"].to_list()[::-1]
    custom = list(zip(frame["failing"].to_list()[::-1], frame["applicable"].to_list()[::-1]))
    fig = go.Figure(go.Bar(
        x=scores, y=[check_labels.get(k, k) for k in keys], orientation="h",
        marker_color=[score_color(s) for s in scores], texttemplate="%{x:.1f}", textposition="outside",
        customdata=custom,
        hovertemplate=f"%{{y}}: %{{x:.1f}}<br>{failing_label}: %{{customdata[0]:,}} / %{{customdata[1]:,}}<extra></extra>"))
    fig.update_xaxes(range=[0, 108])
    fig.update_layout(showlegend=False, bargap=0.3, margin=dict(t=10))
    base_layout(fig, x_title=x_title, y_title=y_title, lang=lang, dark=dark, height=max(220, 34 * len(keys) + 90))
    return fig.update_yaxes(title_standoff=16)  # after base_layout, which sets the title anew

"""One Plotly look for every chart: a colour-blind-safe palette (Okabe–Ito), type large enough for a
meeting-room screen, light and dark variants. Builders live in one module per page
(`ui/charts/<page>.py`): pure functions, frame in, `go.Figure` out (graph_objects, never express).
Every chart has axis titles with units; labels of CRM text go through `safe()`.
"""
from __future__ import annotations

import html

import plotly.graph_objects as go
import plotly.io as pio

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
GOOD, BAD, NEUTRAL, HIGHLIGHT = "#009E73", "#D55E00", "#8C8C8C", "#E69F00"
FONT = "Inter, 'Noto Sans CJK SC', 'Noto Sans SC', 'Microsoft YaHei', 'PingFang SC', Arial, sans-serif"


def _template(dark: bool) -> go.layout.Template:
    fg, grid, bg = ("#E8E8E8", "#3A3F4B", "rgba(0,0,0,0)") if dark else ("#1F2430", "#E6E8EE", "rgba(0,0,0,0)")
    return go.layout.Template(layout=go.Layout(
        colorway=list(PALETTE),
        font=dict(family=FONT, size=16, color=fg),
        title=dict(font=dict(size=20), x=0, xanchor="left"),
        paper_bgcolor=bg, plot_bgcolor=bg,
        xaxis=dict(gridcolor=grid, zerolinecolor=grid, title=dict(font=dict(size=16)), tickfont=dict(size=14),
                   automargin=True),
        yaxis=dict(gridcolor=grid, zerolinecolor=grid, title=dict(font=dict(size=16)), tickfont=dict(size=14),
                   automargin=True),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0, font=dict(size=14)),
        margin=dict(l=10, r=10, t=50, b=10),
        hoverlabel=dict(font=dict(family=FONT, size=15)),
        separators=".,",
    ))


pio.templates["salescope"] = _template(dark=False)
pio.templates["salescope_dark"] = _template(dark=True)


def template(dark: bool = False) -> str:
    """Name of the registered template."""
    return "salescope_dark" if dark else "salescope"


def separators(lang: str) -> str:
    """Plotly's decimal and thousands separators for a language (Turkish writes 1.234,5)."""
    return ",." if lang == "tr" else ".,"


def safe(text: object) -> str:
    """CRM text for a Plotly label: HTML-escaped, so `<img onerror=…>` shows as text."""
    return html.escape("" if text is None else str(text), quote=False)


def base_layout(fig: go.Figure, *, x_title: str, y_title: str, lang: str, dark: bool = False,
                height: int = 420) -> go.Figure:
    """Apply the house look, axis titles (with units) and number separators."""
    fig.update_layout(template=template(dark), height=height, separators=separators(lang),
                      xaxis_title=x_title, yaxis_title=y_title)
    return fig

"""The data-quality section of the Data page: the 0–100 score, one bar chart of its parts, and on
demand the scores by rep or the list of issues (with CSV and Excel downloads)."""
from __future__ import annotations

import polars as pl
import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import quality as charts
from ui.charts.customers import png_config
from ui.i18n import current_lang, has, t
from ui.views.customers import labelled
from ui.views.quality import CHECKS, without_period


def _head(column: str) -> str:
    if column in CHECKS:
        return t(f"quality.check_{column}")
    return t(f"quality.col_{column}") if has(f"quality.col_{column}", "en") else t(f"columns.{column}")


def _table(df: pl.DataFrame, name: str, key: str, checks: dict[str, str]) -> None:
    df = df.with_columns([df[c].round(1) for c in df.columns if df.schema[c].is_float()])
    cfg = {_head(c): st.column_config.NumberColumn(format="localized") for c in df.columns if df.schema[c].is_numeric()}
    shown = labelled(df, {"check": checks}).with_columns(
        [pl.col(c).fill_null(t("quality.no_owner")) for c in ("rep", "owner") if c in df.columns])
    widgets.table_with_downloads(shown.rename({c: _head(c) for c in df.columns}), name, key, column_config=cfg)


def quality_section() -> None:
    """Score, parts chart and (on demand) per-rep scores or the issues list of every deal in scope."""
    v = cache.view("quality", without_period(widgets.current_filters()))
    checks = {c: t(f"quality.check_{c}") for c in CHECKS}
    with st.container(border=True):
        st.subheader(t("quality.title"))
        if v.empty:
            st.caption(t("quality.empty"))
            return
        left, right = st.columns([1, 3], vertical_alignment="center")
        with left:
            st.metric(t("quality.score"), "—" if v.score is None else fmt.number(v.score, 1),
                      help=t("definitions.quality_score"))
            st.metric(t("quality.issues"), fmt.number(v.issues.height), help=t("definitions.quality_issues"))
            st.caption(t("quality.scope_note", deals=fmt.number(v.deals)))
        with right:
            fig = charts.parts(v.parts, check_labels=checks, failing_label=t("quality.failing"),
                               x_title=t("quality.x_score"), y_title=t("quality.y_check"), lang=current_lang(),
                               dark=st.context.theme.type == "dark")
            st.plotly_chart(fig, key="data_quality_parts", config=png_config("data_quality"), theme=None)
        show = st.segmented_control(t("quality.show"), ("reps", "issues"), key="data_quality_show",
                                    format_func=lambda k: t(f"quality.show_{k}"))
        if show == "reps":
            _table(v.reps.drop("rep_id"), "data_quality_by_rep", "data_quality_reps", checks)
        elif show == "issues":
            _table(v.issues, "data_quality_issues", "data_quality_issues", checks)
        with st.expander(t("common.how_computed")):
            st.markdown("\n".join([f"- {t('definitions.quality_score')}", f"- {t('definitions.quality_issues')}"]
                                  + [f"- **{checks[c]}**: {t('quality.checkdesc_' + c)}" for c in CHECKS]))

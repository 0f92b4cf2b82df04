"""Funnel: stages with conversion and time in stage, the bottleneck, teams or reps side by side, and
the stalled deals (a click on a stage lists that stage's)."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import funnel as charts
from ui.i18n import current_lang, t
from ui.views import funnel as fv

widgets.require_frame()

f = widgets.current_filters()
lang, dark = current_lang(), st.context.theme.type == "dark"
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "salescope_funnel"}}


st.title(t("funnel.title"))
view = cache.view("funnel", f)
if view.empty:
    st.info(t("common.no_data"), icon=":material/filter_alt_off:")
    st.stop()

c1, c2 = st.columns(2)
method = c1.segmented_control(t("funnel.method"), fv.METHODS, default="reached", required=True,
                              key="funnel_method", format_func=lambda m: t(f"funnel.method_{m}"),
                              help=t("funnel.method_help"))
basis = c2.segmented_control(t("funnel.basis"), ("previous", "first"), default="previous", required=True,
                             key="funnel_basis", format_func=lambda b: t(f"funnel.basis_{b}"))

head = fv.headline(view, method)
cur = view.currency
m = st.columns(5)
m[0].metric(t("funnel.entered"), fmt.number(head["entered"]), help=t("definitions.funnel_conversion"), border=True)
m[1].metric(t("funnel.won_share"), fmt.pct(head["won_share"]), help=t("definitions.funnel_conversion"), border=True)
m[2].metric(t("funnel.bottleneck_cost"), fmt.money(head["bottleneck_cost"], cur), help=t("definitions.bottleneck"),
            border=True)
m[3].metric(t("funnel.stalled_deals"), fmt.number(head["stalled"]), help=t("definitions.stalled"), border=True)
m[4].metric(t("funnel.stalled_value"), fmt.money(head["stalled_value"], cur), help=t("definitions.stalled"),
            border=True)

if view.inferred_from:
    st.info(t("funnel.inferred_note", n=fmt.number(view.inferred_from), days=fmt.number(view.snapshot_gap_days)),
            icon=":material/history:")

# --------------------------------------------------------------------------- the funnel itself
stage_options = ["", *view.stages]
if st.session_state.get("funnel_stage") not in stage_options:
    st.session_state["funnel_stage"] = ""
frame = fv.with_won(view, method)
chart_stages = frame["stage"].to_list()


def _pick_stage() -> None:
    """A click on a bar picks its stage for the stalled-deals table (the won bar clears the pick)."""
    points = (st.session_state.get("funnel_chart") or {}).get("selection", {}).get("points", [])
    if points and points[0].get("point_index") is not None:
        stage = chart_stages[points[0]["point_index"]]
        st.session_state["funnel_stage"] = stage if stage in view.stages else ""


step = fv.bottleneck_step(view, method)
note = ""
if step:
    note = t("funnel.bottleneck_note", step=f"{charts.safe(step['from_stage'])} → {charts.safe(step['to_stage'])}",
             cost=fmt.money(step["revenue_cost"], cur), teams=fmt.number(step["teams"]))
labels = charts.FunnelLabels(x_title=t("funnel.x_title"), y_title=t("funnel.y_title"),
                             share=t(f"funnel.text.share_{basis}"), conversion=t("funnel.text.to_next"),
                             time=t("funnel.time_in_stage"), time_short=t("funnel.bar.median"),
                             p90=t("funnel.p90"), bottleneck=note)
fig = charts.funnel_bars(frame, basis=basis, labels=labels, lang=lang, won_stage=view.won_stage,
                         bottleneck_stage=step["from_stage"] if step else None,
                         selected=st.session_state.get("funnel_stage") or None, dark=dark)
st.subheader(t("funnel.chart_title"))
st.plotly_chart(fig, theme=None, key="funnel_chart", on_select=_pick_stage, selection_mode="points", config=CONFIG)
st.caption(t("funnel.click_hint"))
table, kinds = fv.funnel_table(view, method, basis, lang)
with st.expander(t("funnel.rows_behind")):
    widgets.table_with_downloads(table, "salescope_funnel", "funnel_rows",
                                 column_config=widgets.column_formats(kinds))

# ---------------------------------------------------------------------------------- compare
st.subheader(t("funnel.compare_title"))
by = st.segmented_control(t("funnel.compare_by"), fv.COMPARE, default="team", required=True, key="funnel_compare_by",
                          format_func=lambda b: t(f"funnel.compare_{b}"))
picked: tuple[str, ...] = ()
if by == "rep":
    options = fv.rep_options(view, method)
    st.session_state["funnel_reps"] = [r for r in st.session_state.get("funnel_reps", []) if r in options]
    picked = tuple(st.multiselect(t("funnel.reps"), options, key="funnel_reps", max_selections=8,
                                  format_func=lambda r: view.rep_names.get(r, r), placeholder=t("funnel.reps_default")))
compared = fv.compare_frame(view, method, by, picked)
if compared.height:
    st.plotly_chart(charts.compare_bars(compared, x_title=t("funnel.step"), y_title=t("funnel.conversion_axis"),
                                        lang=lang, dark=dark), key="funnel_compare", config=CONFIG, theme=None)
else:
    st.caption(t("common.no_data"))
bottlenecks, kinds = fv.bottleneck_table(view, method, lang)
if bottlenecks.height:
    st.markdown(f"**{t('funnel.bottlenecks_title')}**")
    widgets.table_with_downloads(bottlenecks, "salescope_bottlenecks", "funnel_bottlenecks",
                                 column_config=widgets.column_formats(kinds))

# ----------------------------------------------------------------------------- stalled deals
st.subheader(t("funnel.stalled_title"))
stage = st.selectbox(t("funnel.stage_filter"), stage_options, key="funnel_stage",
                     format_func=lambda s: s or t("funnel.all_stages"))
rows = fv.stalled_rows(view, stage)
st.caption(t("funnel.stalled_caption", count=fmt.number(rows.height),
             amount=fmt.money(float(rows["amount"].fill_null(0).sum()) if rows.height else 0.0, cur)))
if rows.height:
    table, kinds = fv.stalled_table(rows, lang)
    widgets.table_with_downloads(table, "salescope_stalled", "funnel_stalled",
                                 column_config=widgets.column_formats(kinds),
                                 height=420)
else:
    st.info(t("funnel.no_stalled"), icon=":material/check_circle:")

with st.expander(t("common.how_computed"), icon=":material/help:"):
    for key in ("funnel_conversion", "time_in_stage", "bottleneck", "stalled"):
        st.markdown(f"**{t(f'funnel.def_{key}')}** — {t(f'definitions.{key}')}")
    if view.inferred_from:
        st.markdown(f"**{t('funnel.def_inferred')}** — {t('history.def_inferred_stage_history')}")
    st.caption(t("funnel.method_note"))

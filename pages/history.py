"""History: what changed in the pipeline between two snapshots, slipped close dates, the pipeline as
it stood at each snapshot and the pipeline/coverage trend."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import history as charts
from ui.i18n import current_lang, t
from ui.views import history

widgets.require_frame()

f = widgets.current_filters()
st.title(t("history.title"))
st.caption(t("history.intro"))

view = cache.view("history", f, from_snapshot=st.session_state.get("history_from"),
                  to_snapshot=st.session_state.get("history_to"))
if view.empty:
    st.info(t("common.no_data"), icon=":material/info:")
    st.stop()
if len(view.dates) < 2:
    st.info(t("history.need_two"), icon=":material/history:")
    if view.dates:
        st.caption(t("history.one_snapshot", day=fmt.day(view.dates[0])))
    st.stop()

money = lambda x: fmt.money(x, view.currency)  # noqa: E731
full = lambda x: fmt.money(x, view.currency, short=False)  # noqa: E731
unit = view.currency or t("history.unit_amount")
dates = list(view.dates)
c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
c1.selectbox(t("history.from"), dates, index=dates.index(view.from_snapshot), key="history_from", format_func=fmt.day)
c2.selectbox(t("history.to"), dates, index=dates.index(view.to_snapshot), key="history_to", format_func=fmt.day)
window = (t("history.window", start=fmt.day(f.period_from), end=fmt.day(f.period_to)) if f.bounded
          else t("history.window_all"))
c3.caption(window)
if view.from_snapshot >= view.to_snapshot:
    st.warning(t("history.same"), icon=":material/swap_horiz:")
    st.stop()

amounts, counts = history.totals(view), history.counts(view)
cols = st.columns(6)
cols[0].metric(t("history.metric_start", day=fmt.day(view.from_snapshot)), money(amounts["start"]),
               help=t("history.def_change_start"))
cols[1].metric(t("history.metric_end", day=fmt.day(view.to_snapshot)), money(amounts["end"]),
               delta=history.signed(money, amounts["end"] - amounts["start"]), help=t("history.def_change_end"))
for col, bar in zip(cols[2:], ("created", "won", "lost", "pushed_out"), strict=True):
    col.metric(t(f"history.bar_{bar}"), money(amounts[bar]), help=t(f"history.def_change_{bar}"),
               delta=t("history.n_deals", n=fmt.number(counts[bar])), delta_color="off", delta_arrow="off")

labels = {bar: t(f"history.bar_{bar}") for bar in history.changes.BARS}
fig = charts.waterfall(view.bars, labels, money=money, x_title=t("history.waterfall_x"),
                       y_title=t("history.waterfall_y", unit=unit), lang=current_lang(),
                       count=lambda n: t("history.n_deals", n=fmt.number(n)))
event = st.plotly_chart(fig, width="stretch", theme=None, on_select="rerun", selection_mode="points", key="history_waterfall",
                        config={"displaylogo": False, "toImageButtonOptions": {"filename": "pipeline_change"}})
bar = history.clicked_bar(event)
st.subheader(t("history.deals_behind", bar=labels[bar]) if bar else t("history.deals_all"))
st.caption(t(f"history.def_change_{bar}") if bar else t("history.click_hint"))
widgets.table_with_downloads(
    history.deal_table(history.deals_of(view, bar), lambda c: t(f"history.col_{c}"), labels.get, full, fmt.day),
    f"pipeline_change_{bar or 'all'}", "history_deals", height=420)

st.subheader(t("history.slipped"))
st.caption(t("history.slipped_caption"))
if view.slipped_reps.height:
    widgets.table_with_downloads(
        history.slipped_rep_table(view.slipped_reps, lambda c: t(f"history.col_{c}"), fmt.pct, fmt.number),
        "slipped_by_rep", "history_slipped_reps", height=360)
    st.markdown(f"**{t('history.flagged')}**")
    flagged = history.slipped_deal_table(view.slipped_deals, lambda c: t(f"history.col_{c}"), full, fmt.day)
    if flagged.height:
        widgets.table_with_downloads(flagged, "slipped_deals_flagged", "history_flagged", height=320)
    else:
        st.caption(t("history.none_flagged"))
else:
    st.caption(t("history.none_slipped"))

st.subheader(t("history.point_in_time"))
at = st.columns([1, 3])[0].selectbox(t("history.at"), dates, index=len(dates) - 1, key="history_at",
                                     format_func=fmt.day)
month = lambda d: fmt.day(d).split(" ", 1)[-1] if current_lang() != "zh" else f"{d.year}年{d.month}月"  # noqa: E731
rows = history.pipeline_at(view, at)
if rows.height:
    st.plotly_chart(charts.pipeline_by_month(rows, view.stages, month, x_title=t("history.pit_x"),
                                             y_title=t("history.pit_y", unit=unit), lang=current_lang(), money=money),
                    width="stretch", theme=None, key="history_pit", config={"displaylogo": False})
else:
    st.caption(t("common.no_data"))

st.subheader(t("history.trend"))
st.plotly_chart(charts.trend(view.trend, fmt.day, pipeline_name=t("history.open_pipeline"),
                             coverage_name=t("history.coverage"), x_title=t("history.trend_x"),
                             y_title=t("history.trend_y", unit=unit), y2_title=t("history.trend_y2"),
                             lang=current_lang(), money=money),
                width="stretch", theme=None, key="history_trend", config={"displaylogo": False})

with st.expander(t("common.how_computed")):
    for key in ("def_pipeline_change", *[f"def_change_{b}" for b in history.changes.BARS], "def_slipped_deals",
                "def_slipped_by_rep", "def_pipeline_at", "def_pipeline_trend", "def_inferred_stage_history"):
        st.caption(t(f"history.{key}"))

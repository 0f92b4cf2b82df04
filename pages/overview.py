"""Overview: headline numbers with their change, won revenue by month against the target, the three
things that need attention; at the bottom, what is loaded."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import overview as charts
from ui.i18n import current_lang, t
from ui.views import overview as ov

widgets.require_frame()

f = widgets.current_filters()
lang, dark = current_lang(), st.context.theme.type == "dark"
summary = cache.loaded_summary(cache.version(), widgets.role_scope())
counts = summary["counts"]

st.title(t("overview.title"))

if all(v == 0 for v in counts.values()):
    st.info(t("common.no_data"), icon=":material/info:")
    st.info(t("overview.none_yet"), icon=":material/upload_file:")
    st.page_link("pages/data.py", label=t("overview.go_data"), icon=":material/arrow_forward:")
    st.stop()

view = cache.view("overview", f)
prev_from, prev_to, how = ov.comparison_window(f)
if f.bounded and how != "none":
    st.caption(t(f"kpi.period_{how}", start=fmt.day(f.period_from), end=fmt.day(f.period_to),
                 prev_start=fmt.day(prev_from), prev_end=fmt.day(prev_to)))
else:
    st.caption(t("kpi.period_all"))

if view.empty:
    st.info(t("common.no_data"), icon=":material/filter_alt_off:")
else:
    for col, card in zip(st.columns(len(ov.KPIS)), ov.kpi_cards(view, lang)):
        col.metric(card["label"], card["value"], delta=card["delta"], delta_color=card["delta_color"],
                   help=card["help"], border=True)

    st.subheader(t("kpi.trend_title"))
    if view.trend.height:
        unit = view.currency or t("kpi.unit_amount")
        fig = charts.trend(view.trend, won_label=t("kpi.won_revenue"), target_label=t("kpi.target"),
                           partial_label=t("kpi.partial_month"), x_title=t("kpi.month"),
                           y_title=t("kpi.revenue_axis", unit=unit), currency=view.currency, lang=lang, dark=dark)
        st.plotly_chart(fig, theme=None, key="overview_trend", config={
            "displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": "salescope_trend",
                                                           "scale": 2}})
    else:
        st.caption(t("common.no_data"))

    st.subheader(t("kpi.attention"))
    for col, item in zip(st.columns(3), ov.attention(view, lang)):
        with col.container(border=True):
            st.markdown(f"**{item['title']}**")
            st.metric(item["label"], item["value"], help=item["help"])
            st.caption(item["text"])
            st.page_link(item["page"], label=item["link"], icon=item["icon"])

with st.expander(t("common.how_computed"), icon=":material/help:"):
    for key in ov.KPIS:
        st.markdown(f"**{t(f'kpi.{key}')}** — {t(f'definitions.{key}')}")
    for key in ("bottleneck", "plan_gap", "stalled"):
        st.markdown(f"**{t(f'kpi.{key}_title')}** — {t(f'definitions.{key}')}")
    st.caption(t("kpi.compare_note"))

# ------------------------------------------------------------------------------ what is loaded
st.divider()
st.subheader(t("overview.loaded"))
for col, (name, n) in zip(st.columns(len(counts)), counts.items()):
    col.metric(t(f"tables.{name}"), fmt.number(n), help=t("overview.rows_help"))

status = summary["status"]
st.markdown(f"**{t('overview.deals_by_status')}**")
a, b, c, d = st.columns(4)
a.metric(t("tables.deals"), fmt.number(status["total"]))
b.metric(t("overview.open"), fmt.number(status["open"]))
c.metric(t("overview.won"), fmt.number(status["won"]))
d.metric(t("overview.lost"), fmt.number(status["lost"]))
e, g = st.columns(2)
e.metric(t("overview.date_range"), f"{fmt.day(summary['first'])} – {fmt.day(summary['last'])}",
         help=t("overview.date_range_help"))
last = summary["last_import"]
if last:
    kind = t("kinds.demo") if last["is_demo"] else t(f"kinds.{last['kind']}")
    g.metric(t("overview.last_import"), fmt.moment(last["imported_at"]),
             help=t("overview.last_import_value", file=last["file_name"] or kind, kind=kind,
                    at=fmt.moment(last["imported_at"])))

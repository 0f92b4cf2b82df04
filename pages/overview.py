"""Overview: what is loaded (rows per table, deal dates, last import)."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.i18n import t

widgets.require_frame()

summary = cache.loaded_summary(cache.version())
counts = summary["counts"]

st.title(t("overview.title"))

if all(v == 0 for v in counts.values()):
    st.info(t("overview.none_yet"), icon=":material/upload_file:")
    st.page_link("pages/data.py", label=t("overview.go_data"), icon=":material/arrow_forward:")
    st.stop()

st.subheader(t("overview.loaded"))
cols = st.columns(4)
for i, (name, n) in enumerate(counts.items()):
    cols[i % 4].metric(t(f"tables.{name}"), fmt.number(n), help=t("overview.rows_help"))

status = summary["status"]
st.subheader(t("overview.deals_by_status"))
a, b, c, d = st.columns(4)
a.metric(t("tables.deals"), fmt.number(status["total"]))
b.metric(t("overview.open"), fmt.number(status["open"]))
c.metric(t("overview.won"), fmt.number(status["won"]))
d.metric(t("overview.lost"), fmt.number(status["lost"]))

left, right = st.columns(2)
left.metric(t("overview.date_range"), f"{fmt.day(summary['first'])} – {fmt.day(summary['last'])}",
            help=t("overview.date_range_help"))
last = summary["last_import"]
if last:
    kind = t("kinds.demo") if last["is_demo"] else t(f"kinds.{last['kind']}")
    right.metric(t("overview.last_import"), fmt.moment(last["imported_at"]),
                 help=t("overview.last_import_value", file=last["file_name"] or kind, kind=kind,
                        at=fmt.moment(last["imported_at"])))

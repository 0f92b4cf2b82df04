"""Meeting mode: the weekly sales meeting's agenda as slides (← / → step through, ?slide=N in the URL)."""
from __future__ import annotations

import streamlit as st

from ui import cache, meeting, widgets
from ui.i18n import t

widgets.require_frame()

f = widgets.current_filters()
slide = meeting.slide_from(st.query_params.get("slide"))
st.query_params["slide"] = str(slide)
anonymised = meeting.navigation(slide)

view = cache.view("meeting", f)
if view.empty:
    st.info(t("common.no_data"), icon=":material/info:")
    st.stop()

meeting.render(view, slide, anonymised)

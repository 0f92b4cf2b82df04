"""Salescope: the router and the frame (page config, language, demo banner, navigation).

Run with `streamlit run app.py`. Every page is listed here (a test checks none is left out).
"""
from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from ui import cache, widgets
from ui.i18n import t

HERE = Path(__file__).resolve().parent
PAGES_DIR = HERE / "pages"

# (file stem, label key, icon, default page?) — the URL path of each page is its file name.
PAGES: list[tuple[str, str, str, bool]] = [
    ("overview", "nav.overview", ":material/dashboard:", True),
    ("data", "nav.data", ":material/upload_file:", False),
]

st.set_page_config(page_title="Salescope", page_icon=":material/insights:", layout="wide")
widgets.init_language()

try:
    is_demo = cache.ensure_demo_on_first_start()
except Exception:  # never a traceback on screen: log it and say so in the user's language
    logging.getLogger("salescope").exception("could not open or seed the database")
    st.error(t("app.error"))
    st.stop()

pages = [
    st.Page(str(PAGES_DIR / f"{stem}.py"), title=t(label), icon=icon, url_path=stem, default=default)
    for stem, label, icon, default in PAGES
]
nav = st.navigation(pages)
st.sidebar.caption(t("app.tagline"))
widgets.language_switch()
widgets.demo_banner(is_demo)
nav.run()

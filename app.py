"""Salescope: the router and the frame (page config, language, demo banner, navigation).

Run with `streamlit run app.py`. Every page is listed here (a test checks none is left out).
"""
from __future__ import annotations

import logging
from pathlib import Path

from ui import allocators

allocators.configure()   # before DuckDB loads: its allocator returns freed memory (ui/allocators.py)

import pandas  # noqa: E402,F401  (imported once up front: plotly imports it lazily, racing parallel first runs)
import streamlit as st  # noqa: E402

from ui import auth, cache, widgets  # noqa: E402
from ui.i18n import problem_text, t  # noqa: E402

HERE = Path(__file__).resolve().parent
PAGES_DIR = HERE / "pages"

# (file stem, label key, icon) — the URL path of each page is its file name; the first is where the
# app's root URL leads (Streamlit serves its default page at the root only: `/overview` would be "Page
# not found", so the default is a hidden page that switches to it, the URL's filters and language kept)
PAGES: list[tuple[str, str, str]] = [
    ("overview", "nav.overview", ":material/dashboard:"),
    ("funnel", "nav.funnel", ":material/filter_alt:"),
    ("leaderboard", "nav.leaderboard", ":material/leaderboard:"),
    ("customers", "nav.customers", ":material/groups:"),
    ("forecast", "nav.forecast", ":material/trending_up:"),
    ("history", "nav.history", ":material/history:"),
    ("meeting", "nav.meeting", ":material/co_present:"),
    ("data", "nav.data", ":material/upload_file:"),
]

present = st.query_params.get("present") == "1"          # meeting mode for the room
st.set_page_config(page_title="Salescope", page_icon=":material/insights:", layout="wide",
                   initial_sidebar_state="collapsed" if present else "auto")
widgets.no_legacy_pages()
widgets.init_language()

user = auth.current_user()
if user is None or not user.sees_anything:
    widgets.sign_in_screen(user)
    st.stop()

try:
    is_demo = cache.ensure_demo_on_first_start()
except Exception as exc:  # never a traceback on screen: log it and say so in the user's language
    logging.getLogger("salescope").exception("could not open or seed the database")
    code = getattr(exc, "code", None)
    st.error(problem_text(code, getattr(exc, "params", {})) if code else t("app.error"), icon=":material/error:")
    st.stop()

pages = [st.Page(str(PAGES_DIR / f"{stem}.py"), title=t(label), icon=icon, url_path=stem) for stem, label, icon in PAGES]
root = st.Page(lambda: None, title=t(PAGES[0][1]), url_path="home", default=True, visibility="hidden")
nav = st.navigation([root, *pages], position="hidden" if present else "sidebar")
if present and nav.url_path != "meeting":
    st.switch_page(next(p for p in pages if p.url_path == "meeting"), query_params=dict(st.query_params))
if nav.url_path == "":                                   # the root URL: the default page's path
    st.switch_page(pages[0], query_params=dict(st.query_params))
st.sidebar.caption(t("app.tagline"))
widgets.language_switch()
widgets.presenter_switch()
widgets.account_box()
widgets.filter_bar()
widgets.demo_banner(is_demo)
nav.run()

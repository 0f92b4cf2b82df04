"""Shared widgets of the frame: the language switch (mirrored in the URL) and the demo banner."""
from __future__ import annotations

import streamlit as st

from ui import cache
from ui.i18n import DEFAULT_LANG, LANGUAGES, t


def require_frame() -> None:
    """Run every page through app.py's router and frame.

    With a `pages/` folder Streamlit starts in its legacy multipage mode until app.py has called
    st.navigation once; a server's very first request to /data would then run the page alone (no
    frame, no language, no demo). Switch the legacy mode off and rerun through the router."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def init_language() -> str:
    """Take the language from ?lang= (or the browser's language), keep it in session state."""
    if "lang" not in st.session_state:
        lang = st.query_params.get("lang")
        if lang not in LANGUAGES:
            browser = (getattr(st.context, "locale", None) or "").lower()
            lang = next((code for code in LANGUAGES if browser.startswith(code)), DEFAULT_LANG)
        st.session_state["lang"] = lang
    return st.session_state["lang"]


def _sync_language() -> None:
    st.query_params["lang"] = st.session_state["lang"]


def language_switch() -> None:
    """The sidebar language picker."""
    codes = list(LANGUAGES)
    st.sidebar.selectbox(
        t("app.language"), codes, key="lang", format_func=lambda c: LANGUAGES[c], on_change=_sync_language,
    )
    st.query_params["lang"] = st.session_state["lang"]


def demo_banner(is_demo: bool) -> None:
    """Every page says so when it shows the demo company; one click clears it."""
    if not is_demo:
        return
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(f"**{t('app.demo_badge')}** · {t('app.demo_banner')}", icon=":material/science:")
    if right.button(t("app.clear_demo"), key="clear_demo", width="stretch"):
        cache.clear_demo()
        st.toast(t("app.demo_cleared"))
        st.rerun()

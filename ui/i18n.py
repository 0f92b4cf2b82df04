"""One `t()` for every label: strings live in ui/locales/{en,zh,tr}.toml, flat keys with dots.

The language is a cross-page setting (session state key `lang`, mirrored in the URL as `?lang=`).
A missing key falls back to English, then to the key itself, so a gap shows but never crashes;
tests fail when any language lacks a key that English has.
"""
from __future__ import annotations

from typing import Any

from data.locales import LOCALES_DIR, catalog  # noqa: F401  (one reader for the app and the HTML report)

LANGUAGES: dict[str, str] = {"en": "English", "zh": "简体中文", "tr": "Türkçe"}
DEFAULT_LANG = "en"


def current_lang() -> str:
    """The chosen language of this session (English outside a Streamlit run)."""
    try:
        import streamlit as st

        lang = st.session_state.get("lang", DEFAULT_LANG)
    except Exception:  # outside a script run there is no session
        lang = DEFAULT_LANG
    return lang if lang in LANGUAGES else DEFAULT_LANG


def t(key: str, lang: str | None = None, **params: Any) -> str:
    """The text of `key` in the session's language, with `{named}` parameters filled in."""
    lang = lang or current_lang()
    text = catalog(lang).get(key) or catalog(DEFAULT_LANG).get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def has(key: str, lang: str | None = None) -> bool:
    """True when `key` has a text in the language."""
    return key in catalog(lang or current_lang())


def problem_text(code: str, params: dict[str, Any] | None = None, lang: str | None = None) -> str:
    """An importer problem or note (codes of data.ingest.problems) in the user's language."""
    params = dict(params or {})
    if code == "snapshot_date" and isinstance(params.get("source"), str):
        params["source"] = t(f"source.{params['source']}", lang)
    if isinstance(params.get("order"), str):
        params["order"] = t(f"order.{params['order']}", lang)
    return t(f"problem.{code}", lang, **params)

"""Shared widgets of the frame: the language switch (mirrored in the URL) and the demo banner."""
from __future__ import annotations

import polars as pl
import streamlit as st

from data import clock
from ui import auth, cache, filters
from ui.i18n import DEFAULT_LANG, LANGUAGES, t


def no_legacy_pages() -> None:
    """app.py's router owns navigation: never let Streamlit list pages/ on its own (it would before
    the first st.navigation call, e.g. on the sign-in screen)."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def require_frame() -> None:
    """Run every page through app.py's router and frame.

    With a `pages/` folder Streamlit starts in its legacy multipage mode until app.py has called
    st.navigation once; a server's very first request to /data would then run the page alone (no
    frame, no language, no demo). Switch the legacy mode off and rerun through the router."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def sign_in_screen(user: "auth.User | None") -> None:
    """The page shown before sign-in (or to a signed-in person the roles file does not know)."""
    st.title(t("app.title"))
    st.caption(t("app.tagline"))
    if user is None:
        st.info(t("auth.please_sign_in"), icon=":material/lock:")
        st.button(t("auth.sign_in"), on_click=st.login, type="primary", key="auth_login")
    else:
        st.warning(t("auth.no_access", email=user.email or "?"), icon=":material/block:")
        st.button(t("auth.sign_out"), on_click=st.logout, key="auth_logout")


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


def _sync_presenter() -> None:
    if st.session_state["present"]:
        st.query_params["present"] = "1"
    elif "present" in st.query_params:
        del st.query_params["present"]


def presenter_switch() -> None:
    """Meeting mode for the room (?present=1): page list hidden, sidebar folded, the meeting slides."""
    st.session_state.setdefault("present", st.query_params.get("present") == "1")
    st.sidebar.toggle(t("meeting.presenter.toggle"), key="present", on_change=_sync_presenter,
                      help=t("meeting.presenter.help"))


def account_box() -> None:
    """Who is signed in, with a sign-out button (only when sign-in is configured)."""
    if not auth.auth_enabled():
        return
    user = auth.current_user()
    if user is None:
        return
    st.sidebar.caption(t("auth.signed_in_as", email=user.email or "?", role=t(f"auth.role_{user.role}")))
    st.sidebar.button(t("auth.sign_out"), on_click=st.logout, key="auth_logout_sidebar")


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
    user = auth.current_user()
    if user is not None and user.can_change_data and right.button(t("app.clear_demo"), key="clear_demo", width="stretch"):
        cache.clear_demo()
        st.toast(t("app.demo_cleared"))
        st.rerun()


# ---------------------------------------------------------------------------------------------- filter bar
_KEYS = {"period": "f_period", "from": "f_from", "to": "f_to", "team": "f_team", "region": "f_region",
         "rep": "f_rep", "product": "f_product", "segment": "f_segment"}


def _default_preset() -> str:
    """This quarter, unless the data ends long before today (an old export): then all time."""
    from datetime import timedelta

    summary = cache.loaded_summary(cache.version(), role_scope())
    last = summary.get("last")
    if last is not None and last < clock.today() - timedelta(days=365):
        return "all_time"
    return filters.DEFAULT_PRESET


def _init_filters() -> None:
    """Seed the filter widgets once per session from the URL (a shared link reproduces the view)."""
    if "f_period" in st.session_state:
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params.keys()}
    if "period" not in params:
        params["period"] = [_default_preset()]
    f = filters.from_params(params, clock.today())
    st.session_state["f_period"] = f.preset
    st.session_state["f_from"] = f.period_from
    st.session_state["f_to"] = f.period_to
    for param, attr in filters.LIST_PARAMS.items():
        st.session_state[_KEYS[param]] = list(getattr(f, attr))


def _locked(values: tuple[str, ...], lock: tuple[str, ...] | None) -> tuple[str, ...]:
    """A filter narrowed to what the role allows (the lock wins over the widget)."""
    if lock is None:
        return values
    kept = tuple(v for v in values if v in lock)
    return kept or lock


def _rep_lock(user: "auth.User") -> tuple[str, ...] | None:
    """A rep user's id (the roles file may name the rep by id or by name)."""
    lock = user.scope().get("reps")
    if lock is None or user.role != "rep":
        return lock
    dims = cache.dimensions(cache.version())
    by_name = {name: rid for rid, name in dims["reps"]}
    return tuple(by_name.get(r, r) for r in lock)


def role_scope() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What the signed-in role may see, as a hashable cache key part: () for admins and viewers, else
    (("reps", ids),) or (("teams", names),) — a rep named by name in the roles file resolved to the id."""
    user = auth.current_user() or auth.User(None, "none")
    scope = dict(user.scope())
    if "reps" in scope:
        scope["reps"] = _rep_lock(user)
    return tuple(sorted((k, tuple(v)) for k, v in scope.items()))


def current_filters() -> "filters.Filters":
    """The filters of this session (what every page computes with), narrowed to the user's role."""
    _init_filters()
    user = auth.current_user() or auth.User(None, "none")
    team_lock = user.scope().get("teams")
    rep_lock = _rep_lock(user)
    preset = st.session_state["f_period"]
    today = clock.today()
    if preset == "custom":
        start, end = st.session_state.get("f_from"), st.session_state.get("f_to")
        if start and end and start > end:
            start, end = end, start
    else:
        start, end = filters.period_for(preset, today)
    chosen = {p: tuple(st.session_state.get(_KEYS[p]) or ()) for p in filters.LIST_PARAMS}
    chosen["team"] = _locked(chosen["team"], team_lock)
    chosen["rep"] = _locked(chosen["rep"], rep_lock)
    return filters.Filters(preset, start, end, *(chosen[p] for p in filters.LIST_PARAMS), as_of=today)


def _sync_url() -> None:
    for key in _KEYS.values():                 # a changed widget: keep its new value (see filter_bar)
        if key in st.session_state:
            st.session_state[f"_keep_{key}"] = st.session_state[key]
    f = current_filters()
    for key in list(_KEYS):
        if key in st.query_params:
            del st.query_params[key]
    for key, value in filters.to_params(f).items():
        st.query_params[key] = value


def filter_bar() -> "filters.Filters":
    """The shared filters in the sidebar: period presets (or custom dates), team, region, rep,
    product and segment. Mirrored in the URL; returns the current filters."""
    from ui import format as fmt

    _init_filters()
    # Widgets with translated labels are new widgets after a language switch, and Streamlit would reset
    # them to their first option: restore every filter from a kept copy before drawing it.
    for key in _KEYS.values():
        if f"_keep_{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"_keep_{key}"]
    dims = cache.dimensions(cache.version())
    sb = st.sidebar
    sb.selectbox(t("filters.period"), filters.PRESETS, key="f_period", on_change=_sync_url,
                 format_func=lambda p: t(f"filters.preset_{p}"))
    if st.session_state["f_period"] == "custom":
        c1, c2 = sb.columns(2)
        c1.date_input(t("filters.from"), key="f_from", on_change=_sync_url, format="YYYY-MM-DD")
        c2.date_input(t("filters.to"), key="f_to", on_change=_sync_url, format="YYYY-MM-DD")
    rep_names = dict(dims["reps"])
    user = auth.current_user() or auth.User(None, "none")
    team_lock, rep_lock = user.scope().get("teams"), _rep_lock(user)
    teams = [x for x in dims["teams"] if team_lock is None or x in team_lock]
    reps = [r for r, _ in dims["reps"] if rep_lock is None or r in rep_lock]
    scope = role_scope()
    if scope:   # a manager is offered only their team's reps, a rep only their own team
        seen = cache.people_in_scope(cache.version(), scope)
        teams, reps = [x for x in teams if x in seen["teams"]], [r for r in reps if r in seen["reps"]]
    for param, label, options, fmt_fn in (
        ("team", "filters.team", teams, str),
        ("region", "filters.region", dims["regions"], str),
        ("rep", "filters.rep", reps, lambda r: rep_names.get(r, r)),
        ("product", "filters.product", dims["products"], str),
        ("segment", "filters.segment", dims["segments"], str),
    ):
        key = _KEYS[param]
        st.session_state[key] = [v for v in st.session_state.get(key) or [] if v in options]
        sb.multiselect(t(label), options, key=key, on_change=_sync_url, format_func=fmt_fn,
                       placeholder=t("filters.all"))
    for key in _KEYS.values():
        st.session_state[f"_keep_{key}"] = st.session_state.get(key)
    f = current_filters()
    if f.bounded:
        sb.caption(t("filters.showing", start=fmt.day(f.period_from), end=fmt.day(f.period_to)))
    _sync_url()
    return f


# ---------------------------------------------------------------------------------------------- tables
def column_formats(kinds: dict[str, str]) -> dict:
    """Streamlit column configs for a table whose columns are tagged money / int / pct / days / date."""
    number = {"money": "localized", "int": "localized", "pct": "percent", "days": "%.0f"}
    out = {col: st.column_config.NumberColumn(col, format=number[k]) for col, k in kinds.items() if k in number}
    out.update({col: st.column_config.DateColumn(col, format="YYYY-MM-DD") for col, k in kinds.items() if k == "date"})
    return out


def formatted_table(df: pl.DataFrame, name: str, key: str, head, *, labels: dict[str, dict[str, str]] | None = None,
                    pct: tuple[str, ...] = (), num: tuple[str, ...] = (), ratio: tuple[str, ...] = ()) -> None:
    """A table with translated headers (`head(column)`) and downloads: percentages, whole amounts,
    two-decimal ratios and dates formatted by column; key values of the `labels` columns shown as
    their labels (e.g. status "over" → "Target met")."""
    df = df.with_columns([df[c].round(0) for c in num if df[c].dtype.is_float()]
                         + [df[c].round(2) for c in ratio if df[c].dtype.is_float()])
    cfg = {head(c): st.column_config.NumberColumn(format="percent") for c in pct}
    cfg |= {head(c): st.column_config.NumberColumn(format="localized") for c in (*num, *ratio)}
    cfg |= {head(c): st.column_config.DateColumn(format="localized") for c, d in df.schema.items() if d.is_temporal()}
    exprs = [pl.col(c).replace_strict(m, default=pl.col(c), return_dtype=pl.String)
             for c, m in (labels or {}).items() if c in df.columns]
    shown = (df.with_columns(exprs) if exprs else df).rename({c: head(c) for c in df.columns})
    table_with_downloads(shown, name, key, column_config=cfg)


def table_with_downloads(df: pl.DataFrame, name: str, key: str, *, column_config: dict | None = None,
                         height: int | str = "auto") -> None:
    """A table with CSV and Excel downloads (text cells that could run as formulas are escaped). The
    files are written when a button is clicked, not on every run (an Excel file of 50,000 accounts
    takes ~16 s to write)."""
    from functools import partial

    from ui.export import csv_bytes, xlsx_bytes

    st.dataframe(df, hide_index=True, width="stretch", height=height, column_config=column_config)
    c1, c2, _ = st.columns([1, 1, 4])
    c1.download_button(t("common.download_csv"), partial(csv_bytes, df), file_name=f"{name}.csv", mime="text/csv",
                       key=f"{key}_csv", icon=":material/download:", width="stretch")
    c2.download_button(t("common.download_xlsx"), partial(xlsx_bytes, df), file_name=f"{name}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key=f"{key}_xlsx", icon=":material/table:", width="stretch")

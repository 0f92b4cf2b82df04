"""Leaderboard: the best of the period, reps or teams ranked on a chosen measure with the change of
rank, effort against results, top and bottom performers, and the deals behind a picked name."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import leaderboard as charts
from ui.i18n import current_lang, t
from ui.views import leaderboard as lv
from ui.views.overview import md

widgets.require_frame()

f = widgets.current_filters()
lang, dark = current_lang(), st.context.theme.type == "dark"
TROPHY = ":material/emoji_events:"
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "salescope_effort"}}


st.title(t("leaderboard.title"))
view = cache.view("leaderboard", f)
if view.empty:
    st.info(t("common.no_data"), icon=":material/filter_alt_off:")
    st.stop()

c1, c2 = st.columns([1, 2])
by = c1.segmented_control(t("leaderboard.by"), lv.BY, default="rep", required=True, key="leaderboard_by",
                          format_func=lambda b: t(f"leaderboard.by_{b}"))
measure = c2.selectbox(t("leaderboard.measure"), lv.MEASURES, key="leaderboard_measure",
                       format_func=lambda m: t(f"leaderboard.measure_{m}"), help=t("definitions.leaderboard"))
cur = view.currency
board = lv.ranked(view, by, measure)
key_col, name_col = lv.key_of(by), lv.name_of(by)
names = dict(zip(board[key_col].to_list(), board[name_col].to_list()))

# ------------------------------------------------------------------------------ best of the period
span = {"this_month": "month", "this_quarter": "quarter", "this_year": "year"}.get(f.preset, "period")
card = lv.best_card(view, by, measure, lang)
with st.container(border=True):
    if card is None:
        st.markdown(f"**{t(f'leaderboard.best_{by}_{span}')}**")
        st.caption(t("common.no_data"))
    else:
        team = f" · {md(card['team'])}" if card["team"] else ""
        st.markdown(f"### {TROPHY} {t(f'leaderboard.best_{by}_{span}')}: {md(card['name'])}{team}")
        vs = card["vs"]
        for col, n in zip(st.columns(len(card["numbers"])), card["numbers"]):
            col.metric(n["label"], n["value"], delta=n["delta"], help=n["help"],
                       delta_description=vs if n["delta"] else None)

# ------------------------------------------------------------------------- ranked table and effort
left, right = st.columns([3, 2])
with left:
    st.subheader(t("leaderboard.ranked_title", measure=t(f"leaderboard.measure_{measure}")))
    table, kinds = lv.board_table(view, by, measure, lang)
    widgets.table_with_downloads(table, f"salescope_leaderboard_{by}", "leaderboard_board",
                                 column_config=widgets.column_formats(kinds), height=520)
    st.caption(t("leaderboard.rank_note", min=lv.MIN_CLOSED) + " " + t("leaderboard.note.idle"))

pick_key = f"leaderboard_pick_{by}"
if st.session_state.get(pick_key) not in names:
    st.session_state[pick_key] = board[key_col][0] if board.height else None
points_board = board.sort(key_col)
point_keys = points_board[key_col].to_list()


def _pick() -> None:
    """A click on a point picks that rep (or team) for the deals below."""
    points = (st.session_state.get("leaderboard_chart") or {}).get("selection", {}).get("points", [])
    if points and points[0].get("point_index") is not None:
        st.session_state[pick_key] = point_keys[points[0]["point_index"]]


with right:
    st.subheader(t("leaderboard.effort_title"))
    fig = charts.effort_scatter(
        points_board, key=key_col, name=name_col, selected=st.session_state.get(pick_key),
        x_title=t("leaderboard.x_activities"), y_title=t("kpi.revenue_axis", unit=cur or t("kpi.unit_amount")),
        won_label=t("leaderboard.measure_won_revenue"), activities_label=t("leaderboard.measure_activities"),
        flag_labels={"top": t("leaderboard.flag_top"), "bottom": t("leaderboard.flag_bottom")}, currency=cur,
        lang=lang, dark=dark)
    st.plotly_chart(fig, theme=None, key="leaderboard_chart", on_select=_pick, selection_mode="points", config=CONFIG)
    st.caption(t("leaderboard.click_hint"))

# ---------------------------------------------------------------------------- top and bottom
top_col, bottom_col = st.columns(2)
for col, flag, icon in ((top_col, "top", ":material/trending_up:"), (bottom_col, "bottom", ":material/trending_down:")):
    with col.container(border=True):
        st.markdown(f"**{icon} {t(f'leaderboard.{flag}_title')}**")
        rows = lv.flagged(view, by, flag)
        if rows.height == 0:
            st.caption(t("leaderboard.none_flagged"))
        for r in rows.head(8).iter_rows(named=True):
            st.markdown(f"- **{md(r[name_col])}** · {fmt.money(r['won_revenue'], cur)} · "
                        f"{t('leaderboard.won_deals_n', n=fmt.number(r['won_deals']))}")
st.caption(t("leaderboard.flag_note"))

# ------------------------------------------------------------------------------- the deals behind
st.subheader(t(f"leaderboard.deals_title_{by}"))
picked = st.selectbox(t(f"leaderboard.pick_{by}"), list(names), key=pick_key, format_func=lambda k: names.get(k, k))
rows = cache.view("leaderboard_deals", f, by=by, key=picked)
n = lv.deal_counts(rows)
st.caption(t("leaderboard.deals_summary", won=fmt.number(n["won"]), won_amount=fmt.money(n["won_amount"], cur),
             lost=fmt.number(n["lost"]), open=fmt.number(n["open"]), open_amount=fmt.money(n["open_amount"], cur)))
if rows.height:
    table, kinds = lv.deals_table(rows, lang)
    widgets.table_with_downloads(table, "salescope_deals", "leaderboard_deals",
                                 column_config=widgets.column_formats(kinds),
                                 height=400)

with st.expander(t("common.how_computed"), icon=":material/help:"):
    for key in ("leaderboard", "won_revenue", "win_rate", "avg_won_deal", "attainment"):
        st.markdown(f"**{t(f'leaderboard.def_{key}')}** — {t(f'definitions.{key}')}")
    st.caption(t("leaderboard.rank_note", min=lv.MIN_CLOSED))
    st.caption(t("leaderboard.flag_note"))

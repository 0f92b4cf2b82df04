"""Meeting mode: the weekly agenda as five slides the presenter steps through (← / → or the buttons).

The slide number lives in the URL (`?slide=N`), so a link opens the meeting at that slide and the
browser's back button steps back. "Anonymise" shows ranks and revenue bands ("Rep #3",
"¥200K – ¥500K") instead of rep names and their exact figures on every slide.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import polars as pl
import streamlit as st

from metrics.agenda import Agenda
from metrics.quality import CHECKS
from ui import format as fmt
from ui.charts import history as history_charts
from ui.charts import meeting as charts
from ui.i18n import current_lang, t
from ui.views.forecast import accuracy_note
from ui.views.history import formatted, signed
from ui.views.meeting import MeetingView, anonymise, band

SLIDES: tuple[str, ...] = ("changes", "leaderboard", "forecast", "stalled", "hygiene")
BARS_SHOWN = ("start", "created", "pulled_in", "amount_up", "amount_down", "pushed_out", "won", "lost", "removed", "end")
CHART_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2, "filename": "salescope"}}


# ------------------------------------------------------------------------------ the slide number
def slide_from(raw: object) -> int:
    """The slide number of a `?slide=` value, clamped to 1..5 (1 when missing or not a number)."""
    try:
        n = int(str(raw))
    except (TypeError, ValueError):
        return 1
    return min(max(n, 1), len(SLIDES))


def step(delta: int) -> None:
    """Button callback: move to the previous/next slide (kept in the URL, not in session state)."""
    st.query_params["slide"] = str(slide_from(slide_from(st.query_params.get("slide")) + delta))


def navigation(slide: int) -> bool:
    """The presenter's bar: previous / next (← / → keys), where we are, and the anonymise switch.
    Returns whether names are to be hidden."""
    prev_col, next_col, where, anon_col = st.columns([1.2, 1.2, 6, 2], vertical_alignment="center")
    prev_col.button(t("meeting.prev"), key="meeting_prev", shortcut="left", icon=":material/arrow_back:",
                    on_click=step, args=(-1,), disabled=slide <= 1, width="stretch", help=t("meeting.keys_hint"))
    next_col.button(t("meeting.next"), key="meeting_next", shortcut="right", icon=":material/arrow_forward:",
                    on_click=step, args=(1,), disabled=slide >= len(SLIDES), width="stretch", type="primary",
                    help=t("meeting.keys_hint"))
    where.progress(slide / len(SLIDES), text=t("meeting.slide_of", n=slide, total=len(SLIDES),
                                               title=t(f"meeting.agenda_{SLIDES[slide - 1]}")))
    return anon_col.toggle(t("meeting.anonymise"), key="meeting_anonymise", help=t("meeting.anonymise_help"))


# ------------------------------------------------------------------------------ helpers
def _money(view: MeetingView, short: bool = True) -> Callable[[float | None], str]:
    return lambda x: fmt.money(x, view.currency, short=short)


def _band_text(view: MeetingView, value: float | None) -> str:
    b = band(value)
    if b is None:
        return fmt.money(0, view.currency)
    def money(x: float) -> str:   # band edges are round: "¥200K", "¥1000万", not "¥200.0K"
        return re.sub(r"[.,]0+(?=\D*$)", "", fmt.money(x, view.currency))
    return t("meeting.band", low=money(b[0]), high=money(b[1]))


def _unit(view: MeetingView) -> str:
    return view.currency or t("history.unit_amount")


def _title(slide: int) -> None:
    st.title(f"{slide} · {t(f'meeting.agenda_{SLIDES[slide - 1]}')}")


def _names(view: MeetingView, frame: pl.DataFrame, anon: bool) -> pl.DataFrame:
    return anonymise(frame, view.ranks, t("meeting.rep_alias")) if anon else frame.drop("owner_rep_id", strict=False)


def _table(frame: pl.DataFrame, height: int | str = "auto") -> None:
    st.dataframe(frame, hide_index=True, width="stretch", height=height)


def _how(keys: list[str]) -> None:
    with st.expander(t("common.how_computed")):
        for key in keys:
            st.caption(t(key))


# ------------------------------------------------------------------------------ slide 1
def _changes(view: MeetingView, anon: bool) -> None:
    ag: Agenda = view.agenda
    _title(1)
    if ag.change is None:
        st.info(t("meeting.no_history"), icon=":material/history:")
        return
    ch = ag.change
    money = _money(view)
    st.caption(t("meeting.since", start=fmt.day(ch.from_snapshot), end=fmt.day(ch.to_snapshot)) + " · "
               + _window(ag.period_from, ag.period_to))
    amounts = ch.amounts()
    cols = st.columns(6)
    cols[0].metric(t("history.bar_end"), money(amounts["end"]), delta=signed(money, amounts["end"] - amounts["start"]),
                   help=t("history.def_change_end"))
    for col, bar in zip(cols[1:5], ("created", "won", "lost", "pushed_out"), strict=True):
        col.metric(t(f"history.bar_{bar}"), money(amounts[bar]), help=t(f"history.def_change_{bar}"),
                   delta=t("history.n_deals", n=fmt.number(ch.counts()[bar])), delta_color="off", delta_arrow="off")
    cols[5].metric(t("meeting.amount_change"), signed(money, amounts["amount_up"] - amounts["amount_down"]),
                   help=t("history.def_change_amount_up") + " " + t("history.def_change_amount_down"))
    left, right = st.columns([3, 2])
    labels = {bar: t(f"history.bar_{bar}") for bar in BARS_SHOWN}
    fig = history_charts.waterfall(ch.bars, labels, money=money, x_title=t("history.waterfall_x"),
                                   y_title=t("history.waterfall_y", unit=_unit(view)), lang=current_lang(), big=True,
                                   count=lambda n: t("history.n_deals", n=fmt.number(n)))
    left.plotly_chart(fig, width="stretch", theme=None, config=CHART_CONFIG, key="meeting_waterfall")
    with right:
        tabs = st.tabs([f"{t(f'meeting.list_{bar}')} · {fmt.number(ag.totals.get(bar, 0))}"
                        for bar in ("created", "won", "lost", "pushed_out")])
        for tab, bar in zip(tabs, ("created", "won", "lost", "pushed_out"), strict=True):
            with tab:
                _deal_list(view, bar, anon)
    _how(["history.def_pipeline_change"] + [f"history.def_change_{b}" for b in BARS_SHOWN])


def _window(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return t("history.window_all")
    return t("history.window", start=fmt.day(start), end=fmt.day(end))


def _deal_list(view: MeetingView, bar: str, anon: bool) -> None:
    rows = view.agenda.deal_lists.get(bar)
    if rows is None or rows.height == 0:
        st.caption(t("meeting.none"))
        return
    amount = "amount_after" if bar == "created" else "amount_before"
    shown = formatted(_names(view, rows, anon), {amount: _money(view, short=True), "close_after": fmt.day})
    cols = [
        pl.col("name").alias(t("meeting.col_deal")),
        pl.col("rep").alias(t("meeting.col_rep")),
        pl.col(amount).alias(t("meeting.col_amount")),
        pl.col("close_after").alias(t("meeting.col_close")),
    ]
    if bar in ("created", "pushed_out"):
        cols.insert(2, pl.col("stage_after").alias(t("meeting.col_stage")))
    out = shown.select(cols)
    _table(out, height=min(35 * (out.height + 1) + 4, 480))
    shown, total = rows.height, view.agenda.totals.get(bar, 0)
    if total > shown:
        st.caption(t("meeting.more", n=fmt.number(total - shown)))


# ------------------------------------------------------------------------------ slide 2
def _leaderboard(view: MeetingView, anon: bool) -> None:
    _title(2)
    board = view.agenda.leaderboard
    if board.height == 0:
        st.info(t("common.no_data"))
        return
    money = _money(view)
    c1, c2, c3 = st.columns(3)
    c1.metric(t("meeting.col_won_revenue"), money(float(board["won_revenue"].sum())), help=t("definitions.won_revenue"))
    c2.metric(t("meeting.col_won_deals"), fmt.number(int(board["won_deals"].sum())), help=t("definitions.won_revenue"))
    on_target = board.filter(pl.col("attainment") >= 1).height
    c3.metric(t("meeting.on_target"), f"{fmt.number(on_target)} / {fmt.number(board.filter(pl.col('target') > 0).height)}",
              help=t("definitions.attainment"))
    top = board.head(15)
    shown = formatted(top.with_columns(pl.col("won_revenue").alias("_text")),
                      {"_text": (lambda v: _band_text(view, v)) if anon else money})
    shown = anonymise(shown, view.ranks, t("meeting.rep_alias"), id_col="rep_id") if anon else shown
    shown = shown.with_columns((pl.col("rank").cast(pl.String) + ". " + pl.col("rep")).alias("_label")) if not anon \
        else shown.with_columns(pl.col("rep").alias("_label"))
    left, right = st.columns([3, 2])
    fig = charts.leaderboard(shown, label="_label", value="won_revenue", text="_text",
                             x_title=t("meeting.axis_won_revenue", unit=_unit(view)), y_title="",
                             lang=current_lang())
    left.plotly_chart(fig, width="stretch", theme=None, config=CHART_CONFIG, key="meeting_leaderboard")
    table = anonymise(board, view.ranks, t("meeting.rep_alias"), id_col="rep_id") if anon else board.drop("rep_id")
    value = (lambda v: _band_text(view, v)) if anon else _money(view, short=False)
    table = formatted(table, {"won_revenue": value, "win_rate": fmt.pct, "attainment": fmt.pct})
    with right:
        _table(table.select(
            pl.col("rank").alias(t("meeting.col_rank")), pl.col("rep").alias(t("meeting.col_rep")),
            pl.col("team").alias(t("meeting.col_team")),
            pl.col("won_revenue").alias(t("meeting.col_band") if anon else t("meeting.col_won_revenue")),
            pl.col("win_rate").alias(t("meeting.col_win_rate")),
            pl.col("attainment").alias(t("meeting.col_attainment")),
        ), height=560)
    _how(["definitions.leaderboard", "definitions.won_revenue", "definitions.win_rate", "definitions.attainment"]
         + (["meeting.anonymise_help"] if anon else []))


# ------------------------------------------------------------------------------ slide 3
def _forecast(view: MeetingView, anon: bool) -> None:
    del anon  # no names on this slide
    _title(3)
    ag = view.agenda
    plan = ag.plan
    money = _money(view)
    best = ag.forecasts.filter(pl.col("method") == ag.best_method) if ag.forecasts.height else ag.forecasts
    c = st.columns(5)
    c[0].metric(t("meeting.target"), money(plan.get("target")), help=t("definitions.plan_vs_actual"))
    c[1].metric(t("meeting.won_to_date"), money(plan.get("actual")), help=t("definitions.won_revenue"))
    c[2].metric(t("meeting.attainment"), fmt.pct(plan.get("attainment")), help=t("definitions.attainment"))
    c[3].metric(t("meeting.forecast_best", method=t(f"meeting.method_{ag.best_method}")),
                money(best["forecast"][0]) if best.height else fmt.DASH, help=t(f"definitions.forecast_{ag.best_method}"))
    c[4].metric(t("meeting.coverage"), fmt.number(plan.get("pipeline_coverage"), 1) + "×"
                if plan.get("pipeline_coverage") is not None else fmt.DASH, help=t("definitions.pipeline_coverage"))
    if ag.forecasts.height == 0:
        st.info(t("meeting.no_forecast"))
        return
    rows = [{"name": t("meeting.won_to_date"), "value": float(plan.get("actual") or 0.0), "low": None, "high": None,
             "kind": "won"}]
    for r in ag.forecasts.iter_rows(named=True):
        star = " ★" if r["method"] == ag.best_method else ""
        rows.append({"name": t(f"meeting.method_{r['method']}") + star, "value": r["forecast"],
                     "low": r["forecast_low"], "high": r["forecast_high"],
                     "kind": "best" if r["method"] == ag.best_method else "forecast"})
    fig = charts.forecast_vs_plan(rows, target=plan.get("target"), target_name=t("meeting.target"),
                                  x_title=t("meeting.axis_revenue", unit=_unit(view)), y_title="", lang=current_lang(),
                                  money=money)
    st.plotly_chart(fig, width="stretch", theme=None, config=CHART_CONFIG, key="meeting_forecast")
    st.caption(best_note(ag))
    _how(["definitions.plan_vs_actual", "definitions.attainment", "definitions.pipeline_coverage",
          "definitions.forecast_weighted", "definitions.forecast_historical", "definitions.forecast_run_rate",
          "history.def_forecast_accuracy", "history.def_best_method"])


def best_note(ag: Agenda) -> str:
    """Which forecast is shown first, and why (measured accuracy, or the default)."""
    key, measured = accuracy_note(ag.accuracy, ag.best_method)   # the Forecast page's rule
    if key == "forecast.best_method":
        return t("meeting.best_method", method=t(f"meeting.method_{ag.best_method}"),
                 mape=fmt.pct(measured["mape"]), n=fmt.number(measured["n"]))
    return t("meeting.default_method")


# ------------------------------------------------------------------------------ slide 4
def _stalled(view: MeetingView, anon: bool) -> None:
    _title(4)
    ag = view.agenda
    c1, c2 = st.columns(2)
    c1.metric(t("meeting.stalled_deals"), fmt.number(ag.totals.get("stalled", 0)), help=t("definitions.stalled"))
    c2.metric(t("meeting.stalled_amount"), _money(view)(ag.sums.get("stalled", 0.0)), help=t("definitions.stalled"))
    if ag.stalled.height == 0:
        st.info(t("meeting.none"))
        return
    st.caption(t("meeting.stalled_caption", n=fmt.number(ag.stalled.height)))
    stalled = formatted(_names(view, ag.stalled, anon), {"amount": _money(view, short=False)})
    _table(stalled.select(
        pl.col("name").alias(t("meeting.col_deal")), pl.col("account").alias(t("meeting.col_account")),
        pl.col("rep").alias(t("meeting.col_rep")), pl.col("stage").alias(t("meeting.col_stage")),
        pl.col("amount").alias(t("meeting.col_amount")),
        pl.col("days_in_stage").alias(t("meeting.col_days_in_stage")),
        pl.col("threshold_days").alias(t("meeting.col_usual_days")),
    ), height=35 * (ag.stalled.height + 1) + 3)
    _how(["definitions.stalled"])


# ------------------------------------------------------------------------------ slide 5
def _hygiene(view: MeetingView, anon: bool) -> None:
    _title(5)
    ag = view.agenda
    c1, c2, c3 = st.columns(3)
    c1.metric(t("meeting.quality_score"), fmt.number(ag.quality_score), help=t("definitions.quality_score"))
    c2.metric(t("meeting.issues"), fmt.number(ag.totals.get("hygiene", 0)), help=t("definitions.quality_issues"))
    c3.metric(t("meeting.deals_with_issues"), fmt.number(ag.totals.get("hygiene_deals", 0)),
              help=t("definitions.quality_issues"))
    if ag.hygiene.height == 0:
        st.info(t("meeting.none"))
        return
    left, right = st.columns(2)
    by_rep = _names(view, ag.hygiene_by_rep.head(12), anon)
    with left:
        st.subheader(t("meeting.hygiene_by_rep"))
        _table(by_rep.select(pl.col("rep").alias(t("meeting.col_rep")),
                             *[pl.col(c).alias(t(f"meeting.check_{c}")) for c in CHECKS],
                             pl.col("issues").alias(t("meeting.col_issues"))), height=35 * (by_rep.height + 1) + 3)
    with right:
        st.subheader(t("meeting.hygiene_fix_first"))
        fixes = formatted(_names(view, ag.hygiene, anon), {"check": lambda c: t(f"meeting.check_{c}"),
                                                            "amount": _money(view)})
        _table(fixes.select(
            pl.col("name").alias(t("meeting.col_deal")), pl.col("rep").alias(t("meeting.col_rep")),
            pl.col("check").alias(t("meeting.col_check")), pl.col("amount").alias(t("meeting.col_amount")),
        ), height=35 * (ag.hygiene.height + 1) + 3)
    _how(["definitions.quality_score", "definitions.quality_issues"])


RENDER = {"changes": _changes, "leaderboard": _leaderboard, "forecast": _forecast, "stalled": _stalled,
          "hygiene": _hygiene}


def render(view: MeetingView, slide: int, anon: bool) -> None:
    """Draw one slide of the agenda."""
    RENDER[SLIDES[slide - 1]](view, anon)

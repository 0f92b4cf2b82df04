"""Forecast vs plan: target, won and the forecast range by month; attainment and pacing by rep and
team; pipeline coverage and the pipeline needed. Clicking a rep's (or team's) bar lists its open
deals closing in the period."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import forecast as charts
from ui.charts.customers import png_config
from ui.i18n import current_lang, has, t
from ui.views.customers import delta, picked
from ui.views.overview import md
from ui.views.forecast import EXPLAINED, METHODS, accuracy_note, chosen, deals_of, of_method

widgets.require_frame()
f = widgets.current_filters()
v = cache.view("forecast", f)
lang, dark = current_lang(), st.context.theme.type == "dark"

st.title(t("nav.forecast"))
if v.empty:
    st.info(t("common.no_data"), icon=":material/info:")
    st.stop()

unit = v.currency or t("customers.mixed")
STATUS = {k: t(f"forecast.status_{k}") for k in ("over", "on", "under")}
METHOD = {k: t(f"forecast.method_{k}") for k in METHODS}


def money(x: float | None) -> str:
    return fmt.money(x, v.currency)


def head(c: str) -> str:
    return t(f"forecast.col_{c}") if has(f"forecast.col_{c}", "en") else t(f"columns.{c}")


def table(df, name: str, key: str, **formats) -> None:
    widgets.formatted_table(df, name, key, head, labels={"status": STATUS, "method": METHOD}, **formats)


def month_chart(forecasts) -> None:
    labels = {k: t(f"forecast.{k}") for k in ("actual", "target", "forecast", "range")}
    fig = charts.plan_by_month(v.monthly, forecasts, labels=labels, x_title=t("forecast.x_month"),
                               y_title=t("forecast.y_amount", unit=unit), currency=v.currency, lang=lang, dark=dark)
    st.plotly_chart(fig, key="forecast_months", config=png_config("plan_vs_actual"), theme=None)


def how_computed() -> None:
    with st.expander(t("common.how_computed")):
        st.markdown("\n".join(f"- {t(key)}" for key in EXPLAINED))


if not v.bounded:
    st.info(t("forecast.unbounded"), icon=":material/info:")
    if v.monthly.height:
        st.subheader(t("forecast.by_month"))
        month_chart(of_method(v.month_forecasts, METHODS[0]))
        table(v.monthly, "plan_vs_actual", "forecast_months_table", pct=("attainment",),
              num=("target", "actual", "pipeline"))
    else:
        st.info(t("forecast.no_targets"), icon=":material/info:")
    how_computed()
    st.stop()

if not v.has_targets:
    st.info(t("forecast.no_targets"), icon=":material/info:")
method = st.segmented_control(t("forecast.method"), METHODS, default=v.best_method, required=True,
                              format_func=METHOD.get, key="forecast_method", help=t("history.def_best_method"))
fc, total, prev = chosen(v.forecasts, method), v.total, v.previous
won_delta = delta(total.get("actual", fc.get("won_to_date")), prev.get("actual"), relative=True)
att_delta = delta(total.get("attainment"), prev.get("attainment"))
same = t("forecast.vs_same_point")
c = st.columns(6)
c[0].metric(t("forecast.target"), money(total.get("target")), help=t("definitions.plan_vs_actual"), border=True)
c[1].metric(t("forecast.won"), money(total.get("actual", fc.get("won_to_date"))), border=True,
            delta=None if won_delta is None else ("-" if won_delta < 0 else "+") + fmt.pct(abs(won_delta)),
            delta_description=same, help=t("definitions.won_revenue"))
c[2].metric(t("forecast.attainment"), fmt.pct(total.get("attainment")), border=True,
            delta=None if att_delta is None else t("forecast.points", value=("-" if att_delta < 0 else "+")
                                                   + fmt.number(abs(att_delta) * 100, 1)),
            delta_description=same, help=t("definitions.attainment"))
c[3].metric(t("forecast.gap"), money(total.get("gap")), help=t("definitions.plan_gap"), border=True)
c[4].metric(t("forecast.forecast_m", method=METHOD[method]), money(fc.get("forecast")), border=True,
            delta=f"{money(fc.get('forecast_low'))} – {money(fc.get('forecast_high'))}", delta_color="off",
            delta_arrow="off", delta_description=t("forecast.range"), help=t(f"definitions.forecast_{method}"))
cov = total.get("pipeline_coverage")
c[5].metric(t("forecast.coverage"), "—" if cov is None else f"{fmt.number(cov, 1)}×", border=True,
            help=t("definitions.pipeline_coverage"))

st.subheader(t("forecast.by_month"))
st.caption(t("forecast.by_month_caption"))
month_chart(of_method(v.month_forecasts, method))

left, right = st.columns([2, 3])
with left:
    st.subheader(t("forecast.pacing"))
    a, b = st.columns(2)
    a.metric(t("forecast.expected"), fmt.pct(total.get("expected_attainment")), help=t("definitions.pacing"))
    b.metric(t("forecast.pace"), "—" if total.get("pace") is None else f"{fmt.number(total['pace'], 2)}×",
             help=t("definitions.pacing"))
    a.metric(t("forecast.pipeline"), money(total.get("pipeline")), help=t("definitions.pipeline_coverage"))
    b.metric(t("forecast.needed"), money(total.get("pipeline_needed")), help=t("definitions.pipeline_needed"))
    st.caption(t("forecast.win_rate_used", rate=fmt.pct(v.win_rate)))
with right:
    st.subheader(t("forecast.methods"))
    table(v.forecasts, "forecasts", "forecast_methods_table",
          num=("forecast", "forecast_low", "forecast_high", "won_to_date", "expected_rest", "open_deals",
               "open_pipeline"))

st.subheader(t("forecast.accuracy_title"))
note, vals = accuracy_note(v.accuracy, v.best_method)
st.caption(t(note, method=METHOD[vals["method"]], mape=fmt.pct(vals.get("mape")), n=fmt.number(vals["n"])))
if v.accuracy_points.height:
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.accuracy_lines(v.accuracy_points, method_labels=METHOD, actual_label=t("forecast.won"),
                                            best=v.best_method, x_title=t("forecast.x_snapshot"),
                                            y_title=t("forecast.y_amount", unit=unit), currency=v.currency,
                                            lang=lang, dark=dark),
                      key="forecast_accuracy", config=png_config("forecast_accuracy"), theme=None)
    with right:
        table(v.accuracy, "forecast_accuracy", "forecast_accuracy_table", pct=("mape",), num=("bias",))

st.subheader(t("forecast.attainment_title"))
by = st.segmented_control(t("forecast.by"), ("rep", "team"), default="rep", required=True,
                          format_func=lambda k: t(f"forecast.by_{k}"), key="forecast_by")
rows, id_col = (v.reps, "rep_id") if by == "rep" else (v.teams, "team")
st.caption(t("forecast.attainment_hint"))
event = st.plotly_chart(
    charts.attainment(rows, id_col=id_col, name_col="rep" if by == "rep" else "team",
                      expected=total.get("expected_attainment"), status_labels=STATUS,
                      target_label=t("forecast.target_line"), pace_label=t("forecast.pace_line"),
                      x_title=t("forecast.x_attainment"), y_title=t(f"forecast.by_{by}"), currency=v.currency,
                      lang=lang, dark=dark),
    key=f"forecast_attainment_{by}", on_select="rerun", selection_mode="points",
    config=png_config(f"attainment_{by}"), theme=None)
table(rows.drop("rep_id") if by == "rep" else rows, f"attainment_{by}", f"forecast_{by}_table",
      pct=("attainment", "expected_attainment"), num=("target", "actual", "gap", "pipeline", "pipeline_needed"),
      ratio=("pace", "pipeline_coverage"))

clicked = picked(event)
deals = deals_of(v.open_deals, **({"rep_id": clicked} if by == "rep" else {"team": clicked}))
name = dict(zip(rows[id_col].to_list(), rows["rep" if by == "rep" else "team"].to_list())).get(clicked)
st.subheader(t("forecast.open_deals_of", name=md(name)) if clicked else t("forecast.open_deals"))
st.caption(t("forecast.open_deals_caption", count=fmt.number(deals.height), amount=money(deals["amount"].sum())))
table(deals.drop("owner_rep_id"), "open_deals", "forecast_open_deals", pct=("probability",), num=("amount",))

how_computed()

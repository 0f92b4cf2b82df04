"""Customers: ABC tiers and the Pareto curve, RFM segments, tier movement, revenue versus effort by
tier and rep, and A-tier accounts nobody looks after. Clicking a tier or a segment filters the
accounts table."""
from __future__ import annotations

import streamlit as st

from ui import cache, widgets
from ui import format as fmt
from ui.charts import customers as charts
from ui.i18n import current_lang, has, t
from ui.views.customers import SEGMENTS, TIERS, delta, drill, neglected, picked

widgets.require_frame()
f = widgets.current_filters()
v = cache.view("customers", f)
lang, dark = current_lang(), st.context.theme.type == "dark"

st.title(t("nav.customers"))
if v.empty:
    st.info(t("common.no_data"), icon=":material/info:")
    st.stop()

TIER = {k: t(f"customers.tier_{k}") for k in TIERS}
SEGMENT = {k: t(f"customers.seg_{k}") for k in SEGMENTS}
unit = v.currency or t("customers.mixed")
money_ = lambda x: fmt.money(x, v.currency)  # noqa: E731
head = lambda c: t(f"columns.{c}") if has(f"columns.{c}", "en") else t(f"customers.col_{c}")  # noqa: E731


def table(df, name: str, key: str, pct: tuple[str, ...] = (), num: tuple[str, ...] = ()) -> None:
    widgets.formatted_table(df, name, key, head, labels={"tier": TIER, "segment": SEGMENT}, pct=pct, num=num)


def delta_text(now, before, relative: bool = False) -> str | None:
    d = delta(now, before, relative)
    return None if d is None else ("-" if d < 0 else "+") + (fmt.pct(abs(d)) if relative else fmt.number(abs(d)))


h = v.headline
days = int(st.session_state.get("customers_days", 30))
vs = t("forecast.vs_same_point") if v.bounded else None
c1, c2, c3, c4, c5 = st.columns(5)
c1.metric(t("customers.customers"), fmt.number(h["customers"]), delta_text(h["customers"], h.get("customers_prev")),
          help=t("definitions.abc_tier"), delta_description=vs, border=True)
c2.metric(t("customers.a_accounts"), fmt.number(h["a_accounts"]),
          delta_text(h["a_accounts"], h.get("a_accounts_prev")), help=t("definitions.abc_tier"),
          delta_description=vs, border=True)
c3.metric(t("customers.revenue"), money_(h["revenue"]), delta_text(h["revenue"], h.get("revenue_prev"), True),
          help=t("definitions.tier_summary"), delta_description=vs, border=True)
c4.metric(t("customers.champions"), fmt.number(h["champions"]), help=t("definitions.rfm"), border=True)
c5.metric(t("customers.neglected_count", days=days), fmt.number(neglected(v.a_accounts, days).height),
          help=t("definitions.neglected_accounts"), border=True)

st.subheader(t("customers.pareto"))
st.caption(t("customers.pareto_hint"))
left, right = st.columns([2, 1])
with left:
    pareto_event = st.plotly_chart(
        charts.pareto(v.pareto, tier_labels=TIER, x_title=t("customers.x_rank"), y_title=t("customers.y_revenue", unit=unit),
                      y2_title=t("customers.y_cum"), cum_label=t("customers.cum"), currency=v.currency, lang=lang,
                      dark=dark),
        key="customers_pareto", on_select="rerun", selection_mode="points", config=charts.png_config("pareto"),
        theme=None)
with right:
    tier_event = st.plotly_chart(
        charts.tier_shares(v.summary, tier_labels=TIER, accounts_label=t("customers.account_share"),
                           revenue_label=t("customers.revenue_share"), x_title=t("customers.x_tier"),
                           y_title=t("customers.y_share"), currency=v.currency, lang=lang, dark=dark),
        key="customers_tiers", on_select="rerun", selection_mode="points", config=charts.png_config("tiers"),
        theme=None)
tier = picked(tier_event) or picked(pareto_event)

left, right = st.columns(2)
with left:
    st.subheader(t("customers.segments"))
    segment_event = st.plotly_chart(
        charts.segments(v.segments, segment_labels=SEGMENT, x_title=t("customers.x_accounts"),
                        y_title=t("customers.y_segment"), revenue_label=t("customers.col_revenue"),
                        currency=v.currency, lang=lang, dark=dark),
        key="customers_segments", on_select="rerun", selection_mode="points", config=charts.png_config("rfm"),
        theme=None)
segment = picked(segment_event)
with right:
    st.subheader(t("customers.movement"))
    if v.bounded:
        p = f.previous()
        st.caption(t("customers.movement_caption", start=fmt.day(p.period_from), end=fmt.day(p.period_to),
                     up=fmt.number(v.movement["up"]), down=fmt.number(v.movement["down"]),
                     same=fmt.number(v.movement["same"])))
        st.plotly_chart(charts.transitions(v.transitions, tier_labels=TIER, x_title=t("customers.x_after"),
                                           y_title=t("customers.y_before"), colorbar_title=t("customers.colorbar"),
                                           lang=lang, dark=dark),
                        key="customers_movement", config=charts.png_config("tier_movement"), theme=None)
    else:
        st.info(t("customers.movement_unbounded"), icon=":material/info:")

st.subheader(t("customers.accounts"))
accounts = drill(v.accounts, tier, segment)
tier_text = tier and (TIER[tier] if tier == "none" else f"{t('customers.col_tier')} {TIER.get(tier, tier)}")
picks = " · ".join(x for x in (tier_text, SEGMENT.get(segment or "")) if x)
st.caption(t("customers.accounts_filtered", filter=picks, count=fmt.number(accounts.height)) if picks
           else t("customers.accounts_all", count=fmt.number(accounts.height)))
table(accounts.drop("account_id"), "customers_accounts", "customers_accounts", pct=("share",),
      num=("revenue", "won_deals", "recency_days"))

st.subheader(t("customers.coverage"))
st.caption(t("customers.coverage_caption"))
left, right = st.columns([2, 3])
left.plotly_chart(
    charts.coverage(v.coverage, tier_labels=TIER, series={"revenue_share": t("customers.revenue_share"),
                    "pipeline_share": t("customers.pipeline_share"), "activity_share": t("customers.activity_share")},
                    x_title=t("customers.x_tier"), y_title=t("customers.y_share"), lang=lang, dark=dark),
    key="customers_coverage", config=charts.png_config("coverage"), theme=None)
with right:
    st.caption(t("customers.coverage_reps"))
    gaps = tuple(c for c in v.coverage_reps.columns if c.startswith(("effort_gap", "revenue_share", "activity_share")))
    table(v.coverage_reps.drop("rep_id"), "customers_effort", "customers_effort", pct=gaps, num=("activities",))

st.subheader(t("customers.neglected"))
days = st.number_input(t("customers.days"), min_value=1, max_value=730, value=30, step=1, key="customers_days",
                       width=260)
quiet = neglected(v.a_accounts, days)
st.caption(t("customers.neglected_caption", count=fmt.number(quiet.height), total=fmt.number(v.a_accounts.height),
             days=fmt.number(days)))
table(quiet.select("name", "owner", "revenue", "open_deals", "open_pipeline", "last_activity_on",
                   "days_since_activity", "no_open_deal", "no_recent_activity"),
      "customers_neglected", "customers_neglected", num=("revenue", "open_pipeline", "days_since_activity"))

with st.expander(t("common.how_computed")):
    for key in ("abc_tier", "tier_summary", "rfm", "tier_movement", "coverage", "neglected_accounts"):
        st.markdown(f"- {t('definitions.' + key)}")
    st.markdown("\n".join(f"- **{SEGMENT[k]}**: {t('customers.segdesc_' + k)}" for k in SEGMENTS))

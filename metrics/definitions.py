"""Plain-English definitions of every metric, keyed for translation (`metrics.DEFINITIONS`).

Most definitions are the first paragraph of the metric function's docstring, so the text shown
beside a number and the code that computes it cannot drift apart. A few metrics are columns of
a larger table (attainment, pacing, coverage of the plan) and are defined here directly.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

from metrics import agenda, changes, forecast, funnel, kpis, leaderboard, quality, tiering

FUNCTIONS: dict[str, Callable[..., object]] = {
    "win_rate": kpis.win_rate,
    "won_revenue": kpis.won_revenue,
    "avg_won_deal": kpis.avg_won_deal,
    "sales_cycle": kpis.sales_cycle,
    "deal_summary": kpis.deal_summary,
    "funnel_conversion": funnel.funnel,
    "time_in_stage": funnel.time_in_stage,
    "stalled": funnel.stalled,
    "bottleneck": funnel.bottleneck,
    "leaderboard": leaderboard.leaderboard,
    "abc_tier": tiering.abc_tiers,
    "tier_summary": tiering.tier_summary,
    "rfm": tiering.rfm,
    "tier_movement": tiering.tier_movement,
    "coverage": tiering.coverage,
    "neglected_accounts": tiering.neglected_accounts,
    "plan_vs_actual": forecast.plan_vs_actual,
    "historical_win_rate": forecast.historical_win_rate,
    "forecast_weighted": forecast.forecast_weighted,
    "forecast_historical": forecast.forecast_historical,
    "forecast_run_rate": forecast.forecast_run_rate,
    "lead_conversion": kpis.lead_conversion,
    "retention": kpis.retention,
    "cross_sell": kpis.cross_sell,
    "quality_issues": quality.quality_issues,
    "quality_score": quality.quality_score,
    "pipeline_change": changes.pipeline_change,
    "close_date_pushes": changes.close_date_pushes,
    "slipped_deals": changes.slipped_deals,
    "slipped_by_rep": changes.slipped_by_rep,
    "pipeline_at": changes.pipeline_at,
    "pipeline_trend": changes.pipeline_trend,
    "inferred_stage_history": changes.infer_stage_history,
    "deals_at_snapshot": changes.deals_at_snapshot,
    "forecast_accuracy": changes.forecast_accuracy,
    "forecast_mape": changes.forecast_mape,
    "best_method": changes.best_method,
    "meeting_agenda": agenda.meeting_agenda,
}

COLUMN_DEFINITIONS: dict[str, str] = {
    "attainment": (
        "Attainment is the share of the target achieved: actual divided by target, so 1.0 means "
        "the target was met exactly."
    ),
    "plan_gap": "The gap is what is still missing to reach the target: target minus actual.",
    "pacing": (
        "Pacing compares attainment with the share of the period that has passed: halfway through "
        "the month, 50% attainment is exactly on pace (pace = attainment / share of days elapsed)."
    ),
    "pipeline_coverage": (
        "Pipeline coverage is the open pipeline expected to close in the period divided by the "
        "target still remaining; a value of 3 means three times as much pipeline as target left."
    ),
    "pipeline_needed": (
        "Pipeline needed is how much open pipeline it takes to close the remaining target at the "
        "historical win rate: remaining target divided by win rate."
    ),
    # the bars of the pipeline waterfall between two snapshots (metrics.changes.pipeline_change)
    "change_start": (
        "Start is the open pipeline closing in the period as it stood at the first snapshot."
    ),
    "change_created": (
        "Created is the pipeline of deals that were not in the first snapshot and are open and closing "
        "in the period at the second, at their amount then."
    ),
    "change_pulled_in": (
        "Pulled in is the pipeline of deals that existed at the first snapshot outside the period (or "
        "closed) and are open and closing in the period at the second, at their amount then."
    ),
    "change_amount_up": (
        "Amount up is how much the deals in the period's pipeline at both snapshots grew in amount."
    ),
    "change_amount_down": (
        "Amount down is how much the deals in the period's pipeline at both snapshots shrank in amount."
    ),
    "change_pushed_out": (
        "Pushed out is the pipeline of deals still open at the second snapshot whose close date moved "
        "out of the period, at their amount at the first snapshot."
    ),
    "change_won": (
        "Won is the pipeline of the period at the first snapshot that was won by the second, at its "
        "amount at the first snapshot."
    ),
    "change_lost": (
        "Lost is the pipeline of the period at the first snapshot that was lost by the second, at its "
        "amount at the first snapshot."
    ),
    "change_removed": (
        "Removed is the pipeline of the period at the first snapshot whose deals no longer appear in "
        "the second snapshot (deleted in the CRM or no longer exported)."
    ),
    "change_end": (
        "End is the open pipeline closing in the period as it stood at the second snapshot: start "
        "plus created, pulled in and amount up, minus amount down, pushed out, won, lost and removed."
    ),
}


def first_paragraph(doc: str | None) -> str:
    """Return the first paragraph of a docstring as one line of text.

    Line breaks and indentation inside the paragraph become single spaces.
    """
    text = inspect.cleandoc(doc or "")
    return " ".join(text.split("\n\n", 1)[0].split())


def _definitions() -> dict[str, str]:
    found = {key: first_paragraph(fn.__doc__) for key, fn in FUNCTIONS.items()}
    return found | COLUMN_DEFINITIONS


DEFINITIONS: dict[str, str] = _definitions()

"""Data quality of the deals (the Data page): the 0–100 score with its parts, per-rep scores and
the list of issues to fix at the source.

Quality is about the data as loaded, so it covers every deal of the scope whatever its dates: the
period filter does not apply (the scope does, so a signed-in rep or manager sees only their own).
Each deal's last open snapshot is passed so late entry of wins and losses is checked.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from metrics import quality
from metrics._common import open_stages
from ui.filters import Filters
from ui.views import empty, scope_of

CHECKS: tuple[str, ...] = tuple(quality.CHECKS)


@dataclass(frozen=True)
class QualityView:
    """Score, parts, per-rep scores and issues (small frames only)."""

    empty: bool
    score: float | None
    deals: int
    parts: pl.DataFrame   # check, applicable, failing, part_score (checks that apply, in CHECKS order)
    reps: pl.DataFrame    # rep_id, rep, team, deals, score, <check>... (worst first)
    issues: pl.DataFrame  # deal_id, deal, owner, check, value, related_deal_id


def compute(store: Any, f: Filters) -> QualityView:
    """Quality of all deals of the scope at f.as_of (the period is ignored on purpose).

    The checks read only the deal columns they need, each deal's stage coverage (from the stored
    per-deal-and-stage facts) and its last open snapshot, aggregated in the store; they are
    computed once for the score, the parts, the per-rep scores and the issues."""
    cur = store.cursor()
    scope = scope_of(f)
    deals = store.quality_deals_in_scope(scope, cur)
    if deals.height == 0:
        return QualityView(True, None, 0, pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    stages = store.stages_frame(cur)
    coverage = store.stage_coverage_in_scope(scope, open_stages(stages), cur)
    last_open = store.last_open_snapshots_in_scope(scope, cur)
    checks = quality.quality_check_set(deals, empty("stage_history"), stages, as_of=f.as_of,
                                       coverage=coverage, last_open=last_open)
    del coverage, last_open
    args = (deals, empty("stage_history"), stages)
    kw = dict(as_of=f.as_of, checks=checks)
    parts = quality.quality_checks(*args, **kw)
    score = quality.quality_score(*args, **kw)["score"][0]
    parts = parts.select("check", "applicable", "failing", "part_score")
    order = {c: i for i, c in enumerate(CHECKS)}
    parts = parts.sort(pl.col("check").replace_strict(order, default=len(order), return_dtype=pl.Int64))
    names = store.reps_in_scope(scope, cur).select("rep_id", pl.col("name").alias("rep"), "team")
    per_rep = quality.quality_score(*args, **kw, by="owner_rep_id").rename({"owner_rep_id": "rep_id"})
    counts = deals.group_by(pl.col("owner_rep_id").alias("rep_id")).agg(pl.len().cast(pl.Int64).alias("deals"))
    per_rep = (per_rep.join(names, on="rep_id", how="left", nulls_equal=True)
               .join(counts, on="rep_id", how="left", nulls_equal=True)
               .with_columns(pl.coalesce("rep", "rep_id").alias("rep"))
               .select("rep_id", "rep", "team", "deals", "score", *[c for c in CHECKS if c in per_rep.columns])
               .sort("score", "rep", nulls_last=True))
    issues = quality.quality_issues(*args, **kw)
    issues = (issues.join(deals.select("deal_id", pl.col("name").alias("deal")), on="deal_id", how="left")
              .join(names.select("rep_id", "rep"), left_on="owner_rep_id", right_on="rep_id", how="left")
              .select("deal_id", "deal", pl.coalesce("rep", "owner_rep_id").alias("owner"), "check", "value",
                      "related_deal_id"))
    return QualityView(False, None if score is None else float(score), deals.height, parts, per_rep, issues)


def without_period(f: Filters) -> Filters:
    """The filters with the period dropped: quality does not depend on it, so one cache entry
    serves every period."""
    return replace(f, preset="all_time", period_from=None, period_to=None)

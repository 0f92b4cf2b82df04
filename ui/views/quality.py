"""Data quality of the deals (the Data page): the 0–100 score with its parts, per-rep scores and
the list of issues to fix at the source.

Quality is about the data as loaded, so it covers every deal of the scope whatever its dates: the
period filter does not apply (the scope does, so a signed-in rep or manager sees only their own).
Each deal's last open snapshot is read so late entry of wins and losses is checked.
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

    The checks are counted in the store (how many deals of each import and owner each check applies
    to, and the failing deals of each but the duplicate check, from each deal's stage coverage and
    last open snapshot); the duplicate check runs on the deals that share their account and amount
    with another (`metrics.quality.tallied_check_set`). They are computed once for the score, the
    parts, the per-rep scores and the issues; no frame holds every deal."""
    cur = store.cursor()
    scope = scope_of(f)
    stages = store.stages_frame(cur)
    tallies, failing = store.quality_tallies_in_scope(scope, open_stages(stages), f.as_of, cur=cur)
    if tallies.height == 0:     # every deal counts for the missing-amount check: no tallies, no deals
        return QualityView(True, None, 0, pl.DataFrame(), pl.DataFrame(), pl.DataFrame())
    candidates = store.duplicate_candidates_in_scope(scope, cur)
    checks = quality.tallied_check_set(tallies, failing, candidates)
    args = (empty("deals"), empty("stage_history"), stages)
    kw = dict(as_of=f.as_of, checks=checks)
    parts = quality.quality_checks(*args, **kw)
    score = quality.quality_score(*args, **kw)["score"][0]
    # the missing-amount check applies to every deal: its applicable deals are the deals, per rep and in all
    counts = (quality.quality_checks(*args, **kw, by="owner_rep_id").filter(pl.col("check") == "missing_amount")
              .select(pl.col("owner_rep_id").alias("rep_id"), pl.col("applicable").alias("deals")))
    deals = int(parts.filter(pl.col("check") == "missing_amount")["applicable"].item())
    parts = parts.select("check", "applicable", "failing", "part_score")
    order = {c: i for i, c in enumerate(CHECKS)}
    parts = parts.sort(pl.col("check").replace_strict(order, default=len(order), return_dtype=pl.Int64))
    names = store.reps_in_scope(scope, cur).select("rep_id", pl.col("name").alias("rep"), "team")
    per_rep = quality.quality_score(*args, **kw, by="owner_rep_id").rename({"owner_rep_id": "rep_id"})
    per_rep = (per_rep.join(names, on="rep_id", how="left", nulls_equal=True)
               .join(counts, on="rep_id", how="left", nulls_equal=True)
               .with_columns(pl.coalesce("rep", "rep_id").alias("rep"))
               .select("rep_id", "rep", "team", "deals", "score", *[c for c in CHECKS if c in per_rep.columns])
               .sort("score", "rep", nulls_last=True))
    issues = quality.quality_issues(*args, **kw)
    deal_names = pl.concat([failing.select("deal_id", "name"), candidates.select("deal_id", "name")]).unique(
        "deal_id", keep="first")
    issues = (issues.join(deal_names.select("deal_id", pl.col("name").alias("deal")), on="deal_id", how="left",
                          maintain_order="left")
              .join(names.select("rep_id", "rep"), left_on="owner_rep_id", right_on="rep_id", how="left",
                    maintain_order="left")
              .select("deal_id", "deal", pl.coalesce("rep", "owner_rep_id").alias("owner"), "check", "value",
                      "related_deal_id"))
    return QualityView(False, None if score is None else float(score), deals, parts, per_rep, issues)


def without_period(f: Filters) -> Filters:
    """The filters with the period dropped: quality does not depend on it, so one cache entry
    serves every period."""
    return replace(f, preset="all_time", period_from=None, period_to=None)

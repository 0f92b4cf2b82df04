"""Data quality of the deals: individual issues, check rates and a 0–100 score with its parts.

Checks (key: what fails / which deals it applies to):
- overdue_close: open deal whose expected close date is before `as_of` / open deals.
- missing_amount: amount missing or zero / all deals.
- skipped_stages: the deal's stage history jumps over open stages (it entered a later stage
  without having entered every earlier one, including deals entering the pipeline past the first
  stage; a won deal also needs every open stage) / deals with stage history.
- duplicate: same name (ignoring case and spacing), account and amount as an earlier deal
  (earlier by creation date, then id) / deals with a name.
- missing_owner: no owner / all deals.
- entry_lag: closed deal still shown open in a snapshot taken more than `late_after_days`
  (default 7) days after its close day, i.e. the close was entered late / closed deals that
  appear in the snapshots. Needs deal snapshots; without them the check is left out.
Each part scores 100 × (1 − failing / applicable); the score is the weighted mean of the parts
that apply (equal weights by default). A group with no deals has no score (null).
"Per import" groups by the deals' `batch_id` (the import that last wrote each deal); "per rep"
by `owner_rep_id`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import polars as pl

from metrics._common import ALL, LOST, OPEN, WON, open_stages, prepare_deals, ratio, same_as_previous
from metrics.schema import conform

CHECKS: dict[str, str] = {
    "overdue_close": "Open deals whose expected close date has passed.",
    "missing_amount": "Deals with no amount or an amount of zero.",
    "skipped_stages": "Deals whose stage history skips pipeline stages.",
    "duplicate": "Deals that repeat another deal's name, account and amount.",
    "missing_owner": "Deals without an owner.",
    "entry_lag": "Deals whose win or loss was entered late (still open in a later snapshot).",
}

By = Literal["batch_id", "owner_rep_id"] | None


def _issue(df: pl.DataFrame, check: str, value: pl.Expr, related: pl.Expr | None = None) -> pl.DataFrame:
    return df.select(
        "deal_id", "batch_id", "owner_rep_id", pl.lit(check).alias("check"),
        value.cast(pl.Float64).alias("value"),
        (related if related is not None else pl.lit(None, dtype=pl.String())).alias("related_deal_id"),
    )


def stage_coverage(stage_history: pl.DataFrame, stages: pl.DataFrame) -> pl.DataFrame:
    """The stage coverage of a deal is what its stage history shows of the open stages: the
    furthest one it entered (`max_open_index`, 0-based in pipeline order; null when it entered
    none) and how many distinct open stages it entered (`open_stages_seen`).

    Only which stages a deal entered matters, not when or how often, so one row per deal and stage
    gives the same coverage as the full history.

    Columns: deal_id, max_open_index, open_stages_seen. One row per deal with any stage history.
    """
    idx = open_stages(stages)
    hist = conform(stage_history, "stage_history").select("deal_id", "stage")
    seen = hist.join(idx.select("stage", "stage_index"), on="stage", how="inner").group_by("deal_id").agg(
        pl.col("stage_index").max().cast(pl.Int64).alias("max_open_index"),
        pl.col("stage_index").n_unique().cast(pl.Int64).alias("open_stages_seen"),
    )
    return hist.select("deal_id").unique().join(seen, on="deal_id", how="left").with_columns(
        pl.col("open_stages_seen").fill_null(0)
    )


def _skipped(
    deals: pl.DataFrame, coverage: pl.DataFrame, stages: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (deals with history, with skipped count) and the failing subset."""
    n = open_stages(stages).height
    cov = coverage.select("deal_id", pl.col("max_open_index").alias("_max"),
                          pl.col("open_stages_seen").alias("_distinct"))
    with_hist = deals.join(cov, on="deal_id", how="semi").join(cov, on="deal_id", how="left")
    top = pl.when(pl.col("status") == WON).then(pl.lit(n - 1, dtype=pl.Int64)).otherwise(pl.col("_max"))
    skipped = (top + 1 - pl.col("_distinct").fill_null(0)).fill_null(0).clip(lower_bound=0)
    with_hist = with_hist.with_columns(skipped.alias("_skipped"))
    return with_hist, with_hist.filter(pl.col("_skipped") > 0)


def last_open_snapshots(snapshots: pl.DataFrame) -> pl.DataFrame:
    """The last open snapshot of a deal is the latest snapshot date that still shows it open (null
    when no snapshot does); the entry-lag check needs nothing else of the snapshots.

    Columns: deal_id, last_open. One row per deal that appears in the snapshots.
    """
    snaps = conform(snapshots, "deal_snapshots")
    return snaps.group_by("deal_id").agg(
        pl.col("snapshot_date").filter(pl.col("status") == OPEN).max().alias("last_open")
    )


def _entry_lag(
    deals: pl.DataFrame, last_open: pl.DataFrame, late_after_days: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    closed = deals.filter(pl.col("status").is_in([WON, LOST]) & pl.col("_close_day").is_not_null())
    seen = closed.join(last_open.select("deal_id"), on="deal_id", how="semi")
    # the latest open snapshot is late exactly when some open snapshot is, and gives the lag
    lag = (pl.col("last_open") - pl.col("_close_day")).dt.total_days()
    late = (seen.join(last_open.select("deal_id", "last_open"), on="deal_id", how="left")
            .filter(lag > late_after_days).with_columns(lag.alias("_lag")).drop("last_open"))
    return seen, late


def _name_key() -> pl.Expr:
    """A deal's name as the duplicate check compares it: lower case, trimmed, spacing collapsed."""
    return pl.col("name").str.to_lowercase().str.strip_chars().str.replace_all(r"\s+", " ")


def _duplicates(deals: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    named = deals.with_columns(_name_key().alias("_norm"))
    named = named.filter(pl.col("_norm").is_not_null() & (pl.col("_norm") != ""))
    key = ["_norm", "account_id", "amount"]
    # only a deal that shares its key with another can repeat one, so only those are sorted: the same
    # runs as sorting all (the grouping, like `same_as_previous`, takes 0.0 as -0.0, NaN as NaN, null as null)
    shared = named.filter(pl.len().over(key) > 1)
    ordered = shared.sort([*key, "created_on", "deal_id"], nulls_last=True).with_columns(
        pl.when(~same_as_previous(key)).then(pl.col("deal_id")).forward_fill().alias("_first"),
        same_as_previous(key).alias("_repeat"),
    )
    return named, ordered.filter(pl.col("_repeat"))


def duplicate_candidates(deals: pl.DataFrame) -> pl.DataFrame:
    """The duplicate candidates are the deals with a name that share their account and amount with
    another deal: a repeat shares its account and amount with the deal it repeats, so the duplicate
    check over the candidates alone finds every repeat, with the same earlier deal (every deal
    sharing a repeat's name, account and amount is a candidate).

    Accounts and amounts compare as the duplicate check compares them (0.0 as -0.0, NaN as NaN,
    null as null). Columns: the deals' (conformed), in their order.
    """
    d = conform(deals, "deals")
    key = _name_key()
    return d.filter((pl.len().over(["account_id", "amount"]) > 1) & key.is_not_null() & (key != ""))


def quality_issues(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    snapshots: pl.DataFrame | None = None,
    late_after_days: int = 7,
    coverage: pl.DataFrame | None = None,
    last_open: pl.DataFrame | None = None,
    checks: QualityChecks | None = None,
) -> pl.DataFrame:
    """Data-quality issues lists every deal that fails a data check, one row per deal and failed
    check, so it can be fixed at the source.

    The checks are overdue close dates, missing or zero amounts, skipped stages, duplicates,
    missing owners and late entry of wins and losses.

    `value` holds: days overdue (overdue_close), the amount (missing_amount, 0 or null), the
    number of stages skipped (skipped_stages), null (duplicate; `related_deal_id` is the earlier
    deal), null (missing_owner), days between close and the latest snapshot still showing the
    deal open (entry_lag).

    Variant: the aggregates `coverage` (`stage_coverage` of the stage history) and `last_open`
    (`last_open_snapshots` of the snapshots) may stand in for `stage_history` and `snapshots` (same
    result); `checks` (`quality_check_set` of the same inputs) stands in for all of them.

    Columns: deal_id, batch_id, owner_rep_id, check, value, related_deal_id.
    """
    if checks is None:
        checks = quality_check_set(deals, stage_history, stages, as_of=as_of, snapshots=snapshots,
                                   late_after_days=late_after_days, coverage=coverage, last_open=last_open)
    frames = [
        _issue(failing, name, value, related) for name, (_, failing, value, related) in checks.frames.items()
    ]
    return pl.concat(frames, how="vertical")


@dataclass(frozen=True)
class QualityChecks:
    """Every check's applicable and failing deals, computed once (see `quality_check_set`): of each
    deal its id and groups (deal_id, batch_id, owner_rep_id), and of a failing one what its value reads.
    The applicable deals may come counted per group instead (batch_id, owner_rep_id, `_deals`: how
    many; see `tallied_check_set`)."""

    frames: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.Expr, pl.Expr | None]]


def quality_check_set(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    snapshots: pl.DataFrame | None = None,
    late_after_days: int = 7,
    coverage: pl.DataFrame | None = None,
    last_open: pl.DataFrame | None = None,
) -> QualityChecks:
    """The data-quality check set holds, for each check, the deals it applies to and the deals that
    fail it, so the score, the per-group scores and the issues can share one computation (pass it
    as `checks=`).

    Variant: `coverage` (`stage_coverage`) and `last_open` (`last_open_snapshots`) stand in for
    `stage_history` and `snapshots` (same result). The entry-lag check is left out without
    snapshot rows.
    """
    if coverage is None:
        coverage = stage_coverage(stage_history, stages)
    if last_open is None and snapshots is not None:
        last_open = last_open_snapshots(snapshots)
    return QualityChecks(_check_frames(deals, coverage, stages, as_of, last_open, late_after_days))


# the deal columns every check's frames keep: the issue's deal and the groups counted (`_issue`, `_count`)
_KEYS = ("deal_id", "batch_id", "owner_rep_id")


def _check_frames(
    deals: pl.DataFrame,
    coverage: pl.DataFrame,
    stages: pl.DataFrame,
    as_of: date,
    last_open: pl.DataFrame | None,
    late_after_days: int,
) -> dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.Expr, pl.Expr | None]]:
    """check -> (applicable deals, failing deals, value expression, related-deal expression).

    Each check's frames carry only the deal columns it reads besides `_KEYS` (what the issues and
    the per-group counts read), so a million deals are not copied whole once per check."""
    d = prepare_deals(deals)
    owner = pl.col("owner_rep_id")
    opened = d.select(*_KEYS, "status", "close_date").filter(pl.col("status") == OPEN)
    with_hist, skipped = _skipped(d.select(*_KEYS, "status"), coverage, stages)
    named, dups = _duplicates(d.select(*_KEYS, "name", "account_id", "amount", "created_on"))
    out: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.Expr, pl.Expr | None]] = {
        "overdue_close": (
            opened,
            opened.filter(pl.col("close_date") < as_of),
            (pl.lit(as_of) - pl.col("close_date")).dt.total_days(),
            None,
        ),
        "missing_amount": (
            d.select(*_KEYS), d.select(*_KEYS, "amount").filter(pl.col("amount").is_null() | (pl.col("amount") == 0)),
            pl.col("amount"), None,
        ),
        "skipped_stages": (with_hist.select(*_KEYS), skipped, pl.col("_skipped"), None),
        "duplicate": (named.select(*_KEYS), dups, pl.lit(None), pl.col("_first")),
        "missing_owner": (
            d.select(*_KEYS), d.select(*_KEYS).filter(owner.is_null() | (owner.str.strip_chars() == "")), pl.lit(None),
            None,
        ),
    }
    if last_open is not None and last_open.height:
        seen, late = _entry_lag(d.select(*_KEYS, "status", "_close_day"), last_open, late_after_days)
        out["entry_lag"] = (seen.select(*_KEYS), late, pl.col("_lag"), None)
    return out


def quality_checks(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    by: By = None,
    snapshots: pl.DataFrame | None = None,
    late_after_days: int = 7,
    coverage: pl.DataFrame | None = None,
    last_open: pl.DataFrame | None = None,
    checks: QualityChecks | None = None,
) -> pl.DataFrame:
    """Data-quality checks count, for each check, how many deals it applies to and how many fail,
    and turn that into a part score from 0 to 100.

    A part scores 100 when no applicable deal fails it and 0 when all do.

    Variant: `by=None` (default: all deals), `"batch_id"` (per import) or `"owner_rep_id"` (per
    rep). Checks that apply to no deal of a group are left out for that group. `coverage`,
    `last_open` and `checks` as in `quality_issues`.

    Columns: [by], check, applicable, failing, rate (failing / applicable), part_score.
    """
    keys = [by] if by else [ALL]
    if checks is None:
        checks = quality_check_set(deals, stage_history, stages, as_of=as_of, snapshots=snapshots,
                                   late_after_days=late_after_days, coverage=coverage, last_open=last_open)
    frames = []
    for name, (applicable, failing, _, _) in checks.frames.items():
        app = _count(applicable, keys, "applicable")
        bad = _count(failing, keys, "failing")
        frames.append(
            app.join(bad, on=keys, how="left", nulls_equal=True).with_columns(
                pl.lit(name).alias("check"), pl.col("failing").fill_null(0)
            )
        )
    out = pl.concat(frames, how="vertical").with_columns(ratio(pl.col("failing"), pl.col("applicable")).alias("rate")).with_columns(
        (100.0 * (1.0 - pl.col("rate"))).alias("part_score")
    )
    out = out.select(*keys, "check", "applicable", "failing", "rate", "part_score")
    return out.sort(keys, nulls_last=True, maintain_order=True) if by else out.drop(ALL)


def _count(df: pl.DataFrame, keys: list[str], name: str) -> pl.DataFrame:
    if ALL in keys:
        df = df.with_columns(pl.lit(0, dtype=pl.Int8).alias(ALL))
    n = pl.col(_COUNTED).sum() if _COUNTED in df.columns else pl.len()
    return df.group_by(keys).agg(n.cast(pl.Int64).alias(name))


# the column of applicable deals counted per group (`QualityChecks`, `tallied_check_set`)
_COUNTED = "_deals"


def check_tallies(checks: QualityChecks) -> pl.DataFrame:
    """The check tallies count, for each data-quality check, the deals it applies to per import and
    owner: what the check counts (`quality_checks`) and scores (`quality_score`) read of the
    applicable deals, by any of their groups.

    Groups a check applies to no deal of are left out. Columns: check, batch_id, owner_rep_id,
    applicable; checks in `quality_check_set` order.
    """
    frames = [
        _count(applicable, ["batch_id", "owner_rep_id"], "applicable").select(
            pl.lit(name).alias("check"), "batch_id", "owner_rep_id", "applicable")
        for name, (applicable, _, _, _) in checks.frames.items()
    ]
    return pl.concat(frames, how="vertical")


def tallied_check_set(tallies: pl.DataFrame, failing: pl.DataFrame, candidates: pl.DataFrame) -> QualityChecks:
    """The tallied data-quality check set is `quality_check_set` built from what can be counted
    without every deal at hand; pass it as `checks=` (same issues, counts and scores).

    `tallies`: `check_tallies` of the check set (check, batch_id, owner_rep_id, applicable);
    `failing`: the `quality_issues` rows of every check but the duplicate one (check, deal_id,
    batch_id, owner_rep_id, value), each check's in its order; `candidates`: `duplicate_candidates`
    of the deals (deal_id, batch_id, owner_rep_id, name, account_id, amount, created_on), which the
    duplicate check runs on. Checks without tallies (entry_lag without snapshots) apply to no deal,
    as when left out.
    """
    frames: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.Expr, pl.Expr | None]] = {}
    for name in CHECKS:
        counted = tallies.filter(pl.col("check") == name).select(
            "batch_id", "owner_rep_id", pl.col("applicable").alias(_COUNTED))
        if name == "duplicate":
            _, dups = _duplicates(candidates.select(*_KEYS, "name", "account_id", "amount", "created_on"))
            frames[name] = (counted, dups, pl.lit(None), pl.col("_first"))
        else:
            bad = failing.filter(pl.col("check") == name).select(*_KEYS, pl.col("value").alias("_value"))
            frames[name] = (counted, bad, pl.col("_value"), None)
    return QualityChecks(frames)


def quality_score(
    deals: pl.DataFrame,
    stage_history: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    as_of: date,
    by: By = None,
    snapshots: pl.DataFrame | None = None,
    weights: Mapping[str, float] | None = None,
    late_after_days: int = 7,
    coverage: pl.DataFrame | None = None,
    last_open: pl.DataFrame | None = None,
    checks: QualityChecks | None = None,
) -> pl.DataFrame:
    """The data-quality score rates the deal data from 0 to 100: the average of the part scores of
    the checks (overdue close dates, missing amounts, skipped stages, duplicates, missing owners,
    late entry).

    100 means no deal fails any check.

    Variant: `weights` maps check keys to weights (default: equal); `by`, `coverage`, `last_open`
    and `checks` as in `quality_checks`.

    Columns: [by], score, then one part-score column per check key (null when the check does not
    apply). One row; per group when `by` is given.
    """
    parts = quality_checks(
        deals, stage_history, stages, as_of=as_of, by=by, snapshots=snapshots, late_after_days=late_after_days,
        coverage=coverage, last_open=last_open, checks=checks,
    )
    keys = [by] if by else [ALL]
    parts = parts.with_columns(pl.lit(0, dtype=pl.Int8).alias(ALL)) if not by else parts
    w = {name: float((weights or {}).get(name, 1.0)) for name in CHECKS}
    weight = pl.col("check").replace_strict(w, default=0.0, return_dtype=pl.Float64)
    scored = parts.with_columns(weight.alias("_w")).group_by(keys).agg(
        ratio((pl.col("part_score") * pl.col("_w")).sum(), pl.col("_w").sum()).alias("score"),
        *[pl.col("part_score").filter(pl.col("check") == name).first().alias(name) for name in CHECKS],
    )
    if not by and scored.height == 0:
        scored = pl.DataFrame(
            {ALL: [0], "score": [None], **{name: [None] for name in CHECKS}},
            schema={ALL: pl.Int8(), "score": pl.Float64(), **{name: pl.Float64() for name in CHECKS}},
        )
    out = scored.select(*keys, "score", *CHECKS)
    return out.drop(ALL) if not by else out.sort(keys, nulls_last=True)


__all__ = ["CHECKS", "QualityChecks", "check_tallies", "duplicate_candidates", "last_open_snapshots", "quality_check_set",
           "quality_issues", "quality_checks", "quality_score", "stage_coverage", "tallied_check_set"]

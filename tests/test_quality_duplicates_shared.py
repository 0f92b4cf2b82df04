"""The duplicate check sorts only the deals that share their name, account and amount with another
(`metrics.quality._duplicates`): the same repeats, in the same order and with the same earlier deal,
as sorting every named deal (the definition, kept here as the reference), including names that differ
only in case and spacing, missing accounts and amounts, 0.0 against -0.0 and NaN amounts. And the
data-quality checks keep only the columns they read: the issues, counts and scores equal those of the
checks computed over whole frames (the reference frames below)."""
from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import quality
from metrics._common import prepare_deals, same_as_previous

NAMES = ["Acme deal", "acme  Deal", " ACME DEAL ", "acme\u3000deal", "Beta", "beta", "", "  ", None]
ACCOUNTS = ["A1", "A2", None]
AMOUNTS = [0.0, -0.0, float("nan"), None, 1.5, 2.0]
DAYS = [date(2026, 1, 1), date(2026, 2, 1), None]


def duplicates_by_sorting_all(deals: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The duplicate check as defined before: every named deal sorted by its key."""
    norm = pl.col("name").str.to_lowercase().str.strip_chars().str.replace_all(r"\s+", " ")
    named = deals.with_columns(norm.alias("_norm"))
    named = named.filter(pl.col("_norm").is_not_null() & (pl.col("_norm") != ""))
    key = ["_norm", "account_id", "amount"]
    ordered = named.sort([*key, "created_on", "deal_id"], nulls_last=True).with_columns(
        pl.when(~same_as_previous(key)).then(pl.col("deal_id")).forward_fill().alias("_first"),
        same_as_previous(key).alias("_repeat"),
    )
    return named, ordered.filter(pl.col("_repeat"))


def _deals(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f"D{i:03d}", f"R{i % 3}", i % 2, *row) for i, row in enumerate(rows)],
        schema={"deal_id": pl.String, "owner_rep_id": pl.String, "batch_id": pl.Int64, "name": pl.String,
                "account_id": pl.String, "amount": pl.Float64, "created_on": pl.Date},
        orient="row",
    )


rows_strategy = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(ACCOUNTS), st.sampled_from(AMOUNTS),
                                   st.sampled_from(DAYS)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(rows=rows_strategy)
def test_sorting_only_shared_keys_finds_the_same_repeats(rows):
    deals = _deals(rows).sample(fraction=1.0, shuffle=True, seed=len(rows))
    named, dups = quality._duplicates(deals)
    ref_named, ref_dups = duplicates_by_sorting_all(deals)
    assert_frame_equal(named, ref_named)
    assert_frame_equal(dups, ref_dups)


def test_zero_and_minus_zero_and_nan_amounts_repeat():
    deals = _deals([("X", "A1", 0.0, None), ("x", "A1", -0.0, None), ("X", "A1", float("nan"), None),
                    ("X ", "A1", float("nan"), None), ("X", None, None, None), ("X", None, None, None)])
    _, dups = quality._duplicates(deals)
    assert dups["deal_id"].to_list() == ["D001", "D003", "D005"]
    assert dups["_first"].to_list() == ["D000", "D002", "D004"]


def _checks_whole(deals, coverage, stages, as_of, last_open):
    """The reference: every check's frames from the whole prepared deals (as before they were narrowed)."""
    d = prepare_deals(deals)
    owner = pl.col("owner_rep_id")
    opened = d.filter(pl.col("status") == "open")
    with_hist, skipped = quality._skipped(d, coverage, stages)
    named, dups = duplicates_by_sorting_all(d)
    out = {
        "overdue_close": (opened, opened.filter(pl.col("close_date") < as_of),
                          (pl.lit(as_of) - pl.col("close_date")).dt.total_days(), None),
        "missing_amount": (d, d.filter(pl.col("amount").is_null() | (pl.col("amount") == 0)), pl.col("amount"), None),
        "skipped_stages": (with_hist, skipped, pl.col("_skipped"), None),
        "duplicate": (named, dups, pl.lit(None), pl.col("_first")),
        "missing_owner": (d, d.filter(owner.is_null() | (owner.str.strip_chars() == "")), pl.lit(None), None),
    }
    if last_open is not None and last_open.height:
        seen, late = quality._entry_lag(d, last_open, 7)
        out["entry_lag"] = (seen, late, pl.col("_lag"), None)
    return quality.QualityChecks(out)


STATUSES = ["open", "won", "lost"]


@settings(max_examples=150, deadline=None)
@given(rows=rows_strategy, statuses=st.lists(st.sampled_from(STATUSES), min_size=40, max_size=40),
       owners=st.lists(st.sampled_from(["R1", "R2", " ", None]), min_size=40, max_size=40),
       seen=st.lists(st.sampled_from([None, 0, 1, 2, 3]), min_size=40, max_size=40),
       last=st.lists(st.sampled_from([None, date(2026, 1, 5), date(2026, 3, 1)]), min_size=40, max_size=40))
def test_narrowed_check_frames_give_the_same_issues_counts_and_scores(rows, statuses, owners, seen, last):
    deals = _deals(rows).with_columns(
        pl.Series("status", statuses[:len(rows)], dtype=pl.String),
        pl.Series("owner_rep_id", owners[:len(rows)], dtype=pl.String),
        pl.Series("close_date", [DAYS[i % 3] for i in range(len(rows))], dtype=pl.Date),
        pl.Series("closed_on", [DAYS[(i + 1) % 3] for i in range(len(rows))], dtype=pl.Date),
    )
    stages = pl.DataFrame({"name": ["s0", "s1", "s2", "won", "lost"], "position": [1, 2, 3, 4, 5],
                           "probability": [0.1, 0.3, 0.6, 1.0, 0.0], "is_won": [False, False, False, True, False],
                           "is_lost": [False, False, False, False, True], "source": ["x"] * 5})
    ids = deals["deal_id"].to_list()
    covered = [(i, min(s, 2) if s else None, s) for i, s in zip(ids, seen) if s is not None]
    coverage = pl.DataFrame(covered, schema={"deal_id": pl.String, "max_open_index": pl.Int64,
                                             "open_stages_seen": pl.Int64}, orient="row")
    last_open = pl.DataFrame({"deal_id": ids, "last_open": last[:len(ids)]},
                             schema={"deal_id": pl.String, "last_open": pl.Date})
    as_of = date(2026, 1, 20)
    empty_hist = pl.DataFrame()
    new = quality.quality_check_set(deals, empty_hist, stages, as_of=as_of, coverage=coverage, last_open=last_open)
    old = _checks_whole(deals, coverage, stages, as_of, last_open)
    kw = dict(as_of=as_of)
    assert_frame_equal(quality.quality_issues(deals, empty_hist, stages, checks=new, **kw),
                       quality.quality_issues(deals, empty_hist, stages, checks=old, **kw))
    for by in (None, "owner_rep_id", "batch_id"):
        assert_frame_equal(quality.quality_checks(deals, empty_hist, stages, by=by, checks=new, **kw),
                           quality.quality_checks(deals, empty_hist, stages, by=by, checks=old, **kw))
        assert_frame_equal(quality.quality_score(deals, empty_hist, stages, by=by, checks=new, **kw),
                           quality.quality_score(deals, empty_hist, stages, by=by, checks=old, **kw))

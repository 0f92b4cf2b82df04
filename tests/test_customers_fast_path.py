"""The Customers view reads no deal row: DuckDB sums the deals per account for the three windows
(`Store.account_sums_in_scope`) and per owner and tier (`Store.tier_deal_sums_in_scope`). Both equal
their polars definitions (`metrics.tiering.account_sums`, `tier_deal_sums`) over the whole scoped
deals, and the whole view equals the view computed the plain way (every scoped deal, account and
activity handed to the metrics, as the view was written before), on the demo company over the
shared scopes, periods and as-of dates, and on generated stores (hypothesis: null and zero amounts,
several currencies, deals without account or owner, accounts seen only on deals, undated deals,
ties in revenue and in creation day, products and segments in scope)."""
from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from data.store import Store
from metrics import tiering
from ui.filters import Filters
from ui.views import customers as cv
from ui.views import scope_of
from tests import store_builder
from tests.store_builder import DEMO_AS_OF, DEMO_PERIODS, demo_scopes

PERIODS = DEMO_PERIODS
WINDOWS = [[(None, None)], [(date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 7, 1), date(2026, 9, 30)),
                            (date(2026, 7, 1), date(2026, 8, 22))],
           [(date(2025, 2, 14), None), (None, date(2026, 3, 15)), (date(2026, 5, 1), date(2026, 4, 1))]]


def _plain(store: Store, f: Filters) -> cv.CustomersView:
    """The view computed from the whole scoped deals, accounts and activities by the row-level
    metrics (the view's code before the sums, with the activities counted in polars)."""
    scope = scope_of(f)
    deals, accounts = store.deals_in_scope(scope), store.accounts_in_scope(scope)
    reps, acts = store.reps_in_scope(scope), store.activities_in_scope(scope)
    if deals.height == 0:
        return cv._empty(f)
    names = reps.select("rep_id", pl.col("name").alias("rep"), "team")
    owners = accounts.select("account_id", "owner_rep_id").unique("account_id", keep="first")
    tiers = tiering.abc_tiers(deals, accounts, window_from=f.period_from, window_to=f.period_to)
    scores = tiering.rfm(deals, as_of=cv.window_end(f), window_from=f.period_from, window_to=f.period_to)
    summary = tiering.tier_summary(tiers)
    summary = summary.with_columns((pl.col("accounts") / pl.col("accounts").sum()).alias("account_share"))
    to_date = transitions = None
    movement = {"up": 0, "down": 0, "same": 0}
    if f.bounded:
        p = f.previous()
        prev_tiers = tiering.abc_tiers(deals, accounts, window_from=p.period_from, window_to=p.period_to)
        window = cv.same_point(f)
        if window is not None:
            to_date = tiering.abc_tiers(deals, accounts, window_from=window[0], window_to=window[1])
        moved = tiering.tier_movement(prev_tiers, tiers)
        transitions = tiering.tier_transitions(moved)
        counts = dict(moved.group_by("movement").len().iter_rows())
        movement = {k: int(counts.get(k, 0)) for k in movement}
    with_owner = tiers.join(owners, on="account_id", how="left")
    span = {"as_of": f.as_of, "period_from": f.period_from, "period_to": f.period_to}
    cov = tiering.coverage(tiers, deals, acts, per_rep=False, **span)
    cov_reps = tiering.coverage(tiers, deals, acts, **span)
    a_accounts = tiering.neglected_accounts(with_owner, deals, acts, as_of=f.as_of, days=0)
    return cv.CustomersView(
        empty=False, bounded=f.bounded, currency=cv.single_currency(deals),
        headline=cv._headline(tiers, scores, to_date), summary=summary, pareto=cv._pareto(tiers),
        segments=cv._segments(scores), accounts=cv._accounts(with_owner, scores, names),
        transitions=transitions if transitions is not None else cv._no_transitions(), movement=movement,
        coverage=cov.select("tier", "revenue_share", "pipeline_share", "activity_share", "effort_gap"),
        coverage_reps=cv._coverage_reps(cov_reps, names), a_accounts=cv._named_owner(a_accounts, names),
    )


FRAMES = ("summary", "pareto", "segments", "accounts", "transitions", "coverage", "coverage_reps", "a_accounts")


def _views_match(got: cv.CustomersView, want: cv.CustomersView) -> None:
    assert (got.empty, got.bounded, got.currency, got.movement) == (want.empty, want.bounded, want.currency,
                                                                   want.movement)
    assert got.headline.keys() == want.headline.keys()
    for key, value in want.headline.items():
        assert got.headline[key] == pytest.approx(value, rel=1e-12), key
    for name in FRAMES:
        try:
            assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=False, rel_tol=1e-12)
        except AssertionError as e:
            raise AssertionError(f"{name}: {e}") from e


def _sums_match(store: Store, scope: dict, windows: list, as_of: date) -> None:
    deals, accounts = store.deals_in_scope(scope), store.accounts_in_scope(scope)
    got = store.account_sums_in_scope(scope, windows, as_of)
    assert_frame_equal(got, tiering.account_sums(deals, accounts, windows=windows, as_of=as_of),
                       check_exact=False, rel_tol=1e-12)
    tiers = tiering.abc_tiers(None, None, sums=got)
    for lo, hi in windows:
        want = tiering.tier_deal_sums(tiers, deals, as_of=as_of, period_from=lo, period_to=hi)
        assert_frame_equal(store.tier_deal_sums_in_scope(scope, tiers, lo, hi, as_of), want,
                           check_exact=False, rel_tol=1e-12)


def test_account_and_tier_sums_of_the_store_equal_the_definitions_on_the_demo(demo):
    for scope in demo_scopes(demo) + [{"teams": ["no such team"]}]:
        for windows in WINDOWS:
            _sums_match(demo, scope, windows, DEMO_AS_OF)
    _sums_match(demo, {}, WINDOWS[1], date(2026, 5, 17))


@pytest.mark.parametrize("as_of", [DEMO_AS_OF, date(2026, 6, 30)])
def test_customers_view_equals_the_plain_computation_on_the_demo(demo, as_of):
    compared = 0
    for scope in demo_scopes(demo):
        for preset, start, end in PERIODS:
            f = Filters(preset, start, end, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})
            view, want = cv.compute(demo, f), _plain(demo, f)
            _views_match(view, want)
            compared += not view.empty and view.a_accounts.height > 0 and view.headline["customers"] > 0
    assert compared >= 25


def test_the_sums_need_their_window():
    sums = tiering.account_sums(pl.DataFrame(schema={"account_id": pl.String}), pl.DataFrame(
        schema={"account_id": pl.String}), windows=[(None, None)], as_of=DEMO_AS_OF)
    with pytest.raises(ValueError, match="no window 1"):
        tiering.abc_tiers(None, None, sums=sums, window=1)


# ------------------------------------------------------------------------------------ generated stores
DAYS = [date(2024, 1, 1) + timedelta(days=d) for d in (0, 20, 45, 80, 95, 120, 170)]
deal = st.fixed_dictionaries({
    "status": st.sampled_from(["open", "won", "lost"]),
    "amount": st.one_of(st.none(), st.sampled_from([0.0, 0.5, 250.0, 1000.0, -40.0])),
    "currency": st.sampled_from(["EUR", "EUR", "USD", None]),
    "account": st.sampled_from(["A1", "A2", "A3", "A9", None]),     # A9: not in the accounts table
    "owner": st.sampled_from(["R1", "R2", "R3", "R9", None]),        # R9: not in the reps table
    "product": st.sampled_from(["Core", "Plus", None]),
    "created_on": st.one_of(st.none(), st.sampled_from(DAYS[:4])),
    "closed_on": st.one_of(st.none(), st.sampled_from(DAYS)),
    "close_date": st.one_of(st.none(), st.sampled_from(DAYS)),
})
activity = st.fixed_dictionaries({
    "rep": st.sampled_from(["R1", "R2", "R3"]),
    "account": st.sampled_from(["A1", "A2", "A3", "A9", None]),
    "deal": st.integers(0, 14),
    "day": st.sampled_from(DAYS),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(deal, max_size=15), acts=st.lists(activity, max_size=8), period=st.sampled_from(
    [("all_time", None, None), ("custom", date(2024, 3, 1), date(2024, 4, 30)),
     ("custom", date(2024, 2, 1), date(2024, 5, 15)), ("custom", date(2024, 1, 21), date(2024, 1, 21))]),
    flip=st.integers(0, 1))
def test_customers_view_on_generated_stores(tmp_path_factory, deals, acts, period, flip):
    rows = [{"deal_id": f"D{i}", "name": f"D{i}", "status": d["status"], "stage": "Lead", "amount": d["amount"],
             "currency": d["currency"], "account_id": d["account"], "owner_rep_id": d["owner"],
             "product": d["product"], "created_on": d["created_on"], "closed_on": d["closed_on"],
             "close_date": d["close_date"]} for i, d in enumerate(deals)]
    reps = [{"rep_id": "R1", "name": "One", "team": "North"}, {"rep_id": "R2", "name": "Two", "team": "South"},
            {"rep_id": "R3", "name": "Three", "team": None}]
    accounts = [{"account_id": "A1", "name": "Alpha", "size": "SMB", "owner_rep_id": "R1"},
                {"account_id": "A2", "name": "Beta", "size": "Enterprise", "owner_rep_id": None},
                {"account_id": "A3", "name": "Gamma", "size": "SMB", "owner_rep_id": "R2"}]
    activities = [{"activity_id": f"X{i}", "rep_id": a["rep"], "account_id": a["account"],
                   "deal_id": f"D{a['deal']}" if a["account"] is None else None, "kind": "call",
                   "occurred_at": f"{a['day']} 10:00:00"} for i, a in enumerate(acts)]
    path = tmp_path_factory.mktemp("gen") / "gen.duckdb"
    store_builder.build(path, stages=store_builder.stages_frame(["Lead", "Won", "Lost"], "Won", "Lost"), reps=reps,
                        accounts=accounts, deal_snapshots=[(date(2024, 6, 1), rows)] if rows else [],
                        activities=activities)
    store = Store(path)
    try:
        preset, lo, hi = period
        scopes = ({}, {"teams": ["North"]}, {"reps": ["R1", "R3"]}, {"products": ["Core"]}, {"segments": ["SMB"]},
                  {"teams": ["nobody"]})
        for i, scope in enumerate(scopes):
            as_of = (date(2024, 3, 10), date(2024, 6, 1))[(i + flip) % 2]    # the two dates in turn
            f = Filters(preset, lo, hi, as_of=as_of, **{k: tuple(v) for k, v in scope.items()})
            _views_match(cv.compute(store, f), _plain(store, f))
            windows = [(lo, hi), (date(2024, 1, 1), date(2024, 2, 20)), (None, date(2024, 3, 1))]
            _sums_match(store, scope, windows, date(2024, 3, 10))
    finally:
        store.close()


# ------------------------------------------------------------------ coverage: each aggregate reads its own rows
# The activities' counts per rep and tier read only the period's rows (whole months from the derived
# `activity_months`, the edge days from the activities), the accounts' last days only those before
# as_of; the tiers are joined as integer codes. Days on both sides of month ends, undated activities,
# activities linked only through a deal (or through none), accounts missing from the tiers and tiers
# with odd names, null tiers and repeated accounts.
COVERAGE_DAYS = [date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 14), date(2024, 2, 29), date(2024, 3, 1),
                 date(2024, 3, 31), date(2024, 4, 2), None]
COVERAGE_SPANS = [  # (period_from, period_to, as_of)
    (None, None, date(2024, 3, 15)), (date(2024, 2, 1), date(2024, 2, 29), date(2024, 2, 29)),
    (date(2024, 2, 14), date(2024, 3, 31), date(2024, 3, 1)), (date(2024, 1, 31), date(2024, 3, 1), date(2024, 4, 2)),
    (None, date(2024, 2, 29), date(2024, 2, 1)), (date(2024, 3, 1), None, date(2024, 1, 1)),
    (date(2024, 2, 14), date(2024, 2, 14), date(2024, 3, 31)),
]
coverage_activity = st.fixed_dictionaries({
    "rep": st.sampled_from(["R1", "R2", "R3"]),
    "account": st.sampled_from(["A1", "A2", "A3", "A4", None]),    # A4: on no deal, in no table
    "deal": st.integers(0, 6),
    "day": st.sampled_from(COVERAGE_DAYS),
})
tier_row = st.tuples(st.sampled_from(["A1", "A2", "A3", "A4", "A9"]), st.sampled_from(["A", "B", "C", "none", "Z", None]))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=st.lists(deal, min_size=1, max_size=6), acts=st.lists(coverage_activity, min_size=1, max_size=10),
       tier_rows=st.lists(tier_row, max_size=6))
def test_activity_coverage_equals_the_definitions_on_generated_stores(tmp_path_factory, deals, acts, tier_rows):
    rows = [{"deal_id": f"D{i}", "name": f"D{i}", "status": d["status"], "stage": "Lead", "amount": d["amount"],
             "currency": d["currency"], "account_id": d["account"], "owner_rep_id": d["owner"],
             "product": d["product"], "created_on": d["created_on"], "closed_on": d["closed_on"],
             "close_date": d["close_date"]} for i, d in enumerate(deals)]
    activities = [{"activity_id": f"X{i}", "rep_id": a["rep"], "account_id": a["account"],
                   "deal_id": f"D{a['deal']}" if a["account"] is None else None, "kind": "call",
                   "occurred_at": f"{a['day']} 10:00:00" if a["day"] else None} for i, a in enumerate(acts)]
    path = tmp_path_factory.mktemp("cov") / "cov.duckdb"
    store_builder.build(path, stages=store_builder.stages_frame(["Lead", "Won", "Lost"], "Won", "Lost"),
                        reps=[{"rep_id": "R1", "name": "One", "team": "North"},
                              {"rep_id": "R2", "name": "Two", "team": "South"}, {"rep_id": "R3", "name": "Three"}],
                        accounts=[{"account_id": "A1", "name": "Alpha", "size": "SMB", "owner_rep_id": "R1"},
                                  {"account_id": "A2", "name": "Beta", "size": "Enterprise", "owner_rep_id": None},
                                  {"account_id": "A3", "name": "Gamma", "size": "SMB", "owner_rep_id": "R2"}],
                        deal_snapshots=[(date(2024, 4, 2), rows)], activities=activities)
    tiers = pl.DataFrame(tier_rows, schema={"account_id": pl.String, "tier": pl.String}, orient="row")
    store = Store(path)
    try:
        scopes = [{}, {"teams": ["North"]}, {"products": ["Core"]}, {"segments": ["SMB"]}]
        for n, (lo, hi, as_of) in enumerate(COVERAGE_SPANS):
            for scope in (scopes[0], scopes[1 + n % 3]):      # every span unscoped and in one scope
                scoped_deals, scoped_acts = store.deals_in_scope(scope), store.activities_in_scope(scope)
                counts, last = store.activity_coverage_in_scope(scope, tiers, lo, hi, as_of)
                assert_frame_equal(counts, tiering.tier_activity_counts(tiers, scoped_deals, scoped_acts,
                                                                        period_from=lo, period_to=hi))
                assert_frame_equal(last, tiering.last_activity(scoped_deals, scoped_acts, as_of=as_of))
    finally:
        store.close()

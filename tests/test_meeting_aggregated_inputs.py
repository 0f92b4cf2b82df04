"""The Meeting page from the other pages' aggregated inputs: the plan from the deals summed in DuckDB
(as the Overview page), the forecasts and their accuracy from the open and recently won deals with the
closed ones counted in DuckDB (as the Forecast page), the leaderboard from the deals counted per owner
(as the Leaderboard page), and of the deals only the open ones and those the lists name. The view equals the agenda computed the
plain way (`tests.test_meeting_fast_path.plain`: every scoped row of deals, stage history and snapshots
through `meeting_agenda`) on the demo over every shared scope, the shared demo periods and two
as_of dates (every pair of the three covered; the generated stores are in test_meeting_fast_path.py);
and it never reads every deal, nor hands the forecasts or the plan every deal.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from data.store import Store
from metrics import agenda as agenda_mod
from metrics import forecast
from tests.store_builder import DEMO_AS_OF, DEMO_PERIODS, demo_scopes, pairwise
from tests.test_meeting_fast_path import assert_same_view, plain
from ui.filters import Filters
from ui.views import meeting

AS_OFS = (DEMO_AS_OF, date(2026, 12, 31))   # tests/test_meeting_fast_path.py has 2026-11-03 on the demo


def test_meeting_view_equals_the_plain_computation_over_the_demo_periods(demo):
    for scope, (preset, p_from, p_to), as_of in pairwise(demo_scopes(demo), DEMO_PERIODS, AS_OFS):
        f = Filters(preset, p_from, p_to, as_of=as_of, **scope)
        assert_same_view(meeting.compute(demo, f), plain(demo, f))


def test_the_plan_and_the_forecasts_never_get_every_deal(demo, monkeypatch):
    """Of every deal only `_DEAL_COLUMNS` are read (no whole rows); the plan gets the summed deals and
    the forecasts only the open and recently won ones, with the closed ones counted in DuckDB."""
    reads: list[tuple[str, ...]] = []
    real_facts = Store.deal_facts_in_scope

    def facts(self: Store, scope: dict[str, Any], cur: Any = None, columns: tuple[str, ...] = (), **kw: Any) -> pl.DataFrame:
        out = real_facts(self, scope, cur, columns=columns, **kw)
        reads.append((tuple(columns), kw.get("open_only", False), out.height))
        return out

    def whole_rows(*_: Any, **__: Any) -> pl.DataFrame:
        raise AssertionError("the meeting read whole deal rows")

    seen: dict[str, Any] = {}
    real_plan, real_forecasts = agenda_mod.plan_vs_actual, agenda_mod.forecasts

    def plan(deals: pl.DataFrame, *a: Any, **k: Any) -> pl.DataFrame:
        seen["plan_sums"] = k.get("sums")
        return real_plan(deals, *a, **k)

    def forecasts(deals: pl.DataFrame, *a: Any, **k: Any) -> pl.DataFrame:
        seen["forecast_statuses"] = set(deals["status"].to_list())
        seen["forecast_rows"], seen["trained"] = deals.height, k.get("trained")
        return real_forecasts(deals, *a, **k)

    monkeypatch.setattr(Store, "deal_facts_in_scope", facts)
    monkeypatch.setattr(Store, "deals_in_scope", whole_rows)
    monkeypatch.setattr(agenda_mod, "plan_vs_actual", plan)
    monkeypatch.setattr(agenda_mod, "forecasts", forecasts)
    _, p_from, p_to = DEMO_PERIODS[0]
    view = meeting.compute(demo, Filters("this_quarter", p_from, p_to, as_of=DEMO_AS_OF))
    assert not view.empty
    # one read: the open deals and those the lists name, not every deal (the leaderboard gets counts)
    assert [r[:2] for r in reads] == [(meeting._DEAL_COLUMNS, True)]
    assert reads[0][2] < demo.table_count("deals")
    assert isinstance(seen["plan_sums"], pl.DataFrame)
    assert set(seen["plan_sums"]["kind"]) <= set(forecast.PLAN_SUM_KINDS)
    assert isinstance(seen["trained"], pl.DataFrame) and seen["trained"].height > 0
    assert seen["forecast_statuses"] <= {"open", "won"}
    assert seen["forecast_rows"] < demo.table_count("deals")


@pytest.mark.parametrize("columns", [("deal_id",), ("deal_id", "name", "owner_rep_id")])
def test_the_names_of_listed_deals_are_their_first_rows(columns):
    """`_first_of` keeps the first row of each listed deal, as the first row per deal of all of them."""
    deals = pl.DataFrame({"deal_id": ["a", "b", "a", "c", None], "name": ["A1", "B", "A2", "C", "N"],
                          "owner_rep_id": ["r1", "r2", "r3", None, "r4"]}).select(columns)
    ids = pl.Series(["a", "c", "zz"])
    got = agenda_mod._first_of(deals, ids).sort("deal_id")
    want = deals.unique("deal_id", keep="first").filter(pl.col("deal_id").is_in(["a", "c", "zz"])).sort("deal_id")
    assert got.equals(want)


def test_forecast_deals_stand_in_only_with_the_closed_deals_counted(demo):
    """Part of the deals cannot train the historical forecast: without `trained` it is refused."""
    _, p_from, p_to = DEMO_PERIODS[0]
    f = Filters("this_quarter", p_from, p_to, as_of=DEMO_AS_OF)
    cur = demo.cursor()
    scope = meeting.scope_of(f)
    with pytest.raises(ValueError, match="trained"):
        agenda_mod.meeting_agenda(
            deals=demo.deals_in_scope(scope, cur), reps=demo.reps_in_scope(scope, cur),
            accounts=demo.accounts_in_scope(scope, cur), activities=pl.DataFrame(),
            targets=demo.targets_in_scope(scope, cur),
            stages=demo.stages_frame(cur), stage_history=None, snapshots=None, as_of=f.as_of, period_from=p_from,
            period_to=p_to, dates=[], forecast_deals=demo.forecast_deals_in_scope(scope, p_from, p_to, cur))

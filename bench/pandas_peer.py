"""The peer: the same headline numbers done the straightforward pandas way.

Whole tables (the columns a view needs) come out of DuckDB with `.df()`; scope, period, joins and
group-bys happen in pandas, as a dashboard written on pandas would do them. The definitions are the
ones of `metrics/` (see bench/floor.py for the same in SQL); results have the shape of
`bench.headline.of_view`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench import sql
from ui.filters import Filters


def _ts(d: Any) -> pd.Timestamp | None:
    return None if d is None else pd.Timestamp(d)


def _within(x: pd.Series, lo: Any, hi: Any) -> pd.Series:
    """metrics._common.within: all time keeps everything (nulls too)."""
    if lo is None and hi is None:
        return pd.Series(True, index=x.index)
    m = x.notna()
    if lo is not None:
        m &= x >= _ts(lo)
    if hi is not None:
        m &= x <= _ts(hi)
    return m


def _none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


class _Tables:
    """The tables a view needs, read once per call (what a pandas app reads per page run)."""

    def __init__(self, cur: Any, f: Filters) -> None:
        self.cur, self.f = cur, f

    def reps(self) -> pd.DataFrame:
        r = sql.pandas(self.cur, "SELECT rep_id, name, team, region FROM reps")
        f = self.f
        m = pd.Series(True, index=r.index)
        if f.teams:
            m &= r["team"].isin(f.teams)
        if f.regions:
            m &= r["region"].isin(f.regions)
        if f.reps:
            m &= r["rep_id"].isin(f.reps)
        return r[m]

    def deals(self) -> pd.DataFrame:
        f = self.f
        d = sql.pandas(self.cur, "SELECT deal_id, account_id, owner_rep_id, product, amount, stage, status, "
                                 "created_on, close_date, closed_on FROM deals")
        r = sql.pandas(self.cur, "SELECT rep_id AS owner_rep_id, team AS owner_team, region AS rep_region FROM reps")
        a = sql.pandas(self.cur, "SELECT account_id, region AS acc_region, size FROM accounts")
        d = d.merge(r, on="owner_rep_id", how="left").merge(a, on="account_id", how="left")
        m = pd.Series(True, index=d.index)
        if f.teams:
            m &= d["owner_team"].isin(f.teams)
        if f.regions:
            m &= d["rep_region"].fillna(d["acc_region"]).isin(f.regions)
        if f.reps:
            m &= d["owner_rep_id"].isin(f.reps)
        if f.products:
            m &= d["product"].isin(f.products)
        if f.segments:
            m &= d["size"].isin(f.segments)
        d = d[m].copy()
        d["close_day"] = d["closed_on"].fillna(d["close_date"])
        return d

    def targets(self) -> pd.DataFrame:
        f = self.f
        t = sql.pandas(self.cur, "SELECT scope, scope_id, period_start, period_end, measure, value FROM targets")
        rep_ids = set(self.reps()["rep_id"])
        n_rep = len(f.teams) + len(f.regions) + len(f.reps)
        n_other = len(f.products) + len(f.segments)
        keep = (
            ((t["scope"] == "company") & (n_rep + n_other == 0))
            | ((t["scope"] == "rep") & t["scope_id"].isin(rep_ids) & (n_other == 0))
            | ((t["scope"] == "team") & (len(f.reps) + len(f.regions) + n_other == 0)
               & (t["scope_id"].isin(f.teams) if f.teams else True))
            | ((t["scope"] == "product") & (n_rep + len(f.segments) == 0)
               & (t["scope_id"].isin(f.products) if f.products else True))
        )
        return t[keep]

    def activities(self) -> pd.DataFrame:
        f = self.f
        x = sql.pandas(self.cur, "SELECT rep_id, account_id, occurred_at FROM activities")
        if f.teams or f.regions or f.reps:
            x = x[x["rep_id"].isin(set(self.reps()["rep_id"]))]
        if f.segments:
            a = sql.pandas(self.cur, "SELECT account_id, size FROM accounts")
            x = x.merge(a, on="account_id", how="left")
            x = x[x["size"].isin(f.segments)]
        return x


def _cohort(d: pd.DataFrame, f: Filters) -> pd.DataFrame:
    closed = d["status"].isin(["won", "lost"]) & _within(d["close_day"], f.period_from, f.period_to)
    live = (d["status"] == "open") & (d["created_on"].isna() | (d["created_on"] <= _ts(f.as_of)))
    return d[closed | live]


def _span(t: pd.DataFrame, f: Filters) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    rev = t[t["measure"] == "revenue"]
    lo = _ts(f.period_from) if f.period_from is not None else rev["period_start"].min()
    hi = _ts(f.period_to) if f.period_to is not None else rev["period_end"].max()
    if pd.isna(lo) or pd.isna(hi) or hi < lo:
        return None
    return lo, hi


def _days(a: pd.Series, b: pd.Series) -> pd.Series:
    return (b.dt.normalize() - a.dt.normalize()).dt.days


def _target_shares(t: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp, bs: pd.Series | pd.Timestamp,
                   be: pd.Series | pd.Timestamp) -> pd.Series:
    inside = (np.minimum(t["period_end"], be) - np.maximum(t["period_start"], bs)).dt.days + 1
    length = (t["period_end"] - t["period_start"]).dt.days + 1
    return t["value"] * inside.clip(lower=0) / length


def _revenue_targets(t: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
    return t[(t["measure"] == "revenue") & t["value"].notna() & (t["period_end"] >= lo) & (t["period_start"] <= hi)]


# ------------------------------------------------------------------------------------- the views
def overview(cur: Any, f: Filters) -> dict[str, Any]:
    tb = _Tables(cur, f)
    d = tb.deals()
    c = _cohort(d, f)
    won, lost = c[c["status"] == "won"], c[c["status"] == "lost"]
    cycle = _days(won["created_on"], won["close_day"])
    cycle = cycle[cycle >= 0]
    out = {"won_revenue": float(won["amount"].sum()), "won_deals": len(won),
           "win_rate": _ratio(len(won), len(won) + len(lost)),
           "avg_won_deal": _none(won["amount"].mean()), "sales_cycle": _none(cycle.median()),
           "attainment": None, "pipeline_coverage": None}
    t = tb.targets()
    span = _span(t, f)
    if span is None:
        return out
    lo, hi = span
    rt = _revenue_targets(t, lo, hi)
    shares = _target_shares(rt, lo, hi, lo, hi)
    target = next((float(shares[rt["scope"] == s].sum()) for s in ("company", "rep", "team")
                   if (rt["scope"] == s).any()), None)
    if target is None:
        return out
    actual = float(d.loc[(d["status"] == "won") & d["close_day"].between(lo, hi), "amount"].sum())
    live = (d["status"] == "open") & (d["created_on"].isna() | (d["created_on"] <= _ts(f.as_of)))
    pipeline = float(d.loc[live & d["close_date"].between(lo, hi), "amount"].sum())
    out["attainment"] = _ratio(actual, target)
    out["pipeline_coverage"] = _ratio(pipeline, max(target - actual, 0.0))
    return out


def funnel(cur: Any, f: Filters) -> dict[str, Any]:
    tb = _Tables(cur, f)
    stages = sql.pandas(cur, "SELECT name, position, is_won, is_lost FROM stages")
    stages = stages[~stages["is_won"].fillna(False).astype(bool) & ~stages["is_lost"].fillna(False).astype(bool)]
    stages = stages.drop_duplicates("name").sort_values(["position", "name"])
    order = list(stages["name"])
    idx = {s: i for i, s in enumerate(order)}
    n = len(order)
    c = _cohort(tb.deals(), f)
    h = sql.pandas(cur, "SELECT deal_id, stage, entered_at FROM stage_history")
    h = h[h["deal_id"].isin(set(c["deal_id"]))]
    h_idx = h["stage"].map(idx)
    hist_max = h.assign(i=h_idx).dropna(subset=["i"]).groupby("deal_id")["i"].max()
    furthest = pd.concat([c["deal_id"].map(hist_max), c["stage"].map(idx)], axis=1).max(axis=1).fillna(0)
    furthest = furthest.where(c["status"] != "won", n - 1).astype(int)
    reached = [int((furthest >= i).sum()) for i in range(n)]
    won_last = int(((c["status"] == "won") & (furthest == n - 1)).sum())
    conv = [_ratio(reached[i + 1] if i < n - 1 else won_last, reached[i]) for i in range(n)]
    # completed time in stage
    h = h.sort_values(["deal_id", "entered_at"])
    h["nxt"] = h.groupby("deal_id")["entered_at"].shift(-1)
    h = h.merge(c[["deal_id", "status", "close_day"]], on="deal_id")
    closed = (h["status"] != "open") & h["close_day"].notna()
    end = h["nxt"].dt.normalize().where(h["nxt"].notna(), h["close_day"].where(closed))
    h["days"] = _days(h["entered_at"], end).clip(lower=0)
    h["i"] = h["stage"].map(idx)
    done = h[(h["nxt"].notna() | closed) & h["i"].notna()]
    per_deal = done.groupby(["deal_id", "i"])["days"].sum().astype(float)
    med = per_deal.groupby(level="i").median()
    return {"stage": order, "reached": reached, "conversion_to_next": conv,
            "median_days": [_none(med.get(float(i), med.get(i))) for i in range(n)]}


def leaderboard(cur: Any, f: Filters) -> dict[str, Any]:
    tb = _Tables(cur, f)
    d = tb.deals()
    reps = tb.reps()
    acts = tb.activities()
    universe = pd.Series(pd.concat([reps["rep_id"], d["owner_rep_id"], acts["rep_id"]]).dropna().unique())
    universe = universe[universe != ""]
    closed = d[d["status"].isin(["won", "lost"]) & _within(d["close_day"], f.period_from, f.period_to)]
    g = closed.groupby("owner_rep_id")
    stats = pd.DataFrame({
        "won_revenue": closed["amount"].where(closed["status"] == "won").groupby(closed["owner_rep_id"]).sum(),
        "won_deals": g["status"].agg(lambda s: int((s == "won").sum())),
        "lost_deals": g["status"].agg(lambda s: int((s == "lost").sum())),
    })
    in_period = acts[_within(acts["occurred_at"].dt.normalize(), f.period_from, f.period_to)]
    counts = in_period.groupby("rep_id").size()
    t = tb.targets()
    t = t[(t["scope"] == "rep") & (t["measure"] == "revenue") & t["value"].notna()]
    if f.period_from is not None:
        t = t[t["period_end"] >= _ts(f.period_from)]
    if f.period_to is not None:
        t = t[t["period_start"] <= _ts(f.period_to)]
    if f.period_from is not None or f.period_to is not None:
        lo = _ts(f.period_from) if f.period_from is not None else t["period_start"]
        hi = _ts(f.period_to) if f.period_to is not None else t["period_end"]
        value = _target_shares(t, lo, hi, lo, hi)
    else:
        value = t["value"]
    target = value.groupby(t["scope_id"]).sum()
    names = reps.drop_duplicates("rep_id").set_index("rep_id")["name"]
    board = pd.DataFrame({"rep_id": universe})
    board["won_revenue"] = board["rep_id"].map(stats["won_revenue"]).fillna(0.0)
    board["won_deals"] = board["rep_id"].map(stats["won_deals"]).fillna(0).astype(int)
    board["lost_deals"] = board["rep_id"].map(stats["lost_deals"]).fillna(0).astype(int)
    board["activities"] = board["rep_id"].map(counts).fillna(0).astype(int)
    board["target"] = board["rep_id"].map(target)
    board["_name"] = board["rep_id"].map(names).fillna(board["rep_id"])
    board = board.sort_values(["won_revenue", "won_deals", "_name", "rep_id"], ascending=[False, False, True, True])
    return {c: [_none(v) for v in board[c].tolist()]
            for c in ("rep_id", "won_revenue", "won_deals", "lost_deals", "activities", "target")}


def customers(cur: Any, f: Filters) -> dict[str, Any]:
    tb = _Tables(cur, f)
    d = tb.deals()
    acc = sql.pandas(cur, "SELECT account_id, size, owner_rep_id FROM accounts")
    if f.segments:
        acc = acc[acc["size"].isin(f.segments)]
    if f.teams or f.regions or f.reps:   # the accounts the people in scope own or have a deal with
        reps = sql.pandas(cur, "SELECT rep_id, team, region FROM reps")
        reps = reps[(not f.teams or reps["team"].isin(f.teams)) & (not f.regions or reps["region"].isin(f.regions))
                    & (not f.reps or reps["rep_id"].isin(f.reps))]
        acc = acc[acc["owner_rep_id"].isin(reps["rep_id"]) | acc["account_id"].isin(d["account_id"].dropna())]
    every = pd.Series(pd.concat([acc["account_id"], d["account_id"]]).dropna().unique(), name="account_id")
    won = d[(d["status"] == "won") & _within(d["close_day"], f.period_from, f.period_to) & d["account_id"].notna()]
    rev = won.groupby("account_id")["amount"].sum()
    r = pd.DataFrame({"account_id": every})
    r["revenue"] = r["account_id"].map(rev).fillna(0.0)
    r = r.sort_values(["revenue", "account_id"], ascending=[False, True])
    pos = r["revenue"].where(r["revenue"] > 0, 0.0)
    total = pos.sum()
    before = pos.cumsum() - pos
    tol = total * 1e-9
    r["tier"] = np.select([~(r["revenue"] > 0), before < total * 0.8 - tol, before < total * 0.95 - tol],
                          ["none", "A", "B"], "C")
    g = r.groupby("tier")
    tiers = ["A", "B", "C", "none"]
    return {"tier": tiers, "accounts": [int(g.size().get(t, 0)) for t in tiers],
            "revenue": [float(g["revenue"].sum().get(t, 0.0)) for t in tiers]}


def forecast(cur: Any, f: Filters) -> dict[str, Any]:
    tb = _Tables(cur, f)
    d = tb.deals()
    t = tb.targets()
    span = _span(t, f)
    if span is None:
        return {"period_start": [], "target": [], "actual": [], "pipeline": []}
    lo, hi = span
    cal = pd.date_range(lo.to_period("M").to_timestamp(), hi, freq="MS")
    buckets = pd.DataFrame({"cal": cal})
    buckets["bs"] = buckets["cal"].clip(lower=lo)
    buckets["be"] = (buckets["cal"] + pd.offsets.MonthEnd(0)).clip(upper=hi)
    rt = _revenue_targets(t, lo, hi)
    cross = rt.merge(buckets, how="cross")
    inside = (np.minimum(cross["period_end"], cross["be"]) - np.maximum(cross["period_start"], cross["bs"])).dt.days + 1
    cross = cross[inside > 0].copy()
    cross["v"] = _target_shares(cross, lo, hi, cross["bs"], cross["be"])
    levels = cross.pivot_table(index="cal", columns="scope", values="v", aggfunc="sum")
    target = None
    for s in ("company", "rep", "team"):
        if s in levels:
            target = levels[s] if target is None else target.combine_first(levels[s])
    target = target if target is not None else pd.Series(dtype=float)
    won = d[(d["status"] == "won") & d["close_day"].between(lo, hi)]
    actual = won.groupby(won["close_day"].dt.to_period("M").dt.to_timestamp())["amount"].sum()
    live = d[(d["status"] == "open") & (d["created_on"].isna() | (d["created_on"] <= _ts(f.as_of)))
             & d["close_date"].between(lo, hi)]
    pipe = live.groupby(live["close_date"].dt.to_period("M").dt.to_timestamp())["amount"].sum()
    rows = buckets[buckets["cal"].isin(target.index) | buckets["cal"].isin(actual.index)]
    return {"period_start": [b.date().isoformat() for b in rows["bs"]],
            "target": [_none(target.get(c)) for c in rows["cal"]],
            "actual": [float(actual.get(c, 0.0)) for c in rows["cal"]],
            "pipeline": [float(pipe.get(c, 0.0)) for c in rows["cal"]]}


BARS = ("start", "created", "pulled_in", "amount_up", "amount_down", "pushed_out", "won", "lost", "removed", "end")


def history(cur: Any, f: Filters) -> dict[str, Any]:
    """The waterfall between the last two snapshots of the rows in scope (deals in scope; deals no
    longer in the deals table by their snapshot owner), the latest upload per date and deal."""
    tb = _Tables(cur, f)
    s = sql.pandas(cur, "SELECT snapshot_date, deal_id, stage, status, amount, close_date, owner_rep_id, batch_id "
                        "FROM deal_snapshots")
    known = set(sql.pandas(cur, "SELECT deal_id FROM deals")["deal_id"])
    in_scope = s["deal_id"].isin(set(tb.deals()["deal_id"]))
    gone = ~s["deal_id"].isin(known)
    if f.products or f.segments:
        gone &= False
    elif f.teams or f.regions or f.reps:
        gone &= s["owner_rep_id"].isin(set(tb.reps()["rep_id"]))
    s = s[in_scope | gone]
    days = sorted(s["snapshot_date"].unique())[-2:]
    s = s[s["snapshot_date"].isin(days)].sort_values("batch_id").drop_duplicates(["snapshot_date", "deal_id"], keep="last")

    def at(day: Any) -> pd.DataFrame:
        x = s[s["snapshot_date"] == day] if day is not None else s.iloc[0:0]
        win = (x["status"] == "open") & _within(x["close_date"], f.period_from, f.period_to)
        return pd.DataFrame({"deal_id": x["deal_id"], "status": x["status"], "amt": x["amount"].fillna(0.0), "win": win})

    a, b = at(days[0] if len(days) == 2 else None), at(days[-1] if days else None)
    m = a.merge(b, on="deal_id", how="outer", suffixes=("_a", "_b"), indicator=True)
    win_a, win_b = m["win_a"].fillna(False).astype(bool), m["win_b"].fillna(False).astype(bool)
    in_a, in_b = m["_merge"] != "right_only", m["_merge"] != "left_only"
    amt_a, amt_b = m["amt_a"].fillna(0.0), m["amt_b"].fillna(0.0)
    both = win_a & win_b
    conditions = [both & (amt_b > amt_a), both & (amt_b < amt_a), both, win_a & ~in_b, win_a & (m["status_b"] == "won"),
                  win_a & (m["status_b"] == "lost"), win_a, win_b & ~in_a, win_b]
    bar = np.select(conditions, ["amount_up", "amount_down", "", "removed", "won", "lost", "pushed_out", "created",
                                 "pulled_in"], default="")
    change = np.where(both, amt_b - amt_a, np.where(win_a, -amt_a, amt_b))
    moves = pd.DataFrame({"bar": bar, "change": change})
    moves = moves[moves["bar"] != ""]
    rows = pd.concat([pd.DataFrame({"bar": "start", "change": amt_a[win_a]}), moves,
                      pd.DataFrame({"bar": "end", "change": amt_b[win_b]})])
    sums = rows.groupby("bar")["change"].agg(["sum", "count"])
    amount = [float(sums["sum"].get(k, 0.0)) if k in ("start", "end") else abs(float(sums["sum"].get(k, 0.0)))
              for k in BARS]
    return {"bar": list(BARS), "amount": amount, "deals": [int(sums["count"].get(k, 0)) for k in BARS]}


PEERS = {"overview": overview, "funnel": funnel, "leaderboard": leaderboard, "customers": customers,
         "forecast": forecast,
         "history": history}


def compute(name: str, cur: Any, f: Filters) -> dict[str, Any]:
    return PEERS[name](cur, f)

"""The floor of each view: one hand-written DuckDB query returning the view's headline numbers.

Each query follows the definitions of `metrics/` (see metrics/README.md and `_common.py`) and the
store's scope rules (`Store.*_in_scope`), so its numbers must equal the view's; `bench.headline`
compares them. A query is the least work any implementation must do to show those numbers: scan,
filter and aggregate inside DuckDB, hand back a handful of rows.

Parameters (all bound, named): $teams, $regions, $reps, $products, $segments (lists, empty = all),
$p_from, $p_to (inclusive period, NULL = unbounded), $as_of.
"""
from __future__ import annotations

from datetime import date
from typing import Any

from bench import sql
from ui.filters import Filters

# --------------------------------------------------------------------------------- shared parts
_L = {k: f"CAST(${k} AS VARCHAR[])" for k in ("teams", "regions", "reps", "products", "segments")}
_FROM, _TO, _AS_OF = "CAST($p_from AS DATE)", "CAST($p_to AS DATE)", "CAST($as_of AS DATE)"


def _within(x: str) -> str:
    """metrics._common.within: all time keeps everything (nulls too), else a non-null value in range."""
    return (f"(({_FROM} IS NULL AND {_TO} IS NULL) OR ({x} IS NOT NULL AND ({_FROM} IS NULL OR {x} >= {_FROM}) "
            f"AND ({_TO} IS NULL OR {x} <= {_TO})))")


SCOPED = f"""
scoped AS (
    SELECT d.*, coalesce(d.closed_on, d.close_date) AS close_day
    FROM deals d LEFT JOIN reps r ON r.rep_id = d.owner_rep_id LEFT JOIN accounts a ON a.account_id = d.account_id
    WHERE (len({_L['teams']}) = 0 OR list_contains({_L['teams']}, r.team))
      AND (len({_L['regions']}) = 0 OR list_contains({_L['regions']}, coalesce(r.region, a.region)))
      AND (len({_L['reps']}) = 0 OR list_contains({_L['reps']}, d.owner_rep_id))
      AND (len({_L['products']}) = 0 OR list_contains({_L['products']}, d.product))
      AND (len({_L['segments']}) = 0 OR list_contains({_L['segments']}, a.size))
),
cohort AS (   -- closed_and_open: won or lost in the period, plus the pipeline open at as_of
    SELECT * FROM scoped
    WHERE (status IN ('won', 'lost') AND {_within('close_day')})
       OR (status = 'open' AND (created_on IS NULL OR created_on <= {_AS_OF}))
)"""

REPS_IN_SCOPE = f"""
reps_scope AS (
    SELECT * FROM reps
    WHERE (len({_L['teams']}) = 0 OR list_contains({_L['teams']}, team))
      AND (len({_L['regions']}) = 0 OR list_contains({_L['regions']}, region))
      AND (len({_L['reps']}) = 0 OR list_contains({_L['reps']}, rep_id))
)"""

_NO_REP_FILTER = f"len({_L['teams']}) + len({_L['regions']}) + len({_L['reps']}) = 0"
TARGETS_IN_SCOPE = f"""
tg AS (
    SELECT * FROM targets
    WHERE (scope = 'company' AND {_NO_REP_FILTER} AND len({_L['products']}) + len({_L['segments']}) = 0)
       OR (scope = 'rep' AND scope_id IN (SELECT rep_id FROM reps_scope)
           AND len({_L['products']}) + len({_L['segments']}) = 0)
       OR (scope = 'team' AND len({_L['reps']}) + len({_L['regions']}) + len({_L['products']}) + len({_L['segments']}) = 0
           AND (len({_L['teams']}) = 0 OR list_contains({_L['teams']}, scope_id)))
       OR (scope = 'product' AND {_NO_REP_FILTER} AND len({_L['segments']}) = 0
           AND (len({_L['products']}) = 0 OR list_contains({_L['products']}, scope_id)))
),
span AS (     -- the plan's period: the filter's, else the span of the revenue targets
    SELECT coalesce({_FROM}, (SELECT min(period_start) FROM tg WHERE measure = 'revenue')) AS lo,
           coalesce({_TO}, (SELECT max(period_end) FROM tg WHERE measure = 'revenue')) AS hi
)"""


# --------------------------------------------------------------------------------- the queries
OVERVIEW = f"""
WITH {SCOPED}, {REPS_IN_SCOPE}, {TARGETS_IN_SCOPE},
kpi AS (
    SELECT coalesce(sum(amount) FILTER (status = 'won'), 0) AS won_revenue,
           count(*) FILTER (status = 'won') AS won_deals,
           count(*) FILTER (status = 'won') / nullif(count(*) FILTER (status IN ('won', 'lost')), 0) AS win_rate,
           avg(amount) FILTER (status = 'won') AS avg_won_deal,
           quantile_cont(CAST(close_day - created_on AS DOUBLE), 0.5)
               FILTER (status = 'won' AND close_day - created_on >= 0) AS sales_cycle
    FROM cohort
),
shares AS (   -- revenue targets overlapping the plan period, counted for the days inside it
    SELECT scope, value * (least(period_end, hi) - greatest(period_start, lo) + 1)
                        / (period_end - period_start + 1) AS v
    FROM tg, span
    WHERE measure = 'revenue' AND value IS NOT NULL AND period_end >= lo AND period_start <= hi
),
plan AS (
    SELECT coalesce((SELECT sum(v) FROM shares WHERE scope = 'company'), (SELECT sum(v) FROM shares WHERE scope = 'rep'),
                    (SELECT sum(v) FROM shares WHERE scope = 'team')) AS target,
           (SELECT coalesce(sum(amount), 0) FROM scoped, span
             WHERE status = 'won' AND close_day IS NOT NULL AND close_day BETWEEN lo AND hi) AS actual,
           (SELECT coalesce(sum(amount), 0) FROM scoped, span
             WHERE status = 'open' AND (created_on IS NULL OR created_on <= {_AS_OF})
               AND close_date IS NOT NULL AND close_date BETWEEN lo AND hi) AS pipeline
    FROM span WHERE lo IS NOT NULL AND hi IS NOT NULL AND hi >= lo
)
SELECT kpi.*, plan.actual / nullif(plan.target, 0) AS attainment,
       plan.pipeline / nullif(greatest(plan.target - plan.actual, 0), 0) AS pipeline_coverage
FROM kpi LEFT JOIN plan ON plan.target IS NOT NULL
"""

FUNNEL = f"""
WITH {SCOPED},
stg AS (      -- open stages in pipeline order
    SELECT name AS stage, CAST(row_number() OVER (ORDER BY position, name) - 1 AS BIGINT) AS idx
    FROM (SELECT DISTINCT ON (name) * FROM stages
          WHERE NOT coalesce(is_won, false) AND NOT coalesce(is_lost, false) ORDER BY name, rowid)
),
n AS (SELECT count(*) AS n FROM stg),
hist AS (
    SELECT h.deal_id, h.stage, h.entered_at FROM stage_history h SEMI JOIN cohort c ON c.deal_id = h.deal_id
),
furthest AS (
    SELECT c.deal_id, c.status,
           CASE WHEN c.status = 'won' THEN (SELECT n FROM n) - 1
                ELSE coalesce(greatest(hx.idx, cur.idx), hx.idx, cur.idx, 0) END AS max_idx
    FROM cohort c
    LEFT JOIN (SELECT deal_id, max(idx) AS idx FROM hist JOIN stg USING (stage) GROUP BY deal_id) hx
           ON hx.deal_id = c.deal_id
    LEFT JOIN stg cur ON cur.stage = c.stage
),
reached AS (
    SELECT stg.idx, stg.stage, count(f.deal_id) AS reached,
           count(f.deal_id) FILTER (f.status = 'won' AND f.max_idx = (SELECT n FROM n) - 1) AS won_last
    FROM stg LEFT JOIN furthest f ON f.max_idx >= stg.idx
    GROUP BY stg.idx, stg.stage
),
spans AS (    -- completed time in each open stage, from consecutive history rows (repeated visits add up)
    SELECT h.deal_id, s.idx,
           CAST(CASE WHEN h.nxt IS NOT NULL THEN CAST(h.nxt AS DATE)
                     WHEN c.status <> 'open' AND c.close_day IS NOT NULL THEN c.close_day END
                - CAST(h.entered_at AS DATE) AS BIGINT) AS days
    FROM (SELECT *, lead(entered_at) OVER (PARTITION BY deal_id ORDER BY entered_at) AS nxt FROM hist) h
    JOIN stg s USING (stage) JOIN cohort c ON c.deal_id = h.deal_id
    WHERE h.nxt IS NOT NULL OR (c.status <> 'open' AND c.close_day IS NOT NULL)
),
per_deal AS (SELECT deal_id, idx, sum(greatest(days, 0)) AS days FROM spans GROUP BY deal_id, idx),
timing AS (SELECT idx, quantile_cont(CAST(days AS DOUBLE), 0.5) AS median_days FROM per_deal GROUP BY idx)
SELECT r.stage, r.reached,
       CASE WHEN r.idx = (SELECT n FROM n) - 1 THEN r.won_last ELSE lead(r.reached) OVER (ORDER BY r.idx) END
           / nullif(r.reached, 0) AS conversion_to_next,
       t.median_days
FROM reached r LEFT JOIN timing t USING (idx)
ORDER BY r.idx
"""

LEADERBOARD = f"""
WITH {SCOPED}, {REPS_IN_SCOPE}, {TARGETS_IN_SCOPE},
acts AS (     -- activities_in_scope
    SELECT x.rep_id, x.occurred_at FROM activities x LEFT JOIN accounts a ON a.account_id = x.account_id
    WHERE (x.rep_id IN (SELECT rep_id FROM reps_scope) OR {_NO_REP_FILTER})
      AND (len({_L['segments']}) = 0 OR list_contains({_L['segments']}, a.size))
),
universe AS (
    SELECT rep_id AS k FROM reps_scope UNION SELECT owner_rep_id FROM scoped UNION SELECT rep_id FROM acts
),
stats AS (
    SELECT owner_rep_id AS k, coalesce(sum(amount) FILTER (status = 'won'), 0) AS won_revenue,
           count(*) FILTER (status = 'won') AS won_deals, count(*) FILTER (status = 'lost') AS lost_deals
    FROM scoped WHERE status IN ('won', 'lost') AND {_within('close_day')} GROUP BY 1
),
act AS (SELECT rep_id AS k, count(*) AS activities FROM acts WHERE {_within('CAST(occurred_at AS DATE)')} GROUP BY 1),
rep_targets AS (
    SELECT scope_id AS k, sum(CASE WHEN {_FROM} IS NULL AND {_TO} IS NULL THEN value ELSE value *
               greatest(least(period_end, coalesce({_TO}, period_end)) - greatest(period_start, coalesce({_FROM}, period_start)) + 1, 0)
               / (period_end - period_start + 1) END) AS target
    FROM tg WHERE scope = 'rep' AND measure = 'revenue' AND value IS NOT NULL
      AND ({_FROM} IS NULL OR period_end >= {_FROM}) AND ({_TO} IS NULL OR period_start <= {_TO})
    GROUP BY 1
),
names AS (SELECT DISTINCT ON (rep_id) rep_id, name FROM reps_scope ORDER BY rep_id)
SELECT u.k AS rep_id, coalesce(s.won_revenue, 0) AS won_revenue, coalesce(s.won_deals, 0) AS won_deals,
       coalesce(s.lost_deals, 0) AS lost_deals, coalesce(a.activities, 0) AS activities, t.target
FROM universe u LEFT JOIN stats s USING (k) LEFT JOIN act a USING (k) LEFT JOIN rep_targets t USING (k)
     LEFT JOIN names n ON n.rep_id = u.k
WHERE u.k IS NOT NULL AND u.k <> ''
ORDER BY won_revenue DESC, won_deals DESC, coalesce(n.name, u.k), u.k
"""

CUSTOMERS = f"""
WITH {SCOPED},
acc AS (   -- the segment's accounts; with people in scope, those its reps own or with a deal in scope
    SELECT account_id FROM accounts
    WHERE (len({_L['segments']}) = 0 OR list_contains({_L['segments']}, size))
      AND (len({_L['teams']}) + len({_L['regions']}) + len({_L['reps']}) = 0
           OR owner_rep_id IN (SELECT rep_id FROM reps WHERE (len({_L['teams']}) = 0 OR list_contains({_L['teams']}, team))
                               AND (len({_L['regions']}) = 0 OR list_contains({_L['regions']}, region))
                               AND (len({_L['reps']}) = 0 OR list_contains({_L['reps']}, rep_id)))
           OR account_id IN (SELECT account_id FROM scoped))
),
every AS (
    SELECT account_id FROM acc WHERE account_id IS NOT NULL
    UNION SELECT account_id FROM scoped WHERE account_id IS NOT NULL
),
rev AS (
    SELECT account_id, sum(amount) AS revenue FROM scoped
    WHERE status = 'won' AND {_within('close_day')} AND account_id IS NOT NULL GROUP BY 1
),
ranked AS (
    SELECT e.account_id, coalesce(r.revenue, 0) AS revenue,
           CASE WHEN coalesce(r.revenue, 0) > 0 THEN r.revenue ELSE 0 END AS pos
    FROM every e LEFT JOIN rev r USING (account_id)
),
running AS (
    SELECT *, sum(pos) OVER (ORDER BY revenue DESC, account_id ROWS UNBOUNDED PRECEDING) - pos AS before,
           sum(pos) OVER () AS total
    FROM ranked
),
tiered AS (
    SELECT revenue, CASE WHEN NOT revenue > 0 THEN 'none'
                         WHEN before < total * 0.8 - total * 1e-9 THEN 'A'
                         WHEN before < total * 0.95 - total * 1e-9 THEN 'B' ELSE 'C' END AS tier
    FROM running
)
SELECT g.tier, count(t.tier) AS accounts, coalesce(sum(t.revenue), 0) AS revenue
FROM (VALUES ('A', 1), ('B', 2), ('C', 3), ('none', 4)) g(tier, o) LEFT JOIN tiered t USING (tier)
GROUP BY g.tier, g.o ORDER BY g.o
"""

FORECAST = f"""
WITH {SCOPED}, {REPS_IN_SCOPE}, {TARGETS_IN_SCOPE},
buckets AS (
    SELECT CAST(m AS DATE) AS cal, greatest(CAST(m AS DATE), lo) AS bs,
           least(CAST(m + INTERVAL 1 MONTH AS DATE) - 1, hi) AS be
    FROM span, unnest(generate_series(CAST(date_trunc('month', lo) AS TIMESTAMP), CAST(hi AS TIMESTAMP),
                                      INTERVAL 1 MONTH)) AS g(m)
    WHERE lo IS NOT NULL AND hi IS NOT NULL AND hi >= lo
),
shares AS (
    SELECT b.cal, t.scope, sum(t.value * (least(t.period_end, b.be) - greatest(t.period_start, b.bs) + 1)
                                / (t.period_end - t.period_start + 1)) AS v
    FROM tg t, span, buckets b
    WHERE t.measure = 'revenue' AND t.value IS NOT NULL AND t.period_end >= span.lo AND t.period_start <= span.hi
      AND least(t.period_end, b.be) >= greatest(t.period_start, b.bs)
    GROUP BY 1, 2
),
target AS (
    SELECT cal, coalesce(sum(v) FILTER (scope = 'company'), sum(v) FILTER (scope = 'rep'),
                         sum(v) FILTER (scope = 'team')) AS target
    FROM shares GROUP BY cal
),
actual AS (
    SELECT CAST(date_trunc('month', close_day) AS DATE) AS cal, sum(amount) AS actual
    FROM scoped, span WHERE status = 'won' AND close_day IS NOT NULL AND close_day BETWEEN lo AND hi GROUP BY 1
),
pipe AS (
    SELECT CAST(date_trunc('month', close_date) AS DATE) AS cal, sum(amount) AS pipeline
    FROM scoped, span WHERE status = 'open' AND (created_on IS NULL OR created_on <= {_AS_OF})
      AND close_date IS NOT NULL AND close_date BETWEEN lo AND hi GROUP BY 1
)
SELECT b.bs AS period_start, t.target, coalesce(a.actual, 0) AS actual, coalesce(p.pipeline, 0) AS pipeline
FROM buckets b LEFT JOIN target t USING (cal) LEFT JOIN actual a USING (cal) LEFT JOIN pipe p USING (cal)
WHERE t.cal IS NOT NULL OR a.cal IS NOT NULL
ORDER BY b.bs
"""

# history: the waterfall between the last two snapshots in scope (metrics.changes.pipeline_change) over the
# snapshot rows in scope (Store.snapshot_rows_in_scope: the deals in scope, and deals since deleted in the CRM
# by their snapshot owner), the latest upload per date and deal
HISTORY = f"""
WITH {SCOPED.strip()},
{REPS_IN_SCOPE.strip()},
snaps AS (
    SELECT s.* FROM deal_snapshots s WHERE s.deal_id IN (SELECT deal_id FROM scoped)
    UNION ALL
    SELECT s.* FROM deal_snapshots s
    WHERE len({_L['products']}) + len({_L['segments']}) = 0
      AND ({_NO_REP_FILTER} OR s.owner_rep_id IN (SELECT rep_id FROM reps_scope))
      AND s.deal_id NOT IN (SELECT deal_id FROM deals)
),
last_two AS (SELECT DISTINCT snapshot_date FROM snaps ORDER BY 1 DESC LIMIT 2),
pair AS (SELECT CASE WHEN count(*) = 2 THEN min(snapshot_date) END AS a, max(snapshot_date) AS b FROM last_two),
multi AS (SELECT snapshot_date FROM deal_snapshots GROUP BY 1 HAVING min(batch_id) <> max(batch_id)),
two AS (SELECT * FROM snaps WHERE snapshot_date IN (SELECT snapshot_date FROM last_two)),
latest AS (
    SELECT * FROM two WHERE snapshot_date NOT IN (SELECT snapshot_date FROM multi)
    UNION ALL
    SELECT * FROM two WHERE snapshot_date IN (SELECT snapshot_date FROM multi)
    QUALIFY row_number() OVER (PARTITION BY snapshot_date, deal_id ORDER BY batch_id DESC) = 1
),
sa AS (SELECT deal_id, status, coalesce(amount, 0) AS amt, status = 'open' AND {_within('close_date')} AS win
       FROM latest, pair WHERE snapshot_date = pair.a),
sb AS (SELECT deal_id, status, coalesce(amount, 0) AS amt, status = 'open' AND {_within('close_date')} AS win
       FROM latest, pair WHERE snapshot_date = pair.b),
moved AS (
    SELECT coalesce(sa.win, false) AS win_a, coalesce(sb.win, false) AS win_b, sb.deal_id IS NOT NULL AS in_b,
           sa.deal_id IS NOT NULL AS in_a, sb.status AS status_b, coalesce(sa.amt, 0) AS amt_a, coalesce(sb.amt, 0) AS amt_b
    FROM sa FULL OUTER JOIN sb ON sa.deal_id = sb.deal_id
),
rows AS (
    SELECT CASE WHEN win_a AND win_b AND amt_b > amt_a THEN 'amount_up'
                WHEN win_a AND win_b AND amt_b < amt_a THEN 'amount_down'
                WHEN win_a AND win_b THEN NULL
                WHEN win_a AND NOT in_b THEN 'removed'
                WHEN win_a AND status_b = 'won' THEN 'won'
                WHEN win_a AND status_b = 'lost' THEN 'lost'
                WHEN win_a THEN 'pushed_out'
                WHEN win_b AND NOT in_a THEN 'created'
                WHEN win_b THEN 'pulled_in' END AS bar,
           CASE WHEN win_a AND win_b THEN amt_b - amt_a WHEN win_a THEN -amt_a WHEN win_b THEN amt_b END AS change
    FROM moved
    UNION ALL SELECT 'start', amt_a FROM moved WHERE win_a
    UNION ALL SELECT 'end', amt_b FROM moved WHERE win_b
),
bars AS (SELECT * FROM (VALUES ('start', 0), ('created', 1), ('pulled_in', 2), ('amount_up', 3), ('amount_down', 4),
                               ('pushed_out', 5), ('won', 6), ('lost', 7), ('removed', 8), ('end', 9)) v(bar, k))
SELECT b.bar, CASE WHEN b.bar IN ('start', 'end') THEN coalesce(sum(r.change), 0)
                   ELSE abs(coalesce(sum(r.change), 0)) END AS amount, count(r.bar) AS deals
FROM bars b LEFT JOIN rows r ON r.bar = b.bar GROUP BY b.bar, b.k ORDER BY b.k
"""

QUERIES: dict[str, str] = {"overview": OVERVIEW, "funnel": FUNNEL, "leaderboard": LEADERBOARD,
                           "customers": CUSTOMERS, "forecast": FORECAST,
                           "history": HISTORY}


def params(f: Filters) -> dict[str, Any]:
    """The filters as the queries' bound parameters."""
    return {"teams": list(f.teams), "regions": list(f.regions), "reps": list(f.reps), "products": list(f.products),
            "segments": list(f.segments), "p_from": f.period_from, "p_to": f.period_to, "as_of": f.as_of}


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {n: [r[n] for r in rows] for n in names}


def compute(name: str, cur: Any, f: Filters) -> dict[str, Any]:
    """Run a view's floor query and shape its result like `bench.headline.of_view`."""
    rows = sql.rows(cur, QUERIES[name], params(f))
    if name == "overview":
        return dict(rows[0])
    if name == "funnel":
        return _columns(rows, ("stage", "reached", "conversion_to_next", "median_days"))
    if name == "leaderboard":
        return _columns(rows, ("rep_id", "won_revenue", "won_deals", "lost_deals", "activities", "target"))
    if name == "customers":
        return _columns(rows, ("tier", "accounts", "revenue"))
    if name == "forecast":
        out = _columns(rows, ("period_start", "target", "actual", "pipeline"))
        out["period_start"] = [d.isoformat() if isinstance(d, date) else d for d in out["period_start"]]
        return out
    if name == "history":
        return _columns(rows, ("bar", "amount", "deals"))
    raise KeyError(name)

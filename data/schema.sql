-- Salescope canonical schema (DuckDB). Every fact row carries the batch that wrote it.
-- Ids are strings (leading zeros kept). Amounts are DOUBLE in the deal's own currency.
-- Each table that imports upsert into has a *_prev twin (same columns + replaced_by, created by
-- data/store.py) holding the version a batch overwrote, so `undo BATCH` restores the exact prior state.
-- Fact tables declare no PRIMARY KEY: the importer guarantees unique keys itself, and bulk loads into
-- DuckDB run several times faster without an ART index (the keys are noted beside each table).

CREATE SEQUENCE IF NOT EXISTS batch_seq START 1;

CREATE TABLE IF NOT EXISTS imports (
    batch_id      INTEGER PRIMARY KEY,
    kind          VARCHAR NOT NULL,        -- deals, leads, stage_history, activities, accounts, reps, targets, demo
    file_name     VARCHAR,
    sha256        VARCHAR,
    imported_at   TIMESTAMP NOT NULL,
    snapshot_date DATE,                    -- deals uploads only
    rows_read     BIGINT DEFAULT 0,
    inserted      BIGINT DEFAULT 0,
    updated       BIGINT DEFAULT 0,
    unchanged     BIGINT DEFAULT 0,
    rejected      BIGINT DEFAULT 0,
    skipped       BIGINT DEFAULT 0,
    mapping       VARCHAR,                 -- JSON {source header: canonical field}
    notes         VARCHAR,                 -- JSON list of notes (e.g. date order decided)
    status        VARCHAR NOT NULL,        -- done, failed, undone
    is_demo       BOOLEAN DEFAULT FALSE,
    stages_changed BOOLEAN DEFAULT FALSE   -- the batch replaced the pipeline (its prior version is in stages_prev)
);

CREATE TABLE IF NOT EXISTS rejected_rows (
    batch_id    INTEGER NOT NULL,
    line        BIGINT,
    column_name VARCHAR,
    reason      VARCHAR,                   -- English text
    reason_code VARCHAR,                   -- stable key, translated by the UI
    params      VARCHAR,                   -- JSON parameters of the reason
    raw         VARCHAR                    -- the original row text
);

CREATE TABLE IF NOT EXISTS saved_mappings (
    header_key VARCHAR PRIMARY KEY,        -- normalised, sorted header set
    kind       VARCHAR NOT NULL,
    mapping    VARCHAR NOT NULL,           -- JSON {source header: canonical field}
    saved_at   TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS stages (
    name        VARCHAR NOT NULL,          -- key
    position    INTEGER NOT NULL,          -- pipeline order; won/lost stages come last
    probability DOUBLE,                    -- default win probability 0..1
    is_won      BOOLEAN NOT NULL DEFAULT FALSE,
    is_lost     BOOLEAN NOT NULL DEFAULT FALSE,
    source      VARCHAR NOT NULL,          -- configured or learned
    batch_id    INTEGER
);

CREATE TABLE IF NOT EXISTS reps (
    rep_id     VARCHAR NOT NULL,         -- key
    name       VARCHAR,
    email      VARCHAR,
    team       VARCHAR,
    manager_id VARCHAR,
    region     VARCHAR,
    hired_on   DATE,
    left_on    DATE,
    batch_id   INTEGER
);

CREATE TABLE IF NOT EXISTS accounts (
    account_id   VARCHAR NOT NULL,       -- key
    name         VARCHAR,
    industry     VARCHAR,
    region       VARCHAR,
    size         VARCHAR,
    owner_rep_id VARCHAR,
    created_on   DATE,
    batch_id     INTEGER
);

CREATE TABLE IF NOT EXISTS deals (
    deal_id           VARCHAR NOT NULL,    -- key
    account_id        VARCHAR,
    owner_rep_id      VARCHAR,
    name              VARCHAR,
    product           VARCHAR,
    amount            DOUBLE,
    currency          VARCHAR,
    stage             VARCHAR,
    status            VARCHAR NOT NULL,    -- open, won, lost
    created_on        DATE,
    close_date        DATE,                -- expected or actual close
    closed_on         DATE,                -- actual close (won/lost)
    lost_reason       VARCHAR,
    probability       DOUBLE,              -- 0..1
    forecast_category VARCHAR,
    source            VARCHAR,
    batch_id          INTEGER
);

CREATE TABLE IF NOT EXISTS leads (
    lead_id      VARCHAR NOT NULL,       -- key
    created_on   DATE,
    source       VARCHAR,
    owner_rep_id VARCHAR,
    status       VARCHAR,
    converted_on DATE,
    deal_id      VARCHAR,
    batch_id     INTEGER
);

CREATE TABLE IF NOT EXISTS stage_history (
    deal_id    VARCHAR NOT NULL,
    stage      VARCHAR NOT NULL,
    entered_at TIMESTAMP NOT NULL,
    inferred   BOOLEAN NOT NULL DEFAULT FALSE,   -- true when rebuilt from snapshots
    batch_id   INTEGER                   -- key: (deal_id, stage, entered_at)
);

CREATE TABLE IF NOT EXISTS activities (
    activity_id  VARCHAR NOT NULL,       -- key
    rep_id       VARCHAR,
    account_id   VARCHAR,
    deal_id      VARCHAR,
    kind         VARCHAR,                  -- call, email, meeting, visit, task, other
    occurred_at  TIMESTAMP,
    duration_min DOUBLE,
    outcome      VARCHAR,
    batch_id     INTEGER
);

CREATE TABLE IF NOT EXISTS targets (
    scope        VARCHAR NOT NULL,         -- rep, team, company, product
    scope_id     VARCHAR NOT NULL,         -- rep_id, team name, product, or '' for company
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,            -- inclusive
    measure      VARCHAR NOT NULL,         -- revenue, deals, activities
    value        DOUBLE NOT NULL,
    batch_id     INTEGER                 -- key: (scope, scope_id, period_start, period_end, measure)
);

CREATE TABLE IF NOT EXISTS deal_snapshots (
    batch_id      INTEGER NOT NULL,
    snapshot_date DATE NOT NULL,
    deal_id       VARCHAR NOT NULL,
    stage         VARCHAR,
    status        VARCHAR,
    amount        DOUBLE,
    close_date    DATE,
    owner_rep_id  VARCHAR
);

-- Derived (rebuilt by data/store.py after every import, undo and clear that can change it; never
-- written by hand): activities counted per rep, day and account segment (the account's size), with
-- the kind lower-cased and trimmed, unknown kinds as "other". Views read these counts instead of
-- scanning every activity; `Store.activity_daily_in_scope` sums them over the scope.
CREATE TABLE IF NOT EXISTS activity_daily (
    rep_id              VARCHAR,
    day                 DATE,
    segment             VARCHAR,
    activities          BIGINT,
    activities_call     BIGINT,
    activities_email    BIGINT,
    activities_meeting  BIGINT,
    activities_visit    BIGINT,
    activities_task     BIGINT,
    activities_other    BIGINT
);

-- Derived: activities counted per rep, account (their own; for those without one, the deal's id is
-- kept instead, to be linked at query time) and month of occurrence (NULL when undated), with the
-- last day of each group; the Customers view's coverage reads these instead of every activity
-- (`Store.activity_coverage_in_scope`). Kept in month order so a period skips the other months.
CREATE TABLE IF NOT EXISTS activity_months (
    rep_id      VARCHAR,
    account_id  VARCHAR,
    deal_id     VARCHAR,
    month       DATE,
    activities  BIGINT,
    last_day    DATE
);

-- Was derived (every stage-history row with the next entry of its deal, from which stage_facts was built):
-- stage_facts is now built from stage_history in one windowed pass, so a file written before keeps no copy.
DROP TABLE IF EXISTS stage_intervals;

-- Derived: one row per deal and stage its history shows, from `stage_history`: the first and the
-- last entry, the days of the stays that ended with a later entry (each clipped at zero, summed)
-- and how many, and whether the deal's last history row is in this stage (that stay ends when a
-- won or lost deal closes). Funnels, time in stage and stalled deals read it instead of the rows.
CREATE TABLE IF NOT EXISTS stage_facts (
    deal_id    VARCHAR,
    stage      VARCHAR,
    first_at   TIMESTAMP,
    last_at    TIMESTAMP,
    mid_days   BIGINT,
    mid_n      BIGINT,
    is_last    BOOLEAN
);

-- Derived: one row per deal of `stage_facts`: the furthest open stage its history shows (hist_idx) and
-- the furthest it entered in order from the first on (strict_idx: first entries never earlier than the
-- previous stage's), as indexes of the pipeline's open stages in order (`metrics._common.open_stages`
-- of `stages`; both null when the history shows none), so the bottleneck's and the funnel's reach read
-- one row per deal. Rebuilt for the deals an import or undo touches, and whole when `stages` changes.
CREATE TABLE IF NOT EXISTS deal_reach (
    deal_id    VARCHAR,
    hist_idx   BIGINT,
    strict_idx BIGINT
);

-- Derived: from `stage_facts` and the deals, each deal's completed days in each stage its history shows
-- (the stays between consecutive entries, and a won or lost deal's last stay up to its close day, each
-- clipped at zero, summed per deal and stage), counted per deal owner, stage and days: the stalled
-- thresholds' time in stage for everyone or a set of owners without reading 5M facts. Rebuilt whole
-- when the deals or the stage history change.
CREATE TABLE IF NOT EXISTS stay_counts (
    owner_rep_id VARCHAR,
    stage        VARCHAR,
    days         BIGINT,
    deals        BIGINT
);

-- Derived: from the snapshots, the deals, their stage history and the pipeline, the rows of each snapshot
-- date (the latest upload per date and deal) counted per date, deleted (the deal is no longer in the deals
-- table) or not, owner (the deals table's, else the snapshot's), furthest open stage reached by that date
-- and age bucket at close (both NULL for a row not closed): the closed deals, the won ones and the rows of
-- deals the deals table has closed by then. The Forecast and Meeting pages' past accuracy learns each
-- past snapshot's historical win rates from these instead of every snapshot row. Rebuilt whole when the
-- deals, the snapshots, the stage history or the pipeline change.
CREATE TABLE IF NOT EXISTS snapshot_training (
    snapshot_date DATE,
    deleted       BOOLEAN,
    owner_rep_id  VARCHAR,
    max_idx       BIGINT,
    bucket        BIGINT,
    deals         BIGINT,
    won           BIGINT,
    shown         BIGINT
);

-- Derived: from the snapshots, one row per deal they show: the last snapshot date at which it was open
-- (the latest upload per date and deal; NULL when never open), `metrics.quality.last_open_snapshots`.
-- The data-quality check for closes entered late (Data and Meeting pages) reads one row per deal instead
-- of every snapshot row. Rebuilt whole when the snapshots change.
CREATE TABLE IF NOT EXISTS snapshot_last_open (
    deal_id   VARCHAR,
    last_open DATE
);

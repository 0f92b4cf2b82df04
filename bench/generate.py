"""Seeded synthetic CRM exports for the benchmark, cached under bench/.cache/<scale>/.

The company is the demo company of `data.demo.generate` scaled up (it is vectorised: 1M deals and
10M activities take about 30 s and 4.5 GB on a 2-core machine): reps in five teams with managers,
Pareto-skewed accounts, deals whose stage history has drop-off and lognormal stage durations,
activities clustered around each deal's stage changes and written in time order, and monthly
revenue targets per rep, team and company.

Two things are added on top of the demo company, both of which real exports have:
- stage regressions: the demo's funnel writes about 4 history rows per deal; a share of deals go
  back one stage and forward again (Proposal -> Needs Analysis -> Proposal), which brings the stage
  history to the scale's row count (5 per deal) without changing any deal's current stage;
- unique owner names: the demo's name pools run out beyond 40 reps (several reps would share a
  display name); such names get the rep id appended, so exports that name owners stay unambiguous.

The files are written the way CRMs export them: English report headers (Salesforce/HubSpot
style), ISO dates, owners by name in the deals report and by id in the activity export, and a
deals workbook (XLSX, first `xlsx_rows` deals) written with xlsxwriter in constant-memory mode.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from data import clock
from data.demo import STAGES, generate

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
FORMAT_VERSION = 4          # bump when the files' shape changes: older caches are regenerated


@dataclass(frozen=True)
class Scale:
    name: str
    n_deals: int
    n_accounts: int
    n_reps: int
    n_activities: int
    n_stage_rows: int
    xlsx_rows: int
    n_snapshots: int = 8


SCALES: dict[str, Scale] = {
    "small": Scale("small", 20_000, 2_000, 40, 200_000, 100_000, 20_000),
    "1m": Scale("1m", 1_000_000, 50_000, 200, 10_000_000, 5_000_000, 100_000),
}
SEED = 7

# file name -> import kind, in the order a new user would upload them
FILES: dict[str, str] = {
    "reps.csv": "reps",
    "accounts.csv": "accounts",
    "deals.csv": "deals",
    "stage_history.csv": "stage_history",
    "activities.csv": "activities",
    "targets.csv": "targets",
    "leads.csv": "leads",
}
XLSX = "deals.xlsx"
SNAPSHOTS = "snapshots.parquet"   # the weekly pipeline snapshots before as_of (earlier deals uploads)

# Headers as the CRMs write them, with the column types DuckDB's COPY gets (the import floor).
DEALS_COLUMNS: dict[str, str] = {
    "Opportunity ID": "VARCHAR", "Opportunity Name": "VARCHAR", "Account ID": "VARCHAR",
    "Account Name": "VARCHAR", "Opportunity Owner": "VARCHAR", "Product": "VARCHAR", "Amount": "DOUBLE",
    "Currency": "VARCHAR", "Stage": "VARCHAR", "Probability (%)": "DOUBLE", "Forecast Category": "VARCHAR",
    "Lead Source": "VARCHAR", "Created Date": "DATE", "Close Date": "DATE", "Closed Date": "DATE",
    "Loss Reason": "VARCHAR",
}
STAGE_HISTORY_COLUMNS: dict[str, str] = {
    "Opportunity ID": "VARCHAR", "Stage Name": "VARCHAR", "Stage Entered": "TIMESTAMP",
}
ACTIVITIES_COLUMNS: dict[str, str] = {
    "Activity ID": "VARCHAR", "Owner ID": "VARCHAR", "Activity Type": "VARCHAR", "Activity Date Time": "TIMESTAMP",
    "Account ID": "VARCHAR", "Opportunity ID": "VARCHAR", "Duration (min)": "DOUBLE", "Outcome": "VARCHAR",
}
COLUMN_TYPES: dict[str, dict[str, str]] = {
    "deals.csv": DEALS_COLUMNS, "stage_history.csv": STAGE_HISTORY_COLUMNS, "activities.csv": ACTIVITIES_COLUMNS,
}
# canonical table the floor COPY loads each file into (same column types as data/schema.sql)
FLOOR_TABLE: dict[str, str] = {"deals.csv": "deals", "stage_history.csv": "stage_history",
                               "activities.csv": "activities"}

_TS = "%Y-%m-%d %H:%M:%S"
_DAY = "%Y-%m-%d"


@dataclass
class Meta:
    scale: str
    seed: int
    as_of: str
    format_version: int
    rows: dict[str, int]
    bytes: dict[str, int]
    generate_s: float
    write_s: float

    @property
    def as_of_date(self) -> date:
        return date.fromisoformat(self.as_of)


def cache_dir(scale: str) -> Path:
    return CACHE_DIR / scale


def load_meta(scale: str) -> Meta | None:
    path = cache_dir(scale) / "meta.json"
    if not path.exists():
        return None
    meta = Meta(**json.loads(path.read_text()))
    folder = cache_dir(scale)
    if meta.format_version != FORMAT_VERSION or not all((folder / f).exists() for f in [*FILES, XLSX, SNAPSHOTS]):
        return None
    return meta


def ensure(scale: str, *, as_of: date | None = None, log=print) -> Meta:
    """The scale's files, generated once (re-runs find them in the cache)."""
    meta = load_meta(scale)
    if meta is not None and (as_of is None or meta.as_of_date == as_of):
        return meta
    return write(SCALES[scale], as_of or clock.today(), log=log)


# ---------------------------------------------------------------------------------------------- data
def regress_stages(history: pl.DataFrame, target_rows: int, seed: int) -> pl.DataFrame:
    """Add stage regressions until the history has `target_rows` rows (two rows per regression).

    A regression sits between two consecutive history rows (a, then b) of one deal where `a` is an
    open stage after the first: the deal goes back to the stage before `a` and re-enters `a`, both
    strictly between a's and b's timestamps. The deal's last row, hence its current stage, is kept.
    """
    need = (target_rows - history.height) // 2
    if need <= 0:
        return history
    order = {s: i for i, s in enumerate(STAGES)}
    h = history.sort("deal_id", "entered_at").with_columns(
        pl.col("stage").replace_strict(order, return_dtype=pl.Int8).alias("_idx"),
        pl.col("deal_id").shift(-1).alias("_next_deal"),
        pl.col("entered_at").shift(-1).alias("_next_at"),
    )
    open_last = len(STAGES) - 3          # index of the last open stage (Negotiation)
    gap = (pl.col("_next_at") - pl.col("entered_at")).dt.total_seconds()
    eligible = h.filter(
        (pl.col("_next_deal") == pl.col("deal_id")) & pl.col("_idx").is_between(1, open_last) & (gap >= 600)
    )
    rng = np.random.default_rng([seed, 99])
    take = min(need, eligible.height)
    picked = eligible[np.sort(rng.choice(eligible.height, size=take, replace=False))]
    span = (picked["_next_at"] - picked["entered_at"]).dt.total_seconds().to_numpy()
    f1 = rng.uniform(0.15, 0.45, take)
    f2 = rng.uniform(0.55, 0.9, take)
    back = picked["entered_at"] + pl.Series(np.round(span * f1).astype("int64") * 1_000_000).cast(pl.Duration("us"))
    again = picked["entered_at"] + pl.Series(np.round(span * f2).astype("int64") * 1_000_000).cast(pl.Duration("us"))
    prev_stage = pl.Series(list(STAGES), dtype=pl.String).gather(picked["_idx"].cast(pl.Int64) - 1)
    extra = pl.concat([
        pl.DataFrame({"deal_id": picked["deal_id"], "stage": prev_stage, "entered_at": back}),
        pl.DataFrame({"deal_id": picked["deal_id"], "stage": picked["stage"], "entered_at": again}),
    ]).with_columns(inferred=pl.lit(False))
    return pl.concat([history, extra.select(history.columns)]).sort("entered_at", "deal_id", maintain_order=True)


def unique_names(reps: pl.DataFrame) -> pl.DataFrame:
    """Reps whose display name is shared get their id appended ("员工1 (R012)")."""
    dup = pl.col("name").is_duplicated()
    return reps.with_columns(
        pl.when(dup).then(pl.concat_str([pl.col("name"), pl.lit(" ("), pl.col("rep_id"), pl.lit(")")]))
        .otherwise(pl.col("name")).alias("name")
    )


def _day(col: str) -> pl.Expr:
    return pl.col(col).dt.strftime(_DAY)


def deals_export(deals: pl.DataFrame, reps: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """A Salesforce opportunity report: owners and accounts by name, probability in percent."""
    owner = reps.select(pl.col("rep_id").alias("owner_rep_id"), pl.col("name").alias("_owner"))
    account = accounts.select("account_id", pl.col("name").alias("_account"))
    d = deals.join(owner, on="owner_rep_id", how="left", maintain_order="left").join(
        account, on="account_id", how="left", maintain_order="left")
    return d.select(
        pl.col("deal_id").alias("Opportunity ID"), pl.col("name").alias("Opportunity Name"),
        pl.col("account_id").alias("Account ID"), pl.col("_account").alias("Account Name"),
        pl.col("_owner").alias("Opportunity Owner"), pl.col("product").alias("Product"),
        pl.col("amount").alias("Amount"), pl.col("currency").alias("Currency"), pl.col("stage").alias("Stage"),
        (pl.col("probability") * 100).round(0).alias("Probability (%)"),
        pl.col("forecast_category").alias("Forecast Category"), pl.col("source").alias("Lead Source"),
        pl.col("created_on").alias("Created Date"), pl.col("close_date").alias("Close Date"),
        pl.col("closed_on").alias("Closed Date"), pl.col("lost_reason").alias("Loss Reason"),
    )


def _csv(frame: pl.DataFrame, path: Path) -> None:
    frame.write_csv(path, date_format=_DAY, datetime_format=_TS, float_precision=None)


def write_xlsx(deals: pl.DataFrame, path: Path) -> None:
    """The deals report as an Excel workbook (real date cells), written row by row in constant memory."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("Opportunities")
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    cols = deals.columns
    for j, name in enumerate(cols):
        ws.write_string(0, j, name)
    dates = {j for j, c in enumerate(cols) if deals.schema[c] == pl.Date}
    epoch = datetime(1970, 1, 1)
    for i, row in enumerate(deals.iter_rows(), start=1):
        for j, value in enumerate(row):
            if value is None:
                continue
            if j in dates:
                ws.write_datetime(i, j, epoch + timedelta(days=(value - date(1970, 1, 1)).days), day)
            elif isinstance(value, str):
                ws.write_string(i, j, value)
            else:
                ws.write_number(i, j, value)
    wb.close()


def write(scale: Scale, as_of: date, *, log=print) -> Meta:
    """Generate the company and write every export of the scale into its cache folder."""
    folder = cache_dir(scale.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():           # a new data set invalidates every derived database
        if old.is_file():
            old.unlink()
    log(f"generating {scale.name}: {scale.n_deals:,} deals, {scale.n_activities:,} activities (as of {as_of}) ...")
    t0 = time.perf_counter()
    demo = generate(SEED, as_of, n_deals=scale.n_deals, n_accounts=scale.n_accounts, n_reps=scale.n_reps,
                    n_activities=scale.n_activities, n_snapshots=scale.n_snapshots)
    reps = unique_names(demo.reps)
    history = regress_stages(demo.stage_history, scale.n_stage_rows, SEED)
    gen_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    deals = deals_export(demo.deals, reps, demo.accounts)
    _csv(deals, folder / "deals.csv")
    write_xlsx(deals.head(scale.xlsx_rows), folder / XLSX)
    del deals
    _csv(reps.select(
        pl.col("rep_id").alias("User ID"), pl.col("name").alias("Full Name"), pl.col("email").alias("Email"),
        pl.col("team").alias("Team"), pl.col("manager_id").alias("Manager ID"), pl.col("region").alias("Region"),
        pl.col("hired_on").alias("Hire Date"), pl.col("left_on").alias("Termination Date"),
    ), folder / "reps.csv")
    _csv(demo.accounts.select(
        pl.col("account_id").alias("Account ID"), pl.col("name").alias("Account Name"),
        pl.col("industry").alias("Industry"), pl.col("region").alias("Region"), pl.col("size").alias("Segment"),
        pl.col("owner_rep_id").alias("Account Owner"), pl.col("created_on").alias("Created Date"),
    ), folder / "accounts.csv")
    _csv(history.select(
        pl.col("deal_id").alias("Opportunity ID"), pl.col("stage").alias("Stage Name"),
        pl.col("entered_at").alias("Stage Entered"),
    ), folder / "stage_history.csv")
    _csv(demo.activities.select(
        pl.col("activity_id").alias("Activity ID"), pl.col("rep_id").alias("Owner ID"),
        pl.col("kind").alias("Activity Type"), pl.col("occurred_at").alias("Activity Date Time"),
        pl.col("account_id").alias("Account ID"), pl.col("deal_id").alias("Opportunity ID"),
        pl.col("duration_min").alias("Duration (min)"), pl.col("outcome").alias("Outcome"),
    ), folder / "activities.csv")
    earlier = demo.snapshots.filter(pl.col("snapshot_date") < as_of)
    earlier.write_parquet(folder / SNAPSHOTS)
    t = demo.targets
    _csv(t.select(
        pl.col("period_start").dt.strftime("%Y-%m").alias("Month"), pl.col("scope").alias("Scope"),
        pl.when(pl.col("scope") == "rep").then(pl.col("scope_id")).alias("Owner"),
        pl.when(pl.col("scope") == "team").then(pl.col("scope_id")).alias("Team"),
        pl.col("measure").alias("Measure"), pl.col("value").alias("Target"),
    ), folder / "targets.csv")
    _csv(demo.leads.select(
        pl.col("lead_id").alias("Lead ID"), pl.col("created_on").alias("Created Date"),
        pl.col("source").alias("Lead Source"), pl.col("owner_rep_id").alias("Lead Owner"),
        pl.col("status").alias("Lead Status"), pl.col("converted_on").alias("Converted Date"),
        pl.col("deal_id").alias("Converted Opportunity ID"),
    ), folder / "leads.csv")
    rows = {"reps.csv": reps.height, "accounts.csv": demo.accounts.height, "deals.csv": demo.deals.height,
            "stage_history.csv": history.height, "activities.csv": demo.activities.height,
            "targets.csv": demo.targets.height, "leads.csv": demo.leads.height,
            XLSX: min(scale.xlsx_rows, demo.deals.height), SNAPSHOTS: earlier.height}
    meta = Meta(scale.name, SEED, as_of.isoformat(), FORMAT_VERSION, rows,
                {f: (folder / f).stat().st_size for f in rows}, round(gen_s, 2), round(time.perf_counter() - t1, 2))
    (folder / "meta.json").write_text(json.dumps(asdict(meta), indent=1))
    log(f"  generated in {gen_s:.1f}s, written in {meta.write_s:.1f}s: "
        + ", ".join(f"{f} {n:,} rows / {meta.bytes[f] / 2**20:.0f} MB" for f, n in rows.items()))
    return meta

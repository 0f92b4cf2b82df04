"""Property: whatever a deals file holds, every data row is stored, rejected or skipped, the stored
rows are exactly the valid first occurrences, and a re-upload changes nothing."""
from __future__ import annotations

import csv
import io
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.ingest.pipeline import import_file
from data.store import Store

IDS = st.sampled_from(["1", "2", "3", "007", "12", ""])
OWNERS = st.sampled_from(["Ann", "Bob", "王伟", ""])
STAGES = st.sampled_from(["Prospecting", "Closed Won", "Closed Lost", "Negotiation/Review"])
AMOUNTS = st.sampled_from(["100", "1,200.50", "$3,000", "", "abc", "-5", "0"])
DATES = st.sampled_from(["2024-01-31", "2024-02-30", "", "31/12/2024", "not a date", "2024-06-01"])
ROW = st.one_of(st.tuples(IDS, OWNERS, STAGES, AMOUNTS, DATES), st.just(None))   # None = a blank line

VALID_DATE = {"2024-01-31", "2024-06-01", "31/12/2024", ""}
VALID_AMOUNT = {"100", "1,200.50", "$3,000", "", "-5", "0"}


def render(rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["Deal ID", "Owner", "Stage", "Amount", "Close Date"])
    for r in rows:
        if r is None:
            buf.write(",,,,\n")
        else:
            w.writerow(r)
    return buf.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=25))
def test_every_row_is_accounted_for(tmp_path_factory, rows):
    if all(r is None for r in rows):
        rows = rows + [("1", "Ann", "Prospecting", "100", "2024-01-31")]
    # a trailing blank line is dropped by any CSV reader; keep data rows last so counts are exact
    while rows and rows[-1] is None:
        rows.pop()
    path = tmp_path_factory.mktemp("prop") / "deals.csv"
    path.write_bytes(render(rows))
    store = Store(path.with_suffix(".duckdb"))
    try:
        data_rows = [r for r in rows if r is not None]
        # "31/12/2024" decides the column day-first, which makes no other value invalid here
        valid = [r for r in data_rows if r[0] and r[1] and r[3] in VALID_AMOUNT and r[4] in VALID_DATE]
        first_valid_ids = list(dict.fromkeys(r[0] for r in valid))
        try:
            res = import_file(store, path, kind="deals", today=date(2025, 1, 1))
        except Exception as exc:  # nothing valid: the file is refused and nothing is written
            assert not first_valid_ids, exc
            assert store.is_empty()
            return
        assert res.rows_read == res.inserted + res.updated + res.unchanged + res.rejected + res.skipped
        assert res.skipped == sum(1 for r in rows if r is None)
        assert res.rows_read == len(rows)
        stored = sorted(store.frame("deals")["deal_id"].to_list())
        assert stored == sorted(first_valid_ids)
        assert res.inserted == len(first_valid_ids)
        again = import_file(store, path, kind="deals")
        assert (again.inserted, again.updated) == (0, 0)
    finally:
        store.close()


KEYS = st.sampled_from(["a", "b", "c", None])


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.tuples(KEYS, KEYS, st.sampled_from([1, 2, None])), max_size=30))
def test_duplicates_keep_the_first_row_of_each_key(keys):
    """Within one file the first row of each key is kept (a missing key part counts as one value),
    every later one is rejected naming the first one's line: checked against a plain dict."""
    import json

    import polars as pl

    from data.ingest.pipeline import LINE, _dedupe

    rows = pl.DataFrame({"deal_id": [k[0] for k in keys], "stage": [k[1] for k in keys],
                         "entered_at": [k[2] for k in keys], LINE: list(range(2, len(keys) + 2))},
                        schema={"deal_id": pl.String, "stage": pl.String, "entered_at": pl.Int64, LINE: pl.Int64})
    first_line: dict[tuple, int] = {}
    kept, rejected = [], []
    for line, key in enumerate(keys, start=2):
        if key in first_line:
            rejected.append((line, first_line[key]))
        else:
            first_line[key] = line
            kept.append(line)
    keep, rej = _dedupe(rows, "stage_history", "Deal ID")
    assert keep[LINE].to_list() == kept
    got = [(line, json.loads(p)["first_line"]) for line, p in zip(rej["line"], rej["params"])] if rej.height else []
    assert sorted(got) == rejected
    assert (set(rej["reason_code"]) if rej.height else {"duplicate_id"}) == {"duplicate_id"}

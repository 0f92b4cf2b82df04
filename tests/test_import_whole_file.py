"""Decisions of an import that depend on the whole file, pinned on generated activities and deals exports.

A faster import that reads a big file in pieces (issue #6: bounded memory for 10M activities) must
keep every one of them; each is set up here so that a piece-by-piece reading would get it wrong:
the day/month order of ambiguous dates is decided by rows near the end of the file, and the rows
that vote the other way are rejected; the decimal separator of a duration is decided late too, and an
ambiguous early value follows it; a duplicate id names the line of its first row thousands of lines
earlier, while a repeat of an id whose first row was rejected is stored; owners and accounts named only
by rejected rows are still created; a footer is skipped only in the trailing block (the same text
in the middle of the file is a data row, rejected); a blank line shifts every later line number. In
the deals file the amounts' decimal comma and the probabilities' 0..100 scale are decided by late rows.
The expectations are built with the file (an oracle), not read back from the importer.
"""
from __future__ import annotations

import json
import random
from datetime import datetime

import pytest

from data.ingest.pipeline import import_file, prepare
from data.store import Store

HEADER = ["Activity ID", "Owner ID", "Activity Type", "Activity Date Time", "Account ID", "Opportunity ID",
          "Duration (min)", "Outcome"]
N = 3000
SEP = ";"  # a European export: the decimal comma needs another delimiter


def _generate(seed: int):
    """The file's lines and what importing it must give."""
    rng = random.Random(seed)
    lines: list[str] = [SEP.join(HEADER)]
    stored: dict[str, tuple] = {}
    rejects: dict[int, tuple[str, str, dict]] = {}
    skipped: list[tuple[int, str]] = []
    first_good_line: dict[str, int] = {}
    owners: set[str] = set()
    accounts: set[str] = set()
    special = {
        7: "missing_owner", 30: "month_vote", 40: "bad_number_new_owner", 50: "bad_date", 60: "two_problems",
        12: "ambiguous_duration", N - 10: "day_vote", N - 20: "day_vote", N - 5: "comma_vote",
        N - 2: "repeat_good", N - 3: "repeat_rejected",
    }
    for i in range(N):
        line = len(lines) + 1
        if i == 100:
            lines.append("")
            skipped.append((line, "blank"))
            line += 1
        if i == 1500:
            lines.append("Generated on 2024-01-01" + SEP * 7)
            rejects[line] = ("Owner ID", "missing_value", {"column": "Owner ID", "value": ""})
            line += 1
        what = special.get(i, "")
        act_id = f"A{i:05d}"
        if what == "repeat_good":
            act_id = "A00005"
        elif what == "repeat_rejected":
            act_id = "A00050"
        owner = "R99" if what == "bad_number_new_owner" else f"R{rng.randint(1, 5)}"
        if what in ("missing_owner", "two_problems"):
            owner = ""
        kind = rng.choice(["call", "email", "meeting"])
        day, month = rng.randint(1, 12), rng.randint(1, 12)
        hour, minute = rng.randint(0, 23), rng.randint(0, 59)
        if what == "day_vote":
            day = rng.randint(13, 28)
        when = f"{day:02d}/{month:02d}/2024 {hour:02d}:{minute:02d}"
        if what == "month_vote":
            when = f"{month:02d}/25/2024 {hour:02d}:{minute:02d}"        # month-first: invalid once day-first
        if what in ("bad_date", "two_problems"):
            when = "not a date"
        account = f"C{rng.randint(1, 40)}" if i != 40 else "C999"
        minutes = str(rng.randint(1, 90))
        duration = float(minutes)
        if what == "ambiguous_duration":
            minutes, duration = "1,250", 1.25                            # follows the late comma vote
        if what == "comma_vote":
            minutes, duration = "2,5", 2.5
        if what == "bad_number_new_owner":
            minutes = "abc"
        deal = rng.choice(["", "", "D1", "D2"])
        lines.append(SEP.join([act_id, owner, kind, when, account, deal, minutes, "Connected"]))
        if owner:
            owners.add(owner)
        accounts.add(account)
        if what in ("missing_owner", "two_problems"):
            rejects[line] = ("Owner ID", "missing_value", {"column": "Owner ID", "value": ""})
        elif what in ("month_vote", "bad_date"):
            rejects[line] = ("Activity Date Time", "bad_date", {"column": "Activity Date Time", "value": when})
        elif what == "bad_number_new_owner":
            rejects[line] = ("Duration (min)", "bad_number", {"column": "Duration (min)", "value": "abc"})
        elif act_id in first_good_line:
            rejects[line] = ("Activity ID", "duplicate_id", {"value": act_id, "first_line": first_good_line[act_id]})
        else:
            first_good_line[act_id] = line
            stored[act_id] = (owner, account, deal or None, kind, datetime(2024, month, day, hour, minute),
                              duration)
    footer = len(lines) + 1
    lines.append("Grand Total;3000" + SEP * 6)
    skipped.append((footer, "footer"))
    expected = {
        "stored": stored, "rejects": rejects, "skipped": skipped, "rows_read": len(lines) - 1,
        "owners": len(owners), "accounts": len(accounts),
    }
    return ("\n".join(lines) + "\n").encode("utf-8"), expected


@pytest.mark.parametrize("seed", [1, 2])
def test_decisions_that_need_the_whole_file(tmp_path, seed):
    data, want = _generate(seed)
    store = Store(tmp_path / "s.duckdb")
    try:
        res = import_file(store, data, "activities.csv")
        assert res.kind == "activities"
        assert (res.rows_read, res.inserted, res.updated, res.unchanged) == (
            want["rows_read"], len(want["stored"]), 0, 0)
        assert (res.rejected, res.skipped) == (len(want["rejects"]), len(want["skipped"]))
        assert res.rows_read == res.inserted + res.rejected + res.skipped
        assert prepare(data, "activities.csv").raw.skipped == want["skipped"]

        rej = store.frame("rejected_rows").sort("line")
        got = {line: (col, code, json.loads(params)) for line, col, code, params in
               rej.select("line", "column_name", "reason_code", "params").iter_rows()}
        assert got == want["rejects"]
        assert [r["line"] for r in res.rejects] == sorted(want["rejects"])
        assert rej.filter(rej["line"] == 9)["raw"].to_list()[0].startswith("A00007;;")

        rows = store.frame("activities")
        stored = {r["activity_id"]: (r["rep_id"], r["account_id"], r["deal_id"], r["kind"], r["occurred_at"],
                                     r["duration_min"]) for r in rows.iter_rows(named=True)}
        assert stored == want["stored"]

        notes = [tuple(n.values()) for n in json.loads(store.imports_frame()["notes"][0])]
        codes = [c for c, _ in notes]
        assert ("date_order_from_data", {"column": "Activity Date Time", "order": "day-first"}) in notes
        assert ("owners_created", {"count": want["owners"]}) in notes
        assert ("accounts_created", {"count": want["accounts"]}) in notes
        assert codes.index("date_order_from_data") < codes.index("owners_created") < codes.index("accounts_created")
        assert store.frame("reps").height == want["owners"]
        assert store.frame("accounts").height == want["accounts"]
    finally:
        store.close()


DEAL_HEADER = ["Deal ID", "Owner", "Account", "Amount", "Stage", "Probability", "Created Date", "Close Date"]
STAGES = {"Prospecting": "open", "Proposal": "open", "Closed Won": "won", "Closed Lost": "lost"}


def _generate_deals(seed: int, n: int = 2000):
    """A deals export whose amount separator and probability scale are decided by its last rows."""
    rng = random.Random(seed)
    lines = [SEP.join(DEAL_HEADER)]
    stored: dict[str, tuple] = {}
    rejects: dict[int, tuple[str, str, dict]] = {}
    first_line: dict[str, int] = {}
    for i in range(n):
        line = len(lines) + 1
        deal = f"D{i:05d}" if i != n - 4 else "D00010"
        amount_text = str(rng.randint(1, 90) * 100)
        amount = float(amount_text)
        if i == 15:
            amount_text, amount = "1.250", 1250.0        # thousands dot: the late decimal comma decides it
        if i == n - 8:
            amount_text, amount = "99,5", 99.5
        prob_text = rng.choice(["0", "1"])
        prob = float(prob_text) / 100                     # the 0..100 scale, decided by "40" below
        if i == n - 6:
            prob_text, prob = "40", 0.4
        stage = rng.choice(list(STAGES))
        created = f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        close = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if i == 20:
            prob_text = "-5"                              # negative on any scale (and no vote on it)
        owner, account = f"R{rng.randint(1, 4)}", f"C{rng.randint(1, 30)}"
        lines.append(SEP.join([deal, owner, account, amount_text, stage, prob_text, created, close]))
        if i == 20:
            rejects[line] = ("Probability", "bad_probability", {"column": "Probability", "value": "-5"})
        elif deal in first_line:
            rejects[line] = ("Deal ID", "duplicate_id", {"value": deal, "first_line": first_line[deal]})
        else:
            first_line[deal] = line
            closed = datetime.strptime(close, "%Y-%m-%d").date() if STAGES[stage] != "open" else None
            stored[deal] = (owner, account, amount, stage, STAGES[stage], prob,
                            datetime.strptime(created, "%Y-%m-%d").date(),
                            datetime.strptime(close, "%Y-%m-%d").date(), closed)
    return ("\n".join(lines) + "\n").encode("utf-8"), stored, rejects, len(lines) - 1


@pytest.mark.parametrize("seed", [3, 4])
def test_deal_decisions_that_need_the_whole_file(tmp_path, seed):
    from datetime import date

    data, want, want_rejects, rows_read = _generate_deals(seed)
    store = Store(tmp_path / "s.duckdb")
    try:
        res = import_file(store, data, "deals.csv", as_of=date(2025, 6, 30))
        assert res.kind == "deals"
        assert (res.rows_read, res.inserted, res.rejected, res.skipped) == (
            rows_read, len(want), len(want_rejects), 0)
        rej = store.frame("rejected_rows")
        got = {line: (col, code, json.loads(params)) for line, col, code, params in
               rej.select("line", "column_name", "reason_code", "params").iter_rows()}
        assert got == want_rejects
        deals = store.frame("deals")
        stored = {r["deal_id"]: (r["owner_rep_id"], r["account_id"], r["amount"], r["stage"], r["status"],
                                 r["probability"], r["created_on"], r["close_date"], r["closed_on"])
                  for r in deals.iter_rows(named=True)}
        assert stored.keys() == want.keys()
        for key, values in want.items():
            assert stored[key][:5] == values[:5] and stored[key][6:] == values[6:], key
            assert stored[key][5] == pytest.approx(values[5], abs=1e-12), key
        notes = {c: p for c, p in (tuple(n.values()) for n in json.loads(store.imports_frame()["notes"][0]))}
        assert notes["snapshot_date"] == {"date": "2025-06-30", "source": "as_of_option"}
        assert notes["owners_created"] == {"count": 4}
        assert notes["stages_learned"]["stages"].split(" > ")[-2:] == ["Closed Won", "Closed Lost"]
        snap = store.frame("deal_snapshots")
        assert snap.height == len(want) and set(snap["deal_id"].to_list()) == want.keys()
    finally:
        store.close()

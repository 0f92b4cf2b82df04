"""Who sees what, page by page: every role of the roles file (admin, manager of team A, a rep named by
id, a rep named by name, viewer) and an unmapped person open every page of the router on a small
hand-built company with known numbers; the numbers, names, tables and downloads each one gets are
checked exactly. The identity provider is replaced by an injected user (as in test_auth.py).

The company (all deals close in the current quarter; golden numbers by hand):

    team A: R1 Ann   won 1000 (Account 1), won 3000 (Account 2)          open —
            R2 Bob   lost 500 (Account 3)                                open 1500 Proposal (Account 6)
    team B: R3 Cem   won 2000 (Account 4), lost 800 (Account 7)          open 4000 Demo (Account 5)

    everyone: won 6000 in 3 deals of 5 closed (60 %);   team A: 4000, 2 of 3;   Cem: 2000, 1 of 2
"""
from __future__ import annotations

import io
import re
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from data import clock
from tests.store_builder import build, stages_frame
from tests.test_auth import configure_sign_in
from tests.test_app import (  # noqa: F401  (fixtures: AppTest quirks)
    _OUTSIDE_LANG, language_outside_runs, navigation_only,
)
from ui.filters import quarter_start

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
TODAY = clock.today()
QS = quarter_start(TODAY)
MID = QS + (TODAY - QS) // 2
QE = date(QS.year + (QS.month == 10), (QS.month + 2) % 12 + 1, 1) - timedelta(days=1)

ROLES = """
[users."boss@x.io"]
role = "admin"
[users."mgr@x.io"]
role = "manager"
team = "A"
[users."cem@x.io"]
role = "rep"
rep = "R3"
[users."bob@x.io"]
role = "rep"
rep = "Bob"
[users."look@x.io"]
role = "viewer"
"""
REP_NAMES = {"R1": "Ann", "R2": "Bob", "R3": "Cem"}
ACCOUNTS = {f"AC{i}": f"Account {i}" for i in range(1, 8)}


def _day(d: date) -> str:
    return d.isoformat()


def _deal(i: int, rep: str, status: str, stage: str, amount: float, created: date, closed: date | None = None,
          close_date: date | None = None) -> dict:
    return {"deal_id": f"D{i}", "account_id": f"AC{i}", "owner_rep_id": rep, "name": f"Deal {i}", "amount": amount,
            "currency": "USD", "stage": stage, "status": status, "created_on": _day(created),
            "closed_on": _day(closed) if closed else None, "close_date": _day(close_date or closed),
            "product": "Widget" if i % 2 else "Gadget"}


def company(path: Path) -> Path:
    c0 = QS - timedelta(days=30)
    deals = [
        _deal(1, "R1", "won", "Won", 1000, c0, MID),
        _deal(2, "R1", "won", "Won", 3000, c0, MID),
        _deal(3, "R2", "lost", "Lost", 500, c0, MID),
        _deal(4, "R3", "won", "Won", 2000, c0, MID),
        _deal(5, "R3", "open", "Demo", 4000, c0, close_date=TODAY + timedelta(days=20)),
        _deal(6, "R2", "open", "Proposal", 1500, c0, close_date=TODAY + timedelta(days=10)),
        _deal(7, "R3", "lost", "Lost", 800, c0, MID),
    ]
    before = [dict(d, status="open", stage="Demo", closed_on=None, close_date=_day(TODAY + timedelta(days=5)))
              for d in deals]
    history = [(d["deal_id"], "Lead", c0) for d in deals] + [(d["deal_id"], "Demo", c0 + timedelta(days=5)) for d in deals]
    history += [(d["deal_id"], d["stage"], MID) for d in deals if d["stage"] != "Demo"]
    span = {"period_start": _day(QS), "period_end": _day(QE), "measure": "revenue"}
    return build(
        path,
        stages=stages_frame(["Lead", "Demo", "Proposal", "Won", "Lost"], won="Won", lost="Lost"),
        reps=[{"rep_id": r, "name": n, "team": "B" if r == "R3" else "A"} for r, n in REP_NAMES.items()],
        accounts=[{"account_id": k, "name": v, "size": "Small"} for k, v in ACCOUNTS.items()],
        deal_snapshots=[(TODAY - timedelta(days=7), before), (TODAY, deals)],
        history=[(d, s, _day(at)) for d, s, at in history],
        targets=[{"scope": "company", "scope_id": "", "value": 10000.0, **span},
                 {"scope": "team", "scope_id": "A", "value": 7000.0, **span},
                 {"scope": "team", "scope_id": "B", "value": 4000.0, **span},
                 {"scope": "rep", "scope_id": "R1", "value": 5000.0, **span},
                 {"scope": "rep", "scope_id": "R2", "value": 2000.0, **span},
                 {"scope": "rep", "scope_id": "R3", "value": 4000.0, **span}],
        activities=[{"activity_id": f"X{i}", "rep_id": rep, "kind": "call", "occurred_at": f"{_day(MID)} 1{i}:00:00"}
                    for i, rep in enumerate(["R1", "R1", "R1", "R2", "R3", "R3"])],
    )


@pytest.fixture(scope="module")
def db_file(tmp_path_factory) -> Path:
    return company(tmp_path_factory.mktemp("roles") / "roles.duckdb")


@pytest.fixture
def who(db_file, tmp_path, monkeypatch):
    """Sign-in configured on the hand-built company; set `who[0]` to the injected e-mail."""
    yield configure_sign_in(monkeypatch, tmp_path / "roles.toml", ROLES, db_file)
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every download button drawn (what a click would hand the browser: the
    buttons write their files on click, so each one's file is written here as it is drawn)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    got: list[tuple[str, bytes]] = []
    real, real_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def add(self, data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        if is_for_static_download and isinstance(data, bytes):
            got.append((file_name or "", data))
        return real(self, data, mimetype, coordinates, file_name=file_name,
                    is_for_static_download=is_for_static_download)

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        data = data_callable()
        got.append((file_name or "", data if isinstance(data, bytes) else data.encode("utf-8")))
        return real_deferred(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", add)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return got


def open_as(email: str, page: str | None) -> AppTest:
    """A new session of `email` (already injected) on `page` (None: the first page), in English."""
    _OUTSIDE_LANG[0] = "en"
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params["lang"] = "en"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in at.metric:
        out.setdefault(m.label, []).append(m.value)
    return out


def screen_text(at: AppTest) -> str:
    """Everything the page hands the browser: texts, metrics, table cells, chart data, filter options."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success", "error"):
        parts += [str(el.value) for el in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [el.proto.spec for el in at.get("plotly_chart")]
    for box in list(at.multiselect) + list(at.selectbox):
        parts += [str(o) for o in box.options]
    return "\n".join(parts)


def export_text(files: list[tuple[str, bytes]]) -> str:
    """The downloads' cells as text (CSV as written; Excel read back)."""
    out = []
    for name, data in files:
        if name.endswith(".xlsx"):
            out.append(pl.read_excel(io.BytesIO(data)).write_csv())
        else:
            out.append(data.decode("utf-8-sig"))
    return "\n".join(out)


# ------------------------------------------------------------------------------ who sees what
PAGES = ("overview", "funnel", "leaderboard", "customers", "forecast", "history", "meeting", "data")
DEALS = {"D1": ("R1", "AC1"), "D2": ("R1", "AC2"), "D3": ("R2", "AC3"), "D4": ("R3", "AC4"),
         "D5": ("R3", "AC5"), "D6": ("R2", "AC6"), "D7": ("R3", "AC7")}
SEES = {   # e-mail -> the reps whose deals, names and accounts the role sees
    "boss@x.io": {"R1", "R2", "R3"}, "look@x.io": {"R1", "R2", "R3"}, "mgr@x.io": {"R1", "R2"},
    "cem@x.io": {"R3"}, "bob@x.io": {"R2"},
}
LATEST = f"Pipeline on {TODAY.day} {TODAY.strftime('%b %Y')}"
ALL = {
    "overview": {"Won revenue": "$6.0K", "Win rate": "60.0%", "Reps": "3", "Accounts": "7", "Deals": "7",
                 "Open": "2", "Won": "3", "Lost": "2"},
    "funnel": {"Deals in the funnel": "7", "Stalled deals": "1", "Stalled value": "$4.0K"},
    "leaderboard": {},
    "customers": {"Customers with revenue": "3", "Customer revenue": "$6.0K"},
    "forecast": {"Target": "$10.0K", "Won": "$6.0K", "Attainment": "60.0%", "Pipeline closing in the period": "$5.5K"},
    "history": {LATEST: "$5.5K", "Won": "$6.0K", "Lost": "$1.3K"},
    "meeting": {"End": "$5.5K", "Won": "$6.0K", "Lost": "$1.3K"},
    "data": {"Issues found": "8"},
}
GOLDEN: dict[str, dict[str, dict[str, str]]] = {
    "boss@x.io": ALL,
    "look@x.io": ALL,
    "mgr@x.io": {   # team A: Ann and Bob
        "overview": {"Won revenue": "$4.0K", "Win rate": "66.7%", "Reps": "2", "Accounts": "4", "Deals": "4",
                     "Open": "1", "Won": "2", "Lost": "1"},
        "funnel": {"Deals in the funnel": "4", "Stalled deals": "0", "Stalled value": "$0"},
        "leaderboard": {},
        "customers": {"Customers with revenue": "2", "Customer revenue": "$4.0K"},
        "forecast": {"Target": "$7.0K", "Won": "$4.0K", "Attainment": "57.1%", "Pipeline closing in the period": "$1.5K"},
        "history": {LATEST: "$1.5K", "Won": "$4.0K", "Lost": "$500"},
        "meeting": {"End": "$1.5K", "Won": "$4.0K", "Lost": "$500"},
        "data": {},
    },
    "cem@x.io": {   # rep R3, named by id
        "overview": {"Won revenue": "$2.0K", "Win rate": "50.0%", "Reps": "1", "Accounts": "3", "Deals": "3",
                     "Open": "1", "Won": "1", "Lost": "1"},
        "funnel": {"Deals in the funnel": "3", "Stalled deals": "1", "Stalled value": "$4.0K"},
        "leaderboard": {},
        "customers": {"Customers with revenue": "1", "Customer revenue": "$2.0K"},
        "forecast": {"Target": "$4.0K", "Won": "$2.0K", "Attainment": "50.0%", "Pipeline closing in the period": "$4.0K"},
        "history": {LATEST: "$4.0K", "Won": "$2.0K", "Lost": "$800"},
        "meeting": {"End": "$4.0K", "Won": "$2.0K", "Lost": "$800"},
        "data": {},
    },
    "bob@x.io": {   # rep R2, named by name in the roles file
        "overview": {"Won revenue": "$0", "Win rate": "0.0%", "Reps": "1", "Accounts": "2", "Deals": "2",
                     "Open": "1", "Won": "0", "Lost": "1"},
        "funnel": {"Deals in the funnel": "2", "Stalled deals": "0"},
        "leaderboard": {},
        "customers": {},
        "forecast": {"Target": "$2.0K", "Won": "$0", "Attainment": "0.0%", "Pipeline closing in the period": "$1.5K"},
        "history": {LATEST: "$1.5K", "Won": "$0", "Lost": "$500"},
        "meeting": {"End": "$1.5K", "Lost": "$500"},
        "data": {},
    },
}
# rows of the leaderboard table, best first; deals checked by the data-quality section
BOARD = {"boss@x.io": ["Ann", "Cem", "Bob"], "look@x.io": ["Ann", "Cem", "Bob"], "mgr@x.io": ["Ann", "Bob"],
         "cem@x.io": ["Cem"], "bob@x.io": ["Bob"]}
ACCOUNTS_SEEN = {"boss@x.io": 7, "look@x.io": 7, "mgr@x.io": 4, "cem@x.io": 3, "bob@x.io": 2}
CHECKED = {"boss@x.io": 7, "look@x.io": 7, "mgr@x.io": 4, "cem@x.io": 3, "bob@x.io": 2}


def unseen(email: str) -> list[str]:
    """Names that must not reach this person: other reps, their deals and their accounts."""
    out = [REP_NAMES[r] for r in REP_NAMES if r not in SEES[email]]
    for deal, (rep, account) in DEALS.items():
        if rep not in SEES[email]:
            out += [f"Deal {deal[1:]}", ACCOUNTS[account]]
    return out


@pytest.mark.parametrize("email", list(GOLDEN))
def test_every_page_shows_only_the_roles_scope(who, downloads, email):
    who[0] = email
    for page in PAGES:
        downloads.clear()
        at = open_as(email, page)
        assert not at.error, (email, page, [e.value for e in at.error])
        shown = metrics(at)
        for label, value in GOLDEN[email][page].items():
            assert value in shown.get(label, []), (email, page, label, shown.get(label), shown)
        text, exported = screen_text(at), export_text(downloads)
        leaked = [n for n in unseen(email) if re.search(rf"\b{re.escape(n)}\b", text)]
        assert not leaked, (email, page, "on screen", leaked)
        leaked = [n for n in unseen(email) if re.search(rf"\b{re.escape(n)}\b", exported)]
        assert not leaked, (email, page, "in a download", leaked, [n for n, _ in downloads])
        if page == "leaderboard":
            board = next(d.value for d in at.dataframe if "Rep" in d.value.columns and "Rank" in d.value.columns)
            assert board["Rep"].tolist() == BOARD[email], (email, board)
            csv = next(pl.read_csv(io.BytesIO(b)) for n, b in downloads if n.startswith("salescope_leaderboard_"))
            assert csv["Rep"].to_list() == BOARD[email]
        if page == "customers":   # the tier movement counts every account the role sees, no other
            moved = next((re.search(r"(\d+) accounts moved up, (\d+) moved down, (\d+) stayed", c.value)
                          for c in at.caption if "moved up" in c.value), None)
            assert moved or email == "bob@x.io", (email, [c.value for c in at.caption])
            if moved:
                assert sum(map(int, moved.groups())) == ACCOUNTS_SEEN[email], (email, moved.group(0))
        if page == "data":
            assert any(f"{CHECKED[email]} deals checked" in c.value for c in at.caption), (email, [c.value for c in at.caption])


@pytest.mark.parametrize("email,teams", [("mgr@x.io", ["A"]), ("cem@x.io", ["B"]), ("bob@x.io", ["A"]),
                                         ("boss@x.io", ["A", "B"])])
def test_the_filter_bar_offers_only_what_the_role_sees(who, email, teams):
    who[0] = email
    at = open_as(email, "overview")
    boxes = {m.label: m for m in at.sidebar.multiselect}
    assert sorted(boxes["Rep"].options) == sorted(REP_NAMES[r] for r in SEES[email]), boxes["Rep"].options
    assert list(boxes["Team"].options) == teams


@pytest.mark.parametrize("email,may", [("boss@x.io", True), ("look@x.io", False), ("mgr@x.io", False),
                                       ("cem@x.io", False), ("bob@x.io", False)])
def test_only_admins_may_import_undo_or_edit_the_pipeline(who, email, may):
    who[0] = email
    at = open_as(email, "data")
    assert bool(at.get("file_uploader")) == may
    assert any(b.key == "data_undo" for b in at.button) == may
    assert any(b.key == "data_save_stages" for b in at.button) == may
    if not may:
        assert any("not change it" in i.value for i in at.info), [i.value for i in at.info]


@pytest.mark.parametrize("page", PAGES)
def test_an_unmapped_person_sees_nothing_on_any_page(who, downloads, page):
    who[0] = "stranger@x.io"
    at = open_as("stranger@x.io", page)
    assert any("stranger@x.io" in w.value for w in at.warning)
    assert not at.metric and not at.dataframe and not downloads
    assert not at.get("plotly_chart") and not at.get("file_uploader")
    text = screen_text(at)
    leaked = [n for n in [*REP_NAMES.values(), *ACCOUNTS.values(), "Deal "] if n in text]
    assert not leaked, leaked

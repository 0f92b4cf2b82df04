"""The product's one clock (data.clock): `$SALESCOPE_TODAY` pins 'today' for the app, the demo, imports
and reports alike; nothing else reads the machine's date."""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

from data import clock
from data.demo import generate
from ui.filters import Filters

ROOT = Path(__file__).resolve().parents[1]


def test_pinned_date_is_today_everywhere(monkeypatch) -> None:
    monkeypatch.setenv(clock.ENV, "2025-02-28")
    assert clock.today() == date(2025, 2, 28)
    assert Filters().as_of == date(2025, 2, 28)
    demo = generate(n_deals=300, n_accounts=60, n_activities=600, n_snapshots=2)
    assert demo.as_of == date(2025, 2, 28)
    assert demo.deals["created_on"].max() <= date(2025, 2, 28)


@pytest.mark.parametrize("value", ["", "   "])
def test_unset_or_blank_is_the_machines_date(monkeypatch, value) -> None:
    monkeypatch.setenv(clock.ENV, value)
    assert clock.today() == date.today()
    monkeypatch.delenv(clock.ENV)
    assert clock.today() == date.today()


def test_malformed_date_is_logged_and_ignored(monkeypatch, caplog) -> None:
    monkeypatch.setenv(clock.ENV, "24/11/2026")
    with caplog.at_level(logging.WARNING, logger="data.clock"):
        assert clock.today() == date.today()
    assert "24/11/2026" in caplog.text and "YYYY-MM-DD" in caplog.text


def test_the_suite_runs_on_one_pinned_day() -> None:
    # conftest (or tests/run_all.sh, for all its steps) pins the variable when the run starts: a run
    # crossing midnight keeps one 'today'
    import os

    assert clock.today() == date.fromisoformat(os.environ[clock.ENV])


def test_nothing_else_reads_the_machines_date() -> None:
    """Every 'today' in the product comes from data.clock (import timestamps may use the wall clock)."""
    files = [ROOT / "app.py", *(p for d in ("pages", "ui", "data", "bench") for p in (ROOT / d).rglob("*.py"))]
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if p.name != "clock.py" and ("date.today" in (text := p.read_text(encoding="utf-8"))
                                              or "datetime.today" in text)]
    assert offenders == []

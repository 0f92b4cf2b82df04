"""The product's one clock (data.clock): `$SALESCOPE_TODAY` pins 'today' for the app, the demo, imports
and reports alike (that nothing else reads the machine's date is a house rule: tests/test_architecture.py)."""
from __future__ import annotations

import logging
from datetime import date

import pytest

from data import clock
from data.demo import generate
from ui.filters import Filters


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
    # conftest pins the variable when the run starts: a run crossing midnight keeps one 'today'
    import os

    assert clock.today() == date.fromisoformat(os.environ[clock.ENV])


"""Shared fixtures: where the real CRM files live, a fresh store per test."""
from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest

from data import clock

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


def pytest_configure(config: pytest.Config) -> None:
    """One date for the whole run: the product's `today` is pinned to the day the run started, so a run
    that crosses midnight compares the app (and the servers the browser tests start, which inherit the
    variable, as do the xdist workers) with expectations of the same day."""
    os.environ.setdefault(clock.ENV, date.today().isoformat())


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of real public CRM files beside the project (../shared/realdata)."""
    if not REALDATA.is_dir():
        pytest.skip(f"real CRM files not found at {REALDATA} (they live beside the project, in ../shared)")
    return REALDATA


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo company (tests.store_builder.demo_store), one store per test module."""
    from tests.store_builder import demo_store

    store = demo_store(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    yield store
    store.close()

"""Shared fixtures: where the real CRM files live, a fresh store per test."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"


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

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


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A test that ran an asyncio loop in this worker's main thread (websocket sessions, Streamlit
    internals) can leave it marked as running; Playwright's sync API then refuses to start. Clear the
    stale marker before every test: no synchronous test runs inside a live loop."""
    import asyncio.events

    asyncio.events._set_running_loop(None)

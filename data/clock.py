"""Today's date, for the whole product: the machine's date, or `$SALESCOPE_TODAY` (YYYY-MM-DD) when set.

Pinning the date rehearses a meeting as of a chosen day, reproduces a screenshot, and keeps one test
run on one day when it crosses midnight (the test suite pins it at its start). `metrics/` never reads
the clock: every caller passes `as_of` from here."""
from __future__ import annotations

import logging
import os
from datetime import date

ENV = "SALESCOPE_TODAY"
_log = logging.getLogger(__name__)


def today() -> date:
    """`$SALESCOPE_TODAY` when it holds an ISO date, else the machine's date (a malformed value is
    logged and ignored rather than stopping the app)."""
    pinned = os.environ.get(ENV, "").strip()
    if pinned:
        try:
            return date.fromisoformat(pinned)
        except ValueError:
            _log.warning("%s=%r is not a YYYY-MM-DD date; using the machine's date", ENV, pinned)
    return date.today()

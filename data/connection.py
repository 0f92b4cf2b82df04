"""The DuckDB settings of the app's store (the dashboard and its Data page), in one place so the
app (`ui.cache.store`) and the benchmark (`bench/`, which measures imports and views as the app runs
them) open the database the same way.

The app's DuckDB budget: its buffer pool (cached table blocks and query state, which DuckDB would
otherwise let grow to 80% of the machine's RAM) stays under DB_MEMORY_LIMIT, spilling to
<database>.tmp beyond it; its allocator purges freed memory in a background thread. A dashboard's
queries read aggregates and fit; an import through the Data page runs under the same limit.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

# the app's peak at 1M deals, on the Meeting page at the end of a tour of every page (issue #6): 1,098 MB
# under 512MB, 959-999 under 384MB, 923-944 under 320MB, ~900 under 256MB. Under 320MB the views take the
# time they take under 384MB (the Meeting page ~5% more); under 256MB the quality checks take 10-14% more
# and an import of 1M deals 18% more (its insert spills)
DB_MEMORY_LIMIT = "320MB"


def db_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The app's DuckDB settings: memory limit from $SALESCOPE_DB_MEMORY (a DuckDB size such as
    '1GB'; default DB_MEMORY_LIMIT), threads from $SALESCOPE_DB_THREADS (default: one per core)."""
    env = os.environ if environ is None else environ
    threads = (env.get("SALESCOPE_DB_THREADS") or "").strip()
    if threads and not (threads.isdigit() and int(threads) > 0):
        raise ValueError(f"SALESCOPE_DB_THREADS must be a whole number of threads (1 or more), not {threads!r}")
    return {"memory_limit": (env.get("SALESCOPE_DB_MEMORY") or "").strip() or DB_MEMORY_LIMIT,
            "threads": int(threads) if threads else None, "allocator_background_threads": True}

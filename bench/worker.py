"""One benchmark op in a fresh process: `python -m bench.worker '<json spec>'`.

Prints one line `BENCH_RESULT <json>` (the op's result row, or {"op", "error"}) on stdout.
"""
from __future__ import annotations

import json
import sys
import traceback

MARK = "BENCH_RESULT "


def main(argv: list[str]) -> int:
    from ui import allocators

    allocators.configure()   # DuckDB's allocator set as the app sets it (app.py), before DuckDB loads
    spec = json.loads(argv[0])
    kind = spec.pop("kind")
    try:
        if kind == "import":
            from bench.ops import run_import as run
        elif kind == "view":
            from bench.ops import run_view as run
        elif kind == "page":
            from bench.app_timing import run_page_rerun as run
        elif kind == "start":
            from bench.app_timing import run_start as run
        else:
            raise ValueError(f"unknown op kind {kind!r}")
        result = run(**spec)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the other ops go on
        traceback.print_exc()
        result = {"op": spec.get("op"), "error": f"{type(exc).__name__}: {exc}"}
    print(MARK + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

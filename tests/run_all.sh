#!/usr/bin/env bash
# The whole test suite: everything but the real-browser tests on two workers, then each browser test
# file in its own process (Playwright's sync API allows one driver per process, and a file's server
# fixture owns it). Run from the project root; stops at the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
"$PY" -m pytest -q -n 2 -m "not browser"
for f in $(grep -l "pytest.mark.browser" tests/test_*.py); do
  # a browser file gets one more try when its Chromium driver dies under load (seen on a busy CI box)
  "$PY" -m pytest -q -m browser "$f" || "$PY" -m pytest -q -m browser "$f"
done

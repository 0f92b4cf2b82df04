"""Salescope metrics: pure polars functions over the canonical tables (frames in, frames out).

Nothing here reads files, touches the clock or imports anything outside polars and the standard
library: every function takes the frames it needs and an explicit `as_of` date.
`DEFINITIONS` maps each metric key to its plain-English definition (the UI translates by key).
"""
from __future__ import annotations

from metrics.definitions import DEFINITIONS

__all__ = ["DEFINITIONS"]

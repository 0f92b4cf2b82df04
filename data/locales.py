"""The UI's strings read from ui/locales/<lang>.toml as flat {dotted.key: text} catalogs.

One reader for the app (`ui.i18n`) and the self-contained HTML report (`data.report_html`), which
may not import `ui/`; the files stay with the UI that owns them.
"""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent.parent / "ui" / "locales"


def _flatten(prefix: str, node: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """All strings of one language as {dotted.key: text} (empty for an unknown language)."""
    path = LOCALES_DIR / f"{lang}.toml"
    out: dict[str, str] = {}
    if path.is_file():
        with path.open("rb") as fh:
            _flatten("", tomllib.load(fh), out)
    return out

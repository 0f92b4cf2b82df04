"""The tables' download buttons write their files when clicked, not on every run of the page (an
Excel file of the Customers page's 50,000 accounts at 1M deals takes ~16 s to write), and a click
gets exactly the escaped CSV / Excel file of the table shown."""
from __future__ import annotations

import io

import polars as pl
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from ui import export


def _table_page() -> None:
    import polars as pl

    from ui import widgets

    widgets.table_with_downloads(pl.DataFrame({"who": ["=HYPERLINK(1)", "Ann"], "n": [1, 2]}), "t", "k")


def test_drawing_a_table_writes_no_file_and_a_click_gets_the_escaped_file(monkeypatch):
    written: list[str] = []
    real_csv, real_xlsx = export.csv_bytes, export.xlsx_bytes
    monkeypatch.setattr(export, "csv_bytes", lambda df: written.append("csv") or real_csv(df))
    monkeypatch.setattr(export, "xlsx_bytes", lambda df: written.append("xlsx") or real_xlsx(df))
    deferred: dict[str, object] = {}
    real_deferred = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        deferred[file_name] = data_callable
        return real_deferred(self, data_callable, mimetype, coordinates, file_name=file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    at = AppTest.from_function(_table_page)
    at.run()
    assert not at.exception
    assert len(at.get("download_button")) == 2
    assert written == [], "a file was written while drawing the page"
    assert set(deferred) == {"t.csv", "t.xlsx"}

    table = pl.DataFrame({"who": ["=HYPERLINK(1)", "Ann"], "n": [1, 2]})
    csv = deferred["t.csv"]()
    assert csv == real_csv(table)
    assert csv.decode("utf-8-sig").splitlines()[1] == "'=HYPERLINK(1),1"
    xlsx = pl.read_excel(io.BytesIO(deferred["t.xlsx"]()))
    assert xlsx["who"].to_list() == ["'=HYPERLINK(1)", "Ann"]
    assert written == ["csv", "xlsx"]

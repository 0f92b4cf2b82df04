"""What can go wrong with an uploaded file or row, as stable codes with English templates.

The UI translates a problem by its code (`ui/locales/*.toml`, section `problem`); the command line
prints the English text. Row-level problems are stored in `rejected_rows` with code and params.
"""
from __future__ import annotations

import json
from typing import Any

PROBLEMS: dict[str, str] = {
    # file level
    "empty_file": "The file is empty.",
    "no_header": "No header row was found in the first {rows} rows.",
    "no_data_rows": "The file has a header but no data rows.",
    "unreadable": "The file could not be read as CSV or Excel: {detail}",
    "not_a_table": "The file is not a table (it looks like {looks_like}).",
    "too_large": "The file is {size_mb} MB; the limit is {limit_mb} MB.",
    "xlsx_unsafe": "The Excel file was refused as unsafe: {detail}",
    "sheet_not_found": "The sheet {sheet!r} does not exist; the file has: {sheets}.",
    "xlsx_encrypted": "The Excel file is password-protected; save a copy without a password and upload that.",
    "kind_unknown": "Could not tell what this file holds; choose the kind (found columns: {found}).",
    "kind_invalid": "Unknown kind {kind!r}; use one of: {kinds}.",
    "missing_required": "Required column(s) missing for {kind}: {missing}. Found: {found}.",
    "map_unknown_field": "--map names {field!r}, which is not a {kind} field; use one of: {fields}.",
    "map_unknown_column": "--map names column {column!r}, which is not in the file; columns: {found}.",
    "nothing_imported": "Nothing could be imported: all {rejected} data rows were rejected.",
    "batch_not_found": "There is no import batch {batch_id}.",
    "batch_not_live": "Batch {batch_id} is {status}; only a completed batch can be undone.",
    "undo_blocked": "Batch {batch_id} cannot be undone before later batch(es) {later} that changed its rows; undo those first.",
    "demo_over_data": "The database already holds your own data; the demo company is loaded only into an empty database (use --db for a separate file).",
    "disk_full": "Not enough free disk space to import this file safely: {free_mb} MB free, about {need_mb} MB needed.",
    "db_locked": "The database {path} is in use by another Salescope process; close it or use --db.",
    # row level
    "missing_value": "{column} is empty but required.",
    "bad_date": "{value!r} is not a date.",
    "bad_amount": "{value!r} is not an amount.",
    "bad_number": "{value!r} is not a number.",
    "bad_probability": "{value!r} is not a probability (use 50%, 0.5 or 50).",
    "bad_period": "{value!r} is not a period (use 2024-05, 2024-Q2 or a start date).",
    "bad_status": "{value!r} is not a status (open, won or lost).",
    "bad_bool": "{value!r} is not a yes/no value (use true/false, yes/no or 1/0).",
    "duplicate_id": "Duplicate id {value!r} in this file (first at line {first_line}).",
    "unknown_measure": "{value!r} is not a measure (revenue, deals or activities).",
    "unknown_scope": "{value!r} is not a scope (rep, team, company or product).",
}

# Informational notes on a file (not errors), also translated by the UI.
NOTES: dict[str, str] = {
    "date_order_from_data": "Dates in {column!r} read as {order} (decided from the data).",
    "date_order_from_user": "Dates in {column!r} could not be told apart; read as {order} as you chose.",
    "date_order_default": "Dates in {column!r} could be day-first or month-first; read as month-first. Use --dayfirst (or the switch) if that is wrong.",
    "date_excel_serial": "Dates in {column!r} are Excel serial numbers, read in the 1900 date system (a Mac 1904-system file would be 4 years off).",
    "unknown_stages": "Stage(s) not in the pipeline, imported as unmapped: {stages}.",
    "stages_learned": "Pipeline learned from the data: {stages}.",
    "owners_created": "{count} owner(s) not yet known were added as reps.",
    "accounts_created": "{count} account(s) not yet known were added.",
    "snapshot_date": "Snapshot date {date} ({source}).",
    "same_file": "This exact file was imported before (batch {batch_id}); nothing changed.",
    "encoding": "Read as {encoding}, delimiter {delimiter!r}, header on line {line}.",
    "decode_replaced": "{count} invalid byte sequence(s) could not be read as text and show as \ufffd, on line(s) {lines}; check the file's encoding.",
}


# Where a deals file's snapshot date came from (param `source` of the snapshot_date note).
SNAPSHOT_SOURCES: dict[str, str] = {
    "as_of_option": "as you set it",
    "file_column": "from the file's snapshot column",
    "file_title": "from the file's 'As of' line",
    "earlier_upload": "as when this same file was first uploaded",
    "upload_date": "the upload date",
}


def render(code: str, **params: Any) -> str:
    """English text of a problem or note code with its parameters."""
    template = PROBLEMS.get(code) or NOTES.get(code) or code
    if code == "snapshot_date" and params.get("source") in SNAPSHOT_SOURCES:
        params = {**params, "source": SNAPSHOT_SOURCES[params["source"]]}
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return f"{template} {json.dumps(params, default=str, ensure_ascii=False)}"


class ImportProblem(Exception):
    """A file-level problem: the file (or command) cannot go on. Carries a code for translation."""

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(render(code, **params))

    def text(self) -> str:
        return render(self.code, **self.params)

"""The one place Streamlit caching touches data: the store per process, frames per store version.

Cached values are collected polars frames (never LazyFrames), keyed by the store's version so an
import, undo or clear invalidates them; every cache is bounded.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st

from data.connection import db_settings
from data.ingest.problems import ImportProblem
from data.store import Store


@st.cache_resource
def store() -> Store:
    """One DuckDB connection per process (path from $SALESCOPE_DB or data/salescope.duckdb), with
    the app's memory settings (`data.connection.db_settings`)."""
    return Store(settings=db_settings())


def version() -> str:
    """The store's data version: part of every data cache key."""
    return store().version(store().cursor())


def ensure_demo_on_first_start() -> bool:
    """Load the demo company when the database has never held data. True when demo data is shown."""
    s = store()
    cur = s.cursor()
    if s.is_empty(cur) and s.imports_frame(cur).height == 0:
        from data.demo_load import load_demo

        load_demo(s)
        st.cache_data.clear()
    return s.has_demo(s.cursor())


# A view's cached result is up to ~30 MB at 1M deals (History's deal list); the caches below hold at
# most VIEW_ENTRIES of them, each for at most an hour (an import, undo or clear drops them all at once).
VIEW_ENTRIES, VIEW_TTL_S = 32, 3600
# A prepared upload holds the whole file as read (up to 200 MB of file): keep the few one upload's
# mapping screens go through, for a quarter of an hour.
UPLOAD_ENTRIES, UPLOAD_TTL_S = 3, 900


@st.cache_data(max_entries=VIEW_ENTRIES, ttl=VIEW_TTL_S, show_spinner=False)
def _view(name: str, filters_key: tuple, data_version: str, _filters: Any, params: tuple = ()) -> Any:
    import importlib

    module = importlib.import_module(f"ui.views.{name}")
    return module.compute(store(), _filters, **dict(params))


def view(name: str, filters: Any, **params: Any) -> Any:
    """A page's computed view (ui/views/<name>.py), cached per filters, store version and any extra
    keyword parameters of its `compute` (hashable values, e.g. the two snapshot dates to compare)."""
    return _view(name, filters.key(), version(), filters, tuple(sorted(params.items())))


@st.cache_data(max_entries=8, show_spinner=False)
def dimensions(data_version: str) -> dict[str, list]:
    """Values the filter bar offers."""
    return store().dimension_values(store().cursor())


@st.cache_data(max_entries=16, show_spinner=False)
def loaded_summary(data_version: str, scope: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> dict[str, Any]:
    """What is loaded: rows per table, deals by status, date range, last import. `scope` (the role's,
    as sorted (dimension, values) pairs; empty = everything) narrows the rows to what the user may see."""
    s = store()
    cur = s.cursor()
    if scope:
        seen = s.summary_in_scope(dict(scope), cur)
        return {**seen, "last_import": s.last_import(cur), "demo": s.has_demo(cur)}
    first, last = s.date_range(cur)
    return {
        "counts": s.counts(cur), "status": s.deal_status_counts(cur), "first": first, "last": last,
        "last_import": s.last_import(cur), "demo": s.has_demo(cur),
    }


@st.cache_data(max_entries=16, show_spinner=False)
def people_in_scope(data_version: str, scope: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[str, tuple[str, ...]]:
    """The rep ids and teams a role's scope (sorted (dimension, values) pairs) covers: what its filter
    bar may offer."""
    reps = store().reps_in_scope(dict(scope), store().cursor())
    return {"reps": tuple(reps["rep_id"].to_list()), "teams": tuple(sorted(set(reps["team"].drop_nulls().to_list())))}


@st.cache_data(max_entries=8, show_spinner=False)
def imports(data_version: str) -> pl.DataFrame:
    """The import history, newest first."""
    return store().imports_frame(store().cursor())


@st.cache_data(max_entries=16, show_spinner=False)
def rejected(batch_id: int, data_version: str) -> pl.DataFrame:
    """Rejected rows of one batch."""
    return store().rejected_frame(batch_id, store().cursor())


@st.cache_data(max_entries=8, show_spinner=False)
def stages(data_version: str) -> pl.DataFrame:
    """The pipeline in order."""
    return store().stages_frame(store().cursor())


@st.cache_data(max_entries=UPLOAD_ENTRIES, ttl=UPLOAD_TTL_S, show_spinner=False)
def _prepare_upload(data: bytes, name: str, kind: str | None, overrides: tuple[tuple[str, str], ...],
                    data_version: str):
    from data.ingest.pipeline import prepare

    return prepare(data, name, store=store(), kind=kind, overrides=dict(overrides) or None)


def prepare_upload(data: bytes, name: str, kind: str | None, overrides: dict[str, str]) -> tuple[Any, Any]:
    """Read and map an uploaded file (what the Data page previews): (prepared, None) or (None, problem)."""
    try:
        return _prepare_upload(data, name, kind, tuple(sorted(overrides.items())), version()), None
    except ImportProblem as problem:
        return None, problem


def preview_rows(prepared: Any, dayfirst: bool | None, as_of: date | None, n: int = 20) -> tuple[Any, Any]:
    """The first rows as they will be stored: (built, None) or (None, problem)."""
    from data.ingest.pipeline import preview

    try:
        return preview(prepared, store(), n=n, dayfirst=dayfirst, as_of=as_of), None
    except ImportProblem as problem:
        return None, problem


def run_import(prepared: Any, dayfirst: bool | None, as_of: date | None, progress=None) -> tuple[Any, Any]:
    """Build and commit an upload: (result, None) or (None, problem). Clears the data caches."""
    lock = store().import_lock
    if not lock.acquire(blocking=False):           # another session is importing: wait our turn
        if progress:
            progress(0.05, "queued")
        lock.acquire()
    try:
        return _run_import_locked(prepared, dayfirst, as_of, progress)
    finally:
        lock.release()


def _run_import_locked(prepared: Any, dayfirst: bool | None, as_of: date | None, progress=None) -> tuple[Any, Any]:
    from data.ingest.pipeline import build_and_commit

    try:
        if progress:
            progress(0.35, "step_parse")
        result = build_and_commit(store(), prepared, dayfirst=dayfirst, as_of=as_of,
                                  before_write=(lambda: progress(0.7, "step_write")) if progress else None)
    except ImportProblem as problem:
        store().record_failed(prepared.kind, prepared.file_name, prepared.sha256, problem.code, problem.text())
        st.cache_data.clear()
        return None, problem
    st.cache_data.clear()
    return result, None


def undo(batch_id: int) -> Any:
    """Undo one batch and drop cached frames; returns the problem when it cannot be undone."""
    try:
        store().undo(batch_id)
    except ImportProblem as problem:
        return problem
    st.cache_data.clear()
    return None


def clear_demo() -> None:
    """Remove the demo company (only its rows)."""
    store().clear_demo()
    st.cache_data.clear()


def save_stages(frame: pl.DataFrame) -> None:
    """Replace the configured pipeline."""
    store().set_stages(frame)
    st.cache_data.clear()


def kinds() -> tuple[str, ...]:
    """The kinds of file the importer takes."""
    from data.ingest.mapping import KINDS

    return KINDS


def fields(kind: str) -> list[tuple[str, bool]]:
    """(field, required) of a kind, in mapping-table order."""
    from data.ingest.mapping import FIELDS

    return [(f.name, f.required) for f in FIELDS[kind]]

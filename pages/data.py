"""Data: upload CRM exports, check the mapping and a preview, import; history with undo; pipeline."""
from __future__ import annotations

import polars as pl
import streamlit as st

from ui import cache, importer, widgets
from ui import format as fmt
from ui.export import csv_bytes
from ui.i18n import problem_text, t
from ui.quality_widgets import quality_section
from ui.views.overview import md

widgets.require_frame()

st.title(t("data.title"))
quality_section()

can_edit = importer.can_change_data()
if can_edit:
    files = st.file_uploader(t("data.upload"), type=["csv", "tsv", "txt", "xlsx", "xlsm"], accept_multiple_files=True,
                             help=t("data.upload_help"), key="data_upload")
else:
    files = []
    st.info(t("auth.read_only"), icon=":material/visibility:")

for up in files or []:
    with st.container(border=True):
        st.subheader(md(up.name))
        fid = up.file_id
        data = up.getvalue()
        kind = st.session_state.get(f"data_kind_{fid}")
        prepared, problem = importer.prepare(data, up.name, kind, fid)
        if problem is not None:
            st.error(problem_text(problem.code, problem.params), icon=":material/error:")
            if problem.code == "kind_unknown":           # the user says what the file holds
                st.selectbox(t("data.kind"), importer.kind_options(), index=None, key=f"data_kind_{fid}",
                             placeholder=t("data.kind_choose"), format_func=lambda k: t(f"kinds.{k}"))
            continue
        raw = prepared.raw
        st.caption(t("data.detected", rows=fmt.number(raw.frame.height), encoding=raw.encoding, line=raw.header_line))
        if raw.skipped:
            st.caption(t("data.skipped_rows", count=fmt.number(len(raw.skipped))))
        kinds = importer.kind_options()
        st.selectbox(t("data.kind"), kinds, index=kinds.index(prepared.kind), key=f"data_kind_{fid}",
                     format_func=lambda k: t(f"kinds.{k}"))
        if prepared.mapping_source == "saved":
            st.caption(t("data.saved_mapping"))
        st.markdown(f"**{t('data.mapping')}**")
        st.caption(t("data.mapping_help"))
        st.data_editor(
            importer.mapping_table(importer.base(data, up.name, kind)), key=f"data_map_{fid}_{prepared.kind}",
            hide_index=True, width="stretch",
            disabled=[t("data.col_source"), t("data.col_sample")],
            column_config=importer.mapping_columns(prepared.kind),
        )
        if prepared.missing:
            st.warning(t("data.missing", fields=", ".join(prepared.missing)), icon=":material/warning:")
            continue
        c1, c2 = st.columns(2)
        dayfirst = c1.toggle(t("data.dayfirst"), key=f"data_dayfirst_{fid}", help=t("data.dayfirst_help"))
        as_of = None
        if prepared.kind == "deals":
            as_of = c2.date_input(t("data.as_of"), value=None, key=f"data_asof_{fid}",
                                  help=t("data.as_of_help"), format="YYYY-MM-DD")
        built, problem = importer.preview(prepared, dayfirst or None, as_of)
        if problem is not None:
            st.error(problem_text(problem.code, problem.params))
            continue
        st.markdown(f"**{t('data.preview')}**")
        st.dataframe(importer.preview_table(built.rows), hide_index=True, width="stretch", height=240,
                     column_config=importer.preview_columns(built.rows))
        notes_box = st.container()
        notes = built.notes
        if st.button(t("data.import_btn"), key=f"data_go_{fid}", type="primary", icon=":material/download:"):
            bar = st.progress(0.1, text=t("data.importing", name=up.name))
            result, problem = importer.run(prepared, dayfirst or None, as_of,
                                           lambda f, step: bar.progress(f, text=t(f"data.{step}")))
            bar.progress(1.0, text=t("data.done"))
            if problem is not None:
                st.error(t("data.failed", name=up.name, reason=problem_text(problem.code, problem.params)))
            else:
                st.success(t("data.result", name=up.name, batch=result.batch_id) + " · " + importer.result_line(result))
                notes = result.notes
        for code, params in notes:
            notes_box.caption("ℹ️ " + problem_text(code, params))

st.divider()
st.subheader(t("data.history"))
history = cache.imports(cache.version())
if history.height == 0:
    st.caption(t("data.no_history"))
else:
    st.dataframe(importer.history_table(history), hide_index=True, width="stretch", height=260)
    batches = history["batch_id"].to_list()
    pick = st.selectbox(t("data.col_batch"), batches, key=f"data_batch_pick_{cache.version()}",
                        format_func=lambda b: importer.batch_label(history, b))
    rejects = cache.rejected(pick, cache.version())
    if can_edit and rejects.height:
        st.markdown(f"**{t('data.rejects')}** ({fmt.number(rejects.height)})")
        st.dataframe(importer.rejects_table(rejects), hide_index=True, width="stretch", height=240)
        st.download_button(t("data.download_rejects"), csv_bytes(rejects.drop("reason_code", "params")),
                           file_name=f"salescope_rejected_batch_{pick}.csv", mime="text/csv", key="data_dl_rejects")
    row = history.filter(pl.col("batch_id") == pick).row(0, named=True)
    if can_edit and row["status"] == "done" and st.button(t("data.undo"), key="data_undo", icon=":material/undo:"):
        problem = importer.undo(pick)
        if problem is not None:
            st.error(problem_text(problem.code, problem.params))
        else:
            st.success(t("data.undo_done", batch=pick))
            st.rerun()

st.divider()
st.subheader(t("data.pipeline"))
st.caption(t("data.pipeline_help"))
stages = cache.stages(cache.version())
edited = st.data_editor(importer.stages_table(stages), key="data_stages", hide_index=True, num_rows="dynamic",
                        column_config=importer.stages_columns(), width="stretch", disabled=not can_edit)
if can_edit and st.button(t("data.save_pipeline"), key="data_save_stages", icon=":material/save:"):
    cache.save_stages(importer.stages_from_table(edited))
    st.success(t("data.pipeline_saved"))

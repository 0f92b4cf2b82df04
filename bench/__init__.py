"""Salescope's benchmark ("Speed at a million deals"): `python -m bench [--scale small|1m] [--json FILE]
[--only PREFIX]... [--runs N] [--profile] [--fresh-db]`.

- generate.py  seeded CRM exports (data.demo.generate scaled up, plus stage regressions and the
               weekly snapshots), written once per scale to bench/.cache/<scale>/ (git-ignored):
               small = 20k deals / 100k stage rows / 200k activities, 1m = 1M / 5M / 10M; deals,
               stage-history, activities, reps, accounts, targets and leads CSVs and a deals XLSX.
- dbs.py       the stores the ops start from, built through the product's import path and cached.
- ops.py       import_* (data.ingest.pipeline.import_file into a fresh store) and view_*
               (ui.views.<name>.compute, uncached) with their floors and peers.
- floor.py     one hand-written DuckDB query per view giving its headline numbers; sql.py is the
               bench's only module that talks to DuckDB directly.
- pandas_peer.py  the same numbers the straightforward pandas way; headline.py compares all three.
- app_timing.py   page_rerun_* (Streamlit AppTest) and start_* (streamlit run + Chromium).
- measure.py   median wall time, CPU time and peak RSS (VmHWM reset through /proc/self/clear_refs).
- worker.py    runs one op in a fresh process; __main__.py plans, runs, prints and writes the JSON.

JSON: {"scale", "machine", "results": [{"op", "salescope_s", "floor_s", "pandas_s", "peak_rss_mb",
...details}], "data", "targets", "runs", "wall_s"}; the last results per scale are also kept in
bench/.cache/<scale>/results.json (the 1m table shows growth against the small results).
"""

"""Evaluate: run a query file through the search and look at Recall@K curves and a map of the embeddings."""

import json
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from core.composer import METHODS
from core.config import PROJECT_ROOT
from core.embedding_map import embedding_map
from core.errors import QueryError, QueryFileError
from core.evaluation import MAX_EVAL_K, MIN_EVAL_K, evaluate, query_file_name, read_queries, unpack_query_zip
from core.ingest import temporary_folder
from ui.state import engine
from ui.widgets import (
    MAX_ARCHIVE_UPLOAD_MB,
    SERVER_PATHS_OFF,
    ensure_index,
    page_header,
    page_resources,
    progress_callback,
    server_paths_allowed,
    user_errors,
)

page_header("Evaluate", "📊")

QUERY_FORMAT = (
    "A query file is JSON Lines, one query per line, with any of `image` (a path relative to the file), "
    "`ref_id` (a catalog product used as the query picture; it never counts among its own results), `text`, "
    "and the required `relevant_ids` (catalog ids that count as correct); `kind` groups queries in the report. "
    'Example: `{"text": "red floral dress", "relevant_ids": [1163, 2208], "kind": "text"}`. '
    "`benchmarks/make_queries.py` writes the benchmark files into `data/benchmarks/`."
)
METRIC_COLUMNS = ["n", "recall@1", "recall@5", "recall@10", "recall@50", "precision@10", "mrr", "ndcg@10"]


def suggested_file() -> str:
    found = sorted((PROJECT_ROOT / "data" / "benchmarks").glob("*.jsonl"))
    return str(found[0]) if found else ""


def query_source_ui(best_method: str) -> tuple[str, object, dict]:
    """('path', str) or ('upload', UploadedFile) or ('', None), and the options (k, method, constraints)."""
    on_disk, upload = st.tabs(["File on this machine", "Upload"])
    with on_disk:
        path, run_path = "", False
        if server_paths_allowed():
            path = st.text_input("Query file (.jsonl)", value=suggested_file())
            run_path = st.button("Run evaluation", type="primary", disabled=not path.strip(), key="run-path")
        else:
            st.info(SERVER_PATHS_OFF, icon="🔒")
    with upload:
        uploaded = st.file_uploader(
            "A .jsonl file (text and ref_id queries), or a .zip of one .jsonl with its images",
            type=["jsonl", "zip"],
            max_upload_size=MAX_ARCHIVE_UPLOAD_MB,
        )
        run_upload = st.button("Run evaluation", type="primary", disabled=uploaded is None, key="run-upload")
    left, right = st.columns(2)
    k = left.slider("Ranking depth K", MIN_EVAL_K, MAX_EVAL_K, 50, step=10)
    methods = [m for m in METHODS if m != "composer" or best_method == "composer"]
    method = right.radio(
        "Image + text queries combined by",
        methods,
        index=methods.index(best_method),
        horizontal=True,
        help="image: the picture only · text: the words only · sum: both "
        "embeddings added · composer: the trained model (Refine page)",
    )
    constraints = right.checkbox("Apply the app's gender / type constraints to image + text queries")
    options = {"k": k, "method": method, "constraints": constraints}
    if run_path:
        return "path", path.strip(), options
    if run_upload:
        return "upload", uploaded, options
    return "", None, options


def run_evaluation(lens, kind: str, source, options: dict) -> dict:
    bar = st.progress(0.0, text="Reading queries…")
    try:
        report = _run(lens, kind, source, options, bar)
    finally:
        bar.empty()  # also when the file is refused: the message replaces the bar
    curves = {"all": report.curve(), **{kind: report.curve(kind) for kind in report.by_kind}}
    return {"report": report.to_json(), "curves": curves, "name": getattr(source, "name", str(source))}


def _run(lens, kind: str, source, options: dict, bar):
    """The report for a path on this machine or an uploaded .jsonl / .zip (whose image paths stay inside it)."""
    if kind == "path":
        return _evaluate_file(lens, Path(source).expanduser(), options, bar)
    with temporary_folder() as scratch:
        if source.name.lower().endswith(".zip"):
            path = unpack_query_zip(source.getvalue(), Path(scratch))
        else:
            path = Path(scratch) / query_file_name(source.name)  # messages name the file the user uploaded
            path.write_bytes(source.getvalue())
        return _evaluate_file(lens, path, options, bar, confine=True)


def _evaluate_file(lens, path: Path, options: dict, bar, confine: bool = False):
    queries, skipped = read_queries(path, confine=confine)
    ensure_index(lens)
    return evaluate(lens, queries, skipped=skipped, progress=progress_callback(bar), **options)


def results_ui(result: dict) -> None:
    report = result["report"]
    st.subheader(f"Results · {result['name']}")
    st.caption(
        f"encoder `{report['encoder']}` · image + text by `{report['method']}`"
        + (" with constraints" if report["constraints"] else "")
        + f" · K = {report['k']} · {report['seconds']:.1f} s"
    )
    cards = st.columns(5)
    for column, name in zip(cards, ["n", "recall@10", "precision@10", "mrr", "ndcg@10"]):
        value = report[name]
        column.metric(name, f"{value:,}" if name == "n" else f"{value:.3f}")
    rows = [{"kind": "all", **{c: report.get(c) for c in METRIC_COLUMNS}}]
    rows += [{"kind": kind, **{c: scores.get(c) for c in METRIC_COLUMNS}} for kind, scores in report["by_kind"].items()]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in METRIC_COLUMNS[1:]},
    )
    curves = pd.DataFrame(result["curves"], index=pd.RangeIndex(1, report["k"] + 1, name="K"))
    long = curves.reset_index().melt("K", var_name="kind", value_name="recall@K")
    chart = (
        alt.Chart(long)
        .mark_line()
        .encode(
            x=alt.X("K:Q", scale=alt.Scale(type="log", domain=[1, report["k"]], nice=False)),  # ends at K
            y=alt.Y("recall@K:Q", scale=alt.Scale(domain=[0, 1])),
            color="kind:N",
            tooltip=["kind", "K", alt.Tooltip("recall@K:Q", format=".3f")],
        )
    )
    st.markdown("**Recall@K** (share of queries with a relevant product in the top K)")
    st.altair_chart(chart, width="stretch")
    if report["skipped"]:
        with st.expander(f"{len(report['skipped'])} queries skipped"):
            st.dataframe(pd.DataFrame(report["skipped"]), hide_index=True, width="stretch")
    st.download_button(
        "Download the report (JSON)", json.dumps(report, indent=2), file_name="evaluation.json", mime="application/json"
    )


@st.cache_data(show_spinner=False, max_entries=4)
def cached_map(model_key: str, state: str, sample: int, group_by: str) -> pd.DataFrame:
    products, vectors = engine().catalog_vectors()  # model_key: the cache's key
    points = embedding_map(products, vectors, sample=sample, group_by=group_by)
    return pd.DataFrame([p.__dict__ for p in points])


def map_ui(lens) -> None:
    st.subheader("Map of the catalog embeddings")
    st.caption("t-SNE of a random sample of products: products of one category should form their own islands.")
    left, right = st.columns(2)
    sample = left.select_slider("Products on the map", [500, 1000, 1500, 2000, 3000], value=1500)
    group_by = right.selectbox(
        "Colour by", ["sub_category", "article_type", "master_category", "gender", "colour_group"]
    )
    if st.button("Draw the map") or st.session_state.get("map-drawn"):
        st.session_state["map-drawn"] = True
        ensure_index(lens)  # vectors of this encoder exist for every product
        with st.spinner("Computing t-SNE (up to a minute for 3,000 products)…"):
            try:
                points = cached_map(lens.encoder.model_key, lens.catalog_state(), sample, group_by)
            except QueryError as exc:  # too few embedded products for a map
                st.warning(str(exc), icon="⚠️")
                return
        chart = (
            alt.Chart(points)
            .mark_circle(size=22, opacity=0.75)
            .encode(
                x=alt.X("x:Q", axis=None),
                y=alt.Y("y:Q", axis=None),
                color=alt.Color("group:N", title=group_by, scale=alt.Scale(scheme="tableau20")),  # 13 apart
                tooltip=["name", "group", "product_id"],
            )
            .properties(height=560)
        )
        st.altair_chart(chart, width="stretch")


with page_resources():
    lens = engine()
    products = lens.count()


if products == 0:
    st.info("The catalog is empty: import products on the Catalog page first.", icon="📦")
    st.stop()

with st.expander("Query file format", expanded=False):
    st.markdown(QUERY_FORMAT)
with user_errors():
    kind, source, options = query_source_ui(lens.best_method())
    if source is not None:
        try:
            st.session_state["evaluation"] = run_evaluation(lens, kind, source, options)
        except QueryFileError as exc:
            st.session_state.pop("evaluation", None)  # the last run's results would look like this file's
            st.warning(str(exc), icon="⚠️")
    if "evaluation" in st.session_state:
        results_ui(st.session_state["evaluation"])
    st.divider()
    map_ui(lens)

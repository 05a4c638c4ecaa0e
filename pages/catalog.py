"""Catalog: browse and filter products, import images + CSV, rebuild the search index."""

from pathlib import Path

import pandas as pd
import streamlit as st

from core.attributes import LENGTH_NAMES, SLEEVES
from core.categories import categorize, images_in_zip
from core.config import load_settings
from core.errors import CatalogFormatError, ModelUnavailable
from core.ingest import REQUIRED_COLUMNS, extract_zip, temporary_folder
from ui.state import attribute_reader, engine
from ui.widgets import (
    MAX_ARCHIVE_UPLOAD_MB,
    SERVER_PATHS_OFF,
    page_header,
    page_resources,
    product_cards,
    progress_callback,
    server_paths_allowed,
    user_errors,
)

page_header("Catalog", "📦")

PAGE_SIZE = 20
HOW_TO_IMPORT = (
    "A catalog is a folder of product images named `<id>.jpg` plus a CSV in the *Fashion Product Images* "
    f"layout, with the columns {', '.join(f'`{c}`' for c in REQUIRED_COLUMNS)} "
    "(optional: `season`, `usage`, `colorgroup`). Give the folder path below or upload a zip of both. "
    "Importing again is safe: unchanged products are skipped and changed rows are updated."
)


def browse_ui(lens) -> None:
    status = lens.status()  # counts from the index's manifest when it is in step: no scan of a big catalog
    left, middle, sleeves_at, length_at, right = st.columns([1, 1, 1, 1, 2])
    gender = left.selectbox("Gender", ["Any", *status.genders])
    category = middle.selectbox("Category", ["Any", *status.categories])
    sleeves = sleeves_at.selectbox("Sleeves", ["Any", *SLEEVES], help="sleeve length read from each product photo")
    length = length_at.selectbox("Length", ["Any", *LENGTH_NAMES], help="garment length read from each product photo")
    text = right.text_input("Name contains", max_chars=200)
    filters = {"gender": gender, "sub_category": category, "sleeves": sleeves, "length": length}
    filters = {field: None if value == "Any" else value for field, value in filters.items()}
    total = lens.count(text, **filters)
    pages = max(1, -(-total // PAGE_SIZE))
    # Keyed by the filters, so a new filter starts again at page 1 (and never past its last page).
    page = (
        st.number_input("Page", 1, pages, 1, key=f"page-{gender}-{category}-{sleeves}-{length}-{text}")
        if pages > 1
        else 1
    )
    products = lens.browse(text=text, skip=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, **filters)
    st.caption(f"{total:,} products · page {page} of {pages}")
    if not products:
        st.info("No products match." if any(filters.values()) or text else "The catalog is empty.")
    product_cards(lens, products)


def import_ui(lens) -> None:
    st.markdown(HOW_TO_IMPORT)
    from_folder, from_zip = st.tabs(["From a folder", "Upload a zip"])
    with from_folder:
        if server_paths_allowed():
            default = load_settings().catalog_dir
            folder = st.text_input("Catalog folder (holding images/ and styles.csv)", value=str(default or ""))
            if st.button("Import folder", type="primary", disabled=not folder.strip()):
                root = Path(folder.strip()).expanduser()
                run_import(lens, root / "images", root / "styles.csv")
        else:
            st.info(SERVER_PATHS_OFF, icon="🔒")
    with from_zip:
        upload = st.file_uploader("Zip of images + one CSV", type=["zip"], max_upload_size=MAX_ARCHIVE_UPLOAD_MB)
        if upload is not None and st.button("Import zip", type="primary"):
            with temporary_folder() as scratch:
                images, styles = extract_zip(upload.getvalue(), Path(scratch))
                run_import(lens, images, styles)


def run_import(lens, images: Path, styles: Path) -> None:
    bar = st.progress(0.0, text="Starting import…")
    try:
        report = lens.import_catalog(images, styles, progress=progress_callback(bar))
    finally:
        bar.empty()  # also when the import is refused: the message replaces the bar
    (st.success if report.imported or report.unchanged else st.warning)(report.summary(), icon="✅")
    if report.skipped:
        with st.expander(f"{len(report.skipped)} rows skipped"):
            st.dataframe(pd.DataFrame(report.skipped, columns=["id", "reason"]), hide_index=True, width="stretch")


def categories_ui(lens) -> None:
    st.markdown(
        "Which kinds of product are in a set of photos? Each photo is classified by the garment-kind "
        "classifier (trained on real photos); the most common types are counted."
    )
    uploads = st.file_uploader(
        "Photos, or a zip of photos",
        type=["jpg", "jpeg", "png", "webp", "zip"],
        accept_multiple_files=True,
        key="category-uploads",
        max_upload_size=MAX_ARCHIVE_UPLOAD_MB,
    )
    top = st.slider("How many categories", 3, 15, 5)
    if not uploads or not st.button("Find the top categories", type="primary"):
        return
    sources, budget = [], [MAX_ARCHIVE_UPLOAD_MB * 2**20]  # one memory budget for all the zips
    for upload in uploads:
        if upload.name.lower().endswith(".zip"):
            sources.extend(images_in_zip(upload.getvalue(), budget))
        else:
            sources.append((upload.name, upload.getvalue()))
    if not sources:
        st.warning("No images found in the upload.", icon="⚠️")
        return
    bar = st.progress(0.0, text="Classifying…")
    report = categorize(attribute_reader(lens.settings.encoder_name), sources, progress=progress_callback(bar))
    bar.empty()
    show_categories(report, top)


def show_categories(report, top: int) -> None:
    if report.skipped:
        st.warning(f"{len(report.skipped)} files could not be read as images and were skipped.", icon="⚠️")
        with st.expander("Which files, and why"):
            st.dataframe(pd.DataFrame(report.skipped, columns=["file", "reason"]), hide_index=True, width="stretch")
    if not report.predictions:
        return
    counts = pd.DataFrame(
        [
            {"article type": c.article_type, "images": c.images, "share": c.share, "mean confidence": c.mean_confidence}
            for c in report.top(top)
        ]
    )
    st.markdown(f"**Top {len(counts)} categories in {len(report.predictions):,} images**")
    st.bar_chart(counts, x="article type", y="images", horizontal=True)
    st.dataframe(
        counts,
        hide_index=True,
        width="stretch",
        column_config={
            "share": st.column_config.ProgressColumn(format="percent", min_value=0, max_value=1),
            "mean confidence": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    with st.expander("Every image"):
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "image": name,
                        "article type": p.article_type,
                        "confidence": p.article_type_score,
                        "colour": p.colour,
                        "gender": p.gender,
                    }
                    for name, p in report.predictions
                ]
            ),
            hide_index=True,
            width="stretch",
        )


def index_ui(lens) -> None:
    status = lens.status()
    st.write(
        f"**{status.indexed:,}** of **{status.products:,}** products indexed "
        f"({status.index_type}, encoder `{status.encoder}`) — "
        + ("in step with the catalog ✅" if status.index_in_step else "out of step ⚠️")
    )
    if st.button("Rebuild index"):
        bar = st.progress(0.0, text="Rebuilding…")
        index = lens.rebuild_index(progress=progress_callback(bar), full=True)
        bar.empty()
        st.success(f"Index rebuilt: {len(index):,} products.")


with page_resources():
    lens = engine()
    empty = lens.count() == 0


browse, add, index, kinds = st.tabs(["Browse", "Import", "Index", "Top categories"])
with browse, user_errors():
    if empty:
        st.info("The catalog is empty. Open the **Import** tab to add products.\n\n" + HOW_TO_IMPORT, icon="📦")
    else:
        browse_ui(lens)
with add, user_errors():
    import_ui(lens)
with index, user_errors():
    index_ui(lens)
with kinds, user_errors():
    try:
        categories_ui(lens)
    except (CatalogFormatError, ModelUnavailable) as exc:  # a bad zip, or the attribute model missing
        st.warning(str(exc), icon="⚠️")

"""StyleLens entry point and home page: the state of the database, catalog, index and models at a glance."""

import pandas as pd
import streamlit as st

from core.config import load_settings
from ui.state import engine
from ui.widgets import page_header, page_resources

page_header("StyleLens", "👗")
st.caption(
    "Fashion search and recommendations: search by photo or description, refine a product with feedback, "
    "browse and import the catalog, measure retrieval quality."
)

settings = load_settings()
with page_resources():
    status = engine().status()

database_ok = status.database == "ok"
cols = st.columns(4)
cols[0].metric("Database", "reachable" if database_ok else "unreachable")
cols[1].metric("Products", f"{status.products:,}")
cols[2].metric(
    "Indexed",
    f"{status.indexed:,}",
    "in step" if status.index_in_step else "out of step",
    delta_color="normal" if status.index_in_step else "inverse",
)
cols[3].metric("Encoder", status.encoder.split("@")[0], help=f"Full model key: {status.encoder}")

if not database_ok:
    st.error(f"**The catalog database is unavailable.** {status.database}", icon="🛑")
elif status.products == 0:
    st.info(
        "The catalog is empty. Import products (a folder of `<id>.jpg` images plus a `styles.csv`) "
        "on the Catalog page, or start the app with `CATALOG_DIR` set.",
        icon="📦",
    )
    st.page_link("pages/catalog.py", label="Go to the Catalog page", icon="📦")
else:
    if not status.index_in_step:
        st.warning(
            "The search index is not in step with the catalog; it is rebuilt at the next search, "
            "or now from the Catalog page.",
            icon="🔁",
        )
    left, right = st.columns([2, 1])
    with left:
        st.subheader("Products per category")
        st.bar_chart(pd.Series(status.categories, name="products"), horizontal=True)
    with right:
        st.subheader("Per gender")
        st.dataframe(pd.Series(status.genders, name="products"), width="stretch")
    links = st.columns(4)
    links[0].page_link("pages/look.py", label="Shop the look of a photo", icon="🧍")
    links[1].page_link("pages/search.py", label="Search the catalog", icon="🔎")
    links[2].page_link("pages/refine.py", label="Refine a product with feedback", icon="✨")
    links[3].page_link("pages/evaluate.py", label="Measure retrieval quality", icon="📊")

with st.expander("Details"):
    st.json(
        {
            "database": status.database_address,
            "database name": settings.db_name,
            "collection": settings.collection_name,
            "data folder": str(settings.data_dir),
            "encoder": status.encoder,
            "index type": status.index_type,
            "products embedded by this encoder": status.embedded,
        }
    )

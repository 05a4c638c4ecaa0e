"""Search: type a description or upload a product photo; see the closest catalog products."""

import streamlit as st

from core.attributes import LENGTH_NAMES, SLEEVES, describe_features
from core.errors import ModelUnavailable
from core.images import load_image
from core.index import SearchFilter
from ui.state import attribute_reader, engine, pose_model
from ui.widgets import (
    before_after,
    ensure_index,
    new_upload,
    page_header,
    page_resources,
    product_grid,
    rerank_toggle,
    swatch_html,
    user_errors,
)

page_header("Search", "🔎")
st.caption("Describe what you are looking for, or upload a photo of a product: StyleLens shows the closest products.")

GENDERS = ["Any", "Women", "Men", "Girls", "Boys", "Unisex"]


def filters_ui(categories: list[str]) -> tuple[SearchFilter, int]:
    with st.sidebar:
        st.header("Filters")
        gender = st.selectbox("Gender", GENDERS, help="Unisex items are included with any gender.")
        chosen = st.multiselect("Category", categories)
        sleeves = st.multiselect("Sleeves", SLEEVES, help="sleeve length read from each product photo")
        lengths = st.multiselect(
            "Length",
            LENGTH_NAMES,
            help="garment length read from each product photo "
            "(tops: cropped / regular / long; dresses and skirts: mini / knee / midi / maxi; "
            "trousers: shorts / cropped / full)",
        )
        k = st.slider("Results", 5, 50, 15, step=5)
    return SearchFilter.make(None if gender == "Any" else gender, chosen, sleeves=sleeves, length=lengths), k


def search(lens, kind: str, value, k: int, where: SearchFilter, rerank: bool):
    if kind == "text":
        return lens.search_text(value, k, where, rerank=rerank)
    return lens.search_image(value, k, where, rerank=rerank)


def _set_query(kind: str, value) -> None:
    st.session_state["query"] = (kind, value)


def query_ui() -> None:
    """Widgets that set st.session_state['query'] to ("text", str), ("image", bytes) or ("similar", id)."""
    by_text, by_image = st.tabs(["Describe it", "Upload a photo"])
    with by_text:
        with st.form("text-search"):
            st.text_input("Description", placeholder="red floral summer dress", key="text", max_chars=10_000)
            if st.form_submit_button("Search", type="primary"):
                _set_query("text", st.session_state["text"])
    with by_image:
        uploaded = new_upload("Product photo", key="upload")
        if uploaded is not None:
            _set_query("image", uploaded)


def looks_like(lens, picture, photo) -> str:
    """What the heads read in the photo (the search's own reading when its encoder has heads), as one line."""
    try:
        guess = (
            photo.prediction
            if photo is not None and photo.prediction is not None
            else attribute_reader(lens.settings.encoder_name).read([picture])[0].prediction
        )
    except ModelUnavailable:  # no attribute heads available (bundled weights missing)
        return ""
    if guess is None:
        return ""
    kinds = ", ".join(f"{name} {score:.0%}" for name, score in guess.top_article_types)
    return (
        f"**Looks like:** {kinds}  \n**Colour:** {guess.colour} ({guess.colour_score:.0%}) · "
        f"**Gender:** {guess.gender} ({guess.gender_score:.0%})"
    )


def photo_panel(lens, picture, photo) -> None:
    """The upload, the garment found in it (whose pixels give its colour) and what was read from it."""
    left, middle, right = st.columns([1, 1, 4])
    left.image(picture, caption="Your photo", width="stretch")
    if photo is not None and photo.segmented:
        middle.image(photo.cutout, caption="The garment found in your photo", width="stretch")
    with right:
        st.markdown(looks_like(lens, picture, photo))
        if photo is not None:
            st.markdown(f"{swatch_html(photo.colour)} colour of the garment's own pixels", unsafe_allow_html=True)
        cut = describe_features(lens.photo_features(picture, photo), shade=False)
        if cut:
            st.markdown(f"**Cut:** {cut}")


def person_hint(data: bytes, picture) -> None:
    """A photo of a person is served better by Shop the Look (each garment searched on its own): say so, with
    a button that takes the photo there."""
    if not pose_model().verdict(picture).people:
        return
    st.info(
        "There is a person in this photo: **Shop the Look** finds each garment they wear and its own matches.",
        icon="🧍",
    )
    if st.button("Shop the Look with this photo", key="to-look"):
        st.session_state["look_photo"] = ("upload", data)
        st.switch_page("pages/look.py")


def run_query(lens, kind: str, value, k: int, where: SearchFilter, rerank: bool):
    """The results for the current query (None when its product is gone)."""
    uploaded = kind == "image"
    if kind == "text":
        query = value
    elif kind == "image":
        query = load_image(value)  # a bad upload stops here with a clear message
    else:
        product = lens.product(value)
        if product is None:
            st.warning("That product is no longer in the catalog.")
            return None
        st.info(f"Products like **{product.name}**", icon="🔁")
        kind, query = "image", load_image(lens.image_path(product))
    result = search(lens, kind, query, k, where, rerank)
    if uploaded:
        photo_panel(lens, query, result.photo)
        person_hint(value, query)
    return result


with page_resources():
    lens = engine()
    categories = sorted(lens.status().categories)


where, k = filters_ui(categories)
rerank = rerank_toggle()
query_ui()
kind, value = st.session_state.get("query", ("", None))
if not kind:
    st.info("Type a description or upload a product photo to search the catalog.", icon="💡")
with user_errors():
    if kind:
        ensure_index(lens)
    result = run_query(lens, kind, value, k, where, rerank) if kind else None
    if result is not None:
        for note in result.notes:
            st.info(note)
        st.caption("Timing: " + " · ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items()))
        before_after(lens, result)
        clicked = product_grid(lens, result.hits, "hits", result.explanations, actions=("More like this", "✨ Refine"))
        if clicked and clicked[0] == "More like this":
            _set_query("similar", clicked[1])
            st.rerun()
        elif clicked:
            st.session_state["refine_ref"] = clicked[1]
            st.switch_page("pages/refine.py")

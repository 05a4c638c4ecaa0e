"""Refine with Feedback: a reference product or photo + "lighter, for women" -> a re-ranked grid, as a dialogue."""

import html

import streamlit as st

from core.attributes import describe_features
from core.composer import METHODS
from core.errors import ImageError
from core.images import MAX_FILE_BYTES, load_image
from ui.state import engine
from ui.widgets import (
    COLUMNS,
    IMAGE_TYPES,
    before_after,
    chips_html,
    ensure_index,
    page_header,
    page_resources,
    picture,
    product_card,
    rerank_toggle,
    swatch_html,
    user_errors,
)

page_header("Refine with Feedback", "✨")

EXAMPLES = [
    "longer sleeves, lighter color",
    "same but in navy",
    "the women's version",
    "sleeveless",
    "a longer dress",
    "darker and striped",
]
HELP = (
    'Describe the change you want. StyleLens reads **colours** ("in navy"), **lighter / darker**, '
    '**sleeves** ("longer sleeves", "sleeveless", "with sleeves"), **length** ("a longer dress", '
    '"cropped", "midi", "full length"), **women / men**, **product types** ("as a shirt"), '
    '**usage** ("for the gym"), **season** and **patterns** (striped, checked, printed, solid), typos included. '
    'Sleeves and length are read relative to the reference ("longer" than its own). Fit is not recorded '
    "in the catalog yet."
)


def dialogue() -> list[dict]:
    """Turns so far: {"ref": ("product", id) | ("upload", bytes), "text": feedback or ""}."""
    return st.session_state.setdefault("dialogue", [])


def start_with(ref: tuple) -> None:
    st.session_state["dialogue"] = [{"ref": ref, "text": ""}]


def reference_ui(lens) -> None:
    """Pick the first reference: a catalog product (search by name or id) or an uploaded photo."""
    pick, upload = st.tabs(["Pick a catalog product", "Upload a photo"])
    with pick:
        left, right = st.columns([3, 1])
        words = left.text_input("Find a product by name", placeholder="e.g. red t-shirt", max_chars=200)
        product_id = right.number_input("…or its id", min_value=0, max_value=2**53 - 1, step=1, value=0)
        if words.strip():
            matches = lens.browse(text=words.strip(), limit=30)
            if not matches:
                st.caption("No product name contains that.")
            else:
                choice = st.selectbox("Products", matches, format_func=lambda p: f"{p.name} · {p.id}")
                if st.button("Use as reference", type="primary", key="pick-match"):
                    start_with(("product", choice.id))
                    st.rerun()
        if product_id and st.button("Use this id", key="pick-id"):
            if lens.product(int(product_id)) is None:
                st.warning(f"There is no product with id {int(product_id)}.", icon="⚠️")
            else:
                start_with(("product", int(product_id)))
                st.rerun()
    with upload:
        photo = st.file_uploader(
            "A product photo", type=IMAGE_TYPES, key="refine-upload", max_upload_size=MAX_FILE_BYTES // 2**20
        )
        if photo is not None and st.button("Use this photo", type="primary"):
            load_image(photo.getvalue())  # refuse a bad file now, with a message
            start_with(("upload", photo.getvalue()))
            st.rerun()


def reference_picture(lens, ref: tuple):
    """(image, product or None) of a turn's reference."""
    if ref[0] == "upload":
        return load_image(ref[1]), None
    product = lens.product(ref[1])
    if product is None:
        raise ImageError("That reference product is no longer in the catalog.")
    return load_image(lens.image_path(product)), product


def history_ui(lens, turns: list[dict]) -> None:
    """The dialogue so far as a strip: reference, feedback, next reference, ... The current turn's feedback is
    the one typed in its box (drawn below the strip), so the strip never lags a step behind."""
    typed = st.session_state.get(f"feedback-{len(turns)}")
    if typed is not None:
        turns[-1]["text"] = typed
    columns = st.columns(min(len(turns), 6) * 2)
    for index, turn in enumerate(turns[-6:]):
        image, product = reference_picture(lens, turn["ref"])
        with columns[index * 2]:
            picture(image, caption=(shortened(product.name, 48) if product else "your photo"), width=110)
        with columns[index * 2 + 1]:
            if turn["text"]:
                st.markdown(f"➜ *“{html.escape(turn['text'][:80])}”*")
    left, right = st.columns([1, 1])
    if len(turns) > 1 and left.button("↩ Step back"):
        turns.pop()
        st.rerun()
    if right.button("Start over"):
        st.session_state["dialogue"] = []
        st.rerun()


def shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def results_ui(lens, result) -> int | None:
    """The grid, each card with why it matched (the result's explanations: swatch, chips from the catalog's
    labels and, after 📷, from its photo); returns the id clicked to become the next reference."""
    reference = result.reference
    if reference is not None and reference.colours:
        st.markdown(f"Reference colour {swatch_html(reference.colours[0][0])}", unsafe_allow_html=True)
    clicked = None
    for start in range(0, len(result.hits), COLUMNS):
        for column, hit in zip(st.columns(COLUMNS), result.hits[start : start + COLUMNS]):
            why = result.explanations.get(hit.product.id)
            with column:
                product_card(
                    lens,
                    hit.product,
                    caption=f"#{hit.rank} · score {hit.score:.3f}",
                    features=why.features if why else None,
                )
                if why is not None:
                    swatch = swatch_html(why.swatch) if why.swatch else ""
                    photo = " 📷 " + chips_html(why.photo_chips) if why.photo_chips else ""
                    st.markdown(swatch + " " + chips_html(why.chips) + photo, unsafe_allow_html=True)
                if st.button("Use as reference", key=f"next-{hit.product.id}", width="stretch"):
                    clicked = hit.product.id
    return clicked


def feedback_ui(turn: dict, step: int, method_default: str) -> tuple[str, str]:
    text = st.text_input(
        "Your feedback",
        value=turn["text"],
        max_chars=10_000,
        key=f"feedback-{step}",
        placeholder="e.g. " + " · ".join(EXAMPLES),
        help=HELP,
    )
    methods = [m for m in METHODS if m != "composer" or method_default == "composer"]  # only those that load
    with st.expander("Advanced"):
        method = st.radio(
            "Composition",
            methods,
            index=methods.index(method_default),
            horizontal=True,
            help="image: the reference only · text: the words only · sum: both embeddings added · "
            "composer: the trained FashionVLP-style model",
        )
    return text, method


with page_resources():
    lens = engine()
    empty = lens.count() == 0
rerank = rerank_toggle()

if empty:
    st.info("The catalog is empty: import products on the Catalog page first.", icon="📦")
    st.stop()

if "refine_ref" in st.session_state:  # "Refine" clicked on another page
    start_with(("product", st.session_state.pop("refine_ref")))

with user_errors():
    turns = dialogue()
    if not turns:
        st.info("Pick or upload a reference product, then tell StyleLens what to change.", icon="💡")
        reference_ui(lens)
        st.stop()
    history_ui(lens, turns)
    st.divider()
    turn = turns[-1]
    reference_image, reference_product = reference_picture(lens, turn["ref"])
    left, right = st.columns([1, 4])
    with left:
        picture(reference_image, caption="Current reference")
    with right:
        text, method = feedback_ui(turn, len(turns), lens.best_method())
        if reference_product is not None:
            st.caption(f"{reference_product.name} · {reference_product.gender} · {reference_product.article_type}")
    turn["text"] = text
    ensure_index(lens)
    ref = turn["ref"]
    query = {"image": ref[1] if ref[0] == "upload" else None, "ref_id": ref[1] if ref[0] == "product" else None}
    result = lens.search_composed(text, **query, k=10, method=method, rerank=rerank)
    for note in result.notes:
        st.info(note, icon="ℹ️")
    if result.reference is not None:
        source = "Your photo" if ref[0] == "upload" else "The reference"
        st.markdown(f"**{source}:** {describe_features(result.reference)}")
    if result.feedback is not None and result.feedback.understood:
        st.markdown(f"**Understood:** {result.feedback.describe()}")
    st.caption(f"Method {method} · " + " · ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items()))
    before_after(lens, result)
    chosen = results_ui(lens, result)  # an uploaded reference was read from its garment's own pixels
    if chosen is not None:
        turns.append({"ref": ("product", chosen), "text": ""})
        st.rerun()

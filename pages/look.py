"""Shop the Look: a photo of a person -> pose check, gender, garment boxes, similar products for every garment."""

import hashlib
import random

import streamlit as st

from core.config import load_settings
from core.errors import ModelUnavailable
from core.images import load_image
from core.look.drawing import draw_boxes, draw_masks, draw_pose
from core.look.shop import shop_the_look
from ui.state import engine, garment_detector, gender_model, pose_model
from ui.widgets import (
    ensure_index,
    new_upload,
    page_header,
    page_resources,
    picture,
    product_grid,
    rerank_toggle,
    swatch_html,
    user_errors,
)

page_header("Shop the Look", "🧍")
st.caption(
    "Upload a full-length photo of a person: StyleLens checks the pose, works out whose clothing it is, "
    "finds each garment and shows similar catalog products for every one."
)

SAMPLE_COUNT = 6
ICONS = {"topwear": "👕", "bottomwear": "👖", "footwear": "👟", "fullbody": "👗", "product": "🛍️"}


def _use(kind: str, value) -> None:
    st.session_state["look_photo"] = (kind, value)


def sample_paths(folder) -> list:
    if folder is None or not folder.is_dir():
        return []
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    step = max(1, len(photos) // SAMPLE_COUNT)
    return photos[::step][:SAMPLE_COUNT]


def photo_ui(lens) -> None:
    """Widgets that set st.session_state['look_photo'] to ("upload", bytes) or ("path", str)."""
    upload_tab, sample_tab = st.tabs(["Upload a photo", "Pick a sample"])
    with upload_tab:
        uploaded = new_upload("A photo of a person (or of one product)", key="look-upload")
        if uploaded is not None:
            _use("upload", uploaded)
    with sample_tab:
        samples = sample_paths(load_settings().samples_dir)
        if samples:
            for column, path in zip(st.columns(len(samples)), samples):
                with column, user_errors():
                    picture(load_image(path, max_side=256))
                    if st.button("Try this", key=f"sample-{path.name}", width="stretch"):
                        _use("path", str(path))
        else:
            st.caption(
                "No sample photos of people are set up here: upload one, or try a catalog product photo. "
                "(Whoever runs the app can offer samples with `SAMPLE_PHOTOS_DIR`.)"
            )
        if st.button("🎲 A random catalog product photo", help="Packshots and on-model catalog shots"):
            products = lens.browse(limit=200)
            if products:
                _use("path", str(lens.image_path(random.choice(products))))


def pose_panel(result) -> None:
    verdict = result.pose
    if verdict.full_shot and verdict.front_facing:
        st.success("**Full-length, front-facing shot**", icon="✅")
    elif not verdict.people:
        st.info("**No person found** — treated as a product photo.", icon="🛍️")
    else:
        what = "Full-length" if verdict.full_shot else "Not a full-length shot"
        st.warning(f"**{what}:** " + "; ".join(verdict.reasons), icon="⚠️")


def gender_panel(result) -> None:
    if any(g.detection.label == "product" for g in result.garments):
        st.markdown("**Shopping for:** anyone — a product photo's similar products are not limited by gender.")
        return
    if st.session_state.get("look_gender", "As detected") == "As detected":
        source = {
            "face and clothes": "read from the face and the clothes",
            "clothes": "read from the clothes only: no face found",
        }
        st.markdown(
            f"**Shopping for:** {result.gender} · {result.gender_score:.0%} confidence  \n"
            f"<small>{source.get(result.gender_source, '')}</small>",
            unsafe_allow_html=True,
        )
        if result.gender_unsure:
            other = "Men" if result.gender == "Women" else "Women"
            st.warning(
                f"Not sure whose clothing this is: showing {result.gender.lower()}'s products. "
                f"Choose **{other}** below if that is wrong.",
                icon="🤔",
            )
    else:
        st.markdown(f"**Shopping for:** {result.gender} (your choice)")
    st.radio(
        "Whose clothing?",
        ["As detected", "Women", "Men"],
        key="look_gender",
        horizontal=True,
        help="Results never cross gender unless you change it here; unisex items are always included.",
    )


def garments_panel(lens, photo, result) -> None:
    for garment in result.garments:
        d = garment.detection
        st.subheader(f"{ICONS.get(d.label, '•')} {d.label.capitalize()}")
        left, right = st.columns([1, 5])
        with left:
            said = "the garment in your photo" if d.label == "product" else f"detector score {d.score:.2f}"
            picture(garment.cutout or photo.crop(garment.box), caption=said)
            if garment.colour is not None:
                st.markdown(
                    f"{swatch_html(garment.colour)} <small>colour of the garment's own pixels</small>",
                    unsafe_allow_html=True,
                )
        with right:
            if not garment.hits:
                st.caption("No catalog product of this kind and gender.")
            for note in garment.notes:
                if garment.hits or not note.startswith("No product matches"):  # said just above
                    st.caption(note)
            clicked = product_grid(lens, garment.hits, f"look-{d.label}", garment.explanations, actions=("✨ Refine",))
        if clicked:
            st.session_state["refine_ref"] = clicked[1]
            st.switch_page("pages/refine.py")


with page_resources():
    lens = engine()
    try:
        models = {
            "detect": garment_detector(),
            "pose_model": pose_model(),
            "gender_model": gender_model(lens.settings.encoder_name),
        }
    except ModelUnavailable as exc:
        st.error(f"**A Shop the Look model could not be loaded.** {exc}", icon="🛑")
        st.stop()


def look(lens, photo, kind: str, value, k: int, gender: str | None, rerank: bool):
    """The pipeline's result, kept for the photo and settings: other clicks (Refine, a tab) do not rerun it."""
    key = (
        kind,
        value if kind == "path" else hashlib.sha256(value).hexdigest(),
        k,
        gender,
        rerank,
        lens.catalog_state(),
    )
    kept = st.session_state.get("look_result")
    if kept is None or kept[0] != key:
        kept = (key, shop_the_look(lens, photo, **models, k=k, gender=gender, rerank=rerank))
        st.session_state["look_result"] = kept
    return kept[1]


with st.sidebar:
    k = st.slider("Products per garment", 3, 10, 5)
rerank = rerank_toggle()
with user_errors():
    photo_ui(lens)
kind, value = st.session_state.get("look_photo", ("", None))
if not kind:
    st.info("Upload a photo of a person, or pick a sample.", icon="💡")
with user_errors():
    photo = load_image(value) if kind else None  # a bad upload stops here with a clear message
    if photo is not None:
        ensure_index(lens)
        choice = st.session_state.get("look_gender", "As detected")
        result = look(lens, photo, kind, value, k, None if choice == "As detected" else choice, rerank)
        if result.blank:
            st.warning(result.notes[0], icon="⚠️")
            st.stop()
        shown_pose, shown_boxes, verdicts = st.columns([1, 1, 1.2])
        with shown_pose:
            picture(draw_pose(photo, result.pose.landmarks), caption="Pose keypoints", side=640)
        with shown_boxes:
            masks = [(g.detection.label, g.mask) for g in result.garments if g.mask is not None]
            boxes = [
                (g.detection.label, g.box, g.detection.score) for g in result.garments if g.detection.label != "product"
            ]
            caption = "Garments found (tinted: each garment's pixels)" if masks else "Garments found"
            picture(draw_boxes(draw_masks(photo, masks), boxes), caption=caption, side=640)
        with verdicts:
            st.markdown("**1 · Pose check**")
            pose_panel(result)
            st.markdown("**2 · Gender check**")
            gender_panel(result)
            for note in result.notes:
                st.info(note, icon="ℹ️")
            total = sum(result.timings_ms.values())
            st.caption(
                "Timing: "
                + " · ".join(f"{name} {ms:.0f} ms" for name, ms in result.timings_ms.items())
                + f" · total {total:.0f} ms"
            )
        st.divider()
        st.markdown("**3 · Similar products for every garment**")
        if not result.garments:
            st.warning("No garment was found in this photo. Try a sharper, full-length photo of one person.", icon="⚠️")
        garments_panel(lens, photo, result)

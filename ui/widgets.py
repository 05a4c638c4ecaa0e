"""Drawing helpers: result grids, product cards and friendly error boxes."""

from __future__ import annotations

import base64
import contextlib
import functools
import hmac
import html
import io
from collections.abc import Iterator, Sequence

import streamlit as st

from core.attributes import describe_features
from core.catalog import Product
from core.config import load_settings
from core.engine import Hit, SearchResult, StyleLens
from core.errors import DatabaseUnavailable, ImageError, ModelUnavailable, SettingsError, StyleLensError
from core.images import MAX_FILE_BYTES, load_image

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
COLUMNS = 5
THUMBNAIL_SIDE = 256
MAX_ARCHIVE_UPLOAD_MB = 512  # catalog and query zips; bigger catalogs are imported from a folder or the CLI
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PAGES = [
    ("app.py", "Home", "🏠"),
    ("pages/look.py", "Shop the Look", "🧍"),
    ("pages/search.py", "Search", "🔎"),
    ("pages/refine.py", "Refine with Feedback", "✨"),
    ("pages/catalog.py", "Catalog", "📦"),
    ("pages/evaluate.py", "Evaluate", "📊"),
]


def page_header(title: str, icon: str) -> None:
    """Page setup shared by every page: config, the sidebar navigation and the title."""
    st.set_page_config(page_title=f"{title} · StyleLens", page_icon=icon, layout="wide")
    _require_password()
    with st.sidebar:
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon)
        st.divider()
    st.title(f"{icon} {title}")


def _require_password() -> None:
    """With APP_PASSWORD set, nothing below the sign-in form runs until this session has given it."""
    try:
        password = load_settings().app_password
    except SettingsError as exc:  # every page passes here first: a wrong setting is said once, plainly
        st.error(f"**A setting is wrong.** {exc}", icon="🛑")
        st.stop()
    if not password or st.session_state.get("signed_in"):
        return
    st.title("👗 StyleLens")
    with st.form("sign-in"):
        typed = st.text_input("Password", type="password", max_chars=200)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted and hmac.compare_digest(typed.encode(), password.encode()):
        st.session_state["signed_in"] = True
        st.rerun()
    if submitted:
        st.error("That is not the password.")
    st.stop()


def serving_network() -> bool:
    """Whether the app listens beyond this machine (STYLELENS_HOST, or streamlit's server.address)."""
    return (st.get_option("server.address") or "0.0.0.0") not in LOOPBACK


def server_paths_allowed() -> bool:
    """Whether pages may read folders and files on the server by path: only for the machine's own user (loopback,
    no APP_PASSWORD: a password means others are meant to come in, perhaps through a proxy on loopback), unless
    ALLOW_SERVER_PATHS says otherwise. Visitors upload instead."""
    settings = load_settings()
    if settings.allow_server_paths is not None:
        return settings.allow_server_paths
    return not serving_network() and not settings.app_password


SERVER_PATHS_OFF = (
    "Paths on the server are turned off because the app is shared (served to the network or "
    "behind a password; set `ALLOW_SERVER_PATHS=1` to allow them); upload instead."
)


@contextlib.contextmanager
def page_resources() -> Iterator[None]:
    """Around opening a page's engine: when the database or the encoder is unavailable, say so and stop."""
    try:
        yield
    except DatabaseUnavailable as exc:
        st.error(f"**The catalog database is unavailable.** {exc}", icon="🛑")
        st.stop()
    except ModelUnavailable as exc:  # the configured encoder cannot be loaded (missing weights, unknown name, offline)
        st.error(f"**The encoder could not be loaded.** {exc}", icon="🛑")
        st.stop()
    except StyleLensError as exc:  # e.g. a VECTOR_BACKEND it does not know
        st.error(f"**StyleLens cannot start.** {exc}", icon="🛑")
        st.stop()


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show expected failures (bad upload, bad query, database down) as a message, not a traceback."""
    try:
        yield
    except DatabaseUnavailable as exc:
        st.error(f"**The catalog database is unavailable.** {exc}", icon="🛑")
    except StyleLensError as exc:  # a bad upload, query, file or zip; a full disk
        st.warning(str(exc), icon="⚠️")


def product_grid(
    engine: StyleLens, hits: Sequence[Hit], key: str, explanations: dict, actions: Sequence[str] = ()
) -> tuple[str, int] | None:
    """Cards for search hits, each with one button per action and, from its Explanation in the search result,
    its cut and the chips that drove its place; returns (action, product id) clicked."""
    clicked = None
    features = {i: e.features for i, e in explanations.items()}
    chips = {i: e.chips + e.photo_chips for i, e in explanations.items()}
    for start in range(0, len(hits), COLUMNS):
        for column, hit in zip(st.columns(COLUMNS), hits[start : start + COLUMNS]):
            with column:
                product_card(
                    engine,
                    hit.product,
                    caption=f"#{hit.rank} · score {hit.score:.3f}",
                    features=features.get(hit.product.id),
                )
                if chips and chips.get(hit.product.id):
                    st.markdown(chips_html(chips[hit.product.id]), unsafe_allow_html=True)
                for action in actions:
                    if st.button(action, key=f"{key}-{action}-{hit.product.id}", width="stretch"):
                        clicked = (action, hit.product.id)
    return clicked


def new_upload(label: str, key: str) -> bytes | None:
    """A photo uploader; the bytes of a file just uploaded with it, None when nothing new was given."""
    upload = st.file_uploader(label, type=IMAGE_TYPES, key=key, max_upload_size=MAX_FILE_BYTES // 2**20)
    if upload is None or st.session_state.get(f"{key}-seen") == upload.file_id:
        return None
    st.session_state[f"{key}-seen"] = upload.file_id
    return upload.getvalue()


def chips_html(chips) -> str:
    """core.feedback.Chip list as small green (✓) and red (✗) labels."""
    return " ".join(
        f'<span style="padding:1px 6px;border-radius:8px;font-size:0.8em;'
        f'background:{"#d9f2e3" if c.ok else "#f8dede"}">{html.escape(c.label)} {"✓" if c.ok else "✗"}</span>'
        for c in chips
    )


def swatch_html(rgb) -> str:
    """A small square of the colour `rgb` (a garment's colour)."""
    return (
        f'<span title="garment colour" style="display:inline-block;width:14px;height:14px;border-radius:3px;'
        f'border:1px solid #999;vertical-align:middle;background:rgb{tuple(int(v) for v in rgb)}"></span>'
    )


def rerank_toggle() -> bool:
    """The sidebar switch for re-ranking, shared by every page (on by default)."""
    with st.sidebar:
        return st.toggle(
            "Re-rank with garment features",
            value=st.session_state.get("rerank", True),
            key="rerank",
            help="Re-orders the top 100 by colour, lightness, sleeves and pattern read from the photos, "
            "set against what you asked for; chips under each result say what drove it.",
        )


def before_after(engine: StyleLens, result: SearchResult, count: int = 10) -> None:
    """A re-ranked result's first-stage top next to its re-ranked one, with where each came from."""
    if not result.reranked:
        return
    with st.expander("Before / after re-ranking"):
        was = result.first_ranks
        for title, hits in (("First stage", result.first_stage[:count]), ("Re-ranked", result.hits[:count])):
            st.caption(title)
            for column, hit in zip(st.columns(count), hits):
                with column:
                    path = engine.image_path(hit.product)
                    try:
                        st.markdown(
                            f'<img src="{_thumbnail_uri(str(path), path.stat().st_mtime)}" style="width:100%">',
                            unsafe_allow_html=True,
                        )
                    except (OSError, ImageError):
                        st.caption("(no image)")
                    moved = was.get(hit.product.id)
                    st.caption(
                        f"#{hit.rank}" + ("" if title == "First stage" else f" (was #{moved})" if moved else " (new)")
                    )


def product_cards(engine: StyleLens, products: Sequence[Product]) -> None:
    features = engine.stored_features([p.id for p in products])
    for start in range(0, len(products), COLUMNS):
        for column, product in zip(st.columns(COLUMNS), products[start : start + COLUMNS]):
            with column:
                product_card(engine, product, caption=f"id {product.id}", features=features.get(product.id))


def product_card(engine: StyleLens, product: Product, caption: str = "", features=None) -> None:
    """A product's picture, name and labels; `features` (its stored GarmentFeatures) adds its sleeves and length."""
    path = engine.image_path(product)
    try:
        source = _thumbnail_uri(str(path), path.stat().st_mtime)
        st.markdown(
            f'<img src="{source}" alt="{html.escape(product.name)}" style="width:100%;aspect-ratio:1;'
            'object-fit:contain;background:#fff;border-radius:6px">',
            unsafe_allow_html=True,
        )
    except (OSError, ImageError):
        st.caption("(image missing)")
    st.markdown(f"**{product.name or product.id}**")
    cut = describe_features(features, shade=False) if features is not None else ""
    st.caption(
        f"{product.gender} · {product.article_type or product.sub_category} · {product.base_colour}"
        + (f"  \n{cut}" if cut else "")
        + (f"  \n{caption}" if caption else "")
    )


def picture(image, caption: str = "", width: int | None = None, side: int = THUMBNAIL_SIDE) -> None:
    """A PIL image drawn inline (not through the media store, see _thumbnail_uri), with a caption."""
    small = image.copy()
    small.thumbnail((side, side))
    buffer = io.BytesIO()
    small.convert("RGB").save(buffer, format="JPEG", quality=85)
    size = f"width:{width}px" if width else "width:100%"
    st.markdown(
        f'<img src="data:image/jpeg;base64,{base64.b64encode(buffer.getvalue()).decode()}" '
        f'style="{size};border-radius:6px;background:#fff">',
        unsafe_allow_html=True,
    )
    if caption:
        st.caption(caption)


@functools.lru_cache(maxsize=4096)
def _thumbnail_uri(path: str, modified: float) -> str:
    """The image as a small inline JPEG. Inline, not through Streamlit's media store: grids that
    rerun quickly under load lost media files there before the browser fetched them."""
    buffer = io.BytesIO()
    load_image(path, max_side=THUMBNAIL_SIDE).save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def ensure_index(engine: StyleLens) -> None:
    """Build the index with a progress bar when it is not ready (first use of an encoder, catalog changed)."""
    if engine.index_ready():
        return
    bar = st.progress(0.0, text=f"Preparing the search index for encoder {engine.encoder.model_key}…")
    engine.index(progress=progress_callback(bar))
    bar.empty()


def progress_callback(bar):
    """Adapt st.progress to core's progress(done, total, message) callbacks."""

    def update(done: int, total: int, message: str) -> None:
        bar.progress(min(1.0, done / total) if total else 1.0, text=f"{message}: {done:,}/{total:,}")

    return update

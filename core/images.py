"""Safe image loading: every image that enters StyleLens (upload, CLI path, catalog import) goes
through `load_image`, which returns an upright RGB picture or raises `ImageError` with a message
a person can act on.

Only the formats in `ALLOWED_FORMATS` are ever decoded: Pillow would otherwise hand a PostScript file
named `x.jpg` to Ghostscript (an interpreter that can loop forever), and its rarer decoders (DDS, PSD,
FLI, ...) are where crafted files find bugs. Files are read with a size limit and only when they are
regular files (never `/dev/zero` or a pipe).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import FileLimitError, ImageError

# Pillow format names tried when opening: what phones, browsers and catalogs produce (MPO: phone JPEGs
# with a depth or preview frame). Nothing else is decoded.
Image.init()  # registers every plugin now, so the names below are known (MPO is otherwise loaded late)
ALLOWED_FORMATS = tuple(f for f in ("JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF") if f in Image.OPEN)
MAX_FILE_BYTES = 40 * 1024 * 1024  # 40 MB: bigger uploads are refused before decoding
MAX_PIXELS = 50_000_000  # a 40-megapixel phone photo passes; decompression bombs do not
WORKING_SIDE = 1024  # images are shrunk to at most this side once decoded


def load_image(source: bytes | str | Path, max_side: int = WORKING_SIDE) -> Image.Image:
    """Decode `source` (bytes or a file path) into an upright RGB image no larger than `max_side`.

    Handles EXIF rotation, CMYK, palette and alpha images (alpha is composited on white, as
    catalog packshots are). Raises ImageError for empty, non-image, corrupt, truncated or huge input.
    The upright size of the file's picture before any shrinking is in `image.info["original_size"]`.
    """
    data = _read_bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"The file is {len(data) / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"The image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
                    f"the limit is {MAX_PIXELS // 1_000_000} megapixels."
                )
            image.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced scale, fast and small
            image.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError("The image is too large to open safely (decompression bomb guard).") from exc
    except UnidentifiedImageError as exc:
        raise ImageError("This file is not an image StyleLens can read (JPEG, PNG, WebP, BMP, GIF, TIFF).") from exc
    except Exception as exc:  # noqa: BLE001 - a decoder fed crafted bytes can fail in any way; all mean "damaged"
        raise ImageError(
            "The image file is damaged or truncated: it may not have been saved or uploaded completely. "
            "Try another copy of the photo."
        ) from exc  # the decoder's own words stay on the exception chain, for logs
    try:
        return _to_upright_rgb(image, max_side, (width, height))
    except Exception as exc:  # noqa: BLE001 - e.g. a mode Pillow decodes but cannot convert
        raise ImageError(
            "The image uses a colour format StyleLens cannot convert: save it as JPEG or PNG and try again."
        ) from exc


def original_size(image: Image.Image) -> tuple[int, int]:
    """The size of the file a load_image picture came from (its own size for any other picture)."""
    return tuple(image.info.get("original_size", image.size))  # type: ignore[return-value]


def _read_bytes(source: bytes | str | Path) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    try:
        return read_file_limited(Path(source), MAX_FILE_BYTES)
    except FileLimitError as exc:
        raise ImageError(str(exc)) from exc


def read_file_limited(path: Path, limit: int, what: str = "image file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Devices, pipes and folders are refused
    before they are opened (reading `/dev/zero` never ends; opening a pipe blocks)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise FileLimitError(f"No {what} at {path}.")
        if path.stat().st_size > limit:
            raise FileLimitError(f"{path.name} is larger than {limit / 2**20:.0f} MB, the limit for a {what}.")
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise FileLimitError(f"Cannot read the {what} {path}: {exc.strerror or exc}.") from exc
    if len(data) > limit:  # grew after the check
        raise FileLimitError(f"{path.name} is larger than {limit / 2**20:.0f} MB, the limit for a {what}.")
    return data


def _to_upright_rgb(image: Image.Image, max_side: int, original: tuple[int, int]) -> Image.Image:
    before = image.size
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not make the picture unusable
        pass
    if image.size != before:  # turned a quarter: so was the original
        original = (original[1], original[0])
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    elif image.mode.startswith(("I", "F")):
        image = _eight_bit(image).convert("RGB")  # 16-bit and float greys: Pillow would clip them to white
    elif image.mode != "RGB":
        image = image.convert("RGB")  # CMYK, L, P, 1 ...
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    image.info["original_size"] = original
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit or float grey image scaled into 0-255 (a 16-bit PNG keeps its look, not white)."""
    values = np.asarray(image, dtype=np.float32)  # 200 MB at 50 megapixels, freed at once
    if image.mode.startswith("I;16") or (
        image.mode == "I" and 0 <= values.min() and values.max() <= 65535 and values.max() > 255
    ):
        values = values / 257.0  # the full 16-bit range onto 8 bits
    elif values.max() > 255 or values.min() < 0 or image.mode == "F":
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        values = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return Image.fromarray(np.nan_to_num(values).clip(0, 255).astype(np.uint8), mode="L")

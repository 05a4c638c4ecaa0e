"""Safe image loading: every image that enters StyleLens (upload, CLI path, catalog import) goes
through `load_image`, which returns an upright RGB picture or raises `ImageError` with a message
a person can act on.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_FILE_BYTES = 40 * 1024 * 1024  # 40 MB: bigger uploads are refused before decoding
MAX_PIXELS = 50_000_000  # a 40-megapixel phone photo passes; decompression bombs do not
WORKING_SIDE = 1024  # images are shrunk to at most this side once decoded


class ImageError(ValueError):
    """An image that cannot be used, with a reason fit to show the user."""


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
            image = Image.open(io.BytesIO(data))
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
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"The image file is damaged or truncated ({exc}).") from exc
    return _to_upright_rgb(image, max_side, (width, height))


def original_size(image: Image.Image) -> tuple[int, int]:
    """The size of the file a load_image picture came from (its own size for any other picture)."""
    return tuple(image.info.get("original_size", image.size))  # type: ignore[return-value]


def _read_bytes(source: bytes | str | Path) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    path = Path(source)
    if not path.is_file():
        raise ImageError(f"No image file at {path}.")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImageError(f"{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB.")
    return path.read_bytes()


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
    elif image.mode != "RGB":
        image = image.convert("RGB")  # CMYK, L, P, I;16 ...
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    image.info["original_size"] = original
    return image

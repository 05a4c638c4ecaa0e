"""Simple garment features read from pixels: which pixels are product (not studio white), and how light it is."""
from __future__ import annotations

import numpy as np
from PIL import Image

SIDE = 64  # features are read from a SIDE x SIDE copy


def foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels that are not the white studio background ([H, W, 3] floats in 0..1 -> [H, W] bool);
    the whole image when that leaves too little (a photo without a white background)."""
    mask = (1.0 - rgb.min(axis=2)) > 0.08
    return mask if mask.mean() > 0.03 else np.ones(mask.shape, dtype=bool)


def lightness(image: Image.Image) -> float:
    """Mean luminance (0 black .. 1 white) of the garment pixels."""
    rgb = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    luminance = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # [S, S]
    return float(luminance[foreground(rgb)].mean())


def garment_colour(image: Image.Image) -> tuple[int, int, int]:
    """The garment's typical colour (per-channel median of its pixels), for swatches."""
    rgb = np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    pixels = rgb[foreground(rgb)]
    return tuple(int(round(v * 255)) for v in np.median(pixels, axis=0))  # type: ignore[return-value]

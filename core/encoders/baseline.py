"""The baseline encoder: a hand-made colour/shape descriptor for images and MiniLM for text.

It needs no training and no download, so search works end to end on a fresh machine; learned
encoders are measured against it. Image and text parts live in separate blocks of one vector:

    catalog vector = [image descriptor, caption embedding] / sqrt(2)
    image query    = [image descriptor, 0]
    text query     = [0, text embedding]

so an image query is compared with catalog images and a text query with catalog captions, through
one index. Scores are therefore cosine similarities scaled by 1/sqrt(2) (at most ~0.71).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from core.encoders.base import l2_normalize
from core.encoders.minilm import MiniLM
from core.garment_features import foreground

VERSION = "1"
SIDE = 64  # images are reduced to SIDE x SIDE before describing them
HUE_BINS, SAT_BINS, VAL_BINS = 12, 4, 4
MASK_SIDE = 16
GRID, ORIENTATIONS = 4, 8
IMAGE_DIM = HUE_BINS * SAT_BINS * VAL_BINS + MASK_SIDE * MASK_SIDE + GRID * GRID * ORIENTATIONS


def describe_image(image: Image.Image) -> np.ndarray:
    """Colour histogram of the garment, its silhouette and its edge directions: float32 [IMAGE_DIM]."""
    small = image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float32) / 255.0  # [S, S, 3]
    foreground_mask = foreground(rgb)  # [S, S] bool
    colour = _colour_histogram(small, foreground_mask)
    silhouette = (
        np.asarray(
            Image.fromarray(foreground_mask.astype(np.uint8) * 255).resize(
                (MASK_SIDE, MASK_SIDE), Image.Resampling.BOX
            ),
            dtype=np.float32,
        ).ravel()
        / 255.0
    )
    edges = _edge_histogram(rgb.mean(axis=2))
    blocks = [_unit(colour) * 0.7, _unit(silhouette) * 0.4, _unit(edges) * 0.6]
    return np.concatenate(blocks).astype(np.float32)


def _colour_histogram(image: Image.Image, foreground: np.ndarray) -> np.ndarray:
    hsv = np.asarray(image.convert("HSV"), dtype=np.int32)[foreground]  # [P, 3]
    h = hsv[:, 0] * HUE_BINS // 256
    s = hsv[:, 1] * SAT_BINS // 256
    v = hsv[:, 2] * VAL_BINS // 256
    bins = (h * SAT_BINS + s) * VAL_BINS + v
    histogram = np.bincount(bins, minlength=HUE_BINS * SAT_BINS * VAL_BINS).astype(np.float32)
    return np.sqrt(histogram / max(1, len(bins)))  # Hellinger: big bins do not drown small ones


def _edge_histogram(gray: np.ndarray) -> np.ndarray:
    gy, gx = np.gradient(gray)
    magnitude = np.hypot(gx, gy)
    orientation = ((np.arctan2(gy, gx) % np.pi) / np.pi * ORIENTATIONS).astype(int) % ORIENTATIONS
    cell = SIDE // GRID
    rows = np.arange(SIDE) // cell
    cell_index = (rows[:, None] * GRID + rows[None, :]) * ORIENTATIONS + orientation  # [S, S]
    histogram = np.bincount(cell_index.ravel(), weights=magnitude.ravel(), minlength=GRID * GRID * ORIENTATIONS)
    return np.sqrt(histogram.astype(np.float32))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class BaselineEncoder:
    name = "baseline"

    def __init__(self, text_encoder: MiniLM | None = None):
        self.text = text_encoder or MiniLM()
        self.dim = IMAGE_DIM + self.text.dim
        self.model_key = f"baseline@{VERSION}"

    def embed_catalog(self, images: Sequence[Image.Image], captions: Sequence[str]) -> np.ndarray:
        image_part = self._image_block(images)  # [N, IMAGE_DIM]
        text_part = self.text.embed(list(captions))  # [N, 384]
        return l2_normalize(np.concatenate([image_part, text_part], axis=1))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        image_part = self._image_block(images)
        return l2_normalize(np.pad(image_part, ((0, 0), (0, self.text.dim))))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        text_part = self.text.embed(list(texts))
        return l2_normalize(np.pad(text_part, ((0, 0), (IMAGE_DIM, 0))))

    def _image_block(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, IMAGE_DIM), dtype=np.float32)
        return l2_normalize(np.stack([describe_image(image) for image in images]))

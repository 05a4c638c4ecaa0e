"""What every encoder provides. The embedding contract of StyleLens is written here, once:

    every embedding is float32 [N, D], L2-normalised, and compared by inner product.

Catalog products are embedded from their image *and* caption (`embed_catalog`); queries from an
image (`embed_images`) or a text (`embed_texts`). All three land in the same D-dimensional space,
so one index serves image and text search.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image


class Encoder(Protocol):
    name: str  # the registry name it was loaded by
    model_key: str  # name plus version: stored beside every vector it made
    dim: int

    def embed_catalog(self, images: Sequence[Image.Image], captions: Sequence[str]) -> np.ndarray: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32 [N, D]."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SharedTokenizer:
    """A Hugging Face tokenizer that many threads may call at once (Streamlit sessions share one encoder).

    A fast tokenizer is one Rust object whose truncation and padding settings are switched by each call
    that asks for other ones; two threads doing so at once fail with "RuntimeError: Already borrowed".
    Tokenising takes microseconds next to the model, so calls simply take turns."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self.tokenizer(*args, **kwargs)

    def __getattr__(self, name: str):  # model_max_length, vocab, ...: read-only use
        return getattr(self.tokenizer, name)

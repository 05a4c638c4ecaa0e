"""Composed queries: a reference product + feedback text -> one query vector in the catalog's space.

Every composition method is a plain callable with one signature,

    compose(images: list[PIL.Image], texts: list[str]) -> float32 [N, D] unit query vectors

so the baselines (image only, text only, the sum of the two unit vectors) and the learned composer run
through the very same evaluation code (core/evaluation.py) and search path (engine.search_composed).

The learned composer follows FashionVLP: the reference's spatial image tokens and its embedding, and the
feedback's contextual MiniLM tokens and sentence embedding, are fused by a small transformer; a query
token's output moves the reference embedding towards the requested target. It is trained with the
batch-based classification loss against frozen catalog vectors (training/train_composer.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.artifacts import path_of
from core.checkpoints import load_payload, save_payload
from core.encoders.base import l2_normalize
from core.errors import ModelUnavailable, QueryError

Compose = Callable[[Sequence[Image.Image], Sequence[str]], np.ndarray]
METHODS = ("image", "text", "sum", "composer")
FORMAT = "stylelens-composer/1"
BUNDLED_COMPOSER = path_of("composer-small")


@dataclass(frozen=True)
class ComposerConfig:
    image_dim: int = 256  # channels of the encoder's spatial tokens
    image_tokens: int = 16
    text_dim: int = 384  # MiniLM token size
    embed_dim: int = 256  # the catalog space
    width: int = 192
    layers: int = 2
    heads: int = 4
    max_text_tokens: int = 32


class Composer(nn.Module):
    def __init__(self, config: ComposerConfig):
        super().__init__()
        self.config = config
        w = config.width
        self.image_in = nn.Linear(config.image_dim, w)
        self.text_in = nn.Linear(config.text_dim, w)
        self.vector_in = nn.Linear(config.embed_dim, w)  # reference embedding and projected sentence
        self.query = nn.Parameter(torch.zeros(1, 1, w))
        self.kind = nn.Parameter(torch.randn(5, w) * 0.02)  # query, ref vector, sentence vector, image, text
        self.image_position = nn.Parameter(torch.randn(config.image_tokens, w) * 0.02)
        self.text_position = nn.Parameter(torch.randn(config.max_text_tokens, w) * 0.02)
        layer = nn.TransformerEncoderLayer(
            w, config.heads, 2 * w, dropout=0.1, batch_first=True, norm_first=True, activation="gelu"
        )
        self.fuse = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, config.embed_dim))
        self.keep = nn.Parameter(torch.tensor(1.0))  # how much of the reference survives

    def forward(
        self,
        image_tokens: torch.Tensor,
        ref_vector: torch.Tensor,
        text_tokens: torch.Tensor,
        text_mask: torch.Tensor,
        sentence_vector: torch.Tensor,
    ) -> torch.Tensor:
        """[B, I, Ci], [B, D], [B, T, Ct], [B, T] (True = real token), [B, D] -> [B, D] unit."""
        batch, length = text_tokens.shape[:2]
        parts = [
            self.query.expand(batch, 1, -1) + self.kind[0],
            (self.vector_in(ref_vector) + self.kind[1]).unsqueeze(1),
            (self.vector_in(sentence_vector) + self.kind[2]).unsqueeze(1),
            self.image_in(image_tokens) + self.image_position + self.kind[3],
            self.text_in(text_tokens) + self.text_position[:length] + self.kind[4],
        ]
        fixed = torch.zeros(batch, 3 + image_tokens.shape[1], dtype=torch.bool, device=text_mask.device)
        padding = torch.cat([fixed, ~text_mask.bool()], dim=1)
        fused = self.fuse(torch.cat(parts, dim=1), src_key_padding_mask=padding)
        return F.normalize(self.keep * ref_vector + self.out(fused[:, 0]), dim=1)


def save_composer(model: Composer, path: Path, record: dict) -> None:
    save_payload(path, FORMAT, model, record, config=asdict(model.config))


def load_composer(path: Path) -> tuple[Composer, dict]:
    payload = load_payload(path, FORMAT, "composer")
    model = Composer(ComposerConfig(**payload["config"]))
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload.get("record", {})


# ---- the four methods, as callables over an encoder -----------------------------------------
def image_only(encoder) -> Compose:
    return lambda images, texts: encoder.embed_images(images)


def text_only(encoder) -> Compose:
    return lambda images, texts: encoder.embed_texts(texts)


def summed(encoder) -> Compose:
    return lambda images, texts: l2_normalize(encoder.embed_images(images) + encoder.embed_texts(texts))


class LearnedComposer:
    """The trained composer over the StyleLens encoder whose features it was trained on."""

    def __init__(self, encoder, model: Composer, record: dict):
        if record.get("encoder") and record["encoder"] != encoder.model_key:
            raise ModelUnavailable(f"The composer was trained on {record['encoder']}, not on {encoder.model_key}.")
        self.encoder, self.model, self.record = encoder, model, record

    @torch.inference_mode()
    def __call__(self, images: Sequence[Image.Image], texts: Sequence[str]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.model.config.embed_dim), np.float32)
        tokens, vectors = self.encoder.image_tokens(images)
        text_tokens, mask = self.encoder.text_tokens(texts, self.model.config.max_text_tokens)
        sentences = torch.from_numpy(self.encoder.embed_texts(texts))
        query = self.model(tokens, vectors, text_tokens, mask, sentences)
        return query.numpy().astype(np.float32)


def composition(method: str, encoder, checkpoint: Path = BUNDLED_COMPOSER) -> Compose:
    """The compose callable called `method` (one of METHODS) over `encoder`."""
    if method == "image":
        return image_only(encoder)
    if method == "text":
        return text_only(encoder)
    if method == "sum":
        return summed(encoder)
    if method == "composer":
        if not hasattr(encoder, "image_tokens"):
            raise ModelUnavailable(
                f"The learned composer needs the StyleLens encoder, not {encoder.model_key}; use --method sum."
            )
        if not Path(checkpoint).is_file():
            raise ModelUnavailable(
                f"The composer checkpoint {checkpoint} is missing (python -m training.train_composer)."
            )
        return LearnedComposer(encoder, *load_composer(Path(checkpoint)))
    raise QueryError(f"Unknown method {method!r}. Known methods: {', '.join(METHODS)}.")

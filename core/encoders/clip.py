"""Any `transformers` CLIP-style checkpoint (CLIP, FashionCLIP, SigLIP, ...) behind the Encoder contract.

Loaded from a Hugging Face id (`hf:patrickjohncyh/fashion-clip`, needs the id in the local cache or
internet) or from a local folder saved with `save_pretrained`. The preprocessing (tokenizer and image
processor) comes from the same folder as the weights, so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.encoders.base import SharedTokenizer, l2_normalize
from core.errors import ModelUnavailable


class ClipEncoder:
    batch_size = 32

    def __init__(self, source: str, name: str):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        self.name = name
        try:
            self.model = _from_pretrained(AutoModel, source).eval()
            self.tokenizer = SharedTokenizer(_from_pretrained(AutoTokenizer, source))
            self.image_processor = _from_pretrained(AutoImageProcessor, source)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelUnavailable(
                f"Could not load the CLIP-style checkpoint {source!r}: {exc}. A Hugging Face id needs internet "
                "the first time (or the model in the local cache); a folder needs config.json, the weights, "
                "the tokenizer and preprocessor_config.json."
            ) from exc
        if not (hasattr(self.model, "get_image_features") and hasattr(self.model, "get_text_features")):
            raise ModelUnavailable(f"{source!r} is not an image-text model (no get_image_features/get_text_features).")
        self.dim = int(self.embed_texts(["a shirt"]).shape[1])
        self.model_key = f"{name}@{_fingerprint(self.model)}"

    def embed_catalog(self, images: Sequence[Image.Image], captions: Sequence[str]) -> np.ndarray:
        return self.embed_images(images)  # image vectors: text search is CLIP's own text -> image

    @torch.inference_mode()
    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = [image.convert("RGB") for image in images[start : start + self.batch_size]]
            inputs = self.image_processor(images=batch, return_tensors="pt")
            chunks.append(self.model.get_image_features(pixel_values=inputs["pixel_values"]).float().numpy())
        return l2_normalize(np.concatenate(chunks)) if chunks else np.zeros((0, self.dim), np.float32)

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        chunks = []
        limit = min(int(getattr(self.tokenizer, "model_max_length", 77) or 77), 77)
        for start in range(0, len(texts), self.batch_size):
            inputs = self.tokenizer(
                list(texts[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=limit,
                return_tensors="pt",
            )
            inputs.pop("token_type_ids", None)
            chunks.append(self.model.get_text_features(**inputs).float().numpy())
        if not chunks:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        return l2_normalize(np.concatenate(chunks))


def _from_pretrained(kind, source: str):
    """From the local cache first (no network), then from the Hub if the machine is online."""
    try:
        return kind.from_pretrained(source, local_files_only=True)
    except OSError:
        if Path(source).exists():
            raise
        return kind.from_pretrained(source)


def _fingerprint(model: torch.nn.Module) -> str:
    """Short hash of the weights, so two checkpoints under one folder name never share vectors."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):  # a sample of every tensor: cheap, catches fine-tunes
        digest.update(name.encode())
        digest.update(tensor.detach().float().flatten()[:256].numpy().tobytes())
    return digest.hexdigest()[:10]

"""What kind of garment a photo shows: a classifier over the catalog's article types, trained on real photos.

The encoder's article head learned mostly from packshots; on people's own photos it names an accepted type
about 7 times in 10. This classifier starts from the encoder's image tower (backbone, projection and
article head) and is fine-tuned at a higher resolution on people's photos of clothes, garments cut from
street photos and packshots dressed as phone photos (training/train_kind.py). Its distribution is the soft
type prior of every photo query (core/photo_query.py); the encoder's vectors stay as they are, so nothing
trained on them changes.

    kinds = load_kind_model()                      # the bundled assets/garment-kind.pt, or None
    prior = kinds.distributions([photo])[0]        # float32 [C] over kinds.article_types

A checkpoint holds the config that built the network, its class names, weights and the training record.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from core.artifacts import path_of
from core.checkpoints import load_payload, save_payload
from core.encoders.stylelens import CosineClassifier, StyleLensModel, narrow_resnet18, preprocess, projection
from core.errors import ModelUnavailable

FORMAT = "stylelens-kind/1"
BUNDLED_KIND_MODEL = path_of("garment-kind")
# Test-time views: besides the photo (and its mirror image when the checkpoint's config says so), the central
# CENTRE_CROP of it (the mean scale of training's random crops, 0.7-1.0), probabilities averaged. Chosen with
# benchmarks/kind_views.py: the validated run's classifier on its validation photos (never trained on), likeliest
# type accepted, people's photos 0.769 -> 0.771, street crops 0.721 -> 0.740 (1.0 = photo and mirror only).
CENTRE_CROP = 0.85


@dataclass(frozen=True)
class KindConfig:
    image_size: int = 192
    widths: tuple[int, ...] = (32, 64, 128, 256)
    embed_dim: int = 256
    classifier_scale: float = 16.0
    mirror: bool = True  # average the distribution with the mirrored photo's


class KindNet(nn.Module):
    """Narrow ResNet-18 -> projection -> cosine classifier over article types (the encoder tower's shape)."""

    def __init__(self, config: KindConfig, article_types: Sequence[str]):
        super().__init__()
        self.config, self.article_types = config, tuple(article_types)
        self.backbone = narrow_resnet18(config.widths)
        self.project = projection(config.widths[-1], config.embed_dim)
        self.head = CosineClassifier(config.embed_dim, len(self.article_types), config.classifier_scale)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # [B, 3, S, S] normalised -> logits [B, C]
        return self.head(nn.functional.normalize(self.project(self.backbone(pixels)), dim=1))

    @classmethod
    def from_encoder(cls, encoder: StyleLensModel, image_size: int) -> KindNet:
        """A classifier that starts as the encoder's article head (same tower, same weights)."""
        tower = encoder.image
        config = KindConfig(
            image_size=image_size,
            widths=encoder.config.widths,
            embed_dim=encoder.config.embed_dim,
            classifier_scale=encoder.config.classifier_scale,
        )
        net = cls(config, encoder.labels.article_types)
        net.backbone.load_state_dict(tower.backbone.state_dict())
        net.project.load_state_dict(tower.project.state_dict())
        net.head.load_state_dict(tower.article_head.state_dict())
        return net


def save_kind_model(net: KindNet, path: Path, record: dict) -> None:
    save_payload(path, FORMAT, net, record, config=asdict(net.config), article_types=list(net.article_types))


def load_kind_file(path: Path) -> tuple[KindNet, dict]:
    payload = load_payload(path, FORMAT, "garment-kind")
    try:
        config = KindConfig(**{**payload["config"], "widths": tuple(payload["config"]["widths"])})
        if len(config.widths) != 4 or not isinstance(config.image_size, int) or config.image_size < 32:
            raise ValueError(f"config {config}")
        net = KindNet(config, payload["article_types"])
        net.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError, IndexError) as exc:
        raise ModelUnavailable(f"{path} is a damaged garment-kind checkpoint ({exc}).") from exc
    return net.eval(), payload.get("record", {})


class KindModel:
    """Article-type distributions of photos. Sessions of the app share one: inference in eval mode changes
    no state, so calls from several threads need no lock."""

    batch_size = 32

    def __init__(self, path: Path, centre_crop: float = CENTRE_CROP):
        if not 0.0 < centre_crop <= 1.0:
            raise ValueError(f"centre_crop must be in (0, 1], not {centre_crop}")
        self.path, self.centre_crop = Path(path), centre_crop
        self.net, self.record = load_kind_file(self.path)

    @property
    def article_types(self) -> tuple[str, ...]:
        return self.net.article_types

    @torch.inference_mode()
    def distributions(self, images: Sequence[Image.Image]) -> np.ndarray:
        """float32 [N, C]: P(article type | photo), rows summing to 1."""
        if not images:
            return np.zeros((0, len(self.article_types)), np.float32)
        rows = []
        for start in range(0, len(images), self.batch_size):
            chunk = [image.convert("RGB") for image in images[start : start + self.batch_size]]
            views = self.views(chunk)
            every = self._probabilities([image for view in views for image in view])  # one pass for all views
            rows.append(every.reshape(len(views), len(chunk), -1).mean(axis=0))
        return np.concatenate(rows).astype(np.float32)

    def views(self, images: list[Image.Image]) -> list[list[Image.Image]]:
        """The views of the images whose probabilities are averaged: the images, their central crops (unless
        centre_crop is 1) and the mirror images of both (when the checkpoint's config asks for them)."""
        views = [images]
        if self.centre_crop < 1.0:
            views.append([centre(image, self.centre_crop) for image in images])
        if self.net.config.mirror:
            views += [[ImageOps.mirror(image) for image in view] for view in views]
        return views

    @torch.inference_mode()
    def _probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        return torch.softmax(self.net(preprocess(images, self.net.config.image_size)), dim=1).numpy()


def centre(image: Image.Image, share: float) -> Image.Image:
    """The central `share` of the image's width and height."""
    width, height = image.size
    dx, dy = round(width * (1 - share) / 2), round(height * (1 - share) / 2)
    return image.crop((dx, dy, max(dx + 1, width - dx), max(dy + 1, height - dy)))


def fits(kinds: KindModel, encoder) -> bool:
    """Whether the classifier speaks the encoder's article types: it replaces the type head of a StyleLens
    encoder with the same labels. An encoder without heads (baseline, CLIP) or with other labels keeps its
    own behaviour (no prior, or its own head's)."""
    labels = getattr(encoder, "labels", None)
    return labels is not None and tuple(labels.article_types) == kinds.article_types


def configured_kind_model(settings) -> KindModel | None:
    """The classifier the KIND_MODEL setting names: `garment-kind` (the bundled one, when shipped), a
    checkpoint path, or `off` (the encoder's own article head then gives the prior)."""
    name = settings.kind_model_name.strip()
    if name.lower() in ("off", "none", ""):
        return None
    if name == "garment-kind":
        return load_kind_model()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"KIND_MODEL={name!r}: no such file. Use garment-kind, off, or the path of a garment-kind checkpoint (.pt)."
        )
    return _cached(path)


_LOADED: dict[Path, KindModel] = {}
_LOADING = threading.Lock()


def _cached(path: Path) -> KindModel:
    with _LOADING:
        key = path.resolve()
        if key not in _LOADED:
            _LOADED[key] = KindModel(key)
        return _LOADED[key]


def load_kind_model(path: Path | None = None) -> KindModel | None:
    """The garment-kind classifier at `path` (default: the bundled one), loaded once per process; None when no
    such file is shipped."""
    path = Path(path) if path else BUNDLED_KIND_MODEL
    return _cached(path) if path.is_file() else None

"""Sleeve length and garment length read from a photo: a small learned head over the encoder's spatial tokens.

The bundled encoder sees a photo as a 4x4 grid of feature vectors (its last convolutional layer); where the
garment ends along the arms and legs is a spatial question, so the head reads the grid, not the pooled
embedding. `assets/garment-attributes.pt` is trained by training/train_attributes.py on people's own photos
(T-Shirt / Longsleeve / Undershirt, Shorts / Pants), catalog photos labelled by eye and by the geometric
estimate where it is confident, and street photos (hem position from the masks); benchmarks/attributes.py
measures it beside the geometric baseline (core/garment_features.py).

Length has one scale per family of garment (LENGTHS); which one applies follows the product's article type,
or, for an uploaded photo, the type the encoder reads.
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
from core.errors import AttributeModelUnavailable, ModelUnavailable
from core.garment_features import hex_colour

FORMAT = "stylelens-attributes/1"
BUNDLED_ATTRIBUTE_MODEL = path_of("garment-attributes")
SLEEVES = ("none", "short", "elbow", "long")
LENGTHS = {
    "top": ("cropped", "regular", "long"),
    "dress": ("mini", "knee", "midi", "maxi"),
    "bottom": ("shorts", "cropped", "full"),
}
LENGTH_NAMES = tuple(dict.fromkeys(name for names in LENGTHS.values() for name in names))  # for filters
FAMILY_OF_TYPE = {  # catalog article type -> length family (types not here have no length worth reading)
    **{
        t: "top"
        for t in (
            "Tshirts",
            "Shirts",
            "Tops",
            "Sweaters",
            "Sweatshirts",
            "Jackets",
            "Kurtas",
            "Kurtis",
            "Tunics",
            "Blazers",
            "Waistcoat",
            "Shrug",
            "Rain Jacket",
            "Nehru Jackets",
            "Innerwear Vests",
            "Camisoles",
            "Lounge Tshirts",
        )
    },
    **{t: "dress" for t in ("Dresses", "Skirts", "Jumpsuit", "Nightdress", "Night suits", "Rompers")},
    **{
        t: "bottom"
        for t in (
            "Trousers",
            "Jeans",
            "Shorts",
            "Track Pants",
            "Capris",
            "Leggings",
            "Churidar",
            "Tights",
            "Salwar",
            "Patiala",
            "Jeggings",
            "Lounge Pants",
            "Lounge Shorts",
            "Rain Trousers",
            "Swimwear",
            "Boxers",
            "Trunk",
            "Stockings",
        )
    },
}
SLEEVED_DRESSES = ("Dresses", "Jumpsuit", "Nightdress", "Rompers")  # besides tops, the types whose sleeves are read
UNSURE = 0.5  # below this probability an attribute is reported as unknown (None)


@dataclass(frozen=True)
class Attributes:
    """What a photo shows of a garment's cut. None: not read (wrong family) or not sure enough."""

    family: str | None  # "top", "dress", "bottom" or None
    sleeves: str | None  # one of SLEEVES
    sleeve_confidence: float
    length: str | None  # one of LENGTHS[family]
    length_confidence: float

    def to_json(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def describe(self) -> str:
        """Plain words: "long sleeves, knee length" ("" when nothing was read)."""
        parts = []
        if self.sleeves:
            parts.append(sleeves_in_words(self.sleeves))
        if self.length:
            parts.append(length_in_words(self.length))
        return ", ".join(parts)


@dataclass(frozen=True)
class Description:
    """What StyleLens reads of one garment photo or stores for one product (`python -m core describe`)."""

    article_type: str | None
    article_type_score: float  # the encoder's probability for an uploaded photo; 1.0: the catalog's own label
    colour: tuple[int, int, int]  # RGB of the garment's own pixels
    lightness: float
    sleeves: str | None
    sleeve_confidence: float
    length: str | None
    length_confidence: float

    def to_json(self) -> dict:
        return {
            "article_type": self.article_type,
            "article_type_score": round(self.article_type_score, 4),
            "colour": hex_colour(self.colour),
            "lightness": round(self.lightness, 3),
            "sleeves": self.sleeves,
            "sleeve_confidence": round(self.sleeve_confidence, 4),
            "length": self.length,
            "length_confidence": round(self.length_confidence, 4),
        }


def family_of(article_type: str | None) -> str | None:
    return FAMILY_OF_TYPE.get(article_type or "")


def has_sleeves(article_type: str | None) -> bool:
    return family_of(article_type) == "top" or article_type in SLEEVED_DRESSES


class AttributeHead(nn.Module):
    """Tokens [B, 16, C] -> sleeve logits [B, 4] and, per family, length logits."""

    def __init__(self, channels: int, cells: int = 16, reduce: int = 32, hidden: int = 256, dropout: float = 0.2):
        super().__init__()
        self.reduce = nn.Linear(channels, reduce)  # per cell: keeps where things are, drops most channels
        self.body = nn.Sequential(
            nn.LayerNorm(cells * reduce + channels),
            nn.Linear(cells * reduce + channels, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.sleeves = nn.Linear(hidden, len(SLEEVES))
        self.lengths = nn.ModuleDict({family: nn.Linear(hidden, len(names)) for family, names in LENGTHS.items()})

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        grid = self.reduce(tokens).flatten(1)  # [B, cells * reduce]
        hidden = self.body(torch.cat([grid, tokens.mean(dim=1)], dim=1))
        return {"sleeves": self.sleeves(hidden), **{f"length:{f}": head(hidden) for f, head in self.lengths.items()}}


class AttributeEnsemble(nn.Module):
    """Several heads trained alike from different seeds; outputs the log of their mean probabilities."""

    def __init__(self, members: int = 1, layer: int = 4, **config):
        super().__init__()
        self.layer = layer  # the encoder stage whose grid the heads read
        self.members = nn.ModuleList(AttributeHead(**config) for _ in range(members))

    def forward(self, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = [member(tokens) for member in self.members]
        return {
            name: torch.stack([o[name].softmax(dim=1) for o in outputs]).mean(dim=0).clamp_min(1e-9).log()
            for name in outputs[0]
        }


class AttributeModel:
    """The head over `encoder`'s tokens; `encoder` must be the one it was trained with."""

    def __init__(self, head: nn.Module, encoder, record: dict, digest: str = ""):
        if record.get("encoder") != getattr(encoder, "model_key", None):
            raise AttributeModelUnavailable(
                f"The attribute model was trained on {record.get('encoder')} features, "
                f"not {getattr(encoder, 'model_key', None)}."
            )
        self.head, self.encoder, self.record = head.eval(), encoder, record
        self.key = f"garment-attributes@{self.version}-{digest}"  # stamped on stored features: a new model recomputes

    @property
    def version(self) -> str:
        return str(self.record.get("version", "0"))

    def tokens(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """[N, 2, 16, C]: each photo's tokens and its mirror image's (the head reads both and averages)."""
        images = [image.convert("RGB") for image in images]
        tokens = self.encoder.image_grid(images + [ImageOps.mirror(image) for image in images], self.head.layer)
        return torch.stack([tokens[: len(images)], tokens[len(images) :]], dim=1)

    @torch.inference_mode()
    def read(self, images: Sequence[Image.Image], article_types: Sequence[str | None]) -> list[Attributes]:
        """Attributes of each photo of a garment of the given article type (a product's own, or the type
        read from an uploaded photo): sleeves where the type has them, length on the type's family scale."""
        if not images:
            return []
        return self.read_tokens(self.tokens(images), article_types)

    @torch.inference_mode()
    def read_and_embed(
        self, images: Sequence[Image.Image], article_types: Sequence[str | None]
    ) -> tuple[list[Attributes], np.ndarray | None]:
        """`read`, and the encoder's image embeddings of the photos from the same backbone pass where the
        encoder offers one (else None: embed them apart)."""
        if not images or not hasattr(self.encoder, "image_grid_and_embeddings"):
            return self.read(images, article_types), None
        images = [image.convert("RGB") for image in images]
        both = images + [ImageOps.mirror(image) for image in images]
        grid, embeddings = self.encoder.image_grid_and_embeddings(both, self.head.layer, len(images))
        tokens = torch.stack([grid[: len(images)], grid[len(images) :]], dim=1)
        return self.read_tokens(tokens, article_types), embeddings

    @torch.inference_mode()
    def read_tokens(self, tokens: torch.Tensor, article_types: Sequence[str | None]) -> list[Attributes]:
        """tokens: [N, views, 16, C] (a photo and its mirror) -> Attributes, probabilities averaged over views."""
        views = tokens.shape[1]
        outputs = self.head(tokens.float().flatten(0, 1))
        outputs = {k: v.softmax(dim=1).unflatten(0, (-1, views)).mean(dim=1) for k, v in outputs.items()}
        return [attributes_from(outputs, row, kind) for row, kind in enumerate(article_types)]


def attributes_from(probabilities: dict[str, torch.Tensor], row: int, article_type: str | None) -> Attributes:
    """One photo's Attributes from the head's probabilities (unsure answers become None)."""
    family = family_of(article_type)
    sleeves, sleeve_p = None, 0.0
    if has_sleeves(article_type):
        p = probabilities["sleeves"][row]
        sleeves, sleeve_p = SLEEVES[int(p.argmax())], float(p.max())
    length, length_p = None, 0.0
    if family in LENGTHS:
        p = probabilities[f"length:{family}"][row]
        length, length_p = LENGTHS[family][int(p.argmax())], float(p.max())
    return Attributes(
        family, sleeves if sleeve_p >= UNSURE else None, sleeve_p, length if length_p >= UNSURE else None, length_p
    )


def save_attribute_model(
    path: Path, heads: AttributeHead | Sequence[AttributeHead], record: dict, layer: int = 4
) -> None:
    """One head, or several (an ensemble averaging their probabilities). `record` names the encoder (model_key)
    whose tokens they read, and the model's version."""
    heads = [heads] if isinstance(heads, AttributeHead) else list(heads)
    head = heads[0]
    config = {
        "channels": head.reduce.in_features,
        "reduce": head.reduce.out_features,
        "cells": (head.body[1].in_features - head.reduce.in_features) // head.reduce.out_features,
        "hidden": head.body[1].out_features,
        "members": len(heads),
        "layer": layer,
    }
    ensemble = AttributeEnsemble(**config)
    for member, trained in zip(ensemble.members, heads):
        member.load_state_dict(trained.state_dict())
    save_payload(path, FORMAT, ensemble, record, config=config)


def load_attribute_head(path: Path | None = None) -> tuple[AttributeEnsemble, dict, str]:
    """(head, training record, file digest) of the attribute model at `path` (default: the bundled one)."""
    path = Path(path or BUNDLED_ATTRIBUTE_MODEL)
    if not path.is_file():
        raise AttributeModelUnavailable(f"The attribute model {path} is missing (python -m training.train_attributes).")
    try:
        payload = load_payload(path, FORMAT, "garment-attribute")
        head = AttributeEnsemble(**payload["config"])
        head.load_state_dict(payload["state_dict"])
    except (ModelUnavailable, KeyError, RuntimeError, TypeError) as exc:  # unreadable, or a damaged config
        raise AttributeModelUnavailable(str(exc)) from exc
    from core.encoders.stylelens import file_digest

    return head, payload["record"], file_digest(path)


_SHARED: dict[tuple[str, str], AttributeModel] = {}
_SHARED_LOCK = threading.Lock()


def shared_attribute_model(encoder=None) -> AttributeModel:
    """The bundled attribute model for `encoder`, loaded once per process and shared by every engine and
    session thread (reading is thread-safe: inference only). AttributeModelUnavailable when it cannot load."""
    key = (str(BUNDLED_ATTRIBUTE_MODEL), getattr(encoder, "model_key", ""))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load_attribute_model(encoder)
        return _SHARED[key]


def load_attribute_model(encoder=None, path: Path | None = None) -> AttributeModel:
    """The attribute model at `path` (default: the bundled one), reading `encoder`'s tokens when that is the
    encoder it was trained with, else the bundled encoder's."""
    head, record, digest = load_attribute_head(path)
    if encoder is None or getattr(encoder, "model_key", None) != record.get("encoder"):
        from core.encoders import BUNDLED_ENCODER, load_encoder

        encoder = load_encoder(BUNDLED_ENCODER)
    return AttributeModel(head, encoder, record, digest)


def sleeves_in_words(value: str) -> str:
    """A stored sleeve value in words: "sleeveless", "long sleeves"."""
    return "sleeveless" if value == "none" else f"{value} sleeves"


def length_in_words(value: str) -> str:
    """A stored length in words: "knee length", "full length", "shorts"."""
    return "shorts" if value == "shorts" else f"{value} length"


def cut_in_words(sleeves: tuple[str, ...], lengths: tuple[str, ...]) -> str:
    """Sleeves and lengths allowed, in words: "sleeveless", "elbow sleeves or long sleeves and midi length"."""
    parts = [" or ".join(map(sleeves_in_words, sleeves)), " or ".join(map(length_in_words, lengths))]
    return " and ".join(part for part in parts if part)


def describe_features(features, shade: bool = True) -> str:
    """A garment's stored cut (and shade) in words (a core.garment_features.GarmentFeatures): "long sleeves ·
    knee length · dark"."""
    parts = []
    if features.sleeves:
        parts.append(sleeves_in_words(features.sleeves))
    if features.length:
        parts.append(length_in_words(features.length))
    if shade:
        parts.append("dark" if features.lightness < 0.4 else "light" if features.lightness > 0.7 else "mid-tone")
    return " · ".join(parts)


def likeliest_type(article_types: dict[str, float]) -> str | None:
    """The likeliest article type of a type distribution (what is read from an uploaded photo)."""
    return max(article_types.items(), key=lambda item: item[1])[0] if article_types else None


# ---- what a request asks of sleeves and length, relative to the reference ---------------------
LENGTH_ENDS = {  # "long" / "short" / names from another scale, read on each family's scale
    "top": {"long": ("long",), "short": ("cropped",), "full": ("long",), "maxi": ("long",), "mini": ("cropped",)},
    "dress": {"long": ("midi", "maxi"), "short": ("mini",), "full": ("maxi",), "cropped": ("mini",)},
    "bottom": {
        "long": ("full",),
        "short": ("shorts",),
        "mini": ("shorts",),
        "maxi": ("full",),
        "knee": ("shorts",),
        "midi": ("cropped",),
    },
}


@dataclass(frozen=True)
class Wish:
    """The sleeve lengths and garment lengths a request allows (empty: not asked), with how to say it."""

    sleeves: tuple[str, ...] = ()
    lengths: tuple[str, ...] = ()
    sleeve_label: str = ""  # "longer sleeves", "sleeveless", ...
    length_label: str = ""  # "longer", "midi", ...
    notes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.sleeves and not self.lengths

    def allows(self, sleeves: str | None, length: str | None) -> bool:
        return (not self.sleeves or sleeves in self.sleeves) and (not self.lengths or length in self.lengths)


def resolve_wish(
    sleeves: str | None,
    length: str | None,
    article_type: str | None,
    reference_sleeves: str | None = None,
    reference_length: str | None = None,
) -> Wish:
    """What "longer sleeves", "sleeveless", "a longer dress", "midi" ... allow, for results of `article_type`,
    relative to the reference's own sleeves and length (None: not known)."""
    notes: list[str] = []
    allowed_sleeves = _sleeves_wanted(sleeves, reference_sleeves, notes) if sleeves else ()
    allowed_lengths = _lengths_wanted(length, family_of(article_type), reference_length, notes) if length else ()
    from core.feedback import sleeve_words

    return Wish(allowed_sleeves, allowed_lengths, sleeve_words(sleeves), length or "", tuple(notes))


def _sleeves_wanted(asked: str, reference: str | None, notes: list[str]) -> tuple[str, ...]:
    if asked in SLEEVES:
        return (asked,)
    if asked == "with":
        return ("short", "elbow", "long")
    if reference is None:
        return ("elbow", "long") if asked == "longer" else ("none", "short")
    at = SLEEVES.index(reference)
    wanted = SLEEVES[at + 1 :] if asked == "longer" else SLEEVES[:at]
    if not wanted:
        notes.append(
            f"The reference already has {'long sleeves' if asked == 'longer' else 'no sleeves'}: "
            "kept its sleeve length."
        )
        return (reference,)
    return tuple(wanted)


def _lengths_wanted(asked: str, family: str | None, reference: str | None, notes: list[str]) -> tuple[str, ...]:
    if family is None:
        notes.append(f"Length (“{asked}”) is read for tops, dresses, skirts and trousers only: not applied.")
        return ()
    scale = LENGTHS[family]
    if asked in scale:
        return (asked,)
    if asked in LENGTH_ENDS[family]:
        return LENGTH_ENDS[family][asked]
    if asked not in ("longer", "shorter"):
        notes.append(f"“{asked}” is not a length for this kind of product: not applied.")
        return ()
    if reference not in scale:
        return LENGTH_ENDS[family]["long" if asked == "longer" else "short"]
    at = scale.index(reference)
    wanted = scale[at + 1 :] if asked == "longer" else scale[:at]
    if not wanted:
        notes.append(f"The reference is already {length_in_words(reference)}: kept its length.")
        return (reference,)
    return tuple(wanted)

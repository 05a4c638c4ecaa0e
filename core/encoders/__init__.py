"""Encoders: one loader, `load_encoder(name)`, for every model that turns products and queries into
vectors. See `base.py` for the embedding contract all of them keep.

A name is one of
    a registry name        "baseline", "stylelens-small"   (shipped with the project, work offline)
    hf:<Hugging Face id>   "hf:patrickjohncyh/fashion-clip" (any transformers CLIP-style model)
    a local path           a folder saved with `save_pretrained`, or a StyleLens checkpoint file (.pt)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.artifacts import path_of
from core.encoders.base import Encoder, l2_normalize
from core.errors import ModelUnavailable

BUNDLED_CHECKPOINT = path_of("stylelens-small")
BUNDLED_ENCODER = "stylelens-small"
# stylelens-small's catalog vector = image + CAPTION_WEIGHT * caption embedding (renormalised). Measured on
# the held-out products at epoch 16 for weights 0 / 0.5 / 1: text->image recall@10 0.16 / 0.84 / 0.96,
# image->image precision@10 0.76 / 0.78 / 0.78, street-crop precision@10 0.31 / 0.35 / 0.37: the caption
# helps every query type. benchmarks/encoder.py reports the served (1.0) and image-only vectors.
CAPTION_WEIGHT = 1.0


def _baseline() -> Encoder:
    from core.encoders.baseline import BaselineEncoder

    return BaselineEncoder()


def _stylelens_small() -> Encoder:
    return _stylelens_file(BUNDLED_CHECKPOINT, "stylelens-small", CAPTION_WEIGHT)


def _stylelens_file(path: Path, name: str, caption_weight: float | None = None) -> Encoder:
    from core.encoders.stylelens import StyleLensEncoder

    if not path.is_file():
        raise ModelUnavailable(
            f"The encoder checkpoint {path} is missing (train it with python -m training.train_encoder)."
        )
    return StyleLensEncoder(path, name, caption_weight=caption_weight)


def _clip(source: str, name: str) -> Encoder:
    from core.encoders.clip import ClipEncoder

    return ClipEncoder(source, name)


# Registry names -> factories. Pages and scripts never spell model strings themselves.
_REGISTRY: dict[str, Callable[[], Encoder]] = {
    "baseline": _baseline,
    "stylelens-small": _stylelens_small,
}


def available_encoders() -> list[str]:
    return sorted(_REGISTRY)


def load_encoder(name: str) -> Encoder:
    """The encoder called `name` (see the module docstring); an unknown name lists the known ones."""
    name = name.strip()
    if name in _REGISTRY:
        return _REGISTRY[name]()
    if name.startswith("hf:") and len(name) > 3:
        return _clip(name[3:], name)
    path = Path(name).expanduser()
    if path.is_dir():
        return _clip(str(path), f"clip:{path.resolve().name}")
    if path.is_file() and path.suffix == ".pt":
        return _stylelens_file(path, f"stylelens:{path.stem}")
    raise ModelUnavailable(
        f"Unknown encoder {name!r}. Known encoders: {', '.join(available_encoders())}; "
        "or hf:<Hugging Face id>, or the path of a saved model folder or StyleLens .pt file."
    )


def load_attribute_model(name: str = BUNDLED_ENCODER):
    """The encoder whose heads name article type, colour and gender: `name` if it has heads, else the bundled one."""
    encoder = load_encoder(name)
    return encoder if hasattr(encoder, "classify") else load_encoder(BUNDLED_ENCODER)


__all__ = ["BUNDLED_ENCODER", "Encoder", "available_encoders", "l2_normalize", "load_attribute_model", "load_encoder"]

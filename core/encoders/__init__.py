"""Encoders: one loader, `load_encoder(name)`, for every model that turns products and queries into
vectors. See `base.py` for the embedding contract all of them keep.
"""
from __future__ import annotations

from typing import Callable

from core.encoders.base import Encoder, l2_normalize


def _baseline() -> Encoder:
    from core.encoders.baseline import BaselineEncoder

    return BaselineEncoder()


# Registry names -> factories. Pages and scripts never spell model strings themselves.
_REGISTRY: dict[str, Callable[[], Encoder]] = {
    "baseline": _baseline,
}


def available_encoders() -> list[str]:
    return sorted(_REGISTRY)


def load_encoder(name: str) -> Encoder:
    """The encoder registered as `name`; an unknown name fails with the list of known ones."""
    factory = _REGISTRY.get(name.strip())
    if factory is None:
        raise ValueError(f"Unknown encoder {name!r}. Known encoders: {', '.join(available_encoders())}.")
    return factory()


__all__ = ["Encoder", "available_encoders", "l2_normalize", "load_encoder"]

"""Expensive objects, loaded once per process behind st.cache_resource: the encoder and the engine."""

from __future__ import annotations

import streamlit as st

from core.catalog import Catalog
from core.config import Settings, load_settings
from core.encoders import Encoder, load_encoder
from core.engine import StyleLens


@st.cache_resource(show_spinner="Loading the encoder…")
def _encoder(name: str) -> Encoder:
    return load_encoder(name)


@st.cache_resource(show_spinner="Connecting to the catalog database…")
def _engine(settings: Settings) -> StyleLens:
    # Not cached when it raises (database unreachable), so the next rerun tries again.
    return StyleLens(settings, Catalog.open(settings), _encoder(settings.encoder_name))


def engine() -> StyleLens:
    """The engine for the current settings (a change of settings gives a new one)."""
    return _engine(load_settings())


def attribute_model(name: str):
    """The encoder whose heads name article type, colour and gender: `name` when it has heads (the
    same cached object the engine uses), else the bundled one."""
    from core.encoders import BUNDLED_ENCODER

    encoder = _encoder(name)
    return encoder if hasattr(encoder, "classify") else _encoder(BUNDLED_ENCODER)


def attribute_reader(name: str):
    """The photo path (core/photo_query.py) with an encoder that has heads: categories, "looks like"."""
    from core.photo_query import configured_reader

    return configured_reader(attribute_model(name), load_settings())


@st.cache_resource(show_spinner="Loading the pose model…")
def pose_model():
    from core.look.pose_model import PoseModel

    return PoseModel()


@st.cache_resource(show_spinner="Loading the garment detector…")
def garment_detector():
    """Raises ModelUnavailable (not cached) while the detector's weights are missing."""
    from core.look.shop import DETECTOR_WEIGHTS, GarmentDetector

    return GarmentDetector(DETECTOR_WEIGHTS)


@st.cache_resource(show_spinner="Loading the gender check…")
def gender_model(encoder_name: str):
    """Raises ModelUnavailable (not cached) while the face classifier's weights are missing."""
    from core.look.gender import load_gender_model

    return load_gender_model(attribute_model(encoder_name))  # reuses the bundled encoder when it is the one

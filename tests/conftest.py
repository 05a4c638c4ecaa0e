"""Shared fixtures: one real MongoDB-protocol server per test session (over the wire, on a free
port), a small synthetic catalog the tests draw themselves, and the baseline encoder loaded once.
"""

from __future__ import annotations

import csv
import os
import uuid
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from core.catalog import Catalog
from core.config import (
    PROJECT_ROOT,  # noqa: F401  (re-exported to the test modules)
    load_settings,
)
from core.dbserver import local_server_uri, stop_local_server
from core.encoders import load_encoder
from core.engine import StyleLens

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ["ENCODER_NAME"] = "baseline"  # the fixtures' encoder; the bundled one has tests of its own
os.environ["SEGMENTER"] = "off"  # the fixtures embed photos whole; tests/test_photo_query.py covers the segmented path
os.environ["KIND_MODEL"] = (
    "off"  # the type prior comes from the encoder head; tests/test_kinds.py covers the classifier
)

COLUMNS = [
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "usage",
    "productDisplayName",
    "colorgroup",
]
COLOURS = {
    "Red": (200, 30, 30),
    "Blue": (30, 60, 200),
    "Green": (40, 150, 60),
    "Black": (20, 20, 20),
    "Yellow": (235, 200, 40),
    "Pink": (240, 140, 180),
}
KINDS = [  # (gender, master, sub, article, shape)
    ("Men", "Apparel", "Topwear", "Tshirts", "tshirt"),
    ("Women", "Apparel", "Dress", "Dresses", "dress"),
    ("Men", "Apparel", "Bottomwear", "Jeans", "trousers"),
    ("Women", "Footwear", "Shoes", "Heels", "shoe"),
]


def draw_product(shape: str, colour: tuple[int, int, int], size: int = 96) -> Image.Image:
    """A packshot-like picture: one garment silhouette on white."""
    image = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(image)
    s = size / 96
    if shape == "tshirt":
        d.polygon(
            [
                (20 * s, 25 * s),
                (38 * s, 15 * s),
                (58 * s, 15 * s),
                (76 * s, 25 * s),
                (68 * s, 40 * s),
                (62 * s, 36 * s),
                (62 * s, 82 * s),
                (34 * s, 82 * s),
                (34 * s, 36 * s),
                (28 * s, 40 * s),
            ],
            fill=colour,
        )
    elif shape == "dress":
        d.polygon(
            [
                (38 * s, 10 * s),
                (58 * s, 10 * s),
                (62 * s, 40 * s),
                (80 * s, 88 * s),
                (16 * s, 88 * s),
                (34 * s, 40 * s),
            ],
            fill=colour,
        )
    elif shape == "trousers":
        d.polygon(
            [
                (30 * s, 10 * s),
                (66 * s, 10 * s),
                (70 * s, 88 * s),
                (52 * s, 88 * s),
                (48 * s, 40 * s),
                (44 * s, 88 * s),
                (26 * s, 88 * s),
            ],
            fill=colour,
        )
    else:
        d.polygon(
            [(12 * s, 60 * s), (60 * s, 55 * s), (84 * s, 72 * s), (84 * s, 80 * s), (12 * s, 80 * s)], fill=colour
        )
    return image


def write_catalog(folder: Path, n_colours: int = 6, start_id: int = 1000) -> list[dict]:
    """Write images/<id>.jpg and styles.csv for len(KINDS) x n_colours products; return the rows."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows, product_id = [], start_id
    for gender, master, sub, article, shape in KINDS:
        for colour_name, rgb in list(COLOURS.items())[:n_colours]:
            draw_product(shape, rgb).save(folder / "images" / f"{product_id}.jpg", quality=95)
            rows.append(
                {
                    "id": product_id,
                    "gender": gender,
                    "masterCategory": master,
                    "subCategory": sub,
                    "articleType": article,
                    "baseColour": colour_name,
                    "season": "Summer",
                    "usage": "Casual",
                    "productDisplayName": f"Acme {gender} {colour_name} {article}",
                    "colorgroup": colour_name,
                }
            )
            product_id += 1
    write_styles(folder / "styles.csv", rows)
    return rows


def write_styles(path: Path, rows: list[dict], columns: list[str] = COLUMNS) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory) -> str:
    """A real SecantusDB server, started the way the app starts it, on a free port."""
    data_dir = tmp_path_factory.mktemp("mongo")
    uri = local_server_uri(data_dir)
    yield uri
    stop_local_server(data_dir)


@pytest.fixture(scope="session")
def encoder():
    return load_encoder("baseline")


@pytest.fixture
def settings(tmp_path, mongo_uri, monkeypatch):
    """Settings of an isolated StyleLens: its own database name and data folder, on the shared server."""
    monkeypatch.setenv("MONGO_URI", mongo_uri)
    monkeypatch.setenv("DB_NAME", f"test_{uuid.uuid4().hex[:10]}")
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CATALOG_DIR", raising=False)
    return load_settings()


@pytest.fixture
def catalog_dir(tmp_path) -> Path:
    folder = tmp_path / "catalog"
    write_catalog(folder)
    return folder


@pytest.fixture
def engine(settings, encoder) -> StyleLens:
    return StyleLens(settings, Catalog.open(settings), encoder)


@pytest.fixture
def loaded_engine(engine, catalog_dir) -> StyleLens:
    engine.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    return engine


def store_garment_features(
    engine: StyleLens, sleeves_of: dict[int, str | None], lightness_of: dict[int, float] | None = None
) -> None:
    """Store garment features as the attribute model would have read them (sleeves, lightness), stamped with the
    engine's current features version so nothing recomputes them."""
    from core.garment_features import GarmentFeatures

    version = engine.features_version()
    engine.catalog.set_features(
        {
            i: GarmentFeatures(
                (((40, 40, 90), 0.9),),
                (lightness_of or {}).get(i, 0.3),
                (0.1, 0.1, 0.9, 0.9),
                1.0,
                0.7,
                sleeves,
                0.1,
                version,
                0.9 if sleeves else 0.0,
            ).to_doc()
            for i, sleeves in sleeves_of.items()
        }
    )

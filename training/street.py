"""Garment crops from the annotated street photos (Clothing Co-Parsing), labelled with catalog article types.

A street label maps to the catalog article types a shopper would accept for it ("sneakers" ->
Casual Shoes or Sports Shoes). Photos are split by number: TRAIN_PHOTOS feed training, EVAL_PHOTOS are
only used to check the encoder on in-the-wild garments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

TRAIN_PHOTOS = range(1, 641)
EVAL_PHOTOS = range(641, 805)
MIN_AREA = 0.004  # a garment part smaller than this fraction of the photo is not worth a crop
MARGIN = 0.08

STREET_TO_CATALOG: dict[str, tuple[str, ...]] = {
    "t-shirt": ("Tshirts",),
    "shirt": ("Shirts",),
    "blouse": ("Tops", "Shirts"),
    "top": ("Tops", "Tshirts"),
    "sweater": ("Sweaters",),
    "jumper": ("Sweaters",),
    "cardigan": ("Sweaters",),
    "sweatshirt": ("Sweatshirts",),
    "hoodie": ("Sweatshirts",),
    "jacket": ("Jackets",),
    "blazer": ("Jackets", "Blazers"),
    "coat": ("Jackets",),
    "jeans": ("Jeans",),
    "pants": ("Trousers", "Track Pants", "Capris"),
    "shorts": ("Shorts",),
    "skirt": ("Skirts",),
    "leggings": ("Leggings",),
    "dress": ("Dresses",),
    "heels": ("Heels",),
    "pumps": ("Heels",),
    "wedges": ("Heels",),
    "sandals": ("Sandals", "Flats"),
    "flats": ("Flats",),
    "sneakers": ("Casual Shoes", "Sports Shoes"),
    "boots": ("Casual Shoes", "Heels"),
    "loafers": ("Casual Shoes", "Formal Shoes"),
    "shoes": ("Casual Shoes", "Formal Shoes", "Heels", "Flats"),
    "bag": ("Handbags",),
    "purse": ("Handbags", "Clutches"),
    "sunglasses": ("Sunglasses",),
    "belt": ("Belts",),
    "watch": ("Watches",),
}


@dataclass(frozen=True)
class StreetCrop:
    photo: str  # file name of the photo it was cut from
    label: str  # street label, e.g. "jeans"
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in photo pixels
    image: Image.Image


def label_names(street_dir: Path) -> list[str]:
    from scipy.io import loadmat

    table = loadmat(street_dir / "label_list.mat")["label_list"][0]
    return [str(entry[0]) if len(entry) else "" for entry in table]


def garment_crops(street_dir: Path, photos: range) -> list[StreetCrop]:
    """One crop per mapped garment label per photo: the largest connected part of that label."""
    names = label_names(street_dir)
    crops = []
    for jpg, labels, photo in annotated_photos(street_dir, photos):
        for value in np.unique(labels):
            name = names[value]
            if name not in STREET_TO_CATALOG:
                continue
            box = largest_part_box(labels == value, MIN_AREA)
            if box is not None:
                crops.append(StreetCrop(jpg.name, name, box, photo.crop(box)))
    return crops


def annotated_photos(street_dir: Path, photos: Iterable[int]) -> Iterator[tuple[Path, np.ndarray, Image.Image]]:
    """(photo file, label map [H, W], RGB photo) of each numbered photo that has its pixel annotation."""
    from scipy.io import loadmat

    for number in photos:
        mat = street_dir / "annotations" / "pixel-level" / f"{number:04d}.mat"
        jpg = street_dir / "photos" / f"{number:04d}.jpg"
        if mat.exists() and jpg.exists():
            yield jpg, loadmat(mat)["groundtruth"], Image.open(jpg).convert("RGB")


def largest_part_box(mask: np.ndarray, min_area: float) -> tuple[int, int, int, int] | None:
    """Box (with a margin) around the largest connected region of `mask`; None if it is a speck."""
    from scipy import ndimage

    parts, count = ndimage.label(mask)
    if count == 0:
        return None
    sizes = np.bincount(parts.ravel())[1:]
    biggest = int(sizes.argmax()) + 1
    if sizes[biggest - 1] < min_area * mask.size:
        return None
    ys, xs = np.nonzero(parts == biggest)
    height, width = mask.shape
    pad_x, pad_y = int((xs.max() - xs.min()) * MARGIN) + 2, int((ys.max() - ys.min()) * MARGIN) + 2
    return (
        max(0, int(xs.min()) - pad_x),
        max(0, int(ys.min()) - pad_y),
        min(width, int(xs.max()) + 1 + pad_x),
        min(height, int(ys.max()) + 1 + pad_y),
    )


def background_patches(street_dir: Path, count: int, size: int, seed: int) -> np.ndarray:
    """Random patches of street backgrounds (never of evaluation photos): uint8 [count, size, size, 3].

    From the tag-only street photos where the folder has them; otherwise from the background pixels
    (label 0) of the annotated training photos, keeping squares that are almost all background."""
    rng = np.random.default_rng(seed)
    photos = sorted((street_dir / "photos").glob("1*.jpg")) + sorted((street_dir / "photos").glob("2*.jpg"))
    photos = [p for p in photos if len(p.stem) > 4 or int(p.stem) >= 1000]
    if not photos:
        return _annotated_background_patches(street_dir, count, size, rng)
    patches = []
    for path in rng.choice(photos, size=min(count, len(photos)), replace=False):
        photo = Image.open(path).convert("RGB")
        side = int(min(photo.size) * rng.uniform(0.35, 0.9))
        x = int(rng.integers(0, photo.width - side + 1))
        y = int(rng.integers(0, photo.height - side + 1))
        patches.append(np.asarray(photo.crop((x, y, x + side, y + side)).resize((size, size))))
    return np.stack(patches)


def _annotated_background_patches(
    street_dir: Path, count: int, size: int, rng: np.random.Generator, background_share: float = 0.9, tries: int = 30
) -> np.ndarray:
    from scipy.io import loadmat

    numbers = [n for n in TRAIN_PHOTOS if (street_dir / "photos" / f"{n:04d}.jpg").exists()]
    patches: list[np.ndarray] = []
    while numbers and len(patches) < count:
        number = int(rng.choice(numbers))
        labels = loadmat(street_dir / "annotations" / "pixel-level" / f"{number:04d}.mat")["groundtruth"]
        photo = Image.open(street_dir / "photos" / f"{number:04d}.jpg").convert("RGB")
        for _ in range(tries):
            side = int(min(photo.size) * rng.uniform(0.2, 0.5))
            x = int(rng.integers(0, photo.width - side + 1))
            y = int(rng.integers(0, photo.height - side + 1))
            if (labels[y : y + side, x : x + side] == 0).mean() >= background_share:
                patches.append(np.asarray(photo.crop((x, y, x + side, y + side)).resize((size, size))))
                break
    return np.stack(patches) if patches else np.full((1, size, size, 3), 200, np.uint8)

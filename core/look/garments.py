"""Garment groups of "shop the look" and the boxes they make in a labelled photo.

The street photos label every pixel with one of 59 names. A garment box is the union of one group's
pixels (both shoes form one footwear box; a jacket over a blouse forms one topwear box), ignoring specks
smaller than MIN_SPECK of the image. The detector is trained on exactly these boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GROUPS: dict[str, tuple[str, ...]] = {
    "topwear": (
        "blazer",
        "blouse",
        "bodysuit",
        "cape",
        "cardigan",
        "coat",
        "hoodie",
        "jacket",
        "jumper",
        "shirt",
        "sweater",
        "sweatshirt",
        "t-shirt",
        "top",
        "vest",
    ),
    "bottomwear": ("jeans", "leggings", "pants", "shorts", "skirt"),
    "footwear": ("boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers", "wedges"),
    "fullbody": ("dress", "romper"),
}
DETECTOR_CLASSES = tuple(GROUPS)  # class index i of the detector is DETECTOR_CLASSES[i]
GROUP_OF_LABEL = {label: group for group, labels in GROUPS.items() for label in labels}
MIN_SPECK = 0.001  # connected parts smaller than 0.1% of the image are annotation noise


@dataclass(frozen=True)
class GarmentBox:
    label: str  # one of DETECTOR_CLASSES
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive
    pixels: int  # garment pixels inside


def garment_boxes(label_map: np.ndarray, names: Sequence[str], min_speck: float = MIN_SPECK) -> list[GarmentBox]:
    """One box per group present in `label_map` ([H, W] label indices into `names`)."""
    from scipy import ndimage

    boxes = []
    for group in DETECTOR_CLASSES:
        codes = [i for i, name in enumerate(names) if GROUP_OF_LABEL.get(name) == group]
        mask = np.isin(label_map, codes)
        if not mask.any():
            continue
        parts, count = ndimage.label(mask)
        sizes = np.bincount(parts.ravel(), minlength=count + 1)
        keep = np.flatnonzero(sizes >= min_speck * mask.size)
        keep = keep[keep > 0]
        if len(keep) == 0:
            continue
        kept = np.isin(parts, keep)
        ys, xs = np.nonzero(kept)
        boxes.append(
            GarmentBox(group, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), int(kept.sum()))
        )
    return boxes

"""People's own photos of clothes (the CC0 "clothing dataset"): labels mapped onto catalog article types,
and the fixed split by sender.

Photos from one sender share rooms, light and often the same garment, so validation is by sender, never
by image: the held-out senders are listed in `clothing-photos-split.json` beside this file (made once by
`python -m training.clothing_photos --photos DIR --write-split`, never changed after).

PHOTO_TO_CATALOG is the one table that says which catalog article types a shopper accepts for a photo's
label; training ("any of these types") and the benchmark (relevant = products of these types) both read it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

SPLIT_FILE = Path(__file__).with_name("clothing-photos-split.json")
HELD_OUT_PERCENT = 20

# photo label -> catalog article types that count as "the same kind". Labels not here (Body, Undershirt,
# Other, Not sure, Skip) have no catalog counterpart and are left out of training and benchmarks.
PHOTO_TO_CATALOG: dict[str, tuple[str, ...]] = {
    "T-Shirt": ("Tshirts",),
    "Polo": ("Tshirts",),
    "Longsleeve": ("Tshirts", "Sweatshirts", "Sweaters", "Tops"),
    "Shirt": ("Shirts",),
    "Top": ("Tops", "Tshirts"),
    "Blouse": ("Tops", "Shirts"),
    "Hoodie": ("Sweatshirts", "Jackets"),
    "Outwear": ("Jackets", "Sweatshirts", "Sweaters"),
    "Blazer": ("Jackets", "Blazers"),
    "Dress": ("Dresses",),
    "Skirt": ("Skirts",),
    "Pants": ("Trousers", "Jeans", "Track Pants", "Capris", "Leggings"),
    "Shorts": ("Shorts",),
    "Shoes": (
        "Casual Shoes",
        "Sports Shoes",
        "Formal Shoes",
        "Heels",
        "Flats",
        "Sandals",
        "Flip Flops",
        "Sports Sandals",
    ),
    "Hat": ("Caps", "Hat"),
}
# the eleven kinds the real-photo benchmark reports as its headline (the frequent ones)
HEADLINE_KINDS = (
    "T-Shirt",
    "Longsleeve",
    "Pants",
    "Shoes",
    "Shirt",
    "Dress",
    "Shorts",
    "Outwear",
    "Skirt",
    "Hat",
    "Hoodie",
)


@dataclass(frozen=True)
class ClothingPhoto:
    path: Path
    sender: str
    label: str  # the photo's own label, a key of PHOTO_TO_CATALOG

    @property
    def article_types(self) -> tuple[str, ...]:
        return PHOTO_TO_CATALOG.get(self.label, ())


def catalog_types(label: str) -> tuple[str, ...]:
    """The catalog article types accepted for a photo label; () for a label without a counterpart."""
    return PHOTO_TO_CATALOG.get(label.strip(), ())


def read_photos(folder: Path) -> list[ClothingPhoto]:
    """Every photo whose label maps onto the catalog and whose file exists, in labels.csv order."""
    return [photo for photo in read_all(folder) if catalog_types(photo.label)]


def read_all(folder: Path) -> list[ClothingPhoto]:
    """Every photo whose file exists, whatever its label (Undershirt, Body, ... included)."""
    photos = []
    with open(folder / "labels.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            path = folder / "images" / f"{row['image']}.jpg"
            if path.is_file():
                photos.append(ClothingPhoto(path, row["sender_id"].strip(), row["label"].strip()))
    return photos


def held_out_senders(split_file: Path = SPLIT_FILE) -> frozenset[str]:
    return frozenset(json.loads(split_file.read_text())["held_out_senders"])


def split(
    photos: list[ClothingPhoto], split_file: Path = SPLIT_FILE
) -> tuple[list[ClothingPhoto], list[ClothingPhoto]]:
    """(training photos, held-out photos) by sender."""
    held = held_out_senders(split_file)
    return [p for p in photos if p.sender not in held], [p for p in photos if p.sender in held]


def sender_is_held_out(sender: str) -> bool:
    """The rule the split file was made by: sha256(sender id) mod 100 < HELD_OUT_PERCENT."""
    return int(hashlib.sha256(sender.encode()).hexdigest()[:8], 16) % 100 < HELD_OUT_PERCENT


def make_split(folder: Path) -> dict:
    senders = sorted(
        {row["sender_id"].strip() for row in csv.DictReader(open(folder / "labels.csv", encoding="utf-8"))},
        key=lambda s: (len(s), s),
    )
    return {
        "rule": f"sha256(sender_id) mod 100 < {HELD_OUT_PERCENT}",
        "held_out_senders": [s for s in senders if sender_is_held_out(s)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True, help="the clothing-photos folder (labels.csv, images/)")
    parser.add_argument("--write-split", action="store_true", help=f"write {SPLIT_FILE.name} (once)")
    args = parser.parse_args()
    if args.write_split:
        SPLIT_FILE.write_text(json.dumps(make_split(args.photos), indent=1) + "\n")
    train, held = split(read_photos(args.photos))
    print(f"{len(train)} training photos, {len(held)} held out ({len(held_out_senders())} senders)")


if __name__ == "__main__":
    main()

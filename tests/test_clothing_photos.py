"""The clothing-photos label mapping (one table) and the fixed split by sender."""

import csv
import json

from PIL import Image

from training import clothing_photos
from training.clothing_photos import HEADLINE_KINDS, PHOTO_TO_CATALOG, catalog_types, read_photos, split


def test_labels_map_onto_catalog_article_types():
    assert catalog_types("Dress") == ("Dresses",)
    assert catalog_types("Hat") == ("Caps", "Hat")
    assert "Tshirts" in catalog_types("Longsleeve") and "Sweatshirts" in catalog_types("Hoodie")
    assert set(catalog_types("Pants")) >= {"Trousers", "Jeans"}
    assert catalog_types(" T-Shirt ") == ("Tshirts",)  # stray spaces in the CSV


def test_labels_without_a_catalog_counterpart_are_left_out():
    for label in ("Body", "Undershirt", "Other", "Not sure", "Skip", "", "dress"):
        assert catalog_types(label) == ()


def test_every_headline_kind_is_mapped_and_no_type_list_is_empty():
    assert len(HEADLINE_KINDS) == 11 and set(HEADLINE_KINDS) <= set(PHOTO_TO_CATALOG)
    assert all(types and len(set(types)) == len(types) for types in PHOTO_TO_CATALOG.values())


def test_the_shipped_split_file_follows_its_rule():
    data = json.loads(clothing_photos.SPLIT_FILE.read_text())
    held = data["held_out_senders"]
    assert held and len(held) == len(set(held))
    assert all(clothing_photos.sender_is_held_out(s) for s in held)
    assert not clothing_photos.sender_is_held_out(next(str(n) for n in range(1000) if str(n) not in held))


def _write_photos(folder, rows):
    (folder / "images").mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sender_id", "label", "kids"])
        for name, sender, label in rows:
            writer.writerow([name, sender, label, "False"])
            Image.new("RGB", (8, 8), "red").save(folder / "images" / f"{name}.jpg")


def test_photos_split_by_sender_never_by_image(tmp_path):
    held = sorted(clothing_photos.held_out_senders())[:2]
    kept = [str(n) for n in range(1000) if not clothing_photos.sender_is_held_out(str(n))][:2]
    rows = [
        (f"p{i}", sender, label)
        for i, (sender, label) in enumerate(
            [
                (held[0], "Dress"),
                (held[0], "Shoes"),
                (held[1], "Hat"),
                (kept[0], "Dress"),
                (kept[0], "Body"),
                (kept[1], "Pants"),
                (kept[1], "T-Shirt"),
            ]
        )
    ]
    _write_photos(tmp_path, rows)
    (tmp_path / "images" / "p6.jpg").unlink()  # a listed photo whose file is missing is skipped
    photos = read_photos(tmp_path)
    assert [p.label for p in photos] == ["Dress", "Shoes", "Hat", "Dress", "Pants"]  # Body has no counterpart
    train, test = split(photos)
    assert {p.sender for p in train} == set(kept) and {p.sender for p in test} == set(held)
    assert test[0].article_types == ("Dresses",)

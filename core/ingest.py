"""Catalog import: a folder of `<id>.jpg` images plus a CSV in the "Fashion Product Images" layout.

Import is idempotent: each product carries a hash of its row and image bytes, so re-running an
import changes nothing, and a changed row (or image) updates just that product. Bad rows are
skipped and reported; a CSV without the required columns is refused before anything is written.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.archives import unpack
from core.catalog import Product, parse_id
from core.errors import ArchiveError, CatalogFormatError, InvalidId, StorageError
from core.images import load_image

REQUIRED_COLUMNS = ("id", "gender", "masterCategory", "subCategory", "articleType", "baseColour", "productDisplayName")
OPTIONAL_COLUMNS = ("season", "usage", "colorgroup")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
STORED_IMAGE_SIDE = 512
MAX_TEXT = 300  # longest field value kept
MAX_ZIP_BYTES = 2 * 1024**3  # uncompressed size limit of an uploaded catalog zip
MAX_CSV_BYTES = 256 * 1024**2  # a catalog CSV of a million rows is ~150 MB
MAX_CSV_FIELD = 64 * 1024  # characters in one cell (the csv module's default is 128k)

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class CatalogRow:
    product: Product
    image_path: Path


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id or line, reason)
    seconds: float = 0.0

    @property
    def imported(self) -> int:
        return self.added + self.updated

    def summary(self) -> str:
        text = (
            f"{self.rows} rows: {self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped"
        )
        return text + (f" in {self.seconds:.1f} s" if self.seconds else "")


def read_catalog(images_dir: Path, styles_csv: Path) -> tuple[list[CatalogRow], list[tuple[str, str]]]:
    """Rows that can be imported, and (id, reason) for those that cannot."""
    if not styles_csv.is_file():
        raise CatalogFormatError(f"No CSV file at {styles_csv}.")
    if not images_dir.is_dir():
        raise CatalogFormatError(f"No images folder at {images_dir}.")
    images = _image_files(images_dir)
    rows, skipped, seen = {}, [], {}
    for line, record in _csv_records(styles_csv):
        raw_id = (record.get("id") or "").strip()
        try:
            product_id = parse_id(raw_id)
        except InvalidId:
            skipped.append((f"line {line}", f"id {raw_id[:20]!r} is not a whole number from 0 to 2^63-1"))
            continue
        if product_id in seen:
            skipped.append((raw_id, f"duplicate id (also on line {seen[product_id]}); the later row is used"))
        seen[product_id] = line
        image = images.get(product_id)
        if image is None:
            rows.pop(product_id, None)
            skipped.append((raw_id, "no image file for this id"))
            continue
        rows[product_id] = CatalogRow(_product(product_id, record, image.name), image)
    return list(rows.values()), skipped


def _csv_records(styles_csv: Path):
    try:
        if styles_csv.stat().st_size > MAX_CSV_BYTES:
            raise CatalogFormatError(
                f"{styles_csv.name} is larger than {MAX_CSV_BYTES // 2**20} MB. Nothing was imported."
            )
        handle = open(styles_csv, newline="", encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise CatalogFormatError(f"Cannot read {styles_csv}: {exc}") from exc
    csv.field_size_limit(MAX_CSV_FIELD)
    with handle:
        reader = csv.DictReader(handle)
        try:
            columns = [c.strip() for c in (reader.fieldnames or [])]
        except csv.Error as exc:
            raise CatalogFormatError(f"The CSV's header is malformed: {exc}. Nothing was imported.") from exc
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise CatalogFormatError(
                f"The CSV lacks the column(s) {', '.join(missing)}. Required: {', '.join(REQUIRED_COLUMNS)}; "
                f"optional: {', '.join(OPTIONAL_COLUMNS)}. Nothing was imported."
            )
        reader.fieldnames = columns
        try:
            for record in reader:
                yield reader.line_num, record
        except csv.Error as exc:
            raise CatalogFormatError(
                f"The CSV is malformed near line {reader.line_num}: {exc}. Nothing was imported."
            ) from exc


def _image_files(images_dir: Path) -> dict[int, Path]:
    found = {}
    for path in images_dir.iterdir():
        if path.suffix.lower() in IMAGE_SUFFIXES and re.fullmatch(r"[0-9]{1,19}", path.stem):
            found.setdefault(int(path.stem), path)  # an id over 2^63-1 is refused with its CSV row
    return found


def _product(product_id: int, record: dict, image_name: str) -> Product:
    def text(column: str) -> str:
        value = "".join(c for c in str(record.get(column) or "") if unicodedata.category(c) != "Cc" or c.isspace())
        return " ".join(value.split())[:MAX_TEXT]  # no NULs or terminal escapes stored

    return Product(
        id=product_id,
        name=text("productDisplayName"),
        gender=text("gender"),
        master_category=text("masterCategory"),
        sub_category=text("subCategory"),
        article_type=text("articleType"),
        base_colour=text("baseColour"),
        colour_group=text("colorgroup"),
        season=text("season"),
        usage=text("usage"),
        image=f"{product_id}.jpg",
    )


def content_hash(product: Product, image_bytes: bytes) -> str:
    digest = hashlib.sha1(repr(sorted(product.to_doc().items())).encode())
    digest.update(image_bytes)
    return digest.hexdigest()


def store_image(image_bytes: bytes, destination: Path) -> None:
    """Decode, make upright RGB, shrink and write as JPEG, atomically. Raises ImageError for a bad image and
    StorageError when the disk is full or the folder not writable (the old file, if any, is left whole)."""
    image = load_image(image_bytes, max_side=STORED_IMAGE_SIDE)
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.tmp")  # unique per writer
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        image.save(temporary, format="JPEG", quality=92)
        os.replace(temporary, destination)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageError(
            f"Could not write {destination.parent}: {exc.strerror or exc}. The import stopped; "
            "the products imported so far are complete. Free some space and import again: "
            "unchanged products are skipped."
        ) from exc


def extract_zip(data: bytes, into: Path) -> tuple[Path, Path]:
    """Unpack an uploaded catalog zip safely (core/archives.py); return (images folder, CSV path) found inside."""

    def targets(members: list) -> list:
        csvs = [m for m in members if m.name.lower().endswith(".csv")]
        if len(csvs) != 1:
            raise CatalogFormatError(f"The zip must hold exactly one CSV file; it holds {len(csvs)}.")
        images = [m for m in members if Path(m.name).suffix.lower() in IMAGE_SUFFIXES]
        return [(m, into / "images" / Path(m.name).name) for m in images] + [(csvs[0], into / "styles.csv")]

    try:
        unpack(data, MAX_ZIP_BYTES, targets)
    except ArchiveError as exc:
        raise CatalogFormatError(f"{exc} Nothing was imported.") from exc
    (into / "images").mkdir(exist_ok=True)
    return into / "images", into / "styles.csv"


def temporary_folder() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="stylelens-import-")

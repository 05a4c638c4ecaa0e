"""The "top-K categories in a set of images" tool: classify every image through the photo path (the
garment-kind classifier names the article type, the encoder's heads colour and gender) and count.

Used by the Catalog page (a folder or zip of photos) and by `python -m core categories DIR`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from core.archives import open_zip, read_member, safe_members
from core.encoders.stylelens import Prediction
from core.errors import ImageError, QueryError
from core.images import load_image
from core.ingest import Progress
from core.photo_query import PhotoReader

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
BATCH = 64
MAX_ZIP_BYTES = 512 * 1024**2  # read into memory: keep it well below the machine's RAM


@dataclass(frozen=True)
class CategoryCount:
    article_type: str
    images: int
    share: float  # of the images that could be read
    mean_confidence: float


@dataclass
class CategoryReport:
    predictions: list[tuple[str, Prediction]]  # (image name, what the heads see)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (image name, reason)

    def top(self, k: int = 5) -> list[CategoryCount]:
        counts = Counter(p.article_type for _, p in self.predictions)
        total = max(1, len(self.predictions))
        return [
            CategoryCount(
                kind, n, n / total, sum(p.article_type_score for _, p in self.predictions if p.article_type == kind) / n
            )
            for kind, n in counts.most_common(k)
        ]

    def to_json(self, k: int = 5) -> dict:
        return {
            "images": len(self.predictions),
            "top": [
                {
                    "article_type": c.article_type,
                    "images": c.images,
                    "share": round(c.share, 4),
                    "mean_confidence": round(c.mean_confidence, 4),
                }
                for c in self.top(k)
            ],
            "predictions": [
                {
                    "image": name,
                    "article_type": p.article_type,
                    "confidence": round(p.article_type_score, 4),
                    "colour": p.colour,
                    "gender": p.gender,
                }
                for name, p in self.predictions
            ],
            "skipped": [{"image": name, "reason": reason} for name, reason in self.skipped],
        }


def image_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise QueryError(f"{folder} is not a folder.")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def images_in_zip(data: bytes, budget: list[int] | None = None) -> list[tuple[str, bytes]]:
    """(name, bytes) of every image file in an uploaded zip; a bad zip raises core.archives.ArchiveError.
    `budget` ([bytes left], shared by several zips of one request) bounds what is held in memory."""
    budget = [MAX_ZIP_BYTES] if budget is None else budget
    with open_zip(data) as archive:
        members = [m for m in safe_members(archive, budget[0]) if Path(m.name).suffix.lower() in IMAGE_SUFFIXES]
        return [(m.name, read_member(archive, m, budget)) for m in members]


def categorize(
    reader: PhotoReader, sources: Sequence[tuple[str, bytes | Path]], progress: Progress | None = None
) -> CategoryReport:
    """Predict the article type (and colour, gender) of each named image through the photo path (garment
    cut out first, as every photo query); unreadable ones are skipped. `reader`'s encoder has heads."""
    report = CategoryReport(predictions=[])
    for start in range(0, len(sources), BATCH):
        names: list[str] = []
        images: list[Image.Image] = []
        for name, source in sources[start : start + BATCH]:
            try:
                images.append(load_image(source))
                names.append(name)
            except ImageError as exc:
                report.skipped.append((name, str(exc)))
        report.predictions.extend((name, photo.prediction) for name, photo in zip(names, reader.read(images)))
        if progress:
            progress(min(start + BATCH, len(sources)), len(sources), "Classifying images")
    return report

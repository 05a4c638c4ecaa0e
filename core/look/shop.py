"""Shop the look: pose check, gender, garment boxes, and similar catalog products for every garment.

The detector, pose model and gender model are passed in (loaded once by the caller), so the page, the
CLI and the tests run the very same pipeline; each stage's time is reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from core.artifacts import path_of
from core.engine import Hit, SearchResult, StyleLens
from core.errors import ModelUnavailable
from core.garment_features import hex_colour
from core.index import SearchFilter
from core.look.gender import UNSURE_BELOW, GenderGuess
from core.look.pose import Box, PoseVerdict
from core.segment import mask_box

# detector class -> catalog categories it may be matched with (masterCategory / subCategory / articleType)
CATALOG_CATEGORIES: dict[str, tuple[str, ...]] = {
    "topwear": ("Topwear",),
    "bottomwear": ("Bottomwear",),
    "footwear": ("Shoes", "Sandal", "Flip Flops"),
    "fullbody": ("Dress", "Dresses"),
}
MIN_BOX = 4  # pixels a side: smaller boxes (possible on tiny photos) are dropped
SMALL_SIDE = 128  # below this many pixels a side, the photo gets a warning and no garment detection
ANYONE = GenderGuess(None, 0.0, "")  # no person: the gender check is not run
BLANK_SPREAD = 3.0  # grey levels: a photo whose pixels vary less than this is blank (one flat colour)
BLANK_NOTE = "The photo is one flat colour: there is no person or garment in it to shop. Try another photo."
CROP_MARGIN = 0.06  # a little context around each box helps the encoder
DETECTOR_WEIGHTS = path_of("garment-detector")
# Test-time augmentation: ultralytics runs the detector on the photo, on its mirror image at 0.83x scale and
# on the photo at 0.67x scale, and merges the boxes. Measured on the stage-2 detector (benchmarks/detector.py,
# --no-tta for off): held-out street photos 0641-0804, served AP50 over topwear/bottomwear/footwear 0.746 ->
# 0.762, full-body pieces 0.358 -> 0.394; the training photos (--photos train, a check of direction) gave
# 0.867 -> 0.884 and 0.713 -> 0.784. Detection p50 28 -> 74 ms on 2 cores. The shipped detector (stages 2
# and 3 averaged) scores 0.775 / 0.455 with it (assets/garment-detector.md).
DETECTOR_TTA = True


@dataclass(frozen=True)
class Detection:
    label: str  # topwear, bottomwear, footwear, fullbody
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels of the input image
    score: float


@dataclass(frozen=True)
class GarmentMatches:
    detection: Detection
    hits: list[Hit]
    chips: dict = field(default_factory=dict)  # product id -> re-ranker chips (when re-ranked)
    mask: np.ndarray | None = None  # bool [H, W] of the whole photo: the garment's pixels (when segmented)
    colour: tuple[int, int, int] | None = None  # the garment's colour, read from its own pixels
    cutout: Image.Image | None = None  # the garment cut out on white (what its colour was read from)
    reranked: bool = False  # its matches were re-ranked (asked for and the re-ranker available)
    notes: list[str] = field(default_factory=list)  # what its search had to say (e.g. re-ranking unavailable)
    explanations: dict = field(default_factory=dict)  # product id -> why it is shown (core.engine.results)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """The box served: the detector's. Boxes drawn around the masks were measured and did not win overall
        (benchmarks/detector.py --segmenter, shipped detector with test-time augmentation, held-out street
        photos: served AP50 over topwear, bottomwear, footwear 0.771 vs 0.775; full-body pieces alone 0.476 vs
        0.455, 53 boxes)."""
        return self.detection.box

    @property
    def mask_box(self) -> tuple[int, int, int, int] | None:
        """The box around the garment's mask (None when it was not segmented)."""
        return mask_box(self.mask) if self.mask is not None else None

    def to_json(self, scale: float = 1.0) -> dict:
        data = {
            "label": self.detection.label,
            "box": [round(v * scale) for v in self.box],
            "score": round(self.detection.score, 4),
            "hits": [h.to_json() for h in self.hits],
            "segmented": self.mask is not None,
            "reranked": self.reranked,
        }
        if self.notes:
            data["notes"] = self.notes
        if self.mask_box is not None:
            data["mask_box"] = [round(v * scale) for v in self.mask_box]
        if self.colour is not None:
            data["colour"] = hex_colour(self.colour)
        return data


@dataclass(frozen=True)
class LookResult:
    pose: PoseVerdict
    gender: str | None
    gender_score: float
    garments: list[GarmentMatches]
    gender_source: str = ""  # "face and clothes", "clothes" (no face found), "you" (the user's choice), "" (none)
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    blank: bool = False  # the photo is one flat colour: nothing was looked for

    @property
    def gender_unsure(self) -> bool:
        """Whether the gender check could not tell well whose clothing it is (never for the user's choice, nor
        without a person: a product photo's results are not limited by gender)."""
        return self.gender_source not in ("", "you") and self.gender_score < UNSURE_BELOW  # "": nobody checked

    def to_json(self, scale: float = 1.0) -> dict:
        """`scale`: the input photo's size over the analysed picture's, so that boxes are in the input's pixels."""
        pose = self.pose.to_json()
        if pose["person_box"]:
            pose["person_box"] = [round(v * scale) for v in pose["person_box"]]
        return {
            **pose,
            "gender": self.gender,
            "gender_confidence": round(self.gender_score, 4),
            "gender_source": self.gender_source,
            "gender_unsure": self.gender_unsure,
            "blank": self.blank,
            "garments": [g.to_json(scale) for g in self.garments],
            "notes": self.notes,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


Detect = Callable[[Image.Image], Sequence[Detection]]


class PoseJudge(Protocol):  # core.look.pose_model.PoseModel
    def verdict(self, image: Image.Image) -> PoseVerdict: ...


class GenderJudge(Protocol):  # core.look.gender.GenderModel
    def guess(self, image: Image.Image, face: Box | None = None, person: Box | None = None) -> GenderGuess: ...


def shop_the_look(
    engine: StyleLens,
    image: Image.Image,
    detect: Detect,
    pose_model: PoseJudge,
    gender_model: GenderJudge,
    k: int = 5,
    gender: str | None = None,
    rerank: bool = False,
) -> LookResult:
    """The whole pipeline on one photo; `gender` overrides the gender check (a photo without a person is
    searched whole, for anyone: neither the gender check nor `gender` applies to it).

    `detect` finds garments, `pose_model.verdict(image)` judges the pose, `gender_model.guess(image, face,
    person)` tells whose clothing it is (core.look.gender.GenderModel)."""
    if is_blank(image):
        nobody = PoseVerdict(False, False, ("no person found",), people=0)
        return LookResult(nobody, None, 0.0, [], "", [BLANK_NOTE], blank=True)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    verdict = pose_model.verdict(image)
    timings["pose"] = time.perf_counter() - started
    started = time.perf_counter()
    guess = ANYONE  # a product photo's similar products are not limited by gender
    if verdict.people:
        guess = (
            GenderGuess(gender, 1.0, "you")
            if gender
            else gender_model.guess(image, verdict.face_box, verdict.person_box)
        )
        timings["gender"] = time.perf_counter() - started
    started = time.perf_counter()
    detections = []
    if verdict.people and min(image.size) >= SMALL_SIDE:  # garments are looked for on a person only
        detections = best_per_class(detect_in(detect, image, verdict.region))
        timings["detect"] = time.perf_counter() - started
    notes = _notes(verdict, image.size)
    started = time.perf_counter()
    if verdict.people:
        garments = [search_garment(engine, image, d, guess.gender, k, rerank) for d in detections]
    else:  # a product photo: the whole photo takes the Search page's path, its kind read by the kind classifier
        garments = [product_photo_matches(engine, image, k, rerank)]
    timings["search"] = time.perf_counter() - started
    return LookResult(
        verdict,
        guess.gender,
        guess.score,
        garments,
        guess.source,
        notes,
        {name: seconds * 1000 for name, seconds in timings.items()},
    )


def is_blank(image: Image.Image) -> bool:
    """Whether the photo is one flat colour (all black, all white, ...): nothing in it to find."""
    small = np.asarray(image.convert("L").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
    return float(small.std()) < BLANK_SPREAD


def product_photo_matches(engine: StyleLens, image: Image.Image, k: int, rerank: bool) -> GarmentMatches:
    """Similar products of a photo without a person, as Search by photo finds them (any gender). The detector,
    trained on worn garments, is not asked: on people's own photos of single garments (benchmarks/look.py
    --product-photos) its garment class, searched as for a worn garment, found the right kind of product far
    less often than the whole photo does."""
    whole = Detection("product", (0, 0, image.width, image.height), 1.0)
    found = engine.search_image(image, k, rerank=rerank)
    return matches(whole, found, whole.box, image.size)


def detect_in(detect: Detect, image: Image.Image, region: tuple[int, int, int, int] | None) -> list[Detection]:
    """Garments found in `region` of the photo (None: all of it), with boxes in whole-photo pixels."""
    if region is None:
        return list(detect(image))
    x0, y0 = region[:2]
    return [
        Detection(d.label, (d.box[0] + x0, d.box[1] + y0, d.box[2] + x0, d.box[3] + y0), d.score)
        for d in detect(image.crop(region))
    ]


def best_per_class(detections: Sequence[Detection]) -> list[Detection]:
    """One detection per garment class (the most confident), in the detector's class order."""
    best: dict[str, Detection] = {}
    for d in detections:
        if d.label not in best or d.score > best[d.label].score:
            best[d.label] = d
    return [best[label] for label in CATALOG_CATEGORIES if label in best]


def search_garment(
    engine: StyleLens, image: Image.Image, detection: Detection, gender: str | None, k: int, rerank: bool = False
) -> GarmentMatches:
    """Similar catalog products of the garment's categories and the person's gender (Unisex allowed), the
    re-ranker's chips for them (empty when not re-ranked), and the garment's mask and colour. The crop takes
    the one photo path (core/photo_query.py), as every photo query does."""
    region = padded(detection.box, image.size)
    genders = gender if gender in ("Men", "Women") else None
    where = SearchFilter.make(genders, CATALOG_CATEGORIES.get(detection.label, ()))
    found = engine.search_image(image.crop(region), k, where, rerank=rerank)
    return matches(detection, found, region, image.size)


def matches(
    detection: Detection, found: SearchResult, region: tuple[int, int, int, int], size: tuple[int, int]
) -> GarmentMatches:
    """A garment's matches, its mask placed back in the whole photo (`region`: where the crop was cut)."""
    photo = found.photo
    said = {"reranked": found.reranked, "notes": list(found.notes), "explanations": found.explanations}
    if photo is None:
        return GarmentMatches(detection, found.hits, found.chips, **said)
    if photo.mask is None:
        return GarmentMatches(detection, found.hits, found.chips, None, photo.colour, photo.cutout, **said)
    whole = np.zeros((size[1], size[0]), dtype=bool)
    x1, y1, x2, y2 = region
    whole[y1:y2, x1:x2] = photo.mask[: y2 - y1, : x2 - x1]
    return GarmentMatches(detection, found.hits, found.chips, whole, photo.colour, photo.cutout, **said)


def padded(box: tuple[int, int, int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    dx, dy = int((x2 - x1) * CROP_MARGIN), int((y2 - y1) * CROP_MARGIN)
    return max(0, x1 - dx), max(0, y1 - dy), min(size[0], x2 + dx), min(size[1], y2 + dy)


def _notes(verdict: PoseVerdict, size: tuple[int, int]) -> list[str]:
    notes = []
    if min(size) < SMALL_SIDE:
        notes.append(
            f"The photo is only {size[0]}×{size[1]} pixels: too small to see a person or garments "
            "reliably. A photo at least 400 pixels wide works best."
        )
    if not verdict.people:
        return notes + ["Showing products similar to the whole photo, as Search by photo does (no person in it)."]
    if verdict.people > 1:
        notes.append(f"{verdict.people} people in the photo: showing the garments of the one nearest the camera.")
    if not verdict.full_shot:
        reasons = [r for r in verdict.reasons if "people" not in r]
        notes.append(
            "Not a full-length shot (" + "; ".join(reasons) + "): recommendations cover the garments that are visible."
        )
    return notes


class GarmentDetector:
    """The YOLO garment detector trained here (training/train_detector.py), as a `Detect` callable."""

    def __init__(self, weights: Path, confidence: float = 0.25, augment: bool = DETECTOR_TTA):
        if not Path(weights).is_file():
            raise ModelUnavailable(f"The garment detector {weights} is missing (python -m training.train_detector).")
        yolo = import_yolo()
        self.model, self.confidence, self.augment = yolo(str(weights)), confidence, augment
        self._lock = threading.Lock()  # one prediction at a time: the predictor keeps state between calls
        missing = set(CATALOG_CATEGORIES) - set(self.model.names.values())
        if missing:
            raise ModelUnavailable(
                f"{weights} is not a garment detector: it has no class {', '.join(sorted(missing))}."
            )
        self.image_size = (getattr(self.model, "ckpt", None) or {}).get("train_args", {}).get("imgsz", 416)

    def __call__(self, image: Image.Image) -> list[Detection]:
        with self._lock:
            result = self.model.predict(
                image.convert("RGB"),
                imgsz=self.image_size,
                conf=self.confidence,
                augment=self.augment,
                device="cpu",
                verbose=False,
            )[0]
        names = result.names
        found = [
            Detection(names[int(c)], tuple(int(round(v)) for v in xyxy), float(s))  # type: ignore[arg-type]
            for xyxy, s, c in zip(result.boxes.xyxy.tolist(), result.boxes.conf.tolist(), result.boxes.cls.tolist())
        ]
        return [d for d in found if d.box[2] - d.box[0] >= MIN_BOX and d.box[3] - d.box[1] >= MIN_BOX]


def import_yolo():
    """ultralytics' YOLO class, with PIL.Image.open given back: importing ultralytics replaces it with a
    version that, on a file Pillow cannot read, tries to pip-install a HEIF plugin (no network here) and
    raises ModuleNotFoundError instead of Pillow's UnidentifiedImageError, which core.images relies on."""
    import PIL.Image

    original = PIL.Image.open
    from ultralytics import YOLO
    from ultralytics.utils import patches

    PIL.Image.open = getattr(patches, "_image_open", original)
    return YOLO

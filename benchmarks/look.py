"""Shop the look end to end: pipeline latency on 550x830 street photos, and what bad input gets.

    python benchmarks/look.py --street ../shared/datasets/street-photos \
        --catalog ../shared/datasets/fashion-products --out data/benchmarks/look-results.json

Latency: held-out street photos (0641-0804) resized to exactly 550x830, the same call the page makes
(decode, pose, gender, detect, up to 4 garments searched); one warm-up photo first. Bad input: a catalog
packshot, an empty scene, a crowd (three people side by side), a tiny image, a 40-megapixel photo, a
landscape photo, a line drawing, a file that is not an image and a truncated JPEG; each is run the way
the page runs it and its outcome recorded. Uses the catalog and encoder of the current settings.

With `--product-photos CLOTHING_PHOTOS_DIR`: people's own photos of single garments from the held-out senders
(training/clothing-photos-split.json) through Shop the Look, as a user uploading a product photo there would.
Reported: how many have a person in them, and for those without one, precision@10 (an accepted kind among the
first garment's 10 products) as served (the whole photo, searched as Search by photo does) beside the rule
served before: the detector's confident garments (score >= 0.5) each searched as a worn garment of its class.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from core.config import load_settings
from core.encoders import load_attribute_model
from core.engine import StyleLens
from core.errors import ImageError
from core.images import load_image
from core.ingest import read_catalog
from core.look.gender import load_gender_model
from core.look.pose_model import PoseModel
from core.look.shop import DETECTOR_WEIGHTS, GarmentDetector, best_per_class, search_garment, shop_the_look
from training import clothing_photos, street

SIZE = (550, 830)


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def street_photo(street_dir: Path, number: int) -> Image.Image:
    return Image.open(street_dir / "photos" / f"{number:04d}.jpg").convert("RGB")


def line_drawing() -> Image.Image:
    """A child's drawing of a person: stick figure, triangle dress, round head, on paper."""
    paper = Image.new("RGB", SIZE, (250, 248, 240))
    pen = ImageDraw.Draw(paper)
    pen.ellipse([225, 60, 325, 160], outline="black", width=5)
    pen.polygon([(275, 170), (170, 520), (380, 520)], outline="black", width=5)
    for line in (
        [(275, 220), (150, 350)],
        [(275, 220), (400, 350)],
        [(240, 520), (230, 760)],
        [(310, 520), (320, 760)],
        [(230, 760), (190, 770)],
        [(320, 760), (360, 770)],
    ):
        pen.line(line, fill="black", width=5)
    return paper


def bad_inputs(street_dir: Path, catalog_dir: Path) -> dict[str, bytes]:
    people = [street_photo(street_dir, n) for n in (700, 705, 710)]
    crowd = Image.new("RGB", (1500, 830), "white")
    for i, person in enumerate(people):
        crowd.paste(person.resize(SIZE).crop((50, 0, 550, 830)), (i * 500, 0))
    landscape = people[0].resize((1600, 900)).filter(ImageFilter.GaussianBlur(20))
    landscape.paste(people[0].resize((int(550 * 900 / 830), 900)), (500, 0))
    rows, _ = read_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    shoe = min((r.image_path for r in rows if r.product.master_category == "Footwear"), key=str)
    whole = jpeg(people[1])
    return {
        "packshot (catalog shoe)": shoe.read_bytes(),
        "no person (empty grey scene)": jpeg(Image.new("RGB", SIZE, (128, 128, 128))),
        "crowd (three people)": jpeg(crowd),
        "tiny (24x36)": jpeg(people[0].resize((24, 36))),
        "40 megapixels (5184x7776)": jpeg(people[0].resize((5184, 7776), Image.Resampling.BILINEAR), 80),
        "landscape (1600x900)": jpeg(landscape),
        "line drawing": jpeg(line_drawing()),
        "not an image": b"name,price\nshirt,10\n",
        "truncated JPEG": whole[: len(whole) // 3],
    }


def run(args: argparse.Namespace) -> dict:
    engine = StyleLens.open(load_settings())
    models = {
        "detect": GarmentDetector(Path(args.weights)),
        "pose_model": PoseModel(),
        "gender_model": load_gender_model(load_attribute_model(engine.settings.encoder_name)),
    }
    street_dir = Path(args.street)

    def look(data: bytes):
        started = time.perf_counter()
        result = shop_the_look(engine, load_image(data), **models, k=5)
        return result, (time.perf_counter() - started) * 1000

    photos = [n for n in street.EVAL_PHOTOS if (street_dir / "photos" / f"{n:04d}.jpg").exists()][: args.photos]
    look(jpeg(street_photo(street_dir, photos[0]).resize(SIZE)))  # warm-up
    totals, stages, garments = [], {}, []
    for number in tqdm(photos, desc="Pipeline"):
        result, ms = look(jpeg(street_photo(street_dir, number).resize(SIZE)))
        totals.append(ms)
        garments.append(len(result.garments))
        for name, value in result.timings_ms.items():
            stages.setdefault(name, []).append(value)
    report = {
        "photos": len(photos),
        "size": list(SIZE),
        "total_ms_p50": round(statistics.median(totals), 1),
        "total_ms_p95": round(sorted(totals)[int(0.95 * (len(totals) - 1))], 1),
        "stage_ms_p50": {name: round(statistics.median(v), 1) for name, v in stages.items()},
        "garments_per_photo": round(statistics.fmean(garments), 2),
        "bad_input": {},
    }
    for name, data in bad_inputs(street_dir, Path(args.catalog)).items():
        try:
            result, ms = look(data)
            report["bad_input"][name] = {
                "outcome": "refused as blank" if result.blank else "ok",
                "ms": round(ms),
                "people": result.pose.people,
                "full_shot": result.pose.full_shot,
                "reasons": list(result.pose.reasons),
                "notes": result.notes,
                "garments": [g.detection.label for g in result.garments],
            }
        except ImageError as exc:
            report["bad_input"][name] = {"outcome": "refused with a message", "message": str(exc)}
    if args.product_photos:
        report["product_photos"] = product_photos(engine, models, Path(args.product_photos), Path(args.catalog))
    return report


def kind_precision(hits, accepted: tuple[str, ...], kind_of: dict[int, str]) -> float:
    """Share of the hits whose article type is accepted (0 without hits)."""
    return statistics.fmean(kind_of.get(h.product.id) in accepted for h in hits) if hits else 0.0


def product_photos(engine: StyleLens, models: dict, photos_dir: Path, catalog_dir: Path) -> dict:
    """Shop the Look on held-out people's photos of single garments (see the module's docstring)."""
    rows, _ = read_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    kind_of = {row.product.id: row.product.article_type for row in rows}
    _, held = clothing_photos.split(clothing_photos.read_photos(photos_dir))
    served, detector_class, with_person = [], [], 0
    for photo in tqdm(held, desc="Product photos", mininterval=10):
        image = load_image(photo.path.read_bytes())
        result = shop_the_look(engine, image, **models, k=10)
        if result.pose.people or result.blank:  # a blank photo is refused: nothing searched
            with_person += bool(result.pose.people)
            continue
        served.append(kind_precision(result.garments[0].hits, photo.article_types, kind_of))
        confident = [d for d in best_per_class(models["detect"](image)) if d.score >= 0.5]
        guessed = models["gender_model"].guess(image, None, None).gender  # the old rule read it from the clothes
        first = search_garment(engine, image, confident[0], guessed, 10) if confident else result.garments[0]
        detector_class.append(kind_precision(first.hits, photo.article_types, kind_of))
    return {
        "photos": len(held),
        "with_person": with_person,
        "without_person": len(served),
        "served_p10": round(statistics.fmean(served), 4) if served else None,
        "detector_class_p10": round(statistics.fmean(detector_class), 4) if detector_class else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--street", required=True, help="street-photos folder")
    parser.add_argument("--catalog", required=True, help="catalog folder (images/, styles.csv) for a packshot")
    parser.add_argument("--weights", default=str(DETECTOR_WEIGHTS))
    parser.add_argument("--photos", type=int, default=100, help="held-out photos timed (default 100)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/look-results.json"))
    parser.add_argument("--product-photos", type=Path, help="clothing-photos folder: Shop the Look on product photos")
    args = parser.parse_args(argv)
    report = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

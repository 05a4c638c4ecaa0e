"""Which views the garment-kind classifier should read, judged on its validation photos (never the benchmark's).

    python benchmarks/kind_views.py --photos ../shared/datasets/clothing-photos \
        --street ../shared/datasets/street-photos --weights data/training/kind/garment-kind.pt \
        --crops 1.0 0.85 --out data/benchmarks/kind-views.json

`--weights` should be the validated run's classifier (training/train_kind.py without --final), which never
trained on these photos: the clothing-photos training senders in the validation buckets and street photos
0581-0640. Each `--crops` value C is served as core/kinds.py serves it: the photo, its central share C (1.0:
none) and the mirror images, probabilities averaged. Reported: how often the likeliest type is accepted.
CENTRE_CROP in core/kinds.py was chosen with this.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from core.kinds import KindModel
from training import street
from training.train_kind import STREET_VALIDATION, picture, sender_photos


def validation_sets(photos_dir: Path, street_dir: Path) -> dict[str, list[tuple[Image.Image, tuple[str, ...]]]]:
    """(picture, accepted article types) of each validation photo and street crop."""
    chosen = sender_photos(photos_dir, validation=True)
    photos = [(picture(p.path), p.article_types) for p in tqdm(chosen, desc="clothing photos", mininterval=5)]
    crops = [(c.image, street.STREET_TO_CATALOG[c.label]) for c in street.garment_crops(street_dir, STREET_VALIDATION)]
    return {"val-photos": photos, "val-street": crops}


def top1_accepted(model: KindModel, samples: list[tuple[Image.Image, tuple[str, ...]]]) -> float:
    distributions = model.distributions([image for image, _ in samples])
    names = model.article_types
    hits = [names[int(row.argmax())] in accepted for row, (_, accepted) in zip(distributions, samples)]
    return round(sum(hits) / max(1, len(hits)), 4)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True, help="clothing-photos folder")
    parser.add_argument("--street", type=Path, required=True, help="street-photos folder")
    parser.add_argument("--weights", type=Path, required=True, help="the validated run's garment-kind checkpoint")
    parser.add_argument("--crops", type=float, nargs="+", default=[1.0, 0.85], help="centre crop shares to compare")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/kind-views.json"))
    args = parser.parse_args(argv)
    if not args.weights.is_file():
        parser.error(f"--weights {args.weights}: no such checkpoint")
    sets = validation_sets(args.photos, args.street)
    report = {"weights": str(args.weights), "n": {name: len(samples) for name, samples in sets.items()}, "crops": {}}
    for crop in args.crops:
        model = KindModel(args.weights, centre_crop=crop)
        report["crops"][str(crop)] = {name: top1_accepted(model, samples) for name, samples in sets.items()}
    report["command"] = "python benchmarks/kind_views.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

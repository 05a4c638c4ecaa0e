"""Gender check accuracy: the gender classifier (core/gender.py, as served) beside the encoder's gender head.

    python benchmarks/gender.py --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --street-labels benchmarks/street-gender-labels.json \
        --out data/benchmarks/gender-results.json

Two sets: held-out catalog Apparel photos (Men/Women, shown on a model) and held-out street photos whose
person was labelled by eye (benchmarks/street-gender-labels.json, "eval": never trained on). Methods:
"head" = the encoder's gender head on the photo (catalog) or the person crop (street), the baseline;
"served" = what Shop the Look does (core/gender.py: a linear layer over the embeddings of the person
crop and the face crop). Prints accuracy, balanced accuracy, confusion matrices and how often a face
was found.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.gender import load_gender_model  # noqa: E402
from core.images import load_image  # noqa: E402
from core.pose_model import PoseModel  # noqa: E402
from core.split import is_held_out  # noqa: E402


def catalog_people(catalog: Path) -> list[tuple[str, Path]]:
    styles = pd.read_csv(catalog / "styles.csv", on_bad_lines="skip").fillna("")
    people = styles[styles["id"].map(is_held_out) & (styles["masterCategory"] == "Apparel")
                    & styles["gender"].isin(["Men", "Women"])]
    return [(g, catalog / "images" / f"{i}.jpg") for i, g in zip(people["id"], people["gender"])]


def street_people(street: Path, labels: Path) -> list[tuple[str, Path]]:
    marked = json.loads(labels.read_text())["eval"]
    first, last = marked["range"]
    return [("Men" if n in marked["men"] else "Women", street / "photos" / f"{n:04d}.jpg")
            for n in range(first, last + 1) if n not in marked["unsure"]]


def score(rows: list[dict], method: str) -> dict:
    frame = pd.DataFrame(rows)
    right = frame[method] == frame["truth"]
    per_class = {g: round(float(right[frame["truth"] == g].mean()), 4) for g in ("Men", "Women")}
    return {"n": len(frame), "accuracy": round(float(right.mean()), 4), **per_class,
            "balanced_accuracy": round(sum(per_class.values()) / 2, 4),
            "confusion": pd.crosstab(frame["truth"], frame[method]).to_dict()}


def run(photos: list[tuple[str, Path]], pose: PoseModel, model, desc: str, whole_photo: bool) -> dict:
    rows = []
    for truth, path in tqdm(photos, desc=desc):
        image = load_image(path)
        verdict = pose.verdict(image)
        person = None if whole_photo or verdict.person_box is None else verdict.person_box
        served = model.guess(image, verdict.face_box, verdict.person_box)
        head = model.encoder.classify([image.crop(person) if person else image])[0]
        rows.append({"truth": truth, "head": head.gender, "served": served.gender, "source": served.source})
    faces = sum(r["source"] == "face and clothes" for r in rows) / len(rows)
    return {"head": score(rows, "head"), "served": score(rows, "served"), "face_found": round(faces, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--street", type=Path, help="street-photos folder")
    parser.add_argument("--street-labels", type=Path, default=Path("benchmarks/street-gender-labels.json"))
    parser.add_argument("--gender-model", type=Path, help="gender classifier (default: the bundled one)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/gender-results.json"))
    args = parser.parse_args()
    pose, model = PoseModel(), load_gender_model(path=args.gender_model)
    report = {"catalog": run(catalog_people(args.catalog), pose, model, "Catalog people", whole_photo=True)}
    if args.street:
        report["street"] = run(street_people(args.street, args.street_labels), pose, model, "Street photos",
                               whole_photo=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

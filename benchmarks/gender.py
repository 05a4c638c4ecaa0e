"""Gender check accuracy: the gender classifier (core/look/gender.py, as served) beside the encoder's gender head.

    python benchmarks/gender.py --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --street-labels benchmarks/street-gender-labels.json \
        --out data/benchmarks/gender-results.json

Two sets: held-out catalog Apparel photos of Men/Women products in which the pose model finds a person
(flat packshots left out and counted) and held-out street photos whose
person was labelled by eye (benchmarks/street-gender-labels.json, "eval": never trained on). Methods:
"head" = the encoder's gender head on the photo (catalog) or the person crop (street), the baseline;
"served" = what Shop the Look does (core/look/gender.py: a linear layer over the embeddings of the person
crop and the face crop). Prints accuracy, balanced accuracy, confusion matrices and how often a face
was found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from core.artifacts import versus, with_key_figures
from core.images import load_image
from core.look.gender import UNSURE_BELOW, load_gender_model
from core.look.pose_model import PoseModel
from core.split import is_held_out


def catalog_people(catalog: Path) -> list[tuple[str, Path]]:
    styles = pd.read_csv(catalog / "styles.csv", on_bad_lines="skip").fillna("")
    people = styles[
        styles["id"].map(is_held_out)
        & (styles["masterCategory"] == "Apparel")
        & styles["gender"].isin(["Men", "Women"])
    ]
    return [(g, catalog / "images" / f"{i}.jpg") for i, g in zip(people["id"], people["gender"])]


def street_people(street: Path, labels: Path) -> list[tuple[str, Path]]:
    marked = json.loads(labels.read_text())["eval"]
    first, last = marked["range"]
    return [
        ("Men" if n in marked["men"] else "Women", street / "photos" / f"{n:04d}.jpg")
        for n in range(first, last + 1)
        if n not in marked["unsure"]
    ]


def score(rows: list[dict], method: str) -> dict:
    frame = pd.DataFrame(rows)
    right = frame[method] == frame["truth"]
    per_class = {g: round(float(right[frame["truth"] == g].mean()), 4) for g in ("Men", "Women")}
    return {
        "n": len(frame),
        "men": int((frame["truth"] == "Men").sum()),
        "women": int((frame["truth"] == "Women").sum()),
        "accuracy": round(float(right.mean()), 4),
        **per_class,
        "balanced_accuracy": round(sum(per_class.values()) / 2, 4),
        "confusion": pd.crosstab(frame["truth"], frame[method]).to_dict(),
    }


def unsure(rows: list[dict]) -> dict:
    """How often Shop the Look says it is not sure (served score below UNSURE_BELOW): over all photos, over
    the wrong guesses and over the right ones."""
    below = [r["score"] < UNSURE_BELOW for r in rows]
    wrong = [r["served"] != r["truth"] for r in rows]

    def share(picked: list[bool]) -> float:
        return round(sum(b for b, p in zip(below, picked) if p) / max(1, sum(picked)), 4)

    return {
        "below": UNSURE_BELOW,
        "photos": share([True] * len(rows)),
        "wrong_guesses": share(wrong),
        "right_guesses": share([not w for w in wrong]),
        "wrong": sum(wrong),
    }


def run(photos: list[tuple[str, Path]], pose: PoseModel, model, desc: str, whole_photo: bool) -> dict:
    """Both methods on every photo in which the pose model finds a person (catalog Apparel includes flat
    packshots: those are left out and counted)."""
    rows, skipped = [], 0
    for truth, path in tqdm(photos, desc=desc):
        image = load_image(path)
        verdict = pose.verdict(image)
        if not verdict.landmarks:
            skipped += 1
            continue
        person = None if whole_photo or verdict.person_box is None else verdict.person_box
        served = model.guess(image, verdict.face_box, verdict.person_box)
        head = model.encoder.classify([image.crop(person) if person else image])[0]
        rows.append(
            {
                "truth": truth,
                "head": head.gender,
                "served": served.gender,
                "score": served.score,
                "source": served.source,
            }
        )
    faces = sum(r["source"] == "face and clothes" for r in rows) / len(rows)
    return {
        "head": score(rows, "head"),
        "served": score(rows, "served"),
        "unsure": unsure(rows),
        "face_found": round(faces, 4),
        "no_person_found": skipped,
    }


def key_figures_of(report: dict) -> dict[str, str]:
    """Street photos (real, held out) first, then the catalog's."""
    return {
        f"{where} photos, balanced accuracy (served)": versus(
            report[where]["served"]["balanced_accuracy"],
            "encoder head baseline",
            report[where]["head"]["balanced_accuracy"],
        )
        for where in sorted(report, key=lambda where: where != "street")
        if isinstance(report[where], dict) and "served" in report[where]
    }


def unsure_text(street: dict | None) -> str:
    """The card's line on when Shop the Look says it is not sure whose clothing a photo shows."""
    if not street or "unsure" not in street:
        return ""
    u = street["unsure"]
    return (
        f"\nShop the Look says it is not sure whose clothing it is below {u['below']:.0%} (`UNSURE_BELOW`): on the "
        f"held-out street photos, {u['photos']:.0%} of the photos, holding {u['wrong_guesses']:.0%} of the "
        f"{u['wrong']} wrong guesses and {u['right_guesses']:.0%} of the right ones.\n"
    )


def render_card(model, report: dict, command: str) -> str:
    record = model.record
    data = record["data"]

    def row(name: str, part: dict) -> str:
        return (
            f"| {name} | {part['n']} | {part['accuracy']:.3f} | {part['balanced_accuracy']:.3f} | "
            f"{part['Men']:.3f} | {part['Women']:.3f} |"
        )

    rows = [
        row(f"{where}, {'served' if method == 'served' else 'encoder head (baseline)'}", report[where][method])
        for where in report
        for method in ("head", "served")
    ]
    return f"""# Model card: gender check (`gender-probe.pt`)

Says whose clothing a Shop the Look photo shows (Men or Women), so recommendations do not cross gender.
A linear layer (logistic regression, {model.layer.in_features} inputs) over two embeddings of the bundled
encoder `{record["encoder"]}`: the person crop (from the pose landmarks) and a square crop around the
largest face (MediaPipe's face detector, shipped in its wheel); without a face, the person crop twice.

## Data
- {data["street_photos"]} street photos 0001-0640 labelled by eye ({data["street_men"]} men,
  {data["street_women"]} women; `benchmarks/street-gender-labels.json`, "train"), each also mirrored.
- {data["catalog_photos"]} catalog Apparel photos of people from the training split (half Men, half Women).
- Street and catalog weigh the same; within each, Men and Women weigh the same.
- Held out: street photos 0641-0760 ("eval", labelled before training) and the held-out catalog products.

## Training
- Command: `{record["command"]}` ({record["minutes"]} min on 2 CPU cores, mostly embedding the photos).
- Regularisation C = {record["strength"]}, chosen by 5-fold cross-validation on the street photos
  (balanced accuracy by C: {", ".join(f"{c}: {v}" for c, v in record["cross_validation"].items())}).

## Measured
Produced by `{command}`.

| set, method | n | accuracy | balanced accuracy | Men | Women |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Catalog: held-out Apparel photos in which the pose model finds a person
({report["catalog"]["no_person_found"]} flat packshots without one left out). A face was found in
{report["catalog"]["face_found"]:.0%} of those catalog photos and
{report.get("street", {}).get("face_found", 0):.0%} of the street photos.
{unsure_text(report.get("street"))}
## Limits
- Street photos are mostly women ({report.get("street", {}).get("served", {}).get("men", 0)} men among the
  {report.get("street", {}).get("served", {}).get("n", 0)} evaluation photos), so the men's figure is
  uncertain; the labels are one engineer's reading of small thumbnails.
- It reads appearance, not identity: people dressed against expectation are misread; the user can
  override the answer on the page (`--gender` on the CLI).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--street", type=Path, help="street-photos folder")
    parser.add_argument("--street-labels", type=Path, default=Path("benchmarks/street-gender-labels.json"))
    parser.add_argument("--gender-model", type=Path, help="gender classifier (default: the bundled one)")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/gender-results.json"))
    parser.add_argument("--card", type=Path, help="write the gender model's card here (markdown)")
    args = parser.parse_args()
    pose, model = PoseModel(), load_gender_model(path=args.gender_model)
    report = {"catalog": run(catalog_people(args.catalog), pose, model, "Catalog people", whole_photo=True)}
    if args.street:
        report["street"] = run(
            street_people(args.street, args.street_labels), pose, model, "Street photos", whole_photo=False
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.card:
        card = render_card(model, report, "python benchmarks/gender.py " + " ".join(sys.argv[1:]))
        args.card.write_text(with_key_figures(card, key_figures_of(report)))
        print(f"Model card written to {args.card}")


if __name__ == "__main__":
    main()

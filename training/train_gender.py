"""Train the gender check of Shop the Look: a linear classifier over the bundled encoder's embeddings.

    python -m training.train_gender --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --out assets/gender-probe.pt

Data: the street photos 0001-0640 labelled by eye (benchmarks/street-gender-labels.json, "train"; each
photo also mirrored) and catalog Apparel photos of people from the training split (core/split.py).
Each photo becomes two embeddings (core/gender.person_views: the person crop from the pose landmarks
and the crop around the largest face, both found by core/look/pose_model.py as the app finds them). Street
and catalog count equally, and within each Men and Women count equally. The regularisation strength is
chosen by 5-fold cross-validation on the street photos (balanced accuracy), mirrored copies kept in the
fold of their photo. Street photos 0641-0760 ("eval") are never used here: benchmarks/gender.py
measures on them. Features are cached under --work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from core.encoders import BUNDLED_ENCODER, load_encoder
from core.images import load_image
from core.look.gender import GENDERS, save_gender_model
from core.split import is_held_out

STRENGTHS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # inverse regularisation strengths tried


def labelled_street(street: Path, labels: Path, part: str) -> list[tuple[Path, str]]:
    marked = json.loads(labels.read_text())[part]
    first, last = marked["range"]
    return [
        (street / "photos" / f"{n:04d}.jpg", "Men" if n in marked["men"] else "Women")
        for n in range(first, last + 1)
        if n not in marked["unsure"] and (street / "photos" / f"{n:04d}.jpg").exists()
    ]


def catalog_people(catalog: Path, count: int, held_out: bool = False, seed: int = 0) -> list[tuple[Path, str]]:
    """Apparel photos (shown on a model) of Men/Women products, balanced, from one side of the split."""
    styles = pd.read_csv(catalog / "styles.csv", on_bad_lines="skip").fillna("")
    people = styles[
        (styles["id"].map(is_held_out) == held_out)
        & (styles["masterCategory"] == "Apparel")
        & styles["gender"].isin(GENDERS)
    ]
    chosen = pd.concat(
        [group.sample(min(len(group), count // 2), random_state=seed) for _, group in people.groupby("gender")]
    )
    return [(catalog / "images" / f"{i}.jpg", g) for i, g in zip(chosen["id"], chosen["gender"])]


def embed(photos: list[tuple[Path, str]], pose, model, mirror: bool, desc: str) -> dict[str, np.ndarray]:
    """{features [N, 2D], label [N], photo [N]} (photo: index of the source photo, shared by its mirror)."""
    from core.look.gender import person_views

    features, labels, sources = [], [], []
    for index, (path, gender) in enumerate(tqdm(photos, desc=desc)):
        image = load_image(path)
        for picture in [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)] if mirror else [image]:
            verdict = pose.verdict(picture)
            features.append(model.embed_images(person_views(picture, verdict.face_box, verdict.person_box)).reshape(-1))
            labels.append(GENDERS.index(gender))
            sources.append(index)
    return {"features": np.stack(features), "label": np.array(labels), "photo": np.array(sources)}


def balanced_weights(labels: np.ndarray, total: float) -> np.ndarray:
    """Per-sample weights summing to `total`, half to each class."""
    weights = np.zeros(len(labels))
    for value in (0, 1):
        weights[labels == value] = total / 2 / max(1, int((labels == value).sum()))
    return weights


def balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean([(predicted[labels == v] == v).mean() for v in (0, 1) if (labels == v).any()]))


def fit(features: np.ndarray, labels: np.ndarray, weights: np.ndarray, strength: float):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=strength, max_iter=3000).fit(features, labels, sample_weight=weights)


def choose_strength(street: dict, catalog: dict, folds: int = 5) -> tuple[float, dict]:
    """The strength with the best cross-validated balanced accuracy on the street photos."""
    from sklearn.model_selection import GroupKFold

    scores = {}
    for strength in STRENGTHS:
        predicted = np.zeros_like(street["label"])
        for train, test in GroupKFold(folds).split(street["features"], street["label"], street["photo"]):
            x = np.concatenate([street["features"][train], catalog["features"]])
            y = np.concatenate([street["label"][train], catalog["label"]])
            w = (
                np.concatenate([balanced_weights(street["label"][train], 1.0), balanced_weights(catalog["label"], 1.0)])
                * len(y)
                / 2
            )
            predicted[test] = fit(x, y, w, strength).predict(street["features"][test])
        scores[strength] = round(balanced_accuracy(predicted, street["label"]), 4)
        print(f"C={strength}: cross-validated balanced accuracy on street photos {scores[strength]}", flush=True)
    return max(scores, key=scores.get), scores


def cached(path: Path, make) -> dict[str, np.ndarray]:
    if path.exists():
        return dict(np.load(path))
    found = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **found)
    return found


def train(args: argparse.Namespace) -> None:
    from core.look.pose_model import PoseModel

    started = time.time()
    encoder, pose, work = load_encoder(BUNDLED_ENCODER), PoseModel(), Path(args.work)
    street_photos = labelled_street(Path(args.street), Path(args.labels), "train")
    catalog_photos = catalog_people(Path(args.catalog), args.catalog_photos)
    street = cached(
        work / f"street-{encoder.model_key}.npz", lambda: embed(street_photos, pose, encoder, True, "Street photos")
    )
    catalog = cached(
        work / f"catalog-{args.catalog_photos}-{encoder.model_key}.npz",
        lambda: embed(catalog_photos, pose, encoder, False, "Catalog photos"),
    )
    strength, scores = choose_strength(street, catalog)
    x = np.concatenate([street["features"], catalog["features"]])
    y = np.concatenate([street["label"], catalog["label"]])
    w = np.concatenate([balanced_weights(street["label"], 1.0), balanced_weights(catalog["label"], 1.0)]) * len(y) / 2
    classifier = fit(x, y, w, strength)
    layer = torch.nn.Linear(x.shape[1], 2)
    with torch.no_grad():  # sklearn's one logit for class 1 -> two logits whose softmax is the same
        coef = torch.from_numpy(classifier.coef_[0]).float()
        layer.weight.copy_(torch.stack([-coef / 2, coef / 2]))
        bias = float(classifier.intercept_[0])
        layer.bias.copy_(torch.tensor([-bias / 2, bias / 2]))
    men = sum(g == "Men" for _, g in street_photos)
    record = {
        "encoder": encoder.model_key,
        "strength": strength,
        "cross_validation": scores,
        "data": {
            "street_photos": len(street_photos),
            "street_men": men,
            "street_women": len(street_photos) - men,
            "mirrored": True,
            "catalog_photos": len(catalog_photos),
        },
        "command": "python -m training.train_gender "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "minutes": round((time.time() - started) / 60, 1),
    }
    save_gender_model(Path(args.out), layer, record)
    print(json.dumps(record, indent=2))
    print(f"Saved {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="catalog folder (images/, styles.csv)")
    parser.add_argument("--street", required=True, help="street-photos folder")
    parser.add_argument("--labels", default="benchmarks/street-gender-labels.json")
    parser.add_argument("--catalog-photos", type=int, default=1200, help="catalog photos of people used")
    parser.add_argument("--out", default="assets/gender-probe.pt")
    parser.add_argument("--work", default="data/training/gender")
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()

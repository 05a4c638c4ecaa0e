"""Gender check accuracy on catalog photos of people (held-out products, Men vs Women), by the encoder's head.

    python benchmarks/gender.py --catalog ../shared/datasets/fashion-products

People photos: held-out Apparel products (topwear, bottomwear, dresses, ...), which the catalog shows on a
model. Prints accuracy, the confusion matrix and accuracy by sub-category.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.encoders import load_attribute_model  # noqa: E402
from core.images import load_image  # noqa: E402
from core.split import is_held_out  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    args = parser.parse_args()
    styles = pd.read_csv(args.catalog / "styles.csv").fillna("")
    people = styles[styles["id"].map(is_held_out) & (styles["masterCategory"] == "Apparel")
                    & styles["gender"].isin(["Men", "Women"])]
    model = load_attribute_model()
    predicted = []
    for start in range(0, len(people), 64):
        chunk = people.iloc[start:start + 64]
        predicted += [p.gender for p in model.classify([load_image(args.catalog / "images" / f"{i}.jpg")
                                                        for i in chunk["id"]])]
    people = people.assign(predicted=predicted, correct=[p == g for p, g in zip(predicted, people["gender"])])
    print(f"{len(people)} held-out apparel photos (Men/Women): accuracy {people['correct'].mean():.3f}")
    print(pd.crosstab(people["gender"], people["predicted"]).to_string())
    print(people.groupby("subCategory")["correct"].agg(["mean", "size"]).round(3).to_string())


if __name__ == "__main__":
    main()

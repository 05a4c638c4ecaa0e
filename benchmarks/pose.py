"""Benchmark the full-shot verdict: street photos (positives) vs catalog packshots and half-body model shots.

    python benchmarks/pose.py --street ../shared/datasets/street-photos \
        --catalog ../shared/datasets/fashion-products --out data/benchmarks/pose-results.json

Positives: the held-out annotated street photos (0641-0804) and the first 200 tag-only photos, nearly all
full-length. Negatives: 300 packshots (footwear, bags, watches, eyewear; seeded sample) and 300 upper-body
on-model shots (t-shirts and shirts). Prints the confusion matrix, accuracy and the reasons given.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm import tqdm

from core.look.pose_model import PoseModel


def sample(street: Path, catalog: Path, seed: int) -> list[tuple[str, Path, bool]]:
    photos = [street / "photos" / f"{n:04d}.jpg" for n in range(641, 805)]
    photos += sorted((street / "photos").glob("1*.jpg"))[:200]
    styles = pd.read_csv(catalog / "styles.csv")
    packshots = styles[styles["subCategory"].isin(["Shoes", "Bags", "Watches", "Eyewear", "Sandal", "Flip Flops"])]
    upper = styles[styles["articleType"].isin(["Tshirts", "Shirts"])]
    items = [("street photo", p, True) for p in photos if p.exists()]
    items += [
        ("packshot", catalog / "images" / f"{i}.jpg", False) for i in packshots.sample(300, random_state=seed)["id"]
    ]
    items += [
        ("upper-body model shot", catalog / "images" / f"{i}.jpg", False)
        for i in upper.sample(300, random_state=seed)["id"]
    ]
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--street", type=Path, required=True)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = PoseModel()
    rows, times = [], []
    for kind, path, positive in tqdm(sample(args.street, args.catalog, args.seed), desc="Judging photos"):
        image = Image.open(path).convert("RGB")
        started = time.perf_counter()
        verdict = model.verdict(image)
        times.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "kind": kind,
                "file": path.name,
                "positive": positive,
                "full_shot": verdict.full_shot,
                "front_facing": verdict.front_facing,
                "reasons": list(verdict.reasons),
            }
        )
    table = pd.DataFrame(rows)
    matrix = pd.crosstab(
        table["positive"].map({True: "full-length photo", False: "not full-length"}),
        table["full_shot"].map({True: "said full", False: "said not full"}),
    )
    accuracy = float((table["positive"] == table["full_shot"]).mean())
    by_kind = table.groupby("kind").apply(lambda t: float((t["positive"] == t["full_shot"]).mean())).to_dict()
    reasons = Counter(r for rs in table["reasons"] for r in rs)
    times.sort()
    result = {
        "n": len(table),
        "accuracy": accuracy,
        "by_kind": by_kind,
        "confusion": matrix.to_dict(),
        "reasons": dict(reasons.most_common()),
        "ms_p50": times[len(times) // 2],
    }
    if args.out:
        args.out.write_text(json.dumps({**result, "rows": rows}, indent=2))
    print(matrix.to_string())
    print(json.dumps({k: v for k, v in result.items() if k != "confusion"}, indent=2))


if __name__ == "__main__":
    main()

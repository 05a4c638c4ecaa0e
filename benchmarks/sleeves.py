"""Sleeve-length estimate (core/garment_features.py) on catalog tops and dresses labelled by eye.

    python benchmarks/sleeves.py --catalog ../shared/datasets/fashion-products \
        --out data/benchmarks/sleeve-results.json

Labels: benchmarks/sleeve-labels.json (none / short / elbow / long). The estimate reads the silhouette of
a packshot and, on a model, where skin begins along the arm (MediaPipe Pose landmarks), exactly as the
catalog import does (engine.features_of). Baseline: always the most common label. Prints accuracy,
accuracy where an estimate was given, the confusion matrix and the time per photo.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from core.garment_features import SLEEVES, extract
from core.images import load_image
from core.look.pose_model import PoseModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--labels", type=Path, default=Path("benchmarks/sleeve-labels.json"))
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/sleeve-results.json"))
    args = parser.parse_args()
    labels = json.loads(args.labels.read_text())["labels"]
    pose = PoseModel()
    rows, times = [], []
    for product, truth in labels.items():
        image = load_image(args.catalog / "images" / f"{product}.jpg")
        started = time.perf_counter()
        landmarks = pose.landmarks(image)
        estimate = extract(image, landmarks).sleeves
        times.append((time.perf_counter() - started) * 1000)
        rows.append({"id": int(product), "truth": truth, "estimate": estimate, "on_model": landmarks is not None})
    majority = Counter(r["truth"] for r in rows).most_common(1)[0][0]
    told = [r for r in rows if r["estimate"] is not None]
    report = {
        "n": len(rows),
        "accuracy": round(sum(r["truth"] == r["estimate"] for r in rows) / len(rows), 4),
        "answered": len(told),
        "accuracy_when_answered": round(sum(r["truth"] == r["estimate"] for r in told) / max(1, len(told)), 4),
        "baseline_majority": {
            "label": majority,
            "accuracy": round(sum(r["truth"] == majority for r in rows) / len(rows), 4),
        },
        "by_kind": {
            kind: {
                "n": len(part),
                "accuracy": round(sum(r["truth"] == r["estimate"] for r in part) / max(1, len(part)), 4),
            }
            for kind, part in (
                ("on model", [r for r in rows if r["on_model"]]),
                ("packshot", [r for r in rows if not r["on_model"]]),
            )
        },
        "confusion": {
            truth: {
                est: sum(1 for r in rows if r["truth"] == truth and (r["estimate"] or "unknown") == est)
                for est in (*SLEEVES, "unknown")
            }
            for truth in SLEEVES
        },
        "ms_per_photo_p50": round(sorted(times)[len(times) // 2], 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "rows": rows}, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Retrieval metrics as pure functions of a ranked list of ids and the set of relevant ids.

No I/O, no torch: tests check them against hand-computed examples. Relevance is binary.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

RECALL_KS = (1, 5, 10, 50)


def recall_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """1.0 if any relevant id is among the first k, else 0.0 (the "hit rate" reading of recall@K)."""
    return 1.0 if any(item in relevant for item in ranked[:k]) else 0.0


def precision_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Share of the first k positions holding a relevant id (missing positions count as misses)."""
    return sum(1 for item in ranked[:k] if item in relevant) / k


def reciprocal_rank(ranked: Sequence[int], relevant: set[int]) -> float:
    """1 / rank of the first relevant id in the list; 0.0 when none is in the list."""
    for position, item in enumerate(ranked, start=1):
        if item in relevant:
            return 1.0 / position
    return 0.0


def ndcg_at(ranked: Sequence[int], relevant: set[int], k: int) -> float:
    """Binary-relevance NDCG@k: DCG of the list over the DCG of an ideal list (all relevant first)."""
    dcg = sum(1.0 / math.log2(position + 1) for position, item in enumerate(ranked[:k], start=1) if item in relevant)
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(len(relevant), k) + 1))
    return dcg / ideal if ideal else 0.0


def first_relevant_rank(ranked: Sequence[int], relevant: set[int]) -> int | None:
    for position, item in enumerate(ranked, start=1):
        if item in relevant:
            return position
    return None


def query_metrics(ranked: Sequence[int], relevant: set[int]) -> dict[str, float]:
    """All the per-query numbers the evaluation reports."""
    scores = {f"recall@{k}": recall_at(ranked, relevant, k) for k in RECALL_KS}
    scores["precision@10"] = precision_at(ranked, relevant, 10)
    scores["mrr"] = reciprocal_rank(ranked, relevant)
    scores["ndcg@10"] = ndcg_at(ranked, relevant, 10)
    return scores


METRIC_NAMES = tuple(f"recall@{k}" for k in RECALL_KS) + ("precision@10", "mrr", "ndcg@10")


def mean_metrics(per_query: Iterable[dict[str, float]]) -> dict[str, float]:
    """`n` and the mean of every metric over the queries (no queries: n = 0 and every metric 0.0)."""
    rows = list(per_query)
    if not rows:
        return {"n": 0, **{name: 0.0 for name in METRIC_NAMES}}
    return {"n": len(rows), **{name: sum(row[name] for row in rows) / len(rows) for name in rows[0]}}


def recall_curve(first_ranks: Sequence[int | None], k: int) -> list[float]:
    """recall@1 .. recall@k from each query's first relevant rank (None: not found)."""
    if not first_ranks:
        return [0.0] * k
    return [sum(1 for r in first_ranks if r is not None and r <= cut) / len(first_ranks) for cut in range(1, k + 1)]


# --- detection: one ground-truth box per class per image (core/look/garments.py gives one box per group) ---

Box = tuple[float, float, float, float]  # x1, y1, x2, y2


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0.0 when they do not touch)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def average_precision(
    predictions: Iterable[tuple[str, Box, float]], truths: dict[str, Box], threshold: float = 0.5
) -> float:
    """AP of one class: predictions (image, box, score) against at most one true box per image.

    Predictions are taken by falling score; one is a true positive when it overlaps its image's unclaimed
    true box by IoU >= threshold. AP is the area under the precision-recall curve with precision made
    monotone (all-point interpolation, as in PASCAL VOC 2010+)."""
    if not truths:
        return 0.0
    claimed: set[str] = set()
    hits: list[bool] = []
    for image, box, _ in sorted(predictions, key=lambda p: -p[2]):
        hit = image in truths and image not in claimed and box_iou(box, truths[image]) >= threshold
        if hit:
            claimed.add(image)
        hits.append(hit)
    precisions, recalls, found = [], [], 0
    for position, hit in enumerate(hits, start=1):
        found += hit
        precisions.append(found / position)
        recalls.append(found / len(truths))
    area, previous_recall = 0.0, 0.0
    for i, recall in enumerate(recalls):
        if recall > previous_recall:
            area += (recall - previous_recall) * max(precisions[i:])
            previous_recall = recall
    return area

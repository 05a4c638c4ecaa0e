"""Retrieval metrics against numbers worked out by hand."""

import math

import pytest

from core.metrics import (
    first_relevant_rank,
    mean_metrics,
    ndcg_at,
    precision_at,
    query_metrics,
    recall_at,
    recall_curve,
    reciprocal_rank,
)

RANKED = [7, 3, 9, 1, 4, 8, 2, 6, 5, 0]  # ten results, best first
RELEVANT = {3, 4, 11}  # 11 was never retrieved


def test_recall_is_any_relevant_in_the_top_k():
    assert recall_at(RANKED, RELEVANT, 1) == 0.0
    assert recall_at(RANKED, RELEVANT, 2) == 1.0
    assert recall_at(RANKED, {11}, 10) == 0.0


def test_precision_counts_relevant_positions_over_k():
    assert precision_at(RANKED, RELEVANT, 10) == pytest.approx(2 / 10)
    assert precision_at(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert precision_at([3], RELEVANT, 10) == pytest.approx(1 / 10)  # a short list does not inflate it


def test_reciprocal_rank_of_the_first_relevant():
    assert reciprocal_rank(RANKED, RELEVANT) == pytest.approx(1 / 2)
    assert reciprocal_rank(RANKED, {0}) == pytest.approx(1 / 10)
    assert reciprocal_rank(RANKED, {11}) == 0.0
    assert first_relevant_rank(RANKED, RELEVANT) == 2
    assert first_relevant_rank(RANKED, {11}) is None


def test_ndcg_by_hand():
    # relevant at ranks 2 and 5; ideal has 3 relevant items (min(|relevant|, 10)) at ranks 1-3
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at(RANKED, RELEVANT, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at([3, 4, 11], RELEVANT, 10) == pytest.approx(1.0)
    assert ndcg_at(RANKED, set(), 10) == 0.0


def test_query_metrics_and_mean():
    one = query_metrics(RANKED, RELEVANT)
    assert set(one) == {"recall@1", "recall@5", "recall@10", "recall@50", "precision@10", "mrr", "ndcg@10"}
    other = query_metrics([11], RELEVANT)
    mean = mean_metrics([one, other])
    assert mean["n"] == 2
    assert mean["recall@1"] == pytest.approx(0.5)
    assert mean["mrr"] == pytest.approx((0.5 + 1.0) / 2)
    empty = mean_metrics([])
    assert empty["n"] == 0 and set(empty) == set(one) | {"n"} and not any(empty[name] for name in one)


def test_recall_curve_from_first_ranks():
    assert recall_curve([1, 3, None, 2], 4) == pytest.approx([0.25, 0.5, 0.75, 0.75])
    assert recall_curve([], 3) == [0.0, 0.0, 0.0]


def test_box_iou_by_hand():
    from core.metrics import box_iou

    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == 50 / 150
    assert box_iou((0, 0, 10, 10), (10, 10, 20, 20)) == 0.0


def test_average_precision_by_hand():
    from core.metrics import average_precision

    truths = {"a": (0, 0, 10, 10), "b": (0, 0, 10, 10)}
    perfect = [("a", (0, 0, 10, 10), 0.9), ("b", (1, 1, 10, 10), 0.8)]
    assert average_precision(perfect, truths) == 1.0
    # ranked: miss (wrong place), hit a, duplicate on a (miss), hit b -> P/R steps (1/2 at R .5, 2/4 at R 1)
    mixed = [
        ("a", (50, 50, 60, 60), 0.95),
        ("a", (0, 0, 10, 10), 0.9),
        ("a", (0, 0, 10, 10), 0.85),
        ("b", (0, 0, 10, 10), 0.5),
    ]
    assert average_precision(mixed, truths) == 0.5 * 0.5 + 0.5 * 0.5
    assert average_precision([("c", (0, 0, 10, 10), 0.9)], truths) == 0.0
    assert average_precision([], {}) == 0.0

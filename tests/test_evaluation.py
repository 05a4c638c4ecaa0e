"""The evaluation harness and `python -m core evaluate` on the synthetic catalog (baseline encoder)."""

import json

import numpy as np
import pytest

from core.__main__ import main
from core.composer import image_only, summed, text_only
from core.errors import QueryError
from core.evaluation import QueryFileError, evaluate, read_queries
from tests.conftest import draw_product

TSHIRTS = list(range(1000, 1006))  # write_catalog: 6 colours of each kind, ids from 1000
DRESSES = list(range(1006, 1012))


def write_queries(folder, records):
    path = folder / "queries.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_read_queries_keeps_good_lines_and_says_why_others_are_skipped(tmp_path):
    path = write_queries(
        tmp_path,
        [
            {"text": "red t-shirt", "relevant_ids": [1000], "kind": "text"},
            "{not json",
            {"text": "no answers"},
            {"relevant_ids": [1000]},
            "",
            {"image": "photos/a.jpg", "ref_id": 1001, "text": "in blue", "relevant_ids": ["1002"]},
        ],
    )
    queries, skipped = read_queries(path)
    assert [q.line for q in queries] == [1, 6]
    assert [line for line, _ in skipped] == [2, 3, 4]
    assert "relevant_ids" in skipped[1][1] and "image, a ref_id or a text" in skipped[2][1]
    last = queries[1]
    assert last.image == tmp_path / "photos" / "a.jpg" and last.ref_id == 1001
    assert last.relevant_ids == frozenset({1002})


def test_a_file_without_usable_queries_is_refused(tmp_path):
    with pytest.raises(QueryFileError, match="no usable query"):
        read_queries(write_queries(tmp_path, ["[]", "{}"]))
    with pytest.raises(QueryFileError, match="Cannot read"):
        read_queries(tmp_path / "missing.jsonl")


def test_text_image_and_reference_queries_are_scored(loaded_engine, tmp_path):
    (tmp_path / "photos").mkdir()
    draw_product("dress", (200, 30, 30)).save(tmp_path / "photos" / "red-dress.png")
    path = write_queries(
        tmp_path,
        [
            {"text": "Acme Men Red Tshirts", "relevant_ids": [1000], "kind": "text"},
            {"image": "photos/red-dress.png", "relevant_ids": DRESSES, "kind": "image"},
            {"ref_id": 1000, "relevant_ids": TSHIRTS, "kind": "image"},
            {"ref_id": 1000, "relevant_ids": [1000]},  # only itself relevant: it never counts
            {"ref_id": 999999, "relevant_ids": [1000]},
        ],
    )
    queries, skipped = read_queries(path)
    report = evaluate(loaded_engine, queries, k=50, skipped=skipped)
    assert report.overall["n"] == 3
    assert report.skipped == [
        (4, "no relevant id other than the query's own reference"),
        (5, "ref_id 999999 is not in the catalog"),
    ]
    text, dress, ref = report.outcomes
    assert text.first_rank == 1 and text.metrics["mrr"] == 1.0
    assert dress.ranked[0] in DRESSES and dress.metrics["recall@1"] == 1.0
    assert 1000 not in ref.ranked and len(ref.ranked) == 23  # the whole catalog but the reference
    assert ref.metrics["precision@10"] == pytest.approx(sum(i in TSHIRTS for i in ref.ranked[:10]) / 10)
    assert set(report.by_kind) == {"image", "text"} and report.by_kind["image"]["n"] == 2
    curve = report.curve()
    assert len(curve) == 50 and curve[0] <= curve[-1] == 1.0


def test_a_file_whose_queries_all_fail_still_reports_every_metric(loaded_engine, tmp_path):
    queries, skipped = read_queries(write_queries(tmp_path, [{"ref_id": 424242, "relevant_ids": [1000]}]))
    report = evaluate(loaded_engine, queries, skipped=skipped).to_json()
    assert report["n"] == 0 and report["recall@10"] == 0.0 and report["ndcg@10"] == 0.0
    assert report["skipped"] == [{"line": 1, "reason": "ref_id 424242 is not in the catalog"}]
    with pytest.raises(QueryError, match="between 50 and 200"):
        evaluate(loaded_engine, queries, k=10)


class TwoAxes:  # an encoder whose images and texts are fixed unit vectors
    def embed_images(self, images):
        return np.tile(np.array([[1.0, 0.0]], np.float32), (len(images), 1))

    def embed_texts(self, texts):
        return np.tile(np.array([[0.0, 1.0]], np.float32), (len(texts), 1))


def test_the_baseline_methods_by_hand():
    encoder, pictures = TwoAxes(), [draw_product("dress", (0, 0, 0))]
    assert summed(encoder)(pictures, ["x"]) == pytest.approx(np.array([[0.70710677, 0.70710677]]))
    assert image_only(encoder)(pictures, ["x"]) == pytest.approx(np.array([[1.0, 0.0]]))
    assert text_only(encoder)(pictures, ["x"]) == pytest.approx(np.array([[0.0, 1.0]]))


def test_cli_evaluate_prints_the_contract_fields(loaded_engine, tmp_path, capsys):
    path = write_queries(
        tmp_path,
        [
            {"text": "Acme Women Blue Dresses", "relevant_ids": [1007], "kind": "text"},
            {"ref_id": 1012, "relevant_ids": list(range(1012, 1018)), "kind": "image"},
        ],
    )
    assert main(["evaluate", "--queries", str(path), "--k", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for field in ("n", "recall@1", "recall@5", "recall@10", "recall@50", "precision@10", "mrr", "ndcg@10", "by_kind"):
        assert field in out
    assert out["n"] == 2 and out["by_kind"]["text"]["n"] == 1 and out["by_kind"]["text"]["recall@1"] == 1.0
    assert main(["evaluate", "--queries", str(tmp_path / "nope.jsonl")]) == 1
    assert main(["evaluate", "--queries", str(path), "--k", "0"]) == 1


def test_uploaded_query_files_keep_a_safe_form_of_their_name():
    from core.evaluation import query_file_name

    assert query_file_name("bad.jsonl") == "bad.jsonl"
    assert query_file_name("../../etc/my queries.jsonl") == "my_queries.jsonl"
    assert query_file_name("..jsonl") == "queries.jsonl"  # nothing left of the name but its ending
    assert query_file_name("notes.txt") == "queries.jsonl"
    assert len(query_file_name("q" * 300 + ".jsonl")) == 100 and query_file_name("q" * 300 + ".jsonl").endswith(
        ".jsonl"
    )

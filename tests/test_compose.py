"""Composed search (reference + feedback) through the engine and the CLI, on the synthetic catalog."""

import json

import pytest

from core.__main__ import main
from core.engine import QueryError
from core.errors import ModelUnavailable
from tests.conftest import draw_product

# write_catalog ids: 1000-1005 Men Tshirts, 1006-1011 Women Dresses, 1012-1017 Men Jeans, 1018-1023 Women Heels
RED_TSHIRT, RED_DRESS = 1000, 1006


def test_feedback_keeps_the_type_and_gender_of_the_reference_and_never_returns_it(loaded_engine):
    result = loaded_engine.search_composed("in blue", ref_id=RED_TSHIRT, k=10)
    assert result.hits and all(h.product.id != RED_TSHIRT for h in result.hits)
    assert {h.product.article_type for h in result.hits} == {"Tshirts"}
    assert {h.product.gender for h in result.hits} <= {"Men", "Unisex"}
    assert result.feedback.colour_group == "Blue"
    assert result.hits[0].product.colour_group == "Blue"
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))


def test_gender_and_type_in_the_text_are_honoured(loaded_engine):
    result = loaded_engine.search_composed("the women's version, as a dress", ref_id=RED_TSHIRT, k=10)
    assert {h.product.gender for h in result.hits} <= {"Women", "Unisex"}
    assert {h.product.article_type for h in result.hits} == {"Dresses"}
    assert result.hits[0].product.id == RED_DRESS  # same colour kept


def test_an_uploaded_reference_works_without_catalog_constraints(loaded_engine):
    result = loaded_engine.search_composed("for women", image=draw_product("shoe", (235, 200, 40)), k=5)
    assert len(result.hits) == 5 and {h.product.gender for h in result.hits} <= {"Women", "Unisex"}


@pytest.mark.parametrize(
    "text, note",
    [
        ("", "No feedback given"),
        ("   ", "No feedback given"),
        ("plus sombre por favor", "No change StyleLens knows"),
        ("slim fit", "does not record fit"),
        ("ligher", "“ligher” as “lighter”"),
        ("lighter " * 2000, "only the first 500"),
    ],
)
def test_odd_feedback_still_gives_results_with_a_note(loaded_engine, text, note):
    result = loaded_engine.search_composed(text, ref_id=RED_TSHIRT, k=5)
    assert result.hits
    assert any(note in n for n in result.notes), result.notes


def test_a_missing_reference_is_a_clear_error(loaded_engine):
    with pytest.raises(QueryError, match="no product with id 999999"):
        loaded_engine.search_composed("in red", ref_id=999999)
    with pytest.raises(QueryError, match="either a reference photo or a catalog product"):
        loaded_engine.search_composed("in red")


def test_baselines_run_through_the_same_search(loaded_engine):
    for method in ("image", "text", "sum"):
        assert loaded_engine.search_composed("in blue", ref_id=RED_TSHIRT, k=3, method=method).hits
    assert loaded_engine.best_method() == "sum"  # the learned composer needs the StyleLens encoder
    with pytest.raises(ModelUnavailable, match="needs the StyleLens encoder"):
        loaded_engine.search_composed("in blue", ref_id=RED_TSHIRT, method="composer")


def test_cli_compose_and_evaluate_with_a_method(loaded_engine, tmp_path, capsys):
    assert main(["compose", "--ref-id", str(RED_TSHIRT), "--text", "in green", "--k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "sum" and len(out["hits"]) == 3 and out["understood"]["colour_group"] == "Green"
    assert main(["compose", "--ref-id", "999999", "--text", "in green"]) == 1
    queries = tmp_path / "feedback.jsonl"
    queries.write_text(
        json.dumps({"ref_id": RED_TSHIRT, "text": "in green", "relevant_ids": [1002], "kind": "colour"}) + "\n"
    )
    for method in ("image", "text", "sum"):
        assert main(["evaluate", "--queries", str(queries), "--method", method, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["method"] == method and report["n"] == 1
    queries.write_text(
        json.dumps({"ref_id": RED_TSHIRT, "text": "for women, a dress", "relevant_ids": [1006], "kind": "gender"})
        + "\n"
    )
    assert main(["evaluate", "--queries", str(queries), "--method", "image", "--json"]) == 0
    free = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--queries", str(queries), "--method", "image", "--constraints", "--json"]) == 0
    constrained = json.loads(capsys.readouterr().out)
    assert constrained["constraints"] and constrained["recall@1"] == 1.0  # only women's items remain, red first
    assert free["recall@1"] == 0.0  # the image alone finds other men's t-shirts

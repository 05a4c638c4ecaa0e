"""Re-ranking: query/candidate features, the pairwise loss, the learned correction and its checkpoint."""

import numpy as np
import pytest
import torch

from core.attributes import resolve_wish
from core.errors import ModelUnavailable
from core.feedback import parse_feedback
from core.garment_features import GarmentFeatures
from core.rerank import FEATURE_NAMES, Query, Reranker, load_reranker, pair_features, pairwise_loss, save_reranker

NAVY_LAB = np.array([20.0, 10.0, -40.0], dtype=np.float32)


def garment(rgb=(30, 40, 110), lightness=0.3, sleeves="short", pattern=0.05) -> GarmentFeatures:
    return GarmentFeatures(((rgb, 0.9),), lightness, (0.1, 0.1, 0.9, 0.9), 1.0, 0.7, sleeves, pattern)


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_sleeve_words_are_read():
    assert [
        parse_feedback(t).sleeves
        for t in ("with long sleeves", "sleeveless please", "3/4 sleeves", "short-sleeve", "in navy")
    ] == ["long", "none", "elbow", "short", None]


def test_features_say_what_the_feedback_asked_and_how_the_candidate_answers():
    query = Query(
        parse_feedback("in navy, lighter, with long sleeves"),
        garment((200, 30, 30), 0.4, "short"),
        resolve_wish("long", None, "Tshirts"),
    )
    prototypes = {"Blue": NAVY_LAB}  # "navy" reads as the Blue colour group
    navy_long = pair_features(query, garment((25, 35, 90), 0.5, "long"), 0.8, 0.9, 3, 100, prototypes)
    red_short = pair_features(query, garment((200, 30, 30), 0.3, "short"), 0.85, 0.9, 1, 100, prototypes)
    assert navy_long[column("colour_asked")] == 1.0
    assert navy_long[column("colour_match")] > red_short[column("colour_match")]
    assert navy_long[column("lightness_step")] > 0 > red_short[column("lightness_step")]  # lighter asked
    assert navy_long[column("sleeves_match")] == 1.0 and red_short[column("sleeves_match")] < 0.5
    assert red_short[column("reference_colour_match")] == pytest.approx(1.0)
    assert navy_long[column("rank")] == pytest.approx(0.03) and navy_long[column("score_gap")] == pytest.approx(-0.1)
    unknown = pair_features(query, None, 0.7, 0.9, 5, 100, prototypes)
    assert unknown[column("colour_asked")] == 0.0 and unknown[column("score")] == pytest.approx(0.7)


def test_a_photo_query_tells_the_re_ranker_how_likely_each_candidate_kind_is():
    photo = Query(None, garment((200, 30, 30), 0.4, "none"), type_prior={"Dresses": 0.7, "Jeans": 0.2})
    dress = pair_features(photo, garment((200, 30, 30), 0.4, None), 0.6, 0.7, 2, 100, {}, "Dresses")
    jeans = pair_features(photo, garment((200, 30, 30), 0.4, None), 0.65, 0.7, 1, 100, {}, "Jeans")
    heels = pair_features(photo, None, 0.66, 0.7, 0, 100, {}, "Heels")  # features unknown, kind still read
    assert dress[column("type_read")] == jeans[column("type_read")] == heels[column("type_read")] == 1.0
    assert (
        dress[column("type_probability")],
        jeans[column("type_probability")],
        heels[column("type_probability")],
    ) == pytest.approx((0.7, 0.2, 0.0))
    text = pair_features(
        Query(parse_feedback("in red")), garment((200, 30, 30), 0.4, None), 0.6, 0.7, 2, 100, {}, "Dresses"
    )
    assert text[column("type_read")] == text[column("type_probability")] == 0.0


def test_pairwise_loss_prefers_relevant_above_irrelevant_and_ignores_padding():
    relevant = torch.tensor([[1.0, 0.0, 0.0]])
    good = pairwise_loss(torch.tensor([[2.0, 0.0, -1.0]]), relevant)
    bad = pairwise_loss(torch.tensor([[-1.0, 0.0, 2.0]]), relevant)
    assert good < bad
    expected = (torch.nn.functional.softplus(torch.tensor(-2.0)) + torch.nn.functional.softplus(torch.tensor(-3.0))) / 2
    assert good == pytest.approx(float(expected))
    masked = pairwise_loss(torch.tensor([[2.0, 0.0, 9.0]]), relevant, torch.tensor([[1, 1, 0]]))
    assert masked == pytest.approx(float(torch.nn.functional.softplus(torch.tensor(-2.0))))


def test_an_untrained_reranker_keeps_the_first_stage_order_and_training_fixes_a_bad_one():
    torch.manual_seed(0)
    model = Reranker()
    rows = torch.zeros(8, 10, len(FEATURE_NAMES))
    rows[..., 0] = torch.linspace(1.0, 0.5, 10)  # first-stage scores, falling
    rows[:, 7, column("colour_match")] = 1.0  # the relevant candidate is 8th, but the colour matches
    rows[..., column("colour_asked")] = 1.0
    relevant = torch.zeros(8, 10)
    relevant[:, 7] = 1
    assert torch.equal(model(rows), rows[..., 0])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        loss = pairwise_loss(model(rows), relevant)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert int(model(rows)[0].argmax()) == 7


def test_reranker_checkpoints_describe_themselves(tmp_path):
    save_reranker(tmp_path / "r.pt", Reranker(hidden=8), {"Navy Blue": NAVY_LAB}, {"data": "toy"})
    model, prototypes, record = load_reranker(tmp_path / "r.pt")
    assert model.net[0].out_features == 8 and np.allclose(prototypes["Navy Blue"], NAVY_LAB)
    assert record == {"data": "toy"}
    with pytest.raises(ModelUnavailable, match="missing"):
        load_reranker(tmp_path / "none.pt")


def test_engine_reranks_on_request_with_chips_and_says_when_it_cannot(loaded_engine, tmp_path, monkeypatch):
    import core.rerank

    plain = loaded_engine.search_text("red t-shirt", k=5)
    assert not plain.reranked and "rerank" not in plain.timings_ms
    monkeypatch.setattr(core.rerank, "BUNDLED_RERANKER", tmp_path / "missing.pt")
    missing = loaded_engine.search_text("red t-shirt", k=5, rerank=True)
    assert [h.product.id for h in missing.hits] == [h.product.id for h in plain.hits]
    assert any("Re-ranking is unavailable" in n for n in missing.notes)

    save_reranker(tmp_path / "r.pt", Reranker(), {"Red": np.array([50.0, 70.0, 50.0], dtype=np.float32)}, {})
    monkeypatch.setattr(core.rerank, "BUNDLED_RERANKER", tmp_path / "r.pt")
    loaded_engine._reranker = None
    reranked = loaded_engine.search_text("red t-shirt", k=5, rerank=True)
    assert reranked.reranked and "rerank" in reranked.timings_ms and len(reranked.hits) == 5
    assert [h.product.id for h in reranked.hits] == [h.product.id for h in plain.hits]  # untrained: same order
    top = reranked.hits[0].product
    assert top.colour_group == "Red" and [c.label for c in reranked.chips[top.id]] == ["red"]
    assert reranked.chips[top.id][0].ok
    assert reranked.to_json()["hits"][0]["chips"] == [{"label": "red", "ok": True}]
    composed = loaded_engine.search_composed("in blue", ref_id=top.id, k=3, rerank=True)
    assert composed.reranked and top.id not in [h.product.id for h in composed.hits]


def test_cli_search_compose_and_evaluate_take_rerank_on_off(loaded_engine, tmp_path, monkeypatch, capsys):
    import json

    import core.rerank
    from core.__main__ import main

    save_reranker(tmp_path / "r.pt", Reranker(), {"Red": np.array([50.0, 70.0, 50.0], dtype=np.float32)}, {})
    monkeypatch.setattr(core.rerank, "BUNDLED_RERANKER", tmp_path / "r.pt")
    assert main(["search", "--text", "red t-shirt", "--k", "3", "--rerank", "on", "--json"]) == 0
    searched = json.loads(capsys.readouterr().out)
    assert searched["reranked"] and "chips" in searched["hits"][0]
    ref = searched["hits"][0]["id"]
    assert main(["compose", "--ref-id", str(ref), "--text", "in blue", "--rerank", "off", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reranked"] is False
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"ref_id": ref, "text": "in blue", "relevant_ids": [ref + 1]}) + "\n")
    for flag in ("on", "off"):
        assert main(["evaluate", "--queries", str(queries), "--rerank", flag, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["rerank"] is (flag == "on")


def test_a_re_ranked_result_carries_its_first_stage_and_an_explanation_per_hit_from_one_search(
    loaded_engine, tmp_path, monkeypatch
):
    """Pages draw before / after and the cards' chips from the result: the query runs once, and evaluation
    orders candidates with the same `rank` as the searches."""
    import core.rerank
    from core.index import SearchFilter

    save_reranker(tmp_path / "r.pt", Reranker(), {"Blue": np.array([40.0, 20.0, -60.0], dtype=np.float32)}, {})
    monkeypatch.setattr(core.rerank, "BUNDLED_RERANKER", tmp_path / "r.pt")
    loaded_engine._reranker = None
    reference = loaded_engine.browse(text="Red Tshirts")[0]
    plain = loaded_engine.search_composed("in blue", ref_id=reference.id, k=5)
    index = loaded_engine.index()
    searches = []
    search = index.search
    monkeypatch.setattr(index, "search", lambda *a, **kw: searches.append(a) or search(*a, **kw))
    result = loaded_engine.search_composed("in blue", ref_id=reference.id, k=5, rerank=True)
    assert len(searches) == 1 and result.reranked  # one first stage, not one more for the before / after view
    assert [h.product.id for h in result.first_stage] == [h.product.id for h in plain.hits]
    assert reference.id not in result.first_ranks and len(result.first_ranks) == 5  # its men's T-shirts
    assert all(result.first_ranks[h.product.id] >= 1 for h in result.hits)
    stored = loaded_engine.stored_features([h.product.id for h in result.hits])
    for hit in result.hits:
        why = result.explanations[hit.product.id]
        assert why.features == stored[hit.product.id] and why.lightness == stored[hit.product.id].lightness
        assert why.swatch == tuple(stored[hit.product.id].colours[0][0])
        labels = [c.label for c in why.chips]
        assert labels == [hit.product.colour_group]  # "in blue": the catalog's colour label, met or not
        assert all(c.label.lower() not in {x.lower() for x in labels} for c in why.photo_chips)
    assert result.explanations[result.hits[0].product.id].chips[0].ok == (result.hits[0].product.colour_group == "Blue")

    ranking = loaded_engine.rank(
        loaded_engine.encoder.embed_texts(["blue t-shirt"])[0],
        5,
        SearchFilter(),
        lambda: loaded_engine.rerank_query("blue t-shirt"),
    )
    assert ranking.reranked and len(ranking.final) == 5 and len(ranking.first_stage) == len(index)


def test_a_candidate_deleted_since_the_index_was_built_is_left_out_before_re_ranking(loaded_engine, monkeypatch):
    """Ranks stay 1..k without gaps and the before / after view never names a product that is gone."""
    plain = loaded_engine.search_text("red t-shirt", k=5)
    gone = plain.hits[0].product.id
    get = loaded_engine.catalog.get
    monkeypatch.setattr(
        loaded_engine.catalog, "get", lambda ids: [None if i == gone else p for i, p in zip(ids, get(ids))]
    )
    result = loaded_engine.search_text("red t-shirt", k=5, rerank=True)
    assert result.reranked and len(result.hits) == 5 and gone not in {h.product.id for h in result.hits}
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5] and [h.rank for h in result.first_stage] == [1, 2, 3, 4, 5]
    assert gone not in result.first_ranks and sorted(result.first_ranks.values()) == list(
        range(1, len(result.first_ranks) + 1)
    )
    assert [h.product.id for h in result.first_stage] == [h.product.id for h in plain.hits[1:]] + [
        result.first_stage[-1].product.id
    ]

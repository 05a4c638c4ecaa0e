"""Feedback triplets made from catalog attributes: relevance follows the request, no held-out leakage."""

import numpy as np
import pytest

from core.feedback import parse_feedback
from training.triplets import Item, TripletMaker, pattern_of

COLOURS = [("Red", 0.45), ("Blue", 0.3), ("White", 0.9), ("Black", 0.08), ("Pink", 0.7)]


def catalog() -> list[Item]:
    items, next_id = [], 1
    for gender in ("Men", "Women"):
        for kind, family in (("Tshirts", "topwear"), ("Shirts", "topwear"), ("Jeans", "bottomwear")):
            for colour, light in COLOURS:
                for pattern in ("solid", "striped"):
                    items.append(
                        Item(next_id, gender, kind, family, colour, "Casual", pattern, light, held_out=next_id % 5 == 0)
                    )
                    next_id += 1
    return items


@pytest.fixture
def maker():
    items = catalog()
    rng = np.random.default_rng(0)
    vectors = {i.id: v / np.linalg.norm(v) for i, v in zip(items, rng.normal(size=(len(items), 8)))}
    return TripletMaker(items, vectors, seed=1), items


def test_every_relevant_product_fulfils_the_request_and_keeps_the_rest(maker):
    maker, items = maker
    by_id = {i.id: i for i in items}
    seen = set()
    for ref in items:
        for _ in range(5):
            triplet = maker.triplet(ref)
            if triplet is None:
                continue
            seen.update(triplet.intents)
            assert ref.id not in triplet.relevant_ids and triplet.target_id in triplet.relevant_ids
            for product in (by_id[i] for i in triplet.relevant_ids):
                if "type" not in triplet.intents:
                    assert product.article_type == ref.article_type
                if "gender" in triplet.intents:
                    assert product.gender != ref.gender
                else:
                    assert product.gender == ref.gender
                if "colour" not in triplet.intents and "lightness" not in triplet.intents:
                    assert product.colour_group == ref.colour_group
            text = parse_feedback(triplet.text)
            if "gender" in triplet.intents and not text.corrections:
                assert text.gender == by_id[triplet.target_id].gender
    assert {"colour", "lightness", "gender", "type", "pattern"} <= seen


def test_lightness_requests_point_the_right_way(maker):
    maker, items = maker
    by_id = {i.id: i for i in items}
    for ref in items:
        triplet = maker.triplet(ref)
        if triplet and triplet.intents == ("lightness",):
            direction = 1 if "light" in triplet.text or "paler" in triplet.text or "less dark" in triplet.text else -1
            for product in (by_id[i] for i in triplet.relevant_ids):
                assert (product.lightness - ref.lightness) * direction > 0


def test_training_triplets_never_touch_held_out_products(maker):
    maker, items = maker
    training = np.array([not i.held_out for i in items])
    for ref in (i for i in items if not i.held_out):
        triplet = maker.triplet(ref, candidates=training)
        if triplet:
            assert all(not i % 5 == 0 for i in triplet.relevant_ids)  # held_out: id % 5 == 0
            assert triplet.ref_id % 5 != 0


def test_queries_follow_the_evaluation_format(maker):
    maker, items = maker
    query = next(t for t in (maker.triplet(i) for i in items) if t).to_query()
    assert {"ref_id", "text", "relevant_ids", "kind"} <= set(query)


def test_pattern_words_come_from_product_names():
    assert pattern_of("Nike Men Striped Polo Tshirt") == "striped"
    assert pattern_of("Roadster Men Check Shirt") == "checked"
    assert pattern_of("Puma Men Black Shoes") is None


def test_sleeve_and_length_requests_are_read_against_the_reference():
    from core.attributes import SLEEVES

    items, next_id = [], 1
    for sleeves in SLEEVES:
        for colour, light in COLOURS:
            items.append(
                Item(
                    next_id,
                    "Women",
                    "Tops",
                    "topwear",
                    colour,
                    "Casual",
                    "solid",
                    light,
                    held_out=False,
                    sleeves=sleeves,
                    length="regular",
                )
            )
            next_id += 1
    for length in ("mini", "knee", "midi", "maxi"):
        for colour, light in COLOURS:
            items.append(
                Item(
                    next_id,
                    "Women",
                    "Dresses",
                    "dress",
                    colour,
                    "Casual",
                    "solid",
                    light,
                    held_out=False,
                    sleeves="short",
                    length=length,
                )
            )
            next_id += 1
    maker = TripletMaker(items, {}, seed=3)
    maker._typo = lambda text: text  # typos are tested elsewhere; here every request must be readable
    by_id = {i.id: i for i in items}
    seen = set()
    for ref in items:
        for _ in range(12):
            triplet = maker.triplet(ref)
            if triplet is None or not {"sleeves", "length"} & set(triplet.intents):
                continue
            text = parse_feedback(triplet.text)
            for product in (by_id[i] for i in triplet.relevant_ids):
                if "sleeves" in triplet.intents:
                    seen.add(f"sleeves:{text.sleeves}")
                    assert text.sleeves in ("longer", "shorter", "none")
                    at, ref_at = SLEEVES.index(product.sleeves), SLEEVES.index(ref.sleeves)
                    assert {"longer": at > ref_at, "shorter": at < ref_at, "none": at == 0}[text.sleeves]
                if "length" in triplet.intents and product.article_type == "Dresses":
                    seen.add(f"length:{text.length}")
                    scale = ("mini", "knee", "midi", "maxi")
                    at, ref_at = scale.index(product.length), scale.index(ref.length)
                    assert (at > ref_at) if text.length == "longer" else (at < ref_at)
    assert {"sleeves:longer", "sleeves:shorter", "sleeves:none", "length:longer", "length:shorter"} <= seen

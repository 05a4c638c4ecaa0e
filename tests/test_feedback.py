"""Reading feedback text: intents, casual wording, typos, and what the catalog cannot see."""

import pytest

from core.feedback import parse_feedback


@pytest.mark.parametrize(
    "text, expected",
    [
        ("same but in navy", {"colour_group": "Blue"}),
        ("lighter color", {"lightness": 1}),
        ("a bit darker pls", {"lightness": -1}),
        ("the women's version", {"gender": "Women"}),
        ("for him", {"gender": "Men"}),
        ("as a shirt instead", {"article_type": "Shirts"}),
        ("make it a t-shirt in red", {"article_type": "Tshirts", "colour_group": "Red"}),
        ("flip flops for the gym", {"article_type": "Flip Flops", "usage": "Sports"}),
        ("striped, for winter", {"pattern": "striped", "season": "Winter"}),
        ("lighter and for women", {"lightness": 1, "gender": "Women"}),
    ],
)
def test_intents_are_read(text, expected):
    feedback = parse_feedback(text)
    for name, value in expected.items():
        assert getattr(feedback, name) == value, name
    assert feedback.understood


def test_typos_are_read_as_the_closest_word():
    feedback = parse_feedback("ligher and for womens")
    assert feedback.lightness == 1 and feedback.gender == "Women"
    assert ("ligher", "lighter") in feedback.corrections


def test_what_the_catalog_cannot_see_is_reported_not_invented():
    feedback = parse_feedback("slim fit, with pockets")
    assert not feedback.understood
    assert set(feedback.unseen) == {"fit", "pockets"}
    sleeves = parse_feedback("longer sleeves, slim fit")  # sleeves are recorded now; fit still is not
    assert sleeves.understood and sleeves.sleeves == "longer" and sleeves.unseen == ("fit",)


@pytest.mark.parametrize("text", ["plus sombre por favor", "asdf qwer zxcv", "", "!!!"])
def test_nonsense_and_other_languages_understand_nothing(text):
    feedback = parse_feedback(text)
    assert not feedback.understood and feedback.describe() == ""


# ---- colour chips: the catalog's label decides where the product has one ------------------------------
def _shirt(base_colour: str, colour_group: str = ""):
    from core.catalog import Product

    return Product(1, "Doodle Boy Red Tshirt", "Men", "Apparel", "Topwear", "Tshirts", base_colour, colour_group)


def test_photo_colour_reading_gives_way_to_the_catalog_label():
    from core.engine.results import explain_hit
    from core.feedback import Chip

    read = [Chip("red", False), Chip("printed", True)]  # the photo reading says "not red"
    why = explain_hit(_shirt("Red", "Red"), None, read)
    assert why.chips == [Chip("Red", True)]
    assert why.photo_chips == [Chip("printed", True)]
    pink = explain_hit(_shirt("Pink", "Pink"), None, [Chip("red", True)])
    assert pink.chips == [Chip("Pink", False)] and pink.photo_chips == []


def test_colour_group_from_the_base_colour_and_photo_reading_without_a_label():
    from core.engine.results import explain_hit
    from core.feedback import Chip, catalog_colour

    assert catalog_colour(_shirt("Navy Blue")) == "Blue"
    assert catalog_colour(_shirt("")) == ""
    unlabelled = explain_hit(_shirt(""), None, [Chip("red", False)])
    assert unlabelled.chips == [] and unlabelled.photo_chips == [Chip("red", False)]


def test_feedback_colour_is_judged_by_the_base_colour_when_there_is_no_colour_group():
    from core.engine.results import explain_hit
    from core.feedback import Chip

    why = explain_hit(_shirt("Navy Blue"), None, [Chip("blue", False)], parse_feedback("in blue"))
    assert why.chips == [Chip("Blue", True)] and why.photo_chips == []


def test_a_word_is_not_corrected_into_one_with_another_first_letter():
    feedback = parse_feedback("<script>alert(1)</script>")
    assert feedback.corrections == () and not feedback.lightness
    assert ("ligther", "lighter") in parse_feedback("ligther").corrections

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

"""Garment features on constructed pictures: colours, lightness, silhouette, sleeves, pattern."""

from PIL import Image, ImageDraw

from core.garment_features import GarmentFeatures, extract, sleeves_on_model
from core.look.pose import Landmark

SKIN = (224, 172, 140)


def top(sleeve_reach: float, colour=(200, 30, 30), size: int = 192) -> Image.Image:
    """A top on white: a body 40% of the width, and sleeves from the shoulders, hanging a little apart
    from the body, down to `sleeve_reach` of the garment's height (0: sleeveless)."""
    photo = Image.new("RGB", (size, size), "white")
    pen = ImageDraw.Draw(photo)
    s = size / 100
    pen.rectangle([30 * s, 10 * s, 70 * s, 90 * s], fill=colour)
    if sleeve_reach:
        bottom = (10 + 80 * sleeve_reach) * s
        pen.rectangle([12 * s, 10 * s, 88 * s, 24 * s], fill=colour)  # shoulders
        pen.rectangle([12 * s, 10 * s, 26 * s, bottom], fill=colour)
        pen.rectangle([74 * s, 10 * s, 88 * s, bottom], fill=colour)
    return photo


def test_a_red_square_is_red_and_a_two_colour_garment_has_both_in_proportion():
    red = extract(top(0.3))
    (rgb, share), *_ = red.colours
    assert rgb[0] > 170 and rgb[1] < 60 and rgb[2] < 60 and share > 0.85
    half = Image.new("RGB", (100, 100), "white")
    ImageDraw.Draw(half).rectangle([10, 10, 89, 49], fill=(20, 40, 160))
    ImageDraw.Draw(half).rectangle([10, 50, 89, 89], fill=(240, 220, 30))
    colours = extract(half).colours
    blue = next(share for rgb, share in colours if rgb[2] > 120 and rgb[0] < 80)
    yellow = next(share for rgb, share in colours if rgb[0] > 200 and rgb[1] > 180 and rgb[2] < 100)
    assert abs(blue - 0.5) < 0.06 and abs(yellow - 0.5) < 0.06


def test_lightness_orders_navy_below_sky_blue():
    assert extract(top(0.3, (20, 30, 90))).lightness < 0.3 < 0.6 < extract(top(0.3, (150, 200, 240))).lightness


def test_sleeve_length_from_the_silhouette():
    assert extract(top(0)).sleeves == "none"
    assert extract(top(0.3)).sleeves == "short"
    assert extract(top(0.55)).sleeves == "elbow"
    assert extract(top(0.9)).sleeves == "long"


def test_silhouette_box_and_aspect():
    features = extract(top(0.3))
    x1, y1, x2, y2 = features.box
    assert abs(x1 - 0.12) < 0.03 and abs(x2 - 0.88) < 0.03 and abs(y1 - 0.1) < 0.03 and abs(y2 - 0.9) < 0.03
    assert abs(features.aspect - 0.76 / 0.8) < 0.06 and 0.5 < features.fill < 0.8


def test_stripes_score_higher_than_plain():
    striped = top(0.3)
    pen = ImageDraw.Draw(striped)
    for y in range(20, 170, 12):
        pen.rectangle([60, y, 132, y + 5], fill=(20, 20, 20))
    assert extract(striped).pattern > 0.2 > extract(top(0.3)).pattern


def arms(skin_from: float) -> tuple[Image.Image, list[Landmark]]:
    """A person in a dark top whose arms (shoulder 0.3 -> elbow 0.5 -> wrist 0.7, down the photo) show
    skin from `skin_from` of the way down the arm."""
    photo = Image.new("RGB", (200, 200), (40, 40, 60))
    pen = ImageDraw.Draw(photo)
    for x in (50, 150):
        start = 60 + 80 * skin_from
        if skin_from < 1:
            pen.rectangle([x - 8, start, x + 8, 142], fill=SKIN)
    points = [Landmark(0.5, 0.5, 0.0)] * 33
    for shoulder, elbow, wrist, x in ((11, 13, 15, 0.75), (12, 14, 16, 0.25)):
        points[shoulder], points[elbow], points[wrist] = (
            Landmark(x, 0.3, 0.9),
            Landmark(x, 0.5, 0.9),
            Landmark(x, 0.7, 0.9),
        )
    return photo, points


def test_sleeve_length_on_a_person_from_where_skin_begins():
    import numpy as np

    def read(skin_from):
        photo, points = arms(skin_from)
        return sleeves_on_model(np.asarray(photo, dtype=np.float32) / 255, points)

    assert [read(f) for f in (0.0, 0.25, 0.6, 1.0)] == ["none", "short", "elbow", "long"]
    photo, points = arms(0.25)
    hidden = [Landmark(p.x, p.y, 0.1) for p in points]
    assert sleeves_on_model(np.asarray(photo, dtype=np.float32) / 255, hidden) is None


def test_features_survive_a_round_trip_through_a_document():
    features = extract(top(0.9))
    assert GarmentFeatures.from_doc(features.to_doc()) == features


def test_one_lightness_reads_the_garment_not_the_white_background_and_matches_stored_features():
    from PIL import Image

    from core.garment_features import extract, lightness

    navy = Image.new("RGB", (120, 160), "white")
    navy.paste((20, 30, 90), (30, 20, 90, 140))  # a navy garment on studio white
    sky = Image.new("RGB", (120, 160), "white")
    sky.paste((150, 190, 235), (30, 20, 90, 140))
    assert 0.1 < lightness(navy) < 0.3 < 0.7 < lightness(sky) < 0.85  # L* of the garment, the white left out
    assert lightness(navy) == extract(navy).lightness and lightness(sky) == extract(sky).lightness

"""Shop the look on a constructed outfit photo with stand-in models: class -> category mapping, one box per
class, filtered per-garment retrieval, notes, the packshot shortcut and the JSON contract."""

from pathlib import Path

import pytest
from PIL import Image

from core.errors import ModelUnavailable
from core.look.gender import GenderGuess
from core.look.pose import PoseVerdict
from core.look.shop import CATALOG_CATEGORIES, Detection, best_per_class, padded, shop_the_look
from tests.conftest import draw_product


class Pose:
    def __init__(self, verdict):
        self.result = verdict

    def verdict(self, image):
        return self.result


class Gender:
    def guess(self, image, face=None, person=None):
        return GenderGuess("Men", 0.87, "face and clothes")


FULL = PoseVerdict(True, True, ())
HALF = PoseVerdict(False, True, ("feet not visible",))
NOBODY = PoseVerdict(False, False, ("no person found",), people=0)


def outfit() -> tuple[Image.Image, list[Detection]]:
    photo = Image.new("RGB", (200, 400), "white")
    photo.paste(draw_product("tshirt", (200, 30, 30), size=180), (10, 10))
    photo.paste(draw_product("trousers", (30, 60, 200), size=180), (10, 200))
    return photo, [
        Detection("topwear", (10, 10, 190, 190), 0.9),
        Detection("topwear", (0, 0, 100, 100), 0.3),
        Detection("bottomwear", (10, 200, 190, 380), 0.8),
    ]


def test_each_detector_class_maps_to_catalog_categories():
    assert set(CATALOG_CATEGORIES) == {"topwear", "bottomwear", "footwear", "fullbody"}
    assert "Dress" in CATALOG_CATEGORIES["fullbody"] and "Shoes" in CATALOG_CATEGORIES["footwear"]


def test_one_detection_per_class_and_padded_crops():
    _, found = outfit()
    best = best_per_class(found)
    assert [(d.label, d.score) for d in best] == [("topwear", 0.9), ("bottomwear", 0.8)]
    assert padded((10, 10, 110, 210), (120, 215)) == (4, 0, 116, 215)


def test_every_garment_gets_products_of_its_kind_and_gender(loaded_engine):
    photo, found = outfit()
    result = shop_the_look(loaded_engine, photo, lambda image: found, Pose(FULL), Gender(), k=4)
    assert [g.detection.label for g in result.garments] == ["topwear", "bottomwear"]
    top, bottom = result.garments
    assert {h.product.sub_category for h in top.hits} == {"Topwear"}
    assert {h.product.sub_category for h in bottom.hits} == {"Bottomwear"}
    assert all(h.product.gender in ("Men", "Unisex") for g in result.garments for h in g.hits)
    assert top.hits[0].product.colour_group == "Red" and bottom.hits[0].product.colour_group == "Blue"
    data = result.to_json()
    assert data["full_shot"] and data["front_facing"] and data["reasons"] == []
    assert data["gender"] == "Men" and data["gender_confidence"] == 0.87 and data["gender_unsure"] is False
    assert data["garments"][0]["label"] == "topwear" and data["garments"][0]["box"] == [10, 10, 190, 190]
    assert {"score", "hits"} <= set(data["garments"][0]) and set(data["timings_ms"]) == {
        "pose",
        "gender",
        "detect",
        "search",
    }


def test_the_user_can_override_the_gender(loaded_engine):
    photo = draw_product("dress", (200, 30, 30), size=300)
    dress = [Detection("fullbody", (0, 0, 300, 300), 0.7)]
    result = shop_the_look(loaded_engine, photo, lambda image: dress, Pose(FULL), Gender(), k=3, gender="Women")
    assert result.gender == "Women" and result.gender_score == 1.0 and result.gender_source == "you"
    assert {h.product.article_type for h in result.garments[0].hits} == {"Dresses"}
    assert not result.gender_unsure


def test_a_hesitant_gender_guess_is_said_to_be_unsure_but_still_used(loaded_engine):
    from core.look.gender import UNSURE_BELOW

    class Hesitant:
        def guess(self, image, face=None, person=None):
            return GenderGuess("Men", UNSURE_BELOW - 0.07, "face and clothes")

    photo, found = outfit()
    result = shop_the_look(loaded_engine, photo, lambda image: found, Pose(FULL), Hesitant(), k=3)
    assert result.gender_unsure and result.to_json()["gender_unsure"] is True
    assert all(h.product.gender in ("Men", "Unisex") for g in result.garments for h in g.hits)
    packshot = shop_the_look(loaded_engine, photo, lambda image: [], Pose(NOBODY), Hesitant(), k=3)
    assert not packshot.gender_unsure  # no person: nothing is limited by gender, nothing to be unsure of


def test_a_half_shot_still_gets_its_visible_garments_with_a_note(loaded_engine):
    photo, found = outfit()
    result = shop_the_look(loaded_engine, photo, lambda image: found[:1], Pose(HALF), Gender(), k=3)
    assert len(result.garments) == 1 and "Not a full-length shot (feet not visible)" in result.notes[0]


def test_a_packshot_goes_straight_to_similar_products(loaded_engine):
    shoe = draw_product("shoe", (235, 200, 40), size=300)
    result = shop_the_look(loaded_engine, shoe, lambda image: [], Pose(NOBODY), Gender(), k=5)
    assert len(result.garments) == 1 and result.garments[0].detection.label == "product"
    assert result.garments[0].hits[0].product.article_type == "Heels"
    assert "Showing products similar to the whole photo" in result.notes[0]


def test_cli_look_says_when_the_detector_is_not_trained_yet(settings, tmp_path, capsys, monkeypatch):
    import core.look.shop
    from core.__main__ import main

    monkeypatch.setattr(core.look.shop, "DETECTOR_WEIGHTS", tmp_path / "missing.pt")
    draw_product("dress", (0, 0, 0)).save(tmp_path / "photo.png")
    assert (
        main(["look", "--image", str(tmp_path / "photo.png"), "--json"]) == 4
    )  # a model unavailable (core.errors.EXIT_CODES)
    assert "garment detector" in capsys.readouterr().err


def test_importing_the_detector_library_leaves_image_errors_as_they_were():
    import io

    import PIL.Image
    import pytest

    from core.images import ImageError, load_image
    from core.look.shop import import_yolo

    import_yolo()
    with pytest.raises(PIL.UnidentifiedImageError):
        PIL.Image.open(io.BytesIO(b"hello, not an image"))
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"hello, not an image")


def test_with_several_people_garments_are_found_in_the_largest_persons_region(loaded_engine):
    photo, _ = outfit()
    crowd = PoseVerdict(True, True, ("2 people: using the largest",), people=2, region=(50, 0, 150, 400))
    seen = []

    def detect(image):
        seen.append(image.size)
        return [Detection("topwear", (5, 10, 60, 90), 0.9)]

    result = shop_the_look(loaded_engine, photo, detect, Pose(crowd), Gender(), k=2)
    assert seen == [(100, 400)] and result.garments[0].detection.box == (55, 10, 110, 90)  # x moved, y kept
    assert result.notes[0].startswith("2 people in the photo")


def test_a_tiny_photo_gets_a_warning_and_similar_products_of_the_whole_photo(loaded_engine):
    tiny = draw_product("shoe", (235, 200, 40), size=40)
    noisy = [Detection("bottomwear", (0, 0, 20, 20), 0.9)]  # what a detector makes of 40 upscaled pixels
    result = shop_the_look(loaded_engine, tiny, lambda image: noisy, Pose(NOBODY), Gender(), k=3)
    assert "only 40×40 pixels" in result.notes[0] and len(result.garments[0].hits) == 3
    assert result.garments[0].detection.label == "product"


def test_without_a_person_the_whole_photo_is_searched_and_the_detector_not_asked(loaded_engine):
    photo, _ = outfit()
    asked = []

    def detect(image):
        asked.append(image.size)
        return [Detection("topwear", (10, 10, 190, 190), 0.9)]

    result = shop_the_look(loaded_engine, photo, detect, Pose(NOBODY), Gender(), k=4)
    assert asked == [] and [g.detection.label for g in result.garments] == ["product"]
    assert result.garments[0].hits == loaded_engine.search_image(photo, 4).hits  # the Search page's answer
    assert result.gender is None and result.to_json()["gender"] is None  # the gender check is not run

    class NoGender:
        def guess(self, image, face=None, person=None):
            raise AssertionError("nobody's gender to check in a product photo")

    chosen = shop_the_look(loaded_engine, photo, detect, Pose(NOBODY), NoGender(), k=4, gender="Women")
    assert chosen.garments[0].hits == result.garments[0].hits  # a product photo is for anyone, as the page says


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    """An untrained YOLO with the four garment classes, built offline from ultralytics' model config."""
    import torch

    from core.look.shop import import_yolo

    import_yolo()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=4, verbose=False)
    model.names = dict(enumerate(["topwear", "bottomwear", "footwear", "fullbody"]))
    path = tmp_path_factory.mktemp("detector") / "tiny.pt"
    torch.save({"model": model.half(), "train_args": {"imgsz": 160}, "epoch": -1}, path)
    return path


def test_the_yolo_detector_gives_garment_boxes_inside_the_photo(tiny_detector, tmp_path):
    import torch

    from core.look.shop import GarmentDetector

    detector = GarmentDetector(tiny_detector, confidence=0.0)
    found = detector(Image.new("RGB", (300, 400), "white"))
    assert detector.image_size == 160 and found
    assert all(
        d.label in CATALOG_CATEGORIES and 0 <= d.box[0] <= d.box[2] <= 300 and 0 <= d.box[3] <= 400 for d in found
    )
    other = torch.load(tiny_detector, weights_only=False)
    other["model"].names = {i: str(i) for i in range(4)}
    torch.save(other, tmp_path / "coco.pt")
    with pytest.raises(ModelUnavailable, match="not a garment detector"):
        GarmentDetector(tmp_path / "coco.pt")


def test_the_detector_runs_with_or_without_test_time_augmentation_as_configured(tiny_detector):
    from core.look.shop import DETECTOR_TTA, GarmentDetector

    assert GarmentDetector(tiny_detector).augment == DETECTOR_TTA  # the served setting is the default
    asked = []
    for augment in (True, False):
        detector = GarmentDetector(tiny_detector, confidence=0.0, augment=augment)
        predict = detector.model.predict
        detector.model.predict = lambda *args, _predict=predict, **kwargs: (
            asked.append(kwargs["augment"]) or _predict(*args, **kwargs)
        )
        found = detector(Image.new("RGB", (320, 240), "gray"))
        assert found and all(0 <= d.box[0] <= d.box[2] <= 320 and 0 <= d.box[3] <= 240 for d in found)
    assert asked == [True, False]


def test_cli_look_prints_one_json_object_per_photo(
    settings, loaded_engine, tiny_detector, tmp_path, capsys, monkeypatch
):
    import json

    import core.look.gender
    import core.look.shop
    from core.__main__ import main

    monkeypatch.setattr(core.look.shop, "DETECTOR_WEIGHTS", tiny_detector)
    import torch

    from core.encoders import BUNDLED_ENCODER, load_encoder

    bundled = load_encoder(BUNDLED_ENCODER)
    core.look.gender.save_gender_model(
        tmp_path / "gender.pt", torch.nn.Linear(2 * bundled.dim, 2), {"encoder": bundled.model_key}
    )
    monkeypatch.setattr(core.look.gender, "BUNDLED_GENDER_MODEL", tmp_path / "gender.pt")
    folder = tmp_path / "photos"
    folder.mkdir()
    draw_product("shoe", (235, 200, 40), size=300).save(folder / "shoe.png")
    draw_product("tshirt", (200, 30, 30), size=1600).save(folder / "shirt.jpg")  # analysed at 1024 px
    assert main(["look", "--image", str(folder), "--k", "3", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(Path(line["image"]).name for line in lines) == ["shirt.jpg", "shoe.png"]
    boxes = {Path(line["image"]).name: line["garments"][0]["box"] for line in lines}
    assert boxes == {"shirt.jpg": [0, 0, 1600, 1600], "shoe.png": [0, 0, 300, 300]}  # pixels of each file
    for line in lines:
        assert {"full_shot", "front_facing", "reasons", "gender", "gender_confidence", "garments"} <= set(line)
        assert line["gender"] is None and line["gender_source"] == ""  # a packshot: for anyone, nobody checked
        assert line["blank"] is False and [g["label"] for g in line["garments"]] == ["product"]
        assert line["full_shot"] is False and "no person found" in line["reasons"]
        assert all({"label", "box", "score", "hits"} <= set(g) and len(g["hits"]) == 3 for g in line["garments"])


class ColouredSegmenter:
    """Stands in for the trained segmenter: the garment is whatever is not white (the drawn products)."""

    def masks(self, images):
        import numpy as np

        return [np.asarray(image.convert("RGB")).min(axis=2) < 200 for image in images]


def test_garments_are_segmented_boxed_by_their_masks_and_drawn(loaded_engine):
    import numpy as np

    from core.look.drawing import draw_masks
    from core.photo_query import PhotoReader

    loaded_engine.set_photo_reader(PhotoReader(loaded_engine.encoder, ColouredSegmenter()))
    photo, found = outfit()
    result = shop_the_look(loaded_engine, photo, lambda image: found, Pose(FULL), Gender(), k=3)
    top, bottom = result.garments
    assert top.mask is not None and top.mask.shape == (400, 200)  # placed back in the whole photo
    rgb = np.asarray(photo)
    red = (rgb[..., 0] > 150) & (rgb[..., 1] < 100)
    assert top.mask[red & (np.arange(400)[:, None] < 190)].all()  # every red pixel of the T-shirt
    x1, y1, x2, y2 = top.mask_box  # the box around the mask, tighter than the detector's (10, 10, 190, 190)
    assert (x1, y1, x2, y2) != (10, 10, 190, 190) and 10 <= x1 and y1 >= 10 and x2 <= 190 and y2 <= 190
    assert top.box == (10, 10, 190, 190)  # the served box stays the detector's (mask boxes did not win)
    assert top.colour == (200, 30, 30) and bottom.colour == (30, 60, 200)  # the garments' own colours
    assert np.asarray(top.cutout)[0, 0].tolist() == [255, 255, 255]  # shown on white
    data = result.to_json()["garments"][0]
    assert data["segmented"] and data["box"] == [10, 10, 190, 190] and data["mask_box"] == list(top.mask_box)
    assert data["colour"] == "#c81e1e"
    tinted = np.asarray(draw_masks(photo, [("topwear", top.mask)]))
    assert (tinted[top.mask] != np.asarray(photo)[top.mask]).any() and (
        tinted[~top.mask] == np.asarray(photo)[~top.mask]
    ).all()


def test_a_blank_photo_is_refused_with_a_note_before_any_model_runs(loaded_engine):
    class NoPose:
        def verdict(self, image):
            raise AssertionError("the pose model is not asked about a blank photo")

    def detect(image):
        raise AssertionError("nor is the detector")

    for colour in ("black", "white", (90, 140, 200)):
        result = shop_the_look(loaded_engine, Image.new("RGB", (600, 800), colour), detect, NoPose(), Gender(), k=3)
        assert result.blank and result.garments == [] and "one flat colour" in result.notes[0]
        assert result.to_json()["garments"] == [] and result.to_json()["blank"] and not result.gender_unsure
    photo, _ = outfit()
    assert not shop_the_look(loaded_engine, photo, lambda image: [], Pose(NOBODY), Gender(), k=3).blank

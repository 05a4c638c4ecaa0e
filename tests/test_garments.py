"""Mask -> garment box conversion and the label grouping of "shop the look", on constructed label maps."""

import numpy as np

from core.look.garments import DETECTOR_CLASSES, GROUP_OF_LABEL, garment_boxes

NAMES = ["null", "skin", "shoes", "boots", "jacket", "blouse", "jeans", "dress", "bag"]


def test_detector_classes_are_exactly_the_four_groups():
    assert DETECTOR_CLASSES == ("topwear", "bottomwear", "footwear", "fullbody")
    assert GROUP_OF_LABEL["t-shirt"] == "topwear" and GROUP_OF_LABEL["romper"] == "fullbody"
    assert GROUP_OF_LABEL["wedges"] == "footwear" and GROUP_OF_LABEL["leggings"] == "bottomwear"
    assert "bag" not in GROUP_OF_LABEL and "skin" not in GROUP_OF_LABEL


def test_one_box_per_group_is_the_union_of_its_parts_without_specks():
    labels = np.zeros((200, 100), dtype=np.uint8)
    labels[20:80, 20:80] = NAMES.index("jacket")
    labels[40:90, 30:70] = NAMES.index("blouse")  # under the jacket: same topwear box
    labels[90:160, 30:70] = NAMES.index("jeans")
    labels[180:190, 10:25] = NAMES.index("shoes")  # left shoe
    labels[182:192, 70:88] = NAMES.index("boots")  # right shoe, another label, same group
    labels[5, 95] = NAMES.index("shoes")  # a speck (1 px < 0.1% of 20,000 px): ignored
    labels[100:110, 80:90] = NAMES.index("bag")  # not a garment group
    boxes = {b.label: b for b in garment_boxes(labels, NAMES)}
    assert set(boxes) == {"topwear", "bottomwear", "footwear"}
    assert boxes["topwear"].box == (20, 20, 80, 90)
    assert boxes["bottomwear"].box == (30, 90, 70, 160)
    assert boxes["footwear"].box == (10, 180, 88, 192)  # both shoes, not the speck at (95, 5)
    assert boxes["footwear"].pixels == 10 * 15 + 10 * 18


def test_nothing_labelled_gives_no_boxes():
    assert garment_boxes(np.zeros((50, 50), dtype=np.uint8), NAMES) == []
    dress = np.zeros((50, 50), dtype=np.uint8)
    dress[10:40, 10:40] = NAMES.index("dress")
    assert [b.label for b in garment_boxes(dress, NAMES)] == ["fullbody"]


class RecordingYolo:
    """Stands in for ultralytics.YOLO: records what it was built from and trained with."""

    made: list = []

    def __init__(self, source):
        self.source = str(source)
        RecordingYolo.made.append(self)
        self.trained = None

    def train(self, **kwargs):
        self.trained = kwargs


def test_a_second_stage_can_go_on_from_shipped_weights_without_retraining_stage_one(monkeypatch, tmp_path):
    from training import train_detector

    shipped = []
    RecordingYolo.made = []
    monkeypatch.setattr(train_detector, "import_yolo", lambda: RecordingYolo)
    monkeypatch.setattr(train_detector, "write_dataset", lambda street_dir, work: work / "garments.yaml")
    monkeypatch.setattr(train_detector, "ship", lambda checkpoint, out: shipped.append((checkpoint, out)))
    start = tmp_path / "shipped.pt"
    args = train_detector.parser().parse_args(
        ["--street", "x", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out.pt"),
         "--finetune-from", str(start), "--finetune-epochs", "40", "--finetune-imgsz", "320"]
    )  # fmt: skip
    train_detector.train(args)
    assert [m.source for m in RecordingYolo.made] == [str(start)]  # no stage 1 model from the config
    trained = RecordingYolo.made[0].trained
    assert trained["epochs"] == 40 and trained["imgsz"] == 320 and trained["close_mosaic"] == 10
    assert shipped == [(tmp_path / "work" / "runs" / "garments-finetune" / "weights" / "last.pt", tmp_path / "out.pt")]


def test_the_detector_card_says_how_many_stages_trained_it():
    from benchmarks.detector import training_text

    one = training_text({"epochs": 50, "imgsz": 320, "batch": 16}, "yolov8n.yaml", "1.2", continued=False)
    assert "50 epochs at 320 px from `yolov8n.yaml`" in one and "Stage 2" not in one
    two = training_text({"epochs": 40, "imgsz": 320, "batch": 16}, "yolov8n.yaml", "0.9", continued=True)
    assert "Stage 1" in two and "40 more epochs at 320 px" in two and "0.9 h" in two
    assert "--finetune-epochs 40" in two and "mosaic off for the last 10 epochs" in two

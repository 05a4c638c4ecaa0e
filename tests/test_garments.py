"""Mask -> garment box conversion and the label grouping of "shop the look", on constructed label maps."""

import numpy as np
import pytest
from PIL import Image

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
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    monkeypatch.setattr(train_detector, "import_yolo", lambda: RecordingYolo)
    monkeypatch.setattr(train_detector, "write_dataset", lambda street_dir, work: work / "garments.yaml")
    monkeypatch.setattr(train_detector, "ship", lambda checkpoint, out: shipped.append((checkpoint, out)))
    start = tmp_path / "shipped.pt"
    start.write_bytes(b"weights")
    common = ["--street", "x", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out.pt")]
    with pytest.raises(SystemExit):  # weights that are not there
        train_detector.main(common + ["--finetune-from", str(tmp_path / "missing.pt"), "--finetune-epochs", "4"])
    with pytest.raises(SystemExit):  # nothing to train
        train_detector.main(common + ["--finetune-from", str(start)])
    assert RecordingYolo.made == [] and shipped == []
    train_detector.main(common + ["--finetune-from", str(start), "--finetune-epochs", "20", "--finetune-imgsz", "320"])
    assert [m.source for m in RecordingYolo.made] == [str(start)]  # no stage 1 model from the config
    trained = RecordingYolo.made[0].trained
    assert trained["epochs"] == 20 and trained["imgsz"] == 320 and trained["close_mosaic"] == 5
    assert trained["device"] == "cpu"  # --device auto on a machine without a GPU (tests run on the CPU)
    from training.train_detector import yolo_device

    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    assert yolo_device("auto") == 0 and yolo_device("cpu") == "cpu"
    assert shipped == [(tmp_path / "work" / "runs" / "garments-finetune" / "weights" / "last.pt", tmp_path / "out.pt")]


def test_the_detector_card_says_how_many_stages_trained_it():
    from benchmarks.detector import training_text
    from training.train_detector import parser

    stage1 = parser().parse_args(["--street", "-"])
    recorded = {"optimizer": "AdamW", "lr0": 0.00125, "lrf": 0.1, "warmup_epochs": 0, "batch": 8}
    alone = {**recorded, "model": "yolov8s.yaml", "epochs": 60, "imgsz": 384, "close_mosaic": 7}
    one = training_text(alone, stage1, "1.5", continued=False)
    assert "60 epochs at 384 px from `yolov8s.yaml`" in one and "last 7 epochs" in one and "1.5 h" in one
    assert "Stage 2" not in one and "AdamW: learning rate 0.00125" in one
    more = {**recorded, "model": "assets/garment-detector.pt", "epochs": 20, "imgsz": 352, "close_mosaic": 5}
    first, second = training_text(more, stage1, "0.4", continued=True).splitlines()[:2]
    assert first.startswith("- Stage 1") and "50 epochs at 320 px from `yolov8n.yaml`" in first
    assert second.startswith("- Stage 2") and "20 more epochs at 352 px" in second and "--finetune-epochs 20" in second
    assert "last 5 epochs" in second and "0.4 h" in second and "batch 8" in second


def test_the_detector_card_compares_each_earlier_setting_and_says_whether_tta_was_on():
    from benchmarks.detector import before_text, tta_text

    def report(weights, tta, served, fullbody, every, mAP):
        return {
            "weights": weights,
            "tta": tta,
            "served_ap50_top_bottom_foot": served,
            "ap50_top_bottom_foot": every,
            "classes": {"fullbody": {"served_ap50": fullbody}},
            "ultralytics": {"map50": mAP},
        }

    now = report("assets/garment-detector.pt", True, 0.762, 0.394, 0.797, 0.751)
    stage1 = report("data/stage1.pt", False, 0.713, 0.403, 0.786, 0.726)
    plain = report("assets/garment-detector.pt", False, 0.746, 0.358, 0.805, 0.751)
    lines = before_text([stage1, plain], now).splitlines()
    assert len(lines) == 2 and before_text([], now) == ""
    assert "`data/stage1.pt`, without test-time augmentation" in lines[0] and "0.713 -> 0.762" in lines[0]
    assert "0.403 -> 0.394" in lines[0] and "0.726 -> 0.751" in lines[0]
    assert "0.746 -> 0.762" in lines[1] and "0.358 -> 0.394" in lines[1] and "0.805 -> 0.797" in lines[1]
    assert tta_text(now).startswith("with test-time augmentation") and tta_text({}) == "without test-time augmentation"


def tiny_detector_checkpoint(path, seed: int, classes=("topwear", "bottomwear", "footwear", "fullbody"), epochs=40):
    """A YOLO checkpoint whose weights and BatchNorm statistics are random (seeded), saved as ultralytics does."""
    import torch

    from core.look.shop import import_yolo

    import_yolo()
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    model = DetectionModel("yolov8n.yaml", nc=len(classes), verbose=False)
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point():
            tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name else torch.randn_like(tensor))
        else:
            tensor.fill_(seed)  # BatchNorm's num_batches_tracked: a counter, not averaged
    model.names = dict(enumerate(classes))
    train_args = {"imgsz": 320, "epochs": epochs, "model": f"stage{seed}.pt"}
    torch.save({"model": model.half(), "ema": None, "train_args": train_args, "epoch": -1, "date": "old"}, path)
    return {k: v.clone() for k, v in model.float().state_dict().items()}


def test_averaged_weights_are_the_mean_of_the_stages_and_say_where_they_came_from(tmp_path):
    import torch

    from benchmarks.detector import averaging_text, training_record
    from core.look.shop import GarmentDetector
    from training.train_detector import main

    first = tiny_detector_checkpoint(tmp_path / "two.pt", 2)
    second = tiny_detector_checkpoint(tmp_path / "three.pt", 3, epochs=30)
    main(["--average", str(tmp_path / "two.pt"), str(tmp_path / "three.pt"), "--out", str(tmp_path / "soup.pt")])
    soup = torch.load(tmp_path / "soup.pt", weights_only=False)
    state = soup["model"].float().state_dict()
    for key in (next(k for k in first if k.endswith("conv.weight")), next(k for k in first if "running_var" in k)):
        expected = (first[key].half().float() + second[key].half().float()) / 2
        assert torch.allclose(state[key], expected, atol=1e-2) and not torch.allclose(state[key], first[key], atol=0.1)
    counter = next(k for k in first if k.endswith("num_batches_tracked"))
    assert state[counter].dtype == torch.int64 and int(state[counter]) == 2  # the first checkpoint's
    assert soup["model"].names[3] == "fullbody" and soup["train_args"]["epochs"] == 40 and soup["date"] != "old"
    assert [p["epochs"] for p in soup["averaged_from"]] == [40, 30] and len(soup["averaged_from"][1]["sha256"]) == 64
    found = GarmentDetector(tmp_path / "soup.pt", confidence=0.0)(Image.new("RGB", (320, 240), "gray"))
    assert all(d.label in DETECTOR_CLASSES for d in found)  # ultralytics loads the averaged file
    text = averaging_text(training_record(tmp_path / "soup.pt"), "0.9")
    assert "three.pt`: 30 more epochs at 320 px from the stage before" in text and "0.9 h" in text
    assert "--finetune-epochs 30" in text and "--average" in text and "slightly optimistic" in text
    assert averaging_text({"averaged_from": []}, "?") == ""
    tiny_detector_checkpoint(tmp_path / "coco.pt", 4, classes=("person", "car", "dog", "cat"))
    with pytest.raises(SystemExit, match="not the same detector"):
        main(["--average", str(tmp_path / "two.pt"), str(tmp_path / "coco.pt"), "--out", str(tmp_path / "x.pt")])


def test_averaging_needs_two_files_and_training_needs_the_street_photos(capsys):
    from training.train_detector import main

    with pytest.raises(SystemExit):
        main(["--average", "one.pt", "--out", "x.pt"])
    assert "--average needs at least two weights files" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--epochs", "1"])
    assert "--street is needed to train" in capsys.readouterr().err


def test_the_detector_card_says_where_a_stage_trained():
    from benchmarks.detector import training_text
    from training.train_detector import parser

    stage1 = parser().parse_args(["--street", "-"])
    recorded = {"optimizer": "AdamW", "lr0": 0.00125, "lrf": 0.1, "warmup_epochs": 0, "batch": 8, "close_mosaic": 5}
    on_gpu = {**recorded, "model": "yolov8s.yaml", "epochs": 60, "imgsz": 384, "device": 0}
    assert "on a GPU (device 0), 0.2 h" in training_text(on_gpu, stage1, "0.2", continued=False)
    assert "CPU only, 1.5 h on 2 cores" in training_text({**on_gpu, "device": "cpu"}, stage1, "1.5", continued=False)
    second = training_text({**on_gpu, "model": "a.pt"}, stage1, "0.3", continued=True).splitlines()[1]
    assert "on a GPU (device 0), 0.3 h" in second

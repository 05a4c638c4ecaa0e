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

"""Keypoints and garment boxes drawn on a photo: drawn where they belong, the original left untouched."""

from PIL import Image

from core.look.drawing import BOX_COLOURS, draw_boxes, draw_pose
from core.look.pose import Landmark


def test_boxes_are_drawn_in_their_class_colour_on_a_copy():
    photo = Image.new("RGB", (400, 600), "white")
    drawn = draw_boxes(photo, [("footwear", (100, 400, 300, 580), 0.9)])
    assert photo.getpixel((100, 500)) == (255, 255, 255)
    colour = BOX_COLOURS["footwear"]
    assert drawn.getpixel((100, 500)) == tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((200, 500)) == (255, 255, 255)  # inside the box: the photo


def test_only_visible_keypoints_and_limbs_are_drawn():
    photo = Image.new("RGB", (200, 200), "black")
    points = [Landmark(0.5, 0.5, 0.0)] * 33
    points[11], points[13] = Landmark(0.2, 0.2, 0.9), Landmark(0.8, 0.2, 0.9)  # left shoulder -> left elbow
    drawn = draw_pose(photo, points)
    assert drawn.getpixel((100, 40)) != (0, 0, 0)  # the limb between them
    assert drawn.getpixel((100, 100)) == (0, 0, 0)  # the invisible points are not drawn
    assert draw_pose(photo, []).getpixel((40, 40)) == (0, 0, 0)

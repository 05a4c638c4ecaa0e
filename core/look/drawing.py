"""Pictures of what the look pipeline saw: pose keypoints and garment boxes drawn on the photo (Pillow only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from core.look.pose import VISIBLE, Landmark

# MediaPipe Pose points joined into a stick figure (face points are left out: the nose stands for the head)
SKELETON = (
    (11, 12),
    (11, 13),
    (13, 15),
    (12, 14),
    (14, 16),
    (11, 23),
    (12, 24),
    (23, 24),
    (23, 25),
    (25, 27),
    (27, 31),
    (24, 26),
    (26, 28),
    (28, 32),
    (0, 11),
    (0, 12),
)
BOX_COLOURS = {
    "topwear": "#e4572e",
    "bottomwear": "#2e86ab",
    "footwear": "#f3a712",
    "fullbody": "#a23b72",
    "product": "#4caf50",
}


def draw_pose(image: Image.Image, landmarks: Sequence[Landmark]) -> Image.Image:
    """A copy of the photo with the visible keypoints and the limbs between them."""
    out = image.convert("RGB").copy()
    if not landmarks:
        return out
    pen = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 200))
    at = [(p.x * out.width, p.y * out.height) for p in landmarks]
    seen = [p.visibility >= VISIBLE for p in landmarks]
    for a, b in SKELETON:
        if seen[a] and seen[b]:
            pen.line([at[a], at[b]], fill="#00e5ff", width=width)
    for index in {i for pair in SKELETON for i in pair}:
        if seen[index]:
            x, y = at[index]
            r = width * 1.6
            pen.ellipse([x - r, y - r, x + r, y + r], fill="#ff1744", outline="white")
    return out


def draw_masks(image: Image.Image, masks: Sequence[tuple[str, np.ndarray]], opacity: float = 0.45) -> Image.Image:
    """A copy of the photo with each (label, bool [H, W] mask) tinted in its label's colour."""

    out = np.asarray(image.convert("RGB"), dtype=np.float32).copy()
    for label, mask in masks:
        tint = np.array(ImageColor.getrgb(BOX_COLOURS.get(label, "#ffffff")), dtype=np.float32)
        out[mask] = out[mask] * (1 - opacity) + tint * opacity
    return Image.fromarray(out.astype(np.uint8))


def draw_boxes(image: Image.Image, boxes: Sequence[tuple[str, tuple[int, int, int, int], float]]) -> Image.Image:
    """A copy of the photo with one labelled box per (label, box in pixels, score)."""
    out = image.convert("RGB").copy()
    pen = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 250))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 40)))  # Pillow's bundled font
    for label, (x1, y1, x2, y2), score in boxes:
        colour = BOX_COLOURS.get(label, "#ffffff")
        pen.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        text = f"{label} {score:.2f}"
        left, top, right, bottom = pen.textbbox((x1, y1), text, font=font)
        lift = bottom - top + 4
        y = y1 - lift if y1 >= lift else y1
        pen.rectangle([x1, y, x1 + right - left + 6, y + lift], fill=colour)
        pen.text((x1 + 3, y + 1), text, fill="white", font=font)
    return out

"""Runs MediaPipe Pose (its model ships inside the mediapipe==0.10.21 wheel: no download) and judges the result."""

from __future__ import annotations

import functools
import threading
from dataclasses import replace

import numpy as np
from PIL import Image

from core.look.pose import Box, Landmark, PoseVerdict, judge_pose, largest_person_region, placed

MAX_SIDE = 1024  # the model sees at most this many pixels a side
MIN_SIDE = 32  # below this many pixels a side there is no person to find (and nothing to tile)
MAX_TILES = 8  # a panorama is read in at most this many square tiles


class PoseModel:
    """One MediaPipe Pose graph (static images), safe to share between threads."""

    def __init__(self, complexity: int = 1):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=complexity)
        # face detectors count the people and find the face the gender check reads: full range (people up
        # to ~5 m away), then short range for close-ups
        detector = mp.solutions.face_detection.FaceDetection
        self._faces = [
            detector(model_selection=1, min_detection_confidence=0.6),
            detector(model_selection=0, min_detection_confidence=0.6),
        ]
        self._lock = threading.Lock()

    def landmarks(self, image: Image.Image) -> list[Landmark] | None:
        with self._lock:
            found = self._pose.process(_pixels(image))
        if found.pose_landmarks is None:
            return None
        return [Landmark(p.x, p.y, p.visibility) for p in found.pose_landmarks.landmark]

    def faces(self, image: Image.Image) -> list[Box]:
        """Face boxes in pixels of `image`. A wide photo is read in overlapping square tiles: the detector
        sees a small square, where the faces of a group photo would shrink out of sight."""
        found: list[Box] = []
        for x0, tile in _square_tiles(image):
            found += [(x1 + x0, y1, x2 + x0, y2) for x1, y1, x2, y2 in self._faces_in(tile)]
        return _without_duplicates(found)

    def _faces_in(self, image: Image.Image) -> list[Box]:
        pixels = _pixels(image)
        with self._lock:
            for detector in self._faces:
                found = detector.process(pixels).detections
                if found:
                    break
        boxes = []
        for face in found or []:
            b = face.location_data.relative_bounding_box
            boxes.append(
                (
                    int(b.xmin * image.width),
                    int(b.ymin * image.height),
                    int((b.xmin + b.width) * image.width),
                    int((b.ymin + b.height) * image.height),
                )
            )
        return boxes

    def verdict(self, image: Image.Image) -> PoseVerdict:
        """The verdict for the photo's person; with several people, for the one with the largest face."""
        whole = (0, 0, image.width, image.height)
        if min(image.size) < MIN_SIDE:
            return placed(judge_pose(None, 0, image.width / image.height), whole, image.size)
        faces = self.faces(image)
        region = largest_person_region(faces, image.size) if len(faces) > 1 else whole
        points = self.landmarks(image.crop(region))
        if points is None and region != whole:  # the largest face's column held no body: try the photo
            region, points = whole, self.landmarks(image)
        people = max(len(faces), 1 if points else 0)
        face = max(faces, key=lambda f: (f[2] - f[0]) * (f[3] - f[1])) if faces else None
        aspect = (region[2] - region[0]) / max(1, region[3] - region[1])
        return replace(placed(judge_pose(points, people, aspect), region, image.size), face_box=face)


def _square_tiles(image: Image.Image):
    """(left, tile) pairs: the photo itself unless it is wide, else height-sized squares overlapping by half."""
    width, height = image.size
    if width <= 1.3 * height:
        yield 0, image
        return
    step = max(height // 2, -(-(width - height) // (MAX_TILES - 1)), 1)
    lefts = list(range(0, width - height, step)) + [width - height]
    for left in lefts:
        yield left, image.crop((left, 0, left + height, height))


def _without_duplicates(boxes: list[Box]) -> list[Box]:
    """One box per face where overlapping tiles both saw it (the larger box kept)."""
    from core.metrics import box_iou

    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        if all(box_iou(box, other) < 0.3 for other in kept):
            kept.append(box)
    return kept


def _pixels(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(small)


@functools.lru_cache(maxsize=1)
def shared_pose_model() -> PoseModel:
    """One PoseModel per process for callers that need landmarks now and then (garment features)."""
    return PoseModel()

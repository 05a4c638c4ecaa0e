"""Runs MediaPipe Pose (its model ships inside the mediapipe==0.10.21 wheel: no download) and judges the result."""
from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from core.pose import Box, Landmark, PoseVerdict, judge_pose, largest_person_region, placed

MAX_SIDE = 1024  # the model sees at most this many pixels a side


class PoseModel:
    """One MediaPipe Pose graph (static images), safe to share between threads."""

    def __init__(self, complexity: int = 1):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=complexity)
        # full-range face detector (people up to ~5 m away): counts the people in the photo
        self._faces = mp.solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.6)
        self._lock = threading.Lock()

    def landmarks(self, image: Image.Image) -> list[Landmark] | None:
        with self._lock:
            found = self._pose.process(_pixels(image))
        if found.pose_landmarks is None:
            return None
        return [Landmark(p.x, p.y, p.visibility) for p in found.pose_landmarks.landmark]

    def faces(self, image: Image.Image) -> list[Box]:
        """Face boxes in pixels of `image`."""
        with self._lock:
            found = self._faces.process(_pixels(image))
        boxes = []
        for face in found.detections or []:
            b = face.location_data.relative_bounding_box
            boxes.append((int(b.xmin * image.width), int(b.ymin * image.height),
                          int((b.xmin + b.width) * image.width), int((b.ymin + b.height) * image.height)))
        return boxes

    def verdict(self, image: Image.Image) -> PoseVerdict:
        """The verdict for the photo's person; with several people, for the one with the largest face."""
        faces = self.faces(image)
        whole = (0, 0, image.width, image.height)
        region = largest_person_region(faces, image.size) if len(faces) > 1 else whole
        points = self.landmarks(image.crop(region))
        people = max(len(faces), 1) if points else 0
        return placed(judge_pose(points, people), region, image.size)


def _pixels(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((MAX_SIDE, MAX_SIDE))
    return np.asarray(small)

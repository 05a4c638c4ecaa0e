"""Runs MediaPipe Pose (its model ships inside the mediapipe==0.10.21 wheel: no download) and judges the result."""
from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from core.pose import Landmark, PoseVerdict, judge_pose

MAX_SIDE = 1024  # the model sees at most this many pixels a side


class PoseModel:
    """One MediaPipe Pose graph (static images), safe to share between threads."""

    def __init__(self, complexity: int = 1):
        import mediapipe as mp

        self._pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=complexity)
        self._lock = threading.Lock()

    def landmarks(self, image: Image.Image) -> list[Landmark] | None:
        small = image.convert("RGB")
        small.thumbnail((MAX_SIDE, MAX_SIDE))
        with self._lock:
            found = self._pose.process(np.asarray(small))
        if found.pose_landmarks is None:
            return None
        return [Landmark(p.x, p.y, p.visibility) for p in found.pose_landmarks.landmark]

    def verdict(self, image: Image.Image) -> PoseVerdict:
        return judge_pose(self.landmarks(image))

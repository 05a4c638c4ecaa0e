"""Whose clothing is it? A small classifier over the bundled encoder's view of the person and their face.

The encoder's own gender head was trained on catalog packshots and reads street photos poorly (it calls
most women "Men": benchmarks/gender.py). The classifier here (`assets/gender-probe.pt`, trained by
training/train_gender.py on hand-labelled street photos and catalog photos of people) is a linear layer
over two embeddings of the bundled encoder: the person crop and a square crop around the face (hair
and neckline included). Without a face, the person crop stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.artifacts import path_of
from core.checkpoints import load_payload, save_payload
from core.errors import ModelUnavailable

FORMAT = "stylelens-gender-probe/1"
GENDERS = ("Men", "Women")
FACE_SIDE = 128  # face crops are resized to this many pixels a side (the encoder's input size)
FACE_CONTEXT = 2.2  # the crop is this many times the face box: hair and neckline help
BUNDLED_GENDER_MODEL = path_of("gender-probe")
# Below this probability the page says it is not sure whose clothing it is (the guess still picks the
# products; the user can switch). Out of fold on the probe's 594 training street photos (the 5 folds of
# training/train_gender.py, C = 0.3): 29% of the photos fall below 0.65, holding half of the wrong guesses
# (50%) and 22% of the right ones. On the held-out street photos 0641-0760 (benchmarks/gender.py, "unsure"):
# 30% of the photos, 52% of the 25 wrong guesses, 24% of the right ones.
UNSURE_BELOW = 0.65

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class GenderGuess:
    gender: str | None  # None: not checked (no person in the photo)
    score: float  # probability of `gender`
    source: str  # "face and clothes", "clothes" (no face found), "you" (chosen by the user) or "" (not checked)


def face_crop(image: Image.Image, face: Box) -> Image.Image:
    """A square crop around the face box with some context, FACE_SIDE pixels a side."""
    x1, y1, x2, y2 = face
    side = max(x2 - x1, y2 - y1) * FACE_CONTEXT
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + (y2 - y1) * 0.3  # a little lower: neck and collar
    box = (int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2))
    return image.convert("RGB").crop(box).resize((FACE_SIDE, FACE_SIDE), Image.Resampling.BILINEAR)


def person_views(image: Image.Image, face: Box | None, person: Box | None) -> list[Image.Image]:
    """The two pictures the classifier reads: the person crop and the face crop (the person again if none)."""
    body = image.crop(person) if person else image
    return [body, face_crop(image, face) if face else body]


class GenderModel:
    """A linear layer over the encoder's embeddings of person_views; `encoder` must be the one it was
    trained with (its model_key is recorded in the checkpoint)."""

    def __init__(self, layer: nn.Linear, encoder, record: dict):
        if record.get("encoder") != encoder.model_key:
            raise ModelUnavailable(
                f"The gender model was trained on {record.get('encoder')} embeddings, not {encoder.model_key}."
            )
        self.layer, self.encoder, self.record = layer.eval(), encoder, record

    def features(self, image: Image.Image, face: Box | None = None, person: Box | None = None) -> np.ndarray:
        return self.encoder.embed_images(person_views(image, face, person)).reshape(-1)

    @torch.no_grad()
    def guess(self, image: Image.Image, face: Box | None = None, person: Box | None = None) -> GenderGuess:
        features = torch.from_numpy(self.features(image, face, person)).float()
        probabilities = self.layer(features).softmax(dim=0)
        best = int(probabilities.argmax())
        return GenderGuess(GENDERS[best], float(probabilities[best]), "face and clothes" if face else "clothes")


def save_gender_model(path: Path, layer: nn.Linear, record: dict) -> None:
    """`record` must name the encoder (its model_key) whose embeddings the layer reads."""
    save_payload(path, FORMAT, layer, record, config={"features": layer.in_features})


def load_gender_model(encoder=None, path: Path | None = None) -> GenderModel:
    """The gender classifier at `path` (default: the bundled one). It reads `encoder`'s embeddings when
    that is the encoder it was trained with, else loads that one (the bundled encoder). ModelUnavailable when
    the file is missing or not a gender model."""
    path = Path(path or BUNDLED_GENDER_MODEL)
    if not path.is_file():
        raise ModelUnavailable(f"The gender model {path} is missing (python -m training.train_gender).")
    payload = load_payload(path, FORMAT, "gender")
    layer = nn.Linear(payload["config"]["features"], len(GENDERS))
    layer.load_state_dict(payload["state_dict"])
    if encoder is None or getattr(encoder, "model_key", None) != payload["record"].get("encoder"):
        from core.encoders import BUNDLED_ENCODER, load_encoder

        encoder = load_encoder(BUNDLED_ENCODER)
    return GenderModel(layer, encoder, payload["record"])

"""The gender check: a linear layer over the bundled encoder's views of the person and their face."""

import pytest
import torch
from PIL import Image

from core.errors import ModelUnavailable
from core.look.gender import FACE_SIDE, GenderModel, face_crop, load_gender_model, person_views, save_gender_model


class Encoder:
    """Stand-in encoder: embeds a picture as its mean red and mean blue (0..1)."""

    model_key = "toy@1"

    def __init__(self):
        self.seen = []

    def embed_images(self, images):
        import numpy as np

        self.seen += [image.size for image in images]
        return np.array(
            [[np.asarray(i)[..., 0].mean() / 255, np.asarray(i)[..., 2].mean() / 255] for i in images], dtype=np.float32
        )


def bluish_is_men() -> torch.nn.Linear:
    """Men when the face crop is more blue than red (features: person r, b, face r, b)."""
    layer = torch.nn.Linear(4, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.0, 0.0, -5.0, 5.0], [0.0, 0.0, 5.0, -5.0]]))
        layer.bias.zero_()
    return layer


def photo_with_face(face_colour) -> Image.Image:
    photo = Image.new("RGB", (200, 300), (128, 128, 128))
    photo.paste(Image.new("RGB", (40, 40), face_colour), (80, 20))
    return photo


def test_face_crops_are_squares_with_context_even_at_the_edge():
    assert face_crop(Image.new("RGB", (200, 300)), (0, 0, 20, 30)).size == (FACE_SIDE, FACE_SIDE)


def test_without_a_face_the_person_crop_stands_in_for_it():
    photo = photo_with_face((200, 0, 0))
    body, face = person_views(photo, None, (10, 10, 110, 210))
    assert body.size == face.size == (100, 200)
    assert person_views(photo, (80, 20, 120, 60), None)[1].size == (FACE_SIDE, FACE_SIDE)


def test_the_classifier_reads_the_face_and_says_where_its_answer_came_from(tmp_path):
    encoder = Encoder()
    save_gender_model(tmp_path / "g.pt", bluish_is_men(), {"encoder": "toy@1"})
    model = load_gender_model(encoder, tmp_path / "g.pt")
    man = model.guess(photo_with_face((0, 0, 220)), face=(80, 20, 120, 60), person=(40, 10, 160, 290))
    woman = model.guess(photo_with_face((220, 0, 0)), face=(80, 20, 120, 60), person=(40, 10, 160, 290))
    assert (man.gender, man.source) == ("Men", "face and clothes") and man.score > 0.6
    assert (woman.gender, woman.source) == ("Women", "face and clothes") and woman.score > 0.6
    assert model.guess(photo_with_face((220, 0, 0))).source == "clothes"
    assert encoder.seen[:2] == [(120, 280), (FACE_SIDE, FACE_SIDE)]


def test_a_gender_model_refuses_embeddings_of_another_encoder():
    with pytest.raises(ModelUnavailable, match="trained on other@2 embeddings"):
        GenderModel(bluish_is_men(), Encoder(), {"encoder": "other@2"})


def test_missing_or_foreign_gender_checkpoints_are_refused_clearly(tmp_path):
    with pytest.raises(ModelUnavailable, match="missing"):
        load_gender_model(Encoder(), tmp_path / "none.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ModelUnavailable, match="not a StyleLens gender checkpoint"):
        load_gender_model(Encoder(), tmp_path / "other.pt")

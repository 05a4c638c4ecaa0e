"""The learned composer: shapes, save/load round trip, the encoder check, and a tiny training run."""

import numpy as np
import pytest
import torch

from core.composer import Composer, ComposerConfig, LearnedComposer, composition, load_composer, save_composer
from core.encoders import load_encoder
from core.encoders.stylelens import Labels, StyleLensModel, TowerConfig, save_checkpoint
from core.errors import ModelUnavailable, QueryError
from tests.conftest import draw_product, write_catalog

SMALL = ComposerConfig(
    image_dim=16, image_tokens=1, text_dim=384, embed_dim=16, width=32, layers=1, heads=2, max_text_tokens=8
)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    labels = Labels(
        article_types=("Tshirts", "Heels", "Dresses", "Jeans"), colours=("Red", "Blue"), genders=("Men", "Women")
    )
    path = tmp_path_factory.mktemp("enc") / "tiny.pt"
    save_checkpoint(
        StyleLensModel(TowerConfig(image_size=32, widths=(8, 8, 16, 16), embed_dim=16), labels).eval(),
        path,
        {"version": "1"},
    )
    return path


@pytest.fixture(scope="module")
def tiny_encoder(tiny_checkpoint):
    return load_encoder(str(tiny_checkpoint))


def test_composer_shapes_and_unit_output():
    model = Composer(SMALL).eval()
    query = model(
        torch.randn(3, 1, 16),
        torch.nn.functional.normalize(torch.randn(3, 16), dim=1),
        torch.randn(3, 5, 384),
        torch.tensor([[1, 1, 1, 0, 0]] * 3, dtype=torch.bool),
        torch.randn(3, 16),
    )
    assert query.shape == (3, 16)
    assert torch.allclose(query.norm(dim=1), torch.ones(3), atol=1e-5)


def test_save_load_round_trip(tmp_path):
    model = Composer(SMALL).eval()
    save_composer(model, tmp_path / "c.pt", {"encoder": "x@1", "command": "test"})
    loaded, record = load_composer(tmp_path / "c.pt")
    assert loaded.config == SMALL and record["encoder"] == "x@1"
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name])
    (tmp_path / "bad.pt").write_bytes(b"nope")
    with pytest.raises(ModelUnavailable, match="not a readable StyleLens composer"):
        load_composer(tmp_path / "bad.pt")


def test_learned_composer_checks_its_encoder_and_composes(tiny_encoder, tmp_path):
    save_composer(Composer(SMALL).eval(), tmp_path / "c.pt", {"encoder": tiny_encoder.model_key})
    compose = composition("composer", tiny_encoder, tmp_path / "c.pt")
    vectors = compose([draw_product("tshirt", (200, 0, 0)), draw_product("shoe", (0, 0, 200))], ["in blue", "darker"])
    assert vectors.shape == (2, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    save_composer(Composer(SMALL).eval(), tmp_path / "other.pt", {"encoder": "someone-else@3"})
    with pytest.raises(ModelUnavailable, match="trained on someone-else@3"):
        composition("composer", tiny_encoder, tmp_path / "other.pt")
    with pytest.raises(QueryError, match="Unknown method"):
        composition("magic", tiny_encoder)
    assert isinstance(compose, LearnedComposer)


def test_training_run_on_a_tiny_catalog(tiny_encoder, tiny_checkpoint, tmp_path):
    from training.train_composer import main as train_main

    write_catalog(tmp_path / "catalog")
    out = tmp_path / "composer.pt"
    arguments = [
        "--catalog",
        str(tmp_path / "catalog"),
        "--encoder",
        str(tiny_checkpoint),
        "--out",
        str(out),
        "--work",
        str(tmp_path / "work"),
        "--batch",
        "16",
        "--per-reference",
        "4",
    ]
    train_main([*arguments, "--epochs", "1"])
    train_main([*arguments, "--epochs", "2"])  # resumes
    model, record = load_composer(out)
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["encoder"] == tiny_encoder.model_key and "held-out" in record["split"]
    assert model.config.image_tokens == 1 and model.config.embed_dim == 16

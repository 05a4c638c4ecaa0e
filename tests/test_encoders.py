"""Encoder loading: registry names, a StyleLens checkpoint file, and Hugging Face CLIP-style folders
(a tiny CLIP built and saved by the test, so the `hf:` path is exercised offline)."""

import numpy as np
import pytest
import torch

from core.catalog import Catalog
from core.encoders import available_encoders, load_attribute_model, load_encoder
from core.encoders.minilm import bundled_minilm_path
from core.encoders.stylelens import Labels, StyleLensModel, TowerConfig, load_checkpoint, save_checkpoint
from core.engine import StyleLens
from core.errors import ModelUnavailable
from tests.conftest import draw_product

PICTURES = [draw_product("tshirt", (200, 30, 30)), draw_product("shoe", (30, 60, 200))]


def assert_unit_rows(vectors, rows, dim):
    assert vectors.shape == (rows, dim) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(rows), abs=1e-5)


@pytest.fixture(scope="module")
def tiny_clip_dir(tmp_path_factory):
    """A CLIP with 2 tiny layers per tower, saved like any Hugging Face checkpoint (weights, tokenizer, processor)."""
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    folder = tmp_path_factory.mktemp("tiny-clip")
    tokenizer = AutoTokenizer.from_pretrained(bundled_minilm_path(), local_files_only=True)
    config = CLIPConfig(
        text_config={
            "vocab_size": tokenizer.vocab_size,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_stylelens(tmp_path_factory):
    labels = Labels(article_types=("Tshirts", "Heels", "Dresses"), colours=("Red", "Blue"), genders=("Men", "Women"))
    model = StyleLensModel(TowerConfig(image_size=32, widths=(8, 8, 16, 16), embed_dim=16, text_hidden=32), labels)
    path = tmp_path_factory.mktemp("stylelens") / "tiny.pt"
    save_checkpoint(model.eval(), path, {"version": "7", "command": "test"})
    return path


@pytest.mark.parametrize("prefix", ["", "hf:"])
def test_a_clip_folder_loads_by_path_and_by_hf_name(tiny_clip_dir, prefix):
    encoder = load_encoder(f"{prefix}{tiny_clip_dir}")
    assert encoder.dim == 16
    assert_unit_rows(encoder.embed_images(PICTURES), 2, 16)
    assert_unit_rows(encoder.embed_texts(["red t-shirt", "blue heels " * 50]), 2, 16)
    assert_unit_rows(encoder.embed_catalog(PICTURES, ["a", "b"]), 2, 16)
    again = load_encoder(str(tiny_clip_dir))
    assert again.model_key.split("@")[1] == encoder.model_key.split("@")[1]  # same weights, same fingerprint
    assert np.allclose(again.embed_images(PICTURES), encoder.embed_images(PICTURES), atol=1e-5)


def test_an_unknown_or_unreachable_name_fails_clearly(tmp_path):
    with pytest.raises(ModelUnavailable, match="Known encoders: baseline, stylelens-small"):
        load_encoder("resnet-9000")
    with pytest.raises(ModelUnavailable, match="Could not load the CLIP-style checkpoint"):
        load_encoder("hf:nobody/not-a-model-xyz")  # offline: not cached, no network
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="Could not load"):
        load_encoder(str(tmp_path / "empty"))
    assert "stylelens-small" in available_encoders()


def test_switching_encoders_re_embeds_and_never_mixes_vectors(settings, tiny_clip_dir, catalog_dir, encoder):
    clip = load_encoder(str(tiny_clip_dir))
    catalog = Catalog.open(settings)
    first = StyleLens(settings, catalog, encoder)
    first.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    second = StyleLens(settings, catalog, clip)
    messages = []
    index = second.index(progress=lambda done, total, message: messages.append(message))
    assert len(index) == 24 and index.manifest.model_key == clip.model_key
    assert any(clip.name in m for m in messages)  # re-embedding reported progress
    products, vectors = catalog.embeddings(clip.model_key)
    assert vectors.shape == (24, 16)
    assert catalog.embeddings(encoder.model_key)[1].shape == (24, encoder.dim)  # the old vectors are kept apart
    assert first.index_path != second.index_path
    hits = second.search_text("red t-shirt", k=5).hits
    assert len(hits) == 5


def test_stylelens_checkpoint_round_trip_and_heads(tiny_stylelens):
    model, record = load_checkpoint(tiny_stylelens)
    assert record["version"] == "7" and model.config.embed_dim == 16 and model.labels.colours == ("Red", "Blue")
    encoder = load_encoder(str(tiny_stylelens))
    assert encoder.model_key.startswith("stylelens:tiny@7-") and len(encoder.model_key) == len("stylelens:tiny@7-") + 8
    assert_unit_rows(encoder.embed_images(PICTURES), 2, 16)
    assert_unit_rows(encoder.embed_texts(["red shirt"]), 1, 16)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, encoder.model.state_dict()[name])
    predictions = encoder.classify(PICTURES, top=2)
    assert len(predictions) == 2
    first = predictions[0]
    assert first.article_type in ("Tshirts", "Heels", "Dresses") and 0 < first.article_type_score <= 1
    assert first.colour in ("Red", "Blue") and first.gender in ("Men", "Women")
    assert [name for name, _ in first.top_article_types][0] == first.article_type
    assert encoder.classify([]) == []


def test_a_damaged_checkpoint_is_refused(tmp_path):
    path = tmp_path / "bad.pt"
    torch.save({"format": "something-else"}, path)
    with pytest.raises(ModelUnavailable, match="not a StyleLens encoder checkpoint"):
        load_encoder(str(path))
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelUnavailable, match="not a readable StyleLens encoder checkpoint"):
        load_encoder(str(path))


def test_attribute_model_falls_back_to_the_bundled_heads():
    model = load_attribute_model("baseline")
    assert hasattr(model, "classify") and model.name == "stylelens-small"

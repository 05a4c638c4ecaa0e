"""Training pieces on constructed data: the packshot mask, the losses, and a resumable two-epoch run."""
import math

import pytest
import torch

from core.encoders import load_encoder
from core.split import is_held_out
from tests.conftest import draw_product, write_catalog
from training import augment
from training.train_encoder import any_of_loss, contrastive_loss, labelled_loss
from training.train_encoder import main as train_main


def as_batch(image):
    import numpy as np

    return torch.from_numpy(np.asarray(image, dtype="float32") / 255).permute(2, 0, 1)[None]


def test_the_white_background_is_not_the_product():
    pixels = as_batch(draw_product("tshirt", (200, 30, 30), size=128))
    mask = augment.white_background_mask(pixels)[0, 0]
    red = (pixels[0, 0] > 0.6) & (pixels[0, 1] < 0.3)
    assert mask[red].float().mean() > 0.95  # the garment is kept
    assert mask[~red].float().mean() < 0.1  # the white around it is not
    white_shirt = as_batch(draw_product("tshirt", (250, 250, 250), size=128))
    assert augment.white_background_mask(white_shirt).min() == 1  # white on white: keep the whole photo


def test_phone_photo_like_replaces_the_background_and_keeps_shapes():
    generator = torch.Generator().manual_seed(0)
    pixels = as_batch(draw_product("dress", (30, 60, 200), size=64)).repeat(4, 1, 1, 1)
    mask = augment.white_background_mask(pixels)
    patches = torch.full((2, 3, 64, 64), 90, dtype=torch.uint8)
    shots = augment.phone_photo_like(pixels, mask, patches, generator, composite_share=1.0)
    assert shots.shape == pixels.shape and 0 <= shots.min() and shots.max() <= 1
    corners = shots[:, :, :4, :4].mean()
    assert corners < 0.85  # no longer a white studio background


def test_labelled_loss_skips_unlabelled_rows():
    logits = torch.log(torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    assert labelled_loss(logits, torch.tensor([-100, 0]), 0.0).item() == pytest.approx(-math.log(0.9))
    assert labelled_loss(logits, torch.tensor([-100, -100]), 0.0).item() == 0.0


def test_any_of_loss_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    allowed = torch.tensor([[False, True, True]])
    assert any_of_loss(logits, allowed).item() == pytest.approx(-math.log(0.5))
    assert any_of_loss(logits, torch.tensor([[True, True, True]])).item() == pytest.approx(0.0, abs=1e-6)


def test_contrastive_loss_prefers_matched_pairs():
    embeddings = torch.eye(4)
    matched = contrastive_loss(embeddings, embeddings, torch.tensor(math.log(10.0)))
    shuffled = contrastive_loss(embeddings, embeddings[[1, 2, 3, 0]], torch.tensor(math.log(10.0)))
    assert matched < shuffled


def test_training_runs_resumes_and_writes_a_loadable_checkpoint(tmp_path, capsys):
    rows = write_catalog(tmp_path / "catalog")
    assert any(is_held_out(r["id"]) for r in rows) and not all(is_held_out(r["id"]) for r in rows)
    out, work = tmp_path / "model.pt", tmp_path / "work"
    arguments = ["--catalog", str(tmp_path / "catalog"), "--out", str(out), "--work", str(work), "--batch", "8",
                 "--min-class-items", "3"]
    train_main([*arguments, "--epochs", "1"])
    assert (work / "last.pt").exists()
    train_main([*arguments, "--epochs", "2"])
    printed = capsys.readouterr().out
    assert "Resuming after epoch 1" in printed
    encoder = load_encoder(str(out))
    assert [h["epoch"] for h in encoder.record["history"]] == [1, 2]
    assert "held out" in encoder.record["split"] and "train_encoder" in encoder.record["command"]
    assert set(encoder.labels.article_types) == {"Tshirts", "Dresses", "Jeans", "Heels"}
    vectors = encoder.embed_images([draw_product("shoe", (0, 0, 0))])
    assert vectors.shape == (1, encoder.dim) and torch.isfinite(torch.from_numpy(vectors)).all()
    assert encoder.classify([draw_product("shoe", (0, 0, 0))])[0].article_type in encoder.labels.article_types

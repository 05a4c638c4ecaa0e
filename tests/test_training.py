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
    arguments = [
        "--catalog",
        str(tmp_path / "catalog"),
        "--out",
        str(out),
        "--work",
        str(work),
        "--batch",
        "8",
        "--min-class-items",
        "3",
    ]
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


def test_fine_tuning_on_peoples_photos_keeps_held_out_senders_out(tmp_path, capsys):
    """--init continues a checkpoint; --photos mixes in people's photos of the training senders only."""
    import csv

    from training import clothing_photos

    write_catalog(tmp_path / "catalog")
    base = ["--catalog", str(tmp_path / "catalog"), "--batch", "8", "--min-class-items", "3", "--epochs", "1"]
    train_main([*base, "--out", str(tmp_path / "first.pt"), "--work", str(tmp_path / "w1")])
    photos = tmp_path / "photos"
    (photos / "images").mkdir(parents=True)
    held = sorted(clothing_photos.held_out_senders())[0]
    kept = next(str(n) for n in range(1000) if not clothing_photos.sender_is_held_out(str(n)))
    with open(photos / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "sender_id", "label", "kids"])
        for i, (sender, label, shape) in enumerate(
            [(kept, "Dress", "dress"), (kept, "Pants", "trousers"), (kept, "Shoes", "shoe"), (held, "Dress", "dress")]
        ):
            writer.writerow([f"p{i}", sender, label, "False"])
            draw_product(shape, (90, 40, 160), size=80).save(photos / "images" / f"p{i}.jpg")
    out = tmp_path / "tuned.pt"
    train_main(
        [
            *base,
            "--out",
            str(out),
            "--work",
            str(tmp_path / "w2"),
            "--photos",
            str(photos),
            "--init",
            str(tmp_path / "first.pt"),
            "--lr",
            "1e-4",
            "--real-per-batch",
            "2",
        ]
    )
    assert "3 clothing photos" in capsys.readouterr().out  # the held-out sender's photo is not among them
    tuned = load_encoder(str(out))
    assert tuned.record["fine_tuned_from"] == str(tmp_path / "first.pt") and tuned.record["trained_on"].startswith(
        "cpu"
    )
    assert "clothing-photos" in tuned.record["data"] and tuned.record["previous_history"][0]["epoch"] == 1
    other = tmp_path / "other"
    write_catalog(other, n_colours=2)
    with pytest.raises(SystemExit, match="other labels"):  # a checkpoint of other article types cannot continue
        train_main(
            [
                "--catalog",
                str(other),
                "--batch",
                "4",
                "--min-class-items",
                "1",
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "x.pt"),
                "--work",
                str(tmp_path / "w3"),
                "--init",
                str(tmp_path / "first.pt"),
            ]
        )

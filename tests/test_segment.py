"""Garment segmentation on constructed images: the network, its checkpoint, cut-outs and the setting."""

import numpy as np
import pytest
import torch
from conftest import draw_product
from PIL import Image, ImageDraw

from core.config import PROJECT_ROOT, load_settings
from core.segment import (
    GarmentSegmenter,
    ModelUnavailable,
    SegmenterConfig,
    UNet,
    configured_segmenter,
    cut_out,
    mask_box,
    normalize,
    resize_mask,
    save_segmenter,
    trusted,
)
from training.train_segmenter import mean_iou, segmentation_loss

TINY = SegmenterConfig(image_size=32, widths=(8, 16, 32))


def garment_on_background(rng: np.random.Generator, size: int = 32) -> tuple[Image.Image, np.ndarray]:
    """A garment silhouette of a random colour pasted on a noisy background of another; its exact mask."""
    shape = ["tshirt", "dress", "trousers"][int(rng.integers(3))]
    silhouette = np.asarray(draw_product(shape, (0, 0, 0), size=size).convert("L")) < 128  # [S, S]
    background = rng.integers(0, 256, 3) * 0.5 + rng.normal(0, 20, (size, size, 3))
    garment = np.ones((size, size, 3)) * (rng.integers(0, 256, 3) * 0.5 + 128)
    rgb = np.where(silhouette[..., None], garment, background).clip(0, 255).astype(np.uint8)
    return Image.fromarray(rgb), silhouette


def test_unet_gives_one_logit_per_pixel():
    logits = UNet(TINY)(torch.zeros(2, 3, 32, 32))
    assert logits.shape == (2, 1, 32, 32)
    assert UNet(SegmenterConfig(96, (12, 24, 48, 96)))(torch.zeros(1, 3, 96, 96)).shape == (1, 1, 96, 96)


def test_checkpoint_round_trip_gives_the_same_masks(tmp_path):
    torch.manual_seed(0)
    model = UNet(TINY).eval()
    save_segmenter(model, tmp_path / "seg.pt", {"command": "test"})
    loaded = GarmentSegmenter(tmp_path / "seg.pt")
    picture, _ = garment_on_background(np.random.default_rng(0))
    with torch.no_grad():
        expected = torch.sigmoid(model(normalize(torch.from_numpy(np.array(picture)).permute(2, 0, 1)[None] / 255.0)))
    assert np.allclose(loaded.probabilities([picture])[0], expected[0, 0].numpy(), atol=1e-5)
    assert loaded.record["command"] == "test" and loaded.model.config == TINY
    big = picture.resize((120, 80))
    assert loaded.masks([big])[0].shape == (80, 120)  # [H, W] of the picture itself


def test_a_small_segmenter_learns_garments_on_backgrounds():
    """The training loss and the network can separate a garment from a busy background (IoU on new images)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def batch(count):
        pairs = [garment_on_background(rng) for _ in range(count)]
        pixels = torch.from_numpy(np.stack([np.asarray(p) for p, _ in pairs])).permute(0, 3, 1, 2).float() / 255
        return normalize(pixels), torch.from_numpy(np.stack([m for _, m in pairs]))[:, None].float()

    model = UNet(TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(120):
        pixels, masks = batch(16)
        loss = segmentation_loss(model(pixels), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    pixels, masks = batch(32)
    with torch.no_grad():
        predicted = torch.sigmoid(model(pixels)) > 0.5
    everything = mean_iou(torch.ones_like(masks, dtype=torch.bool), masks > 0.5)
    assert mean_iou(predicted, masks > 0.5) > max(0.75, everything + 0.2)


def test_mean_iou_by_hand():
    a = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    b = a.clone()
    a[0, 0, 0, :] = True  # 2 pixels
    b[0, 0, 0, 0] = True  # 1 of them
    assert mean_iou(a, b) == pytest.approx((0.5 + 1.0) / 2)  # the second pair is empty on both sides: 1


def test_cut_out_puts_the_garment_on_white_and_crops_it():
    picture = Image.new("RGB", (100, 100), (40, 160, 60))
    ImageDraw.Draw(picture).rectangle([20, 30, 59, 69], fill=(200, 20, 20))
    mask = np.zeros((100, 100), dtype=bool)
    mask[30:70, 20:60] = True
    clean = cut_out(picture, mask, margin=0.1)
    assert clean.size == (50, 50)  # the 40x40 garment plus int(40 * 0.1) + 1 pixels a side
    rgb = np.asarray(clean)
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[24, 24]) == (200, 20, 20)
    assert not (np.abs(rgb.astype(int) - (40, 160, 60)).sum(axis=2) < 30).any()  # no background left


def test_an_untrusted_mask_leaves_the_picture_as_it_is():
    picture = Image.new("RGB", (50, 40), "blue")
    assert cut_out(picture, np.zeros((40, 50), bool)) is picture
    assert cut_out(picture, np.ones((40, 50), bool)) is picture
    assert not trusted(None) and not trusted(np.zeros((10, 10), bool))
    speck = np.zeros((100, 100), bool)
    speck[0, :2] = True
    assert not trusted(speck)


def test_mask_box_and_resize():
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:9] = True
    assert mask_box(mask) == (3, 2, 9, 5)
    assert mask_box(np.zeros((4, 4), bool)) is None
    bigger = resize_mask(mask, (40, 20))
    assert bigger.shape == (20, 40) and mask_box(bigger) == (6, 4, 18, 10)


def test_the_segmenter_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGMENTER", "off")
    assert configured_segmenter(load_settings()) is None
    monkeypatch.setenv("SEGMENTER", str(tmp_path / "missing.pt"))
    with pytest.raises(ModelUnavailable, match="no such file"):
        configured_segmenter(load_settings())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("SEGMENTER", str(tmp_path / "junk.pt"))
    with pytest.raises(ModelUnavailable, match="segmenter"):
        configured_segmenter(load_settings())
    save_segmenter(UNet(TINY), tmp_path / "mine.pt", {})
    monkeypatch.setenv("SEGMENTER", str(tmp_path / "mine.pt"))
    first = configured_segmenter(load_settings())
    assert isinstance(first, GarmentSegmenter) and configured_segmenter(load_settings()) is first  # loaded once


@pytest.mark.skipif(not (PROJECT_ROOT / "assets" / "garment-segmenter.pt").is_file(), reason="no segmenter shipped")
@pytest.mark.parametrize(
    "shape,background", [("dress", (176, 196, 222)), ("tshirt", (120, 90, 60)), ("trousers", (200, 200, 190))]
)
def test_the_shipped_segmenter_finds_a_garment_on_a_plain_surface(shape, background):
    """A drawn garment lying on a bed, a floor or a wall (a little texture): its mask is found, not the surface."""
    from core.segment import load_segmenter

    rng = np.random.default_rng(0)
    garment = draw_product(shape, (200, 40, 40), size=200)
    silhouette = np.asarray(garment).min(axis=2) < 200
    surface = (np.array(background) + rng.normal(0, 6, (260, 260, 3))).clip(0, 255).astype(np.uint8)
    photo = Image.fromarray(surface)
    photo.paste(garment, (30, 30), Image.fromarray(silhouette.astype(np.uint8) * 255))
    truth = np.zeros((260, 260), bool)
    truth[30:230, 30:230] = silhouette
    mask = load_segmenter().masks([photo])[0]
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.7, iou
    assert trusted(mask)


def test_a_big_photo_gives_a_cut_out_of_bounded_size():
    picture = Image.new("RGB", (3000, 2000), (40, 160, 60))
    mask = np.zeros((2000, 3000), bool)
    mask[500:1500, 1000:2000] = True
    clean = cut_out(picture, mask)
    assert max(clean.size) <= 512 and 0.9 < clean.width / clean.height < 1.1

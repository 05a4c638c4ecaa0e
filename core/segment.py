"""Garment segmentation: which pixels of a photo are the garment, so a query is embedded on a clean
background as the catalog is.

A small U-Net trained here (training/train_segmenter.py) on worn garments (street photos' pixel masks, cut
around each garment) and on single garments on floors, beds and walls (catalog packshots composited onto
backgrounds, whose masks are exact). It answers one mask per picture: the main garment in it.

    segmenter = load_segmenter()                  # the bundled assets/garment-segmenter.pt, or None
    mask = segmenter.masks([photo])[0]            # bool [H, W], the photo's size
    clean = cut_out(photo, mask)                  # the garment on white, cropped to it

A checkpoint holds the config that built the network, its weights and the record of how it was trained.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from torch import nn

from core.artifacts import path_of
from core.checkpoints import load_payload, save_payload
from core.errors import ModelUnavailable

FORMAT = "stylelens-segmenter/1"
BUNDLED_SEGMENTER = path_of("garment-segmenter")
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# a mask covering less than MIN_COVER or more than MAX_COVER of the picture is not trusted: the picture is
# used as it is (nothing found, or the garment fills the frame anyway)
MIN_COVER, MAX_COVER = 0.03, 0.97
WHITE = (255, 255, 255)
CUTOUT_SIDE = 512  # longest side of a cut-out


@dataclass(frozen=True)
class SegmenterConfig:
    image_size: int = 128
    widths: tuple[int, ...] = (16, 32, 64, 128)


def _block(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(True),
        nn.Conv2d(outputs, outputs, 3, padding=1, bias=False),
        nn.BatchNorm2d(outputs),
        nn.ReLU(True),
    )


class UNet(nn.Module):
    """Encoder of len(widths) levels (each halves the size), decoder with skip connections, 1 logit per pixel."""

    def __init__(self, config: SegmenterConfig):
        super().__init__()
        self.config = config
        widths = config.widths
        self.down = nn.ModuleList([_block(3 if i == 0 else widths[i - 1], w) for i, w in enumerate(widths)])
        self.up = nn.ModuleList(
            [_block(widths[i] + widths[i - 1], widths[i - 1]) for i in range(len(widths) - 1, 0, -1)]
        )
        self.out = nn.Conv2d(widths[0], 1, 1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:  # [B, 3, S, S] normalised -> [B, 1, S, S] logits
        skips, x = [], pixels
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = block(
                torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)
            )
        return self.out(x)


def to_pixels(images: Sequence[Image.Image], size: int) -> torch.Tensor:
    """Images -> normalised [N, 3, size, size] (squashed to a square, as every StyleLens model reads them)."""
    arrays = [np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for image in images]
    pixels = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255.0
    return normalize(pixels)


def normalize(pixels: torch.Tensor) -> torch.Tensor:  # [N, 3, S, S] in 0..1
    mean = torch.tensor(MEAN, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


def save_segmenter(model: UNet, path: Path, record: dict) -> None:
    save_payload(path, FORMAT, model, record, config=asdict(model.config))


def load_segmenter_file(path: Path) -> tuple[UNet, dict]:
    payload = load_payload(path, FORMAT, "segmenter")
    config = SegmenterConfig(**{**payload["config"], "widths": tuple(payload["config"]["widths"])})
    model = UNet(config)
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload.get("record", {})


class GarmentSegmenter:
    """Masks of the main garment of each picture. Sessions of the app share one: inference in eval mode
    changes no state, so calls from several threads need no lock (as for the encoders)."""

    def __init__(self, path: Path):
        self.model, self.record = load_segmenter_file(Path(path))
        self.path = Path(path)

    @torch.inference_mode()
    def probabilities(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """float32 [S, S] garment probability per picture, at the network's size."""
        if not images:
            return []
        logits = self.model(to_pixels(images, self.model.config.image_size))
        return [p[0].numpy() for p in torch.sigmoid(logits)]

    def masks(self, images: Sequence[Image.Image]) -> list[np.ndarray]:
        """bool [H, W] per picture at the picture's own size."""
        return [resize_mask(p > 0.5, image.size) for p, image in zip(self.probabilities(images), images)]


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool mask scaled to `size` (width, height)."""
    picture = Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(picture) >= 128


def trusted(mask: np.ndarray | None) -> bool:
    """Whether a mask says something: neither (almost) empty nor (almost) the whole picture."""
    return mask is not None and MIN_COVER <= float(mask.mean()) <= MAX_COVER


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """x1, y1, x2, y2 (exclusive) around the mask's pixels; None for an empty mask."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def cut_out(image: Image.Image, mask: np.ndarray, margin: float = 0.06) -> Image.Image:
    """The garment on white, cropped to its box plus a margin: what a catalog packshot looks like.
    An untrusted mask gives the picture back unchanged."""
    if not trusted(mask):
        return image
    if max(image.size) > CUTOUT_SIDE:  # the cut-out is for colour, features and the page: no need for megapixels
        scale = CUTOUT_SIDE / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image, mask = image.resize(size, Image.Resampling.BILINEAR), resize_mask(mask, size)
    rgb = np.asarray(image.convert("RGB"))
    edge = ImageFilter.BoxBlur(1)  # a soft edge: no hard cut-out halo
    soft = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(edge), dtype=np.float32)[..., None] / 255
    clean = (rgb * soft + np.array(WHITE, dtype=np.float32) * (1 - soft)).astype(np.uint8)
    x1, y1, x2, y2 = mask_box(mask)  # type: ignore[misc]
    pad_x, pad_y = int((x2 - x1) * margin) + 1, int((y2 - y1) * margin) + 1
    box = (max(0, x1 - pad_x), max(0, y1 - pad_y), min(image.width, x2 + pad_x), min(image.height, y2 + pad_y))
    return Image.fromarray(clean).crop(box)


def configured_segmenter(settings) -> GarmentSegmenter | None:
    """The segmenter the SEGMENTER setting names: `garment-segmenter` (the bundled one, when shipped), a
    checkpoint path, or `off`. Loaded once per process: the sessions of the app share it."""
    name = settings.segmenter_name.strip()
    if name.lower() in ("off", "none", ""):
        return None
    if name == "garment-segmenter":
        return load_segmenter()
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelUnavailable(
            f"SEGMENTER={name!r}: no such file. Use garment-segmenter, off, or the path of a "
            "segmenter checkpoint (.pt)."
        )
    return _cached(path)


_LOADED: dict[Path, GarmentSegmenter] = {}
_LOADING = threading.Lock()


def _cached(path: Path) -> GarmentSegmenter:
    with _LOADING:
        key = path.resolve()
        if key not in _LOADED:
            try:
                _LOADED[key] = GarmentSegmenter(key)
            except (KeyError, RuntimeError, TypeError) as exc:  # a segmenter checkpoint with a damaged config
                raise ModelUnavailable(f"{path} is a damaged segmenter checkpoint ({exc}).") from exc
        return _LOADED[key]


def load_segmenter(path: Path | None = None) -> GarmentSegmenter | None:
    """The garment segmenter at `path` (default: the bundled one), loaded once per process; None when no
    such file is shipped."""
    path = Path(path) if path else BUNDLED_SEGMENTER
    return _cached(path) if path.is_file() else None

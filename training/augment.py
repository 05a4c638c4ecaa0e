"""Batch augmentations (torch, on the CPU) that turn studio packshots into phone-photo look-alikes.

Catalog photos are garments on white. A user's photo has the garment on a bed, a hanger, a floor or a
street, framed loosely, tilted, in warm or dim light. So a packshot's white background (its mask comes
almost for free) is replaced by a real street-photo patch or a made-up texture, then the whole picture is
re-framed, lit and blurred. Hue is left alone: the colour head must still read the true colour.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def white_background_mask(pixels: torch.Tensor) -> torch.Tensor:
    """1 where a pixel belongs to the product, 0 on the near-white studio background: [B, 1, S, S]."""
    background = (pixels.min(dim=1, keepdim=True).values > 0.92).float()
    # holes inside the garment (white prints, white garments) are filled from the border inwards
    product = 1.0 - _border_flood(background)
    # a white garment on white melts into the background: keep such a photo whole rather than cut it up
    too_small = product.mean(dim=(1, 2, 3), keepdim=True) < 0.12
    return torch.where(too_small, torch.ones_like(product), product)


def _border_flood(background: torch.Tensor, steps: int = 48) -> torch.Tensor:
    """Background pixels connected to the image border (a few dilation steps at a coarse scale)."""
    size = background.shape[-1]
    coarse = F.interpolate(background, size=(size // 2, size // 2), mode="area").gt(0.5).float()
    seed = torch.zeros_like(coarse)
    seed[..., 0, :] = seed[..., -1, :] = seed[..., :, 0] = seed[..., :, -1] = 1
    reach = seed * coarse
    for _ in range(steps):
        grown = F.max_pool2d(reach, 3, stride=1, padding=1) * coarse
        if torch.equal(grown, reach):
            break
        reach = grown
    return F.interpolate(reach, size=(size, size), mode="nearest") * background


def procedural_backgrounds(count: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Plain walls, gradients, bedsheet-like low-frequency folds and wood-like stripes: [B, 3, S, S]."""
    base = torch.rand(count, 3, 1, 1, generator=generator) * 0.8 + 0.1
    coarse = torch.rand(count, 1, 6, 6, generator=generator)
    folds = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    ramp = torch.linspace(0, 1, size).view(1, 1, 1, size)
    angle = torch.rand(count, 1, 1, 1, generator=generator) * math.pi
    stripes = torch.sin(ramp * 40 * torch.cos(angle) + ramp.transpose(-1, -2) * 40 * torch.sin(angle))
    kind = torch.randint(0, 3, (count, 1, 1, 1), generator=generator)
    texture = torch.where(kind == 0, 0.25 * folds, torch.where(kind == 1, 0.06 * stripes, 0.3 * ramp))
    noise = torch.randn(count, 1, size, size, generator=generator) * 0.02
    return (base + texture - 0.12 + noise).clamp(0, 1)


def random_affine(
    pixels: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, max_rotation: float = 15.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zoom in or out, shift, tilt and mirror pixels and mask together. Outside the frame: mask 0."""
    count = pixels.shape[0]
    scale = torch.empty(count).uniform_(0.75, 1.25, generator=generator)  # >1 zooms out
    theta = torch.empty(count).uniform_(-max_rotation, max_rotation, generator=generator) * math.pi / 180
    shift = torch.empty(count, 2).uniform_(-0.12, 0.12, generator=generator)
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    matrix = torch.zeros(count, 2, 3)
    matrix[:, 0, 0] = scale * torch.cos(theta) * flip
    matrix[:, 0, 1] = -scale * torch.sin(theta)
    matrix[:, 1, 0] = scale * torch.sin(theta) * flip
    matrix[:, 1, 1] = scale * torch.cos(theta)
    matrix[:, :, 2] = shift
    grid = F.affine_grid(matrix, list(pixels.shape), align_corners=False)
    moved = F.grid_sample(pixels - 1.0, grid, align_corners=False) + 1.0  # white outside the frame
    moved_mask = F.grid_sample(mask, grid, align_corners=False)
    return moved, moved_mask


def composite(pixels: torch.Tensor, mask: torch.Tensor, backgrounds: torch.Tensor) -> torch.Tensor:
    soft = F.avg_pool2d(mask, 3, stride=1, padding=1)  # no cut-out halo
    return pixels * soft + backgrounds * (1 - soft)


def photometric(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Exposure, contrast, saturation, white balance, uneven light, blur and sensor noise."""
    count = pixels.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.empty(count, *shape).uniform_(low, high, generator=generator)

    gray = pixels.mean(dim=1, keepdim=True)
    pixels = gray + (pixels - gray) * uniform(0.65, 1.3, 1, 1, 1)  # saturation
    mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
    pixels = mean + (pixels - mean) * uniform(0.7, 1.2, 1, 1, 1)  # contrast
    pixels = pixels * uniform(0.65, 1.25, 1, 1, 1) * uniform(0.93, 1.07, 3, 1, 1)  # exposure, white balance
    size = pixels.shape[-1]
    ramp = torch.linspace(-1, 1, size)
    direction = uniform(-1, 1, 2, 1, 1)
    light = 1 + 0.25 * (direction[:, :1] * ramp.view(1, 1, size) + direction[:, 1:] * ramp.view(1, size, 1))
    uneven = torch.rand(count, 1, 1, 1, generator=generator) < 0.4
    pixels = torch.where(uneven, pixels * light, pixels)
    blurred = F.avg_pool2d(F.pad(pixels, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    pixels = torch.where(torch.rand(count, 1, 1, 1, generator=generator) < 0.3, blurred, pixels)
    noisy = torch.rand(count, 1, 1, 1, generator=generator) < 0.3
    pixels = pixels + noisy * torch.randn(pixels.shape, generator=generator) * uniform(0.01, 0.05, 1, 1, 1)
    return pixels.clamp(0, 1)


def phone_photo_like(
    pixels: torch.Tensor,
    mask: torch.Tensor,
    patches: torch.Tensor,
    generator: torch.Generator,
    composite_share: float = 0.6,
) -> torch.Tensor:
    """The whole recipe on a batch of packshots in 0..1: [B, 3, S, S] -> [B, 3, S, S]."""
    count, size = pixels.shape[0], pixels.shape[-1]
    moved, moved_mask = random_affine(pixels, mask, generator)
    pick = torch.randint(0, len(patches), (count,), generator=generator)
    real = patches[pick].float() / 255.0
    made = procedural_backgrounds(count, size, generator)
    use_real = torch.rand(count, 1, 1, 1, generator=generator) < 0.5
    backgrounds = torch.where(use_real, real, made)
    swap = torch.rand(count, 1, 1, 1, generator=generator) < composite_share
    framed = torch.where(swap, composite(moved, moved_mask, backgrounds), moved)
    return photometric(framed, generator)

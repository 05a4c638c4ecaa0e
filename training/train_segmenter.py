"""Train the garment segmenter (core/segment.py): the main garment's pixels in a photo or a garment crop.

    python -m training.train_segmenter --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --out assets/garment-segmenter.pt

Two sources of exact masks:
    worn garments   street photos 0001-0640: each garment group's box (core/look/garments.py) cut out with a
                    margin; the target is that group's pixels (skin, hair and the background are not garment)
    single garments catalog packshots (held-out products excluded) whose white background gives the mask;
                    composited onto street backgrounds and made-up textures (floors, beds, walls) with
                    random framing and light (training/augment.py)
plus a few background patches whose target is empty. Validated on street photos 0641-0804 and on
held-out packshots composited with a fixed seed, beside two baselines (everything is garment; "not white").
Resumable (state after each epoch in --work; the same command continues). Runs on a GPU when there is one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from core.look.garments import GROUP_OF_LABEL
from core.segment import SegmenterConfig, UNet, normalize, save_segmenter
from core.split import is_held_out
from training import augment, street
from training.resume import pick_device, resume_or_start, save_state, trained_on

VERSION = "1"
MARGIN = 0.12  # context around a street garment's box


@dataclass
class TrainConfig:
    epochs: int = 12
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    catalog_per_epoch: int = 2500  # packshots drawn per epoch (street crops are all used every epoch)
    empty_share: float = 0.05  # background-only samples (target: no garment)
    seed: int = 0


# ---- data ----------------------------------------------------------------------------------
def street_samples(street_dir: Path, photos: range, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 pixels [N, 3, S, S] and masks [N, 1, S, S]: one sample per garment group per photo."""
    names = street.label_names(street_dir)
    pixels, masks = [], []
    for _, labels, photo in street.annotated_photos(street_dir, tqdm(photos, desc="Street garments")):
        for group in ("topwear", "bottomwear", "footwear", "fullbody"):
            codes = [i for i, name in enumerate(names) if GROUP_OF_LABEL.get(name) == group]
            mask = np.isin(labels, codes)
            if mask.mean() < 0.004:
                continue
            ys, xs = np.nonzero(mask)
            pad_x, pad_y = int((xs.max() - xs.min()) * MARGIN) + 2, int((ys.max() - ys.min()) * MARGIN) + 2
            box = (
                max(0, xs.min() - pad_x),
                max(0, ys.min() - pad_y),
                min(photo.width, xs.max() + 1 + pad_x),
                min(photo.height, ys.max() + 1 + pad_y),
            )
            pixels.append(np.asarray(photo.crop(box).resize((size, size), Image.Resampling.BILINEAR)))
            cut = Image.fromarray(mask.astype(np.uint8) * 255).crop(box).resize((size, size), Image.Resampling.BILINEAR)
            masks.append(np.asarray(cut) >= 128)
    return (
        torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(np.stack(masks)[:, None].astype(np.uint8)),
    )


def packshot_samples(catalog_dir: Path, size: int, held_out: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Catalog packshots (garment on white, not on a model) with their white-background masks."""
    styles = pd.read_csv(catalog_dir / "styles.csv").fillna("")
    styles = styles[styles["masterCategory"].isin(["Apparel", "Footwear"]) | styles["subCategory"].eq("Bags")]
    styles = styles[styles["id"].map(is_held_out) == held_out]
    pixels = []
    for product_id in tqdm(styles["id"], desc="Packshots"):
        path = catalog_dir / "images" / f"{product_id}.jpg"
        if path.exists():
            pixels.append(np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BILINEAR)))
    batch = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()
    masks = torch.cat(
        [augment.white_background_mask(batch[i : i + 512].float() / 255) for i in range(0, len(batch), 512)]
    )
    keep = is_packshot(masks)
    return batch[keep], masks[keep].to(torch.uint8)


def is_packshot(masks: torch.Tensor) -> torch.Tensor:
    """bool [N]: a product alone on white: a real cut-out (not the whole frame) that leaves the top and
    bottom borders free (an on-model shot runs off the frame, and the person is not the garment)."""
    cover = masks.mean(dim=(1, 2, 3))
    top, bottom = masks[:, 0, 0, :].mean(dim=1), masks[:, 0, -1, :].mean(dim=1)
    return (cover > 0.08) & (cover < 0.9) & (top < 0.05) & (bottom < 0.05)


def composited(
    pixels: torch.Tensor, masks: torch.Tensor, patches: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packshots on backgrounds, reframed and relit: float pixels in 0..1 and float masks."""
    moved, moved_mask = augment.random_affine(pixels.float() / 255, masks.float(), generator)
    count, size = len(pixels), pixels.shape[-1]
    real = patches[torch.randint(0, len(patches), (count,), generator=generator)].float() / 255
    made = augment.procedural_backgrounds(count, size, generator)
    backgrounds = torch.where(torch.rand(count, 1, 1, 1, generator=generator) < 0.5, real, made)
    return augment.photometric(augment.composite(moved, moved_mask, backgrounds), generator), (moved_mask > 0.5).float()


def worn(pixels: torch.Tensor, masks: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Street crops, mirrored / shifted a little and relit."""
    moved, moved_mask = augment.random_affine(pixels.float() / 255, masks.float(), generator, 8.0)
    return augment.photometric(moved, generator), (moved_mask > 0.5).float()


# ---- loss and metric -----------------------------------------------------------------------
def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy + soft Dice (Dice keeps small garments, like shoes, from being ignored)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    probability = torch.sigmoid(logits)
    overlap = (probability * target).sum(dim=(1, 2, 3))
    dice = 1 - (2 * overlap + 1) / (probability.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
    return bce + dice.mean()


def mean_iou(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """Mean over samples of |P ∩ T| / |P ∪ T| (bool tensors [N, 1, S, S]); an empty pair counts as 1."""
    inter = (predicted & target).sum(dim=(1, 2, 3)).float()
    union = (predicted | target).sum(dim=(1, 2, 3)).float()
    return float(torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean())


@torch.inference_mode()
def validate(model: UNet, sets: dict[str, tuple[torch.Tensor, torch.Tensor]], device: str) -> dict:
    """IoU of the model and of two baselines on each validation set (float pixels 0..1, float masks)."""
    model.eval()
    scores = {}
    for name, (pixels, masks) in sets.items():
        predicted = torch.cat(
            [
                torch.sigmoid(model(normalize(pixels[i : i + 64].to(device)))).cpu() > 0.5
                for i in range(0, len(pixels), 64)
            ]
        )
        target = masks > 0.5
        not_white = (1 - pixels.min(dim=1, keepdim=True).values) > 0.08  # core.garment_features.foreground's rule
        scores[name] = {
            "iou": round(mean_iou(predicted, target), 4),
            "iou_baseline_everything": round(mean_iou(torch.ones_like(target), target), 4),
            "iou_baseline_not_white": round(mean_iou(not_white, target), 4),
            "n": len(pixels),
        }
    model.train()
    return scores


def validation_sets(args, size: int, patches: torch.Tensor, work: Path) -> dict:
    cache = work / "validation.pt"
    if cache.exists():
        return torch.load(cache, weights_only=False)
    street_pixels, street_masks = street_samples(Path(args.street), street.EVAL_PHOTOS, size)
    pack_pixels, pack_masks = packshot_samples(Path(args.catalog), size, held_out=True)
    generator = torch.Generator().manual_seed(7)
    shots, shot_masks = composited(pack_pixels, pack_masks, patches, generator)
    sets = {
        "street (held-out photos)": (street_pixels.float() / 255, street_masks.float()),
        "packshots on backgrounds (held-out products)": (shots, shot_masks),
    }
    torch.save(sets, cache)
    return sets


def training_data(args, size: int, work: Path) -> dict:
    cache = work / "train.pt"
    if cache.exists():
        return torch.load(cache, weights_only=False)
    street_pixels, street_masks = street_samples(Path(args.street), street.TRAIN_PHOTOS, size)
    pack_pixels, pack_masks = packshot_samples(Path(args.catalog), size, held_out=False)
    patches = torch.from_numpy(street.background_patches(Path(args.street), 800, size, seed=0)).permute(0, 3, 1, 2)
    data = {"street": (street_pixels, street_masks), "packshots": (pack_pixels, pack_masks), "patches": patches}
    work.mkdir(parents=True, exist_ok=True)
    torch.save(data, cache)
    return data


# ---- training ------------------------------------------------------------------------------
def batches(data: dict, config: TrainConfig, rng: np.random.Generator, generator: torch.Generator):
    street_pixels, street_masks = data["street"]
    pack_pixels, pack_masks = data["packshots"]
    picks = rng.choice(len(pack_pixels), size=min(config.catalog_per_epoch, len(pack_pixels)), replace=False)
    order = rng.permutation(len(street_pixels) + len(picks))
    for start in range(0, len(order) - config.batch + 1, config.batch):
        chosen = order[start : start + config.batch]
        worn_rows = torch.from_numpy(chosen[chosen < len(street_pixels)])
        pack_rows = torch.from_numpy(picks[chosen[chosen >= len(street_pixels)] - len(street_pixels)])
        parts = []
        if len(worn_rows):
            parts.append(worn(street_pixels[worn_rows], street_masks[worn_rows], generator))
        if len(pack_rows):
            parts.append(composited(pack_pixels[pack_rows], pack_masks[pack_rows], data["patches"], generator))
        pixels, masks = torch.cat([p for p, _ in parts]), torch.cat([m for _, m in parts])
        empty = torch.rand(len(pixels), generator=generator) < config.empty_share
        if empty.any():  # a background alone: nothing is garment
            backgrounds = (
                data["patches"][
                    torch.randint(0, len(data["patches"]), (int(empty.sum()),), generator=generator)
                ].float()
                / 255
            )
            pixels[empty], masks[empty] = backgrounds, 0.0
        yield pixels, masks


def learning_rate(step: int, total: int, peak: float) -> float:
    warmup = max(1, total // 30)
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    config = TrainConfig(epochs=args.epochs, seed=args.seed)
    torch.manual_seed(config.seed)
    work = Path(args.work)
    model_config = SegmenterConfig(image_size=args.size, widths=tuple(args.widths))
    data = training_data(args, model_config.image_size, work)
    sets = validation_sets(args, model_config.image_size, data["patches"], work)
    print(
        f"{len(data['street'][0])} street garments, {len(data['packshots'][0])} packshots; validation: "
        + ", ".join(f"{name} {len(p)}" for name, (p, _) in sets.items()),
        flush=True,
    )
    device = args.device_used
    model = UNet(model_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state_path = work / "last.pt"
    start_epoch, history, generator = resume_or_start(work, model, optimizer, config.seed)
    steps = (len(data["street"][0]) + min(config.catalog_per_epoch, len(data["packshots"][0]))) // config.batch
    started = time.time() - (history[-1]["seconds"] if history else 0)
    for epoch in range(start_epoch, config.epochs):
        rng = np.random.default_rng(config.seed * 1000 + epoch)
        total = 0.0
        for step, (pixels, masks) in enumerate(
            tqdm(
                batches(data, config, rng, generator),
                total=steps,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                mininterval=10,
            )
        ):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(epoch * steps + step, steps * config.epochs, config.lr)
            loss = segmentation_loss(model(normalize(pixels.to(device))), masks.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(total / steps, 4),
                "validation": validate(model, sets, device),
                "seconds": round(time.time() - started, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        save_state(state_path, model, optimizer, epoch + 1, history, generator=generator.get_state())
    record = {
        "version": VERSION,
        "data": f"street-photos {street.TRAIN_PHOTOS.start:04d}-{street.TRAIN_PHOTOS.stop - 1:04d} garment groups "
        f"({len(data['street'][0])} crops, masks from the pixel annotations); fashion-products packshots "
        f"outside the held-out split ({len(data['packshots'][0])}, white-background masks) composited onto "
        "street backgrounds and made-up textures",
        "split": f"validated on street photos {street.EVAL_PHOTOS.start:04d}-{street.EVAL_PHOTOS.stop - 1:04d} and "
        "held-out packshots (core/split.py) composited with seed 7",
        "command": "python -m training.train_segmenter " + " ".join(sys.argv[1:]),
        "trained_on": trained_on(device),
        "train_config": asdict(config),
        "history": history,
        "metrics": history[-1]["validation"] if history else {},
    }
    save_segmenter(model.cpu().eval(), Path(args.out), record)
    print(f"Saved {args.out}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="fashion-products folder (styles.csv, images/)")
    parser.add_argument("--street", required=True, help="street-photos folder (annotations/, photos/)")
    parser.add_argument("--out", default="assets/garment-segmenter.pt")
    parser.add_argument("--work", default="data/training/segmenter", help="caches and resumable state")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--size", type=int, default=96, help="input side in pixels")
    parser.add_argument("--widths", type=int, nargs="+", default=[12, 24, 48, 96])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    args = parser.parse_args(argv)
    args.device_used = pick_device(args.device)
    train(args)


if __name__ == "__main__":
    main()

"""Train the garment-kind classifier (core/kinds.py): which catalog article type a real photo shows.

    python -m training.train_kind --catalog ../shared/datasets/fashion-products \
        --photos ../shared/datasets/clothing-photos --street ../shared/datasets/street-photos

Starts from the encoder's image tower (`--init`, default the bundled stylelens-small: backbone, projection
and article head) and fine-tunes it at `--size` px on
    people's own photos of clothes   clothing-photos, training senders (labels -> accepted catalog types,
                                     training/clothing_photos.py), kinds drawn ~ 1/sqrt(frequency)
    garments cut from street photos  street-photos 0001-0580 by their masks (training/street.py)
    catalog packshots                the training split (core/split.py), most dressed as phone photos
with a loss that accepts any of a photo's accepted types (-log P(accepted), label smoothing).

Validation, never trained on: the clothing-photos senders whose hash falls in VALIDATION_PERCENT (training
senders, outside the held-out ones) and street photos 0581-0640. The epoch with the best validation
(mean of "top-1 type accepted" on the two) is shipped. `--final` then trains once more, with the validation
photos included, on the validated run's schedule (give the same `--epochs`), and ships its last epoch. The
held-out senders and street photos 0641-0804 stay for benchmarks/real_photos.py either way. Resumable: the
same command goes on from `--work`/last.pt (a --final run keeps its own folder, data/training/kind-final by
default, and never resumes a validated run's state, nor the other way round). Runs on a GPU when there is
one (`--device auto`), else the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
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

from core.encoders.stylelens import load_checkpoint, normalize_pixels
from core.kinds import KindNet, save_kind_model
from core.split import is_held_out
from training import clothing_photos, street
from training.augment import phone_photo_like, photometric, white_background_mask
from training.resume import pick_device, resume_or_start, save_state, trained_on
from training.train_encoder import learning_rate

VERSION = "1"
VALIDATION_PERCENT = range(20, 35)  # sender hash buckets (held-out senders are buckets 0-19)
STREET_VALIDATION = range(581, 641)
STREET_TRAINING = range(street.TRAIN_PHOTOS.start, STREET_VALIDATION.start)


@dataclass(frozen=True)
class TrainConfig:
    size: int = 192
    epochs: int = 12
    lr: float = 5e-4
    weight_decay: float = 0.05
    batch: int = 48
    catalog_per_epoch: int = 2500
    street_draws: float = 1.0  # street crops drawn per epoch, as a multiple of how many there are
    label_smoothing: float = 0.1
    phone_like_share: float = 0.7  # packshots dressed as phone photos
    seed: int = 0


@dataclass
class Samples:
    """uint8 pixels [N, S, S, 3] and the accepted article types of each, as a bool matrix [N, C]."""

    pixels: torch.Tensor
    accepted: torch.Tensor
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.kinds)


def is_validation_sender(sender: str) -> bool:
    return int(hashlib.sha256(sender.encode()).hexdigest()[:8], 16) % 100 in VALIDATION_PERCENT


def to_samples(images: list[Image.Image], accepted: list[tuple[str, ...]], kinds: list[str], classes, size) -> Samples:
    index = {name: i for i, name in enumerate(classes)}
    matrix = torch.zeros(len(images), len(classes), dtype=torch.bool)
    for row, types in enumerate(accepted):
        for name in types:
            if name in index:
                matrix[row, index[name]] = True
    keep = matrix.any(dim=1)
    arrays = [np.asarray(i.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)) for i in images]
    pixels = torch.from_numpy(np.stack(arrays)) if arrays else torch.zeros(0, size, size, 3, dtype=torch.uint8)
    return Samples(pixels[keep], matrix[keep], [k for k, kept in zip(kinds, keep.tolist()) if kept])


def sender_photos(folder: Path, validation: bool) -> list:
    """The clothing photos of the training senders, those in the validation buckets or the others; never the
    held-out senders."""
    training, _ = clothing_photos.split(clothing_photos.read_photos(folder))
    return [p for p in training if is_validation_sender(p.sender) == validation]


def photo_samples(folder: Path, validation: bool, classes, size: int) -> Samples:
    chosen = sender_photos(folder, validation)
    images = [picture(p.path) for p in tqdm(chosen, desc="clothing photos", mininterval=5)]
    return to_samples(images, [p.article_types for p in chosen], [p.label for p in chosen], classes, size)


def street_samples(folder: Path, photos: range, classes, size: int) -> Samples:
    crops = street.garment_crops(folder, photos)
    accepted = [street.STREET_TO_CATALOG[c.label] for c in crops]
    return to_samples([c.image for c in crops], accepted, [c.label for c in crops], classes, size)


def catalog_samples(folder: Path, classes, size: int, limit: int = 0) -> Samples:
    styles = pd.read_csv(folder / "styles.csv").fillna("")
    rows = [r for r in styles.itertuples() if not is_held_out(r.id) and (folder / "images" / f"{r.id}.jpg").exists()]
    rows = rows[:limit] if limit else rows
    images = [picture(folder / "images" / f"{r.id}.jpg") for r in tqdm(rows, desc="catalog", mininterval=5)]
    return to_samples(images, [(r.articleType,) for r in rows], [r.articleType for r in rows], classes, size)


def picture(path: Path, side: int = 320) -> Image.Image:
    """An RGB copy of the photo, no larger than `side` (the file is closed at once)."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    image.thumbnail((side, side))
    return image


def load_data(args, classes, size: int, work: Path) -> dict[str, Samples]:
    """Training and validation samples, cached in `work` (the first run reads and resizes the photos)."""
    cache = work / f"data-{size}{f'-limit{args.limit}' if args.limit else ''}.pt"
    if cache.exists():
        data = {name: Samples(**fields) for name, fields in torch.load(cache, weights_only=True).items()}
        if all(s.accepted.shape[1] == len(classes) for s in data.values()):
            return data
    data = {
        "photos": photo_samples(Path(args.photos), False, classes, size),
        "street": street_samples(Path(args.street), STREET_TRAINING, classes, size),
        "catalog": catalog_samples(Path(args.catalog), classes, size, args.limit),
        "val-photos": photo_samples(Path(args.photos), True, classes, size),
        "val-street": street_samples(Path(args.street), STREET_VALIDATION, classes, size),
    }
    work.mkdir(parents=True, exist_ok=True)
    torch.save({name: vars(s) for name, s in data.items()}, cache)
    return data


def merged(first: Samples, second: Samples) -> Samples:
    return Samples(
        torch.cat([first.pixels, second.pixels]),
        torch.cat([first.accepted, second.accepted]),
        first.kinds + second.kinds,
    )


def street_draws(data: dict[str, Samples], config: TrainConfig) -> int:
    return int(round(len(data["street"]) * config.street_draws))


def real_weights(kinds: list[str]) -> np.ndarray:
    """Draw probabilities ~ 1/sqrt(frequency of the kind): rare kinds (hats, skirts, dresses) come up more."""
    counts = pd.Series(kinds).value_counts()
    weights = np.array([1 / math.sqrt(counts[k]) for k in kinds])
    return weights / weights.sum()


def random_crop(pixels: torch.Tensor, generator: torch.Generator, min_scale: float = 0.7) -> torch.Tensor:
    """Zoom into a random part of each photo (never outside the frame) and mirror half of them."""
    count = pixels.shape[0]
    scale = torch.empty(count).uniform_(min_scale, 1.0, generator=generator)
    stretch = torch.empty(count).uniform_(0.9, 1.1, generator=generator)
    sx, sy = (scale * stretch).clamp(max=1.0), (scale / stretch).clamp(max=1.0)
    shift_x = (torch.rand(count, generator=generator) * 2 - 1) * (1 - sx)
    shift_y = (torch.rand(count, generator=generator) * 2 - 1) * (1 - sy)
    flip = torch.where(torch.rand(count, generator=generator) < 0.5, -1.0, 1.0)
    matrix = torch.zeros(count, 2, 3)
    matrix[:, 0, 0], matrix[:, 1, 1] = sx * flip, sy
    matrix[:, 0, 2], matrix[:, 1, 2] = shift_x, shift_y
    grid = F.affine_grid(matrix, list(pixels.shape), align_corners=False)
    return F.grid_sample(pixels, grid, align_corners=False, padding_mode="border")


def batches(data: dict[str, Samples], config: TrainConfig, rng: np.random.Generator, generator, patches):
    """One epoch: every real training photo's worth of real draws (kinds balanced) + some packshots."""
    real = [
        ("photos", i)
        for i in rng.choice(len(data["photos"]), len(data["photos"]), p=real_weights(data["photos"].kinds))
    ]
    real += [
        ("street", i)
        for i in rng.choice(len(data["street"]), street_draws(data, config), p=real_weights(data["street"].kinds))
    ]
    shown = min(config.catalog_per_epoch, len(data["catalog"]))
    catalog = [("catalog", i) for i in rng.choice(len(data["catalog"]), shown, replace=False)]
    order = real + catalog
    rng.shuffle(order)
    for start in range(0, len(order) - config.batch + 1, config.batch):
        chunk = order[start : start + config.batch]
        pixels, accepted = [], []
        for source in ("photos", "street", "catalog"):
            rows = [i for name, i in chunk if name == source]
            if not rows:
                continue
            part = data[source].pixels[rows].permute(0, 3, 1, 2).float() / 255.0
            if source == "catalog":
                dressed = phone_photo_like(part, white_background_mask(part), patches, generator)
                keep = torch.rand(len(rows), 1, 1, 1, generator=generator) < config.phone_like_share
                part = torch.where(keep, dressed, random_crop(part, generator, 0.85))
            else:
                part = photometric(random_crop(part, generator), generator)
            pixels.append(part)
            accepted.append(data[source].accepted[rows])
        yield normalize_pixels(torch.cat(pixels)), torch.cat(accepted)


def accepted_loss(logits: torch.Tensor, accepted: torch.Tensor, smoothing: float) -> torch.Tensor:
    """-log P(any accepted type), mixed with a little uniform smoothing."""
    log_p = F.log_softmax(logits, dim=1)
    hit = torch.logsumexp(log_p.masked_fill(~accepted, float("-inf")), dim=1)
    return (-(1 - smoothing) * hit - smoothing * log_p.mean(dim=1)).mean()


@torch.inference_mode()
def validate(net: KindNet, data: dict[str, Samples], device: str) -> dict:
    """Per validation set: share whose top-1 type is accepted, and the probability mass on accepted types."""
    net.eval()
    result = {}
    for name in ("val-photos", "val-street"):
        samples = data[name]
        top1, mass = [], []
        for start in range(0, len(samples), 64):
            pixels = samples.pixels[start : start + 64].permute(0, 3, 1, 2).float() / 255.0
            probabilities = torch.softmax(net(normalize_pixels(pixels).to(device)), 1).cpu()
            probabilities = (
                probabilities + torch.softmax(net(normalize_pixels(pixels.flip(-1)).to(device)), 1).cpu()
            ) / 2
            accepted = samples.accepted[start : start + 64]
            top1.append(accepted.gather(1, probabilities.argmax(1, keepdim=True)).float().squeeze(1))
            mass.append((probabilities * accepted).sum(1))
        result[name] = {
            "top1_accepted": round(float(torch.cat(top1).mean()), 4),
            "accepted_mass": round(float(torch.cat(mass).mean()), 4),
            "n": len(samples),
        }
    result["score"] = round((result["val-photos"]["top1_accepted"] + result["val-street"]["top1_accepted"]) / 2, 4)
    net.train()
    return result


def same_kind_of_run(state: Path, final: bool) -> None:
    """Refuse to resume a validated run's state as a --final run (or the other way round)."""
    if state.exists():
        saved = bool(torch.load(state, map_location="cpu", weights_only=False).get("final", False))
        if saved != final:
            raise SystemExit(
                f"{state} holds a {'--final' if saved else 'validated'} run; give this run its own --work folder."
            )


def validated_run(path: Path) -> dict:
    """What the validated run that chose this recipe measured (for a --final model's record and card)."""
    from core.checkpoints import load_payload

    record = load_payload(path, None, "garment-kind").get("record", {})
    return {
        "path": str(path),
        "command": record.get("command"),
        "split": record.get("split"),
        "best_epoch": record.get("best_epoch"),
        "epochs": len(record.get("history", [])),
        "before": record.get("before"),
        "metrics": record.get("metrics"),
        "scores": [h["validation"]["score"] for h in record.get("history", []) if h.get("validation")],
    }


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    config = TrainConfig(
        size=args.size,
        epochs=args.epochs,
        lr=args.lr,
        seed=args.seed,
        catalog_per_epoch=args.catalog_per_epoch,
        street_draws=args.street_draws,
    )
    torch.manual_seed(config.seed)
    work, device = Path(args.work), args.device_used
    encoder, encoder_record = load_checkpoint(Path(args.init))
    net = KindNet.from_encoder(encoder, config.size)
    data = load_data(args, net.article_types, config.size, work)
    if args.final:  # the recipe was chosen on the validation photos: now they train too
        data = {
            name: merged(data[name], data[f"val-{name}"]) if name in ("photos", "street") else s
            for name, s in data.items()
        }
        data = {name: s for name, s in data.items() if not name.startswith("val-")}
    print(", ".join(f"{name} {len(s)}" for name, s in data.items()), flush=True)
    patches = torch.from_numpy(street.background_patches(Path(args.street), 400, config.size, config.seed))
    patches = patches.permute(0, 3, 1, 2).contiguous()
    net = net.to(device).train()
    initial = validate(net, data, device) if not args.final else None  # the encoder's article head, at this size
    print("before fine-tuning:", json.dumps(initial), flush=True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    same_kind_of_run(work / "last.pt", args.final)
    start_epoch, history, generator = resume_or_start(work, net, optimizer, config.seed)
    steps = (
        len(data["photos"]) + street_draws(data, config) + min(config.catalog_per_epoch, len(data["catalog"]))
    ) // config.batch
    started = time.time() - (history[-1]["seconds"] if history else 0)
    for epoch in range(start_epoch, config.epochs):
        rng = np.random.default_rng(config.seed * 1000 + epoch)
        total = 0.0
        for step, (pixels, accepted) in enumerate(
            tqdm(
                batches(data, config, rng, generator, patches),
                total=steps,
                desc=f"epoch {epoch + 1}/{config.epochs}",
                mininterval=20,
            )
        ):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(
                    epoch * steps + step, steps * config.epochs, steps * config.epochs // 20, config.lr
                )
            loss = accepted_loss(net(pixels.to(device)), accepted.to(device), config.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        history.append(
            {
                "epoch": epoch + 1,
                "loss": round(total / steps, 4),
                "validation": validate(net, data, device) if not args.final else None,
                "seconds": round(time.time() - started, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        if args.final or history[-1]["validation"]["score"] >= max(h["validation"]["score"] for h in history):
            torch.save(net.state_dict(), work / "best.pt")
        save_state(
            work / "last.pt", net, optimizer, epoch + 1, history, generator=generator.get_state(), final=args.final
        )
    # the best validation (on a tie the later epoch, as best.pt); with --final the last epoch
    best = history[-1] if args.final else max(reversed(history), key=lambda h: h["validation"]["score"])
    net.load_state_dict(torch.load(work / "best.pt", map_location=device))
    record = {
        "version": VERSION,
        "init": f"{args.init} ({encoder_record.get('version', '?')}): the encoder's backbone, projection and article head",
        "data": {name: len(s) for name, s in data.items()},
        "sources": "clothing-photos training senders (labels -> catalog types, training/clothing_photos.py); "
        f"street-photos {STREET_TRAINING.start:04d}-{(STREET_VALIDATION if args.final else STREET_TRAINING).stop - 1:04d} "
        "garment crops (training/street.py); "
        "fashion-products outside the held-out split (core/split.py), packshots dressed as phone photos",
        "split": ("final: trained on the validation photos too (" if args.final else "validation: ")
        + f"clothing-photos training senders with sha256 bucket {VALIDATION_PERCENT.start}-"
        f"{VALIDATION_PERCENT.stop - 1}, street photos {STREET_VALIDATION.start:04d}-{STREET_VALIDATION.stop - 1:04d}"
        + (")" if args.final else ""),
        "command": "python -m training.train_kind " + " ".join(sys.argv[1:]),
        "trained_on": trained_on(device),
        "minutes": round(history[-1]["seconds"] / 60, 1) if history else 0,
        "train_config": asdict(config),
        "history": history,
        "before": initial,
        "best_epoch": best["epoch"],
        "metrics": best["validation"],
    }
    if args.final and args.validated:
        record["validated_run"] = validated_run(Path(args.validated))
    save_kind_model(net.cpu().eval(), Path(args.out), record)
    print(f"Saved {args.out} (epoch {best['epoch']}: {json.dumps(best['validation'])})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="fashion-products folder (styles.csv, images/)")
    parser.add_argument("--photos", required=True, help="clothing-photos folder (labels.csv, images/)")
    parser.add_argument("--street", required=True, help="street-photos folder (annotations/, photos/)")
    parser.add_argument("--init", default="assets/stylelens-small.pt", help="the encoder checkpoint to start from")
    parser.add_argument("--out", default="assets/garment-kind.pt")
    parser.add_argument(
        "--work", help="caches and resumable state (default data/training/kind, with --final data/training/kind-final)"
    )
    parser.add_argument("--size", type=int, default=TrainConfig.size, help="input side in pixels")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--catalog-per-epoch", type=int, default=TrainConfig.catalog_per_epoch)
    parser.add_argument(
        "--street-draws", type=float, default=TrainConfig.street_draws, help="street crops per epoch, x their number"
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N catalog rows (smoke run)")
    parser.add_argument(
        "--final", action="store_true", help="train on the validation photos too and ship the last epoch"
    )
    parser.add_argument("--validated", help="with --final: the validated run's checkpoint, named in the record")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    args = parser.parse_args(argv)
    args.device_used = pick_device(args.device)
    args.work = args.work or ("data/training/kind-final" if args.final else "data/training/kind")
    train(args)


if __name__ == "__main__":
    main()

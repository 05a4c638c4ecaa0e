"""Train the bundled StyleLens encoder ("stylelens-small") on the fashion-products catalog.

    python -m training.train_encoder --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --out assets/stylelens-small.pt

Image tower from scratch + projection of the frozen bundled MiniLM, trained with
    image<->caption contrastive loss + cosine-classifier losses on article type, colour group and gender
    (+ "any of these article types" on real photos: garment crops cut from street photos and people's own
    photos of clothes, `--photos`, whose labels map onto catalog types in training/clothing_photos.py).
Packshots are composited onto real and made-up backgrounds (training/augment.py). Products in the fixed
held-out split (core/split.py), street photos 641-804 and the held-out senders of the clothing photos are
never trained on. `--init` fine-tunes a shipped checkpoint instead of starting from scratch (the labels must
agree). Resumable: the state after each epoch is kept in --work; running the same command again continues
where it stopped. Seeded. Runs on a GPU when one is there (`--device auto`), else on the CPU.

    python -m training.train_encoder --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --photos ../shared/datasets/clothing-photos \
        --init assets/stylelens-small.pt --epochs 12 --lr 5e-4 --real-per-batch 48 \
        --work data/training/encoder-real --out assets/stylelens-small.pt
"""

from __future__ import annotations

import argparse
import json
import math
import random
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

from core.encoders.minilm import MiniLM
from core.encoders.stylelens import (
    Labels,
    StyleLensModel,
    TowerConfig,
    load_checkpoint,
    normalize_pixels,
    save_checkpoint,
)
from core.split import HELD_OUT_PERCENT, is_held_out
from training import augment, clothing_photos, street
from training.resume import pick_device, resume_or_start, save_state, trained_on

MIN_CLASS_ITEMS = 10  # article types rarer than this in the training split get no class of their own
GENDERS = ("Men", "Women", "Unisex")
GENDER_OF = {"Men": "Men", "Boys": "Men", "Women": "Women", "Girls": "Women", "Unisex": "Unisex"}
VERSION = "2"


@dataclass
class TrainConfig:
    epochs: int = 30
    catalog_per_batch: int = 104
    street_per_batch: int = 24  # real photos per step (street crops and people's own photos)
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    seed: int = 0
    clean_share: float = 0.2  # catalog samples shown as plain packshots (only mirrored)
    limit: int = 0  # >0: use only this many catalog rows (smoke runs)
    init: str = ""  # checkpoint fine-tuned from ("" = from scratch)


# ---- data ----------------------------------------------------------------------------------
def caption_variants(row: pd.Series) -> list[str]:
    """Ways people and the catalog describe one product; one is drawn per sample."""
    gender, kind, colour = row["gender"], row["articleType"], row["baseColour"]
    parts = [
        row["productDisplayName"],
        gender,
        kind,
        row["subCategory"],
        colour,
        row["colorgroup"],
        row["usage"],
        row["season"],
    ]
    full = ", ".join(dict.fromkeys(str(p) for p in parts if isinstance(p, str) and p))
    return [
        str(row["productDisplayName"]),
        full,
        f"{colour} {kind} for {gender}".lower(),
        f"{gender} {row['usage']} {kind} in {row['colorgroup']}",
    ]


def load_catalog_arrays(catalog_dir: Path, size: int, cache: Path, limit: int) -> dict:
    """Images (uint8), product masks, caption embeddings and labels, cached in the work folder."""
    if cache.exists():
        return torch.load(cache, weights_only=False)
    styles = pd.read_csv(catalog_dir / "styles.csv").fillna("")
    styles = styles[[(catalog_dir / "images" / f"{i}.jpg").exists() for i in styles["id"]]].reset_index(drop=True)
    if limit:
        styles = styles.head(limit)
    pictures = np.zeros((len(styles), size, size, 3), dtype=np.uint8)
    for row, product_id in enumerate(tqdm(styles["id"], desc="Reading catalog images")):
        image = Image.open(catalog_dir / "images" / f"{product_id}.jpg").convert("RGB")
        pictures[row] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    pixels = torch.from_numpy(pictures).permute(0, 3, 1, 2).contiguous()
    masks = torch.cat(
        [augment.white_background_mask(pixels[i : i + 512].float() / 255) for i in range(0, len(pixels), 512)]
    ).to(torch.uint8)
    texts = [caption_variants(row) for _, row in styles.iterrows()]
    flat = [t for variants in texts for t in variants]
    minilm = MiniLM()
    sentences = np.concatenate(
        [minilm.embed(flat[i : i + 512]) for i in tqdm(range(0, len(flat), 512), desc="Embedding captions")]
    )
    data = {
        "styles": styles,
        "pixels": pixels,
        "masks": masks,
        "sentences": torch.from_numpy(sentences).view(len(styles), 4, -1),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, cache)
    return data


def make_labels(styles: pd.DataFrame, train: np.ndarray, min_items: int = MIN_CLASS_ITEMS) -> Labels:
    counts = styles.loc[train, "articleType"].value_counts()
    kinds = tuple(sorted(counts[counts >= min_items].index))
    colours = tuple(sorted(c for c in styles["colorgroup"].unique() if c))
    return Labels(article_types=kinds, colours=colours, genders=GENDERS)


def encode_labels(styles: pd.DataFrame, labels: Labels) -> dict[str, torch.Tensor]:
    def codes(values, names):
        lookup = {name: i for i, name in enumerate(names)}
        return torch.tensor([lookup.get(v, -100) for v in values])

    return {
        "article": codes(styles["articleType"], labels.article_types),
        "colour": codes(styles["colorgroup"], labels.colours),
        "gender": codes([GENDER_OF.get(g, "") for g in styles["gender"]], labels.genders),
    }


def load_street(
    street_dir: Path | None, labels: Labels, size: int, cache: Path, photos_dir: Path | None = None
) -> dict:
    """Real photos with the catalog types they allow (pixels uint8 + allowed-class masks): street garment
    crops (training photos) and people's own photos of clothes (training senders); background patches."""
    if cache.exists():
        return torch.load(cache, weights_only=False)
    if street_dir is None:
        crops, patches = [], np.zeros((0, size, size, 3), np.uint8)
    else:
        crops = street.garment_crops(street_dir, street.TRAIN_PHOTOS)
        patches = street.background_patches(street_dir, 800, size, seed=0)
    index = {name: i for i, name in enumerate(labels.article_types)}
    allowed, pictures, sources = [], [], []

    def add(image: Image.Image, kinds: tuple[str, ...], source: str) -> None:
        row = torch.zeros(len(labels.article_types), dtype=torch.bool)
        for kind in kinds:
            if kind in index:
                row[index[kind]] = True
        if row.any():
            allowed.append(row)
            pictures.append(np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)))
            sources.append(source)

    for crop in crops:
        add(crop.image, street.STREET_TO_CATALOG[crop.label], "street")
    if photos_dir is not None:
        training_photos, _ = clothing_photos.split(clothing_photos.read_photos(photos_dir))
        for photo in tqdm(training_photos, desc="Reading clothing photos"):
            with Image.open(photo.path) as image:
                add(image, photo.article_types, "clothing-photos")
    data = {
        "pixels": torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()
        if pictures
        else torch.zeros(0, 3, size, size, dtype=torch.uint8),
        "allowed": torch.stack(allowed) if allowed else torch.zeros(0, len(labels.article_types), dtype=torch.bool),
        "patches": torch.from_numpy(patches).permute(0, 3, 1, 2).contiguous(),
        "sources": sources,
    }
    torch.save(data, cache)
    return data


# ---- losses --------------------------------------------------------------------------------
def contrastive_loss(images: torch.Tensor, texts: torch.Tensor, log_temperature: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over the batch (CLIP): image i belongs with caption i."""
    logits = images @ texts.T * log_temperature.exp().clamp(max=100)  # [B, B]
    target = torch.arange(len(images), device=images.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def labelled_loss(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Cross-entropy over the rows that have a label (-100: none); 0 when no row has one."""
    if not bool((target >= 0).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, ignore_index=-100, label_smoothing=smoothing)


def any_of_loss(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """-log P(any allowed class): for labels like "sneakers" that fit several catalog article types."""
    masked = logits.masked_fill(~allowed, float("-inf"))
    return (torch.logsumexp(logits, dim=1) - torch.logsumexp(masked, dim=1)).mean()


# ---- training ------------------------------------------------------------------------------
def initial_model(tower: TowerConfig, labels: Labels, init: str) -> StyleLensModel:
    """A fresh model, or the weights of the checkpoint `init` (whose labels must be these labels)."""
    if not init:
        return StyleLensModel(tower, labels)
    model, _ = load_checkpoint(Path(init))
    if model.labels != labels or model.config != tower:
        raise SystemExit(f"{init} was built with other labels or another tower; train from scratch instead.")
    return model.train()


def previous_history(init: str) -> list:
    return load_checkpoint(Path(init))[1].get("history", []) if init else []


def training_step(
    model: StyleLensModel, batch: dict, generator: torch.Generator, config: TrainConfig, device: str = "cpu"
) -> dict:
    """Augment on the CPU (seeded generator), then one forward pass on `device`."""
    catalog = batch["pixels"].float() / 255
    shot = augment.phone_photo_like(catalog, batch["masks"].float(), batch["patches"], generator)
    clean = torch.rand(len(catalog), 1, 1, 1, generator=generator) < config.clean_share
    catalog = torch.where(clean, torch.flip(catalog, dims=[3]), shot)
    street_pixels = batch["street"].float() / 255
    if len(street_pixels):
        moved, _ = augment.random_affine(street_pixels, torch.ones_like(street_pixels[:, :1]), generator, 8.0)
        street_pixels = augment.photometric(moved, generator)
    pixels = normalize_pixels(torch.cat([catalog, street_pixels])).to(device)
    batch = {k: v.to(device) for k, v in batch.items() if k in ("sentences", "article", "colour", "gender", "allowed")}
    embeddings = model.image(pixels)
    ours, theirs = embeddings[: len(catalog)], embeddings[len(catalog) :]
    texts = model.text(batch["sentences"])
    heads = model.image.heads(ours)
    losses = {
        "contrastive": contrastive_loss(ours, texts, model.log_temperature),
        "article": labelled_loss(heads["article"], batch["article"], 0.1),
        "colour": 0.5 * labelled_loss(heads["colour"], batch["colour"], 0.1),
        "gender": 0.5 * labelled_loss(heads["gender"], batch["gender"], 0.1),
        "text_article": 0.5 * labelled_loss(model.image.article_head(texts), batch["article"], 0.0),
    }
    if len(theirs):
        losses["street"] = any_of_loss(model.image.article_head(theirs), batch["allowed"])
    return losses


def batches(
    data: dict, street_data: dict, train_rows: np.ndarray, config: TrainConfig, rng: np.random.Generator, codes: dict
):
    order = rng.permutation(train_rows)
    street_count = len(street_data["pixels"])
    for start in range(0, len(order) - config.catalog_per_batch + 1, config.catalog_per_batch):
        rows = torch.from_numpy(order[start : start + config.catalog_per_batch])
        variant = torch.from_numpy(rng.choice(4, size=len(rows), p=[0.5, 0.2, 0.15, 0.15]))
        picks = (
            torch.from_numpy(rng.integers(0, street_count, config.street_per_batch))
            if street_count
            else torch.zeros(0, dtype=torch.long)
        )
        patches = street_data["patches"] if len(street_data["patches"]) else data["pixels"][:1] * 0 + 200
        yield {
            "pixels": data["pixels"][rows],
            "masks": data["masks"][rows],
            "sentences": data["sentences"][rows, variant],
            "article": codes["article"][rows],
            "colour": codes["colour"][rows],
            "gender": codes["gender"][rows],
            "patches": patches,
            "street": street_data["pixels"][picks],
            "allowed": street_data["allowed"][picks],
        }


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    config = TrainConfig(
        epochs=args.epochs,
        seed=args.seed,
        limit=args.limit,
        catalog_per_batch=args.batch,
        street_per_batch=args.real_per_batch or max(1, args.batch * 3 // 13),
        lr=args.lr,
        warmup_epochs=args.warmup_epochs,
        init=args.init or "",
    )
    random.seed(config.seed), np.random.seed(config.seed), torch.manual_seed(config.seed)
    work = Path(args.work)
    tower = TowerConfig()
    data = load_catalog_arrays(Path(args.catalog), tower.image_size, work / "catalog-cache.pt", config.limit)
    styles = data["styles"]
    held_out = styles["id"].map(is_held_out).to_numpy()
    train_rows = np.flatnonzero(~held_out)
    labels = make_labels(styles, train_rows, args.min_class_items)
    codes = encode_labels(styles, labels)
    street_data = load_street(
        Path(args.street) if args.street else None,
        labels,
        tower.image_size,
        work / "street-cache.pt",
        Path(args.photos) if args.photos else None,
    )
    sources = street_data.get("sources", ["street"] * len(street_data["pixels"]))
    print(
        f"{len(train_rows)} training products, {held_out.sum()} held out, {sources.count('street')} street "
        f"crops, {sources.count('clothing-photos')} clothing photos, {len(labels.article_types)} article types",
        flush=True,
    )

    model = initial_model(tower, labels, config.init).to(args.device_used)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state_path = work / "last.pt"
    start_epoch, history, generator = resume_or_start(work, model, optimizer, config.seed)

    steps_per_epoch = len(train_rows) // config.catalog_per_batch
    total, warmup = steps_per_epoch * config.epochs, int(steps_per_epoch * config.warmup_epochs)
    started = time.time() - (history[-1]["seconds"] if history else 0)  # a resumed run counts all its time
    for epoch in range(start_epoch, config.epochs):
        model.train()
        rng = np.random.default_rng(config.seed * 1000 + epoch)
        sums: dict[str, float] = {}
        bar = tqdm(
            batches(data, street_data, train_rows, config, rng, codes),
            total=steps_per_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            mininterval=10,
        )
        for step, batch in enumerate(bar):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(epoch * steps_per_epoch + step, total, warmup, config.lr)
            losses = training_step(model, batch, generator, config, args.device_used)
            loss = sum(losses.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        history.append(
            {
                "epoch": epoch + 1,
                **{k: round(v / steps_per_epoch, 4) for k, v in sums.items()},
                "seconds": round(time.time() - started, 1),
            }
        )
        print(json.dumps(history[-1]), flush=True)
        save_state(state_path, model, optimizer, epoch + 1, history, generator=generator.get_state())

    photos_part = (
        f"; clothing-photos of the training senders ({sources.count('clothing-photos')} photos, labels "
        "mapped by training/clothing_photos.py)"
        if args.photos
        else ""
    )
    record = {
        "version": VERSION,
        "data": f"fashion-products styles.csv + images ({len(train_rows)} training products of {len(styles)}); "
        f"street-photos pixel-level annotations, photos {street.TRAIN_PHOTOS.start:04d}-"
        f"{street.TRAIN_PHOTOS.stop - 1:04d} ({sources.count('street')} garment crops){photos_part}; "
        "background patches of street photos (training/street.py background_patches)",
        "split": f"held out: sha256(product id) mod 100 < {HELD_OUT_PERCENT} ({int(held_out.sum())} products, "
        f"core/split.py); street photos {street.EVAL_PHOTOS.start:04d}-{street.EVAL_PHOTOS.stop - 1:04d}; "
        f"clothing-photos senders in training/{clothing_photos.SPLIT_FILE.name}",
        "trained_on": trained_on(args.device_used),
        "fine_tuned_from": config.init or None,
        "previous_history": previous_history(config.init),
        "command": "python -m training.train_encoder " + " ".join(sys.argv[1:]),
        "train_config": asdict(config),
        "history": history,
    }
    save_checkpoint(model.cpu().eval(), Path(args.out), record)
    print(f"Saved {args.out}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="folder with styles.csv and images/")
    parser.add_argument("--street", help="street-photos folder (annotations/, photos/); optional")
    parser.add_argument("--photos", help="clothing-photos folder (labels.csv, images/): people's own photos; optional")
    parser.add_argument("--init", help="fine-tune this StyleLens checkpoint instead of starting from scratch")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr, help="peak learning rate")
    parser.add_argument("--warmup-epochs", type=float, default=TrainConfig.warmup_epochs)
    parser.add_argument("--real-per-batch", type=int, default=0, help="real photos per step (default: 3/13 of --batch)")
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu or cuda")
    parser.add_argument("--out", default="assets/stylelens-small.pt")
    parser.add_argument("--work", default="data/training/encoder", help="caches and resumable state")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=TrainConfig.catalog_per_batch, help="catalog products per step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--min-class-items",
        type=int,
        default=MIN_CLASS_ITEMS,
        help="article types with fewer training products get no class of their own",
    )
    parser.add_argument("--limit", type=int, default=0, help="use only the first N catalog rows (smoke run)")
    args = parser.parse_args(argv)
    args.device_used = pick_device(args.device)
    train(args)


if __name__ == "__main__":
    main()

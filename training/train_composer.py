"""Train the FashionVLP-style composer on feedback triplets made from the catalog.

    python -m training.train_composer --catalog ../shared/datasets/fashion-products --out assets/composer-small.pt

Steps (each cached in --work, so a rerun continues): encode the catalog with the bundled encoder
(spatial tokens, image embeddings, served catalog vectors, garment lightness); generate triplets with
training/triplets.py from training-split references and targets only; embed their feedback texts with
MiniLM (contextual tokens) and the encoder's text tower; train with the batch-based classification
loss (each composed query must pick its own target among the batch's targets). Seeded, resumable.
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
import torch
import torch.nn.functional as F
from tqdm import tqdm

from core.composer import Composer, ComposerConfig, save_composer
from core.encoders import load_encoder
from core.garment_features import lightness
from core.images import load_image
from core.ingest import read_catalog
from core.split import is_held_out
from training.resume import load_state, save_state
from training.triplets import FAMILY, Item, TripletMaker, gender_of, pattern_of, read_attributes

VERSION = "1"


@dataclass
class TrainConfig:
    epochs: int = 10
    batch: int = 256
    lr: float = 5e-4
    weight_decay: float = 0.01
    temperature: float = 0.05
    per_reference: int = 8
    seed: int = 0


def composer_config(encoder) -> ComposerConfig:
    """The composer's input sizes follow the encoder it composes for."""
    tower = encoder.model.config
    return ComposerConfig(
        image_dim=tower.widths[-1],
        image_tokens=(tower.image_size // 32) ** 2,
        text_dim=encoder.text_encoder.dim,
        embed_dim=tower.embed_dim,
    )


def encode_catalog(encoder, catalog: Path, cache: Path) -> dict:
    """Tokens, image embeddings, served catalog vectors and lightness of every product (cached)."""
    if cache.exists():
        return torch.load(cache, weights_only=False)
    rows, _ = read_catalog(catalog / "images", catalog / "styles.csv")
    products, tokens, vectors, served, light = [], [], [], [], []
    for start in tqdm(range(0, len(rows), 64), desc="Encoding the catalog"):
        chunk = rows[start : start + 64]
        images = [load_image(r.image_path) for r in chunk]
        grid, embedding = encoder.image_tokens(images)
        tokens.append(grid.half())
        vectors.append(embedding)
        served.append(torch.from_numpy(encoder.embed_catalog(images, [r.product.caption for r in chunk])))
        light.extend(lightness(image) for image in images)
        products.extend(r.product for r in chunk)
    data = {
        "products": products,
        "tokens": torch.cat(tokens),
        "vectors": torch.cat(vectors),
        "served": torch.cat(served),
        "lightness": light,
        "encoder": encoder.model_key,
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, cache)
    return data


def catalog_items(data: dict, attributes: dict | None = None) -> list[Item]:
    """Items of the encoded catalog; `attributes` (training.triplets.read_attributes) gives sleeves and length."""
    attributes = attributes or {}
    return [
        Item(
            id=p.id,
            gender=gender_of(p.gender),
            article_type=p.article_type,
            family=FAMILY.get(p.sub_category, ""),
            colour_group=p.colour_group,
            usage=p.usage,
            pattern=pattern_of(p.name),
            lightness=float(light),
            held_out=is_held_out(p.id),
            sleeves=attributes.get(p.id, (None, None))[0],
            length=attributes.get(p.id, (None, None))[1],
        )
        for p, light in zip(data["products"], data["lightness"])
    ]


def make_triplets(
    items: list[Item],
    vectors: torch.Tensor,
    references: list[Item],
    candidates: np.ndarray,
    per_reference: int,
    seed: int,
) -> list:
    maker = TripletMaker(items, {item.id: v.numpy() for item, v in zip(items, vectors)}, seed=seed)
    triplets = []
    for ref in tqdm(references, desc="Making triplets"):
        for _ in range(per_reference):
            triplet = maker.triplet(ref, candidates)
            if triplet is not None:
                triplets.append(triplet)
    return triplets


def embed_texts(encoder, texts: list[str], max_tokens: int) -> dict:
    tokens, masks, sentences = [], [], []
    for start in tqdm(range(0, len(texts), 256), desc="Embedding feedback"):
        chunk = texts[start : start + 256]
        hidden, mask = encoder.text_tokens(chunk, max_tokens)
        padded = torch.zeros(len(chunk), max_tokens, hidden.shape[2], dtype=torch.float16)
        padded[:, : hidden.shape[1]] = hidden.half()
        full_mask = torch.zeros(len(chunk), max_tokens, dtype=torch.bool)
        full_mask[:, : mask.shape[1]] = mask
        tokens.append(padded)
        masks.append(full_mask)
        sentences.append(torch.from_numpy(encoder.embed_texts(chunk)))
    return {"tokens": torch.cat(tokens), "masks": torch.cat(masks), "sentences": torch.cat(sentences)}


def batch_loss(
    model: Composer,
    data: dict,
    texts: dict,
    refs: torch.Tensor,
    targets: torch.Tensor,
    sentences: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Batch-based classification: query i must score its own target above the other targets in the batch."""
    query = model(
        data["tokens"][refs].float(),
        data["vectors"][refs],
        texts["tokens"][sentences].float(),
        texts["masks"][sentences],
        texts["sentences"][sentences],
    )
    target = data["served"][targets]  # [B, D]
    logits = query @ target.T / temperature
    same = targets[:, None] == targets[None, :]  # duplicates of a target in the batch are not negatives
    logits = logits.masked_fill(same & ~torch.eye(len(targets), dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(targets)))


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    config = TrainConfig(epochs=args.epochs, seed=args.seed, per_reference=args.per_reference, batch=args.batch)
    random.seed(config.seed), np.random.seed(config.seed), torch.manual_seed(config.seed)
    work = Path(args.work)
    encoder = load_encoder(args.encoder)
    data = encode_catalog(encoder, Path(args.catalog), work / "catalog.pt")
    if data["encoder"] != encoder.model_key:
        raise SystemExit(f"{work / 'catalog.pt'} was made with {data['encoder']}; delete it or use that encoder.")
    items = catalog_items(data, read_attributes(Path(args.catalog), work / "attributes.json"))
    train_mask = np.array([not i.held_out for i in items])
    references = [i for i in items if not i.held_out]
    triplet_cache = work / "triplets.pt"
    if triplet_cache.exists():
        triplets, texts = torch.load(triplet_cache, weights_only=False)
    else:
        triplets = make_triplets(items, data["vectors"], references, train_mask, config.per_reference, config.seed)
        unique = sorted({t.text for t in triplets})
        texts = {"text": unique, **embed_texts(encoder, unique, composer_config(encoder).max_text_tokens)}
        torch.save((triplets, texts), triplet_cache)
    row_of = {item.id: row for row, item in enumerate(items)}
    sentence_of = {text: row for row, text in enumerate(texts["text"])}
    refs = torch.tensor([row_of[t.ref_id] for t in triplets])
    targets = torch.tensor([row_of[t.target_id] for t in triplets])
    sentences = torch.tensor([sentence_of[t.text] for t in triplets])
    print(
        f"{len(triplets)} triplets from {len(references)} training references, {len(texts['text'])} distinct "
        "feedback texts",
        flush=True,
    )

    model = Composer(composer_config(encoder))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    state_path, start_epoch, history = work / "last.pt", 0, []
    state = load_state(state_path, model, optimizer)
    if state:
        start_epoch, history = state["epoch"], state["history"]
    steps = len(triplets) // config.batch
    total = steps * config.epochs
    started = time.time() - (history[-1]["seconds"] if history else 0)  # a resumed run counts all its time
    for epoch in range(start_epoch, config.epochs):
        model.train()
        order = torch.from_numpy(np.random.default_rng(config.seed * 100 + epoch).permutation(len(triplets)))
        running = 0.0
        bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{config.epochs}", mininterval=5)
        for step in bar:
            progress = (epoch * steps + step) / max(1, total)
            for group in optimizer.param_groups:
                group["lr"] = (
                    config.lr * min(1.0, (epoch * steps + step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * progress))
                )
            pick = order[step * config.batch : (step + 1) * config.batch]
            loss = batch_loss(model, data, texts, refs[pick], targets[pick], sentences[pick], config.temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += float(loss.detach())
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        history.append(
            {"epoch": epoch + 1, "loss": round(running / max(1, steps), 4), "seconds": round(time.time() - started, 1)}
        )
        print(json.dumps(history[-1]), flush=True)
        save_state(state_path, model, optimizer, epoch + 1, history)

    record = {
        "version": VERSION,
        "encoder": encoder.model_key,
        "data": f"{len(triplets)} triplets generated from {len(references)} training-split products of "
        f"{len(items)} (training/triplets.py); targets from the training split only",
        "split": "references and targets exclude the held-out ids of core/split.py",
        "command": "python -m training.train_composer " + " ".join(sys.argv[1:]),
        "train_config": asdict(config),
        "history": history,
    }
    save_composer(model.eval(), Path(args.out), record)
    print(f"Saved {args.out}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="folder with styles.csv and images/")
    parser.add_argument("--encoder", default="stylelens-small")
    parser.add_argument("--out", default="assets/composer-small.pt")
    parser.add_argument("--work", default="data/training/composer")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--per-reference", type=int, default=TrainConfig.per_reference)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=TrainConfig.batch)
    parser.add_argument("--threads", type=int, default=2)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()

"""Train the re-ranker (core/rerank.py) on first-stage candidate lists of training-split references.

    python -m training.train_reranker --catalog ../shared/datasets/fashion-products --out assets/reranker-small.pt

Lists: generated feedback queries (training/triplets.py, as in benchmarks/make_feedback_queries.py) run
through the served composed search, and image queries (a reference's photo; relevant = same article
type and colour group) run through image search; the top --depth candidates of each. References and
candidates from the held-out split (core/split.py) are left out, so the benchmark's references are never
trained on. Garment features come from the catalog (stored at import: `python -m core prepare` computes
missing ones). Loss: pairwise (RankNet) within each list. The lists are cached under --work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.config import load_settings
from core.engine import StyleLens, read_feedback, wish_for
from core.garment_features import EXTRACTOR_VERSION, GarmentFeatures
from core.rerank import FEATURE_NAMES, Query, Reranker, colour_lab, pair_features, pairwise_loss, save_reranker
from core.split import is_held_out


def catalog_features(engine: StyleLens) -> dict[int, GarmentFeatures]:
    if engine.catalog.ids_without_features(EXTRACTOR_VERSION):
        engine.update_features()
    return {i: GarmentFeatures.from_doc(d) for i, d in engine.catalog.all_features().items()}


def colour_prototypes(engine: StyleLens, features: dict[int, GarmentFeatures]) -> dict[str, np.ndarray]:
    """Each colour group's typical main colour (mean L*a*b* over training-split products of that group)."""
    groups: dict[str, list[np.ndarray]] = {}
    for product in engine.catalog.browse(limit=10**7):
        if product.colour_group and product.id in features and not is_held_out(product.id):
            groups.setdefault(product.colour_group, []).append(colour_lab(features[product.id]))
    return {group: np.mean(labs, axis=0) for group, labs in groups.items() if len(labs) >= 5}


def feedback_queries(catalog: Path, count: int, seed: int, attributes_cache: Path | None = None) -> list[dict]:
    """Generated feedback queries whose references are in the training split (sleeve and length requests read
    against the reference's attributes, as the app reads them)."""
    from training.triplets import TripletMaker, catalog_items, read_attributes

    items = catalog_items(catalog, read_attributes(catalog, attributes_cache))
    maker = TripletMaker(items, {}, seed=seed)
    references = [i for i in items if not i.held_out]
    order = np.random.default_rng(seed).permutation(len(references))
    queries = []
    for index in order:
        triplet = maker.triplet(references[index])
        if triplet is not None:
            queries.append(triplet.to_query())
        if len(queries) == count:
            break
    return queries


def lists(
    engine: StyleLens,
    queries: list[dict],
    features: dict[int, GarmentFeatures],
    prototypes: dict[str, np.ndarray],
    depth: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rows [Q, depth, F], relevant [Q, depth], mask [Q, depth] for the first stage's top `depth`."""
    rows = np.zeros((len(queries), depth, len(FEATURE_NAMES)), dtype=np.float32)
    relevant = np.zeros((len(queries), depth), dtype=np.float32)
    mask = np.zeros((len(queries), depth), dtype=np.float32)
    for q, spec in enumerate(tqdm(queries, desc="First-stage lists")):
        hits, prior = first_stage(engine, spec, depth)
        hits = [h for h in hits if not is_held_out(h.product.id)]
        query = query_of(spec, features, type_prior=prior)
        wanted = set(spec["relevant_ids"])
        for position, hit in enumerate(hits):
            rows[q, position] = pair_features(
                query,
                features.get(hit.product.id),
                hit.score,
                hits[0].score,
                position,
                depth,
                prototypes,
                hit.product.article_type,
            )
            relevant[q, position] = hit.product.id in wanted
            mask[q, position] = 1
    return rows, relevant, mask


def first_stage(engine: StyleLens, spec: dict, depth: int) -> tuple[list, dict[str, float]]:
    """The served search's top `depth` for a spec, and the query photo's type prior (image queries)."""
    if spec.get("text"):
        return engine.search_composed(spec["text"], ref_id=spec["ref_id"], k=depth).hits, {}
    product = engine.catalog.get([spec["ref_id"]])[0]
    result = engine.search_image(engine.image_path(product), depth + 1)
    return [h for h in result.hits if h.product.id != product.id], result.photo.type_prior


def query_of(
    spec: dict,
    features: dict[int, GarmentFeatures],
    article_type: str | None = None,
    type_prior: dict[str, float] | None = None,
) -> Query:
    """The re-ranker's query for a training / evaluation spec, as the engine builds it (sleeve and length
    requests read against the reference's stored features, on the scale of `article_type`)."""
    feedback = read_feedback(spec["text"])[0] if spec.get("text") else None
    reference = features.get(spec["ref_id"])
    kind = (feedback.article_type if feedback else None) or article_type
    return Query(feedback, reference, wish_for(feedback, kind, reference), type_prior or {})


def image_queries(engine: StyleLens, count: int, seed: int, held_out: bool = False) -> list[dict]:
    """A reference's own photo as the query; relevant = the same article type and colour group."""
    everything = engine.catalog.browse(limit=10**7)
    products = [p for p in everything if is_held_out(p.id) == held_out and p.colour_group]
    by_kind: dict[tuple[str, str], list[int]] = {}
    for p in everything:
        by_kind.setdefault((p.article_type, p.colour_group), []).append(p.id)
    rng = np.random.default_rng(seed)
    chosen = [products[i] for i in rng.permutation(len(products))[:count]]
    return [
        {
            "ref_id": p.id,
            "text": "",
            "kind": "image",
            "relevant_ids": [i for i in by_kind[(p.article_type, p.colour_group)] if i != p.id],
        }
        for p in chosen
    ]


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    started = time.time()
    engine = StyleLens.open(load_settings())
    features = catalog_features(engine)
    prototypes = colour_prototypes(engine, features)
    work = Path(args.work)
    cache = work / f"lists-{args.feedback}-{args.images}-{args.depth}.npz"
    if cache.exists():
        saved = np.load(cache)
        rows, relevant, mask = saved["rows"], saved["relevant"], saved["mask"]
    else:
        queries = feedback_queries(Path(args.catalog), args.feedback, args.seed, work / "attributes.json")
        queries += image_queries(engine, args.images, args.seed)
        rows, relevant, mask = lists(engine, queries, features, prototypes, args.depth)
        work.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, rows=rows, relevant=relevant, mask=mask)
    useful = (relevant * mask).sum(axis=1) > 0  # lists with something to learn from
    x, y, m = (torch.from_numpy(a[useful]) for a in (rows, relevant, mask))
    print(f"{len(x)} lists with a relevant candidate (of {len(rows)})", flush=True)
    model = Reranker(len(FEATURE_NAMES), args.hidden)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    history = []
    generator = torch.Generator().manual_seed(0)
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for i in range(0, len(order), args.batch):
            batch = order[i : i + args.batch]
            loss = pairwise_loss(model(x[batch]), y[batch], m[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        history.append(round(total / len(order), 4))
        print(f"epoch {epoch + 1}: pairwise loss {history[-1]}", flush=True)
    record = {
        "data": {
            "lists": int(len(rows)),
            "with_relevant": int(useful.sum()),
            "feedback_queries": args.feedback,
            "image_queries": args.images,
            "depth": args.depth,
            "extractor": EXTRACTOR_VERSION,
        },
        "encoder": engine.encoder.model_key,
        "first_stage_method": engine.best_method(),
        "command": "python -m training.train_reranker "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "config": vars(args),
        "loss_per_epoch": history,
        "minutes": round((time.time() - started) / 60, 1),
    }
    save_reranker(Path(args.out), model, prototypes, record)
    print(json.dumps(record, indent=2))
    print(f"Saved {args.out}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", required=True, help="catalog folder (images/, styles.csv) for the triplets")
    parser.add_argument("--out", default="assets/reranker-small.pt")
    parser.add_argument("--work", default="data/training/reranker")
    parser.add_argument("--feedback", type=int, default=4000, help="feedback queries")
    parser.add_argument("--images", type=int, default=2000, help="image queries")
    parser.add_argument("--depth", type=int, default=100, help="first-stage candidates re-ranked")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=7)
    train(parser.parse_args(argv))


if __name__ == "__main__":
    main()

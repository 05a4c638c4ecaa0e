"""FAISS against Milvus on the real catalog: the same top-10 for the same queries, build time and query latency.

    python benchmarks/backends.py [--queries 200] [--milvus-uri data/benchmarks/milvus.db] [--size 100000] \
        --out data/benchmarks/backends.json

Uses the catalog and encoder of the current settings (the vectors stored in MongoDB). Queries: text
embeddings of held-out products' captions and held-out products' own image vectors, unfiltered and filtered
(the product's gender; its sub-category). Overlap@10 = |top-10 Milvus ∩ top-10 FAISS| / 10, both exact
(FLAT) indexes. Milvus here is Milvus Lite (a local file); a Milvus server speaks the same client API.
`--size N` grows both indexes to N vectors with clones of the real products (new ids, vectors perturbed as
benchmarks/scale.py does), so a larger collection is measured without a larger database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.scale import CLONE_BASE, perturbed
from core.config import load_settings
from core.engine import StyleLens
from core.index import SearchFilter, VectorIndex
from core.milvus_index import MilvusIndex
from core.split import is_held_out


def timed(search, query, where) -> tuple[list[int], float]:
    started = time.perf_counter()
    found = [n.id for n in search(query, 10, where)]
    return found, (time.perf_counter() - started) * 1000


def with_clones(products: list, vectors: np.ndarray, size: int) -> tuple[list, np.ndarray]:
    """The real products followed by clones up to `size` (ids from CLONE_BASE, vectors perturbed)."""
    rng = np.random.default_rng(0)
    rows = np.arange(size - len(products)) % len(products)
    clones = [replace(products[r], id=CLONE_BASE + i) for i, r in enumerate(rows)]
    return products + clones, np.concatenate([vectors, perturbed(vectors[rows], rng)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--milvus-uri", default="data/benchmarks/milvus.db")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/backends.json"))
    parser.add_argument("--size", type=int, default=0, help="grow both indexes to this many vectors with clones")
    args = parser.parse_args()
    engine = StyleLens.open(load_settings())
    products, vectors = engine.catalog.embeddings(engine.encoder.model_key)
    if args.size > len(products):
        products, vectors = with_clones(products, vectors, args.size)
    state = engine.catalog.state()
    started = time.perf_counter()
    faiss_index = VectorIndex.build(products, vectors, engine.encoder.model_key, state)
    faiss_seconds = time.perf_counter() - started
    Path(args.milvus_uri).parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    milvus_index = MilvusIndex.build_in(args.milvus_uri, products, vectors, engine.encoder.model_key, state)
    milvus_seconds = time.perf_counter() - started
    held = [(p, v) for p, v in zip(products, vectors) if is_held_out(p.id)][: args.queries]
    texts = engine.encoder.embed_texts([p.caption for p, _ in held])
    third = SearchFilter(ids=tuple(p.id for p in products[::3]))
    report: dict = {
        "products": len(products),
        "queries": len(held),
        "build_seconds": {"faiss": round(faiss_seconds, 2), "milvus": round(milvus_seconds, 2)},
        "runs": {},
    }
    for kind, queries in (("text", list(texts)), ("image", [v for _, v in held])):
        for name, make in (
            ("none", lambda p: SearchFilter()),
            ("gender", lambda p: SearchFilter.make(p.gender)),
            ("sub_category", lambda p: SearchFilter.make(category=p.sub_category)),
            ("a_third_by_id", lambda p: third),  # a sleeve / length choice: an id list too long for one expression
        ):
            overlaps, faiss_ms, milvus_ms = [], [], []
            for (product, _), query in zip(held, queries):
                where = make(product)
                ours, ms = timed(milvus_index.search, query, where)
                theirs, fms = timed(faiss_index.search, query, where)
                overlaps.append(len(set(ours) & set(theirs)) / max(1, len(theirs)))
                milvus_ms.append(ms)
                faiss_ms.append(fms)
            report["runs"][f"{kind}/{name}"] = {
                "overlap@10": round(statistics.mean(overlaps), 4),
                "milvus_p50_ms": round(statistics.median(milvus_ms), 2),
                "milvus_p95_ms": round(sorted(milvus_ms)[int(0.95 * len(milvus_ms)) - 1], 2),
                "faiss_p50_ms": round(statistics.median(faiss_ms), 2),
            }
            print(kind, name, report["runs"][f"{kind}/{name}"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["build_seconds"]))


if __name__ == "__main__":
    main()

"""How StyleLens holds up from ten thousand to a million products on one machine.

    python benchmarks/scale.py --catalog ../shared/datasets/fashion-products --sizes 10000 100000 1000000 \
        [--database-up-to 10000] [--work data/scale] [--queries 100] [--out docs/scale.json] [--plot docs/scale.png]

1. Imports the real catalog (images + styles.csv) into an embedded database under --work, through the app's
   own import (embedding, garment features, one index build): the import throughput on real images.
2. For each size, ascending, grows that catalog to the size with clones of the real products (new ids, their
   stored vectors perturbed so every clone is distinct, features copied, images referenced, not copied).
3. Measures, each in a fresh process where it matters: the full index build (reading every vector from
   MongoDB, building, saving) and its peak memory; an index update after 100 products change; cold start of a
   serving process (open, load the index, first query) and its peak memory; status (the Home page's call).
   Then in this process, end to end through the engine: text, photo and composed-feedback queries,
   unfiltered and filtered (gender; gender + sub-category), p50/p95; the re-rank step; recall@10 of the
   index against exact search for the same query vectors and filters.
Sizes above --database-up-to are measured with the index at that size over the database at its largest: the
index holds that many vectors (the database's products' vectors, cloned and perturbed, their ids repeated, so
every hit is a real product to fetch and re-rank), built, saved, loaded and searched end to end as above.
The embedded database (SecantusDB, a pure-Python MongoDB-protocol server) needed 14 GB of memory for 100k products
on this 24 GB machine and could not hold a million; a real MongoDB (MONGO_URI) holds them in about 2 GB.
Writes a JSON report and a PNG plot of latency and memory against catalog size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CLONE_BASE = 10_000_000  # clone ids start here (the real catalog's are below)
CLONE_BATCH = 5_000
NOISE = float(os.environ.get("SCALE_NOISE", "0.25"))  # norm of the perturbation added to a clone's vector:
# 0.25 puts it at cosine 0.97 from its original, as close as a real product's nearest neighbour (median 0.974)
FILTERS = ("none", "gender", "gender+sub_category")


def engine_for(work: Path):
    """The app's engine on the benchmark's own embedded database under `work`."""
    os.environ["STYLELENS_DATA_DIR"] = str(work.resolve())
    for name in ("MONGO_URI", "VECTOR_BACKEND", "ENCODER_NAME"):
        os.environ.pop(name, None)
    from core.config import load_settings
    from core.engine import StyleLens

    return StyleLens.open(load_settings())


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[max(0, int(round(0.95 * len(ordered))) - 1)], 2),
        "n": len(ordered),
    }


# ---- children: measured in a fresh process -------------------------------------------------------------
def child_build(work: Path) -> dict:
    engine = engine_for(work)
    engine.index_path.unlink(missing_ok=True)
    started = time.perf_counter()
    index = engine.index()
    seconds = time.perf_counter() - started
    return {
        "build_s": round(seconds, 2),
        "build_peak_mb": round(peak_mb()),
        "index_type": index.manifest.index_type,
        "lists": index.manifest.lists,
        "nprobe": index.manifest.nprobe,
        "tuned_recall": index.manifest.tuned_recall,
        "index_file_mb": round(engine.index_path.stat().st_size / 2**20),
    }


def child_update(work: Path) -> dict:
    """100 products change (new vectors); the next query catches the index up from the change log."""
    engine = engine_for(work)
    engine.index()
    model = engine.encoder.model_key
    ids = list(range(CLONE_BASE, CLONE_BASE + 100))
    products, vectors = engine.catalog.embeddings_of(ids, model)
    rng = np.random.default_rng(int(time.time()))
    engine.catalog.upsert(products, perturbed(vectors, rng), model)
    started = time.perf_counter()
    engine.index()
    return {"update_100_s": round(time.perf_counter() - started, 2), "updated_in_place": engine.updates == 1}


def child_serve(work: Path) -> dict:
    started = time.perf_counter()
    engine = engine_for(work)
    engine.index()
    loaded = time.perf_counter()
    engine.search_text("red summer dress", k=10)
    first = time.perf_counter()
    times = []
    for _ in range(5):
        began = time.perf_counter()
        status = engine.status()
        times.append((time.perf_counter() - began) * 1000)
    return {
        "cold_start_s": round(first - started, 2),
        "index_load_s": round(loaded - started, 2),
        "status_ms": round(statistics.median(times), 1),
        "status_in_step": status.index_in_step,
        "serve_peak_mb": round(peak_mb()),
    }


def child_index(work: Path, size: int) -> dict:
    """An index of `size` vectors over the database's products (their vectors cloned and perturbed, ids
    repeated), built, saved as the engine's index (in step with the catalog) and updated for 100 products."""
    from core.index import VectorIndex

    engine = engine_for(work)
    model = engine.encoder.model_key
    products, vectors = engine.catalog.embeddings(model)
    state = engine.catalog.state()
    rng = np.random.default_rng(size)
    rows = np.arange(size) % len(products)
    everything = np.empty((size, vectors.shape[1]), dtype=np.float32)
    for start in range(0, size, 100_000):  # perturbed in blocks: never a second full copy in memory
        block = rows[start : start + 100_000]
        everything[start : start + len(block)] = perturbed(vectors[block], rng)
    everything[: len(products)] = vectors  # the originals keep their own vectors
    started = time.perf_counter()
    index = VectorIndex.build([products[r] for r in rows], everything, model, state, engine.settings.exact_index_limit)
    built = time.perf_counter()
    del everything
    index.save(engine.index_path)
    saved = time.perf_counter()
    changed = products[:100]
    index.updated({p.id for p in changed}, changed, perturbed(vectors[:100], rng), state)
    return {
        "build_s": round(built - started, 2),
        "save_s": round(saved - built, 2),
        "update_100_s": round(time.perf_counter() - saved, 2),
        "updated_in_place": True,
        "build_peak_mb": round(peak_mb()),
        "index_type": index.manifest.index_type,
        "lists": index.manifest.lists,
        "nprobe": index.manifest.nprobe,
        "tuned_recall": index.manifest.tuned_recall,
        "index_file_mb": round(engine.index_path.stat().st_size / 2**20),
        "database_products": len(products),
    }


def run_child(kind: str, work: Path, size: int = 0) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--work", str(work), "--sizes", str(size)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- building the catalogs ----------------------------------------------------------------------------
def perturbed(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(size=vectors.shape).astype(np.float32) * (NOISE / np.sqrt(vectors.shape[1]))
    moved = vectors + noise
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def import_real(engine, catalog: Path) -> dict:
    from core.__main__ import ProgressBar

    started = time.perf_counter()
    with ProgressBar() as bar:
        report = engine.import_catalog(catalog / "images", catalog / "styles.csv", bar)
    seconds = time.perf_counter() - started
    return {
        "products": report.added + report.updated,
        "seconds": round(seconds, 1),
        "products_per_s": round((report.added + report.updated) / seconds, 1),
        "index_refreshes": engine.rebuilds,
        "skipped": len(report.skipped),
    }


def grow_to(engine, size: int, real: tuple[list, np.ndarray, dict]) -> float:
    """Clone real products until the catalog holds `size`; returns the clones' insert rate (products/s)."""
    from dataclasses import replace

    from tqdm import tqdm

    products, vectors, features = real
    have = engine.catalog.estimated_count()
    clones_have = have - len(products)
    rng = np.random.default_rng(clones_have)
    started, added = time.perf_counter(), 0
    with tqdm(total=size - have, desc=f"Cloning to {size:,}") as bar:
        for start in range(clones_have, size - len(products), CLONE_BATCH):
            rows = np.arange(start, min(start + CLONE_BATCH, size - len(products))) % len(products)
            batch = [
                replace(products[r], id=CLONE_BASE + start + i, name=f"{products[r].name} #{start + i}")
                for i, r in enumerate(rows)
            ]
            engine.catalog.insert_new(
                batch,
                perturbed(vectors[rows], rng),
                engine.encoder.model_key,
                [features.get(products[r].id) for r in rows],
            )
            added += len(batch)
            bar.update(len(batch))
    return round(added / max(time.perf_counter() - started, 1e-9), 1)


# ---- measuring queries -----------------------------------------------------------------------------
def filters_for(product):
    from core.index import SearchFilter

    return {
        "none": SearchFilter(),
        "gender": SearchFilter.make(product.gender),
        "gender+sub_category": SearchFilter.make(product.gender, product.sub_category),
    }


def measure_queries(engine, held: list, catalog_images: Path) -> dict:
    """End-to-end latency of text, photo and composed queries (first stage; the re-rank step apart)."""
    results: dict = {}
    texts = [f"{p.base_colour} {p.article_type} for {p.gender.lower()}" for p in held]
    for name in FILTERS:
        for kind in ("text", "photo"):
            times = []
            for product, text in zip(held, texts):
                where = filters_for(product)[name]
                started = time.perf_counter()
                if kind == "text":
                    engine.search_text(text, 10, where)
                else:
                    engine.search_image(catalog_images / product.image, 10, where)
                times.append((time.perf_counter() - started) * 1000)
            results[f"{kind}/{name}"] = percentiles(times)
            print(kind, name, results[f"{kind}/{name}"], flush=True)
    composed, rerank = [], []
    for product in held:
        started = time.perf_counter()
        result = engine.search_composed("lighter color", ref_id=product.id, k=10, rerank=True)
        composed.append((time.perf_counter() - started) * 1000)
        rerank.append(result.timings_ms.get("rerank", float("nan")))
    results["composed/rerank"] = percentiles(composed)
    results["rerank_step"] = percentiles(rerank)
    started = time.perf_counter()
    engine.search_composed("longer sleeves", ref_id=held[0].id, k=10, rerank=True)
    results["first_sleeve_filter_ms"] = round((time.perf_counter() - started) * 1000, 1)  # reads the cut table
    print("composed", results["composed/rerank"], "rerank", results["rerank_step"], flush=True)
    return results


def measure_recall(engine, held: list) -> dict:
    """recall@10 of the served index against exact search, for text and image query vectors, per filter."""
    index = engine.index()
    if index.manifest.index_type == "flat":
        return {name: 1.0 for name in FILTERS}
    everything = index.index.reconstruct_n(0, index.index.ntotal)  # [rows, D]
    texts = engine.encoder.embed_texts([f"{p.base_colour} {p.article_type} for {p.gender.lower()}" for p in held])
    images = everything[[int(np.flatnonzero(index.ids == p.id)[0]) for p in held]]
    recall = {}
    for name in FILTERS:
        overlaps = []
        for product, text, image in zip(held, texts, images):
            where = filters_for(product)[name]
            allowed = index.allowed_rows(where)
            for query in (text, image):
                scores = np.where(allowed, everything @ query, -np.inf)  # no copy of the vectors per query
                exact = np.sort(scores[np.argpartition(-scores, 10)[:10]])[::-1]
                exact = exact[np.isfinite(exact)]
                found = [n.score for n in index.search(query, 10, where)]
                # by score, as ids repeat at index-only sizes: the exact top 10 the index also reached
                reached = min(found) - 1e-5 if len(found) == len(exact) else np.inf
                overlaps.append(float(np.mean(exact >= reached)) if len(exact) else 1.0)
        recall[name] = round(float(np.mean(overlaps)), 4)
    return recall


# ---- report ----------------------------------------------------------------------------------------
def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    runs = report["sizes"]
    sizes = [r["products"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=90)
    for key, label in (
        ("text/none", "text"),
        ("text/gender+sub_category", "text, filtered"),
        ("photo/none", "photo"),
        ("photo/gender+sub_category", "photo, filtered"),
        ("composed/rerank", "composed + re-rank"),
        ("rerank_step", "re-rank step"),
    ):
        left.plot(sizes, [r["queries"][key]["p50_ms"] for r in runs], marker="o", label=label)
    left.axhline(50, color="grey", linestyle=":", linewidth=1)
    left.text(sizes[0], 52, "target 50 ms", fontsize=7, color="grey")
    left.set(
        xscale="log", yscale="log", xlabel="products", ylabel="p50 latency (ms)", title="Query latency, end to end"
    )
    left.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    left.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set_yticks([2, 5, 10, 20, 50, 100])
    left.legend(fontsize=6, loc="lower left", ncol=2)
    right.plot(sizes, [r["serve_peak_mb"] / 1024 for r in runs], marker="o", label="serving process")
    right.plot(sizes, [r["build_peak_mb"] / 1024 for r in runs], marker="o", label="index build")
    right.axhline(6, color="grey", linestyle=":", linewidth=1)
    right.text(sizes[0], 6.1, "target 6 GB", fontsize=7, color="grey")
    right.set_ylim(0, 7)
    right.set(xscale="log", xlabel="products", ylabel="peak memory (GB)", title="Memory")
    right.legend(fontsize=7)
    index_only = [r["products"] for r in runs if r.get("index_only")]
    note = (
        f" (from {min(index_only):,}: the index at that size over a database of "
        f"{runs[-1].get('database_products', 0):,})"
        if index_only
        else ""
    )
    fig.suptitle(f"StyleLens on {report['machine']}{note}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    global NOISE
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, help="the real catalog: images/ and styles.csv")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--work", type=Path, default=Path("data/scale"), help="its own embedded database")
    parser.add_argument("--queries", type=int, default=100, help="held-out products used as queries")
    parser.add_argument("--out", type=Path, default=Path("docs/scale.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/scale.png"))
    parser.add_argument(
        "--noise", type=float, default=NOISE, help="clones' perturbation (0.25: cosine 0.97; 1.0: 0.71)"
    )
    parser.add_argument(
        "--database-up-to",
        type=int,
        default=10_000,
        help="larger sizes: the index at that size over the database at this one",
    )
    parser.add_argument("--child", choices=("build", "update", "serve", "index"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["SCALE_NOISE"] = str(args.noise)  # children read it too
    NOISE = args.noise
    if args.child == "index":
        print(json.dumps(child_index(args.work, args.sizes[0])))
        return
    if args.child:
        print(json.dumps({"build": child_build, "update": child_update, "serve": child_serve}[args.child](args.work)))
        return
    if args.catalog is None or not (args.catalog / "styles.csv").is_file():
        parser.error("--catalog must be a folder with images/ and styles.csv")
    from core.split import is_held_out

    args.work.mkdir(parents=True, exist_ok=True)
    engine = engine_for(args.work)
    report = {
        "machine": f"{os.cpu_count()} CPU cores, no GPU",
        "catalog": str(args.catalog),
        "clone_noise": NOISE,
        "sizes": [],
    }
    previous = args.out.with_suffix(".import.json")
    if engine.catalog.estimated_count() == 0:
        report["import"] = import_real(engine, args.catalog)
        previous.parent.mkdir(parents=True, exist_ok=True)
        previous.write_text(json.dumps(report["import"]))
    elif previous.is_file():
        report["import"] = {**json.loads(previous.read_text()), "note": "from the run that imported it"}
    print("import", report.get("import"), flush=True)
    products, vectors = engine.catalog.embeddings(engine.encoder.model_key)
    real = [i for i, p in enumerate(products) if p.id < CLONE_BASE]
    products, vectors = [products[i] for i in real], vectors[real]
    features = engine.catalog.all_features()
    held = [p for p in products if is_held_out(p.id)][: args.queries]
    earlier = json.loads(args.out.read_text()).get("sizes", []) if args.out.is_file() else []
    for size in sorted(args.sizes):
        if size > args.database_up_to:  # the index at this size over the database as it is
            run = {"products": size, "index_only": True, **run_child("index", args.work, size)}
        elif size < engine.catalog.estimated_count():  # this catalog has grown past it: keep what was measured
            report["sizes"] += [run for run in earlier if run["products"] == size]
            continue
        else:
            run = {"products": size, "clone_insert_per_s": grow_to(engine, size, (products, vectors, features))}
            run.update(run_child("build", args.work))
            run.update(run_child("update", args.work))
        run.update(run_child("serve", args.work))
        engine = engine_for(args.work)  # this process's engine starts from the saved index too
        engine.index()
        run["queries"] = measure_queries(engine, held, engine.settings.images_dir)
        run["recall@10_vs_exact"] = measure_recall(engine, held)
        run["bench_peak_mb"] = round(peak_mb())
        report["sizes"].append(run)
        print(json.dumps({k: v for k, v in run.items() if k != "queries"}), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))
        plot(report, args.plot)
    print(f"Wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()

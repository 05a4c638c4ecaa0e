"""Foundation benchmark: import throughput, query latency and cold start on a real catalog.

    python benchmarks/foundation.py --catalog ../shared/datasets/fashion-products [--queries 100] [--json out.json]

Uses a fresh data folder (embedded database, MONGO_URI ignored) so numbers do not depend on what
the app already holds. Reports:
- import: products/s for a full import into an empty catalog (copy, decode, embed, store, index);
- re-import: seconds for the same import again (idempotent: nothing changes);
- text and image query latency p50/p95 end to end (decode/encode + FAISS + MongoDB fetch);
- cold start: a new `python -m core search` process, from start to printed result.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True, help="folder with images/ and styles.csv")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--encoder", default="baseline")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stylelens-bench-") as scratch:
        os.environ.pop("MONGO_URI", None)
        os.environ.update(STYLELENS_DATA_DIR=scratch, ENCODER_NAME=args.encoder, DB_NAME="bench")
        from core.config import load_settings
        from core.dbserver import stop_local_server
        from core.engine import StyleLens

        settings = load_settings()
        try:
            results = run(StyleLens.open(settings), args)
            results["cold_start_s"] = cold_start(scratch, args.encoder)
        finally:
            stop_local_server(settings.data_dir)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def run(engine, args) -> dict:
    from core.__main__ import ProgressBar

    images, styles = args.catalog / "images", args.catalog / "styles.csv"
    started = time.perf_counter()
    with ProgressBar() as bar:
        report = engine.import_catalog(images, styles, progress=bar)
    import_s = time.perf_counter() - started
    started = time.perf_counter()
    again = engine.import_catalog(images, styles)
    reimport_s = time.perf_counter() - started

    rng = random.Random(0)
    products = [p for p in engine.catalog.browse(limit=100_000)]
    sample = rng.sample(products, min(args.queries, len(products)))
    engine.search_text("warm-up")  # first call loads lazily initialised parts; not a cold-start measure
    text_ms = timed([lambda p=p: engine.search_text(p.name, k=10) for p in sample])
    image_ms = timed([lambda p=p: engine.search_image(engine.image_path(p), k=10) for p in sample])
    return {
        "products": engine.catalog.count(),
        "import": {
            "rows": report.rows,
            "added": report.added,
            "skipped": len(report.skipped),
            "seconds": round(import_s, 1),
            "products_per_s": round(report.added / import_s, 1),
        },
        "reimport": {"unchanged": again.unchanged, "changed": again.imported, "seconds": round(reimport_s, 1)},
        "text_query_ms": percentiles(text_ms),
        "image_query_ms": percentiles(image_ms),
        "encoder": engine.encoder.model_key,
        "cpu_cores": os.cpu_count(),
    }


def timed(calls) -> list[float]:
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentiles(ms: list[float]) -> dict:
    return {"n": len(ms), "p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1)}


def cold_start(data_dir: str, encoder: str) -> float:
    """Seconds for a new process to answer one text query (database already running, index on disk)."""
    env = {**os.environ, "STYLELENS_DATA_DIR": data_dir, "ENCODER_NAME": encoder, "DB_NAME": "bench"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "core", "search", "--text", "blue denim jeans", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return round(time.perf_counter() - started, 2)


if __name__ == "__main__":
    sys.exit(main())

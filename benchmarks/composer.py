"""Benchmark composed queries (reference + feedback) on held-out references: every method, same code.

    python benchmarks/make_feedback_queries.py --catalog ../shared/datasets/fashion-products
    python benchmarks/composer.py --queries data/benchmarks/feedback.jsonl --out data/benchmarks/composer-results.json

For each method (image, text, sum, composer) it runs `core.evaluation.evaluate` twice: on the raw
ranking, and with the constraints the app applies (gender / type asked for, else the reference's).
hit@10 is recall@10 (any relevant product in the top 10). Then it times `engine.search_composed` end to
end (decode, compose, search, fetch) on 100 queries. Uses the catalog and encoder of the current settings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from core.artifacts import versus, with_key_figures
from core.composer import METHODS
from core.config import load_settings
from core.engine import StyleLens
from core.evaluation import evaluate, read_queries


def latency(engine: StyleLens, queries, method: str, count: int = 100) -> dict:
    chosen = [q for q in queries if q.ref_id is not None][:count]
    engine.search_composed(chosen[0].text, ref_id=chosen[0].ref_id, method=method)  # warm-up
    times = []
    for query in chosen:
        started = time.perf_counter()
        engine.search_composed(query.text, ref_id=query.ref_id, k=10, method=method)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": statistics.median(times), "p95_ms": sorted(times)[int(0.95 * len(times)) - 1], "n": len(times)}


def table(results: dict) -> str:
    lines = [
        "| method | constraints | n | hit@10 | ndcg@10 | precision@10 | recall@50 | mrr |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, report in results["runs"].items():
        method, constrained = key.split("/")
        lines.append(
            f"| {method} | {constrained} | {report['n']} | {report['recall@10']:.3f} | {report['ndcg@10']:.3f} | "
            f"{report['precision@10']:.3f} | {report['recall@50']:.3f} | {report['mrr']:.3f} |"
        )
    kinds = sorted(next(iter(results["runs"].values()))["by_kind"])
    lines += [
        "",
        "hit@10 by intent:",
        "",
        "| method | constraints | " + " | ".join(kinds) + " |",
        "|---|---|" + "---|" * len(kinds),
    ]
    for key, report in results["runs"].items():
        method, constrained = key.split("/")
        lines.append(
            f"| {method} | {constrained} | "
            + " | ".join(f"{report['by_kind'][k]['recall@10']:.3f}" for k in kinds)
            + " |"
        )
    lines += [
        "",
        "composed query end to end: "
        + ", ".join(f"{m} p50 {v['p50_ms']:.1f} ms / p95 {v['p95_ms']:.1f} ms" for m, v in results["latency"].items()),
    ]
    return "\n".join(lines)


def key_figures_of(results: dict) -> dict[str, str]:
    composer, summed = results["runs"]["composer/on"], results["runs"]["sum/on"]
    return {
        "generated feedback queries, held-out references, hit@10 (composer, constraints on)": versus(
            composer["recall@10"], "sum baseline", summed["recall@10"]
        ),
        "generated feedback queries, ndcg@10": versus(composer["ndcg@10"], "sum baseline", summed["ndcg@10"]),
    }


def render_card(checkpoint: Path, results: dict, command: str) -> str:
    from core.composer import load_composer

    model, record = load_composer(checkpoint)
    parameters = sum(p.numel() for p in model.parameters())
    history = record.get("history", [])
    config = model.config
    return f"""# Model card: composer-small (`{checkpoint.name}`)

The FashionVLP-style composer of the Refine with Feedback page: a reference product plus feedback text
("lighter, for women") becomes one query vector in the catalog space of `{record.get("encoder")}`.

## What it is
- Inputs: the reference's {config.image_tokens} spatial tokens ({config.image_dim}-d) and embedding from the
  bundled encoder's image tower; the feedback's contextual MiniLM tokens (up to {config.max_text_tokens}, {config.text_dim}-d)
  and its sentence vector from the encoder's text tower.
- A {config.layers}-layer transformer (width {config.width}, {config.heads} heads) fuses them; a query token's output is
  added to the (learned-weight) reference embedding and normalised.
- {parameters / 1e6:.2f} M parameters, {checkpoint.stat().st_size / 1e6:.1f} MB file (weights, config, this record).
- Loss: batch-based classification (each composed query must pick its own target's catalog vector among
  the batch's targets; duplicate targets are not counted as negatives).

## Data and split
- {record.get("data", "?")}
- {record.get("split", "?")}
- Intents: colour group, lighter/darker (garment lightness measured from the photo), the other gender,
  another article type of the same family, usage, pattern words from product names, longer / shorter / no
  sleeves and a longer / shorter garment (read against the reference's sleeves and length from the attribute
  model, `assets/garment-attributes.pt`); 1-3 per sentence, many phrasings, typos, and requests the catalog
  cannot see (fit, collar) as distractors.

## Training
- Command: `{record.get("command", "?")}`
- Config: `{json.dumps(record.get("train_config", {}))}`
- {len(history)} epochs in {(history[-1]["seconds"] if history else 0) / 60:.1f} min on 2 CPU cores; loss per epoch:
  {", ".join(str(h["loss"]) for h in history)}

## Measured on held-out references
Produced by `{command}` on `{results["queries"]}`
(benchmarks/make_feedback_queries.py; references from the held-out split only):

{table(results)}

## What it can and cannot understand
- Understands: colours (and shades such as navy, maroon, olive), lighter/darker, women/men, product types
  of the same family (t-shirt -> shirt, sneakers -> heels), usage (sports, formal, casual, ethnic),
  patterns (solid, striped, printed, checked), longer / shorter / no sleeves, a longer / shorter garment,
  with typos and casual wording. With constraints (the app), sleeve and length requests also filter the
  first stage on the stored attributes.
- Does not understand: fit, neckline (not in the catalog data); such requests keep the product type and the
  rest of the request, and the page says so. Other languages are not read.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=Path("data/benchmarks/feedback.jsonl"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--card", type=Path, help="write the composer's model card here (markdown)")
    parser.add_argument(
        "--without-cut",
        action="store_true",
        help="leave out queries asking for sleeves or length (the figures from before they were read)",
    )
    args = parser.parse_args()
    engine = StyleLens.open(load_settings())
    engine.index(progress=lambda done, total, message: print(f"\r{message}: {done}/{total}", end="", file=sys.stderr))
    queries, skipped = read_queries(args.queries)
    if args.without_cut:
        from core.feedback import parse_feedback

        queries = [
            q for q in queries if not (q.text and (parse_feedback(q.text).sleeves or parse_feedback(q.text).length))
        ]
    results = {"encoder": engine.encoder.model_key, "queries": str(args.queries), "runs": {}, "latency": {}}
    for method in args.methods:
        for constrained in (False, True):
            report = evaluate(engine, queries, k=50, method=method, skipped=skipped, constraints=constrained)
            data = report.to_json()
            data.pop("skipped")
            results["runs"][f"{method}/{'on' if constrained else 'off'}"] = data
            print(
                f"{method} constraints={constrained}: hit@10 {data['recall@10']:.3f} ndcg@10 {data['ndcg@10']:.3f}",
                file=sys.stderr,
            )
        results["latency"][method] = latency(engine, queries, method)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(table(results))
    if args.card:
        from core.composer import BUNDLED_COMPOSER

        card = render_card(BUNDLED_COMPOSER, results, "python benchmarks/composer.py " + " ".join(sys.argv[1:]))
        args.card.write_text(with_key_figures(card, key_figures_of(results)))
        print(f"Model card written to {args.card}")


if __name__ == "__main__":
    main()

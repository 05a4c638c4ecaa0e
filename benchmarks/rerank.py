"""Re-ranking on and off over the same first stage: feedback queries and image queries, plus its cost.

    python benchmarks/make_feedback_queries.py --catalog ../shared/datasets/fashion-products
    python benchmarks/rerank.py --queries data/benchmarks/feedback.jsonl \
        --out data/benchmarks/rerank-results.json --card assets/reranker-small.md

Feedback: `core.evaluation.evaluate` with the served method and the app's constraints, re-ranking off and
on (the top 100 re-ordered). Image queries: held-out products' own photos (training/train_reranker.py's
image_queries with held_out=True); relevant = same article type and colour group. Latency: the re-rank
step of `engine.search_composed(..., rerank=True)` (features of 100 candidates, the network, the chips)
on 200 feedback queries. Uses the catalog and encoder of the current settings.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from core.artifacts import versus, with_key_figures
from core.config import load_settings
from core.engine import StyleLens
from core.evaluation import EvalQuery, evaluate, read_queries
from core.rerank import FEATURE_NAMES, load_reranker
from training.train_reranker import image_queries

METRICS = ("recall@10", "ndcg@10", "precision@10", "recall@50", "mrr")


def compare(engine: StyleLens, queries, constraints: bool) -> dict:
    method = engine.best_method()
    report = {}
    for rerank in (False, True):
        result = evaluate(engine, queries, 50, method=method, constraints=constraints, rerank=rerank)
        report["on" if rerank else "off"] = {
            "n": result.overall["n"],
            **{m: round(result.overall[m], 4) for m in METRICS},
            "by_kind": {kind: round(scores["recall@10"], 4) for kind, scores in result.by_kind.items()},
        }
    report["gain_points"] = {m: round(100 * (report["on"][m] - report["off"][m]), 1) for m in METRICS}
    return report


def latency(engine: StyleLens, queries, count: int = 200) -> dict:
    chosen = [q for q in queries if q.ref_id is not None and q.text][:count]
    engine.search_composed(chosen[0].text, ref_id=chosen[0].ref_id, rerank=True)  # warm-up: loads the features
    steps = [engine.search_composed(q.text, ref_id=q.ref_id, k=10, rerank=True).timings_ms["rerank"] for q in chosen]
    return {
        "queries": len(steps),
        "rerank_ms_p50": round(statistics.median(steps), 1),
        "rerank_ms_p95": round(sorted(steps)[int(0.95 * (len(steps) - 1))], 1),
    }


def key_figures_of(report: dict) -> dict[str, str]:
    feedback, image = report["feedback"], report["image"]
    return {
        "generated feedback queries, recall@10 re-ranked": versus(
            feedback["on"]["recall@10"], "first stage", feedback["off"]["recall@10"]
        ),
        "generated feedback queries, ndcg@10 re-ranked": versus(
            feedback["on"]["ndcg@10"], "first stage", feedback["off"]["ndcg@10"]
        ),
        "held-out catalog packshots as image queries, recall@10": versus(
            image["on"]["recall@10"], "first stage", image["off"]["recall@10"]
        ),
    }


def render_card(report: dict, record: dict, command: str) -> str:
    def table(part: dict) -> str:
        rows = [
            f"| {state} | {part[state]['n']} | " + " | ".join(f"{part[state][m]:.3f}" for m in METRICS) + " |"
            for state in ("off", "on")
        ]
        gains = "| gain (points) | | " + " | ".join(f"{part['gain_points'][m]:+.1f}" for m in METRICS) + " |"
        return "\n".join(
            [f"| re-ranking | n | {' | '.join(METRICS)} |", "|---" * (len(METRICS) + 2) + "|", *rows, gains]
        )

    data = record["data"]
    return f"""# Model card: re-ranker (`reranker-small.pt`)

Re-orders the top {data["depth"]} candidates of a search (image, text, composed feedback) from garment features
read from the photos (core/garment_features.py: dominant colours in L*a*b*, lightness, silhouette,
sleeve length, pattern; stored per product in MongoDB) set against the query (colour, lighter/darker,
sleeves, length and pattern asked for; the reference's features; for a photo query, how likely the photo's
type prior (the garment-kind classifier) finds each candidate's kind; first-stage score and rank). An MLP
({len(FEATURE_NAMES)} features -> 32 -> 32 -> 1) adds a learned correction to the first-stage score.

## Data and training
- {data["lists"]} candidate lists ({data["with_relevant"]} with a relevant candidate): {data["feedback_queries"]} generated
  feedback queries (training/triplets.py) through the served composed search (`{record["first_stage_method"]}`,
  constraints on) and {data["image_queries"]} image queries (relevant: same article type and colour group).
  References and candidates of the held-out split are left out.
- Loss: pairwise (RankNet) within each list. Command: `{record["command"]}`
  ({record["minutes"]} min on 2 CPU cores, mostly running the first stage); loss per epoch from
  {record["loss_per_epoch"][0]} to {record["loss_per_epoch"][-1]}.

## Measured (held-out references)
Produced by `{command}`.

Feedback benchmark (`data/benchmarks/feedback.jsonl`, served method, constraints on):

{table(report["feedback"])}

Image queries (held-out products' catalog packshots, not people's photos; relevant = same article type and
colour group):

{table(report["image"])}

Re-rank step p50 {report["latency"]["rerank_ms_p50"]} ms, p95 {report["latency"]["rerank_ms_p95"]} ms
({report["latency"]["queries"]} composed queries, 2 CPU cores).

## Limits
- The feedback benchmark's relevance comes from catalog labels (colour group, type, gender, usage,
  pattern words in names) and, for its sleeve and length requests, from the stored attributes
  (core/attributes.py, measured by benchmarks/attributes.py); `by_kind` in the JSON report splits them.
- Trained on the bundled encoder's first stage: its score and rank features mean something else under
  another encoder (ENCODER_NAME), where it has not been measured.
- Colour prototypes are the mean main colour of each catalog colour group; labels are noisy.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=Path, default=Path("data/benchmarks/feedback.jsonl"))
    parser.add_argument("--images", type=int, default=1000, help="held-out image queries")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/rerank-results.json"))
    parser.add_argument("--card", type=Path, help="write the re-ranker's model card here (markdown)")
    parser.add_argument("--results", type=Path, help="render the card from a saved --out file, measuring nothing")
    args = parser.parse_args()
    if args.results:
        argv = sys.argv[1:]
        at = argv.index("--results")  # the card names the command that measured, not the one that re-rendered
        argv = argv[:at] + argv[at + 2 :] + ["--out", str(args.results)] * ("--out" not in argv)
        write_card(args, json.loads(args.results.read_text()), "python benchmarks/rerank.py " + " ".join(argv))
        return
    engine = StyleLens.open(load_settings())
    feedback, _ = read_queries(args.queries)
    images = [
        EvalQuery(line=i, relevant_ids=frozenset(q["relevant_ids"]), ref_id=q["ref_id"], kind="image")
        for i, q in enumerate(image_queries(engine, args.images, 11, held_out=True), start=1)
    ]
    report = {
        "feedback": compare(engine, feedback, constraints=True),
        "image": compare(engine, images, False),
        "latency": latency(engine, feedback),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    write_card(args, report, "python benchmarks/rerank.py " + " ".join(sys.argv[1:]))


def write_card(args, report: dict, command: str) -> None:
    if args.card:
        card = render_card(report, load_reranker()[2], command)
        args.card.write_text(with_key_figures(card, key_figures_of(report)))
        print(f"Model card written to {args.card}")


if __name__ == "__main__":
    main()

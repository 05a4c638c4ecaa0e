"""Write the feedback benchmark: held-out reference products + generated feedback -> relevant products.

    python benchmarks/make_feedback_queries.py --catalog ../shared/datasets/fashion-products \
        --out data/benchmarks/feedback.jsonl

Each line is a `python -m core evaluate` query: {"ref_id", "text", "relevant_ids", "kind", "intents"}, made
by training/triplets.py from references in the held-out split (core/split.py), which the composer never
trains on. Relevant = every catalog product that fulfils the request and keeps what was not asked to change.
`kind` is the intent (colour, lightness, gender, type, usage, pattern, sleeves, length) or "multi" for 2-3
intents. Sleeves and length come from the attribute model (cached next to --out, catalog-attributes.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.triplets import TripletMaker, catalog_items, read_attributes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/feedback.jsonl"))
    parser.add_argument("--per-reference", type=int, default=2)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    items = catalog_items(args.catalog, read_attributes(args.catalog, args.out.with_name("catalog-attributes.json")))
    maker = TripletMaker(items, {}, seed=args.seed)
    queries = []
    for ref in (i for i in items if i.held_out):
        for _ in range(args.per_reference):
            triplet = maker.triplet(ref)
            if triplet is not None:
                queries.append(triplet.to_query())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(q) + "\n" for q in queries))
    kinds = {}
    for q in queries:
        kinds[q["kind"]] = kinds.get(q["kind"], 0) + 1
    print(f"{args.out}: {len(queries)} queries {kinds}")


if __name__ == "__main__":
    main()

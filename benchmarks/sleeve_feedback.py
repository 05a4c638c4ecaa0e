"""Sleeve and length feedback end to end: "longer sleeves, lighter color" and its siblings on real references.

    python benchmarks/sleeve_feedback.py --out data/benchmarks/sleeve-feedback.json \
        [--sheet data/benchmarks/sleeve-feedback.png]

Uses the catalog, encoder and models of the current settings, through `engine.search_composed` (the call the
Refine page makes), with re-ranking off and on (the app's default is on). Intents and their references:
    flagship   "longer sleeves, lighter color" on 20 dark short-sleeved tops, 10 men's and 10 women's
    shorter    "shorter sleeves" on 20 long-sleeved tops
    sleeveless "sleeveless" on 20 women's short-sleeved tops
    longer     "a longer dress" on every dress whose stored length is mini or knee
References are drawn (seed 0) from the catalog by their stored attributes and listed in the output; the
flagship's were checked by eye (`--references` keeps a fixed list). Each top-10 is scored from the results'
stored attributes (sleeves, length; lightness measured from pixels): the share that meets the request, is
lighter than the reference (flagship), both, of the reference's gender (or Unisex) and of its type family.
`--sheet` draws every flagship result for checking by eye.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from core.attributes import family_of
from core.config import load_settings
from core.engine import StyleLens

TOPS = ("Tshirts", "Tops", "Shirts")
INTENTS = {
    "flagship": "longer sleeves, lighter color",
    "shorter": "shorter sleeves",
    "sleeveless": "sleeveless",
    "longer": "a longer dress",
}


def pick_references(engine: StyleLens, count: int = 20, seed: int = 0) -> dict[str, list[int]]:
    products = [p for start in range(0, 10_000, 1000) for p in engine.catalog.browse(skip=start, limit=1000)]
    table = engine.stored_features([p.id for p in products])
    rng = random.Random(seed)

    def sure(p, sleeves):
        f = table.get(p.id)
        return f is not None and f.sleeves == sleeves and f.sleeve_confidence >= 0.8

    def dark(p):
        return table[p.id].lightness < 0.35

    def draw(pool, n):
        return sorted(rng.sample(pool, min(n, len(pool))), key=lambda p: p.id)

    tops = [p for p in products if p.article_type in TOPS and p.gender in ("Men", "Women")]
    flagship = draw([p for p in tops if p.gender == "Men" and sure(p, "short") and dark(p)], count // 2) + draw(
        [p for p in tops if p.gender == "Women" and sure(p, "short") and dark(p)], count // 2
    )
    dresses = [
        p
        for p in products
        if p.article_type == "Dresses" and table.get(p.id) is not None and table[p.id].length in ("mini", "knee")
    ]
    return {
        "flagship": [p.id for p in flagship],
        "shorter": [p.id for p in draw([p for p in tops if sure(p, "long")], count)],
        "sleeveless": [p.id for p in draw([p for p in tops if p.gender == "Women" and sure(p, "short")], count)],
        "longer": [p.id for p in dresses],
    }


def score(engine: StyleLens, intent: str, ref_id: int, rerank: bool) -> dict:
    reference = engine.catalog.get([ref_id])[0]
    started = time.perf_counter()
    result = engine.search_composed(INTENTS[intent], ref_id=ref_id, k=10, rerank=rerank)
    elapsed = (time.perf_counter() - started) * 1000
    table = engine.stored_features([h.product.id for h in result.hits] + [ref_id])
    ref = table[ref_id]
    rows = []
    for hit in result.hits:
        f = table.get(hit.product.id)
        meets = f is not None and result.wish.allows(f.sleeves, f.length)
        lighter = f is not None and f.lightness > ref.lightness
        rows.append(
            {
                "id": hit.product.id,
                "meets": meets,
                "lighter": lighter,
                "sleeves": f.sleeves if f else None,
                "length": f.length if f else None,
                "gender": hit.product.gender in (reference.gender, "Unisex"),
                "family": family_of(hit.product.article_type) == family_of(reference.article_type),
            }
        )
    n = max(1, len(rows))
    return {
        "ref_id": ref_id,
        "reference": {
            "sleeves": ref.sleeves,
            "length": ref.length,
            "lightness": round(ref.lightness, 3),
            "gender": reference.gender,
            "type": reference.article_type,
        },
        "wish": {"sleeves": list(result.wish.sleeves), "lengths": list(result.wish.lengths)},
        "results": len(rows),
        "meets": sum(r["meets"] for r in rows) / n * 10,
        "lighter": sum(r["lighter"] for r in rows) / n * 10,
        "both": sum(r["meets"] and r["lighter"] for r in rows) / n * 10,
        "same_gender": sum(r["gender"] for r in rows) / n,
        "same_family": sum(r["family"] for r in rows) / n,
        "ms": round(elapsed, 1),
        "notes": result.notes,
        "hits": rows,
    }


def summary(runs: list[dict]) -> dict:
    if not runs:
        return {"n": 0}
    mean = lambda key: round(sum(r[key] for r in runs) / len(runs), 2)  # noqa: E731
    return {
        "n": len(runs),
        "of_10_meet": mean("meets"),
        "of_10_lighter": mean("lighter"),
        "of_10_both": mean("both"),
        "same_gender": mean("same_gender"),
        "same_family": mean("same_family"),
        "results_per_query": mean("results"),
        "ms_p50": sorted(r["ms"] for r in runs)[len(runs) // 2],
    }


def contact_sheet(engine: StyleLens, runs: list[dict], path: Path, side: int = 96) -> None:
    """One row per flagship query: the reference, then its ten results (for checking sleeves by eye)."""
    from PIL import Image, ImageDraw

    from core.images import load_image

    sheet = Image.new("RGB", (side * 11 + 10, side * len(runs)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, run in enumerate(runs):
        ids = [run["ref_id"]] + [h["id"] for h in run["hits"]]
        for column, product in enumerate(engine.catalog.get(ids)):
            picture = load_image(engine.image_path(product)).convert("RGB").resize((side - 4, side - 4))
            x = column * side + (10 if column else 0)
            sheet.paste(picture, (x + 2, row * side + 2))
            draw.text((x + 3, row * side + 2), str(row) if column == 0 else str(column), fill="red")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/sleeve-feedback.json"))
    parser.add_argument("--references", type=Path, help="a JSON file {intent: [ids]} to use instead of drawing them")
    parser.add_argument("--sheet", type=Path, help="draw the flagship results into this PNG")
    args = parser.parse_args()
    engine = StyleLens.open(load_settings())
    engine.index()
    references = json.loads(args.references.read_text()) if args.references else pick_references(engine)
    report: dict = {"references": references, "intents": INTENTS, "runs": {}}
    for rerank in (False, True):
        for intent, ids in references.items():
            runs = [score(engine, intent, i, rerank) for i in ids]
            key = f"{intent}/rerank={'on' if rerank else 'off'}"
            report["runs"][key] = {"summary": summary(runs), "queries": runs}
            print(key, json.dumps(summary(runs)), flush=True)
            if args.sheet and intent == "flagship" and rerank:
                contact_sheet(engine, runs, args.sheet)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

"""Write the encoder benchmark's query files (JSON Lines for `python -m core evaluate`).

    python benchmarks/make_queries.py --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --out data/benchmarks

Everything is built from held-out data only (core/split.py; street photos 641-804), so no trained model
has seen a query. The files reference the shared data and are written outside the repository's tracked
files (data/ is ignored):
    heldout-image.jsonl   ref_id = a held-out product; relevant = every other product of its article type
    heldout-text.jsonl    text = the held-out product's productDisplayName; relevant = that product
    phone-like.jsonl      held-out packshots re-shot as phone photos (background, framing, light);
                          relevant = its article type; the product itself is excluded (ref_id)
    street-crops.jsonl    garments cut from held-out street photos; relevant = the catalog article types
                          a shopper would accept (training/street.py)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from core.split import is_held_out
from training import augment, street

SIDE = 224


def held_out_styles(catalog: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    styles = pd.read_csv(catalog / "styles.csv").fillna("")
    styles = styles[[(catalog / "images" / f"{i}.jpg").exists() for i in styles["id"]]]
    return styles, styles[styles["id"].map(is_held_out)]


def write_lines(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(f"{path}: {len(records)} queries")


def image_queries(styles: pd.DataFrame, held: pd.DataFrame) -> list[dict]:
    by_type = styles.groupby("articleType")["id"].apply(lambda ids: [int(i) for i in ids]).to_dict()
    return [
        {"ref_id": int(row.id), "relevant_ids": by_type[row.articleType], "kind": row.subCategory}
        for row in held.itertuples()
        if len(by_type[row.articleType]) > 1
    ]


def text_queries(held: pd.DataFrame) -> list[dict]:
    return [
        {"text": row.productDisplayName, "relevant_ids": [int(row.id)], "kind": row.subCategory}
        for row in held.itertuples()
        if row.productDisplayName
    ]


def phone_like_queries(
    catalog: Path, styles: pd.DataFrame, held: pd.DataFrame, street_dir: Path | None, out: Path, seed: int = 7
) -> list[dict]:
    folder = out / "phone-like"
    folder.mkdir(parents=True, exist_ok=True)
    patches = (
        torch.from_numpy(street.background_patches(street_dir, 200, SIDE, seed=seed)).permute(0, 3, 1, 2)
        if street_dir
        else torch.full((1, 3, SIDE, SIDE), 200, dtype=torch.uint8)
    )
    generator = torch.Generator().manual_seed(seed)
    by_type = styles.groupby("articleType")["id"].apply(lambda ids: [int(i) for i in ids]).to_dict()
    records = []
    rows = list(held.itertuples())
    for start in tqdm(range(0, len(rows), 64), desc="Phone-like photos"):
        chunk = rows[start : start + 64]
        pixels = (
            torch.stack(
                [
                    torch.from_numpy(
                        np.asarray(Image.open(catalog / "images" / f"{r.id}.jpg").convert("RGB").resize((SIDE, SIDE)))
                    ).permute(2, 0, 1)
                    for r in chunk
                ]
            ).float()
            / 255
        )
        shots = augment.phone_photo_like(pixels, augment.white_background_mask(pixels), patches, generator, 1.0)
        for row, shot in zip(chunk, shots):
            name = f"{row.id}.jpg"
            Image.fromarray((shot.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(folder / name, quality=88)
            records.append(
                {
                    "image": f"phone-like/{name}",
                    "ref_id": int(row.id),
                    "relevant_ids": by_type[row.articleType],
                    "kind": row.subCategory,
                }
            )
    return records


def street_queries(styles: pd.DataFrame, street_dir: Path, out: Path) -> list[dict]:
    folder = out / "street-crops"
    folder.mkdir(parents=True, exist_ok=True)
    by_type = styles.groupby("articleType")["id"].apply(lambda ids: [int(i) for i in ids]).to_dict()
    records = []
    for crop in street.garment_crops(street_dir, street.EVAL_PHOTOS):
        relevant = [i for kind in street.STREET_TO_CATALOG[crop.label] for i in by_type.get(kind, [])]
        if not relevant:
            continue
        name = f"{Path(crop.photo).stem}-{crop.label}.jpg"
        crop.image.save(folder / name, quality=90)
        records.append({"image": f"street-crops/{name}", "relevant_ids": relevant, "kind": street_group(crop.label)})
    return records


def street_group(label: str) -> str:
    kinds = street.STREET_TO_CATALOG[label]
    if kinds[0] in ("Dresses",):
        return "street fullbody"
    if any(k in ("Jeans", "Trousers", "Shorts", "Skirts", "Leggings") for k in kinds):
        return "street bottomwear"
    if any(k.endswith("Shoes") or k in ("Heels", "Flats", "Sandals") for k in kinds):
        return "street footwear"
    if any(k in ("Handbags", "Clutches", "Belts", "Sunglasses", "Watches") for k in kinds):
        return "street accessories"
    return "street topwear"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--street", type=Path)
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    styles, held = held_out_styles(args.catalog)
    print(f"{len(held)} held-out products of {len(styles)}")
    write_lines(args.out / "heldout-image.jsonl", image_queries(styles, held))
    write_lines(args.out / "heldout-text.jsonl", text_queries(held))
    write_lines(args.out / "phone-like.jsonl", phone_like_queries(args.catalog, styles, held, args.street, args.out))
    if args.street:
        write_lines(args.out / "street-crops.jsonl", street_queries(styles, args.street, args.out))


if __name__ == "__main__":
    main()

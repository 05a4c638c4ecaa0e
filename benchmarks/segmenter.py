"""The garment segmenter's model card: its masks on held-out data beside two baselines, what it does to
real-photo search (with and without it), and its speed.

    python benchmarks/segmenter.py --catalog ../shared/datasets/fashion-products \
        --street ../shared/datasets/street-photos --real-photos data/benchmarks/real-photos.json \
        --card assets/garment-segmenter.md

IoU is measured again here on the held-out sets the training script validates on (street photos
0641-0804, each garment group cut out with a margin; held-out packshots composited onto backgrounds with a
fixed seed). Baselines: "everything is garment" and "not white" (core/garment_features.py's rule for packshots).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

from core.artifacts import versus, with_key_figures
from core.segment import BUNDLED_SEGMENTER, GarmentSegmenter
from training import street
from training.train_segmenter import composited, packshot_samples, street_samples, validate


def measure(segmenter: GarmentSegmenter, catalog: Path, street_dir: Path) -> dict:
    size = segmenter.model.config.image_size
    street_pixels, street_masks = street_samples(street_dir, street.EVAL_PHOTOS, size)
    pack_pixels, pack_masks = packshot_samples(catalog, size, held_out=True)
    patches = torch.from_numpy(street.background_patches(street_dir, 800, size, seed=0)).permute(0, 3, 1, 2)
    shots, shot_masks = composited(pack_pixels, pack_masks, patches, torch.Generator().manual_seed(7))
    sets = {
        "street (held-out photos)": (street_pixels.float() / 255, street_masks.float()),
        "packshots on backgrounds (held-out products)": (shots, shot_masks),
    }
    return {"iou": validate(segmenter.model, sets, "cpu"), "latency": latency(segmenter, street_dir)}


def latency(segmenter: GarmentSegmenter, street_dir: Path, count: int = 50) -> dict:
    photos = [
        Image.open(street_dir / "photos" / f"{n:04d}.jpg").convert("RGB") for n in list(street.EVAL_PHOTOS)[:count]
    ]
    segmenter.masks(photos[:1])
    times = []
    for photo in photos:
        started = time.perf_counter()
        segmenter.masks([photo])
        times.append((time.perf_counter() - started) * 1000)
    return {"mask_ms_p50": round(statistics.median(times), 1), "photos": len(times)}


def key_figures_of(report: dict) -> dict[str, str]:
    figures = {
        f"mask IoU, {name}{' (synthetic composites)' if 'packshots' in name else ''}": versus(
            v["iou"], "baseline", v["iou_baseline_not_white"]
        )
        for name, v in report["iou"].items()
    }
    return {**figures, "mask time p50 on 2 CPU cores": f"{report['latency']['mask_ms_p50']} ms"}


def render_card(segmenter: GarmentSegmenter, report: dict, real: list[dict] | None, command: str) -> str:
    record, config = segmenter.record, segmenter.model.config
    history = record.get("history", [])
    parameters = sum(p.numel() for p in segmenter.model.parameters())
    rows = "\n".join(
        f"| {name} | {v['n']} | {v['iou']:.3f} | {v['iou_baseline_everything']:.3f} | "
        f"{v['iou_baseline_not_white']:.3f} |"
        for name, v in report["iou"].items()
    )
    real_rows = ""
    if real:
        from benchmarks.real_photos import table

        real_rows = (
            "\n## What it does to real-photo search\nFrom `benchmarks/real_photos.py` (variant = "
            "segmenter:prior weight:flip:embed; `off` = no segmenter; embed `cutout` searches the garment "
            "on white, `photo` the picture as it came, `both` the two averaged; the latency column was "
            "measured while other jobs shared the cores):\n\n" + table(real) + "\n\nThe cut-out lost with "
            "the encoder trained on real photos, so the app embeds the photo as it came and uses the mask "
            "for colour, Shop the Look's drawn masks and the pictures the pages show.\n"
        )
    return f"""# Model card: garment segmenter (`{segmenter.path.name}`)

Which pixels of a photo (or of a garment crop) are the garment. Every photo query takes it
(core/photo_query.py): Search by photo, each garment of Shop the Look (its mask is drawn; the box served stays the
detector's: mask boxes measured no better), Refine with an uploaded photo, `core categories` and `core evaluate`. The garment's colour is
read from the mask's pixels only. Setting: `SEGMENTER` (`garment-segmenter`, `off`, or a checkpoint path).
{real_rows}
## Masks on held-out data (IoU, higher is better)
Produced by `{command}`:

| set | samples | segmenter | baseline: everything | baseline: not white |
|---|---|---|---|---|
{rows}

Mask time p50 {report["latency"]["mask_ms_p50"]} ms per photo on 2 CPU cores (any photo size: it reads a
{config.image_size}x{config.image_size} copy).

## What it is
- A U-Net trained here from random weights: {len(config.widths)} levels of widths {list(config.widths)}, input
  {config.image_size}x{config.image_size} (squashed like every StyleLens model), one logit per pixel;
  {parameters / 1e3:.0f} k parameters, {segmenter.path.stat().st_size / 1e6:.1f} MB.

## Data and training
- {record.get("data", "?")}
- {record.get("split", "?")}
- Command: `{record.get("command", "?")}` (resumable: the same command continues from the last epoch).
- Loss: binary cross-entropy + soft Dice. {len(history)} epochs in {history[-1]["seconds"] / 60 if history else 0:.0f} min
  on {record.get("trained_on", "?")}.

## Limits
- One mask per picture: the main garment. In a crop of a person, the garment the crop was cut around;
  layered garments (a jacket over a top) come out as one.
- Street photos are mostly women outdoors; packshot composites stand in for floors, beds and hangers,
  so a garment on a busy patterned bedsheet can lose or gain pieces.
- A mask covering less than 3% or more than 97% of the picture is not trusted: the photo is used whole.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--street", type=Path, required=True)
    parser.add_argument("--weights", type=Path, default=BUNDLED_SEGMENTER)
    parser.add_argument("--real-photos", type=Path, help="results of benchmarks/real_photos.py")
    parser.add_argument("--out", type=Path, default=Path("data/benchmarks/segmenter-results.json"))
    parser.add_argument("--card", type=Path, help="write the model card here")
    args = parser.parse_args()
    segmenter = GarmentSegmenter(args.weights)
    report = measure(segmenter, args.catalog, args.street)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.card:
        real = json.loads(args.real_photos.read_text()) if args.real_photos else None
        argv = sys.argv[1:]
        if "--real-photos" in argv:
            at = argv.index("--real-photos")
            argv = argv[:at] + argv[at + 2 :]
        card = render_card(segmenter, report, real, "python benchmarks/segmenter.py " + " ".join(argv))
        args.card.write_text(with_key_figures(card, key_figures_of(report)))
        print(f"Model card written to {args.card}")


if __name__ == "__main__":
    main()

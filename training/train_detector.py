"""Train the garment detector (ultralytics YOLO, from a model config: no pretrained weights) on street photos.

    python -m training.train_detector --street ../shared/datasets/street-photos --out assets/garment-detector.pt

Boxes come from the pixel masks (core/look/garments.py: one box per group, specks ignored). Photos 0001-0640
train, 0641-0804 are held out for evaluation (training/street.py); ultralytics reports its validation on
them each epoch, but that is only watched: the last epoch is shipped, not the epoch that scored best there.
The YOLO dataset under --work links to the photos (no copies) and holds the label files. Resumable: run
the same command again (after the last epoch, it just ships the weights).

The shipped detector was trained in two stages (assets/garment-detector.md): stage 1 above (50 epochs from
random weights), then 40 more epochs from its weights:

    python -m training.train_detector --street ../shared/datasets/street-photos \
        --finetune-from <stage-1 weights> --finetune-epochs 40 --finetune-imgsz 320

then a third stage of 30 more epochs from stage 2's weights, in its own folder (a finished stage 2 in
--work would otherwise just be shipped again):

    python -m training.train_detector --street ../shared/datasets/street-photos \
        --finetune-from <stage-2 weights> --finetune-epochs 30 --finetune-imgsz 320 \
        --work data/training/detector-stage3 --out data/training/detector-stage3/garment-detector-v3.pt

and the shipped weights are the average of stages 2 and 3 (nothing trained):

    python -m training.train_detector --average <stage-2 weights> <stage-3 weights> --out assets/garment-detector.pt
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from pathlib import Path

from tqdm import tqdm

from core.look.garments import DETECTOR_CLASSES, garment_boxes
from core.look.shop import import_yolo
from training import street
from training.resume import pick_device


def write_dataset(street_dir: Path, work: Path) -> Path:
    """images/{train,val} (symlinks) + labels/{train,val} (YOLO txt) + garments.yaml; returns the yaml."""
    from scipy.io import loadmat

    names = street.label_names(street_dir)
    for split, photos in (("train", street.TRAIN_PHOTOS), ("val", street.EVAL_PHOTOS)):
        (work / "images" / split).mkdir(parents=True, exist_ok=True)
        (work / "labels" / split).mkdir(parents=True, exist_ok=True)
        for number in tqdm(photos, desc=f"Labels ({split})"):
            stem = f"{number:04d}"
            mat = street_dir / "annotations" / "pixel-level" / f"{stem}.mat"
            photo = street_dir / "photos" / f"{stem}.jpg"
            if not (mat.exists() and photo.exists()):
                continue
            labels = loadmat(mat)["groundtruth"]
            height, width = labels.shape
            lines = []
            for found in garment_boxes(labels, names):
                x1, y1, x2, y2 = found.box
                lines.append(
                    f"{DETECTOR_CLASSES.index(found.label)} {(x1 + x2) / 2 / width:.6f} "
                    f"{(y1 + y2) / 2 / height:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
                )
            (work / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            link = work / "images" / split / f"{stem}.jpg"
            if not link.exists():
                os.symlink(photo.resolve(), link)
    yaml = work / "garments.yaml"
    yaml.write_text(
        f"path: {work.resolve()}\ntrain: images/train\nval: images/val\n"
        f"names:\n" + "".join(f"  {i}: {name}\n" for i, name in enumerate(DETECTOR_CLASSES))
    )
    return yaml


def train(args: argparse.Namespace) -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for fonts or weights
    YOLO = import_yolo()  # noqa: N806 (ultralytics' class)

    work = Path(args.work)
    yaml = write_dataset(Path(args.street), work)
    last = work / "runs" / "garments" / "weights" / "last.pt"
    if args.finetune_from:  # stage 2 only, from weights trained earlier (e.g. the shipped detector)
        last = Path(args.finetune_from)
    elif last.exists() and not finished(last):
        model = YOLO(str(last))
        model.train(resume=True)
    elif last.exists():
        print(f"Training already finished ({last}).")
    else:
        model = YOLO(args.config)
        model.train(
            data=str(yaml),
            imgsz=args.imgsz,
            epochs=args.epochs,
            batch=args.batch,
            workers=2,
            cache="ram",
            device=yolo_device(args.device),
            pretrained=False,
            amp=False,
            plots=False,
            seed=0,
            deterministic=True,
            project=str((work / "runs").resolve()),
            name="garments",
            exist_ok=True,
            patience=0,
        )
    if args.finetune_epochs:
        last = finetune(YOLO, last, yaml, work, args)
    ship(last, Path(args.out))


def yolo_device(choice: str) -> str | int:
    """ultralytics' name for the device: "cpu", or 0 for the first GPU."""
    return 0 if pick_device(choice) == "cuda" else "cpu"


def finetune(yolo, start: Path, yaml: Path, work: Path, args: argparse.Namespace) -> Path:
    """Stage 2: go on from stage 1's weights (or --finetune-from) for more epochs, at a larger image size
    if asked (footwear and the edges of garments are small at 320 px), with no warm-up and the learning rate
    decaying to a tenth (ultralytics' automatic optimizer picks the rate, as in stage 1); resumable like
    stage 1. Returns its last checkpoint."""
    last = work / "runs" / "garments-finetune" / "weights" / "last.pt"
    if last.exists() and not finished(last):
        yolo(str(last)).train(resume=True)
    elif last.exists():
        print(f"Stage 2 already finished ({last}); give another --work to train it again.")
    else:
        yolo(str(start)).train(
            data=str(yaml),
            imgsz=args.finetune_imgsz,
            epochs=args.finetune_epochs,
            batch=args.batch,
            workers=2,
            cache="ram",
            device=yolo_device(args.device),
            amp=False,
            plots=False,
            seed=0,
            deterministic=True,
            lrf=0.1,
            warmup_epochs=0,
            close_mosaic=max(4, args.finetune_epochs // 4),
            project=str((work / "runs").resolve()),
            name="garments-finetune",
            exist_ok=True,
            patience=0,
        )
    return last


def finished(checkpoint: Path) -> bool:
    """ultralytics marks a run's final checkpoint with epoch -1 (the optimizer state removed)."""
    import torch

    return torch.load(checkpoint, map_location="cpu", weights_only=False).get("epoch") == -1


def ship(checkpoint: Path, out: Path) -> None:
    """Copy the last epoch's weights without the optimizer state. The last epoch, not ultralytics' "best":
    best is chosen by the validation photos, which are the held-out photos the benchmark reports on."""
    import_yolo()  # ultralytics imported with PIL.Image.open given back
    from ultralytics.utils.torch_utils import strip_optimizer

    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, out)
    strip_optimizer(str(out))
    print(f"Saved {out} ({out.stat().st_size / 1e6:.1f} MB)")


def average(paths: list[Path], out: Path) -> None:
    """Ship the average of several checkpoints' weights (a "model soup"): stages of one lineage, each trained
    on from the one before, so their weights lie close enough to average. Floating-point tensors are
    averaged, BatchNorm's running statistics included (not recomputed: the stages are close); counters are
    the first checkpoint's. The first checkpoint's training arguments are kept; its per-run metrics are
    dropped, and `averaged_from` names each file that went in (sha256, epochs, starting weights)."""
    import datetime

    import torch

    import_yolo()  # ultralytics' classes are needed to unpickle the models
    checkpoints = [torch.load(path, map_location="cpu", weights_only=False) for path in paths]
    models = [(checkpoint.get("ema") or checkpoint["model"]).float() for checkpoint in checkpoints]
    same_detector(paths, models)
    states = [model.state_dict() for model in models]
    averaged = {
        key: sum(state[key] for state in states) / len(states) if value.is_floating_point() else value
        for key, value in states[0].items()
    }
    models[0].load_state_dict(averaged)
    shipped = {**checkpoints[0], "model": models[0].half(), "ema": None, "optimizer": None}
    shipped.update(train_metrics=None, train_results=None, date=datetime.datetime.now().isoformat())
    shipped["averaged_from"] = [
        {
            "weights": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "epochs": checkpoint.get("train_args", {}).get("epochs"),
            "imgsz": checkpoint.get("train_args", {}).get("imgsz"),
            "started_from": checkpoint.get("train_args", {}).get("model"),
        }
        for path, checkpoint in zip(paths, checkpoints)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(shipped, out)
    print(f"Saved {out}: the average of {len(paths)} checkpoints ({out.stat().st_size / 1e6:.1f} MB)")


def same_detector(paths: list[Path], models: list) -> None:
    """Refuse to average detectors with other classes or other layers than the first."""
    shapes = [{key: value.shape for key, value in model.state_dict().items()} for model in models]
    for path, model, shape in zip(paths[1:], models[1:], shapes[1:]):
        if model.names != models[0].names or shape != shapes[0]:
            raise SystemExit(f"{path} is not the same detector as {paths[0]} (classes or layers differ)")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--street", help="street-photos folder (needed to train)")
    parser.add_argument("--out", default="assets/garment-detector.pt")
    parser.add_argument("--work", default="data/training/detector")
    parser.add_argument("--config", default="yolov8n.yaml", help="ultralytics model config (no weights)")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one, else the CPU), cpu or cuda")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="stage 2 epochs (0: none; 10 at 416 px measured no better: see the model card)",
    )
    parser.add_argument("--finetune-imgsz", type=int, default=416, help="stage 2 image size")
    parser.add_argument(
        "--finetune-from", help="start stage 2 from these weights and skip stage 1 (e.g. assets/garment-detector.pt)"
    )
    parser.add_argument(
        "--average", nargs="+", metavar="WEIGHTS", help="train nothing: save the average of these checkpoints as --out"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = parser()
    args = arguments.parse_args(argv)
    if args.average:
        missing = [path for path in args.average if not Path(path).is_file()]
        if missing or len(args.average) < 2:
            arguments.error(f"--average needs at least two weights files ({', '.join(missing) or 'one given'})")
        average([Path(path) for path in args.average], Path(args.out))
        return
    if not args.street:
        arguments.error("--street is needed to train (or --average to average trained weights)")
    if args.finetune_from and not Path(args.finetune_from).is_file():
        arguments.error(f"--finetune-from {args.finetune_from}: no such weights file")
    if args.finetune_from and args.finetune_epochs <= 0:
        arguments.error("--finetune-from needs --finetune-epochs N (N > 0)")
    train(args)


if __name__ == "__main__":
    main()

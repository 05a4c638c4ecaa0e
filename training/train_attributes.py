"""Train the garment-attribute head (core/attributes.py): sleeve length and garment length.

    python -m training.train_attributes --catalog ../shared/datasets/fashion-products \
        --photos ../shared/datasets/clothing-photos --street ../shared/datasets/street-photos \
        --out assets/garment-attributes.pt

The head reads the bundled encoder's 4x4 token grid (frozen), so training is fast on a CPU once the tokens
are cached under --work (each photo and its mirror image). Labels, by source:
    people's photos   clothing-photos, training senders only (training/clothing-photos-split.json):
                      T-Shirt, Polo -> short sleeves; Longsleeve, Hoodie, Blazer, Outwear -> long;
                      Undershirt -> none; Shorts -> shorts; Pants -> full length
    catalog           training-split products (core/split.py): sleeves labelled by eye
                      (training/attribute-labels.json) and, at a lower weight, the geometric estimate
                      (core/garment_features.py) where the article type agrees with it; length from the
                      article type (Kurtas -> long top, Capris -> cropped, Jeans -> full, ...) and, for dresses
                      and skirts, by eye
    street photos     0001-0640: dress and skirt length from where the hem sits between head and shoes
                      (street_hem_length); shorts -> shorts
Evaluation data never enters: held-out senders, held-out catalog products, benchmarks/sleeve-labels.json,
street photos 0641-0804 (benchmarks/attributes.py measures on those).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import ImageOps
from tqdm import tqdm

from core.attributes import LENGTHS, SLEEVES, AttributeHead, family_of, has_sleeves, save_attribute_model
from core.encoders import BUNDLED_ENCODER, load_encoder
from core.images import load_image
from core.split import is_held_out
from training import clothing_photos, street
from training.resume import trained_on

VERSION = "1"
LABELS_FILE = Path("training/attribute-labels.json")
EVAL_LABELS = Path(__file__).resolve().parents[1] / "benchmarks" / "sleeve-labels.json"
PHOTO_SLEEVES = {
    "T-Shirt": "short",
    "Polo": "short",
    "Longsleeve": "long",
    "Hoodie": "long",
    "Blazer": "long",
    "Outwear": "long",
    "Undershirt": "none",
}
PHOTO_LENGTHS = {"Shorts": ("bottom", "shorts"), "Pants": ("bottom", "full")}
PHOTO_FAMILY = {
    **{k: "top" for k in PHOTO_SLEEVES},
    "Shirt": "top",
    "Top": "top",
    "Blouse": "top",
    "Dress": "dress",
    "Skirt": "dress",
    "Shorts": "bottom",
    "Pants": "bottom",
}
TYPE_LENGTHS = {  # catalog article type -> length it always has
    "Tshirts": "regular",
    "Shirts": "regular",
    "Sweatshirts": "regular",
    "Sweaters": "regular",
    "Jackets": "regular",
    "Kurtas": "long",
    "Kurtis": "long",
    "Tunics": "long",
    "Shorts": "shorts",
    "Capris": "cropped",
    "Trousers": "full",
    "Jeans": "full",
    "Track Pants": "full",
    "Leggings": "full",
    "Churidar": "full",
    "Tights": "full",
    "Jeggings": "full",
    "Salwar": "full",
}
TYPE_SLEEVES = {  # catalog article type -> geometric estimates accepted as weak labels (not "long" for
    # T-shirts: flat packshots of short-sleeved ones read long by their silhouette)
    "Tshirts": ("short",),
    "Shirts": ("short", "long"),
    "Tops": ("none", "short", "long"),
    "Sweaters": ("long", "none"),
    "Sweatshirts": ("long",),
    "Jackets": ("long",),
    "Kurtas": ("short", "long"),
    "Kurtis": ("short", "long"),
    "Dresses": ("none", "short", "long"),
}
WEAK_WEIGHT = 0.1
STREET_WEIGHT = 1.0
EYE_WEIGHT = 3.0
GROUPS_FEET = ("shoes", "boots", "heels", "sneakers", "sandals", "flats", "pumps", "wedges", "loafers", "clogs")


@dataclass(frozen=True)
class Sample:
    key: str  # unique: source:id
    load: object  # () -> PIL image
    family: str
    sleeves: str | None
    length: str | None
    weight: float


# ---- labels --------------------------------------------------------------------------------
def photo_samples(folder: Path) -> list[Sample]:
    train, _ = clothing_photos.split(clothing_photos.read_all(folder))
    samples = []
    for photo in train:
        family = PHOTO_FAMILY.get(photo.label)
        if family is None:
            continue
        length = PHOTO_LENGTHS.get(photo.label, (None, None))[1]
        sleeves = PHOTO_SLEEVES.get(photo.label)
        if sleeves or length:
            samples.append(Sample(f"photo:{photo.path.stem}", _loader(photo.path), family, sleeves, length, 1.0))
    return samples


def catalog_samples(
    catalog: Path, geometric: dict[int, str | None], eye: dict[str, dict], weak_weight: float = WEAK_WEIGHT
) -> list[Sample]:
    styles = pd.read_csv(catalog / "styles.csv", on_bad_lines="skip").fillna("")
    banned = set(json.loads(EVAL_LABELS.read_text())["labels"])
    samples = []
    for row in styles.itertuples():
        family = family_of(row.articleType)
        if family is None or is_held_out(row.id) or str(row.id) in banned:
            continue
        marked = eye.get(str(row.id), {})
        sleeves, weight = marked.get("sleeves"), EYE_WEIGHT
        if not has_sleeves(row.articleType):
            sleeves = None
        elif sleeves is None:
            estimate = geometric.get(int(row.id))
            sleeves = estimate if estimate in TYPE_SLEEVES.get(row.articleType, ()) and weak_weight > 0 else None
            weight = weak_weight
        length = marked.get("length") or TYPE_LENGTHS.get(row.articleType)
        if sleeves or length:
            samples.append(
                Sample(
                    f"catalog:{row.id}",
                    _loader(catalog / "images" / f"{row.id}.jpg"),
                    family,
                    sleeves,
                    length,
                    weight if sleeves else 1.0,
                )
            )
    return samples


def street_hem_length(labels: np.ndarray, names: list[str], garment: np.ndarray) -> str | None:
    """mini / knee / midi / maxi from where a dress's or skirt's hem sits between the top of the person
    and the soles of the shoes (knee at ~0.72 of that height); None without shoes in the photo."""
    feet = np.isin(labels, [i for i, n in enumerate(names) if n in GROUPS_FEET])
    person = labels > 0
    if not feet.any() or not garment.any():
        return None
    rows = np.flatnonzero(person.any(axis=1))
    top, bottom = rows.min(), np.flatnonzero(feet.any(axis=1)).max()
    hem = np.flatnonzero(garment.any(axis=1)).max()
    share = (hem - top) / max(1, bottom - top)
    return "mini" if share < 0.62 else "knee" if share < 0.76 else "midi" if share < 0.9 else "maxi"


def street_samples(folder: Path) -> list[Sample]:
    names = street.label_names(folder)
    samples = []
    for jpg, labels, photo in street.annotated_photos(folder, street.TRAIN_PHOTOS):
        for name, family in (("dress", "dress"), ("skirt", "dress"), ("shorts", "bottom")):
            if name not in names:
                continue
            garment = labels == names.index(name)
            box = street.largest_part_box(garment, street.MIN_AREA)
            if box is None:
                continue
            length = "shorts" if name == "shorts" else street_hem_length(labels, names, garment)
            if length:
                crop = photo.crop(_with_margin(box, photo.size))
                samples.append(
                    Sample(f"street:{jpg.stem}:{name}", (lambda c=crop: c), family, None, length, STREET_WEIGHT)
                )
    return samples


def _with_margin(box, size, margin: float = 0.08):
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return (max(0, int(x1 - dx)), max(0, int(y1 - dy)), min(size[0], int(x2 + dx)), min(size[1], int(y2 + dy)))


def _loader(path: Path):
    return lambda: load_image(path)


def geometric_sleeves(catalog: Path, cache: Path) -> dict[int, str | None]:
    """The geometric estimate (core/garment_features.py, pose landmarks on a model) of every catalog top and
    dress, cached in `cache`: the weak labels."""
    if cache.is_file():
        return {int(k): v for k, v in json.loads(cache.read_text()).items()}
    from core.garment_features import extract
    from core.look.pose_model import PoseModel

    styles = pd.read_csv(catalog / "styles.csv", on_bad_lines="skip").fillna("")
    tops = styles[styles["articleType"].map(has_sleeves)]
    pose, found = PoseModel(), {}
    for product in tqdm(tops["id"], desc="Geometric sleeve estimates (weak labels)"):
        image = load_image(catalog / "images" / f"{product}.jpg")
        found[int(product)] = extract(image, pose.landmarks(image)).sleeves
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(found))
    return found


# ---- features ------------------------------------------------------------------------------
def cached_tokens(
    samples: list[Sample], encoder, cache: Path, layer: int = 4, batch: int = 64
) -> dict[str, torch.Tensor]:
    """key -> tokens [2, cells, C] float16 of encoder stage `layer` (the photo and its mirror), cached per encoder."""
    known: dict[str, torch.Tensor] = {}
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        if saved.get("encoder") == encoder.model_key:
            known = saved["tokens"]
    todo = [s for s in samples if s.key not in known]
    for start in tqdm(range(0, len(todo), batch), desc="Encoder tokens", disable=not todo):
        part = todo[start : start + batch]
        images = [s.load() for s in part]
        both = images + [ImageOps.mirror(i) for i in images]
        tokens = encoder.image_grid(both, layer).to(torch.float16)
        for row, sample in enumerate(part):
            known[sample.key] = torch.stack([tokens[row], tokens[row + len(part)]])
    if todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"encoder": encoder.model_key, "tokens": known}, cache)
    return known


def tensors(samples: list[Sample], tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stacked training tensors; -1 marks a missing label (sleeves, or length of each family)."""
    x = torch.stack([tokens[s.key] for s in samples]).float()  # [N, 2, 16, C]
    sleeves = torch.tensor([SLEEVES.index(s.sleeves) if s.sleeves else -1 for s in samples])
    lengths = {
        family: torch.tensor(
            [names.index(s.length) if s.family == family and s.length in names else -1 for s in samples]
        )
        for family, names in LENGTHS.items()
    }
    weight = torch.tensor([s.weight for s in samples], dtype=torch.float32)
    return {"x": x, "sleeves": sleeves, "weight": weight, **{f"length:{f}": v for f, v in lengths.items()}}


def loss_of(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], smoothing: float) -> torch.Tensor:
    total = torch.zeros(())
    for name, logits in outputs.items():
        target = batch[name]
        keep = target >= 0
        if keep.any():
            each = F.cross_entropy(logits[keep], target[keep], reduction="none", label_smoothing=smoothing)
            total = total + (each * batch["weight"][keep]).sum() / batch["weight"][keep].sum()
    return total


def train(
    data: dict[str, torch.Tensor], epochs: int, seed: int, lr: float = 2e-3, batch: int = 256, smoothing: float = 0.05
) -> tuple[AttributeHead, list[dict]]:
    torch.manual_seed(seed)
    head = AttributeHead(channels=data["x"].shape[-1], cells=data["x"].shape[-2])
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=epochs * -(-len(data["x"]) // batch))
    history = []
    for epoch in range(epochs):
        head.train()
        order, losses = torch.randperm(len(data["x"])), []
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            mirror = torch.randint(0, 2, (len(rows),))
            part = {k: v[rows] for k, v in data.items()}
            part["x"] = part["x"][torch.arange(len(rows)), mirror]  # the photo or its mirror image
            loss = loss_of(head(part["x"]), part, smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": round(float(np.mean(losses)), 4)})
    return head.eval(), history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True, help="the clothing-photos folder")
    parser.add_argument("--street", type=Path, required=True, help="the street-photos folder")
    parser.add_argument("--labels", type=Path, default=LABELS_FILE, help="catalog labels made by eye")
    parser.add_argument("--out", type=Path, default=Path("assets/garment-attributes.pt"))
    parser.add_argument("--work", type=Path, default=Path("data/training/attributes"))
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--layer",
        type=int,
        choices=[3, 4],
        default=3,
        help="the encoder stage whose grid the head reads (3: 8x8 cells, 4: 4x4)",
    )
    parser.add_argument(
        "--members",
        type=int,
        default=5,
        help="heads trained from seeds seed..seed+members-1 and averaged (less variance from the few labels by eye)",
    )
    parser.add_argument(
        "--weak-weight", type=float, default=WEAK_WEIGHT, help="weight of the geometric weak labels (0 leaves them out)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    encoder = load_encoder(BUNDLED_ENCODER)
    eye = json.loads(args.labels.read_text())["labels"] if args.labels.is_file() else {}
    geometric = geometric_sleeves(args.catalog, args.work / "geometric-sleeves.json") if args.weak_weight > 0 else {}
    samples = (
        photo_samples(args.photos)
        + catalog_samples(args.catalog, geometric, eye, args.weak_weight)
        + street_samples(args.street)
    )
    tokens = cached_tokens(samples, encoder, args.work / f"tokens-layer{args.layer}.pt", args.layer)
    data = tensors(samples, tokens)
    trained = [train(data, args.epochs, args.seed + member) for member in range(args.members)]
    heads, history = [head for head, _ in trained], trained[0][1]
    counts = {source: sum(s.key.startswith(source) for s in samples) for source in ("photo", "catalog", "street")}
    record = {
        "version": VERSION,
        "encoder": encoder.model_key,
        "trained_on": trained_on("cpu"),
        "minutes": round((time.perf_counter() - started) / 60, 1),
        "epochs": args.epochs,
        "members": args.members,
        "samples": counts,
        "sleeve_labels": {name: sum(s.sleeves == name for s in samples) for name in SLEEVES},
        "length_labels": {
            f"{f}:{n}": sum(s.family == f and s.length == n for s in samples)
            for f, names in LENGTHS.items()
            for n in names
        },
        "eye_labels": len(eye),
        "weak_weight": args.weak_weight,
        "history": history,
        "command": "python -m training.train_attributes "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (False, None)),
    }
    save_attribute_model(args.out, heads, record, args.layer)
    print(json.dumps({k: v for k, v in record.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()

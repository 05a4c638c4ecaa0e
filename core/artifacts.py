"""The shipped models: one registry of name -> weights, loader and card, and the typed record each
checkpoint carries of how it was made.

Every bundled weight path in core/ comes from here (`path_of`), each model family has one loader (named
below), and each card (assets/<name>.md) leads with a "Key figures" section that `python -m core models`
reads. Importing this module loads nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.config import PROJECT_ROOT

ASSETS = PROJECT_ROOT / "assets"


@dataclass(frozen=True)
class Artifact:
    name: str  # also the file stem under assets/
    family: str  # what it does in the app
    loader: str  # the one function that loads it ("module:function")
    suffix: str = ".pt"

    @property
    def path(self) -> Path:
        return ASSETS / f"{self.name}{self.suffix}"

    @property
    def card(self) -> Path:
        return ASSETS / f"{self.name}.md"


ARTIFACTS: dict[str, Artifact] = {
    a.name: a
    for a in (
        Artifact(
            "stylelens-small",
            "image and text encoder (search, type / colour / gender heads)",
            "core.encoders:load_encoder",
        ),
        Artifact(
            "composer-small", "composes a reference photo and feedback text into one query", "core.composer:composition"
        ),
        Artifact(
            "reranker-small", "re-orders the first stage's top 100 from garment features", "core.rerank:load_reranker"
        ),
        Artifact("garment-attributes", "sleeve and length of a garment photo", "core.attributes:load_attribute_model"),
        Artifact("garment-segmenter", "garment masks: cuts the garment out of a photo", "core.segment:load_segmenter"),
        Artifact(
            "garment-kind",
            "which article type a real photo shows: the type prior of photo queries",
            "core.kinds:load_kind_model",
        ),
        Artifact(
            "garment-detector",
            "Shop the Look: finds topwear, bottomwear, footwear, full-body pieces",
            "core.look.shop:GarmentDetector",
        ),
        Artifact(
            "gender-probe",
            "Shop the Look: whose clothing it is, from face and body",
            "core.look.gender:load_gender_model",
        ),
    )
}


def path_of(name: str) -> Path:
    """The bundled weights of the model `name` (KeyError for a name not shipped)."""
    return ARTIFACTS[name].path


@dataclass(frozen=True)
class TrainingRecord:
    """How a checkpoint was made, as every training script records it: the command, its data, where and how
    long it trained, what it was trained on top of. `extra` keeps the fields one family records alone
    (history, config, cross-validation, ...)."""

    command: str = ""
    data: object = None
    version: str = ""
    encoder: str = ""  # the encoder whose features it reads (models on top of the encoder)
    trained_on: str = ""  # device, e.g. "cpu (2 CPU threads)"
    minutes: float | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, record: dict | None) -> TrainingRecord:
        record = dict(record) if isinstance(record, dict) else {}
        known = {
            name: record.pop(name)
            for name in ("command", "data", "version", "encoder", "trained_on", "minutes")
            if name in record
        }
        known["version"] = str(known.get("version", ""))
        return cls(**known, extra=record)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "extra" and v not in (None, "")}


def key_figures(card: Path) -> dict[str, str]:
    """The "Key figures" of a model card: each `- what: value` line of that section, in order."""
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return {}
    section = re.search(r"^## Key figures\s*\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if section is None:
        return {}
    figures = {}
    for line in section.group(1).splitlines():
        if line.startswith("- ") and ": " in line:
            what, value = line[2:].rsplit(": ", 1)
            figures[what.strip()] = value.strip()
    return figures


def training_record(path: Path) -> TrainingRecord | None:
    """The record a StyleLens checkpoint carries (core/checkpoints.py's payload); None for another format
    (the detector is an ultralytics checkpoint) or a file that cannot be read."""
    from core.checkpoints import load_payload
    from core.errors import ModelUnavailable

    try:
        return TrainingRecord.from_dict(load_payload(path, None, "model").get("record"))
    except ModelUnavailable:
        return None


def describe(artifact: Artifact) -> dict:
    """One model for `python -m core models --json`: name, family, file, size, card, its key figures and how
    it was trained (the checkpoint's own record)."""
    present = artifact.path.is_file()
    record = training_record(artifact.path) if present else None
    return {
        "name": artifact.name,
        "family": artifact.family,
        "loader": artifact.loader,
        "path": str(artifact.path.relative_to(PROJECT_ROOT)),
        "present": present,
        "megabytes": round(artifact.path.stat().st_size / 2**20, 2) if present else None,
        "card": str(artifact.card.relative_to(PROJECT_ROOT)),
        "key_figures": key_figures(artifact.card),
        "trained": record.to_json() if record is not None else None,
    }


def with_key_figures(card: str, figures: dict[str, str]) -> str:
    """A rendered model card with its "Key figures" section after the title (each benchmark that writes a card
    passes the figures it measured, so `python -m core models` and the card never disagree)."""
    title, rest = card.split("\n", 1)
    lines = "\n".join(f"- {what}: {value}" for what, value in figures.items())
    return f"{title}\n\n## Key figures\n{lines}\n{rest}"


def versus(value: float, label: str, other: float) -> str:
    """ "0.917 (first stage 0.874)": a figure beside its baseline."""
    return f"{value:.3f} ({label} {other:.3f})"

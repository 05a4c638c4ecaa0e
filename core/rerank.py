"""Second-stage re-ranking: a small network scores each first-stage candidate from garment features.

The first stage (image, text or composed search) returns its top candidates with scores. For every
candidate, `pair_features` describes how it relates to the query: what the feedback asks for (colour,
lighter/darker, sleeves, pattern) set against the candidate's features read from its photo
(core/garment_features.py, stored in MongoDB), how it compares with the reference's features, and the
first-stage score and rank. The Reranker (an MLP trained with a pairwise ranking loss,
training/train_reranker.py) adds a learned correction to the first-stage score. Explanations come
from the same features: the chips that agree with what was asked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.artifacts import path_of
from core.attributes import Wish
from core.checkpoints import load_payload, save_payload
from core.errors import ModelUnavailable
from core.feedback import Chip, Feedback
from core.garment_features import SLEEVES, GarmentFeatures, rgb_to_lab

FORMAT = "stylelens-reranker/1"
BUNDLED_RERANKER = path_of("reranker-small")
FEATURE_NAMES = (
    "score",
    "score_gap",
    "rank",
    "colour_asked",
    "colour_match",
    "reference_colour_match",
    "lighter_asked",
    "lightness_step",
    "lightness_change",
    "sleeves_asked",
    "sleeves_match",
    "reference_sleeves_match",
    "pattern_asked",
    "pattern_match",
    "pattern_change",
    "shape_change",
    "type_read",
    "type_probability",
)
PATTERNED = {"striped": 1.0, "checked": 1.0, "printed": 1.0, "solid": -1.0}


@dataclass(frozen=True)
class Query:
    """What re-ranking knows of a query: the feedback read from its text (if any), the reference's features
    (if the query has a picture), and the sleeve and garment lengths asked for, read against the reference."""

    feedback: Feedback | None = None
    reference: GarmentFeatures | None = None
    wish: Wish = Wish()
    type_prior: dict[str, float] = field(default_factory=dict)  # a photo query: P(article type) read from it


def colour_lab(features: GarmentFeatures) -> np.ndarray:
    """The main colour of a garment in L*a*b*."""
    return _lab(tuple(features.colours[0][0]) if features.colours else (255, 255, 255))


@functools.lru_cache(maxsize=65_536)
def _lab(rgb: tuple[int, int, int]) -> np.ndarray:
    """L*a*b* of one 8-bit sRGB colour (kept: a re-rank compares the reference's with 100 candidates')."""
    lab = rgb_to_lab(np.array(rgb, dtype=np.float32)[None] / 255)[0]
    lab.setflags(write=False)  # shared between callers
    return lab


def closeness(a: np.ndarray, b: np.ndarray) -> float:
    """1 for the same colour, falling with the CIE76 distance (about 0.37 at delta E 25)."""
    return float(np.exp(-np.linalg.norm(a - b) / 25.0))


def pair_features(
    query: Query,
    candidate: GarmentFeatures | None,
    score: float,
    top_score: float,
    rank: int,
    depth: int,
    prototypes: dict[str, np.ndarray],
    kind: str | None = None,
) -> np.ndarray:
    """One row of FEATURE_NAMES for one candidate of article type `kind` (candidate None: its photo's
    features are unknown)."""
    row = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    row[0:3] = score, score - top_score, rank / depth
    if query.type_prior:
        row[16], row[17] = 1.0, query.type_prior.get(kind or "", 0.0)
    if candidate is None:
        return row
    feedback, reference = query.feedback, query.reference
    lab = colour_lab(candidate)
    if feedback and feedback.colour_group in prototypes:
        row[3], row[4] = 1.0, closeness(lab, prototypes[feedback.colour_group])
    if reference is not None:
        row[5] = closeness(lab, colour_lab(reference))
        step = candidate.lightness - reference.lightness
        row[7], row[8] = (step * feedback.lightness if feedback else 0.0), abs(step)
        row[11] = _same_sleeves(candidate.sleeves, reference.sleeves)
        row[14] = abs(candidate.pattern - reference.pattern)
        row[15] = abs(candidate.aspect - reference.aspect) + abs(candidate.fill - reference.fill)
    if feedback and feedback.lightness:
        row[6] = 1.0
    if query.wish.sleeves:
        row[9], row[10] = 1.0, _meets(candidate.sleeves, query.wish.sleeves)
    if feedback and feedback.pattern in PATTERNED:
        row[12], row[13] = 1.0, PATTERNED[feedback.pattern] * (candidate.pattern - 0.1)
    return row


def _meets(value: str | None, allowed: tuple[str, ...]) -> float:
    """1 when the stored value is one of those asked for, 0 when not, 0.5 when it is not known."""
    return 0.5 if value is None else float(value in allowed)


def _same_sleeves(a: str | None, b: str | None) -> float:
    """1 same, 0 opposite ends (none vs long), between for neighbours; 0.5 when either is unknown."""
    if a is None or b is None:
        return 0.5
    return 1.0 - abs(SLEEVES.index(a) - SLEEVES.index(b)) / (len(SLEEVES) - 1)


@torch.no_grad()
def rerank_order(
    model: Reranker,
    prototypes: dict[str, np.ndarray],
    query: Query,
    candidates: list[GarmentFeatures | None],
    scores: list[float],
    kinds: list[str] | None = None,
) -> tuple[list[int], np.ndarray]:
    """Candidate positions best first, and the re-ranked scores (in the candidates' order). `kinds`: the
    candidates' article types (read against a photo query's type prior)."""
    if not scores:
        return [], np.zeros(0, dtype=np.float32)
    kinds = kinds if kinds is not None else [None] * len(scores)
    rows = np.stack(
        [
            pair_features(query, c, s, scores[0], i, len(scores), prototypes, kind)
            for i, (c, s, kind) in enumerate(zip(candidates, scores, kinds))
        ]
    )
    new = model(torch.from_numpy(rows)).numpy()
    return [int(i) for i in np.argsort(-new, kind="stable")], new


COLOUR_MATCH = 0.45  # closeness to the asked colour's prototype that counts as "that colour"
PATTERN_BUSY = 0.32  # pattern score above which a photo reads as patterned (catalog medians: solid 0.25,
# striped 0.29, printed 0.33, checked 0.49, training split, by product name)


def explain(query: Query, candidate: GarmentFeatures | None, prototypes: dict[str, np.ndarray]) -> list[Chip]:
    """The chips behind a re-ranked result: each asked-for property, met (✓) or not (✗), read from its photo."""
    if candidate is None:
        return []
    chips, feedback, reference = [], query.feedback, query.reference
    if feedback and feedback.colour_group in prototypes:
        match = closeness(colour_lab(candidate), prototypes[feedback.colour_group])
        chips.append(Chip(feedback.colour_group.lower(), match >= COLOUR_MATCH))
    if feedback and feedback.lightness and reference is not None:
        lighter = candidate.lightness > reference.lightness
        chips.append(Chip("lighter" if feedback.lightness > 0 else "darker", lighter == (feedback.lightness > 0)))
    chips += wish_chips(query.wish, candidate)
    if feedback and feedback.pattern in PATTERNED:
        busy = candidate.pattern > PATTERN_BUSY
        chips.append(Chip(feedback.pattern, busy == (PATTERNED[feedback.pattern] > 0)))
    return chips


def wish_chips(wish: Wish, candidate: GarmentFeatures | None) -> list[Chip]:
    """Sleeves and length asked for, met (✓) or not (✗) by the candidate's stored attributes."""
    if candidate is None:
        return []
    chips = []
    if wish.sleeves:
        chips.append(Chip(wish.sleeve_label, candidate.sleeves in wish.sleeves))
    if wish.lengths:
        label = wish.length_label if wish.length_label in ("longer", "shorter") else "/".join(wish.lengths)
        chips.append(Chip(f"{label} length" if label not in ("shorts",) else label, candidate.length in wish.lengths))
    return chips


class Reranker(nn.Module):
    """score' = first-stage score + MLP(features): a learned correction, so an untrained net keeps the order."""

    def __init__(self, features: int = len(FEATURE_NAMES), hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:  # [..., F] -> [...]
        return rows[..., 0] + self.net(rows).squeeze(-1)


def pairwise_loss(scores: torch.Tensor, relevant: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """RankNet: for every (relevant, not relevant) pair of one list, -log sigmoid(s_rel - s_irr), averaged.
    scores, relevant: [B, N] (relevant as 0/1); mask [B, N] marks real candidates (padding 0)."""
    mask = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.bool()
    good = relevant.bool() & mask
    bad = ~relevant.bool() & mask
    pairs = good.unsqueeze(2) & bad.unsqueeze(1)  # [B, N, N]: i relevant, j not
    margins = scores.unsqueeze(2) - scores.unsqueeze(1)
    losses = nn.functional.softplus(-margins)  # = -log sigmoid(margin)
    return (losses * pairs).sum() / pairs.sum().clamp(min=1)


def save_reranker(path: Path, model: Reranker, prototypes: dict[str, np.ndarray], record: dict) -> None:
    save_payload(
        path,
        FORMAT,
        model,
        record,
        config={"features": model.net[0].in_features, "hidden": model.net[0].out_features},
        prototypes={k: v.tolist() for k, v in prototypes.items()},
        feature_names=list(FEATURE_NAMES),
    )


def load_reranker(path: Path | None = None) -> tuple[Reranker, dict[str, np.ndarray], dict]:
    """The re-ranker, its colour prototypes and its record; ModelUnavailable when missing or not one."""
    path = Path(path or BUNDLED_RERANKER)
    if not path.is_file():
        raise ModelUnavailable(f"The re-ranker {path} is missing (python -m training.train_reranker).")
    payload = load_payload(path, FORMAT, "re-ranker")
    if tuple(payload["feature_names"]) != FEATURE_NAMES:
        raise ModelUnavailable(f"{path} was trained on other features than this version of StyleLens computes.")
    model = Reranker(**payload["config"])
    model.load_state_dict(payload["state_dict"])
    prototypes = {k: np.array(v, dtype=np.float32) for k, v in payload["prototypes"].items()}
    return model.eval(), prototypes, payload["record"]

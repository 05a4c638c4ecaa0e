"""How a photo becomes a query: the one path every photo search takes.

Search by photo, Shop the Look (each garment), Refine with an uploaded photo, `core categories` and
`python -m core evaluate` with image queries all call `PhotoReader.read`, then rank with `rescore`:

    photo -> garment mask (core/segment.py, when a segmenter is shipped and the mask is trusted)
          -> the garment cut out on white (as the catalog's packshots are)
          -> embedding of the photo, the cut-out or both (EMBED, chosen by measurement; optionally
             averaged with the mirror images)
          -> article-type distribution of the garment-kind classifier (core/kinds.py; the encoder's own
             article head when it is off): a soft prior on the candidates' types
          -> the garment's colour, read from its own pixels only (never the background or skin)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageOps

from core.encoders import Encoder, l2_normalize
from core.index import Neighbour, VectorIndex
from core.kinds import KindModel, fits
from core.segment import GarmentSegmenter, cut_out, trusted

# score = cosine similarity + PRIOR_WEIGHT * P(candidate's article type | photo). Chosen with the encoder's
# own head on the real-photo benchmark (benchmarks/real_photos.py, before a validation set existed): phone
# photos / street crops precision@10 at weight 0: 0.582 / 0.460, 0.3: 0.677 / 0.576, 0.6: 0.688 / 0.586,
# 1.0: 0.691 / 0.589. Checked for the garment-kind classifier on its validation photos (training senders
# and street photos held back from its validated run, never the benchmark's): 0.3 / 0.6 / 1.0 / 2.0 gave
# 0.757 / 0.771 / 0.772 / 0.770 (photos) and 0.749 / 0.749 / 0.742 / 0.736 (street crops), so 0.6 stays.
PRIOR_WEIGHT = 0.6
# Share of the encoder's own article head in the type prior when the kind classifier (fine-tuned from that
# head) stands in for it: P = (1 - HEAD_SHARE) * classifier + HEAD_SHARE * head, an output ensemble of the
# fine-tuned model and the model it started from. Chosen before measuring, measured once on the held-out
# benchmark (benchmarks/real_photos.py, variant mix0.5 vs kind): share 0.5 named an accepted type slightly more
# often (0.783 / 0.679 vs 0.779 / 0.671, phone photos / street crops) but its flatter prior ranked worse
# (p@10 0.725 / 0.642 vs 0.751 / 0.659), so the classifier alone is served.
HEAD_SHARE = 0.0
PRIOR_DEPTH = 100  # first-stage candidates the prior re-orders
# The nearest products of the photo's likeliest types join the candidates, so a type the image similarity
# misses (a dress whose neighbours are jeans) can still win: up to PRIOR_TYPES types with P >= PRIOR_MIN.
PRIOR_TYPES, PRIOR_MIN = 3, 0.1
# What is embedded once the garment is found: "cutout" (the garment on white), "photo" (the picture as it
# came; the mask then serves colour and drawing only) or "both" (the two embeddings averaged).
# Measured by benchmarks/real_photos.py with the bundled encoder (assets/stylelens-small.md): the encoder
# trained on real photos reads them best as they came (phone photos p@10 0.677 photo, 0.676 both, 0.598
# cut-out; street crops 0.576, 0.528, 0.410), so the mask gives colour and pictures, not the vector.
EMBED_MODES = ("cutout", "photo", "both")
EMBED = "photo"


@dataclass(frozen=True)
class PhotoQuery:
    """What was read from one photo, and what it searches with."""

    vector: np.ndarray  # float32 [D], unit: the embedding the index is searched with
    type_prior: dict[str, float]  # article type -> probability; empty without a kind model or encoder type head
    mask: np.ndarray | None  # bool [H, W] garment pixels of the photo; None when not segmented (or not trusted)
    colour: tuple[int, int, int]  # median RGB of the garment's pixels (all pixels without a mask)
    cutout: Image.Image  # the garment cut out on white (the photo as it was without a trusted mask)
    prediction: object | None = None  # core.encoders.stylelens.Prediction when the encoder has heads

    @property
    def segmented(self) -> bool:
        return self.mask is not None


class PhotoReader:
    """Turns photos into PhotoQuery objects with one encoder, optionally one segmenter and one garment-kind
    classifier. Stateless, so the sessions of the app share one."""

    def __init__(
        self,
        encoder: Encoder,
        segmenter: GarmentSegmenter | None = None,
        prior_weight: float = PRIOR_WEIGHT,
        flip: bool = False,
        embed: str = EMBED,
        kinds: KindModel | None = None,
        head_share: float = HEAD_SHARE,
    ):
        if embed not in EMBED_MODES:
            raise ValueError(f"embed must be one of {', '.join(EMBED_MODES)}, not {embed!r}")
        self.encoder, self.segmenter, self.kinds = encoder, segmenter, kinds
        if not 0.0 <= head_share <= 1.0:
            raise ValueError(f"head_share must be between 0 and 1, not {head_share}")
        if head_share and kinds is not None and not fits(kinds, encoder):
            raise ValueError("head_share needs an encoder whose article head has the classifier's article types")
        self.prior_weight, self.flip, self.embed, self.head_share = prior_weight, flip, embed, head_share

    def read(self, pictures: Sequence[Image.Image]) -> list[PhotoQuery]:
        if not pictures:
            return []
        masks = self.masks(pictures)
        cutouts = [cut_out(p, m) if m is not None else p for p, m in zip(pictures, masks)]
        vectors = self._embed(pictures, cutouts)  # [N, D]
        priors, predictions = self._heads(vectors, pictures)
        return [
            PhotoQuery(v, prior, m, garment_colour(p, m), c, pred)
            for v, prior, m, p, c, pred in zip(vectors, priors, masks, pictures, cutouts, predictions)
        ]

    def _embed(self, pictures: Sequence[Image.Image], cutouts: Sequence[Image.Image]) -> np.ndarray:
        """The query vectors of the embed mode (a picture without a trusted mask is its own cut-out)."""
        shown = {"cutout": [list(cutouts)], "photo": [list(pictures)], "both": [list(cutouts), list(pictures)]}
        views = shown[self.embed]
        if self.flip:
            views = views + [[ImageOps.mirror(p) for p in view] for view in views]
        return l2_normalize(sum(self.encoder.embed_images(view) for view in views))

    def masks(self, pictures: Sequence[Image.Image]) -> list[np.ndarray | None]:
        """The garment mask of each picture, None where there is no segmenter or the mask is not trusted."""
        if self.segmenter is None:
            return [None] * len(pictures)
        return [m if trusted(m) else None for m in self.segmenter.masks(pictures)]

    def _heads(self, vectors: np.ndarray, pictures: Sequence[Image.Image]) -> tuple[list[dict[str, float]], list]:
        """The type prior of each photo (the kind classifier's, mixed with head_share of the encoder head's;
        else the encoder head's) and what the encoder's heads read in it, its article type taken from the same
        distribution as the prior."""
        heads = hasattr(self.encoder, "article_distributions")
        predictions = self.encoder.classify_embeddings(vectors) if heads else [None] * len(vectors)
        if self.kinds is not None:
            names, distributions = self.kinds.article_types, self.kinds.distributions(pictures)
            if heads and self.head_share:  # the classifier fits the encoder: same article types, same order
                head = self.encoder.article_distributions(vectors)
                distributions = (1 - self.head_share) * distributions + self.head_share * head
            predictions = [with_kind(p, names, row) for p, row in zip(predictions, distributions)]
        elif heads:
            names, distributions = self.encoder.labels.article_types, self.encoder.article_distributions(vectors)
        else:
            return [{}] * len(vectors), predictions
        return [dict(zip(names, map(float, row))) for row in distributions], predictions


def with_kind(prediction, names: Sequence[str], distribution: np.ndarray, top: int = 3):
    """The encoder's prediction with its article type read from the kind classifier's distribution."""
    if prediction is None:
        return None
    best = np.argsort(-distribution)[:top]
    return replace(
        prediction,
        article_type=names[int(best[0])],
        article_type_score=float(distribution[best[0]]),
        top_article_types=tuple((names[int(i)], float(distribution[i])) for i in best),
    )


def configured_reader(encoder: Encoder, settings) -> PhotoReader:
    """The app's photo path for `encoder`: the configured segmenter (SEGMENTER) and kind classifier
    (KIND_MODEL), each loaded once per process. The classifier stands in for the encoder's article head
    only where it speaks the same article types (core.kinds.fits)."""
    from core.kinds import configured_kind_model
    from core.segment import configured_segmenter

    kinds = configured_kind_model(settings)
    return PhotoReader(encoder, configured_segmenter(settings), kinds=kinds if kinds and fits(kinds, encoder) else None)


def attribute_reader(settings) -> PhotoReader:
    """A reader whose encoder has article/colour/gender heads (the configured one, else the bundled one):
    for `core categories` and the page's "what the photo shows", through the same photo path."""
    from core.encoders import load_attribute_model

    return configured_reader(load_attribute_model(settings.encoder_name), settings)


def garment_colour(picture: Image.Image, mask: np.ndarray | None, side: int = 64) -> tuple[int, int, int]:
    """Median RGB of the garment's pixels: the mask's when there is one, else the whole picture's."""
    small = np.asarray(picture.convert("RGB").resize((side, side), Image.Resampling.BILINEAR))
    if mask is not None:
        keep = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((side, side))) >= 128
        if keep.any():
            small = small[keep]
    pixels = small.reshape(-1, 3)
    return tuple(int(v) for v in np.median(pixels, axis=0))  # type: ignore[return-value]


def likely_types(prior: dict[str, float]) -> tuple[str, ...]:
    """The photo's likeliest article types, best first (at most PRIOR_TYPES, each with P >= PRIOR_MIN)."""
    ranked = sorted(prior.items(), key=lambda item: -item[1])[:PRIOR_TYPES]
    return tuple(name for name, p in ranked if p >= PRIOR_MIN)


def rescore(
    neighbours: Sequence[Neighbour], index: VectorIndex, prior: dict[str, float], weight: float
) -> list[Neighbour]:
    """Candidates re-ordered by cosine + weight * P(their article type); unchanged without a prior."""
    if not prior or weight <= 0 or not neighbours:
        return list(neighbours)
    types = index.values_of("article_type", [n.id for n in neighbours])
    scored = [Neighbour(n.id, n.score + weight * prior.get(kind, 0.0)) for n, kind in zip(neighbours, types)]
    return sorted(scored, key=lambda n: -n.score)

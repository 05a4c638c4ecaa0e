"""What the engine hands pages and the CLI: search hits and results, and the catalog's status."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from core.attributes import Wish
from core.catalog import Product
from core.feedback import COLOUR_WORDS, Chip, Feedback, catalog_colour, match_chips
from core.garment_features import hex_colour
from core.photo_query import PhotoQuery


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    rank: int

    def to_json(self) -> dict:
        return {
            "id": self.product.id,
            "score": round(self.score, 4),
            "rank": self.rank,
            **{k: v for k, v in asdict(self.product).items() if k not in ("id", "content_hash")},
        }


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    notes: list[str] = field(default_factory=list)  # things the user should know (truncation, ...)
    timings_ms: dict[str, float] = field(default_factory=dict)
    feedback: Feedback | None = None  # what was understood of the feedback (composed searches)
    chips: dict[int, list] = field(default_factory=dict)  # product id -> core.feedback.Chip (re-ranked searches)
    reranked: bool = False
    photo: PhotoQuery | None = None  # what was read from the query photo (mask, colour, type prior)
    wish: Wish = Wish()  # sleeve and length lengths the request allows (composed and text searches)
    reference: object | None = None  # the reference's GarmentFeatures (composed searches): what was read from it
    first_stage: list[Hit] = field(default_factory=list)  # the first stage's top k (before / after re-ranking)
    first_ranks: dict[int, int] = field(default_factory=dict)  # product id -> its rank in the first stage
    explanations: dict[int, Explanation] = field(default_factory=dict)  # product id -> why it is shown

    def to_json(self) -> dict:
        hits = [
            {
                **h.to_json(),
                **(
                    {"chips": [c.to_json() for c in self.chips.get(h.product.id, [])]}
                    if self.reranked or self.chips
                    else {}
                ),
            }
            for h in self.hits
        ]
        data = {
            "hits": hits,
            "notes": self.notes,
            "reranked": self.reranked,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if self.feedback is not None:
            data["understood"] = {k: v for k, v in asdict(self.feedback).items() if v not in (None, 0, (), "")}
        if self.photo is not None:
            data["photo"] = photo_json(self.photo)
        if not self.wish.is_empty:
            data["wish"] = {"sleeves": list(self.wish.sleeves), "lengths": list(self.wish.lengths)}
        if self.reference is not None:
            data["reference"] = {
                "sleeves": self.reference.sleeves,
                "length": self.reference.length,
                "lightness": round(self.reference.lightness, 3),
            }
        return data


def photo_json(photo: PhotoQuery) -> dict:
    """What was read from a query photo, for JSON outputs (the mask itself is left out)."""
    top = sorted(photo.type_prior.items(), key=lambda item: -item[1])[:3]
    return {
        "segmented": photo.segmented,
        "colour": hex_colour(photo.colour),
        "article_types": [{"type": name, "p": round(p, 3)} for name, p in top],
    }


@dataclass(frozen=True)
class Status:
    database: str  # "ok" or the reason it is unreachable
    database_address: str
    products: int
    indexed: int
    index_in_step: bool
    index_type: str
    encoder: str
    embedded: int  # products with a vector from the current encoder
    categories: dict[str, int]
    genders: dict[str, int]
    importing: bool = False  # an import is under way: searches use the index from before it
    backend: str = "faiss"  # the vector store: "faiss" (embedded) or "milvus"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Explanation:
    """What a result card draws of why it is shown, from the product's stored garment features."""

    swatch: tuple[int, int, int] | None  # its main colour
    lightness: float | None  # 0 black .. 1 white (core.garment_features: mean L* of the garment's pixels)
    features: object | None  # its GarmentFeatures (sleeves, length), None when not read yet
    chips: list[Chip]  # what was asked, met or not, by the catalog's labels
    photo_chips: list[Chip]  # what was asked, met or not, as read from its photo (not already in `chips`)


def explain_hit(
    product: Product, features, read: list[Chip], feedback: Feedback | None = None, reference=None
) -> Explanation:
    """A hit's Explanation: `features` its stored GarmentFeatures, `read` the chips read from its photo,
    `feedback` what was asked, `reference` the reference's GarmentFeatures (lighter / darker compare to it)."""
    lightness = features.lightness if features is not None else None
    chips = match_chips(feedback, product, lightness, reference.lightness if reference is not None else None)
    chips, read = labelled_colour(product, chips, read)
    shown = {chip.label.lower() for chip in chips}
    swatch = tuple(features.colours[0][0]) if features is not None and features.colours else None
    return Explanation(swatch, lightness, features, chips, [c for c in read if c.label.lower() not in shown])


COLOUR_GROUPS = {group.lower() for group in COLOUR_WORDS.values()}


def labelled_colour(product: Product, chips: list[Chip], read: list[Chip]) -> tuple[list[Chip], list[Chip]]:
    """A colour asked for is judged by the catalog's label where the product has one: the card shows that
    label, so a photo reading that disagrees with it ("red ✗" under a product labelled Red) is replaced by
    the label's verdict. Without a label, the photo's reading stays."""
    colour = catalog_colour(product)
    asked = [c for c in read if c.label.lower() in COLOUR_GROUPS]
    if not colour or not asked:
        return chips, read
    rest = [c for c in read if c not in asked]
    if any(c.label == colour for c in chips):  # match_chips already judged it by the same label
        return chips, rest
    return [*chips, Chip(colour, colour.lower() == asked[0].label.lower())], rest

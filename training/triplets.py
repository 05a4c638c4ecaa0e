"""(reference, feedback text, target) triplets made from the catalog's own attributes.

An intent is a change a shopper asks for: another colour group, lighter or darker, the other gender,
another article type of the same family, another usage, another pattern (pattern words come from the
product names), longer / shorter / no sleeves, a longer or shorter garment (read against the reference's
sleeves and length, from core/attributes.py). A triplet draws 1-3 intents for a reference product, writes
them in one of many phrasings (casual wording, typos, sometimes a request the catalog cannot see such as
fit), and finds every product that satisfies the request while keeping what was not asked to change (type,
gender, colour): those are the relevant products; the target is one of the most similar of them.
References from the held-out split (core/split.py) only ever appear in evaluation triplets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.attributes import LENGTHS, family_of, has_sleeves, resolve_wish
from core.feedback import ARTICLE_WORDS, COLOUR_WORDS, PATTERN_WORDS

# "lighter" means at least this much lighter on core.garment_features.lightness (mean L* / 100 of the garment's
# pixels). The shipped composer and re-ranker were mined with mean luminance (Rec. 601), the same order for nearly
# every pair; retraining now mines on L*, the definition stored features, re-ranking and chips use.
LIGHTNESS_STEP = 0.12
PATTERNS = ("solid", "striped", "printed", "checked")
FAMILY = {
    "Shoes": "footwear",
    "Sandal": "footwear",
    "Flip Flops": "footwear",
    "Topwear": "topwear",
    "Bottomwear": "bottomwear",
    "Bags": "bags",
}
USAGES = ("Casual", "Sports", "Formal", "Ethnic")

COLOUR_NAMES: dict[str, list[str]] = {}
for _word, _group in COLOUR_WORDS.items():
    COLOUR_NAMES.setdefault(_group, []).append(_word)
TYPE_NAMES: dict[str, list[str]] = {
    "Tshirts": ["t-shirt", "tee", "tshirt"],
    "Flip Flops": ["flip flops", "slippers"],
    "Track Pants": ["track pants", "joggers"],
    "Casual Shoes": ["sneakers", "casual shoes"],
    "Sports Shoes": ["sports shoes", "running shoes", "trainers"],
    "Formal Shoes": ["formal shoes"],
}
_WRITTEN_OUT = set(TYPE_NAMES)  # types whose names are listed above; every other type takes all its words
for _word, _kind in ARTICLE_WORDS.items():
    if _kind not in _WRITTEN_OUT and _word != "formalshoes":
        TYPE_NAMES.setdefault(_kind, []).append(_word)

PHRASES = {
    "colour": [
        "in {c}",
        "same but in {c}",
        "{c} instead",
        "make it {c}",
        "do you have it in {c}",
        "a {c} one",
        "{c} please",
        "switch to {c}",
        "i want it in {c}",
        "{c} colour",
        "rather {c}",
        "{c}",
    ],
    "lighter": [
        "lighter",
        "lighter color",
        "a lighter shade",
        "something lighter",
        "less dark",
        "paler",
        "brighter please",
        "lighter colour pls",
        "in a lighter tone",
        "lighter one",
    ],
    "darker": [
        "darker",
        "darker color",
        "a darker shade",
        "something darker",
        "deeper colour",
        "darker one",
        "darker pls",
        "in a darker tone",
    ],
    "Women": [
        "the women's version",
        "for women",
        "for her",
        "womens",
        "ladies version",
        "female version",
        "for a woman",
        "women's one",
    ],
    "Men": ["the men's version", "for men", "for him", "mens", "for guys", "male version", "for a man", "men's one"],
    "type": [
        "as a {t}",
        "{t} instead",
        "same but a {t}",
        "make it a {t}",
        "i'd prefer a {t}",
        "a {t} like this",
        "{t}",
    ],
    "Sports": ["for sports", "for the gym", "sporty", "for running", "sportier"],
    "Formal": ["more formal", "for the office", "formal", "for work"],
    "Casual": ["more casual", "for everyday", "casual", "relaxed"],
    "Ethnic": ["ethnic", "traditional", "festive", "ethnic style"],
    "solid": ["plain", "solid", "no print", "solid colour", "plain one"],
    "striped": ["striped", "with stripes", "stripy"],
    "printed": ["printed", "with a print", "graphic print", "with a pattern"],
    "checked": ["checked", "with checks", "checks", "check pattern"],
    "sleeves:longer": ["longer sleeves", "with longer sleeves", "longer sleeve version", "longer sleeved"],
    "sleeves:shorter": ["shorter sleeves", "with shorter sleeves", "shorter sleeve version"],
    "sleeves:none": ["sleeveless", "no sleeves", "without sleeves", "sleeveless version"],
    "length:longer": ["longer", "a longer one", "make it longer", "longer length"],
    "length:shorter": ["shorter", "a shorter one", "make it shorter", "shorter length"],
}
UNSEEN_PHRASES = ["slim fit", "looser fit", "with a collar", "with pockets"]
JOINERS = [", ", " and ", " but ", "; ", " & ", ", also "]
PREFIXES = ["", "", "", "same but ", "similar but ", "can i get this ", "i like it but ", "hmm "]
SUFFIXES = ["", "", "", " please", " pls", " thanks", "!"]


@dataclass(frozen=True)
class Item:
    id: int
    gender: str  # Men, Women or Unisex (Boys/Girls read as Men/Women)
    article_type: str
    family: str
    colour_group: str
    usage: str
    pattern: str | None
    lightness: float
    held_out: bool
    sleeves: str | None = None  # stored attributes (core/attributes.py): none / short / elbow / long
    length: str | None = None  # on the family's scale (LENGTHS)


@dataclass(frozen=True)
class Triplet:
    ref_id: int
    text: str
    target_id: int
    relevant_ids: tuple[int, ...]
    intents: tuple[str, ...]  # e.g. ("colour", "gender")

    @property
    def kind(self) -> str:
        return self.intents[0] if len(self.intents) == 1 else "multi"

    def to_query(self) -> dict:
        return {
            "ref_id": self.ref_id,
            "text": self.text,
            "relevant_ids": list(self.relevant_ids),
            "kind": self.kind,
            "target_id": self.target_id,
            "intents": list(self.intents),
        }


def pattern_of(name: str) -> str | None:
    for word in re.findall(r"[a-z]+", name.lower()):
        if word in PATTERN_WORDS:
            return PATTERN_WORDS[word]
    return None


def gender_of(value: str) -> str:
    return {"Boys": "Men", "Girls": "Women"}.get(value, value)


def read_attributes(catalog, cache=None) -> dict[int, tuple[str | None, str | None]]:
    """id -> (sleeves, length) of every product of a catalog folder, read by the bundled attribute model
    (as the catalog stores them), cached in `cache` (a JSON file) when given."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from core.attributes import load_attribute_model
    from core.images import load_image
    from core.ingest import read_catalog

    if cache is not None and Path(cache).is_file():
        return {int(k): tuple(v) for k, v in json.loads(Path(cache).read_text()).items()}
    model = load_attribute_model()
    rows, _ = read_catalog(Path(catalog) / "images", Path(catalog) / "styles.csv")
    found = {}
    for start in tqdm(range(0, len(rows), 64), desc="Reading sleeves and length"):
        chunk = rows[start : start + 64]
        read = model.read([load_image(r.image_path) for r in chunk], [r.product.article_type for r in chunk])
        found.update({r.product.id: (a.sleeves, a.length) for r, a in zip(chunk, read)})
    if cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        Path(cache).write_text(json.dumps(found))
    return found


def catalog_items(catalog, attributes: dict | None = None) -> list[Item]:
    """Every product of a catalog folder (images/, styles.csv) as an Item, its lightness read from its photo;
    `attributes` (read_attributes) gives sleeves and length."""
    from tqdm import tqdm

    from core.garment_features import lightness
    from core.images import load_image
    from core.ingest import read_catalog
    from core.split import is_held_out

    rows, _ = read_catalog(catalog / "images", catalog / "styles.csv")
    return [
        Item(
            id=r.product.id,
            gender=gender_of(r.product.gender),
            article_type=r.product.article_type,
            family=FAMILY.get(r.product.sub_category, ""),
            colour_group=r.product.colour_group,
            usage=r.product.usage,
            pattern=pattern_of(r.product.name),
            lightness=lightness(load_image(r.image_path, max_side=128)),
            held_out=is_held_out(r.product.id),
            sleeves=(attributes or {}).get(r.product.id, (None, None))[0],
            length=(attributes or {}).get(r.product.id, (None, None))[1],
        )
        for r in tqdm(rows, desc="Reading products")
    ]


class TripletMaker:
    """Draws triplets for references; `vectors` (id -> unit image embedding) picks the most similar target."""

    def __init__(self, items: Sequence[Item], vectors: dict[int, np.ndarray], seed: int = 0):
        self.items = list(items)
        self.by_id = {item.id: item for item in self.items}
        self.vectors = vectors
        self.rng = np.random.default_rng(seed)
        self.ids = np.array([i.id for i in self.items])
        self.columns = {
            "article_type": np.array([i.article_type for i in self.items]),
            "gender": np.array([i.gender for i in self.items]),
            "colour_group": np.array([i.colour_group for i in self.items]),
            "usage": np.array([i.usage for i in self.items]),
            "pattern": np.array([i.pattern or "" for i in self.items]),
            "family": np.array([i.family for i in self.items]),
            "lightness": np.array([i.lightness for i in self.items]),
            "sleeves": np.array([i.sleeves or "" for i in self.items]),
            "length": np.array([i.length or "" for i in self.items]),
        }
        self.types_by_family: dict[str, list[str]] = {}
        for item in self.items:
            if item.family and item.article_type not in self.types_by_family.setdefault(item.family, []):
                self.types_by_family[item.family].append(item.article_type)

    def triplet(self, ref: Item, candidates: np.ndarray | None = None, attempts: int = 8) -> Triplet | None:
        """One triplet for `ref` (None when no request has an answer in the catalog)."""
        for _ in range(attempts):
            count = self.rng.choice([1, 2, 3], p=[0.55, 0.35, 0.10])
            request = self._draw_request(ref, int(count))
            if not request:
                continue
            mask = self._satisfies(ref, request) & (self.ids != ref.id)
            if candidates is not None:
                mask &= candidates
            relevant = self.ids[mask]
            if len(relevant) == 0:
                continue
            return Triplet(
                ref.id,
                self._phrase(request),
                self._target(ref, relevant),
                tuple(int(i) for i in relevant),
                tuple(request),
            )
        return None

    def _draw_request(self, ref: Item, count: int) -> dict[str, str]:
        options = ["colour", "lightness", "gender", "type", "usage", "pattern", "sleeves", "length"]
        weights = np.array([3.0, 2.0, 1.5, 1.5, 1.0, 1.0, 1.5, 0.7])
        chosen = self.rng.choice(options, size=count, replace=False, p=weights / weights.sum())
        request: dict[str, str] = {}
        for intent in chosen:
            value = self._value(ref, str(intent))
            if value is not None:
                request[str(intent)] = value
        return request

    def _value(self, ref: Item, intent: str) -> str | None:
        pick = self._pick
        if intent == "colour":
            return pick([g for g in COLOUR_NAMES if g not in (ref.colour_group, "Multi")])
        if intent == "lightness":
            return pick(["lighter"] * (ref.lightness < 0.8) + ["darker"] * (ref.lightness > 0.2))
        if intent == "gender":
            return {"Men": "Women", "Women": "Men"}.get(ref.gender)
        if intent == "type":
            return pick(
                [t for t in self.types_by_family.get(ref.family, []) if t != ref.article_type and t in TYPE_NAMES]
            )
        if intent == "usage":
            return pick([u for u in USAGES if u != ref.usage])
        if intent == "pattern":
            return pick([p for p in PATTERNS if p != ref.pattern])
        if intent == "sleeves" and ref.sleeves and has_sleeves(ref.article_type):
            return pick(["longer"] * (ref.sleeves != "long") + ["shorter", "none"] * (ref.sleeves != "none"))
        if intent == "length" and ref.length and family_of(ref.article_type):
            scale = LENGTHS[family_of(ref.article_type)]
            return pick(["longer"] * (ref.length != scale[-1]) + ["shorter"] * (ref.length != scale[0]))
        return None

    def _pick(self, values: list[str]) -> str | None:
        return str(self.rng.choice(values)) if values else None

    def _satisfies(self, ref: Item, request: dict[str, str]) -> np.ndarray:
        c = self.columns
        kind = request.get("type", ref.article_type)
        gender = request.get("gender", ref.gender)
        mask = c["article_type"] == kind
        mask &= (c["gender"] == gender) | ((c["gender"] == "Unisex") & ("gender" not in request))
        if "colour" in request:
            mask &= c["colour_group"] == request["colour"]
        elif "lightness" not in request:
            mask &= c["colour_group"] == ref.colour_group
        if request.get("lightness") == "lighter":
            mask &= c["lightness"] >= ref.lightness + LIGHTNESS_STEP
        elif request.get("lightness") == "darker":
            mask &= c["lightness"] <= ref.lightness - LIGHTNESS_STEP
        if "usage" in request:
            mask &= c["usage"] == request["usage"]
        if "pattern" in request:
            mask &= c["pattern"] == request["pattern"]
        if "sleeves" in request:  # read against the reference, as the app reads "longer sleeves"
            mask &= np.isin(c["sleeves"], resolve_wish(request["sleeves"], None, kind, ref.sleeves).sleeves)
        if "length" in request:
            mask &= np.isin(c["length"], resolve_wish(None, request["length"], kind, None, ref.length).lengths)
        return mask

    def _target(self, ref: Item, relevant: np.ndarray) -> int:
        anchor = self.vectors.get(ref.id)
        if anchor is None:
            return int(self.rng.choice(relevant))
        scores = np.array([float(self.vectors[i] @ anchor) if i in self.vectors else -1.0 for i in relevant])
        best = relevant[np.argsort(-scores)[:3]]
        return int(self.rng.choice(best))

    def _phrase(self, request: dict[str, str]) -> str:
        parts = []
        for intent, value in request.items():
            if intent == "colour":
                parts.append(self._pick(PHRASES["colour"]).format(c=self._pick(COLOUR_NAMES[value])))
            elif intent == "type":
                parts.append(self._pick(PHRASES["type"]).format(t=self._pick(TYPE_NAMES[value])))
            elif intent in ("sleeves", "length"):
                parts.append(self._pick(PHRASES[f"{intent}:{value}"]))
            else:
                parts.append(self._pick(PHRASES[value]))
        if self.rng.random() < 0.12:
            parts.insert(int(self.rng.integers(0, len(parts) + 1)), self._pick(UNSEEN_PHRASES))
        text = parts[0]
        for part in parts[1:]:
            text += self._pick(JOINERS) + part
        prefix, suffix = self._pick(PREFIXES), self._pick(SUFFIXES)
        if text.startswith(prefix.strip()[:4]) or text.startswith("same"):
            prefix = ""  # no "same but same but ..."
        if text.rstrip("!").endswith(("please", "pls", "thanks")):
            suffix = ""
        text = prefix + text + suffix
        return self._typo(text) if self.rng.random() < 0.15 else text

    def _typo(self, text: str) -> str:
        words = text.split(" ")
        long = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
        if not long:
            return text
        i = int(self.rng.choice(long))
        word, j = words[i], int(self.rng.integers(1, len(words[i]) - 1))
        words[i] = (
            (word[:j] + word[j + 1 :])
            if self.rng.random() < 0.5
            else (word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :])
        )
        return " ".join(words)

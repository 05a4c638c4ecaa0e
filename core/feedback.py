"""What a piece of feedback asks for: "lighter and for women", "same but in navy", "as a shirt instead".

A small vocabulary read from the catalog's own attributes (colour groups and names, article types,
usage, season, gender, pattern words from product names), tolerant of plurals, casual wording and
typos. The composer learns from text; this parse is what lets search *honour* hard constraints
(gender, category) and lets pages say what was understood and what was not.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

COLOUR_WORDS: dict[str, str] = {  # word -> catalog colour group
    "black": "Black",
    "charcoal": "Black",
    "jet": "Black",
    "blue": "Blue",
    "navy": "Blue",
    "teal": "Blue",
    "turquoise": "Blue",
    "denim": "Blue",
    "indigo": "Blue",
    "brown": "Brown",
    "beige": "Brown",
    "tan": "Brown",
    "khaki": "Brown",
    "coffee": "Brown",
    "nude": "Brown",
    "rust": "Brown",
    "camel": "Brown",
    "green": "Green",
    "olive": "Green",
    "mint": "Green",
    "emerald": "Green",
    "grey": "Grey",
    "gray": "Grey",
    "silver": "Grey",
    "steel": "Grey",
    "melange": "Grey",
    "gold": "Metallic",
    "golden": "Metallic",
    "copper": "Metallic",
    "bronze": "Metallic",
    "metallic": "Metallic",
    "multi": "Multi",
    "multicolour": "Multi",
    "multicolor": "Multi",
    "colourful": "Multi",
    "colorful": "Multi",
    "orange": "Orange",
    "pink": "Pink",
    "peach": "Pink",
    "rose": "Pink",
    "purple": "Purple",
    "magenta": "Purple",
    "mauve": "Purple",
    "lavender": "Purple",
    "violet": "Purple",
    "red": "Red",
    "maroon": "Red",
    "burgundy": "Red",
    "wine": "Red",
    "crimson": "Red",
    "white": "White",
    "cream": "White",
    "ivory": "White",
    "yellow": "Yellow",
    "mustard": "Yellow",
    "taupe": "Yellow",
}
LIGHTER_WORDS = {"lighter", "light", "paler", "pale", "brighter", "bright", "pastel", "softer", "lightest"}
DARKER_WORDS = {"darker", "dark", "deeper", "deep", "darkest", "richer"}
GENDER_WORDS = {
    "women": "Women",
    "woman": "Women",
    "womens": "Women",
    "female": "Women",
    "ladies": "Women",
    "lady": "Women",
    "her": "Women",
    "girls": "Women",
    "girl": "Women",
    "feminine": "Women",
    "men": "Men",
    "man": "Men",
    "mens": "Men",
    "male": "Men",
    "guys": "Men",
    "guy": "Men",
    "him": "Men",
    "his": "Men",
    "boys": "Men",
    "boy": "Men",
    "masculine": "Men",
}
ARTICLE_WORDS: dict[str, str] = {
    "tshirt": "Tshirts",
    "tee": "Tshirts",
    "tees": "Tshirts",
    "polo": "Tshirts",
    "shirt": "Shirts",
    "top": "Tops",
    "blouse": "Tops",
    "kurta": "Kurtas",
    "kurti": "Kurtis",
    "tunic": "Tunics",
    "sweater": "Sweaters",
    "jumper": "Sweaters",
    "pullover": "Sweaters",
    "cardigan": "Sweaters",
    "sweatshirt": "Sweatshirts",
    "hoodie": "Sweatshirts",
    "jacket": "Jackets",
    "blazer": "Jackets",
    "jeans": "Jeans",
    "trousers": "Trousers",
    "pants": "Trousers",
    "chinos": "Trousers",
    "joggers": "Track Pants",
    "trackpants": "Track Pants",
    "shorts": "Shorts",
    "skirt": "Skirts",
    "dress": "Dresses",
    "leggings": "Leggings",
    "capris": "Capris",
    "heels": "Heels",
    "pumps": "Heels",
    "flats": "Flats",
    "sandals": "Sandals",
    "flipflops": "Flip Flops",
    "slippers": "Flip Flops",
    "sneakers": "Casual Shoes",
    "trainers": "Sports Shoes",
    "handbag": "Handbags",
    "bag": "Handbags",
    "purse": "Handbags",
    "clutch": "Clutches",
    "backpack": "Backpacks",
    "watch": "Watches",
    "sunglasses": "Sunglasses",
    "shades": "Sunglasses",
    "belt": "Belts",
    "wallet": "Wallets",
    "socks": "Socks",
    "cap": "Caps",
    "hat": "Caps",
    "tie": "Ties",
    "scarf": "Scarves",
    "muffler": "Mufflers",
}
PHRASES = {  # multi-word names, joined before the words are read
    "t shirt": "tshirt",
    "t-shirt": "tshirt",
    "flip flops": "flipflops",
    "flip-flops": "flipflops",
    "track pants": "trackpants",
    "casual shoes": "sneakers",
    "sports shoes": "trainers",
    "running shoes": "trainers",
    "formal shoes": "formalshoes",
    "off white": "cream",
    "navy blue": "navy",
    "women's": "women",
    "men's": "men",
    "less dark": "lighter",
    "not so dark": "lighter",
    "less bright": "darker",
    "not so bright": "darker",
    "no print": "plain",
    "without print": "plain",
    "no pattern": "plain",
    "no sleeves": "sleeveless",
    "without sleeves": "sleeveless",
    "3/4": "elbow",
    "three quarter": "elbow",
    "threequarter": "elbow",
    "full length": "fulllength",
    "ankle length": "fulllength",
    "floor length": "maxi",
    "knee length": "knee",
    "crop top": "cropped top",
}
ARTICLE_WORDS["formalshoes"] = "Formal Shoes"
USAGE_WORDS = {
    "sports": "Sports",
    "sporty": "Sports",
    "gym": "Sports",
    "running": "Sports",
    "workout": "Sports",
    "formal": "Formal",
    "office": "Formal",
    "work": "Formal",
    "casual": "Casual",
    "everyday": "Casual",
    "ethnic": "Ethnic",
    "traditional": "Ethnic",
    "festive": "Ethnic",
    "party": "Party",
}
SEASON_WORDS = {
    "summer": "Summer",
    "summery": "Summer",
    "winter": "Winter",
    "warm": "Winter",
    "warmer": "Winter",
    "spring": "Spring",
    "fall": "Fall",
    "autumn": "Fall",
}
PATTERN_WORDS = {
    "solid": "solid",
    "plain": "solid",
    "striped": "striped",
    "stripes": "striped",
    "stripe": "striped",
    "printed": "printed",
    "print": "printed",
    "graphic": "printed",
    "floral": "printed",
    "checked": "checked",
    "check": "checked",
    "checks": "checked",
    "plaid": "checked",
}
SLEEVE_WORDS = {"sleeve", "sleeves", "sleeved", "sleeveless", "strappy"}
SLEEVE_MODIFIERS = {  # word before "sleeves" -> sleeve length asked for (relative: "longer", "shorter"; "with")
    "long": "long",
    "full": "long",
    "longer": "longer",
    "short": "short",
    "half": "short",
    "cap": "short",
    "shorter": "shorter",
    "elbow": "elbow",
    "quarter": "elbow",
    "no": "none",
    "with": "with",
}
LENGTH_WORDS = {  # garment length asked for: a scale's own name, "long"/"short" ends, or a relative change
    "mini": "mini",
    "knee": "knee",
    "midi": "midi",
    "maxi": "maxi",
    "cropped": "cropped",
    "crop": "cropped",
    "fulllength": "full",
    "longer": "longer",
    "shorter": "shorter",
    "long": "long",
    "short": "short",
}
UNSEEN_WORDS = {  # things people ask for that the catalog does not label (yet)
    "fit": "fit",
    "slim": "fit",
    "loose": "fit",
    "baggy": "fit",
    "tight": "fit",
    "collar": "neckline",
    "neck": "neckline",
    "vneck": "neckline",
    "hood": "hood",
    "pocket": "pockets",
    "pockets": "pockets",
    "buttons": "buttons",
    "zip": "zip",
}
FILLER = {
    "the",
    "a",
    "an",
    "and",
    "but",
    "in",
    "for",
    "with",
    "same",
    "please",
    "more",
    "less",
    "something",
    "instead",
    "as",
    "of",
    "version",
    "one",
    "like",
    "this",
    "that",
    "it",
    "make",
    "show",
    "me",
    "want",
    "i",
    "to",
    "similar",
    "maybe",
    "bit",
    "little",
    "much",
    "way",
    "too",
    "very",
    "color",
    "colour",
    "shade",
    "tone",
    "kind",
    "style",
    "thing",
    "not",
    "so",
    "also",
    "just",
    "now",
    "some",
    "any",
    # everyday words a typo-matcher would otherwise read as fashion words ("short" -> shorts)
    "what",
    "than",
    "here",
    "there",
    "where",
    "about",
    "without",
    "have",
    "these",
    "those",
    "would",
    "could",
    "should",
    "love",
    "looks",
    "look",
    "other",
    "another",
    "which",
    "things",
    "really",
    "quite",
    "rather",
    "ones",
    "sort",
    "good",
    "nice",
    "great",
    "better",
    "cool",
    "cute",
    "into",
    "from",
    "your",
    "mine",
    "their",
    "again",
    "still",
    "then",
    "them",
    "they",
    "when",
    "need",
    "give",
    "find",
    "made",
    "wear",
    "wearing",
    "size",
    "bigger",
    "smaller",
    "large",
    "small",
    "medium",
    "tall",
    "wide",
    "narrow",
    "option",
    "options",
    "thanks",
    "hmm",
    "prefer",
    "switch",
    "stuff",
}
VOCABULARY = {
    **COLOUR_WORDS,
    **GENDER_WORDS,
    **ARTICLE_WORDS,
    **USAGE_WORDS,
    **SEASON_WORDS,
    **PATTERN_WORDS,
    **UNSEEN_WORDS,
    **{w: w for w in LIGHTER_WORDS | DARKER_WORDS | SLEEVE_WORDS | set(LENGTH_WORDS)},
    "quarter": "quarter",
    "elbow": "elbow",
    "half": "half",
}
EXACT_ONLY = {
    "long",
    "short",
    "half",
    "cap",
    "crop",
    "mini",
    "midi",
    "maxi",
    "knee",
    "elbow",
    "with",
    "no",
}  # never typo targets


@dataclass(frozen=True)
class Feedback:
    """What was understood in one piece of feedback (None / 0: not asked for)."""

    text: str
    colour_group: str | None = None
    lightness: int = 0  # +1 lighter, -1 darker
    gender: str | None = None
    article_type: str | None = None
    usage: str | None = None
    season: str | None = None
    pattern: str | None = None
    sleeves: str | None = None  # none / short / elbow / long, or relative: longer / shorter / with (any sleeves)
    length: str | None = (
        None  # a length (mini, knee, midi, maxi, cropped, full), an end (long, short) or longer / shorter
    )
    unseen: tuple[str, ...] = ()  # asked-for properties the catalog does not label (sleeve length, fit, ...)
    corrections: tuple[tuple[str, str], ...] = field(default=())  # (typed, read as)

    @property
    def understood(self) -> bool:
        return any(
            (
                self.colour_group,
                self.lightness,
                self.gender,
                self.article_type,
                self.usage,
                self.season,
                self.pattern,
                self.sleeves,
                self.length,
            )
        )

    def describe(self) -> str:
        parts = [
            f"colour {self.colour_group}" if self.colour_group else "",
            sleeve_words(self.sleeves),
            f"{self.length} length" if self.length else "",
            {1: "lighter", -1: "darker"}.get(self.lightness, ""),
            f"for {self.gender}" if self.gender else "",
            f"as {self.article_type}" if self.article_type else "",
            self.usage or "",
            self.season or "",
            self.pattern or "",
        ]
        return ", ".join(p for p in parts if p)


def words_of(text: str) -> list[str]:
    text = re.sub(r"-(sleeve|length)", r" \1", f" {text.lower()} ")  # "long-sleeved", "knee-length"
    for phrase, joined in PHRASES.items():
        text = text.replace(f" {phrase} ", f" {joined} ").replace(f" {phrase}", f" {joined}")
    return re.findall(r"[a-z]+", text.replace("'s ", " ").replace("-", ""))


def parse_feedback(text: str) -> Feedback:
    """Read the intents in `text`; unknown words are matched to the vocabulary when they look like typos."""
    found: dict[str, object] = {}
    unseen: list[str] = []
    corrections: list[tuple[str, str]] = []
    read: list[str] = []  # the words as understood (typos corrected), in order
    for word in words_of(text):
        known = _known(word)
        if known is None and len(word) >= 5 and word not in FILLER:
            same_start = [w for w in VOCABULARY if w[0] == word[0] and w not in EXACT_ONLY]  # "alert" is not "paler"
            close = difflib.get_close_matches(word, same_start, n=1, cutoff=0.8)
            if close:
                corrections.append((word, close[0]))
                known = close[0]
        read.append(known or word)
        if known is not None:
            _read(known, found, unseen)
    found.update(_cut(read))
    return Feedback(text=text, unseen=tuple(dict.fromkeys(unseen)), corrections=tuple(corrections), **found)  # type: ignore[arg-type]


def _cut(words: list[str]) -> dict[str, str]:
    """Sleeve and length wishes from the words in order: a modifier just before "sleeves" speaks of sleeves
    ("longer sleeves"); otherwise length words speak of the garment ("a longer dress", "midi", "cropped")."""
    found: dict[str, str] = {}
    used: set[int] = set()
    for i, word in enumerate(words):
        if word in ("sleeveless", "strappy"):
            found["sleeves"] = "none"
        elif word in ("sleeve", "sleeves", "sleeved"):
            before = [j for j in (i - 1, i - 2) if j >= 0 and words[j] in SLEEVE_MODIFIERS and j not in used]
            if before:
                found["sleeves"] = SLEEVE_MODIFIERS[words[before[0]]]
                used.add(before[0])
            else:
                found.setdefault("sleeves", "with")
    for i, word in enumerate(words):
        if i not in used and word in LENGTH_WORDS and not (word in ("long", "short") and _before_sleeves(words, i)):
            found["length"] = LENGTH_WORDS[word]
    return found


def _before_sleeves(words: list[str], i: int) -> bool:
    return any(w in SLEEVE_WORDS for w in words[i + 1 : i + 3])


def sleeve_words(sleeves: str | None) -> str:
    """How a sleeve wish reads: "longer sleeves", "sleeveless", "with sleeves" ("" for none)."""
    if not sleeves:
        return ""
    return {"none": "sleeveless", "with": "with sleeves"}.get(sleeves, f"{sleeves} sleeves")


def _known(word: str) -> str | None:
    if word in VOCABULARY:
        return word
    if word.endswith("s") and word[:-1] in VOCABULARY:
        return word[:-1]
    if word.endswith("es") and word[:-2] in VOCABULARY:
        return word[:-2]
    return None


def _read(word: str, found: dict, unseen: list[str]) -> None:
    if word in LIGHTER_WORDS:
        found["lightness"] = 1
    elif word in DARKER_WORDS:
        found["lightness"] = -1
    elif word in COLOUR_WORDS:
        found["colour_group"] = COLOUR_WORDS[word]
    elif word in GENDER_WORDS:
        found["gender"] = GENDER_WORDS[word]
    elif word in ARTICLE_WORDS:
        found["article_type"] = ARTICLE_WORDS[word]
    elif word in USAGE_WORDS:
        found["usage"] = USAGE_WORDS[word]
    elif word in SEASON_WORDS:
        found["season"] = SEASON_WORDS[word]
    elif word in PATTERN_WORDS:
        found["pattern"] = PATTERN_WORDS[word]
    elif word in UNSEEN_WORDS:
        unseen.append(UNSEEN_WORDS[word])  # sleeve and length words are read in order by _cut


@dataclass(frozen=True)
class Chip:
    """One reason a result matches (or not) what was asked: e.g. "Blue ✓", "lighter ✗"."""

    label: str
    ok: bool

    def to_json(self) -> dict:
        return {"label": self.label, "ok": self.ok}


def catalog_colour(product) -> str:
    """The product's colour group as its catalog labels give it ("" when they give none): its colour group,
    else the group of a word of its base colour ("Navy Blue" -> Blue)."""
    if product.colour_group:
        return product.colour_group
    words = (product.base_colour or "").lower().split()
    return next((COLOUR_WORDS[w] for w in reversed(words) if w in COLOUR_WORDS), "")


def match_chips(
    feedback: Feedback | None, product, lightness: float | None = None, reference_lightness: float | None = None
) -> list[Chip]:
    """What was asked next to what the result is (product: a core.catalog.Product)."""
    if feedback is None:
        return []
    chips = []
    if feedback.colour_group:
        colour = catalog_colour(product)
        chips.append(Chip(colour or product.base_colour or "?", colour == feedback.colour_group))
    if feedback.lightness and lightness is not None and reference_lightness is not None:
        lighter = lightness > reference_lightness
        chips.append(Chip("lighter" if feedback.lightness > 0 else "darker", lighter == (feedback.lightness > 0)))
    if feedback.gender:
        chips.append(Chip(product.gender, product.gender in (feedback.gender, "Unisex")))
    if feedback.article_type:
        chips.append(Chip(product.article_type, product.article_type == feedback.article_type))
    if feedback.usage:
        chips.append(Chip(product.usage or "?", product.usage == feedback.usage))
    if feedback.season:
        chips.append(Chip(product.season or "?", product.season == feedback.season))
    if feedback.pattern:
        words = re.findall(r"[a-z]+", product.name.lower())
        chips.append(Chip(feedback.pattern, any(PATTERN_WORDS.get(w) == feedback.pattern for w in words)))
    return chips

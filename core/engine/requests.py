"""How a request's words become a search: text cleaned and cut, feedback read (with notes for the user), the
gender and type it implies as filters, and the sleeve and length lengths it allows (a Wish)."""

from __future__ import annotations

from dataclasses import replace

from core.attributes import Wish, resolve_wish
from core.catalog import Product
from core.errors import QueryError
from core.feedback import Feedback, parse_feedback
from core.index import SearchFilter

MAX_QUERY_CHARS = 500  # longer text queries are cut (the text encoder reads ~128 tokens anyway)
RERANK_DEPTH = 100  # first-stage candidates the re-ranker orders
KIDS_OF = {"Women": "Girls", "Men": "Boys"}  # "for women" also keeps girls' items (the catalog labels kids apart)
# types that stand in for each other when feedback asks for another cut ("longer sleeves" on a women's T-shirt:
# long-sleeved tops count); without a type in the text the reference's siblings are kept, never other families
CUT_SIBLINGS = {
    "Tshirts": ("Tshirts", "Tops"),
    "Tops": ("Tops", "Tshirts"),
    "Kurtas": ("Kurtas", "Kurtis"),
    "Kurtis": ("Kurtis", "Kurtas"),
    "Trousers": ("Trousers", "Capris"),
    "Capris": ("Capris", "Trousers"),
    "Shorts": ("Shorts", "Capris"),
}


def rerank_depth(k: int, rerank: bool) -> int:
    """How many candidates the first stage returns: RERANK_DEPTH when re-ranking (k if more)."""
    return max(k, RERANK_DEPTH) if rerank else k


def read_feedback(text: str) -> tuple[Feedback | None, list[str]]:
    """The feedback as understood, with notes for the user; None (image similarity) for empty feedback."""
    try:
        text, notes = clean_query_text(text)
    except QueryError:
        return None, ["No feedback given: showing products similar to the reference."]
    feedback = parse_feedback(text)
    if feedback.corrections:
        notes.append("Read " + ", ".join(f"“{typed}” as “{read}”" for typed, read in feedback.corrections) + ".")
    if feedback.unseen:
        notes.append(
            f"The catalog does not record {' or '.join(dict.fromkeys(feedback.unseen))} yet: kept the "
            "product type and the rest of the request."
        )
    if not feedback.understood and not feedback.unseen:
        notes.append(
            "No change StyleLens knows was recognised in the feedback (it reads colours, lighter/darker, "
            "sleeves, length, women/men, product types, usage, season and patterns, in English): results follow the "
            "reference and the text as the model reads it."
        )
    return feedback, notes


def wish_for(feedback: Feedback | None, article_type: str | None, reference) -> Wish:
    """The sleeve and length lengths `feedback` allows for results of `article_type`, read against the
    reference's features (a GarmentFeatures, or None)."""
    if feedback is None or not (feedback.sleeves or feedback.length):
        return Wish()
    return resolve_wish(
        feedback.sleeves,
        feedback.length,
        article_type,
        reference.sleeves if reference is not None else None,
        reference.length if reference is not None else None,
    )


def with_wish(where: SearchFilter, wish: Wish) -> SearchFilter:
    """The filter with the request's sleeve and length lengths (the user's own choices win)."""
    return replace(where, sleeves=where.sleeves or wish.sleeves, lengths=where.lengths or wish.lengths)


def constrain(where: SearchFilter, feedback: Feedback | None, reference: Product | None) -> SearchFilter:
    """Hard constraints from the request: the gender and type asked for, else the reference's own
    (Unisex items always allowed)."""
    genders, categories = where.genders, where.categories
    if feedback is not None and feedback.gender:
        genders = (feedback.gender, KIDS_OF[feedback.gender], "Unisex")
    elif reference is not None and reference.gender and reference.gender != "Unisex" and not genders:
        genders = (reference.gender, "Unisex")
    if feedback is not None and feedback.article_type:
        categories = (feedback.article_type,)
    elif reference is not None and reference.article_type and not categories:
        categories = (reference.article_type,)
        if feedback is not None and (feedback.sleeves or feedback.length):  # a cut the type rarely has:
            categories = CUT_SIBLINGS.get(reference.article_type, categories)  # its siblings may have it
    return replace(where, genders=genders, categories=categories)


def clean_query_text(text: str) -> tuple[str, list[str]]:
    """Collapse whitespace and cut very long text; refuse empty text."""
    text = " ".join(str(text or "").split())
    if not text:
        raise QueryError('Type a description to search for, e.g. "red floral summer dress".')
    notes = []
    if len(text) > MAX_QUERY_CHARS:
        notes.append(f"The description was {len(text):,} characters; only the first {MAX_QUERY_CHARS} were used.")
        cut = text[: MAX_QUERY_CHARS + 1]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut[:MAX_QUERY_CHARS]  # whole words only
    return text, notes

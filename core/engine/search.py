"""Search: text, photo and composed (reference + feedback) queries, the first stage and the re-ranking.

Every search goes the same way: the query is read (core/photo_query.py for a photo, the encoder for text, the
composer for a reference with feedback), the request's words become filters (core/engine/requests.py), the
index returns the first stage's candidates, and the re-ranker (core/rerank.py) orders them when asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from core.attributes import Description, Wish, cut_in_words, likeliest_type
from core.catalog import CutTable, Product, parse_id
from core.composer import Compose, composition
from core.engine.requests import (
    CUT_SIBLINGS,
    clean_query_text,
    constrain,
    read_feedback,
    rerank_depth,
    wish_for,
    with_wish,
)
from core.engine.results import Hit, SearchResult, explain_hit
from core.errors import InvalidId, ModelUnavailable, QueryError
from core.feedback import Chip, Feedback, parse_feedback
from core.images import load_image
from core.index import Neighbour, SearchFilter, VectorIndex
from core.photo_query import PRIOR_DEPTH, PhotoQuery, PhotoReader, configured_reader, likely_types, rescore
from core.rerank import Query as RerankQuery
from core.rerank import wish_chips

MAX_K = 200
SURE_TYPE = 0.5  # an uploaded reference's type, read this surely, is kept when feedback asks for another cut


@dataclass(frozen=True)
class Ranking:
    """A query's candidates as the first stage found them and in their final order (ids and scores)."""

    first_stage: list[Neighbour]  # best first; RERANK_DEPTH of them when re-ranking
    final: list[Neighbour]  # the k shown: re-ranked when asked and available, else the first stage's top k
    reranked: bool = False
    unavailable: str = ""  # why re-ranking was asked for and not done
    question: RerankQuery | None = None  # what the re-ranker was asked (re-ranked rankings)
    features: dict | None = None  # the candidates' stored GarmentFeatures, when re-ranking read them
    products: dict = field(default_factory=dict)  # id -> Product of the candidates, when `rank` fetched them
    timings_ms: dict[str, float] = field(default_factory=dict)


class Search:
    """The searches of an engine that also keeps its catalog in step (core/engine/sync.py's CatalogSync gives
    `catalog`, `encoder`, `settings`, `index()`, `stored_features()`, `garment_features()`, `image_path()`)."""

    def __init__(self):
        self._compositions: dict[str, Compose] = {}
        self._best_method: str | None = None
        self._reranker = None  # (model, colour prototypes), loaded on first re-ranked search
        self._cuts: tuple[str, CutTable | None, dict] = ("", None, {})  # (features revision, table, ids asked)
        self._reader: PhotoReader | None = None  # loaded on the first photo query

    # ---- searches ------------------------------------------------------------------------------
    def search_image(
        self,
        image: Image.Image | bytes | str | Path,
        k: int = 10,
        where: SearchFilter = SearchFilter(),
        rerank: bool = False,
    ) -> SearchResult:
        """Products like the photo: the one photo path (core/photo_query.py), then the index."""
        started = time.perf_counter()
        picture = image if isinstance(image, Image.Image) else load_image(image)
        decoded = time.perf_counter()
        photo = self.read_photos([picture])[0]
        timings = {"decode": decoded - started, "encode": time.perf_counter() - decoded}
        question = (
            (lambda: RerankQuery(None, self.photo_features(picture, photo), type_prior=photo.type_prior))
            if rerank
            else None
        )
        return replace(self._run(photo, k, where, [], timings, question), photo=photo)

    def search_text(
        self, text: str, k: int = 10, where: SearchFilter = SearchFilter(), rerank: bool = False
    ) -> SearchResult:
        """Products matching a description; sleeve and length words in it ("long sleeve", "midi") filter."""
        text, notes = clean_query_text(text)
        started = time.perf_counter()
        described = parse_feedback(text)
        wish = wish_for(described, described.article_type, None)
        query = self.encoder.embed_texts([text])[0]  # [D]
        question = (lambda: RerankQuery(described, None, wish)) if rerank else None
        result = self._run(
            query,
            k,
            with_wish(where, wish),
            [*notes, *wish.notes],
            {"encode": time.perf_counter() - started},
            question,
            wish=wish,
        )
        return replace(result, wish=wish)

    def search_composed(
        self,
        text: str,
        image: Image.Image | bytes | str | Path | None = None,
        ref_id: int | None = None,
        k: int = 10,
        where: SearchFilter = SearchFilter(),
        method: str | None = None,
        rerank: bool = False,
    ) -> SearchResult:
        """A reference (uploaded image or catalog product) refined by feedback text.

        Gender and product type asked for in the text become filters (no cross-gender results); without a
        type in the text the reference's type is kept. Sleeve and length requests ("longer sleeves", "a
        longer dress"), read against the reference's own, filter the first stage. The reference itself is
        never returned."""
        started = time.perf_counter()
        picture, reference = self._reference(image, ref_id)
        feedback, notes = read_feedback(text)
        where = constrain(where, feedback, reference)
        decoded = time.perf_counter()
        # the photo path (garment cut out, type prior) for an uploaded reference, and for any reference searched
        # without feedback (as "More like this" and evaluate search it); the composer reads a catalog packshot as is
        photo = self.read_photos([picture])[0] if reference is None or feedback is None else None
        garment = photo.cutout if photo is not None and reference is None else picture
        features = self.reference_features(reference, picture, photo)
        kind = (
            (feedback.article_type if feedback else None)
            or (reference.article_type if reference else None)
            or likeliest_type(photo.type_prior if photo else {})
        )
        wish = wish_for(feedback, kind, features)
        if (
            reference is None
            and not wish.is_empty
            and not where.categories
            and photo is not None
            and photo.type_prior.get(kind, 0.0) >= SURE_TYPE
        ):  # "longer sleeves" on a T-shirt photo: T-shirts
            where = replace(where, categories=CUT_SIBLINGS.get(kind, (kind,)))
        if feedback is None:
            query = photo  # the photo alone: its own path, type prior included
        else:  # the photo's type prior applies to the photo alone: feedback may ask for another type
            query = self.composition(method or self.best_method())([garment], [feedback.text])[0]
        composed = time.perf_counter()
        prior = photo.type_prior if photo is not None and not (feedback and feedback.article_type) else {}
        question = (lambda: RerankQuery(feedback, features, wish, prior)) if rerank else None
        result = self._run(
            query,
            k,
            with_wish(where, wish),
            [*notes, *wish.notes],
            {"decode": decoded - started, "compose": composed - decoded},
            question,
            wish=wish,
            exclude=reference.id if reference is not None else None,
            feedback=feedback,
            reference=features,
        )
        return replace(result, photo=photo if reference is None else None, wish=wish, reference=features)

    # ---- photos as queries ---------------------------------------------------------------------
    def photo_reader(self) -> PhotoReader:
        """The reader of query photos: this engine's encoder, the configured segmenter and kind classifier."""
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = configured_reader(self.encoder, self.settings)
        return self._reader

    def set_photo_reader(self, reader: PhotoReader) -> None:
        """Use another photo path (benchmarks compare segmenter, prior and flips through the same code)."""
        self._reader = reader

    def read_photos(self, pictures: Sequence[Image.Image]) -> list[PhotoQuery]:
        return self.photo_reader().read(pictures)

    def photo_neighbours(
        self,
        photo: PhotoQuery,
        k: int,
        where: SearchFilter = SearchFilter(),
        exclude: int | None = None,
        index: VectorIndex | None = None,
    ) -> list[Neighbour]:
        """The k best catalog products for a photo query: the index's nearest candidates re-ordered by
        the photo's article-type prior; `exclude` (a reference id) is never among them."""
        index = self.index() if index is None else index
        reader = self.photo_reader()
        with_prior = bool(photo.type_prior) and reader.prior_weight > 0
        depth = min(MAX_K, (max(k, PRIOR_DEPTH) if with_prior else k) + (exclude is not None))
        found = index.search(photo.vector, depth, where)
        if with_prior and likely_types(photo.type_prior):  # the likeliest types' nearest products join in
            typed = replace(where, article_types=likely_types(photo.type_prior))
            seen = {n.id for n in found}
            found += [n for n in index.search(photo.vector, min(MAX_K, k + 1), typed) if n.id not in seen]
        return rescore([n for n in found if n.id != exclude], index, photo.type_prior, reader.prior_weight)[:k]

    # ---- what a query is read as ---------------------------------------------------------------
    def reference_features(self, reference: Product | None, picture: Image.Image, photo: PhotoQuery | None = None):
        """GarmentFeatures of a query's reference: a catalog product's stored ones (read now if it has none
        yet), else read from the uploaded photo (colour from the garment cut out, cut from the photo)."""
        if reference is not None:
            stored = self.stored_features([reference.id]).get(reference.id)
            return stored if stored is not None else self.garment_features([picture], [reference.article_type])[0]
        return self.photo_features(picture, photo)

    def photo_features(self, picture: Image.Image, photo: PhotoQuery | None):
        """Features of an uploaded photo: colour and shape from the garment's cut-out (when one was found),
        sleeves and length from the photo as taken, on the scale of the type the encoder reads in it."""
        garment = photo.cutout if photo is not None and photo.segmented else picture
        kind = likeliest_type(photo.type_prior) if photo is not None else None
        features = self.garment_features([garment], [kind])[0]
        model = self.attribute_model()
        if model is None or garment is picture:
            return features
        return features.with_attributes(model.read([picture], [kind])[0], str(features.version))

    def describe_photo(self, picture: Image.Image) -> Description:
        """Kind, colour, sleeves and length read from an uploaded garment photo, as the searches read it."""
        photo = self.read_photos([picture])[0]
        features = self.photo_features(picture, photo)
        kind = likeliest_type(photo.type_prior)
        return Description(
            kind,
            float(photo.type_prior.get(kind, 0.0)) if kind else 0.0,
            tuple(photo.colour),
            features.lightness,
            features.sleeves,
            features.sleeve_confidence,
            features.length,
            features.length_confidence,
        )

    def describe_product(self, product_id: int) -> Description:
        """A catalog product's type and its stored garment features (read now when it has none yet)."""
        picture, product = self._reference(None, product_id)
        features = self.reference_features(product, picture)
        colour = features.colours[0][0] if features.colours else (255, 255, 255)
        return Description(
            product.article_type,
            1.0,
            tuple(colour),
            features.lightness,
            features.sleeves,
            features.sleeve_confidence,
            features.length,
            features.length_confidence,
        )

    # ---- re-ranking ----------------------------------------------------------------------------

    def rerank_order(
        self,
        query: RerankQuery,
        ids: Sequence[int],
        scores: Sequence[float],
        table: dict | None = None,
        kinds: Sequence[str] | None = None,
    ):
        """Positions of the candidates best first and their re-ranked scores; ModelUnavailable without a re-ranker.
        `table`, `kinds`: the candidates' stored features and article types when the caller has them already."""
        from core.rerank import rerank_order

        model, prototypes = self.reranker()
        table = self.stored_features(ids) if table is None else table
        if kinds is None and query.type_prior:
            kinds = self.index().values_of("article_type", ids)
        return rerank_order(
            model,
            prototypes,
            query,
            [table.get(i) for i in ids],
            list(scores),
            list(kinds) if kinds is not None else None,
        )

    def rerank_query(
        self,
        text: str = "",
        ref_id: int | None = None,
        picture: Image.Image | None = None,
        table: dict | None = None,
        type_prior: dict[str, float] | None = None,
    ) -> RerankQuery:
        """What the re-ranker knows of a query: the feedback / description, the reference's features and the
        sleeves and length asked for (as the searches build it; evaluation calls this)."""
        feedback = (
            (read_feedback(text)[0] if picture is not None or ref_id is not None else parse_feedback(text))
            if text.strip()
            else None
        )
        if ref_id is not None and (table is None or ref_id not in table):
            table = self.stored_features([ref_id])
        reference = table.get(ref_id) if ref_id is not None else None
        if reference is None and picture is not None:
            reference = self.photo_features(picture, None)
        kind = (feedback.article_type if feedback else None) or (
            self.index().values_of("article_type", [ref_id])[0] if ref_id is not None else None
        )
        prior = type_prior if type_prior and not (feedback and feedback.article_type) else {}
        return RerankQuery(feedback, reference, wish_for(feedback, kind or None, reference), prior)

    def reranker(self):
        """(model, colour prototypes) of the bundled re-ranker; ModelUnavailable when it is missing."""
        with self._lock:
            if self._reranker is None:
                from core.rerank import load_reranker

                model, prototypes, _ = load_reranker()
                self._reranker = (model, prototypes)
            return self._reranker

    # ---- composition, references and filters -------------------------------------------------
    def _cut_ids(self, sleeves: tuple[str, ...], lengths: tuple[str, ...]) -> tuple[int, ...]:
        """Catalog ids whose stored sleeves and length are among those asked for (empty: any). Read from a
        compact table of every product's cut, loaded once per features revision; each answer is kept too,
        so the index can keep its row mask for it."""
        revision = self.catalog.revision()
        kept, table, answers = self._cuts
        if table is None or (kept != revision.features and not revision.writing_features):
            table, answers = self.catalog.cut_table(), {}  # no lock held: readers see the old or the new triple
            self._cuts = (revision.features, table, answers)
        key = (sleeves, lengths)
        if key not in answers:
            answers[key] = table.ids_with(sleeves, lengths)
        return answers[key]

    def composition(self, method: str) -> Compose:
        """The compose callable for `method` (loaded once per engine)."""
        with self._lock:
            if method not in self._compositions:
                self._compositions[method] = composition(method, self.encoder)
            return self._compositions[method]

    def best_method(self) -> str:
        """The learned composer where it loads for this encoder (checked once), else the sum baseline."""
        if self._best_method is None:
            try:
                self.composition("composer")
                self._best_method = "composer"
            except ModelUnavailable:
                self._best_method = "sum"
        return self._best_method

    def _reference(self, image, ref_id: int | None) -> tuple[Image.Image, Product | None]:
        if (image is None) == (ref_id is None):
            raise QueryError("Give either a reference photo or a catalog product as the reference.")
        if image is not None:
            return (image if isinstance(image, Image.Image) else load_image(image)), None
        try:
            product = self.catalog.get([parse_id(ref_id)])[0]
        except InvalidId as exc:
            raise QueryError(f"The reference must be a catalog id: {exc}.") from exc
        if product is None:
            raise QueryError(f"There is no product with id {ref_id} in the catalog.")
        return load_image(self.image_path(product)), product

    def attribute_filter(
        self, index: VectorIndex, where: SearchFilter, k: int, notes: list[str]
    ) -> tuple[SearchFilter, list[str]]:
        """`where` with its sleeve and length choices turned into the catalog ids whose stored features meet
        them. When no product of the rest of the filter meets them, they are dropped (and the user told)."""
        if not where.asks_attributes:
            return where, notes
        narrowed = replace(where, ids=self._cut_ids(where.sleeves, where.lengths))
        found = int(index.allowed_rows(narrowed).sum())
        asked = cut_in_words(where.sleeves, where.lengths)
        if found == 0:
            return replace(where, sleeves=(), lengths=()), [
                *notes,
                f"No product here is recorded as {asked}: showing the closest ones regardless.",
            ]
        if found < k:
            notes = [
                *notes,
                f"Only {found} product{'s' if found > 1 else ''} here {'are' if found > 1 else 'is'} recorded as "
                f"{asked}: {'all of them are' if found > 1 else 'it is'} shown.",
            ]
        return narrowed, notes

    # ---- the first stage and the re-ranking --------------------------------------------------
    def first_stage(
        self,
        query: np.ndarray | PhotoQuery,
        depth: int,
        where: SearchFilter = SearchFilter(),
        exclude: int | None = None,
        index: VectorIndex | None = None,
    ) -> list[Neighbour]:
        """The index's `depth` nearest products to a query vector, or to a photo by its own path (type prior
        included); `exclude` (a reference id) is never among them."""
        index = self.index() if index is None else index
        if isinstance(query, PhotoQuery):
            return self.photo_neighbours(query, depth, where, exclude, index)
        found = index.search(query, min(MAX_K + 1, depth + (exclude is not None)), where)
        return [n for n in found if n.id != exclude][:depth]

    def rank(
        self,
        query: np.ndarray | PhotoQuery,
        k: int,
        where: SearchFilter = SearchFilter(),
        question: Callable[[], RerankQuery] | None = None,
        exclude: int | None = None,
        index: VectorIndex | None = None,
        fetch: Callable[[list[int]], list[Product | None]] | None = None,
    ) -> Ranking:
        """How every search and the evaluation order the catalog: the first stage (RERANK_DEPTH candidates
        when re-ranking), then the re-ranker's order for the query `question` builds (None: no re-ranking);
        cut to k. The reference `exclude` is never among them. `fetch` (the catalog's products by id): the
        candidates are fetched before re-ranking, and one deleted since the index was built is left out."""
        index = self.index() if index is None else index
        started = time.perf_counter()
        first = self.first_stage(query, rerank_depth(k, question is not None), where, exclude, index)
        searched = time.perf_counter()
        products = {}
        if fetch is not None:
            products = {p.id: p for p in fetch([n.id for n in first]) if p is not None}
            first = [n for n in first if n.id in products]
        fetched = time.perf_counter()
        timings = {"search": (searched - started) * 1000, **({"fetch": (fetched - searched) * 1000} if fetch else {})}
        if question is None:
            return Ranking(first, first[:k], products=products, timings_ms=timings)
        ids = [n.id for n in first]
        table = self.stored_features(ids)
        try:
            asked = question()
            kinds = index.values_of("article_type", ids) if asked.type_prior else None  # the first stage's index
            order, scores = self.rerank_order(asked, ids, [n.score for n in first], table, kinds)
        except ModelUnavailable as exc:
            return Ranking(
                first, first[:k], unavailable=str(exc), features=table, products=products, timings_ms=timings
            )
        final = [Neighbour(first[i].id, float(scores[i])) for i in order[:k]]
        timings["rerank"] = (time.perf_counter() - fetched) * 1000
        return Ranking(
            first, final, reranked=True, question=asked, features=table, products=products, timings_ms=timings
        )

    def _run(
        self,
        query: np.ndarray | PhotoQuery,
        k: int,
        where: SearchFilter,
        notes: list[str],
        timings: dict[str, float],
        question: Callable[[], RerankQuery] | None = None,
        wish: Wish = Wish(),
        exclude: int | None = None,
        feedback: Feedback | None = None,
        reference=None,
    ) -> SearchResult:
        """A search's result: filters read, `rank`, products fetched, each hit explained. `question`: the
        re-ranker's query, built only when re-ranking (None: the first stage's order)."""
        if not 1 <= int(k) <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}.")
        k = int(k)
        index, before_import = self._current_index()
        if before_import:
            notes = [*notes, "The catalog is being imported: results come from the catalog as it was before."]
        where, notes = self.attribute_filter(index, where, k, notes)
        ranking = self.rank(query, k, where, question, exclude, index, fetch=self.catalog.get)
        hits = self._hits(ranking.final, ranking.products)
        first = self._hits(ranking.first_stage[:k], ranking.products) if ranking.reranked else hits
        timings = {**{name: seconds * 1000 for name, seconds in timings.items()}, **ranking.timings_ms}
        if ranking.unavailable:
            notes = [*notes, f"Re-ranking is unavailable: {ranking.unavailable}"]
        if not hits:
            notes = [
                *notes,
                f"No product matches {where.describe()}." if not where.is_empty else "The catalog is empty.",
            ]
        table = ranking.features if ranking.features is not None else self.stored_features([h.product.id for h in hits])
        read = self._read_chips(hits, table, ranking.question, wish)
        explanations = {
            h.product.id: explain_hit(
                h.product, table.get(h.product.id), read.get(h.product.id, []), feedback, reference
            )
            for h in hits
        }
        return SearchResult(
            hits,
            notes,
            timings,
            feedback,
            read,
            reranked=ranking.reranked,
            first_stage=first,
            first_ranks={n.id: rank for rank, n in enumerate(ranking.first_stage, start=1)},
            explanations=explanations,
        )

    def _hits(self, neighbours: Sequence[Neighbour], products: dict[int, Product]) -> list[Hit]:
        """Hits for ranked neighbours whose products `rank` fetched, ranked from 1."""
        return [Hit(products[n.id], n.score, rank) for rank, n in enumerate(neighbours, start=1)]

    def _read_chips(
        self, hits: Sequence[Hit], table: dict, question: RerankQuery | None, wish: Wish
    ) -> dict[int, list[Chip]]:
        """The chips read from each hit's photo: the re-ranker's for a re-ranked search, else the sleeves and
        length asked for (none asked: no chips)."""
        from core.rerank import explain

        if question is not None:
            prototypes = self.reranker()[1]
            return {h.product.id: explain(question, table.get(h.product.id), prototypes) for h in hits}
        if wish.is_empty:
            return {}
        return {h.product.id: wish_chips(wish, table.get(h.product.id)) for h in hits}

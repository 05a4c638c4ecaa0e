"""StyleLens' search engine: the catalog, one encoder and the index kept in step with both.

Pages and the CLI call these methods and nothing below them, so both do exactly the same thing.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from core.catalog import Catalog, CutTable, DatabaseUnavailable, InvalidId, Product, parse_id
from core.composer import Compose, composition
from core.config import Settings
from core.encoders import Encoder, load_encoder
from core.errors import StyleLensError
from core.attributes import Description, Wish, likeliest_type, resolve_wish
from core.feedback import Chip, Feedback, parse_feedback
from core.rerank import Query as RerankQuery
from core.images import MAX_FILE_BYTES, FileLimitError, ImageError, load_image, read_file_limited
from core.index import IndexFileError, Neighbour, SearchFilter, VectorIndex
from core.photo_query import PRIOR_DEPTH, PhotoQuery, PhotoReader, likely_types, rescore
from core.segment import configured_segmenter
from core.ingest import CatalogRow, ImportReport, Progress, content_hash, read_catalog, store_image

MAX_QUERY_CHARS = 500  # longer text queries are cut (the text encoder reads ~128 tokens anyway)
MAX_K = 200
BACKENDS = ("faiss", "milvus")
KIDS_OF = {"Women": "Girls", "Men": "Boys"}  # "for women" also keeps girls' items (the catalog labels kids apart)
EMBED_BATCH = 64
UPDATE_SHARE = 0.2  # an index catches up on at most this share of changed products; more: rebuilt
FEATURE_BATCH = 1000  # ids per stored-features lookup (short $in lists)
RERANK_DEPTH = 100  # first-stage candidates the re-ranker orders
SURE_TYPE = 0.5  # an uploaded reference's type, read this surely, is kept when feedback asks for another cut
# types that stand in for each other when feedback asks for another cut ("longer sleeves" on a women's T-shirt:
# long-sleeved tops count); without a type in the text the reference's siblings are kept, never other families
CUT_SIBLINGS = {"Tshirts": ("Tshirts", "Tops"), "Tops": ("Tops", "Tshirts"), "Kurtas": ("Kurtas", "Kurtis"),
                "Kurtis": ("Kurtis", "Kurtas"), "Trousers": ("Trousers", "Capris"), "Capris": ("Capris", "Trousers"),
                "Shorts": ("Shorts", "Capris")}


class QueryError(StyleLensError, ValueError):
    """A query that cannot be run, with a message for the user."""


@dataclass(frozen=True)
class Hit:
    product: Product
    score: float
    rank: int

    def to_json(self) -> dict:
        return {"id": self.product.id, "score": round(self.score, 4), "rank": self.rank,
                **{k: v for k, v in asdict(self.product).items() if k not in ("id", "content_hash")}}


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

    def to_json(self) -> dict:
        hits = [{**h.to_json(), **({"chips": [c.to_json() for c in self.chips.get(h.product.id, [])]}
                                   if self.reranked or self.chips else {})} for h in self.hits]
        data = {"hits": hits, "notes": self.notes, "reranked": self.reranked,
                "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()}}
        if self.feedback is not None:
            data["understood"] = {k: v for k, v in asdict(self.feedback).items() if v not in (None, 0, (), "")}
        if self.photo is not None:
            data["photo"] = photo_json(self.photo)
        if not self.wish.is_empty:
            data["wish"] = {"sleeves": list(self.wish.sleeves), "lengths": list(self.wish.lengths)}
        if self.reference is not None:
            data["reference"] = {"sleeves": self.reference.sleeves, "length": self.reference.length,
                                 "lightness": round(self.reference.lightness, 3)}
        return data


def photo_json(photo: PhotoQuery) -> dict:
    """What was read from a query photo, for JSON outputs (the mask itself is left out)."""
    top = sorted(photo.type_prior.items(), key=lambda item: -item[1])[:3]
    return {"segmented": photo.segmented, "colour": "#%02x%02x%02x" % photo.colour,
            "article_types": [{"type": name, "p": round(p, 3)} for name, p in top]}


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


def _no_progress(done: int, total: int, message: str) -> None:
    pass


class StyleLens:
    def __init__(self, settings: Settings, catalog: Catalog, encoder: Encoder):
        self.settings = settings
        self.catalog = catalog
        self.encoder = encoder
        self._index: VectorIndex | None = None
        self._compositions: dict[str, Compose] = {}
        self._best_method: str | None = None
        self._reranker = None  # (model, colour prototypes), loaded on first re-ranked search
        self._cuts: tuple[str, CutTable | None, dict] = ("", None, {})  # (features revision, table, ids asked)
        self._reader: PhotoReader | None = None  # loaded on the first photo query
        self._counts: tuple[str, tuple] = ("", ())  # (catalog state, what status() counted in the database)
        self._attributes = None  # the garment-attribute model (False: not available), loaded on first need
        self._lock = threading.RLock()
        self.rebuilds = 0  # index refreshes by this engine, rebuilt or updated (the drills check: one per import)
        self.updates = 0  # of which updated in place of a rebuild

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None) -> "StyleLens":
        return cls(settings, Catalog.open(settings), encoder or load_encoder(settings.encoder_name))

    # ---- index ---------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.encoder.model_key)
        return self.settings.index_dir / (f"{safe}.npz" if self.backend == "faiss" else f"{safe}.{self.backend}.npz")

    @property
    def backend(self) -> str:
        """The vector store: "faiss" (embedded) or "milvus" (VECTOR_BACKEND)."""
        backend = self.settings.vector_backend
        if backend not in BACKENDS:
            raise QueryError(f"VECTOR_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        return backend

    def _load_index(self) -> VectorIndex:
        if self.backend == "milvus":
            from core.milvus_index import MilvusIndex

            return MilvusIndex.load_from(self.settings.milvus_address, self.index_path)
        return VectorIndex.load(self.index_path)

    def _build_index(self, products, vectors, state: str, progress: Progress) -> VectorIndex:
        if self.backend == "milvus":
            from core.milvus_index import MilvusIndex

            return MilvusIndex.build_in(self.settings.milvus_address, products, vectors, self.encoder.model_key, state,
                                        self.settings.exact_index_limit, progress)
        return VectorIndex.build(products, vectors, self.encoder.model_key, state, self.settings.exact_index_limit)

    def index(self, progress: Progress = _no_progress) -> VectorIndex:
        """The index in step with the catalog: the one in memory, else the saved one, else rebuilt.
        While an import runs, the index from before it is used as it is (rebuilt once, when it ends)."""
        return self._current_index(progress)[0]

    def _current_index(self, progress: Progress = _no_progress) -> tuple[VectorIndex, bool]:
        """index() and whether it is the one from before a running import.

        The catalog's revision is read before taking the lock: sessions never queue behind another's wait
        for the database (each says "unavailable" in its own ~5 s); only a rebuild is done one at a time."""
        revision = self.catalog.revision()
        index = self._index
        if index is not None and index.is_current(self.encoder.model_key, revision.state):
            return index, False
        with self._lock:
            if self.index_ready(revision.state):
                return self._index, False
            if revision.importing and self._index_before_import() is not None:
                return self._index, True
            return self.rebuild_index(progress), False

    def _index_before_import(self) -> VectorIndex | None:
        """The index of this encoder from before the running import (loaded if need be), if there is one."""
        if self._index is None:
            try:
                self._index = self._load_index()  # once: kept in memory afterwards
            except IndexFileError:
                return None
        return self._index if self._index.manifest.model_key == self.encoder.model_key else None

    def index_ready(self, state: str | None = None) -> bool:
        """True when a search needs no (re-)embedding or rebuild first; loads the saved index if it is current.
        `state`: the catalog's, when the caller has just read it."""
        state = self.catalog.state() if state is None else state
        with self._lock:
            if self._index is not None and self._index.is_current(self.encoder.model_key, state):
                return True
            saved = VectorIndex.read_manifest(self.index_path)  # cheap: the whole file only if it is current
            if saved is None or (saved.model_key, saved.catalog_state) != (self.encoder.model_key, state):
                return False
            try:
                self._index = self._load_index()
            except IndexFileError:
                return False  # damaged (or its Milvus collection gone): index() rebuilds it from the database
            return self._index.is_current(self.encoder.model_key, state)

    def rebuild_index(self, progress: Progress = _no_progress, full: bool = False) -> VectorIndex:
        """Bring the index up to date: by adding and retiring just the products written since it was built
        when the catalog's change log tells them (FAISS), else (or `full`: "Rebuild index", `reindex`)
        rebuilt whole from MongoDB, embedding first the products without a vector from this encoder."""
        with self._lock:
            state = self.catalog.state()  # before reading: a write meanwhile leaves this index behind, not wrong
            index = None if full else self._caught_up(state, progress)
            if index is None:  # the products and vectors read are dropped once built (memory at a million)
                index = self._build_index(*self._all_vectors(progress), state, progress)
            else:
                self.updates += 1
            self._index = index
            self.rebuilds += 1
            try:
                index.save(self.index_path)
            except OSError:
                pass  # disk full or read-only: searches use the index in memory; the next start rebuilds it
            progress(len(index), len(index), f"Index up to date: {len(index)} products")
            return index

    def _caught_up(self, state: str, progress: Progress = _no_progress) -> VectorIndex | None:
        """The previous FAISS index with the products written since it was built replaced, when the change
        log can tell which and they are few (else None: rebuild). A flat index that would outgrow the exact
        limit, or one with many rows retired, is rebuilt instead (into IVF, or compacted)."""
        if self.backend != "faiss":
            return None
        base = self._index
        if base is None:
            try:
                base = self._load_index()
            except IndexFileError:
                return None
        manifest = base.manifest
        if manifest.model_key != self.encoder.model_key or manifest.dim == 0 or base.retired_share > UPDATE_SHARE:
            return None
        try:
            changed = self.catalog.changes_since(manifest.catalog_state, state, limit=int(UPDATE_SHARE * len(base)))
        except DatabaseUnavailable:
            return None  # the rebuild reads the database too, and says so if it is really away
        if changed is None:
            return None
        if manifest.index_type == "flat" and len(base) + len(changed) > self.settings.exact_index_limit:
            return None
        products, vectors = self.catalog.embeddings_of(changed, self.encoder.model_key)
        if len(products) < len(changed) and self.embed_missing(progress, changed - {p.id for p in products}):
            products, vectors = self.catalog.embeddings_of(changed, self.encoder.model_key)  # with new vectors
        return base.updated(changed, products, vectors, state)

    def _all_vectors(self, progress: Progress) -> tuple[list[Product], np.ndarray]:
        """Every product with its vector from this encoder, embedding those without one first (one scan)."""
        missing: list[int] = []
        products, vectors = self.catalog.embeddings(self.encoder.model_key, missing)
        if missing and self.embed_missing(progress, missing):
            more, extra = self.catalog.embeddings_of(missing, self.encoder.model_key)
            if more:
                products = [*products, *more]
                vectors = np.concatenate([vectors.reshape(len(vectors), -1), extra]) if len(vectors) else extra
        return products, vectors

    def embed_missing(self, progress: Progress, ids: Sequence[int]) -> int:
        """Give these products (ones found without a vector from the current encoder, e.g. after switching
        encoders) one; returns how many were asked for."""
        ids = list(ids)
        for start in range(0, len(ids), EMBED_BATCH):
            products = [p for p in self.catalog.get(ids[start:start + EMBED_BATCH]) if p]
            usable, images = [], []
            for product in products:
                try:
                    images.append(load_image(self.image_path(product)))
                    usable.append(product)
                except ImageError:
                    continue  # its image is gone; it stays out of the index until re-imported
            if usable:
                vectors = self.encoder.embed_catalog(images, [p.caption for p in usable])
                self.catalog.set_embeddings([p.id for p in usable], vectors, self.encoder.model_key)
            progress(min(start + EMBED_BATCH, len(ids)), len(ids), f"Embedding with {self.encoder.name}")
        return len(ids)

    # ---- garment features ----------------------------------------------------------------
    def update_features(self, progress: Progress = _no_progress) -> int:
        """Compute the garment features (core/garment_features.py, sleeves and length from core/attributes.py)
        of every product whose stored ones are missing or from another extractor or attribute model; returns
        how many were due."""
        ids = self.catalog.ids_without_features(self.features_version())
        if not ids:
            return 0
        with self.catalog.import_lease("features"):  # re-ranked searches keep their feature table meanwhile
            for start in range(0, len(ids), EMBED_BATCH):
                products, images = [], []
                for product in filter(None, self.catalog.get(ids[start:start + EMBED_BATCH])):
                    try:
                        images.append(load_image(self.image_path(product)))
                        products.append(product)
                    except ImageError:
                        continue  # its image is gone; it gets features when re-imported
                features = self.garment_features(images, [p.article_type for p in products])
                self.catalog.set_features({p.id: f.to_doc() for p, f in zip(products, features)})
                progress(min(start + EMBED_BATCH, len(ids)), len(ids), "Reading garment features")
        return len(ids)

    def garment_features(self, images: Sequence[Image.Image], article_types: Sequence[str | None]) -> list:
        """GarmentFeatures of garment photos of the given article types: colours, lightness, silhouette and
        pattern from pixels; sleeves and length from the attribute model (without it, the geometric sleeve
        estimate, reading pose landmarks on a model)."""
        return self._features_and_embeddings(images, article_types)[0]

    def _features_and_embeddings(self, images: Sequence[Image.Image],
                                 article_types: Sequence[str | None]) -> tuple[list, np.ndarray | None]:
        """`garment_features`, and the images' embeddings when the attribute model's backbone pass made them."""
        from core.garment_features import extract

        model = self.attribute_model()
        if model is None:
            return [self._geometric_features(image, kind) for image, kind in zip(images, article_types)], None
        version = self.features_version()
        if model.encoder is self.encoder:  # its backbone pass is ours: keep the embeddings it makes
            attributes, embeddings = model.read_and_embed(images, article_types)
        else:  # it reads the bundled encoder's tokens, not this engine's vectors
            attributes, embeddings = model.read(images, article_types), None
        return [extract(image).with_attributes(read, version) for image, read in zip(images, attributes)], embeddings

    def catalog_vectors_and_features(self, images: Sequence[Image.Image],
                                     products: Sequence[Product]) -> tuple[np.ndarray, list]:
        """What an import stores of each product photo: its catalog vector (image and caption) and its garment
        features, reading each photo through the image backbone once where the encoder allows."""
        features, image_part = self._features_and_embeddings(images, [p.article_type for p in products])
        captions = [p.caption for p in products]
        if image_part is None:
            return self.encoder.embed_catalog(images, captions), features
        return self.encoder.blend_captions(image_part, captions), features

    def _geometric_features(self, image: Image.Image, article_type: str | None):
        from core.attributes import has_sleeves
        from core.garment_features import extract

        if not has_sleeves(article_type):
            return extract(image)
        from core.pose_model import shared_pose_model  # mediapipe is imported on first need only

        return extract(image, shared_pose_model().landmarks(image))

    def attribute_model(self):
        """The garment-attribute model (core/attributes.py), loaded once; None when it is not available."""
        if self._attributes is None:
            with self._lock:
                if self._attributes is None:
                    from core.attributes import AttributeModelUnavailable, shared_attribute_model

                    try:
                        self._attributes = shared_attribute_model(self.encoder)
                    except AttributeModelUnavailable:
                        self._attributes = False
        return self._attributes or None

    def features_version(self) -> int | str:
        """The stamp stored with garment features: the extractor's version and the attribute model's."""
        from core.garment_features import EXTRACTOR_VERSION

        model = self.attribute_model()
        return f"{EXTRACTOR_VERSION}+{model.key}" if model is not None else EXTRACTOR_VERSION

    # ---- import --------------------------------------------------------------------------
    def import_catalog(self, images_dir: Path, styles_csv: Path, progress: Progress = _no_progress) -> ImportReport:
        """Import (or update) products from a folder of images and a CSV, then bring the index up to date."""
        started = time.perf_counter()
        rows, skipped = read_catalog(Path(images_dir), Path(styles_csv))
        report = ImportReport(rows=len(rows) + len(skipped), skipped=list(skipped))
        with self.catalog.import_lease():  # searches meanwhile keep the index they have
            known = self.catalog.hashes()
            for start in range(0, len(rows), EMBED_BATCH):
                self._import_batch(rows[start:start + EMBED_BATCH], known, report)
                progress(min(start + EMBED_BATCH, len(rows)), len(rows), "Importing products")
            self.update_features(progress)
            if not self.index_ready():  # rebuilt once, before the lease ends (others keep theirs till then),
                self.rebuild_index(progress)  # even while a crashed import's lease is still lapsing
        report.seconds = time.perf_counter() - started
        return report

    def _import_batch(self, rows: Sequence[CatalogRow], known: dict[int, str], report: ImportReport) -> None:
        fresh, images = [], []
        for row in rows:
            try:
                image_bytes = read_file_limited(row.image_path, MAX_FILE_BYTES)
            except FileLimitError as exc:
                report.skipped.append((str(row.product.id), f"image unreadable: {exc}"))
                continue
            digest = content_hash(row.product, image_bytes)
            if known.get(row.product.id) == digest:
                report.unchanged += 1
                continue
            try:
                store_image(image_bytes, self.settings.images_dir / row.product.image)
                images.append(load_image(self.settings.images_dir / row.product.image))  # as a re-embed reads it
            except ImageError as exc:
                report.skipped.append((str(row.product.id), str(exc)))
                continue
            fresh.append(Product(**{**asdict(row.product), "content_hash": digest}))
        if not fresh:
            return
        vectors, features = self.catalog_vectors_and_features(images, fresh)
        # product, vector and features in one write
        self.catalog.upsert(fresh, vectors, self.encoder.model_key, [f.to_doc() for f in features])
        for product in fresh:
            if product.id in known:
                report.updated += 1
            else:
                report.added += 1
            known[product.id] = product.content_hash

    # ---- search --------------------------------------------------------------------------
    def search_image(self, image: Image.Image | bytes | str | Path, k: int = 10,
                     where: SearchFilter = SearchFilter(), rerank: bool = False) -> SearchResult:
        """Products like the photo: the one photo path (core/photo_query.py), then the index."""
        started = time.perf_counter()
        picture = image if isinstance(image, Image.Image) else load_image(image)
        decoded = time.perf_counter()
        photo = self.read_photos([picture])[0]
        result = self._search(photo.vector, rerank_depth(k, rerank), where, [], {
            "decode": decoded - started, "encode": time.perf_counter() - decoded}, photo=photo)
        result = self._rerank(result, lambda: RerankQuery(None, self.photo_features(picture, photo),
                                                          type_prior=photo.type_prior), k, rerank)
        return replace(result, photo=photo)

    # ---- photos as queries ---------------------------------------------------------------
    def photo_reader(self) -> PhotoReader:
        """The reader of query photos: this engine's encoder and the configured segmenter (loaded once)."""
        if self._reader is None:
            with self._lock:
                if self._reader is None:
                    self._reader = PhotoReader(self.encoder, configured_segmenter(self.settings))
        return self._reader

    def set_photo_reader(self, reader: PhotoReader) -> None:
        """Use another photo path (benchmarks compare segmenter, prior and flips through the same code)."""
        self._reader = reader

    def read_photos(self, pictures: Sequence[Image.Image]) -> list[PhotoQuery]:
        return self.photo_reader().read(pictures)

    def photo_neighbours(self, photo: PhotoQuery, k: int, where: SearchFilter = SearchFilter(),
                         exclude: int | None = None, index: VectorIndex | None = None) -> list[Neighbour]:
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

    def search_text(self, text: str, k: int = 10, where: SearchFilter = SearchFilter(),
                    rerank: bool = False) -> SearchResult:
        """Products matching a description; sleeve and length words in it ("long sleeve", "midi") filter."""
        text, notes = clean_query_text(text)
        started = time.perf_counter()
        described = parse_feedback(text)
        wish = wish_for(described, described.article_type, None)
        query = self.encoder.embed_texts([text])[0]  # [D]
        result = self._search(query, rerank_depth(k, rerank), with_wish(where, wish), [*notes, *wish.notes],
                              {"encode": time.perf_counter() - started}, shown=k)
        result = self._rerank(result, lambda: RerankQuery(described, None, wish), k, rerank, wish)
        return replace(result, wish=wish)

    def search_composed(self, text: str, image: Image.Image | bytes | str | Path | None = None,
                        ref_id: int | None = None, k: int = 10, where: SearchFilter = SearchFilter(),
                        method: str | None = None, rerank: bool = False) -> SearchResult:
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
        kind = (feedback.article_type if feedback else None) or (reference.article_type if reference else None) \
            or likeliest_type(photo.type_prior if photo else {})
        wish = wish_for(feedback, kind, features)
        if reference is None and not wish.is_empty and not where.categories and photo is not None \
                and photo.type_prior.get(kind, 0.0) >= SURE_TYPE:  # "longer sleeves" on a T-shirt photo: T-shirts
            where = replace(where, categories=CUT_SIBLINGS.get(kind, (kind,)))
        if feedback is None:
            query = photo.vector
        else:
            query = self.composition(method or self.best_method())([garment], [feedback.text])[0]
        composed = time.perf_counter()
        depth = rerank_depth(k, rerank)
        # the photo's type prior applies to the photo alone: feedback may ask for another type
        result = self._search(query, min(MAX_K, depth + (reference is not None)), with_wish(where, wish),
                              [*notes, *wish.notes], {"decode": decoded - started, "compose": composed - decoded},
                              photo=photo if feedback is None else None, shown=k)
        hits = [h for h in result.hits if reference is None or h.product.id != reference.id][:depth]
        hits = [Hit(h.product, h.score, rank) for rank, h in enumerate(hits, start=1)]
        result = SearchResult(hits, result.notes, result.timings_ms, feedback)
        prior = photo.type_prior if photo is not None and not (feedback and feedback.article_type) else {}
        result = self._rerank(result, lambda: RerankQuery(feedback, features, wish, prior), k, rerank, wish)
        return replace(result, photo=photo if reference is None else None, wish=wish, reference=features)

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
        return Description(kind, float(photo.type_prior.get(kind, 0.0)) if kind else 0.0, tuple(photo.colour),
                           features.lightness, features.sleeves, features.sleeve_confidence, features.length,
                           features.length_confidence)

    def describe_product(self, product_id: int) -> Description:
        """A catalog product's type and its stored garment features (read now when it has none yet)."""
        picture, product = self._reference(None, product_id)
        features = self.reference_features(product, picture)
        colour = features.colours[0][0] if features.colours else (255, 255, 255)
        return Description(product.article_type, 1.0, tuple(colour), features.lightness, features.sleeves,
                           features.sleeve_confidence, features.length, features.length_confidence)

    def stored_features(self, ids: Sequence[int]) -> dict:
        """id -> GarmentFeatures (sleeves, length, colour) stored for those of these products that have them,
        read for these ids only (a re-ranked search reads its candidates', never the whole catalog's)."""
        from core.garment_features import GarmentFeatures

        wanted = list(dict.fromkeys(int(i) for i in ids))
        docs: dict[int, dict] = {}
        for start in range(0, len(wanted), FEATURE_BATCH):
            docs.update(self.catalog.features(wanted[start:start + FEATURE_BATCH]))
        return {i: GarmentFeatures.from_doc(doc) for i, doc in docs.items()}

    # ---- re-ranking ----------------------------------------------------------------------
    def _rerank(self, result: SearchResult, query_side, k: int, rerank: bool, wish: Wish = Wish()) -> SearchResult:
        """The first stage's top candidates re-ordered by the re-ranker (when asked for), cut to k. Every
        result carries chips for the sleeves and length asked for, read from its stored features."""
        if not rerank:
            hits = result.hits[:k]
            return SearchResult(hits, result.notes, result.timings_ms, result.feedback, self._wish_chips(hits, wish))
        started = time.perf_counter()
        try:
            table = self.stored_features([h.product.id for h in result.hits])
            query = query_side()
            order, scores = self.rerank_order(query, [h.product.id for h in result.hits],
                                              [h.score for h in result.hits], table,
                                              [h.product.article_type for h in result.hits])
        except ValueError as exc:
            hits = result.hits[:k]
            return SearchResult(hits, [*result.notes, f"Re-ranking is unavailable: {exc}"], result.timings_ms,
                                result.feedback, self._wish_chips(hits, wish, table))
        from core.rerank import explain

        hits = [Hit(result.hits[i].product, float(scores[i]), rank) for rank, i in enumerate(order[:k], start=1)]
        prototypes = self.reranker()[1]
        chips = {h.product.id: explain(query, table.get(h.product.id), prototypes) for h in hits}
        timings = {**result.timings_ms, "rerank": (time.perf_counter() - started) * 1000}
        return SearchResult(hits, result.notes, timings, result.feedback, chips, reranked=True)

    def _wish_chips(self, hits: Sequence[Hit], wish: Wish, table: dict | None = None) -> dict[int, list[Chip]]:
        if wish.is_empty:
            return {}
        from core.rerank import wish_chips

        table = self.stored_features([h.product.id for h in hits]) if table is None else table
        return {h.product.id: wish_chips(wish, table.get(h.product.id)) for h in hits}

    def rerank_order(self, query: RerankQuery, ids: Sequence[int], scores: Sequence[float], table: dict | None = None,
                     kinds: Sequence[str] | None = None):
        """Positions of the candidates best first and their re-ranked scores; ValueError without a re-ranker.
        `table`, `kinds`: the candidates' stored features and article types when the caller has them already."""
        from core.rerank import rerank_order

        model, prototypes = self.reranker()
        table = self.stored_features(ids) if table is None else table
        if kinds is None and query.type_prior:
            kinds = self.index().values_of("article_type", ids)
        return rerank_order(model, prototypes, query, [table.get(i) for i in ids], list(scores),
                            list(kinds) if kinds is not None else None)

    def rerank_query(self, text: str = "", ref_id: int | None = None, picture: Image.Image | None = None,
                     table: dict | None = None, type_prior: dict[str, float] | None = None) -> RerankQuery:
        """What the re-ranker knows of a query: the feedback / description, the reference's features and the
        sleeves and length asked for (as the searches build it; evaluation calls this)."""
        feedback = (read_feedback(text)[0] if picture is not None or ref_id is not None else parse_feedback(text)) \
            if text.strip() else None
        if ref_id is not None and (table is None or ref_id not in table):
            table = self.stored_features([ref_id])
        reference = table.get(ref_id) if ref_id is not None else None
        if reference is None and picture is not None:
            reference = self.photo_features(picture, None)
        kind = (feedback.article_type if feedback else None) or (
            self.index().values_of("article_type", [ref_id])[0] if ref_id is not None else None)
        prior = type_prior if type_prior and not (feedback and feedback.article_type) else {}
        return RerankQuery(feedback, reference, wish_for(feedback, kind or None, reference), prior)

    def reranker(self):
        """(model, colour prototypes) of the bundled re-ranker; ValueError when it is missing."""
        with self._lock:
            if self._reranker is None:
                from core.rerank import load_reranker

                model, prototypes, _ = load_reranker()
                self._reranker = (model, prototypes)
            return self._reranker

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
            except ValueError:
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

    def _search(self, query: np.ndarray, k: int, where: SearchFilter, notes: list[str],
                timings: dict[str, float], photo: PhotoQuery | None = None, shown: int | None = None) -> SearchResult:
        """The first stage's k candidates; `shown`: how many the user will see (notes speak of those)."""
        if not 1 <= int(k) <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}.")
        started = time.perf_counter()
        index, before_import = self._current_index()
        if before_import:
            notes = [*notes, "The catalog is being imported: results come from the catalog as it was before."]
        where, notes = self.attribute_filter(index, where, int(shown or k), notes)
        neighbours = (self.photo_neighbours(photo, int(k), where, index=index) if photo is not None
                      else index.search(query, int(k), where))
        searched = time.perf_counter()
        products = self.catalog.get([n.id for n in neighbours])
        hits = [Hit(p, n.score, rank) for rank, (n, p) in enumerate(
            ((n, p) for n, p in zip(neighbours, products) if p is not None), start=1)]
        if not hits:
            notes = [*notes, "No product matches these filters." if not where.is_empty else "The catalog is empty."]
        timings = {**timings, "search": searched - started, "fetch": time.perf_counter() - searched}
        return SearchResult(hits, notes, {name: seconds * 1000 for name, seconds in timings.items()})

    def attribute_filter(self, index: VectorIndex, where: SearchFilter, k: int,
                          notes: list[str]) -> tuple[SearchFilter, list[str]]:
        """`where` with its sleeve and length choices turned into the catalog ids whose stored features meet
        them. When no product of the rest of the filter meets them, they are dropped (and the user told)."""
        if not where.asks_attributes:
            return where, notes
        narrowed = replace(where, ids=self._cut_ids(where.sleeves, where.lengths))
        found = int(index.allowed_rows(narrowed).sum())
        asked = " and ".join(filter(None, ["/".join(where.sleeves) + " sleeves" if where.sleeves else "",
                                           "/".join(where.lengths) + " length" if where.lengths else ""]))
        if found == 0:
            return replace(where, sleeves=(), lengths=()), [
                *notes, f"No product here is recorded with {asked}: showing the closest ones regardless."]
        if found < k:
            notes = [*notes, f"Only {found} product{'s are' if found > 1 else ' is'} here recorded with {asked}: "
                             f"{'all of them are' if found > 1 else 'it is'} shown."]
        return narrowed, notes

    # ---- state ---------------------------------------------------------------------------
    def image_path(self, product: Product) -> Path:
        return self.settings.images_dir / (product.image or f"{product.id}.jpg")

    def status(self) -> Status:
        """The catalog and index at a glance. In step, the counts come from the index's manifest (no scan of
        the catalog); otherwise they are counted in the database once per catalog state."""
        try:
            revision = self.catalog.revision()
            state, importing = revision.state, revision.importing
            products = self.catalog.estimated_count()
            database = "ok"
        except DatabaseUnavailable as exc:
            products, state, importing, database = 0, "", False, str(exc)
        manifest = self._index.manifest if self._index is not None else None
        if manifest is None or manifest.catalog_state != state:  # another process may have rebuilt it
            saved = VectorIndex.read_manifest(self.index_path)  # the manifest only: never waits for a rebuild
            if saved is not None and saved.model_key == self.encoder.model_key and (
                    manifest is None or saved.catalog_state == state):
                manifest = saved
        current = manifest is not None and (manifest.model_key, manifest.catalog_state) == (self.encoder.model_key, state)
        embedded, categories, genders = 0, {}, {}
        if database == "ok" and current and manifest.tallies:
            embedded, categories, genders = manifest.count, manifest.tallies["sub_category"], manifest.tallies["gender"]
        elif database == "ok":
            try:
                embedded, categories, genders = self._counted(state, importing)
            except DatabaseUnavailable as exc:
                database = str(exc)
        return Status(
            database=database, database_address=self.catalog.address, products=products,
            indexed=manifest.count if manifest else 0,
            index_in_step=bool(database == "ok" and current),
            index_type=manifest.index_type if manifest else "none",
            encoder=self.encoder.model_key, embedded=embedded, categories=categories, genders=genders,
            importing=importing, backend=self.backend,
        )

    def _counted(self, state: str, importing: bool) -> tuple[int, dict[str, int], dict[str, int]]:
        """(embedded, per sub-category, per gender) counted in the database, kept for this catalog state;
        while an import changes the state batch after batch, the last counts are shown instead of recounting."""
        kept_state, counted = self._counts
        if (kept_state == state and state) or (importing and counted):
            return counted
        counted = (self.catalog.count_embedded(self.encoder.model_key), self.catalog.counts_by("sub_category"),
                   self.catalog.counts_by("gender"))
        self._counts = (state, counted)
        return counted


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
        notes.append(f"The catalog does not record {' or '.join(dict.fromkeys(feedback.unseen))} yet: kept the "
                     "product type and the rest of the request.")
    if not feedback.understood and not feedback.unseen:
        notes.append("No change StyleLens knows was recognised in the feedback (it reads colours, lighter/darker, "
                     "sleeves, length, women/men, product types, usage, season and patterns, in English): results follow the "
                     "reference and the text as the model reads it.")
    return feedback, notes


def wish_for(feedback: Feedback | None, article_type: str | None, reference) -> Wish:
    """The sleeve and length lengths `feedback` allows for results of `article_type`, read against the
    reference's features (a GarmentFeatures, or None)."""
    if feedback is None or not (feedback.sleeves or feedback.length):
        return Wish()
    return resolve_wish(feedback.sleeves, feedback.length, article_type,
                        reference.sleeves if reference is not None else None,
                        reference.length if reference is not None else None)


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
        raise QueryError("Type a description to search for, e.g. \"red floral summer dress\".")
    notes = []
    if len(text) > MAX_QUERY_CHARS:
        notes.append(f"The description was {len(text):,} characters; only the first {MAX_QUERY_CHARS} were used.")
        cut = text[:MAX_QUERY_CHARS + 1]
        text = cut.rsplit(" ", 1)[0] if " " in cut else cut[:MAX_QUERY_CHARS]  # whole words only
    return text, notes

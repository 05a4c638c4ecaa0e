"""Catalog synchronisation: the catalog, one encoder and the vector index kept in step with both.

Imports products (each photo embedded and its garment features read in one pass), gives products without a
vector from the current encoder one, keeps the index in step with the catalog's revision (updated in place from
the change log, or rebuilt), and reports the status the Home page shows. Searches live in core/engine/search.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

from core.catalog import Catalog, Product, parse_id
from core.config import Settings
from core.encoders import Encoder, load_encoder
from core.engine.results import Status
from core.errors import DatabaseUnavailable, FileLimitError, ImageError, SettingsError
from core.images import MAX_FILE_BYTES, load_image, read_file_limited
from core.index import IndexFileError, VectorIndex
from core.ingest import CatalogRow, ImportReport, Progress, content_hash, read_catalog, store_image

BACKENDS = ("faiss", "milvus")
EMBED_BATCH = 64
UPDATE_SHARE = 0.2  # an index catches up on at most this share of changed products; more: rebuilt
FEATURE_BATCH = 1000  # ids per stored-features lookup (short $in lists)


def _no_progress(done: int, total: int, message: str) -> None:
    pass


class CatalogSync:
    """The catalog, its encoder and its index, kept in step; import, embedding, garment features, status."""

    def __init__(self, settings: Settings, catalog: Catalog, encoder: Encoder):
        self.settings = settings
        self.catalog = catalog
        self.encoder = encoder
        self._index: VectorIndex | None = None
        self._counts: tuple[str, tuple] = ("", ())  # (catalog state, what status() counted in the database)
        self._attributes = None  # the garment-attribute model (False: not available), loaded on first need
        self._lock = threading.RLock()
        self.rebuilds = 0  # index refreshes by this engine, rebuilt or updated (the drills check: one per import)
        self.updates = 0  # of which updated in place of a rebuild

    @classmethod
    def open(cls, settings: Settings, encoder: Encoder | None = None):
        return cls(settings, Catalog.open(settings), encoder or load_encoder(settings.encoder_name))

    # ---- index ---------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.encoder.model_key)
        return self.settings.index_dir / (f"{safe}.npz" if self.backend == "faiss" else f"{safe}.{self.backend}.npz")

    @property
    def backend(self) -> str:
        """The vector store: "faiss" (embedded) or "milvus" (VECTOR_BACKEND)."""
        backend = self.settings.vector_backend
        if backend not in BACKENDS:
            raise SettingsError(f"VECTOR_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}.")
        return backend

    def _load_index(self) -> VectorIndex:
        if self.backend == "milvus":
            from core.milvus_index import MilvusIndex

            return MilvusIndex.load_from(self.settings.milvus_address, self.index_path)
        return VectorIndex.load(self.index_path)

    def _build_index(self, products, vectors, state: str, progress: Progress) -> VectorIndex:
        if self.backend == "milvus":
            from core.milvus_index import MilvusIndex

            return MilvusIndex.build_in(
                self.settings.milvus_address,
                products,
                vectors,
                self.encoder.model_key,
                state,
                self.settings.exact_index_limit,
                progress,
            )
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
            products = [p for p in self.catalog.get(ids[start : start + EMBED_BATCH]) if p]
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

    # ---- garment features ----------------------------------------------------------------------
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
                for product in filter(None, self.catalog.get(ids[start : start + EMBED_BATCH])):
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

    def _features_and_embeddings(
        self, images: Sequence[Image.Image], article_types: Sequence[str | None]
    ) -> tuple[list, np.ndarray | None]:
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

    def catalog_vectors_and_features(
        self, images: Sequence[Image.Image], products: Sequence[Product]
    ) -> tuple[np.ndarray, list]:
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
        from core.look.pose_model import shared_pose_model  # mediapipe is imported on first need only

        return extract(image, shared_pose_model().landmarks(image))

    def attribute_model(self):
        """The garment-attribute model (core/attributes.py), loaded once; None when it is not available."""
        if self._attributes is None:
            with self._lock:
                if self._attributes is None:
                    from core.attributes import shared_attribute_model
                    from core.errors import AttributeModelUnavailable

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

    def stored_features(self, ids: Sequence[int]) -> dict:
        """id -> GarmentFeatures (sleeves, length, colour) stored for those of these products that have them,
        read for these ids only (a re-ranked search reads its candidates', never the whole catalog's)."""
        from core.garment_features import GarmentFeatures

        wanted = list(dict.fromkeys(int(i) for i in ids))
        docs: dict[int, dict] = {}
        for start in range(0, len(wanted), FEATURE_BATCH):
            docs.update(self.catalog.features(wanted[start : start + FEATURE_BATCH]))
        return {i: GarmentFeatures.from_doc(doc) for i, doc in docs.items()}

    # ---- import --------------------------------------------------------------------------------
    def import_catalog(self, images_dir: Path, styles_csv: Path, progress: Progress = _no_progress) -> ImportReport:
        """Import (or update) products from a folder of images and a CSV, then bring the index up to date."""
        started = time.perf_counter()
        rows, skipped = read_catalog(Path(images_dir), Path(styles_csv))
        report = ImportReport(rows=len(rows) + len(skipped), skipped=list(skipped))
        with self.catalog.import_lease():  # searches meanwhile keep the index they have
            known = self.catalog.hashes()
            for start in range(0, len(rows), EMBED_BATCH):
                self._import_batch(rows[start : start + EMBED_BATCH], known, report)
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

    # ---- state ---------------------------------------------------------------------------------
    def image_path(self, product: Product) -> Path:
        return self.settings.images_dir / (product.image or f"{product.id}.jpg")

    def product(self, product_id: int) -> Product | None:
        """The catalog product with this id, None when there is none."""
        return self.catalog.get([parse_id(product_id)])[0]

    def browse(self, text: str = "", skip: int = 0, limit: int = 24, **filters) -> list[Product]:
        """Catalog products in id order whose name holds `text`, with gender / category filters (the Catalog page)."""
        return self.catalog.browse(text=text, skip=skip, limit=limit, **filters)

    def count(self, text: str = "", **filters) -> int:
        """How many products `browse` would page through (without filters: from the catalog's metadata)."""
        return self.catalog.count(text, **filters)

    def catalog_state(self) -> str:
        """A fingerprint of the catalog's contents (changes with every write): a cache key for pages."""
        return self.catalog.state()

    def catalog_vectors(self) -> tuple[list[Product], np.ndarray]:
        """Every product with its vector from this engine's encoder (the embedding map)."""
        return self.catalog.embeddings(self.encoder.model_key)

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
            if (
                saved is not None
                and saved.model_key == self.encoder.model_key
                and (manifest is None or saved.catalog_state == state)
            ):
                manifest = saved
        current = manifest is not None and (manifest.model_key, manifest.catalog_state) == (
            self.encoder.model_key,
            state,
        )
        embedded, categories, genders = 0, {}, {}
        if database == "ok" and current and manifest.tallies:
            embedded, categories, genders = manifest.count, manifest.tallies["sub_category"], manifest.tallies["gender"]
        elif database == "ok":
            try:
                embedded, categories, genders = self._counted(state, importing)
            except DatabaseUnavailable as exc:
                database = str(exc)
        return Status(
            database=database,
            database_address=self.catalog.address,
            products=products,
            indexed=manifest.count if manifest else 0,
            index_in_step=bool(database == "ok" and current),
            index_type=manifest.index_type if manifest else "none",
            encoder=self.encoder.model_key,
            embedded=embedded,
            categories=categories,
            genders=genders,
            importing=importing,
            backend=self.backend,
        )

    def _counted(self, state: str, importing: bool) -> tuple[int, dict[str, int], dict[str, int]]:
        """(embedded, per sub-category, per gender) counted in the database, kept for this catalog state;
        while an import changes the state batch after batch, the last counts are shown instead of recounting."""
        kept_state, counted = self._counts
        if (kept_state == state and state) or (importing and counted):
            return counted
        counted = (
            self.catalog.count_embedded(self.encoder.model_key),
            self.catalog.counts_by("sub_category"),
            self.catalog.counts_by("gender"),
        )
        self._counts = (state, counted)
        return counted

"""The FAISS vector index and its id map, saved and loaded together as one file.

Row r of the FAISS index holds the vector of catalog product `ids[r]`; beside the ids sit small
integer codes of each row's gender and categories, so filtered search builds a FAISS selector
with numpy instead of scanning Python lists. The file is written to a temporary name and renamed,
so a reader never sees an index without its id map, or a half-written one.
"""
from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np

from core.catalog import Product

FORMAT_VERSION = 1
# Row attributes kept for filtering, as Product attribute names.
FILTER_ATTRIBUTES = ("gender", "master_category", "sub_category", "article_type", "colour_group")
HNSW_NEIGHBOURS = 32


class IndexFileError(RuntimeError):
    """An index file that cannot be used (missing, damaged or of another format)."""


@dataclass(frozen=True)
class SearchFilter:
    """Which products a search may return. Empty tuples mean no restriction."""

    genders: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # matched against masterCategory, subCategory and articleType
    article_types: tuple[str, ...] = ()  # and, besides the above, one of these article types
    sleeves: tuple[str, ...] = ()  # stored sleeve lengths allowed (core/attributes.py): the engine turns
    lengths: tuple[str, ...] = ()  # these two into `ids` from the catalog's garment features
    ids: tuple[int, ...] | None = None  # only these catalog ids (None: no restriction)

    @classmethod
    def make(cls, gender: str | Sequence[str] | None = None, category: str | Sequence[str] | None = None,
             include_unisex: bool = True, sleeves: str | Sequence[str] | None = None,
             length: str | Sequence[str] | None = None) -> "SearchFilter":
        """A filter from user choices. Asking for one gender keeps Unisex items unless told otherwise."""
        genders = _as_tuple(gender)
        if genders and include_unisex and "Unisex" not in genders:
            genders = (*genders, "Unisex")
        return cls(genders=genders, categories=_as_tuple(category), sleeves=_as_tuple(sleeves),
                   lengths=_as_tuple(length))

    @property
    def is_empty(self) -> bool:
        return not self.genders and not self.categories and not self.article_types and self.ids is None

    @property
    def asks_attributes(self) -> bool:
        return bool(self.sleeves or self.lengths)


@dataclass(frozen=True)
class Manifest:
    model_key: str  # encoder name@version that made every vector in the index
    dim: int
    count: int
    catalog_state: str  # Catalog.state() when the index was built
    index_type: str
    built_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION
    backend: str = "faiss"  # "faiss" (this file holds the vectors) or "milvus" (core/milvus_index.py)


@dataclass(frozen=True)
class Neighbour:
    id: int
    score: float


class VectorIndex:
    def __init__(self, index: faiss.Index, ids: np.ndarray, codes: dict[str, np.ndarray],
                 vocab: dict[str, list[str]], manifest: Manifest):
        self.index = index
        self.ids = ids  # int64 [N]: catalog id of each row
        self.codes = codes  # attribute -> int32 [N] positions in vocab[attribute]
        self.vocab = vocab
        self.manifest = manifest
        self._order: np.ndarray | None = None  # row order sorting self.ids (built on first values_of)

    def __len__(self) -> int:
        return len(self.ids)

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build(cls, products: Sequence[Product], vectors: np.ndarray, model_key: str, catalog_state: str,
              exact_limit: int = 100_000) -> "VectorIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [N, D], L2-normalised
        if len(products) != len(vectors):
            raise ValueError(f"{len(products)} products but {len(vectors)} vectors")
        dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 0
        if len(products) <= exact_limit:
            index, index_type = faiss.IndexFlatIP(max(dim, 1)), "flat"
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index_type = "hnsw"
        if len(vectors):
            index.add(vectors)
        ids, codes, vocab = filter_codes(products)
        manifest = Manifest(model_key=model_key, dim=dim, count=len(ids), catalog_state=catalog_state,
                            index_type=index_type)
        return cls(index, ids, codes, vocab, manifest)

    # ---- searching -----------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int = 10, where: SearchFilter = SearchFilter()) -> list[Neighbour]:
        """The k nearest products to `query` (float32 [D] or [1, D]) among those `where` allows."""
        if len(self) == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))  # [1, D]
        if query.shape[1] != self.manifest.dim:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.manifest.dim}")
        params = None
        if not where.is_empty:
            rows = np.flatnonzero(self.allowed_rows(where)).astype(np.int64)
            if len(rows) == 0:
                return []
            k = min(k, len(rows))
            selector = faiss.IDSelectorBatch(rows)
            params = (faiss.SearchParametersHNSW(sel=selector, efSearch=max(128, 2 * k))
                      if self.manifest.index_type == "hnsw" else faiss.SearchParameters(sel=selector))
        elif self.manifest.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(128, 2 * k))
        k = min(k, len(self))
        scores, rows = self.index.search(query, k, params=params)  # [1, k] each; -1 marks no result
        return [Neighbour(int(self.ids[r]), float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0]

    def allowed_rows(self, where: SearchFilter) -> np.ndarray:
        """bool [N]: rows whose gender and category pass the filter."""
        mask = np.ones(len(self), dtype=bool)
        if where.genders:
            mask &= self._matches("gender", where.genders)
        if where.categories:
            mask &= (self._matches("master_category", where.categories)
                     | self._matches("sub_category", where.categories)
                     | self._matches("article_type", where.categories))
        if where.article_types:
            mask &= self._matches("article_type", where.article_types)
        if where.ids is not None:
            mask &= np.isin(self.ids, np.fromiter(where.ids, dtype=np.int64, count=len(where.ids)))
        return mask

    def _matches(self, attribute: str, values: Sequence[str]) -> np.ndarray:
        wanted = [i for i, v in enumerate(self.vocab[attribute]) if v in set(values)]
        return np.isin(self.codes[attribute], wanted)

    def values_of(self, attribute: str, ids: Sequence[int]) -> list[str]:
        """The stored `attribute` (one of FILTER_ATTRIBUTES) of each catalog id; "" for an id not in the index."""
        if self._order is None:
            self._order = np.argsort(self.ids, kind="stable")  # one sort, then binary searches per query
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(self.ids, wanted, sorter=self._order).clip(0, max(len(self.ids) - 1, 0))
        rows = self._order[at] if len(self.ids) else np.zeros(len(wanted), dtype=np.int64)
        found = (self.ids[rows] == wanted) if len(self.ids) else np.zeros(len(wanted), dtype=bool)
        names = self.vocab[attribute]
        return [names[self.codes[attribute][r]] if ok else "" for r, ok in zip(rows, found)]

    def is_current(self, model_key: str, catalog_state: str) -> bool:
        return self.manifest.model_key == model_key and self.manifest.catalog_state == catalog_state

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            faiss=faiss.serialize_index(self.index),
            ids=self.ids,
            manifest=np.frombuffer(json.dumps(asdict(self.manifest)).encode(), dtype=np.uint8),
            vocab=np.frombuffer(json.dumps(self.vocab).encode(), dtype=np.uint8),
            **{f"code_{a}": c for a, c in self.codes.items()},
        )
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique: two writers never share it
        try:
            temporary.write_bytes(buffer.getvalue())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        path.with_suffix(".json").write_text(json.dumps(asdict(self.manifest), indent=2))  # for people

    @staticmethod
    def read_manifest(path: Path) -> Manifest | None:
        """The manifest of the index file at `path` without loading its vectors; None if missing or damaged."""
        try:
            with np.load(path, allow_pickle=False) as data:  # an .npz reads one member at a time
                manifest = Manifest(**json.loads(data["manifest"].tobytes()))
        except Exception:  # noqa: BLE001 - zip, JSON, key and OS errors all mean "no usable index here"
            return None
        return manifest if manifest.format_version == FORMAT_VERSION else None

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        if not path.is_file():
            raise IndexFileError(f"No index file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as data:
                manifest = Manifest(**json.loads(data["manifest"].tobytes()))
                if manifest.format_version != FORMAT_VERSION:
                    raise IndexFileError(f"{path} has format {manifest.format_version}, expected {FORMAT_VERSION}.")
                index = faiss.deserialize_index(data["faiss"])
                ids = data["ids"].astype(np.int64)
                vocab = json.loads(data["vocab"].tobytes())
                codes = {a: data[f"code_{a}"].astype(np.int32) for a in FILTER_ATTRIBUTES}
        except IndexFileError:
            raise
        except Exception as exc:  # zip, JSON, FAISS and key errors all mean the same: unusable file
            raise IndexFileError(f"The index file {path} is damaged ({type(exc).__name__}: {exc}).") from exc
        if not (index.ntotal == len(ids) == manifest.count):
            raise IndexFileError(f"The index file {path} is inconsistent: {index.ntotal} vectors, {len(ids)} ids.")
        return cls(index, ids, codes, vocab, manifest)


def filter_codes(products: Sequence[Product]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, list[str]]]:
    """(ids int64 [N], attribute -> int32 codes [N], attribute -> vocabulary) of the products, row by row."""
    ids = np.array([p.id for p in products], dtype=np.int64)
    vocab, codes = {}, {}
    for attribute in FILTER_ATTRIBUTES:
        values = [getattr(p, attribute) or "" for p in products]
        vocab[attribute] = sorted(set(values))
        position = {value: i for i, value in enumerate(vocab[attribute])}
        codes[attribute] = np.array([position[v] for v in values], dtype=np.int32)
    return ids, codes, vocab


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(str(v) for v in value if str(v).strip())

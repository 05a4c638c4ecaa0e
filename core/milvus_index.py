"""The vector index in Milvus (VECTOR_BACKEND=milvus): Milvus Lite in a local file, or a Milvus server or cluster.

MongoDB stays the source of truth. The Milvus collection holds each product's vector and its filter fields;
beside it, the same id map and filter codes as the FAISS index are saved in the index file (without vectors),
so the engine's contract is the FAISS index's: catalog ids out, gender / category / id filters in, in step
with the catalog revision, rebuilt on demand. `MILVUS_URI` is a file path (Milvus Lite, `pip install
milvus-lite`) or an address such as http://milvus:19530 (a server or a cluster behind its proxy).

Each build writes a new collection (named after the encoder and the catalog state) and only then drops the
previous one, so searches never meet a half-loaded collection.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from core.catalog import Product
from core.errors import MilvusUnavailable
from core.index import (
    FILTER_ATTRIBUTES,
    FORMAT_VERSION,
    HNSW_NEIGHBOURS,
    IndexFileError,
    Manifest,
    Neighbour,
    SearchFilter,
    VectorIndex,
    filter_codes,
    tallies,
)

INSERT_BATCH = 2_000
EXPRESSION_IDS = 4_096  # most ids one filter expression carries; a longer id filter is searched otherwise
MAX_LIMIT = 16_384  # Milvus' largest top-k
_CLIENTS: dict[str, object] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(uri: str):
    """One MilvusClient per URI, shared by every engine and session thread (the client is thread-safe)."""
    with _CLIENTS_LOCK:
        if uri not in _CLIENTS:
            try:
                MilvusClient = _import_client()
            except ImportError as exc:
                raise MilvusUnavailable(
                    "VECTOR_BACKEND=milvus needs pymilvus (and milvus-lite for a local file): "
                    "pip install pymilvus milvus-lite"
                ) from exc
            try:
                _CLIENTS[uri] = MilvusClient(uri)
            except Exception as exc:  # noqa: BLE001 - connection, server and file errors all mean "unreachable"
                raise MilvusUnavailable(f"Milvus at {uri} cannot be reached: {exc}") from exc
        return _CLIENTS[uri]


def _import_client():
    """pymilvus's MilvusClient. pymilvus reads MILVUS_URI from the environment when imported and accepts only
    http(s) addresses there; StyleLens' MILVUS_URI may be a Milvus Lite file, so it is hidden during the import."""
    saved = os.environ.pop("MILVUS_URI", None)
    try:
        from pymilvus import MilvusClient
    finally:
        if saved is not None:
            os.environ["MILVUS_URI"] = saved
    return MilvusClient


def collection_name(model_key: str, catalog_state: str) -> str:
    """A Milvus-safe name (letters, digits, underscores) for one encoder's vectors of one catalog state."""
    digest = hashlib.sha256(f"{model_key}|{catalog_state}".encode()).hexdigest()[:16]
    return f"stylelens_{digest}"


def index_type_for(count: int, exact_limit: int) -> str:
    return "FLAT" if count <= exact_limit else "HNSW"


class MilvusIndex(VectorIndex):
    """VectorIndex whose vectors live in a Milvus collection; ids, filter codes and the manifest stay local."""

    def __init__(
        self,
        client,
        collection: str,
        ids: np.ndarray,
        codes: dict[str, np.ndarray],
        vocab: dict[str, list[str]],
        manifest: Manifest,
    ):
        super().__init__(None, ids, codes, vocab, manifest)
        self.client, self.collection = client, collection

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build_in(
        cls,
        uri: str,
        products: Sequence[Product],
        vectors: np.ndarray,
        model_key: str,
        catalog_state: str,
        exact_limit: int = 100_000,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> MilvusIndex:
        """Write the vectors into a new collection and return the index over it (the old one stays until
        the caller saves this index's file)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(products) != len(vectors):
            raise ValueError(f"{len(products)} products but {len(vectors)} vectors")
        dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 1
        client = client_for(uri)
        name = collection_name(model_key, catalog_state)
        kind = index_type_for(len(products), exact_limit)
        _create(client, name, dim, kind)
        for start in range(0, len(products), INSERT_BATCH):
            rows = [
                {"id": int(p.id), "vector": v.tolist(), **{a: (getattr(p, a) or "")[:255] for a in FILTER_ATTRIBUTES}}
                for p, v in zip(products[start : start + INSERT_BATCH], vectors[start : start + INSERT_BATCH])
            ]
            client.insert(collection_name=name, data=rows)
            if progress:
                progress(min(start + INSERT_BATCH, len(products)), len(products), "Loading vectors into Milvus")
        client.flush(collection_name=name) if hasattr(client, "flush") else None
        ids, codes, vocab = filter_codes(products)
        manifest = Manifest(
            model_key=model_key,
            dim=dim if len(products) else 0,
            count=len(ids),
            catalog_state=catalog_state,
            index_type=f"milvus-{kind.lower()}",
            backend="milvus",
            tallies=tallies(codes, vocab),
        )
        return cls(client, name, ids, codes, vocab, manifest)

    # ---- searching -----------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int = 10, where: SearchFilter = SearchFilter()) -> list[Neighbour]:
        if len(self) == 0 or k <= 0:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.manifest.dim:
            raise ValueError(f"query has {query.shape[0]} dimensions, the index {self.manifest.dim}")
        if where.is_empty:
            return self._query(query, min(k, len(self)), "")
        allowed = int(self.allowed_rows(where).sum())
        if allowed == 0:
            return []
        k = min(k, allowed)
        if where.ids is None or len(where.ids) <= EXPRESSION_IDS:
            return self._query(query, k, milvus_filter(where))
        return self._search_many_ids(query, k, where, allowed)

    def _search_many_ids(self, query: np.ndarray, k: int, where: SearchFilter, allowed: int) -> list[Neighbour]:
        """A filter naming more ids than one expression should carry (a sleeve or length choice over a large
        catalog): the other filters' nearest, over-fetched by the ids' share and kept when among the ids; else
        the ids in slices of EXPRESSION_IDS, their best merged."""
        others = replace(where, ids=None)
        candidates = int(self.allowed_rows(others).sum())
        wanted = set(int(i) for i in where.ids)
        limit = min(candidates, int(np.ceil(4 * k * candidates / allowed)))
        if limit <= MAX_LIMIT:
            hits = [hit for hit in self._query(query, limit, milvus_filter(others)) if hit.id in wanted]
            if len(hits) >= k or limit == candidates:
                return hits[:k]
        ids = sorted(wanted)
        slices = [
            replace(where, ids=tuple(ids[start : start + EXPRESSION_IDS]))
            for start in range(0, len(ids), EXPRESSION_IDS)
        ]
        merged = [hit for part in slices for hit in self._query(query, k, milvus_filter(part))]
        return sorted(merged, key=lambda hit: -hit.score)[:k]

    def _query(self, query: np.ndarray, limit: int, expression: str) -> list[Neighbour]:
        params = {
            "metric_type": "IP",
            "params": {"ef": max(128, 2 * limit)} if "hnsw" in self.manifest.index_type else {},
        }
        found = self.client.search(
            collection_name=self.collection,
            data=[query.tolist()],
            limit=limit,
            filter=expression,
            search_params=params,
            output_fields=["id"],
        )
        return [Neighbour(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        """The id map, filter codes and manifest (the vectors are in Milvus); then older collections of this
        encoder are dropped."""
        previous = _saved_collection(path)
        super().save(path)
        if previous and previous != self.collection and self.client.has_collection(previous):
            self.client.drop_collection(previous)

    def _write(self, handle) -> None:
        np.savez(
            handle,
            ids=self.ids,
            collection=np.frombuffer(self.collection.encode(), dtype=np.uint8),
            manifest=np.frombuffer(json.dumps(asdict(self.manifest)).encode(), dtype=np.uint8),
            vocab=np.frombuffer(json.dumps(self.vocab).encode(), dtype=np.uint8),
            **{f"code_{a}": c for a, c in self.codes.items()},
        )

    @classmethod
    def load_from(cls, uri: str, path: Path) -> MilvusIndex:
        if not path.is_file():
            raise IndexFileError(f"No index file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as data:
                manifest = Manifest(**json.loads(data["manifest"].tobytes()))
                collection = data["collection"].tobytes().decode()
                ids = data["ids"].astype(np.int64)
                vocab = json.loads(data["vocab"].tobytes())
                codes = {a: data[f"code_{a}"].astype(np.int32) for a in FILTER_ATTRIBUTES}
        except Exception as exc:  # noqa: BLE001 - zip, JSON and key errors: an unusable file
            raise IndexFileError(f"The index file {path} is damaged or not a Milvus index ({exc}).") from exc
        if manifest.format_version != FORMAT_VERSION or manifest.backend != "milvus":
            raise IndexFileError(f"{path} is not a Milvus index of this format.")
        client = client_for(uri)
        if not client.has_collection(collection):
            raise IndexFileError(f"The Milvus collection {collection} is gone: the index is rebuilt.")
        return cls(client, collection, ids, codes, vocab, manifest)


def milvus_filter(where: SearchFilter) -> str:
    """A Milvus boolean expression for the filter (values quoted as JSON strings, never spliced raw)."""
    parts = []
    if where.genders:
        parts.append(f"gender in {json.dumps(list(where.genders))}")
    if where.categories:
        values = json.dumps(list(where.categories))
        parts.append(f"(master_category in {values} or sub_category in {values} or article_type in {values})")
    if where.article_types:
        parts.append(f"article_type in {json.dumps(list(where.article_types))}")
    if where.ids is not None:
        parts.append(f"id in {json.dumps([int(i) for i in where.ids])}")
    return " and ".join(parts)


def _create(client, name: str, dim: int, kind: str) -> None:
    MilvusClient = _import_client()
    from pymilvus import DataType

    if client.has_collection(name):
        client.drop_collection(name)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    for attribute in FILTER_ATTRIBUTES:
        schema.add_field(attribute, DataType.VARCHAR, max_length=256)
    params = client.prepare_index_params()
    params.add_index(
        field_name="vector",
        index_type=kind,
        metric_type="IP",
        params={"M": HNSW_NEIGHBOURS, "efConstruction": 80} if kind == "HNSW" else {},
    )
    client.create_collection(collection_name=name, schema=schema, index_params=params)


def _saved_collection(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["collection"].tobytes().decode()
    except Exception:  # noqa: BLE001 - no previous file, or a FAISS one: nothing to drop
        return None

"""The FAISS vector index and its id map, saved and loaded together as one file.

Row r of the FAISS index holds the vector of catalog product `ids[r]`; beside the ids sit small
integer codes of each row's gender and categories, so filtered search builds a FAISS selector
with numpy instead of scanning Python lists. The file is written to a temporary name and renamed,
so a reader never sees an index without its id map, or a half-written one.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import faiss
import numpy as np

from core.catalog import Product

FORMAT_VERSION = 1
# Row attributes kept for filtering, as Product attribute names.
FILTER_ATTRIBUTES = ("gender", "master_category", "sub_category", "article_type", "colour_group")
HNSW_NEIGHBOURS = 32  # the Milvus backend's HNSW graphs (an older FAISS file may hold one too)
SUBSET_EXACT_LIMIT = 32_768  # an IVF search whose filter leaves at most this many rows scans them exactly
TARGET_RECALL = 0.97  # an IVF index probes the fewest lists that reach this recall@10 against exact search
TUNING_QUERIES = 256


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
    def make(
        cls,
        gender: str | Sequence[str] | None = None,
        category: str | Sequence[str] | None = None,
        include_unisex: bool = True,
        sleeves: str | Sequence[str] | None = None,
        length: str | Sequence[str] | None = None,
    ) -> SearchFilter:
        """A filter from user choices. Asking for one gender keeps Unisex items unless told otherwise."""
        genders = _as_tuple(gender)
        if genders and include_unisex and "Unisex" not in genders:
            genders = (*genders, "Unisex")
        return cls(
            genders=genders, categories=_as_tuple(category), sleeves=_as_tuple(sleeves), lengths=_as_tuple(length)
        )

    @property
    def is_empty(self) -> bool:
        return not self.genders and not self.categories and not self.article_types and self.ids is None

    @property
    def asks_attributes(self) -> bool:
        return bool(self.sleeves or self.lengths)

    def describe(self) -> str:
        """The restrictions in words, for messages: "the filters (Men or Unisex · Boots)"."""
        parts = [" or ".join(self.genders), " or ".join(self.categories), " or ".join(self.article_types)]
        if self.ids is not None and not (self.sleeves or self.lengths):
            parts.append(f"{len(self.ids)} chosen products")
        said = " · ".join(p for p in parts if p)
        return f"the filters ({said})" if said else "the filters"


@dataclass(frozen=True)
class Manifest:
    model_key: str  # encoder name@version that made every vector in the index
    dim: int
    count: int
    catalog_state: str  # Catalog.state() when the index was built
    index_type: str  # "flat" (exact) or "ivf" (inverted lists, `nprobe` of `lists` probed per query)
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    format_version: int = FORMAT_VERSION
    backend: str = "faiss"  # "faiss" (this file holds the vectors) or "milvus" (core/milvus_index.py)
    lists: int = 0  # IVF: inverted lists
    nprobe: int = 0  # IVF: lists probed by an unfiltered query (tuned at build time)
    tuned_recall: float = 1.0  # IVF: recall@10 against exact search measured with that nprobe
    tallies: dict[str, dict[str, int]] = field(default_factory=dict)  # products per gender and sub-category


@dataclass(frozen=True)
class Neighbour:
    id: int
    score: float


class VectorIndex:
    def __init__(
        self,
        index: faiss.Index,
        ids: np.ndarray,
        codes: dict[str, np.ndarray],
        vocab: dict[str, list[str]],
        manifest: Manifest,
        live: np.ndarray | None = None,
    ):
        self.index = index
        self.ids = ids  # int64 [N]: catalog id of each row
        # bool [N]: rows still in the catalog; None: all. An update (updated()) retires the rows of changed
        # and removed products and appends the changed ones' new rows, instead of rebuilding.
        self.live = live
        self.codes = codes  # attribute -> int32 [N] positions in vocab[attribute]
        self.vocab = vocab
        self.manifest = manifest
        self._order: tuple[np.ndarray, np.ndarray] | None = None  # live rows sorted by id, and their ids
        self._id_masks: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}  # id(ids tuple) -> (it, row mask)
        self._selections: dict[SearchFilter, tuple] = {}  # see _selection

    def __len__(self) -> int:
        return len(self.ids) if self.live is None else int(self.manifest.count)

    @property
    def catalog_ids(self) -> np.ndarray:
        """int64: the catalog ids the index holds now (its live rows' ids)."""
        return self.ids if self.live is None else self.ids[self.live]

    @property
    def retired_share(self) -> float:
        """Share of rows retired by updates (searched past, never returned)."""
        return 1.0 - len(self) / len(self.ids) if len(self.ids) else 0.0

    # ---- building ------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        products: Sequence[Product],
        vectors: np.ndarray,
        model_key: str,
        catalog_state: str,
        exact_limit: int = 100_000,
    ) -> VectorIndex:
        """Exact (flat) search up to `exact_limit` products, inverted lists (IVF, tuned) above."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # [N, D], L2-normalised
        if len(products) != len(vectors):
            raise ValueError(f"{len(products)} products but {len(vectors)} vectors")
        dim = vectors.shape[1] if vectors.ndim == 2 and len(vectors) else 0
        if len(products) <= exact_limit:
            index = faiss.IndexFlatIP(max(dim, 1))
            if len(vectors):
                index.add(vectors)
            tuning = {"index_type": "flat"}
        else:
            index, tuning = _inverted_lists(vectors)
        ids, codes, vocab = filter_codes(products)
        manifest = Manifest(
            model_key=model_key,
            dim=dim,
            count=len(ids),
            catalog_state=catalog_state,
            tallies=tallies(codes, vocab),
            **tuning,
        )
        return cls(index, ids, codes, vocab, manifest)

    # ---- searching -----------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int = 10, where: SearchFilter = SearchFilter()) -> list[Neighbour]:
        """The k nearest products to `query` (float32 [D] or [1, D]) among those `where` allows."""
        if len(self) == 0 or k <= 0:
            return []
        query = np.ascontiguousarray(np.asarray(query, dtype=np.float32).reshape(1, -1))  # [1, D]
        if query.shape[1] != self.manifest.dim:
            raise ValueError(f"query has {query.shape[1]} dimensions, the index {self.manifest.dim}")
        if where.is_empty and self.live is None:
            return self._search(query, min(k, len(self)), self._params())
        count, rows, bits = self._selection(where)
        if count == 0:
            return []
        if rows is not None:
            return self._search_rows(query[0], rows, k)  # a selective filter: exact over its rows
        selector = faiss.IDSelectorBitmap(len(self.ids), faiss.swig_ptr(bits))  # bits stay referenced meanwhile
        return self._search(query, min(k, count), self._params(selector, count / len(self.ids)))

    def _selection(self, where: SearchFilter) -> tuple[int, np.ndarray | None, np.ndarray | None]:
        """(rows allowed, those rows when an IVF index searches them exactly, else the bitmap of the allowed
        rows); kept for the last filters asked (a page's sidebar filter repeats from query to query), so a
        million-row mask is not rebuilt per search."""
        key = where if where.ids is None else None  # long id lists are kept by _rows_of instead
        kept = self._selections.get(key) if key is not None else None
        if kept is not None:
            return kept
        allowed = self.allowed_rows(where)
        count = int(allowed.sum())
        if self.manifest.index_type == "ivf" and count <= SUBSET_EXACT_LIMIT:
            selection = (count, np.flatnonzero(allowed), None)
        else:
            selection = (count, None, np.packbits(allowed, bitorder="little"))
        if key is not None:
            _forget_oldest(self._selections, 64)
            self._selections[key] = selection
        return selection

    def _search(self, query: np.ndarray, k: int, params) -> list[Neighbour]:
        scores, rows = self.index.search(query, k, params=params)  # [1, k] each; -1 marks no result
        return [Neighbour(int(self.ids[r]), float(s)) for s, r in zip(scores[0], rows[0]) if r >= 0]

    def _params(self, selector=None, share: float = 1.0):
        """FAISS search parameters: the filter's selector and, for IVF, lists probed in proportion to how
        few rows the filter keeps (so a filtered query still meets about as many allowed vectors)."""
        kind = self.manifest.index_type
        if kind == "ivf":
            nprobe = min(self.manifest.lists, int(np.ceil(self.manifest.nprobe / max(share, 1e-9))))
            return (
                faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
                if selector is not None
                else faiss.SearchParametersIVF(nprobe=nprobe)
            )
        if kind == "hnsw":
            return (
                faiss.SearchParametersHNSW(sel=selector, efSearch=128)
                if selector is not None
                else faiss.SearchParametersHNSW(efSearch=128)
            )
        return faiss.SearchParameters(sel=selector) if selector is not None else None

    def _search_rows(self, query: np.ndarray, rows: np.ndarray, k: int) -> list[Neighbour]:
        """Exact top k among the given rows (vectors read back through the IVF's direct map)."""
        scores = self.index.reconstruct_batch(rows.astype(np.int64)) @ query  # [len(rows)]
        k = min(k, len(rows))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Neighbour(int(self.ids[rows[t]]), float(scores[t])) for t in top]

    def allowed_rows(self, where: SearchFilter) -> np.ndarray:
        """bool [N]: live rows whose gender and category pass the filter."""
        mask = np.ones(len(self.ids), dtype=bool) if self.live is None else self.live.copy()
        if where.genders:
            mask &= self._matches("gender", where.genders)
        if where.categories:
            mask &= (
                self._matches("master_category", where.categories)
                | self._matches("sub_category", where.categories)
                | self._matches("article_type", where.categories)
            )
        if where.article_types:
            mask &= self._matches("article_type", where.article_types)
        if where.ids is not None:
            mask &= self._rows_of(where.ids)
        return mask

    def _rows_of(self, ids: tuple[int, ...]) -> np.ndarray:
        """bool [N]: rows holding these ids. The engine hands the same tuple for the same sleeve/length
        choice, so the mask of a long one (hundreds of thousands of ids) is computed once, not per query."""
        kept = self._id_masks.get(id(ids))
        if kept is not None and kept[0] is ids:
            return kept[1]
        mask = np.isin(self.ids, np.fromiter(ids, dtype=np.int64, count=len(ids)))
        if len(ids) > 1000:
            _forget_oldest(self._id_masks, 32)
            self._id_masks[id(ids)] = (ids, mask)
        return mask

    def _matches(self, attribute: str, values: Sequence[str]) -> np.ndarray:
        wanted = np.isin(np.array(self.vocab[attribute], dtype=object), list(values))  # per vocabulary entry
        return wanted[self.codes[attribute]]  # one gather per row: a million rows in about a millisecond

    def values_of(self, attribute: str, ids: Sequence[int]) -> list[str]:
        """The stored `attribute` (one of FILTER_ATTRIBUTES) of each catalog id; "" for an id not in the index."""
        if self._order is None:  # one sort of the live rows, then binary searches per query
            live = np.arange(len(self.ids)) if self.live is None else np.flatnonzero(self.live)
            order = live[np.argsort(self.ids[live], kind="stable")]
            self._order = (order, self.ids[order])
        order, sorted_ids = self._order
        wanted = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(sorted_ids, wanted).clip(0, max(len(order) - 1, 0))
        rows = order[at] if len(order) else np.zeros(len(wanted), dtype=np.int64)
        found = (self.ids[rows] == wanted) if len(order) else np.zeros(len(wanted), dtype=bool)
        names = self.vocab[attribute]
        return [names[self.codes[attribute][r]] if ok else "" for r, ok in zip(rows, found)]

    def updated(
        self, changed: set[int], products: Sequence[Product], vectors: np.ndarray, catalog_state: str
    ) -> VectorIndex:
        """A new index: this one with the rows of the `changed` ids retired and `products` (their current
        versions, if still in the catalog) appended. This one is left as it is, for searches under way."""
        vectors = (
            np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(products), -1)
            if len(products)
            else np.zeros((0, self.manifest.dim), dtype=np.float32)
        )
        if vectors.shape[1] != self.manifest.dim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions, the index {self.manifest.dim}")
        if not changed and not len(products):  # nothing to change: the same vectors under the new state
            return type(self)(
                self.index,
                self.ids,
                self.codes,
                self.vocab,
                replace(self.manifest, catalog_state=catalog_state),
                self.live,
            )
        live = np.ones(len(self.ids), dtype=bool) if self.live is None else self.live.copy()
        live &= ~np.isin(self.ids, np.fromiter(changed, dtype=np.int64, count=len(changed)))
        index = faiss.clone_index(self.index)  # a copy: searches under way keep the one they have
        if len(products):
            index.add(vectors)
        new_ids, new_codes, vocab = filter_codes(products, known=self.vocab)
        codes = {a: np.concatenate([self.codes[a], new_codes[a]]) for a in FILTER_ATTRIBUTES}
        ids = np.concatenate([self.ids, new_ids])
        live = np.concatenate([live, np.ones(len(products), dtype=bool)])
        manifest = replace(
            self.manifest,
            count=int(live.sum()),
            catalog_state=catalog_state,
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            tallies=tallies({a: c[live] for a, c in codes.items()}, vocab),
        )
        return type(self)(index, ids, codes, vocab, manifest, live)

    def is_current(self, model_key: str, catalog_state: str) -> bool:
        return self.manifest.model_key == model_key and self.manifest.catalog_state == catalog_state

    # ---- persistence ---------------------------------------------------------------------
    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")  # unique: two writers never share it
        try:
            with open(temporary, "wb") as handle:  # written to the file as it goes (no buffer of the whole file)
                self._write(handle)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        path.with_suffix(".json").write_text(json.dumps(asdict(self.manifest), indent=2))  # for people

    def _write(self, handle) -> None:
        np.savez(
            handle,
            faiss=faiss.serialize_index(self.index),
            ids=self.ids,
            manifest=np.frombuffer(json.dumps(asdict(self.manifest)).encode(), dtype=np.uint8),
            vocab=np.frombuffer(json.dumps(self.vocab).encode(), dtype=np.uint8),
            **{f"code_{a}": c for a, c in self.codes.items()},
            **({"live": self.live} if self.live is not None else {}),
        )

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
    def load(cls, path: Path) -> VectorIndex:
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
                live = data["live"].astype(bool) if "live" in data.files else None
        except IndexFileError:
            raise
        except Exception as exc:  # zip, JSON, FAISS and key errors all mean the same: unusable file
            raise IndexFileError(f"The index file {path} is damaged ({type(exc).__name__}: {exc}).") from exc
        live_rows = len(ids) if live is None else int(live.sum())
        if not (index.ntotal == len(ids) and live_rows == manifest.count and (live is None or len(live) == len(ids))):
            raise IndexFileError(f"The index file {path} is inconsistent: {index.ntotal} vectors, {len(ids)} ids.")
        return cls(index, ids, codes, vocab, manifest, live)


def _forget_oldest(cache: dict, keep: int) -> None:
    """Drop the oldest entries of a small cache shared between threads (another may change it meanwhile)."""
    while len(cache) >= keep:
        try:
            cache.pop(next(iter(list(cache))), None)
        except (StopIteration, RuntimeError):
            return


def _inverted_lists(vectors: np.ndarray) -> tuple[faiss.Index, dict]:
    """An IVF index over `vectors` with about 4·sqrt(N) lists, trained on a sample, and the fewest probes
    that reach TARGET_RECALL@10 against exact search on perturbed catalog vectors."""
    count, dim = vectors.shape
    lists = int(max(1, min(65_536, 4 * np.sqrt(count), count / 39)))  # >= 39 training points per list
    rng = np.random.default_rng(0)
    sample = vectors[np.sort(rng.choice(count, min(count, 40 * lists), replace=False))]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    index.add(vectors)
    index.make_direct_map()  # rows read back for exact search under selective filters
    nprobe, recall = _tune_probes(index, vectors, rng)
    return index, {"index_type": "ivf", "lists": lists, "nprobe": nprobe, "tuned_recall": round(recall, 4)}


def _tune_probes(index: faiss.IndexIVF, vectors: np.ndarray, rng: np.random.Generator) -> tuple[int, float]:
    queries = vectors[rng.choice(len(vectors), min(len(vectors), TUNING_QUERIES), replace=False)]
    queries = queries + rng.normal(scale=0.6 / np.sqrt(vectors.shape[1]), size=queries.shape).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)  # near the catalog, but not on a product
    truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)[1]  # exact, without a copy
    nprobe, recall = 1, 0.0
    while nprobe < index.nlist:
        found = index.search(queries, 10, params=faiss.SearchParametersIVF(nprobe=nprobe))[1]
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
        if recall >= TARGET_RECALL:
            return nprobe, recall
        nprobe *= 2
    return index.nlist, 1.0


def filter_codes(
    products: Sequence[Product], known: dict[str, list[str]] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, list[str]]]:
    """(ids int64 [N], attribute -> int32 codes [N], attribute -> vocabulary) of the products, row by row.
    `known`: an index's vocabulary to extend (new values appended, so its codes keep their meaning)."""
    ids = np.array([p.id for p in products], dtype=np.int64)
    vocab, codes = {}, {}
    for attribute in FILTER_ATTRIBUTES:
        values = [getattr(p, attribute) or "" for p in products]
        before = list((known or {}).get(attribute, []))
        vocab[attribute] = before + sorted(set(values) - set(before))
        position = {value: i for i, value in enumerate(vocab[attribute])}
        codes[attribute] = np.array([position[v] for v in values], dtype=np.int32)
    return ids, codes, vocab


def tallies(codes: dict[str, np.ndarray], vocab: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """How many rows have each gender and sub-category (what Home and `status` show, read without a scan)."""
    counted = {}
    for attribute in ("gender", "sub_category"):
        numbers = np.bincount(codes[attribute], minlength=len(vocab[attribute]))
        counted[attribute] = dict(sorted((name or "?", int(n)) for name, n in zip(vocab[attribute], numbers) if n))
    return counted


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(str(v) for v in value if str(v).strip())

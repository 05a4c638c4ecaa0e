"""The product catalog in MongoDB: the source of truth for products, their images and embeddings.

Documents use the catalog id as `_id`. Embeddings are stored as float32 bytes under the key of
the model that made them (`embeddings.<model key>`), so an index can always be rebuilt from the
database alone, vectors of two models never mix, and switching back to an encoder is free.
A changed product loses the vectors of every model but the one that re-embedded it.
`Catalog.get(ids)` answers in the order asked; that is the contract the FAISS index relies on.

Every write is framed by two bumps of the catalog's revision (before and after), so neither a crash
half-way nor an index built from a half-written catalog can pass for "in step". An import holds a lease
while it runs: searches meanwhile keep the index they have instead of rebuilding it for every batch.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
import pymongo
from bson.binary import Binary
from pymongo import ASCENDING, MongoClient, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from pymongo.uri_parser import parse_uri

from core.config import Settings
from core.dbserver import ServerStartError, local_server_uri
from core.errors import DatabaseUnavailable, InvalidId, QueryError

# A stopped or stalled server fails a call within ~5 s instead of hanging a page: `timeoutMS` bounds each
# operation whole (finding the server, connecting, the driver's one retry). A URI that sets its own timeouts
# keeps them (e.g. ?timeoutMS=60000 for a far-away cluster doing big imports).
DB_TIMEOUT_MS = 2500  # to find the server and connect
OPERATION_TIMEOUT_MS = 4500  # one operation, retries included
LOCAL_CONNECT_TIMEOUT_MS = 1000  # the embedded server, on this machine
LOG_CHUNK = 10_000  # ids per change-log entry (a document stays far below MongoDB's 16 MB)
LONG_READ_S = 900.0  # a whole-catalog scan (index rebuild, cut table) may take this long on a big catalog
IMPORT_LEASE_S = 30.0  # an import renews its lease every batch (seconds apart); a crashed import's lapses
MAX_ID = 2**63 - 1  # catalog ids are MongoDB 64-bit integers
# Server error codes that mean "the database will not let us", with what the user should check.
REFUSALS = {
    13: "the database user is not allowed to do this (a read-only user cannot import or change the catalog)",
    18: "authentication failed: check the user name and password in MONGO_URI",
    8000: "authentication failed: check the user name and password in MONGO_URI",
    11600: "the database server is shutting down",
    262: "the database server did not answer in time",
    91: "the database server is shutting down",
    14031: "the database server's disk is full",
}


def parse_id(value) -> int:
    """A catalog id from user input (CSV cell, JSON value, form field): ASCII digits or an integral number,
    0 <= id <= 2^63-1. `int()` alone accepts "²" only to fail later, and 1e400 or 2^64 break the database."""
    if isinstance(value, bool):
        raise InvalidId(f"{value!r} is not a catalog id")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,19}\s*", value):
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidId(f"{str(value)[:30]!r} is not a catalog id (a whole number from 0 to {MAX_ID})")
    return value


@dataclass(frozen=True)
class Revision:
    """What a search needs to know of the catalog's state, read in one lookup."""

    state: str  # changes whenever a product or its vector is added, changed or removed
    features: str  # changes also when garment features are written
    importing: bool  # an import holds an unexpired lease
    writing_features: bool = False  # an import or a feature update holds one


@dataclass(frozen=True)
class Product:
    id: int
    name: str
    gender: str
    master_category: str
    sub_category: str
    article_type: str
    base_colour: str
    colour_group: str = ""
    season: str = ""
    usage: str = ""
    image: str = ""  # file name under the images folder
    content_hash: str = ""  # hash of the row and image bytes: unchanged hash, nothing to re-import

    @property
    def caption(self) -> str:
        """A sentence describing the product, used to embed it for text search."""
        parts = [
            self.name,
            self.gender,
            self.article_type,
            self.sub_category,
            self.base_colour,
            self.colour_group,
            self.usage,
            self.season,
        ]
        return ", ".join(p for p in dict.fromkeys(parts) if p)

    def to_doc(self) -> dict:
        doc = asdict(self)
        doc["_id"] = doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, doc: dict) -> Product:
        fields = {k: doc.get(k, "") for k in cls.__dataclass_fields__ if k != "id"}
        return cls(id=int(doc["_id"]), **{k: (v if v is not None else "") for k, v in fields.items()})


@dataclass(frozen=True)
class CutTable:
    """Every product's stored sleeve length and garment length, compactly (for first-stage filters)."""

    ids: np.ndarray  # int64 [N]
    sleeves: np.ndarray  # str [N], "" where not recorded
    lengths: np.ndarray  # str [N]

    def ids_with(self, sleeves: Iterable[str] = (), lengths: Iterable[str] = ()) -> tuple[int, ...]:
        """Ids whose sleeves are among `sleeves` and length among `lengths` (an empty choice: any)."""
        keep = np.ones(len(self.ids), dtype=bool)
        if sleeves := list(sleeves):
            keep &= np.isin(self.sleeves, sleeves)
        if lengths := list(lengths):
            keep &= np.isin(self.lengths, lengths)
        return tuple(self.ids[keep].tolist())


# Fields a user may filter the catalog by; anything else is refused before it reaches MongoDB.
FILTER_FIELDS = ("gender", "master_category", "sub_category", "article_type", "colour_group", "sleeves", "length")
FIELD_PATHS = {"sleeves": "features.sleeves", "length": "features.length"}  # stored garment features (attributes)


def _db_errors(method):
    """Turn driver connection errors into DatabaseUnavailable with a readable message.

    With the embedded server, a lost connection first restarts the server (same port) and retries once.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (ServerSelectionTimeoutError, ConnectionFailure) as exc:
            if self.restart_server is not None:
                try:
                    self._reconnect()
                    return method(self, *args, **kwargs)
                except (ServerStartError, ServerSelectionTimeoutError, ConnectionFailure):
                    pass
            if "authentication failed" in str(exc).lower():  # pymongo reports a wrong password as unreachable
                raise DatabaseUnavailable(f"The catalog database at {self.address} refused: {REFUSALS[18]}.") from exc
            raise DatabaseUnavailable(
                f"The catalog database at {self.address} is not reachable. "
                "Check that it is running (with MONGO_URI unset, the app starts its own). "
                f"Detail: {_redact(str(exc).splitlines()[0][:200])}"
            ) from exc
        except ExecutionTimeout as exc:  # timeoutMS ran out on the server's side
            raise DatabaseUnavailable(
                f"The catalog database at {self.address} did not answer in time "
                f"({OPERATION_TIMEOUT_MS / 1000:.1f} s); try again in a moment."
            ) from exc
        except OperationFailure as exc:
            reason = refusal(exc)
            if reason is None:
                raise  # a query StyleLens got wrong: a bug, not the database's fault
            raise DatabaseUnavailable(f"The catalog database at {self.address} refused: {reason}.") from exc

    return wrapper


def refusal(exc: OperationFailure) -> str | None:
    """Why the server refused, for the errors that are about the database and not about the query."""
    codes = [exc.code]
    if isinstance(exc, BulkWriteError):
        codes += [error.get("code") for error in (exc.details or {}).get("writeErrors", [])]
    for code in codes:
        if code in REFUSALS:
            return REFUSALS[code]
    text = str(exc).lower()
    if "no space left" in text or "disk full" in text:
        return REFUSALS[14031]
    return None


class Catalog:
    """Products in one MongoDB collection."""

    def __init__(
        self, collection: Collection, address: str, uri: str = "", restart_server: Callable[[], str] | None = None
    ):
        self.collection = collection
        self.address = address
        self.uri = uri
        self.restart_server = restart_server  # embedded server only: (re)starts it, returns its URI

    @classmethod
    def open(cls, settings: Settings) -> Catalog:
        """Connect to MONGO_URI, or to the embedded server under the data folder (started if needed)."""
        restart = None
        if settings.mongo_uri:
            uri, address = settings.mongo_uri, _redact(settings.mongo_uri)
        else:
            restart = functools.partial(local_server_uri, settings.data_dir)
            try:
                uri = local_server_uri(settings.data_dir)
            except ServerStartError as exc:
                raise DatabaseUnavailable(str(exc)) from exc
            address = f"embedded server ({settings.data_dir / 'db'})"
        catalog = cls(
            _collection(uri, settings.db_name, settings.collection_name, local=restart is not None),
            address,
            uri,
            restart,
        )
        try:
            catalog.ensure_indexes()
        except DatabaseUnavailable as exc:
            if getattr(exc.__cause__, "code", None) != 13:  # 13: not allowed, i.e. a read-only user
                raise
            # A read-only user may still search: the indexes are an optimisation, writes say why they fail.
        return catalog

    def _reconnect(self) -> None:
        uri = self.restart_server()
        if uri != self.uri:  # the restarted server listens elsewhere: connect there
            old = self.collection
            self.collection, self.uri = _collection(uri, old.database.name, old.name, local=True), uri
            old.database.client.close()

    @_db_errors
    def ensure_indexes(self) -> None:
        for field in FILTER_FIELDS:
            self.collection.create_index([(field, ASCENDING)])
        self._changes.create_index([("catalog", ASCENDING), ("epoch", ASCENDING), ("opened", ASCENDING)])
        self._changes.create_index([("write", ASCENDING)])

    # ---- reading -------------------------------------------------------------------------
    @_db_errors
    def count(self, text: str = "", **filters) -> int:
        """Products matching a name and filters; all of them from the collection's metadata (no scan)."""
        query = _query(filters, text)
        return self.collection.estimated_document_count() if not query else self.collection.count_documents(query)

    @_db_errors
    def estimated_count(self) -> int:
        """How many products there are, from the collection's metadata (no scan)."""
        return self.collection.estimated_document_count()

    @_db_errors
    def get(self, ids: Iterable[int]) -> list[Product | None]:
        """Products for `ids`, in the order asked; None where an id is unknown (or could not be one)."""
        ids = [int(i) for i in ids]
        valid = [i for i in ids if 0 <= i <= MAX_ID]
        found = {doc["_id"]: doc for doc in self.collection.find({"_id": {"$in": valid}}, {"embeddings": 0})}
        return [Product.from_doc(found[i]) if i in found else None for i in ids]

    @_db_errors
    def hashes(self) -> dict[int, str]:
        """content_hash of every product, to tell new and changed rows at import."""
        with pymongo.timeout(LONG_READ_S):
            return {doc["_id"]: doc.get("content_hash", "") for doc in self.collection.find({}, {"content_hash": 1})}

    @_db_errors
    def browse(self, text: str = "", skip: int = 0, limit: int = 24, **filters) -> list[Product]:
        cursor = (
            self.collection.find(_query(filters, text), {"embeddings": 0})
            .sort("_id", ASCENDING)
            .skip(max(0, skip))
            .limit(limit)
        )
        return [Product.from_doc(doc) for doc in cursor]

    @_db_errors
    def counts_by(self, field: str, **filters) -> dict[str, int]:
        if field not in FILTER_FIELDS:
            raise QueryError(f"Unknown field {field!r}; choose from {', '.join(FILTER_FIELDS)}.")
        pipeline = [
            {"$match": _query(filters)},
            {"$group": {"_id": f"${FIELD_PATHS.get(field, field)}", "n": {"$sum": 1}}},
        ]
        rows = self.collection.aggregate(pipeline)  # the usual timeout: status and pages call it
        return dict(sorted(((row["_id"] or "?"), row["n"]) for row in rows))

    def state(self) -> str:
        """A fingerprint of the catalog's contents: changes whenever a product is added, changed or removed."""
        return self.revision().state

    @_db_errors
    def revision(self) -> Revision:
        """The catalog's revision counters and whether an import is under way.

        They are kept in a small side collection and bumped by every write, so reading them costs one
        lookup by key whatever the catalog's size (it runs before each search)."""
        doc = self._revisions.find_one({"_id": self.collection.name}) or {}
        state = f"rev-{doc.get('revision', 0)}-{doc.get('epoch', '')}"
        now = time.time()
        held = [
            key for key, until in (doc.get("imports") or {}).items() if isinstance(until, (int, float)) and until > now
        ]
        return Revision(
            state, f"{state}-f{doc.get('features', 0)}", any(key.startswith("import-") for key in held), bool(held)
        )

    @property
    def _revisions(self) -> Collection:
        return self.collection.database["stylelens_revisions"]

    @_db_errors
    def _update_revisions(self, update: dict) -> None:
        # The epoch tells apart two catalogs that happen to share a revision number (e.g. a dropped
        # and re-created collection), so an index of the old one is never taken for the new one.
        self._revisions.update_one(
            {"_id": self.collection.name}, {**update, "$setOnInsert": {"epoch": uuid.uuid4().hex[:8]}}, upsert=True
        )

    def _bump_revision(self, counter: str = "revision") -> None:
        self._update_revisions({"$inc": {counter: 1}})

    @property
    def _changes(self) -> Collection:
        return self.collection.database["stylelens_changes"]

    @contextmanager
    def _changing(self, counter: str = "revision", ids: Iterable[int] | None = None):
        """Around a write: bumped before, so a crash half-way leaves the catalog "changed" (no index built
        before it passes for current), and after, so an index built from a half-written catalog does not.
        A product write also logs the ids it touches (before writing), so an index can catch up on them
        alone (changes_since) instead of being rebuilt."""
        if counter != "revision":
            self._bump_revision(counter)
            yield
            self._bump_revision(counter)
            return
        opened, write = self._bumped(), uuid.uuid4().hex
        ids = [int(i) for i in ids or ()]
        self._changes.insert_many(
            [
                {
                    "catalog": self.collection.name,
                    "epoch": opened["epoch"],
                    "write": write,
                    "opened": opened["revision"],
                    "closed": None,
                    "ids": ids[start : start + LOG_CHUNK],
                }
                for start in range(0, max(len(ids), 1), LOG_CHUNK)
            ]
        )
        yield
        closed = self._bumped()
        self._changes.update_many({"write": write}, {"$set": {"closed": closed["revision"]}})

    def _bumped(self) -> dict:
        """The revisions document after one more product write counted."""
        return self._revisions.find_one_and_update(
            {"_id": self.collection.name},
            {"$inc": {"revision": 1}, "$setOnInsert": {"epoch": uuid.uuid4().hex[:8]}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )

    @_db_errors
    def changes_since(self, then: str, now: str, limit: int | None = None) -> set[int] | None:
        """Ids of every product write whose span (first bump .. second bump) overlaps (then, now]: those
        finished in between, those under way at either state and those that crashed half-way (never closed),
        all re-read by whoever catches up. None when the log cannot tell (another catalog: its epoch) or when
        more than `limit` ids changed (a rebuild is cheaper)."""
        before, after = _parse_state(then), _parse_state(now)
        if before is None or after is None or before[1] != after[1] or after[0] < before[0]:
            return None
        overlapping = {
            "catalog": self.collection.name,
            "epoch": after[1],
            "opened": {"$lte": after[0]},
            "$or": [{"closed": None}, {"closed": {"$gt": before[0]}}],
        }
        changed: set[int] = set()
        with pymongo.timeout(LONG_READ_S):
            for entry in self._changes.find(overlapping, {"ids": 1}).batch_size(100):
                changed.update(int(i) for i in entry["ids"])
                if limit is not None and len(changed) > limit:
                    return None
        return changed

    def import_lease(self, kind: str = "import") -> Lease:
        """A lease held while an import ("import") or a feature update ("features") runs; see Lease."""
        return Lease(self, kind)

    @_db_errors
    def count_embedded(self, model: str) -> int:
        return self.collection.count_documents({_vector_field(model): {"$exists": True}})

    @_db_errors
    def embeddings(self, model: str, missing: list[int] | None = None) -> tuple[list[Product], np.ndarray]:
        """Products embedded by `model` with their vectors (float32 [n, D]), in id order. `missing`: a list
        that receives the ids of products without one, read in the same scan (an index rebuild embeds them).

        Read whole rather than yielded in batches, so a connection lost half-way raises
        DatabaseUnavailable like every other call instead of escaping as a driver error.
        """
        field = _vector_field(model)
        with pymongo.timeout(LONG_READ_S):
            query = {} if missing is not None else {field: {"$exists": True}}
            cursor = self.collection.find(query, {field: 1, **_PRODUCT_FIELDS})
            return _with_vectors(cursor.sort("_id", ASCENDING).batch_size(2000), model, missing)

    @_db_errors
    def embeddings_of(self, ids: Iterable[int], model: str) -> tuple[list[Product], np.ndarray]:
        """embeddings() of just these products (those with a vector from `model`), in id order."""
        field = _vector_field(model)
        wanted = sorted({int(i) for i in ids})
        docs = [
            doc
            for start in range(0, len(wanted), 1000)
            for doc in self.collection.find(
                {"_id": {"$in": wanted[start : start + 1000]}, field: {"$exists": True}}, {field: 1, **_PRODUCT_FIELDS}
            ).sort("_id", ASCENDING)
        ]
        return _with_vectors(docs, model)

    # ---- writing -------------------------------------------------------------------------
    @_db_errors
    def upsert(
        self,
        products: list[Product],
        vectors: np.ndarray | None = None,
        model: str = "",
        features: list[dict] | None = None,
    ) -> None:
        """Insert or replace products (each write is one document, so none is ever half-written), with their
        vectors and garment features when given."""
        now = datetime.now(UTC)
        operations = []
        for row, product in enumerate(products):
            doc = product.to_doc()
            doc["updated_at"] = now
            # Replacing the whole sub-document drops other models' vectors of the old version.
            doc["embeddings"] = {_model_slot(model): _vector_bytes(vectors[row])} if vectors is not None else {}
            if features is not None:
                doc["features"] = features[row]
                operations.append(UpdateOne({"_id": product.id}, {"$set": doc}, upsert=True))
            else:  # a new version of a product drops the features read from its old photo (recomputed later)
                operations.append(
                    UpdateOne({"_id": product.id}, {"$set": doc, "$unset": {"features": ""}}, upsert=True)
                )
        if operations:
            with self._changing(ids=[p.id for p in products]):
                self.collection.bulk_write(operations, ordered=False)

    @_db_errors
    def insert_new(
        self, products: list[Product], vectors: np.ndarray, model: str, features: list[dict | None] | None = None
    ) -> None:
        """Bulk-load products known to be new (an id already there stops the load there; nothing is replaced),
        each with its vector and, optionally, stored garment features: one document per product."""
        now = datetime.now(UTC)
        docs = []
        for row, product in enumerate(products):
            doc = {
                **product.to_doc(),
                "updated_at": now,
                "embeddings": {_model_slot(model): _vector_bytes(vectors[row])},
            }
            if features is not None and features[row] is not None:
                doc["features"] = features[row]
            docs.append(doc)
        if docs:
            with self._changing(ids=[p.id for p in products]):
                self.collection.insert_many(docs, ordered=True)

    @_db_errors
    def set_embeddings(self, ids: list[int], vectors: np.ndarray, model: str) -> None:
        operations = [
            UpdateOne({"_id": int(i)}, {"$set": {_vector_field(model): _vector_bytes(v)}}) for i, v in zip(ids, vectors)
        ]
        if operations:
            self.collection.bulk_write(operations, ordered=False)

    # ---- garment features (re-ranking) ---------------------------------------------------------
    @_db_errors
    def ids_without_features(self, version: int | str) -> list[int]:
        """Products whose stored features are missing or from another extractor version."""
        with pymongo.timeout(LONG_READ_S):
            cursor = self.collection.find({"features.version": {"$ne": version}}, {"_id": 1})
            return [doc["_id"] for doc in cursor]

    @_db_errors
    def set_features(self, features: dict[int, dict]) -> None:
        """Store feature documents by product id (one update per product)."""
        operations = [UpdateOne({"_id": int(i)}, {"$set": {"features": doc}}) for i, doc in features.items()]
        if operations:
            with self._changing("features"):
                self.collection.bulk_write(operations, ordered=False)

    @_db_errors
    def all_features(self) -> dict[int, dict]:
        """Stored feature documents of every product that has them (training reads them all; searches never)."""
        with pymongo.timeout(LONG_READ_S):
            cursor = self.collection.find({"features": {"$exists": True}}, {"features": 1})
            return {doc["_id"]: doc["features"] for doc in cursor.batch_size(2000)}

    @_db_errors
    def cut_table(self) -> CutTable:
        """Sleeves and length of every product with stored features (one projected scan, no long $in list)."""
        ids, sleeves, lengths = [], [], []
        with pymongo.timeout(LONG_READ_S):
            cursor = self.collection.find(
                {"features": {"$exists": True}}, {"features.sleeves": 1, "features.length": 1}
            )
            for doc in cursor.batch_size(5000):
                ids.append(doc["_id"])
                sleeves.append(doc["features"].get("sleeves") or "")
                lengths.append(doc["features"].get("length") or "")
        return CutTable(np.array(ids, dtype=np.int64), np.array(sleeves, dtype=str), np.array(lengths, dtype=str))

    @_db_errors
    def features(self, ids: Iterable[int]) -> dict[int, dict]:
        """Stored feature documents of the products that have them."""
        cursor = self.collection.find(
            {"_id": {"$in": [int(i) for i in ids]}, "features": {"$exists": True}}, {"features": 1}
        )
        return {doc["_id"]: doc["features"] for doc in cursor}

    @_db_errors
    def delete(self, ids: list[int]) -> int:
        valid = [int(i) for i in ids if 0 <= int(i) <= MAX_ID]
        with self._changing(ids=valid):
            return self.collection.delete_many({"_id": {"$in": valid}}).deleted_count


class Lease:
    """Held while an import or a feature update runs; a heartbeat thread renews it every few seconds, so a
    slow batch never lets it lapse, while a crashed process's lease lapses IMPORT_LEASE_S later. Searches
    meanwhile keep the index and feature table they have (see Revision)."""

    def __init__(self, catalog: Catalog, kind: str = "import"):
        self.catalog, self.key = catalog, f"imports.{kind}-{uuid.uuid4().hex}"
        self._stop = threading.Event()

    def __enter__(self) -> Lease:
        self._renew()
        threading.Thread(target=self._beat, daemon=True, name="import-lease").start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        try:
            self.catalog._update_revisions({"$unset": {self.key: ""}})
        except DatabaseUnavailable:
            pass  # the database went away: the lease lapses by itself

    def _renew(self) -> None:
        self.catalog._update_revisions({"$set": {self.key: time.time() + IMPORT_LEASE_S}})

    def _beat(self) -> None:
        while not self._stop.wait(IMPORT_LEASE_S / 4):
            try:
                self._renew()
            except DatabaseUnavailable:
                pass  # renewed at the next beat, or lapses if the database stays away


def _with_vectors(
    docs: Iterable[dict], model: str, missing: list[int] | None = None
) -> tuple[list[Product], np.ndarray]:
    """(products, float32 [n, D] vectors of `model`) from product documents; the ids of those without a
    vector go to `missing`."""
    slot = _model_slot(model)
    products, vectors = [], []
    for doc in docs:
        vector = doc.get("embeddings", {}).get(slot)
        if vector is None:
            if missing is not None:
                missing.append(doc["_id"])
            continue
        products.append(Product.from_doc(doc))
        vectors.append(np.frombuffer(vector, dtype=np.float32))
    return products, (np.stack(vectors) if vectors else np.zeros((0, 0), np.float32))


def _parse_state(state: str) -> tuple[int, str] | None:
    """(revision, epoch) of a Revision.state string "rev-<n>-<epoch>"; None if it is not one."""
    match = re.fullmatch(r"rev-(\d+)-(\w*)", state or "")
    return (int(match.group(1)), match.group(2)) if match else None


def _query(filters: dict, text: str = "") -> dict:
    """A MongoDB filter from plain field=value(s) pairs and a name substring.

    User input is only ever matched as literal strings: never as operators or patterns."""
    query = {}
    if text and text.strip():
        query["name"] = {"$regex": re.escape(text.strip()[:200]), "$options": "i"}
    for field, value in filters.items():
        if value in (None, "", [], ()):
            continue
        if field not in FILTER_FIELDS:
            raise QueryError(f"Unknown filter {field!r}; choose from {', '.join(FILTER_FIELDS)}.")
        values = [value] if isinstance(value, str) else list(value)
        query[FIELD_PATHS.get(field, field)] = {"$in": [str(v) for v in values]}
    return query


_PRODUCT_FIELDS = {name: 1 for name in Product.__dataclass_fields__ if name != "id"}


def _model_slot(model: str) -> str:
    """The key of a model's vector inside `embeddings` (MongoDB keys may not hold dots or start with $)."""
    return model.replace(".", "_").lstrip("$") or "_"


def _vector_field(model: str) -> str:
    return f"embeddings.{_model_slot(model)}"


def _vector_bytes(vector: np.ndarray) -> Binary:
    return Binary(np.ascontiguousarray(vector, dtype=np.float32).tobytes())


def _collection(uri: str, db_name: str, collection_name: str, local: bool = False) -> Collection:
    """`local`: the embedded server on this machine, which answers at once or is down (then it is restarted)."""
    try:
        if local:  # fail fast when it is down, so that it is restarted at once (timeoutMS would wait it out)
            timeouts = {
                "serverSelectionTimeoutMS": LOCAL_CONNECT_TIMEOUT_MS,
                "connectTimeoutMS": LOCAL_CONNECT_TIMEOUT_MS,
                "socketTimeoutMS": OPERATION_TIMEOUT_MS,
            }
        else:
            timeouts = {
                "serverSelectionTimeoutMS": DB_TIMEOUT_MS,
                "connectTimeoutMS": DB_TIMEOUT_MS,
                "timeoutMS": OPERATION_TIMEOUT_MS,
            }
        given = {name.lower() for name in parse_uri(uri)["options"]}  # the URI's own settings win
        client = MongoClient(uri, tz_aware=True, **{k: v for k, v in timeouts.items() if k.lower() not in given})
        return client[db_name][collection_name]
    except (ConfigurationError, ValueError, TypeError) as exc:  # malformed URI, unknown option, bad name
        raise DatabaseUnavailable(
            f"MONGO_URI ({_redact(uri)}) or DB_NAME / COLLECTION_NAME is not usable: {_redact(str(exc))[:200]}"
        ) from exc


def _redact(uri: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", uri)

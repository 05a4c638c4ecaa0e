"""StyleLens' engine: pages and the CLI call its methods and nothing below them, so both do exactly the same.

sync.py      CatalogSync: import, embedding, garment features, the index kept in step, status
search.py    Search: text / photo / composed searches, the first stage and the re-ranking
requests.py  how a request's words become filters and wishes
results.py   Hit, SearchResult, Status: what pages and the CLI receive
"""

from __future__ import annotations

from core.catalog import Catalog
from core.config import Settings
from core.encoders import Encoder
from core.engine.requests import (
    MAX_QUERY_CHARS,
    RERANK_DEPTH,
    clean_query_text,
    constrain,
    read_feedback,
    rerank_depth,
    wish_for,
    with_wish,
)
from core.engine.results import Hit, SearchResult, Status, photo_json
from core.engine.search import MAX_K, Search
from core.engine.sync import EMBED_BATCH, CatalogSync
from core.errors import QueryError

__all__ = [
    "StyleLens",
    "Hit",
    "SearchResult",
    "Status",
    "QueryError",
    "MAX_K",
    "MAX_QUERY_CHARS",
    "RERANK_DEPTH",
    "EMBED_BATCH",
    "clean_query_text",
    "constrain",
    "photo_json",
    "read_feedback",
    "rerank_depth",
    "wish_for",
    "with_wish",
]


class StyleLens(CatalogSync, Search):
    """One catalog, one encoder and their index: kept in step (CatalogSync) and searched (Search)."""

    def __init__(self, settings: Settings, catalog: Catalog, encoder: Encoder):
        CatalogSync.__init__(self, settings, catalog, encoder)
        Search.__init__(self)

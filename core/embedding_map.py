"""A 2-D map (t-SNE) of catalog embeddings, to see whether products of one category sit together."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.catalog import Product
from core.errors import QueryError

MAX_GROUPS = 12  # more colours than this cannot be told apart; the rest are "Other"


@dataclass(frozen=True)
class MapPoint:
    product_id: int
    x: float
    y: float
    group: str
    name: str


def embedding_map(
    products: Sequence[Product], vectors: np.ndarray, sample: int = 1500, seed: int = 0, group_by: str = "sub_category"
) -> list[MapPoint]:
    """t-SNE of up to `sample` products (a seeded random sample), coloured by `group_by`."""
    from sklearn.manifold import TSNE

    if len(products) < 5:
        raise QueryError("The map needs at least 5 embedded products.")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(products), size=min(sample, len(products)), replace=False))
    chosen = [products[i] for i in rows]
    perplexity = float(min(30, max(2, (len(rows) - 1) // 3)))
    xy = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(vectors[rows])
    common = {g for g, _ in Counter(getattr(p, group_by) or "?" for p in chosen).most_common(MAX_GROUPS)}
    return [
        MapPoint(
            p.id,
            float(x),
            float(y),
            (getattr(p, group_by) or "?") if (getattr(p, group_by) or "?") in common else "Other",
            p.name,
        )
        for p, (x, y) in zip(chosen, xy)
    ]

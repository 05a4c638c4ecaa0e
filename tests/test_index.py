"""The FAISS index: filtered search, persistence with its id map, staleness and rebuilds."""

import numpy as np
import pytest

from core.catalog import Product
from core.index import IndexFileError, SearchFilter, VectorIndex


def products_and_vectors(n=40, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    products = [
        Product(
            id=100 + i,
            name=f"p{i}",
            gender=["Men", "Women", "Unisex"][i % 3],
            master_category="Apparel",
            sub_category=["Topwear", "Bottomwear"][i % 2],
            article_type=["Tshirts", "Jeans"][i % 2],
            base_colour="Red",
        )
        for i in range(n)
    ]
    return products, vectors


def brute_force(vectors, query, allowed, k):
    scores = vectors @ query
    order = [r for r in np.argsort(-scores) if allowed[r]]
    return order[:k]


@pytest.mark.parametrize("exact_limit", [1000, 10])  # flat, then IVF
def test_search_matches_brute_force(exact_limit):
    products, vectors = products_and_vectors()
    index = VectorIndex.build(products, vectors, "m@1", "s", exact_limit=exact_limit)
    assert index.manifest.index_type == ("flat" if exact_limit > 40 else "ivf")
    query = vectors[7]
    hits = index.search(query, k=5)
    expected = brute_force(vectors, query, np.ones(40, bool), 5)
    assert [h.id for h in hits] == [products[r].id for r in expected]
    assert hits[0].id == 107 and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_large_catalogs_get_a_tuned_ivf_index_that_keeps_filters_exact_enough(tmp_path, monkeypatch):
    """Above the exact limit the index has inverted lists, probing the fewest that reach the target recall;
    a selective filter is searched exactly over its rows, a broad one through the lists with more probes."""
    import core.index

    monkeypatch.setattr(core.index, "SUBSET_EXACT_LIMIT", 300)
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(30, 16)).astype(np.float32)
    vectors = centres[rng.integers(0, 30, 3000)] + 0.4 * rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    products = [
        Product(
            id=i,
            name=f"p{i}",
            gender=["Men", "Women"][i % 2],
            master_category="Apparel",
            sub_category="Shoes" if i % 20 == 0 else "Topwear",
            article_type="x",
            base_colour="Red",
        )
        for i in range(3000)
    ]
    index = VectorIndex.build(products, vectors, "m@1", "s", exact_limit=1000)
    manifest = index.manifest
    assert manifest.index_type == "ivf" and manifest.lists == 76 and 1 <= manifest.nprobe < manifest.lists
    assert manifest.tuned_recall >= core.index.TARGET_RECALL
    queries = vectors[rng.choice(3000, 50, replace=False)] + 0.1 * rng.normal(size=(50, 16)).astype(np.float32)
    for where, allowed in [
        (SearchFilter(), np.ones(3000, bool)),
        (SearchFilter.make("Men", include_unisex=False), np.arange(3000) % 2 == 0),  # broad
        (SearchFilter.make(category="Shoes"), np.arange(3000) % 20 == 0),
    ]:  # selective: exact
        overlap = np.mean(
            [
                len({h.id for h in index.search(q, 10, where)} & set(brute_force(vectors, q, allowed, 10))) / 10
                for q in queries
            ]
        )
        assert overlap >= 0.9, (where, overlap)
        assert all(allowed[h.id] for q in queries[:5] for h in index.search(q, 10, where))
    shoes = SearchFilter.make(category="Shoes")
    assert [h.id for h in index.search(queries[0], 10, shoes)] == brute_force(
        vectors, queries[0], np.arange(3000) % 20 == 0, 10
    )
    index.save(tmp_path / "ivf.npz")
    loaded = VectorIndex.load(tmp_path / "ivf.npz")
    assert loaded.manifest == manifest
    assert loaded.search(queries[1], 10, shoes) == index.search(queries[1], 10, shoes)


def test_filters_restrict_results():
    products, vectors = products_and_vectors()
    index = VectorIndex.build(products, vectors, "m@1", "s")
    where = SearchFilter.make("Women", "Bottomwear")  # Women + Unisex, Bottomwear
    hits = index.search(vectors[0], k=40, where=where)
    allowed = {p.id for p in products if p.gender in ("Women", "Unisex") and p.sub_category == "Bottomwear"}
    assert {h.id for h in hits} == allowed
    strict = SearchFilter.make("Women", include_unisex=False)
    assert all(products[h.id - 100].gender == "Women" for h in index.search(vectors[0], 40, strict))
    assert index.search(vectors[0], 5, SearchFilter.make(category="Nothing like this")) == []


def test_save_and_load_keep_ids_and_filters(tmp_path):
    products, vectors = products_and_vectors()
    index = VectorIndex.build(products, vectors, "m@1", "state-1")
    index.save(tmp_path / "i.npz")
    loaded = VectorIndex.load(tmp_path / "i.npz")
    assert loaded.manifest == index.manifest
    assert loaded.is_current("m@1", "state-1") and not loaded.is_current("other@1", "state-1")
    where = SearchFilter.make("Men")
    assert loaded.search(vectors[3], 10, where) == index.search(vectors[3], 10, where)


def test_damaged_or_missing_files_raise_index_file_error(tmp_path):
    with pytest.raises(IndexFileError, match="No index file"):
        VectorIndex.load(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(IndexFileError, match="damaged"):
        VectorIndex.load(tmp_path / "bad.npz")


def test_query_of_wrong_size_is_refused():
    products, vectors = products_and_vectors()
    index = VectorIndex.build(products, vectors, "m@1", "s")
    with pytest.raises(ValueError, match="dimensions"):
        index.search(np.ones(3, np.float32), 5)


def test_filter_describes_itself_for_messages():
    from core.index import SearchFilter

    assert SearchFilter().describe() == "the filters"
    said = SearchFilter.make("Men", "Footwear").describe()
    assert said == "the filters (Men or Unisex · Footwear)"


def test_attribute_wording_says_sleeveless():
    from core.attributes import cut_in_words

    assert cut_in_words(("none",), ()) == "sleeveless"
    assert cut_in_words(("elbow", "long"), ("midi",)) == "elbow sleeves or long sleeves and midi length"
    assert cut_in_words((), ("shorts",)) == "shorts"

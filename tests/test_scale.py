"""What keeps a big catalog cheap: index updates from the change log instead of rebuilds, counts from the
index's manifest instead of scans, re-ranking that reads only its candidates' features."""

import numpy as np
import pytest
from conftest import store_garment_features, write_catalog, write_styles

from core.engine import StyleLens
from core.index import SearchFilter, VectorIndex


def test_an_import_of_a_few_products_updates_the_index_instead_of_rebuilding_it(engine, tmp_path):
    rows = write_catalog(tmp_path / "cat", n_colours=6) + write_catalog(tmp_path / "cat", n_colours=6, start_id=3000)
    write_styles(tmp_path / "cat" / "styles.csv", rows)  # 48 products
    engine.import_catalog(tmp_path / "cat" / "images", tmp_path / "cat" / "styles.csv")
    assert engine.updates == 0
    before = engine.index()
    more = write_catalog(tmp_path / "cat", n_colours=1, start_id=5000)  # 4 new products
    rows[0]["productDisplayName"] = "Acme Renamed Shirt"
    write_styles(tmp_path / "cat" / "styles.csv", rows + more)
    rebuilds = engine.rebuilds
    engine.import_catalog(tmp_path / "cat" / "images", tmp_path / "cat" / "styles.csv")
    assert engine.rebuilds == rebuilds + 1 and engine.updates == 1  # one refresh, and it was an update
    engine.catalog.delete([rows[1]["id"]])
    updated = engine.index()
    assert engine.updates == 2
    assert len(updated) == 51 and updated.retired_share > 0 and len(before) == 48  # the old one untouched
    assert sorted(updated.catalog_ids.tolist()) == sorted(r["id"] for r in rows + more if r is not rows[1])

    # The same answers as an index rebuilt from the catalog, for every product's vector and every filter.
    products, vectors = engine.catalog.embeddings(engine.encoder.model_key)
    rebuilt = VectorIndex.build(products, vectors, "m", "s")
    for where in (SearchFilter(), SearchFilter.make("Men"), SearchFilter.make(category="Footwear")):
        for vector in vectors:
            assert [h.id for h in updated.search(vector, 5, where)] == [h.id for h in rebuilt.search(vector, 5, where)]
    assert updated.values_of("gender", [rows[0]["id"], rows[1]["id"]]) == [rows[0]["gender"], ""]
    assert engine.rebuild_index(full=True).retired_share == 0 and engine.updates == 2  # "Rebuild index": whole
    hit = engine.search_text("Acme Renamed Shirt", k=1).hits[0]
    assert hit.product.id == rows[0]["id"]

    # Saved with its retired rows and reloaded as it was; the manifest's counts are the live products'.
    fresh = StyleLens(engine.settings, engine.catalog, engine.encoder)
    reloaded = fresh.index()
    assert fresh.rebuilds == 0 and sorted(reloaded.catalog_ids) == sorted(updated.catalog_ids)
    assert sum(reloaded.manifest.tallies["gender"].values()) == 51


def test_the_change_log_names_writes_under_way_or_cut_in_half_and_refuses_another_catalog(loaded_engine):
    catalog = loaded_engine.catalog
    then = catalog.state()
    product = catalog.get([1000])[0]
    catalog.upsert([product])
    assert catalog.changes_since(then, catalog.state()) == {1000}
    assert catalog.changes_since(catalog.state(), catalog.state()) == set()
    with pytest.raises(RuntimeError):  # a write that fails half-way: its ids stay named from then on
        with catalog._changing(ids=[1003]):
            raise RuntimeError("crash")
    assert catalog.changes_since(then, catalog.state()) == {1000, 1003}
    later = catalog.state()
    assert catalog.changes_since(later, later) == {1003}  # never closed: whoever catches up re-reads it
    with catalog._changing(ids=[1004, 1005]):  # under way when an index is built ...
        during = catalog.state()
    assert catalog.changes_since(during, catalog.state()) == {1003, 1004, 1005}  # ... so it is caught up on
    assert catalog.changes_since(then, catalog.state(), limit=2) is None  # too many: a rebuild is cheaper
    assert catalog.changes_since(then, "rev-99-otherepoch") is None and catalog.changes_since("garbage", then) is None
    with pytest.MonkeyPatch.context() as patch:  # what the engine does when the log cannot tell: rebuild
        patch.setattr(catalog, "changes_since", lambda then, now, limit=None: None)
        catalog.delete([1001])
        updates = loaded_engine.updates
        assert 1001 not in loaded_engine.index().catalog_ids and loaded_engine.updates == updates


def test_status_counts_come_from_the_index_when_it_is_in_step(loaded_engine, monkeypatch):
    loaded_engine.index()
    expected = (loaded_engine.catalog.counts_by("gender"), loaded_engine.catalog.counts_by("sub_category"))

    def no_scans(*args, **kwargs):
        raise AssertionError("status scanned the catalog")

    for name in ("count", "count_embedded", "counts_by", "embeddings", "all_features"):
        monkeypatch.setattr(loaded_engine.catalog, name, no_scans)
    status = loaded_engine.status()
    assert status.index_in_step and status.products == 24 and status.embedded == 24
    assert (status.genders, status.categories) == expected


def test_a_re_ranked_search_reads_only_its_candidates_features(loaded_engine, monkeypatch):
    products = loaded_engine.catalog.browse(limit=100)
    store_garment_features(loaded_engine, {p.id: "short" for p in products})
    asked = []
    real = loaded_engine.catalog.features
    monkeypatch.setattr(loaded_engine.catalog, "all_features", lambda: pytest.fail("read every product's features"))
    monkeypatch.setattr(loaded_engine.catalog, "features", lambda ids: asked.append(list(ids)) or real(ids))
    result = loaded_engine.search_composed("in red", ref_id=products[0].id, k=5, rerank=True)
    assert result.reranked and len(result.hits) == 5
    assert asked and max(len(a) for a in asked) <= 100


def test_sleeve_filters_read_a_compact_cut_table_once_per_features_revision(loaded_engine, monkeypatch):
    products = loaded_engine.catalog.browse(limit=100)
    tees = [p.id for p in products if p.article_type == "Tshirts"]
    store_garment_features(loaded_engine, {p.id: ("long" if p.id == tees[0] else "short") for p in products})
    tables = []
    real = loaded_engine.catalog.cut_table
    monkeypatch.setattr(loaded_engine.catalog, "cut_table", lambda: tables.append(1) or real())
    for _ in range(3):
        hits = loaded_engine.search_text("t-shirt", k=5, where=SearchFilter.make(sleeves="long")).hits
        assert [h.product.id for h in hits] == [tees[0]]
    assert len(tables) == 1
    store_garment_features(loaded_engine, {p.id: "long" for p in products})  # a new features revision
    assert len(loaded_engine.search_text("t-shirt", k=5, where=SearchFilter.make(sleeves="long")).hits) == 5
    assert len(tables) == 2
    assert np.array_equal(np.sort(real().ids), np.sort([p.id for p in products]))


def test_a_rebuild_reads_every_vector_in_one_scan_and_embeds_the_products_without_one(loaded_engine, monkeypatch):
    catalog = loaded_engine.catalog
    model = loaded_engine.encoder.model_key
    catalog.collection.update_one({"_id": 1002}, {"$unset": {"embeddings": ""}})  # e.g. lost, or another encoder's
    missing: list[int] = []
    products, vectors = catalog.embeddings(model, missing)
    assert missing == [1002] and len(products) == len(vectors) == 23
    monkeypatch.setattr(catalog, "changes_since", lambda then, now, limit=None: None)  # force a full rebuild
    catalog._bump_revision()
    catalog._bump_revision()
    index = loaded_engine.index()
    assert 1002 in index.catalog_ids and len(index) == 24
    assert catalog.embeddings(model, [])[1].shape[0] == 24

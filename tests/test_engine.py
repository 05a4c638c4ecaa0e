"""Search through the engine: results, filters, bad queries, and the index kept in step."""

import numpy as np
import pytest
from conftest import draw_product, write_catalog, write_styles

from core.engine import MAX_QUERY_CHARS, QueryError, StyleLens
from core.images import ImageError
from core.index import SearchFilter


def test_image_search_finds_the_same_product_first(loaded_engine, catalog_dir):
    result = loaded_engine.search_image(catalog_dir / "images" / "1007.jpg", k=5)
    assert result.hits[0].product.id == 1007
    assert [h.rank for h in result.hits] == [1, 2, 3, 4, 5]
    assert set(result.timings_ms) >= {"encode", "search"}


def test_image_search_prefers_same_colour_and_shape(loaded_engine):
    result = loaded_engine.search_image(draw_product("dress", (205, 35, 35), size=150), k=3)
    top = result.hits[0].product
    assert (top.article_type, top.base_colour) == ("Dresses", "Red")


def test_text_search_finds_described_products(loaded_engine):
    result = loaded_engine.search_text("green jeans for men", k=3)
    assert result.hits[0].product.name == "Acme Men Green Jeans"


def test_filters_apply_to_search(loaded_engine):
    result = loaded_engine.search_text("red", k=50, where=SearchFilter.make("Women", "Footwear"))
    assert result.hits and all(h.product.article_type == "Heels" for h in result.hits)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(loaded_engine, text):
    with pytest.raises(QueryError, match="Type a description"):
        loaded_engine.search_text(text)


def test_very_long_text_is_cut_with_a_note(loaded_engine):
    result = loaded_engine.search_text("blue " * 2000)
    assert result.hits and "first 500" in result.notes[0] and MAX_QUERY_CHARS == 500


def test_bad_k_and_bad_image_are_refused(loaded_engine):
    with pytest.raises(QueryError):
        loaded_engine.search_text("red", k=0)
    with pytest.raises(ImageError):
        loaded_engine.search_image(b"\x00\x01not an image")


def test_index_and_catalog_agree_after_adds_and_updates(engine, tmp_path):
    rows = write_catalog(tmp_path / "cat", n_colours=3)
    engine.import_catalog(tmp_path / "cat" / "images", tmp_path / "cat" / "styles.csv")
    more = write_catalog(tmp_path / "cat", n_colours=3, start_id=5000)
    rows[0]["productDisplayName"] = "Acme Updated Name"
    write_styles(tmp_path / "cat" / "styles.csv", rows + more)
    report = engine.import_catalog(tmp_path / "cat" / "images", tmp_path / "cat" / "styles.csv")
    assert (report.added, report.updated) == (12, 1)
    index = engine.index()
    assert sorted(index.catalog_ids.tolist()) == sorted(r["id"] for r in rows + more)
    live = np.flatnonzero(index.live) if index.live is not None else np.arange(len(index.ids))
    for row, product_id in zip(live[:5], index.ids[live[:5]]):  # each row's vector is that product's vector
        products, vectors = engine.catalog.embeddings(engine.encoder.model_key)
        stored = next(v for p, v in zip(products, vectors) if p.id == product_id)
        assert np.allclose(index.index.reconstruct(int(row)), stored)
    hit = engine.search_text("Acme Updated Name", k=1).hits[0]
    assert hit.product.id == rows[0]["id"] and hit.product.name == "Acme Updated Name"


def test_stale_or_missing_index_is_rebuilt(loaded_engine):
    lens = loaded_engine
    lens.index_path.unlink()  # deleted index file
    fresh = StyleLens(lens.settings, lens.catalog, lens.encoder)
    assert len(fresh.index()) == 24 and lens.index_path.exists()

    lens.catalog.delete([1000])  # a catalog change makes the saved index stale
    assert not fresh.status().index_in_step
    assert 1000 not in fresh.index().catalog_ids and len(fresh.index()) == 23

    lens.index_path.write_bytes(b"damaged")
    assert len(StyleLens(lens.settings, lens.catalog, lens.encoder).index()) == 23


def test_index_from_another_model_is_never_used(loaded_engine):
    class OtherModel:  # same vectors, another name: its index must not be mixed with baseline's
        name, model_key, dim = "other", "other@1", loaded_engine.encoder.dim

        def embed_catalog(self, images, captions):
            return loaded_engine.encoder.embed_catalog(images, captions)

    other = StyleLens(loaded_engine.settings, loaded_engine.catalog, OtherModel())
    assert other.status().indexed == 0 and not other.status().index_in_step
    index = other.index()
    assert index.manifest.model_key == "other@1" and len(index) == 24
    assert loaded_engine.catalog.count_embedded("other@1") == 24
    assert loaded_engine.catalog.count_embedded("baseline@1") == 24  # each model keeps its own vectors
    assert loaded_engine.index().manifest.model_key == "baseline@1"


def test_a_changed_product_drops_other_models_vectors(loaded_engine, catalog_dir):
    loaded_engine.catalog.set_embeddings([1000], np.ones((1, 4), np.float32), "other@1")
    assert loaded_engine.catalog.count_embedded("other@1") == 1
    product = loaded_engine.catalog.get([1000])[0]
    loaded_engine.catalog.upsert(
        [product], loaded_engine.encoder.embed_catalog([draw_product("dress", (0, 0, 0))], ["x"]), "baseline@1"
    )
    assert loaded_engine.catalog.count_embedded("other@1") == 0


def test_garment_features_are_stored_with_their_version_and_redone_when_a_product_changes(loaded_engine):
    from core.garment_features import EXTRACTOR_VERSION, GarmentFeatures

    catalog = loaded_engine.catalog
    version = loaded_engine.features_version()  # the extractor's and the attribute model's
    assert str(version).startswith(f"{EXTRACTOR_VERSION}+garment-attributes@")
    assert catalog.ids_without_features(version) == []  # computed at import
    some = catalog.browse(limit=3)
    stored = catalog.features([p.id for p in some])
    assert set(stored) == {p.id for p in some}
    features = GarmentFeatures.from_doc(stored[some[0].id])
    assert features.version == version and features.colours
    catalog.set_features({some[0].id: {**stored[some[0].id], "version": EXTRACTOR_VERSION - 1}})  # an old extractor
    catalog.upsert([some[1]])  # a product re-imported: its old features go with its old version
    assert sorted(catalog.ids_without_features(version)) == sorted([some[0].id, some[1].id])
    assert loaded_engine.update_features() == 2 and catalog.ids_without_features(version) == []

"""The vector-store contract, for both backends: FAISS (embedded) and Milvus (Milvus Lite in a file, the real
Milvus client). Same catalog ids, filters, in-step check and rebuild; the same top-10 for the same queries."""

import numpy as np
import pytest

from core.catalog import Catalog
from core.config import load_settings
from core.engine import StyleLens
from core.index import IndexFileError, SearchFilter, VectorIndex

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from core.milvus_index import MilvusIndex, milvus_filter  # noqa: E402


@pytest.fixture
def milvus_engine(settings, encoder, catalog_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("VECTOR_BACKEND", "milvus")
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "milvus.db"))
    engine = StyleLens(load_settings(), Catalog.open(settings), encoder)
    engine.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    return engine


def test_milvus_and_faiss_return_the_same_results_for_the_same_queries(milvus_engine):
    products, vectors = milvus_engine.catalog.embeddings(milvus_engine.encoder.model_key)
    state = milvus_engine.catalog.state()
    faiss_index = VectorIndex.build(products, vectors, milvus_engine.encoder.model_key, state)
    milvus_index = milvus_engine.index()
    assert isinstance(milvus_index, MilvusIndex) and milvus_index.manifest.backend == "milvus"
    assert len(milvus_index) == len(faiss_index) == len(products)
    shirts = {p.id for p in products if p.article_type == "Tshirts"}
    filters = [
        SearchFilter(),
        SearchFilter.make("Women"),
        SearchFilter.make(category="Footwear"),
        SearchFilter(ids=tuple(sorted(shirts)[:3])),
        SearchFilter.make("Men", "Topwear"),
    ]
    for row in range(0, len(vectors), 7):
        for where in filters:
            ours = [n.id for n in milvus_index.search(vectors[row], 10, where)]
            theirs = [n.id for n in faiss_index.search(vectors[row], 10, where)]
            assert ours == theirs, (row, where)


@pytest.mark.parametrize("largest_limit", [16_384, 3])  # over-fetch by the ids' share; ids in slices
def test_an_id_filter_too_long_for_one_expression_gives_the_same_results(milvus_engine, monkeypatch, largest_limit):
    import core.milvus_index

    monkeypatch.setattr(core.milvus_index, "EXPRESSION_IDS", 4)
    monkeypatch.setattr(core.milvus_index, "MAX_LIMIT", largest_limit)
    products, vectors = milvus_engine.catalog.embeddings(milvus_engine.encoder.model_key)
    faiss_index = VectorIndex.build(products, vectors, milvus_engine.encoder.model_key, "s")
    milvus_index = milvus_engine.index()
    expressions = []
    query = milvus_index.client.search
    monkeypatch.setattr(milvus_index.client, "search", lambda **kw: expressions.append(kw["filter"]) or query(**kw))
    some = tuple(p.id for p in products[::3])  # 8 of 24
    for where in [SearchFilter(ids=some), SearchFilter(genders=("Women",), ids=some), SearchFilter(ids=some[:3])]:
        for row in range(0, len(vectors), 5):
            ours = [(n.id, round(n.score, 4)) for n in milvus_index.search(vectors[row], 5, where)]
            theirs = [(n.id, round(n.score, 4)) for n in faiss_index.search(vectors[row], 5, where)]
            assert ours == theirs, (row, where)
    assert all(expression.count(",") < 4 for expression in expressions)  # never more than 4 ids in one


def test_filters_become_milvus_expressions_with_values_quoted():
    where = SearchFilter(genders=("Men", 'x" or 1==1 or "'), categories=("Topwear",), ids=(3, 5))
    expression = milvus_filter(where)
    assert 'gender in ["Men", "x\\" or 1==1 or \\""]' in expression and "id in [3, 5]" in expression
    assert milvus_filter(SearchFilter()) == ""


def test_the_milvus_index_is_saved_reloaded_and_rebuilt_when_its_collection_is_gone(milvus_engine):
    index = milvus_engine.index()
    assert milvus_engine.index_path.name.endswith(".milvus.npz")
    reloaded = MilvusIndex.load_from(milvus_engine.settings.milvus_address, milvus_engine.index_path)
    assert reloaded.collection == index.collection and list(reloaded.ids) == list(index.ids)
    status = milvus_engine.status()
    assert status.backend == "milvus" and status.index_in_step and status.index_type == "milvus-flat"
    index.client.drop_collection(index.collection)  # someone emptied Milvus
    with pytest.raises(IndexFileError):
        MilvusIndex.load_from(milvus_engine.settings.milvus_address, milvus_engine.index_path)
    milvus_engine._index = None
    rebuilt = milvus_engine.index()  # rebuilt from MongoDB, the source of truth
    assert len(rebuilt) == len(index) and rebuilt.search(np.ones(rebuilt.manifest.dim, np.float32), 3)


def test_an_import_moves_milvus_to_a_new_collection_and_drops_the_old(milvus_engine, tmp_path):
    from conftest import write_catalog

    before = milvus_engine.index()
    more = tmp_path / "more"
    write_catalog(more, n_colours=1, start_id=5000)  # one more product of every kind
    milvus_engine.import_catalog(more / "images", more / "styles.csv")
    after = milvus_engine.index()
    assert len(after) > len(before) and milvus_engine.rebuilds == 2  # one rebuild per import
    before = before.collection
    assert after.collection != before and not after.client.has_collection(before)
    assert milvus_engine.search_text("red t-shirt", k=3).hits


def test_an_unknown_backend_is_a_clear_error(settings, encoder, monkeypatch):
    from core.errors import SettingsError

    monkeypatch.setenv("VECTOR_BACKEND", "qdrant")
    engine = StyleLens(load_settings(), Catalog.open(settings), encoder)
    with pytest.raises(SettingsError, match="VECTOR_BACKEND must be one of faiss, milvus"):
        engine.index()


def test_the_cli_runs_on_milvus_lite_with_milvus_uri_a_file(loaded_engine, tmp_path):
    """pymilvus reads MILVUS_URI itself when imported and refuses a file path there: the CLI must still work."""
    import json
    import os
    import subprocess
    import sys

    from conftest import PROJECT_ROOT

    settings = loaded_engine.settings
    env = {
        **os.environ,
        "MONGO_URI": settings.mongo_uri,
        "DB_NAME": settings.db_name,
        "STYLELENS_DATA_DIR": str(settings.data_dir),
        "ENCODER_NAME": "baseline",
        "VECTOR_BACKEND": "milvus",
        "MILVUS_URI": str(tmp_path / "cli-milvus.db"),
    }
    run = subprocess.run(
        [sys.executable, "-m", "core", "search", "--text", "red t-shirt", "--k", "3", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(json.loads(run.stdout)["hits"]) == 3
    status = subprocess.run(
        [sys.executable, "-m", "core", "status", "--json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    data = json.loads(status.stdout)
    assert data["backend"] == "milvus" and data["index_in_step"] and data["index_type"] == "milvus-flat"

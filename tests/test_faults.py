"""The database stopping while StyleLens runs: a clear error, nothing lost, and recovery once it is back."""

import os
import signal
import time

import pytest

from core.catalog import Catalog, DatabaseUnavailable
from core.config import load_settings
from core.dbserver import local_server_uri, running_server, stop_local_server
from core.engine import StyleLens


def kill_server(data_dir):
    """Stop the server the way a crash or an operator would: its state file stays behind."""
    pid = running_server(data_dir)["pid"]
    os.kill(pid, signal.SIGTERM)
    for _ in range(150):
        if running_server(data_dir) is None:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def own_server(tmp_path):
    folder = tmp_path / "server"
    yield folder, local_server_uri(folder)
    stop_local_server(folder)


def test_stopped_database_gives_clear_error_then_recovers(own_server, monkeypatch, tmp_path, encoder, catalog_dir):
    folder, uri = own_server
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    lens = StyleLens(load_settings(), Catalog.open(load_settings()), encoder)
    lens.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")

    kill_server(folder)
    with pytest.raises(DatabaseUnavailable, match="not reachable"):
        lens.search_text("red dress")
    assert lens.status().database != "ok" and not lens.status().index_in_step

    assert local_server_uri(folder) == uri  # back on the same address
    assert lens.catalog.count() == 24  # nothing was lost
    assert lens.search_text("red dress").hits


def test_embedded_server_is_restarted_on_demand(monkeypatch, tmp_path):
    monkeypatch.delenv("MONGO_URI", raising=False)
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    try:
        catalog = Catalog.open(settings)
        assert "embedded" in catalog.address
        catalog.collection.insert_one({"_id": 1, "name": "kept"})
        kill_server(settings.data_dir)
        assert catalog.count() == 1  # the next call restarts the server and finds the data
        assert Catalog.open(settings).uri == catalog.uri  # the CLI and the app share one server
    finally:
        stop_local_server(settings.data_dir)


def test_unreachable_uri_fails_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500")
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DatabaseUnavailable, match="127.0.0.1:1"):
        Catalog.open(load_settings())


def test_page_reports_a_stopped_database_and_recovers(own_server, monkeypatch, tmp_path, encoder, catalog_dir):
    from conftest import PROJECT_ROOT
    from streamlit.testing.v1 import AppTest

    folder, uri = own_server
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    StyleLens(load_settings(), Catalog.open(load_settings()), encoder).import_catalog(
        catalog_dir / "images", catalog_dir / "styles.csv"
    )
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).switch_page("pages/search.py")
    at.session_state["query"] = ("text", "red dress")
    assert at.run().markdown and not at.error

    kill_server(folder)
    at.run()
    assert not at.exception and "database is unavailable" in at.error[0].value

    local_server_uri(folder)
    at.run()
    assert not at.exception and not at.error and "Acme Women Red Dresses" in [m.value.strip("*") for m in at.markdown]

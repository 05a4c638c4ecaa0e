"""Reliability under a live demo (issue 13): shared models under threads, pid files, revisions that cannot lie,
imports beside searches, a full disk, database users and addresses that do not work, a stalled server, and
the pages' network guards. The hostile files themselves are in test_hostile.py."""

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import PROJECT_ROOT, write_catalog, write_styles
from PIL import Image
from pymongo import MongoClient

from core.catalog import Catalog, DatabaseUnavailable, InvalidId, parse_id
from core.config import load_settings
from core.dbserver import STATE_FILE, local_server_uri, running_server, server_command, stop_local_server
from core.engine import StyleLens, clean_query_text
from core.errors import StorageError


# ---- shared models ---------------------------------------------------------------------------
def test_one_text_encoder_serves_many_threads_at_once():
    """Mixed truncation lengths from 8 threads used to fail with "Already borrowed" in the shared tokenizer."""
    from core.encoders.minilm import MiniLM

    model, errors = MiniLM(), []

    def work(worker: int) -> None:
        for step in range(30):
            try:
                if (worker + step) % 2:
                    model.embed([f"red dress {worker} {step}"])
                else:
                    model.tokens([f"lighter please {worker}"], max_tokens=32)
            except Exception as exc:  # noqa: BLE001 - the test counts every failure
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []


def test_mixed_queries_from_many_threads_through_one_engine(loaded_engine, catalog_dir):
    """A fast version of the drills' load: text, photo and feedback queries from 8 threads, no errors."""
    photo = (catalog_dir / "images" / "1001.jpg").read_bytes()
    queries = [
        lambda: loaded_engine.search_text("red dress", 5),
        lambda: loaded_engine.search_image(photo, 5),
        lambda: loaded_engine.search_composed("lighter", ref_id=1001, k=5, method="sum"),
        lambda: loaded_engine.search_text("black heels", 5, rerank=True),
    ]
    errors = []

    def work(worker: int) -> None:
        for step in range(8):
            try:
                assert queries[(worker + step) % len(queries)]().hits
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []


# ---- the embedded server's pid file -------------------------------------------------------------
def test_stale_pid_file_naming_an_unrelated_process_leaves_it_alone(tmp_path):
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        tmp_path.mkdir(exist_ok=True)
        (tmp_path / STATE_FILE).write_text(json.dumps({"pid": bystander.pid, "port": _free_port()}))
        assert running_server(tmp_path) is None  # not taken for the server
        uri = local_server_uri(tmp_path)  # starts a real one
        assert MongoClient(uri, serverSelectionTimeoutMS=3000).admin.command("ping")["ok"] == 1
        assert bystander.poll() is None  # never signalled
        assert stop_local_server(tmp_path)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        stop_local_server(tmp_path)


def test_pid_of_another_users_process_is_neither_trusted_nor_signalled(tmp_path, monkeypatch):
    import core.dbserver as dbserver

    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": 1, "port": _free_port(), "started": 0}))

    class Foreign:
        def __init__(self, pid):
            raise psutil.AccessDenied(pid)

    signalled = []
    monkeypatch.setattr(dbserver.psutil, "Process", Foreign)
    monkeypatch.setattr(dbserver.os, "kill", lambda pid, sig: signalled.append(pid))
    assert running_server(tmp_path) is None
    assert stop_local_server(tmp_path) is False
    assert signalled == []


def test_a_reused_pid_is_told_apart_by_its_start_time(tmp_path):
    uri = local_server_uri(tmp_path)
    try:
        state = json.loads((tmp_path / STATE_FILE).read_text())
        assert running_server(tmp_path)["pid"] == state["pid"]
        (tmp_path / STATE_FILE).write_text(json.dumps({**state, "started": state["started"] - 3600}))
        assert running_server(tmp_path) is None  # same pid, other start time: another process
        (tmp_path / STATE_FILE).write_text(json.dumps(state))
        assert local_server_uri(tmp_path) == uri
    finally:
        stop_local_server(tmp_path)


# ---- revisions, imports and features ---------------------------------------------------------------
def test_a_write_that_dies_half_way_still_changes_the_revision(loaded_engine, monkeypatch):
    catalog = loaded_engine.catalog
    before = catalog.state()
    product = catalog.get([1001])[0]

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("the process died mid-write")

    monkeypatch.setattr(catalog.collection, "bulk_write", crash)
    with pytest.raises(KeyboardInterrupt):
        catalog.upsert([product])
    assert catalog.state() != before  # an index built before the write can no longer pass for current
    assert not loaded_engine.status().index_in_step


def test_feature_writes_move_the_features_revision_but_not_the_index(loaded_engine):
    catalog = loaded_engine.catalog
    before = catalog.revision()
    catalog.set_features({1001: {"version": -1}})
    after = catalog.revision()
    assert after.state == before.state and after.features != before.features


def _big_catalog(folder: Path, count: int, start: int) -> Path:
    """`count` products (more than one import batch) from the fixture's pictures."""
    rows = write_catalog(folder / "seed", start_id=start)
    (folder / "images").mkdir(parents=True)
    out = []
    for n in range(count):
        row = {**rows[n % len(rows)], "id": start + n, "productDisplayName": f"Batch product {n}"}
        shutil.copy(
            folder / "seed" / "images" / f"{rows[n % len(rows)]['id']}.jpg", folder / "images" / f"{start + n}.jpg"
        )
        out.append(row)
    write_styles(folder / "styles.csv", out)
    return folder


def test_searches_during_an_import_keep_their_index_and_it_is_rebuilt_once(loaded_engine, settings, encoder, tmp_path):
    importer = loaded_engine
    searcher = StyleLens(settings, Catalog.open(settings), encoder)  # another session (or process)
    assert searcher.search_text("red dress", 3).hits
    searcher_rebuilds, importer_rebuilds = searcher.rebuilds, importer.rebuilds
    notes = []

    def progress(done, total, message):
        if message == "Importing products":
            result = searcher.search_text("batch product", 3)
            notes.extend(result.notes)
            assert importer.catalog.revision().importing

    folder = _big_catalog(tmp_path / "more", 150, 7000)
    report = importer.import_catalog(folder / "images", folder / "styles.csv", progress)
    assert report.added == 150
    assert searcher.rebuilds == searcher_rebuilds  # no rebuild per batch for a searching session
    assert importer.rebuilds == importer_rebuilds + 1  # one for the whole import
    assert any("being imported" in n for n in notes)
    assert not importer.catalog.revision().importing
    assert any(h.product.id >= 7000 for h in searcher.search_text("Batch product", 5).hits)  # in step afterwards
    assert searcher.status().index_in_step


def test_a_crashed_imports_lease_lapses(loaded_engine, monkeypatch):
    import core.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "IMPORT_LEASE_S", 2.0)
    lease = loaded_engine.catalog.import_lease().__enter__()  # and never left, as after kill -9:
    lease._stop.set()  # its heartbeat dies with the process
    assert loaded_engine.catalog.revision().importing
    time.sleep(2.5)
    assert not loaded_engine.catalog.revision().importing


def test_a_slow_import_keeps_its_lease_by_heartbeat(loaded_engine, monkeypatch):
    import core.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "IMPORT_LEASE_S", 1.0)
    with loaded_engine.catalog.import_lease():
        time.sleep(2.5)  # a batch slower than the lease: the heartbeat renews it
        assert loaded_engine.catalog.revision().importing
    assert not loaded_engine.catalog.revision().importing


def test_a_feature_update_is_not_taken_for_an_import(loaded_engine):
    with loaded_engine.catalog.import_lease("features"):
        revision = loaded_engine.catalog.revision()
        assert revision.writing_features and not revision.importing


def test_two_imports_at_once_both_finish_and_leave_no_temporary_files(engine, tmp_path):
    folder = _big_catalog(tmp_path / "both", 80, 8000)
    errors = []

    def run():
        try:
            engine.import_catalog(folder / "images", folder / "styles.csv")
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert engine.catalog.count() == 80 and engine.catalog.count_embedded(engine.encoder.model_key) == 80
    assert not [p for p in engine.settings.images_dir.iterdir() if p.name.endswith(".tmp")]
    assert engine.status().index_in_step


def test_a_full_disk_stops_the_import_with_a_message_and_nothing_half_written(engine, tmp_path, monkeypatch):
    folder = _big_catalog(tmp_path / "full", 100, 9000)
    written = []
    real_save = Image.Image.save

    def save(image, target, *args, **kwargs):
        if str(target).endswith(".tmp"):
            if len(written) >= 70:  # the disk fills up during the second batch
                Path(target).write_bytes(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")
            written.append(target)
        return real_save(image, target, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    with pytest.raises(StorageError, match="No space left on device.*import again"):
        engine.import_catalog(folder / "images", folder / "styles.csv")
    monkeypatch.undo()
    assert engine.catalog.count() == 64  # the first batch, whole
    assert engine.catalog.count_embedded(engine.encoder.model_key) == 64
    assert not [p for p in engine.settings.images_dir.iterdir() if p.name.endswith(".tmp")]
    assert not engine.catalog.revision().importing
    report = engine.import_catalog(folder / "images", folder / "styles.csv")  # space freed: it resumes
    assert (report.unchanged, report.added) == (64, 36) and engine.status().index_in_step


def test_an_index_that_cannot_be_saved_still_serves_searches(loaded_engine, monkeypatch):
    from core.index import VectorIndex

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(VectorIndex, "save", full)
    loaded_engine.catalog.delete([1001])
    assert loaded_engine.search_text("red dress", 3).hits


# ---- ids ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected", [(5, 5), ("17", 17), (" 42 ", 42), (3.0, 3), ("0", 0), (2**63 - 1, 2**63 - 1)]
)
def test_catalog_ids_that_parse(value, expected):
    assert parse_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "١٢٣",
        "1e5",
        "-5",
        "",
        "abc",
        2**63,
        -1,
        1.5,
        float("inf"),
        float("nan"),
        True,
        None,
        [1],
        "18446744073709551616",
    ],
)
def test_catalog_ids_that_do_not(value):
    with pytest.raises(InvalidId):
        parse_id(value)


def test_a_reference_id_out_of_range_is_a_clear_error(loaded_engine):
    from core.engine import QueryError

    with pytest.raises(QueryError, match="catalog id"):
        loaded_engine.search_composed("lighter", ref_id=2**64)
    assert loaded_engine.catalog.get([2**64, 1001])[0] is None


def test_control_characters_are_not_stored(engine, tmp_path):
    rows = write_catalog(tmp_path / "c")
    rows[0]["productDisplayName"] = "Nul\x00 and \x1b[31mred\x1b[0m"
    write_styles(tmp_path / "c" / "styles.csv", rows)
    engine.import_catalog(tmp_path / "c" / "images", tmp_path / "c" / "styles.csv")
    assert engine.catalog.get([rows[0]["id"]])[0].name == "Nul and [31mred[0m"


def test_long_text_is_cut_at_a_word():
    text, notes = clean_query_text("lighter and longer " * 100)
    assert len(text) <= 500 and text.endswith("longer") and notes


# ---- databases that do not work ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_with_users(tmp_path_factory):
    """A SecantusDB server with authentication on, a full user and a read-only one."""
    folder, port = tmp_path_factory.mktemp("auth"), _free_port()

    def start(auth: bool) -> subprocess.Popen:
        process = subprocess.Popen(
            [*server_command(port, folder, "ERROR"), *(["--auth"] if auth else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(port)
        return process

    setup = start(False)
    admin = MongoClient(f"mongodb://127.0.0.1:{port}/?directConnection=true")
    admin.admin.command("createUser", "owner", pwd="secret", roles=[{"role": "root", "db": "admin"}])
    admin.admin.command("createUser", "viewer", pwd="secret", roles=[{"role": "read", "db": "shop"}])
    admin.shop.products.insert_one({"_id": 1, "name": "kept"})
    setup.terminate()
    setup.wait()
    server = start(True)
    yield port
    server.terminate()
    server.wait()


def _open(monkeypatch, tmp_path, uri: str) -> Catalog:
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("DB_NAME", "shop")
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
    return Catalog.open(load_settings())


def test_wrong_password_says_so(server_with_users, monkeypatch, tmp_path):
    uri = f"mongodb://owner:wrong@127.0.0.1:{server_with_users}/?directConnection=true"
    with pytest.raises(DatabaseUnavailable, match="authentication failed") as caught:
        _open(monkeypatch, tmp_path, uri)
    assert "wrong" not in str(caught.value)  # the password is never shown


def test_read_only_user_can_search_but_not_import(server_with_users, monkeypatch, tmp_path, encoder, catalog_dir):
    catalog = _open(
        monkeypatch, tmp_path, f"mongodb://viewer:secret@127.0.0.1:{server_with_users}/?directConnection=true"
    )
    assert catalog.count() == 1
    lens = StyleLens(load_settings(), catalog, encoder)
    with pytest.raises(DatabaseUnavailable, match="read-only user cannot import"):
        lens.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    assert catalog.count() == 1


@pytest.mark.parametrize("uri", ["mongodb://[::1", "http://example.com", "mongodb://host:99999999/"])
def test_malformed_mongo_uri_is_a_clear_error(uri, monkeypatch, tmp_path):
    with pytest.raises(DatabaseUnavailable, match="MONGO_URI"):
        _open(monkeypatch, tmp_path, uri)


def test_a_stalled_database_fails_a_search_in_seconds_then_recovers(tmp_path, monkeypatch, encoder, catalog_dir):
    folder = tmp_path / "stalled"
    uri = local_server_uri(folder)
    pid = running_server(folder)["pid"]
    try:
        monkeypatch.setenv("MONGO_URI", uri)  # as an external server: StyleLens does not restart it
        monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path / "data"))
        lens = StyleLens(load_settings(), Catalog.open(load_settings()), encoder)
        lens.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            lens.search_text("red dress")
        assert time.monotonic() - started < 9  # "unavailable" after ~4.5 s (timeoutMS), with room for a slow CI
        os.kill(pid, signal.SIGCONT)
        assert lens.search_text("red dress").hits
    finally:
        os.kill(pid, signal.SIGCONT)
        stop_local_server(folder)


# ---- the pages and the command line -----------------------------------------------------------------
def test_a_password_also_turns_server_paths_off(loaded_engine, monkeypatch):
    """Behind a password the app is meant for others, perhaps through a proxy that connects on loopback."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("APP_PASSWORD", "demo-day")
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).switch_page("pages/evaluate.py")
    at.session_state["signed_in"] = True
    at.run()
    assert not at.exception and not [t for t in at.text_input if "Query file" in t.label]
    assert any("Paths on the server are turned off" in i.value for i in at.info)


def test_pages_ask_for_the_password_when_one_is_set(loaded_engine, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("APP_PASSWORD", "demo-day")
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and not at.metric  # nothing of the app before signing in
    at.text_input[0].input("guess").run()
    at.button[0].click().run()
    assert "not the password" in at.error[0].value and not at.metric
    at.text_input[0].input("demo-day").run()
    at.button[0].click().run()
    assert not at.exception and at.metric[1].value == "24"


def test_server_paths_are_off_while_serving_a_network(loaded_engine):
    from streamlit import config
    from streamlit.testing.v1 import AppTest

    config.set_option("server.address", "0.0.0.0")
    try:
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=120).switch_page("pages/catalog.py").run()
        assert not at.exception
        assert any("Paths on the server are turned off" in i.value for i in at.info)
        assert not [t for t in at.text_input if "Catalog folder" in t.label]
        assert "Zip of images + one CSV" in [u.label for u in at.get("file_uploader")]  # upload stays open
    finally:
        config.set_option("server.address", "127.0.0.1")


def test_cli_refuses_device_files_and_hostile_query_files(settings, tmp_path):
    from core.__main__ import main

    assert main(["evaluate", "--queries", "/dev/zero"]) == 1
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"ref_id": 1e400, "relevant_ids": [1]}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    assert main(["evaluate", "--queries", str(bad)]) == 1
    assert main(["compose", "--ref-id", str(2**64), "--text", "lighter"]) == 1


def test_run_app_listens_on_loopback_unless_told_otherwise():
    script = (PROJECT_ROOT / "run_app.sh").read_text()
    assert '--server.address "$host"' in script
    assert load_settings().host == "127.0.0.1"
    assert 'address = "127.0.0.1"' in (PROJECT_ROOT / ".streamlit" / "config.toml").read_text()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int) -> None:
    for _ in range(150):
        try:
            MongoClient(
                f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=300
            ).admin.command("ping")
            return
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.2)
    raise RuntimeError(f"no server on port {port}")


@pytest.mark.parametrize("size", [(1024, 1), (1, 1024), (5000, 300), (40, 40)])
def test_pose_check_on_slivers_and_panoramas(size):
    """A 100000x1 upload (shrunk to 1024x1) once crashed Shop the Look's face tiling (a step of zero)."""
    from core.look.pose_model import MAX_TILES, PoseModel, _square_tiles

    image = Image.new("RGB", size, "grey")
    assert "no person found" in PoseModel().verdict(image).reasons
    assert len(list(_square_tiles(image))) <= MAX_TILES


def test_an_import_killed_half_way_leaves_whole_products_and_the_next_one_finishes(
    loaded_engine, tmp_path, monkeypatch
):
    """A fast version of the drills' kill -9: the process dies after its first batch (lease left behind)."""
    import core.catalog as catalog_module

    engine = loaded_engine  # 24 products, indexed
    monkeypatch.setattr(catalog_module, "IMPORT_LEASE_S", 10.0)
    folder = _big_catalog(tmp_path / "killed", 150, 6000)
    real_batch, batches = StyleLens._import_batch, []

    def dies_on_the_second_batch(self, rows, known, report):
        if batches:
            raise SystemExit("kill -9")
        batches.append(len(rows))
        return real_batch(self, rows, known, report)

    monkeypatch.setattr(StyleLens, "_import_batch", dies_on_the_second_batch)
    lease = engine.catalog.import_lease
    monkeypatch.setattr(engine.catalog, "import_lease", lambda: _never_released(lease()))
    with pytest.raises(SystemExit):
        engine.import_catalog(folder / "images", folder / "styles.csv")
    monkeypatch.setattr(StyleLens, "_import_batch", real_batch)
    monkeypatch.setattr(engine.catalog, "import_lease", lease)
    status = engine.status()
    assert status.products == status.embedded == 24 + 64 and status.importing
    assert not status.index_in_step and status.indexed == 24  # the index from before, said to be behind
    report = engine.import_catalog(folder / "images", folder / "styles.csv")  # while the dead lease lasts
    assert (report.unchanged, report.added) == (64, 86)
    assert engine.status().index_in_step and engine.status().indexed == 24 + 150


class _never_released:
    """An import lease whose holder dies: entered, never left (as after kill -9)."""

    kept = []  # a collected generator would run the lease's `finally`, which kill -9 never does

    def __init__(self, lease):
        self.lease = lease
        self.kept.append(lease)

    def __enter__(self):
        entered = self.lease.__enter__()
        entered._stop.set()  # its heartbeat dies with the process
        return entered

    def __exit__(self, *exc):
        return False


def test_a_zip_declaring_too_many_entries_is_refused_before_they_are_read(monkeypatch):
    import core.archives as archives
    from benchmarks.hostile import _declaring_entries, _zip

    monkeypatch.setattr(archives, "MAX_MEMBERS", 100)
    with pytest.raises(archives.ArchiveError, match="200 entries"):
        archives.open_zip(_declaring_entries(_zip({"a.jpg": b"x"}), 200))
    assert archives._declared_entries(_zip({"a.jpg": b"x", "b.jpg": b"y"})) == 2

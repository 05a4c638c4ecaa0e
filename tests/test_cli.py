"""The command line: JSON contracts and clear, non-zero exits on bad input."""

import json
import os
import subprocess
import sys
from dataclasses import replace

from conftest import PROJECT_ROOT


def cli(settings, *args):
    env = {
        **os.environ,
        "MONGO_URI": settings.mongo_uri,
        "DB_NAME": settings.db_name,
        "STYLELENS_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300
    )


def test_ingest_search_and_status(settings, catalog_dir):
    done = cli(settings, "ingest", "--images", str(catalog_dir / "images"), "--styles", str(catalog_dir / "styles.csv"))
    assert done.returncode == 0, done.stderr
    assert "24 added" in done.stdout

    found = cli(settings, "search", "--text", "black heels", "--gender", "Women", "--k", "3", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 3 and {"id", "score", "name"} <= set(hits[0])
    assert hits[0]["name"] == "Acme Women Black Heels"

    similar = cli(settings, "search", "--image", str(catalog_dir / "images" / "1003.jpg"), "--k", "2", "--json")
    assert json.loads(similar.stdout)["hits"][0]["id"] == 1003

    status = json.loads(cli(settings, "status", "--json").stdout)
    assert {k: status[k] for k in ("products", "indexed", "index_in_step", "database")} == {
        "products": 24,
        "indexed": 24,
        "index_in_step": True,
        "database": "ok",
    }
    assert status["encoder"] == "baseline@1"


def test_bad_input_exits_non_zero_with_a_message(settings, tmp_path):
    missing = cli(settings, "search", "--image", str(tmp_path / "nope.jpg"), "--json")
    assert missing.returncode == 1 and "No image file" in missing.stderr
    (tmp_path / "styles.csv").write_text("id,name\n1,x\n")
    (tmp_path / "images").mkdir()
    bad_csv = cli(settings, "ingest", "--images", str(tmp_path / "images"), "--styles", str(tmp_path / "styles.csv"))
    assert bad_csv.returncode == 1 and "lacks the column" in bad_csv.stderr
    empty = cli(settings, "search", "--text", "  ")
    assert empty.returncode == 1 and "Type a description" in empty.stderr


def test_unreachable_database_exits_3(settings):
    down = cli(replace(settings, mongo_uri="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300"), "status", "--json")
    assert down.returncode == 3
    assert json.loads(down.stdout)["database"].startswith("The catalog database")

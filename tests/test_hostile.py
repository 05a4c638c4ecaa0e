"""The drills' hostile inputs (benchmarks/hostile.py), every one, against the test catalog: each ends by itself
within 5 s, refused with a message or handled, with no process left and nothing half-written."""

import os
import stat

import pytest

from benchmarks.hostile import Context, hostile_cases, run_case, summary

CASES = hostile_cases()


@pytest.fixture(scope="module")
def hostile_context(tmp_path_factory, mongo_uri, encoder):
    """One engine over the test catalog for all cases (as the app shares one), in its own database."""
    import uuid

    from conftest import write_catalog

    from core.catalog import Catalog
    from core.config import load_settings
    from core.engine import StyleLens

    folder = tmp_path_factory.mktemp("hostile")
    saved = {k: os.environ.get(k) for k in ("MONGO_URI", "DB_NAME", "STYLELENS_DATA_DIR", "PATH")}
    os.environ.update(
        MONGO_URI=mongo_uri, DB_NAME=f"test_{uuid.uuid4().hex[:10]}", STYLELENS_DATA_DIR=str(folder / "data")
    )
    # A Ghostscript that leaves a marker and hangs: if Pillow ever hands a file to it, the case fails.
    fake_bin = folder / "bin"
    fake_bin.mkdir()
    gs = fake_bin / "gs"
    gs.write_text(f"#!/bin/sh\ntouch {folder}/gs-was-run\nsleep 600\n")
    gs.chmod(gs.stat().st_mode | stat.S_IEXEC)
    os.environ["PATH"] = f"{fake_bin}:{os.environ['PATH']}"
    try:
        settings = load_settings()
        lens = StyleLens(settings, Catalog.open(settings), encoder)
        write_catalog(folder / "catalog")
        lens.import_catalog(folder / "catalog" / "images", folder / "catalog" / "styles.csv")
        yield Context(lens, folder / "scratch", ref_id=1000), folder
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_there_are_at_least_60_cases_with_unique_names():
    assert len(CASES) >= 60
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case, hostile_context):
    context, folder = hostile_context
    outcome = run_case(case, context)
    assert outcome.passed, f"{case.name}: {outcome.message}"
    assert outcome.seconds < 5
    assert not (folder / "gs-was-run").exists(), "Ghostscript was started"


def test_summary_counts_each_group():
    from benchmarks.hostile import Outcome

    table = summary(
        [
            Outcome("a", "image", "refused", "", 0.1),
            Outcome("b", "image", "FAILED", "", 2.0),
            Outcome("c", "text", "handled", "", 0.3),
        ]
    )
    assert table["image"] == {"cases": 2, "refused": 1, "handled": 0, "failed": 1, "max_s": 2.0}
    assert table["text"]["handled"] == 1

"""Catalog import: idempotent, updates changed rows, reports bad rows, writes nothing on a bad CSV."""

import io
import shutil
import zipfile

import pytest
from conftest import write_catalog, write_styles

from core.ingest import CatalogFormatError, extract_zip


def import_folder(engine, folder):
    return engine.import_catalog(folder / "images", folder / "styles.csv")


def test_import_then_reimport_changes_nothing(engine, catalog_dir):
    first = import_folder(engine, catalog_dir)
    assert (first.added, first.updated, first.skipped) == (24, 0, [])
    state = engine.catalog.state()
    second = import_folder(engine, catalog_dir)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 24)
    assert engine.catalog.state() == state
    assert engine.catalog.count() == 24 and len(engine.index()) == 24


def test_updated_row_updates_its_product(engine, tmp_path):
    rows = write_catalog(tmp_path / "cat")
    import_folder(engine, tmp_path / "cat")
    rows[0]["productDisplayName"] = "Acme Men Red Tshirts Renamed"
    write_styles(tmp_path / "cat" / "styles.csv", rows)
    report = import_folder(engine, tmp_path / "cat")
    assert (report.added, report.updated, report.unchanged) == (0, 1, 23)
    assert engine.catalog.get([rows[0]["id"]])[0].name == "Acme Men Red Tshirts Renamed"


def test_missing_columns_refuse_the_whole_file(engine, tmp_path):
    rows = write_catalog(tmp_path / "cat")
    write_styles(tmp_path / "cat" / "styles.csv", rows, columns=["id", "gender", "productDisplayName"])
    with pytest.raises(CatalogFormatError, match="masterCategory"):
        import_folder(engine, tmp_path / "cat")
    assert engine.catalog.count() == 0


def test_bad_rows_are_skipped_with_reasons(engine, tmp_path):
    rows = write_catalog(tmp_path / "cat")
    (tmp_path / "cat" / "images" / f"{rows[1]['id']}.jpg").unlink()  # id without image
    (tmp_path / "cat" / "images" / f"{rows[2]['id']}.jpg").write_bytes(b"not a jpeg")  # corrupt image
    duplicate = dict(rows[3], productDisplayName="Second row wins")
    write_styles(tmp_path / "cat" / "styles.csv", rows + [duplicate, dict(rows[4], id="abc")])
    report = import_folder(engine, tmp_path / "cat")
    reasons = dict(report.skipped)
    assert reasons[str(rows[1]["id"])] == "no image file for this id"
    assert "not an image" in reasons[str(rows[2]["id"])]
    assert "duplicate id" in reasons[str(rows[3]["id"])]
    assert any("not a whole number" in r for r in reasons.values())
    assert report.added == 22
    assert engine.catalog.get([rows[3]["id"]])[0].name == "Second row wins"
    assert engine.catalog.get([rows[1]["id"], rows[2]["id"]]) == [None, None]


def test_failed_reimport_keeps_what_was_stored(engine, catalog_dir):
    import_folder(engine, catalog_dir)
    (catalog_dir / "styles.csv").write_text("id;only;semicolons\n1;2;3\n")
    with pytest.raises(CatalogFormatError):
        import_folder(engine, catalog_dir)
    assert engine.catalog.count() == 24 and len(engine.index()) == 24


def test_zip_import_is_safe(engine, catalog_dir, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for image in (catalog_dir / "images").iterdir():
            archive.write(image, f"shop/images/{image.name}")
        archive.write(catalog_dir / "styles.csv", "shop/styles.csv")
        archive.writestr("../../escape.jpg", b"evil")
    images, styles = extract_zip(buffer.getvalue(), tmp_path / "unzipped")
    assert not (tmp_path / "escape.jpg").exists()
    assert engine.import_catalog(images, styles).added == 24


def test_not_a_zip_is_refused(tmp_path):
    with pytest.raises(CatalogFormatError, match="not a valid zip"):
        extract_zip(b"plain bytes", tmp_path)


def test_missing_folder_is_refused(engine, tmp_path):
    shutil.rmtree(tmp_path, ignore_errors=True)
    with pytest.raises(CatalogFormatError, match="No CSV"):
        import_folder(engine, tmp_path / "nowhere")

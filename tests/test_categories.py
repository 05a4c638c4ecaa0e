"""The "top-K categories in a set of images" tool, its CLI and its page, with a tiny checkpoint."""

import io
import json
import zipfile

import pytest

from core.__main__ import main
from core.categories import categorize, image_files, images_in_zip
from core.encoders import load_encoder
from core.encoders.stylelens import Labels, StyleLensModel, TowerConfig, save_checkpoint
from core.errors import ArchiveError
from core.photo_query import PhotoReader
from tests.conftest import draw_product


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    labels = Labels(article_types=("Tshirts", "Heels"), colours=("Red", "Blue"), genders=("Men", "Women"))
    path = tmp_path_factory.mktemp("heads") / "tiny.pt"
    save_checkpoint(
        StyleLensModel(TowerConfig(image_size=32, widths=(8, 8, 16, 16), embed_dim=16), labels).eval(),
        path,
        {"version": "1"},
    )
    return load_encoder(str(path))


def photo_folder(folder):
    (folder / "sub").mkdir(parents=True)
    draw_product("tshirt", (200, 30, 30)).save(folder / "a.jpg")
    draw_product("shoe", (30, 60, 200)).save(folder / "sub" / "b.png")
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return folder


def test_categorize_counts_predictions_and_skips_unreadable_files(tiny_model, tmp_path):
    files = image_files(photo_folder(tmp_path / "photos"))
    assert [f.name for f in files] == ["a.jpg", "broken.jpg", "b.png"]
    report = categorize(PhotoReader(tiny_model), [(f.name, f) for f in files])
    assert [name for name, _ in report.predictions] == ["a.jpg", "b.png"]
    assert [name for name, _ in report.skipped] == ["broken.jpg"]
    top = report.top(5)
    assert sum(c.images for c in top) == 2 and sum(c.share for c in top) == pytest.approx(1.0)
    assert all(0 < c.mean_confidence <= 1 for c in top)
    data = report.to_json(1)
    assert len(data["top"]) == 1 and data["images"] == 2 and data["skipped"][0]["image"] == "broken.jpg"


def test_images_in_zip_reads_only_images():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        image = io.BytesIO()
        draw_product("dress", (0, 0, 0)).save(image, format="PNG")
        archive.writestr("shots/x.png", image.getvalue())
        archive.writestr("readme.md", "hi")
        archive.writestr("__MACOSX/shots/._x.png", "junk")
    assert [name for name, _ in images_in_zip(buffer.getvalue())] == ["shots/x.png"]
    with pytest.raises(ArchiveError, match="not a valid zip"):
        images_in_zip(b"PK nope")


def test_cli_categories_uses_the_bundled_heads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ENCODER_NAME", "baseline")  # no heads: the bundled encoder's are used
    folder = photo_folder(tmp_path / "photos")
    assert main(["categories", str(folder), "--top", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 2 and 1 <= len(out["top"]) <= 2 and len(out["skipped"]) == 1
    assert main(["categories", str(tmp_path / "nowhere")]) == 1
    (tmp_path / "empty").mkdir()
    assert main(["categories", str(tmp_path / "empty")]) == 1

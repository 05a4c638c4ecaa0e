"""Sleeve and garment length: reading requests, resolving them against the reference, the learned head,
stored attributes as first-stage filters, chips, and `python -m core describe`."""

import json

import pytest
import torch
from conftest import store_garment_features
from PIL import Image

import core.attributes
import core.feedback
from core.__main__ import main as cli
from core.attributes import (
    LENGTHS,
    SLEEVES,
    AttributeHead,
    AttributeModel,
    AttributeModelUnavailable,
    load_attribute_model,
    resolve_wish,
    save_attribute_model,
)
from core.feedback import parse_feedback
from core.index import SearchFilter


@pytest.mark.parametrize(
    "text, sleeves, length",
    [
        ("longer sleeves, lighter color", "longer", None),
        ("longr sleves and lighter", "longer", None),  # typos
        ("shorter sleeves", "shorter", None),
        ("sleeveless", "none", None),
        ("no sleeves please", "none", None),
        ("with sleeves", "with", None),
        ("3/4 sleeves", "elbow", None),
        ("long sleeve tshirt for men", "long", None),
        ("a longer dress", None, "longer"),
        ("make it shorter", None, "shorter"),
        ("cropped", None, "cropped"),
        ("full length", None, "full"),
        ("midi skirt", None, "midi"),
        ("red dress with long sleeves, knee length", "long", "knee"),
        ("in navy", None, None),
        ("shorts", None, None),  # a product type, not a length
    ],
)
def test_sleeve_and_length_requests_are_read(text, sleeves, length):
    feedback = parse_feedback(text)
    assert (feedback.sleeves, feedback.length) == (sleeves, length)
    assert not feedback.unseen  # nothing is "not recorded" any more


def test_requests_combine_with_colour_gender_and_type():
    feedback = parse_feedback("longer sleeves, lighter colour, for women, as a top")
    assert (feedback.sleeves, feedback.lightness, feedback.gender, feedback.article_type) == (
        "longer",
        1,
        "Women",
        "Tops",
    )
    assert "longer sleeves" in feedback.describe()


def test_relative_requests_resolve_against_the_reference():
    assert resolve_wish("longer", None, "Tshirts", "short").sleeves == ("elbow", "long")
    assert resolve_wish("shorter", None, "Tshirts", "long").sleeves == ("none", "short", "elbow")
    assert resolve_wish("with", None, "Tops", "none").sleeves == ("short", "elbow", "long")
    already = resolve_wish("longer", None, "Shirts", "long")
    assert already.sleeves == ("long",) and already.notes
    assert resolve_wish("longer", None, "Tshirts", None).sleeves == ("elbow", "long")  # unknown: the long end
    assert resolve_wish(None, "longer", "Dresses", None, "knee").lengths == ("midi", "maxi")
    assert resolve_wish(None, "shorter", "Skirts", None, "maxi").lengths == ("mini", "knee", "midi")
    assert resolve_wish(None, "cropped", "Trousers").lengths == ("cropped",)
    assert resolve_wish(None, "long", "Dresses").lengths == ("midi", "maxi")
    assert resolve_wish(None, "full", "Jeans").lengths == ("full",)
    shoes = resolve_wish(None, "longer", "Casual Shoes")
    assert shoes.lengths == () and shoes.notes  # no length scale for shoes: said, not applied


class TokenEncoder:
    """Stands in for the bundled encoder: 4x4 tokens whose first channel is the image's mean red."""

    model_key = "token-encoder@1"

    def image_grid(self, images, layer=4):
        red = torch.tensor([[float(i.convert("RGB").getpixel((0, 0))[0]) / 255] for i in images])
        tokens = torch.zeros(len(images), 16, 8)
        tokens[:, :, 0] = red
        return tokens


def trained_head() -> AttributeHead:
    """A head taught that red photos have long sleeves and full length, dark ones short sleeves and shorts."""
    torch.manual_seed(0)
    head = AttributeHead(channels=8, reduce=4, hidden=16, dropout=0.0)
    tokens = torch.zeros(64, 16, 8)
    tokens[:32, :, 0] = 1.0
    long_ = torch.tensor([SLEEVES.index("long")] * 32 + [SLEEVES.index("short")] * 32)
    full = torch.tensor([LENGTHS["bottom"].index("full")] * 32 + [LENGTHS["bottom"].index("shorts")] * 32)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.02)
    for _ in range(150):
        out = head(tokens)
        loss = torch.nn.functional.cross_entropy(out["sleeves"], long_) + torch.nn.functional.cross_entropy(
            out["length:bottom"], full
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return head.eval()


def test_the_head_reads_sleeves_for_sleeved_types_and_length_on_each_family_scale(tmp_path):
    path = tmp_path / "attributes.pt"
    save_attribute_model(path, trained_head(), {"version": "t", "encoder": TokenEncoder.model_key})
    model = load_attribute_model(TokenEncoder(), path)
    red, dark = Image.new("RGB", (32, 32), (255, 0, 0)), Image.new("RGB", (32, 32), (0, 0, 0))
    top, trousers, shoe = model.read([red, dark, red], ["Tshirts", "Trousers", "Casual Shoes"])
    assert top.sleeves == "long" and top.family == "top" and top.sleeve_confidence > 0.9
    assert trousers.sleeves is None and trousers.length == "shorts"  # trousers have no sleeves to read
    assert shoe.sleeves is None and shoe.length is None and shoe.family is None
    assert model.key.startswith("garment-attributes@t-")


def test_an_attribute_model_for_another_encoder_or_a_bad_file_is_refused(tmp_path):
    path = tmp_path / "attributes.pt"
    save_attribute_model(path, trained_head(), {"version": "t", "encoder": "someone-else@2"})
    head, record, _ = core.attributes.load_attribute_head(path)
    with pytest.raises(AttributeModelUnavailable, match="someone-else"):
        AttributeModel(head, TokenEncoder(), record)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AttributeModelUnavailable):
        load_attribute_model(TokenEncoder(), tmp_path / "junk.pt")
    with pytest.raises(AttributeModelUnavailable, match="missing"):
        load_attribute_model(TokenEncoder(), tmp_path / "absent.pt")


def store_tee_sleeves(engine, sleeves_of: dict[int, str], lightness_of: dict[int, float] | None = None) -> list:
    """Store sleeves for the test catalog's T-shirts and none for the rest (what each product's photo shows is
    then known exactly); returns the T-shirts."""
    products = engine.catalog.browse(limit=500)
    store_garment_features(
        engine,
        {p.id: sleeves_of.get(p.id, "short") if p.article_type == "Tshirts" else None for p in products},
        lightness_of,
    )
    return [p for p in products if p.article_type == "Tshirts"]


def test_longer_sleeves_filters_the_first_stage_by_stored_sleeves(loaded_engine):
    tees = [p for p in loaded_engine.catalog.browse(limit=500) if p.article_type == "Tshirts"]
    reference, long_ones = tees[0], {p.id for p in tees[1:3]}
    store_tee_sleeves(loaded_engine, {i: "long" for i in long_ones})
    result = loaded_engine.search_composed("longer sleeves", ref_id=reference.id, k=5)
    assert {h.product.id for h in result.hits} == long_ones  # only the long-sleeved T-shirts, though k is 5
    assert any("Only 2 products" in n for n in result.notes)
    assert result.wish.sleeves == ("elbow", "long") and result.reference.sleeves == "short"
    assert all(chips == [core.feedback.Chip("longer sleeves", True)] for chips in result.chips.values())
    data = result.to_json()
    assert data["wish"]["sleeves"] == ["elbow", "long"] and data["reference"]["sleeves"] == "short"
    assert data["hits"][0]["chips"] == [{"label": "longer sleeves", "ok": True}]
    assert not any("does not record" in n for n in result.notes)


def test_a_request_nothing_meets_is_said_and_kept_as_a_preference(loaded_engine):
    tees = store_tee_sleeves(loaded_engine, {})
    result = loaded_engine.search_composed("sleeveless", ref_id=tees[0].id, k=3)
    assert len(result.hits) == 3 and any("No product here is recorded as sleeveless:" in n for n in result.notes)
    assert all(not chip.ok for chips in result.chips.values() for chip in chips)


def test_search_and_catalog_filter_on_stored_attributes(loaded_engine):
    tees = [p for p in loaded_engine.catalog.browse(limit=500) if p.article_type == "Tshirts"]
    store_tee_sleeves(loaded_engine, {tees[0].id: "long"})
    found = loaded_engine.search_text("t-shirt", k=5, where=SearchFilter.make(sleeves="long"))
    assert [h.product.id for h in found.hits] == [tees[0].id]
    assert [h.product.id for h in loaded_engine.search_text("long sleeve t-shirt", k=5).hits] == [tees[0].id]
    assert [p.id for p in loaded_engine.catalog.browse(sleeves="long")] == [tees[0].id]
    assert loaded_engine.catalog.counts_by("sleeves", article_type="Tshirts") == {"long": 1, "short": len(tees) - 1}


def test_cli_describe_prints_one_object_per_product_or_photo(loaded_engine, tmp_path, capsys, monkeypatch):
    tees = [p for p in loaded_engine.catalog.browse(limit=500) if p.article_type == "Tshirts"]
    store_tee_sleeves(loaded_engine, {tees[0].id: "long"})
    monkeypatch.setattr("core.__main__._engine", lambda: loaded_engine)
    assert cli(["describe", "--ref-id", str(tees[0].id), "--ref-id", "999999", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["id"] == tees[0].id and lines[0]["sleeves"] == "long" and lines[0]["article_type"] == "Tshirts"
    assert set(lines[0]) >= {"article_type", "article_type_score", "colour", "sleeves", "sleeve_confidence", "length"}
    assert "no product" in lines[1]["error"]
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(folder / "a.jpg")
    (folder / "b.jpg").write_bytes(b"not an image")
    assert cli(["describe", "--image", str(folder), "--json"]) == 0
    a, b = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert a["image"].endswith("a.jpg") and a["colour"].startswith("#") and "sleeves" in a
    assert b["image"].endswith("b.jpg") and "error" in b


def test_without_the_attribute_model_the_geometric_estimate_is_stored_and_filters_still_work(
    settings, encoder, catalog_dir, tmp_path, monkeypatch
):
    from core.catalog import Catalog
    from core.engine import StyleLens
    from core.garment_features import EXTRACTOR_VERSION

    monkeypatch.setattr(core.attributes, "BUNDLED_ATTRIBUTE_MODEL", tmp_path / "absent.pt")
    engine = StyleLens(settings, Catalog.open(settings), encoder)
    engine.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    assert engine.attribute_model() is None and engine.features_version() == EXTRACTOR_VERSION
    tees = [p for p in engine.catalog.browse(limit=500) if p.article_type == "Tshirts"]
    store_tee_sleeves(engine, {tees[0].id: "long"})
    found = engine.search_text("t-shirt", k=5, where=SearchFilter.make(sleeves="long"))
    assert [h.product.id for h in found.hits] == [tees[0].id]


def test_an_uploaded_reference_keeps_the_type_read_from_it_when_a_cut_is_asked(loaded_engine, monkeypatch):
    from dataclasses import replace

    from conftest import draw_product

    products = loaded_engine.catalog.browse(limit=500)
    store_garment_features(loaded_engine, {p.id: "long" for p in products})  # every product long-sleeved
    read = loaded_engine.read_photos

    def sure_it_is_a_tshirt(pictures):
        return [replace(photo, type_prior={"Tshirts": 0.9, "Shirts": 0.1}) for photo in read(pictures)]

    monkeypatch.setattr(loaded_engine, "read_photos", sure_it_is_a_tshirt)
    photo = draw_product("tshirt", (20, 20, 60))
    result = loaded_engine.search_composed("longer sleeves", image=photo, k=20)
    assert result.hits and {h.product.article_type for h in result.hits} <= {"Tshirts", "Tops"}
    plain = loaded_engine.search_composed("in red", image=photo, k=20)  # no cut asked: no type kept
    assert {h.product.article_type for h in plain.hits} - {"Tshirts", "Tops"}


def test_an_import_reads_each_photo_through_the_backbone_once_for_its_vector_and_features(
    settings, catalog_dir, tmp_path, monkeypatch
):
    """With an encoder that offers the shared pass (the bundled kind), an import's vectors and features are
    those of the separate paths (embed_catalog; extract + read), stored in one write per product."""
    import numpy as np

    from core.attributes import AttributeEnsemble
    from core.catalog import Catalog
    from core.encoders.stylelens import Labels, StyleLensEncoder, StyleLensModel, TowerConfig, save_checkpoint
    from core.engine import StyleLens
    from core.garment_features import extract
    from core.images import load_image

    torch.manual_seed(0)
    labels = Labels(article_types=("Tshirts", "Dresses"), colours=("Red", "Blue"), genders=("Men", "Women"))
    config = TowerConfig(image_size=32, widths=(8, 8, 16, 16), embed_dim=16, text_hidden=32, caption_weight=1.0)
    save_checkpoint(StyleLensModel(config, labels).eval(), tmp_path / "tiny.pt", {"version": "1"})
    encoder = StyleLensEncoder(tmp_path / "tiny.pt", "tiny")
    head = AttributeEnsemble(members=1, layer=3, channels=16, cells=4, reduce=4, hidden=16).eval()
    model = AttributeModel(head, encoder, {"encoder": encoder.model_key, "version": "t"})
    engine = StyleLens(settings, Catalog.open(settings), encoder)
    engine._attributes = model

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the import embedded a photo apart from reading its attributes")

    monkeypatch.setattr(encoder, "embed_images", no_second_pass)
    report = engine.import_catalog(catalog_dir / "images", catalog_dir / "styles.csv")
    assert report.added == 24 and report.skipped == []
    monkeypatch.undo()

    products, vectors = engine.catalog.embeddings(encoder.model_key)
    images = [load_image(engine.image_path(p)) for p in products]
    expected = encoder.embed_catalog(images, [p.caption for p in products])
    assert np.allclose(vectors, expected, atol=1e-5)
    stored = engine.catalog.features([p.id for p in products])
    read = model.read(images, [p.article_type for p in products])
    for product, image, attributes in zip(products, images, read):
        assert stored[product.id] == extract(image).with_attributes(attributes, engine.features_version()).to_doc()
    assert engine.catalog.ids_without_features(engine.features_version()) == []


def test_a_length_already_at_its_end_is_said_in_words():
    from core.attributes import resolve_wish

    wish = resolve_wish(None, "longer", "Jeans", reference_length="full")
    assert wish.lengths == ("full",) and wish.notes == ("The reference is already full length: kept its length.",)

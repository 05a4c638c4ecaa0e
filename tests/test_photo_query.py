"""The one photo path: segmentation, colour from the garment's pixels, the type prior, and every photo
search (Search, Shop the Look, Refine with an upload, categories, evaluate) going through it."""

import json

import numpy as np
import pytest
from conftest import draw_product
from PIL import Image, ImageDraw

from core.catalog import Product
from core.categories import categorize
from core.evaluation import evaluate, read_queries
from core.index import Neighbour, VectorIndex
from core.photo_query import PhotoReader, garment_colour, rescore

RED, GREEN = (200, 20, 20), (40, 160, 60)


def red_square_on_green(size: int = 100) -> Image.Image:
    picture = Image.new("RGB", (size, size), GREEN)
    ImageDraw.Draw(picture).rectangle([30, 30, 59, 59], fill=RED)  # 9% of the photo
    return picture


class SquareSegmenter:
    """Stands in for the trained segmenter: the garment is whatever is red."""

    def __init__(self):
        self.calls = 0

    def masks(self, images):
        self.calls += len(images)
        return [np.asarray(image.convert("RGB"))[..., 0] > 150 for image in images]


class SpyEncoder:
    """Wraps an encoder and keeps the pictures it was asked to embed."""

    def __init__(self, encoder):
        self.inner, self.seen = encoder, []
        self.name, self.model_key, self.dim = encoder.name, encoder.model_key, encoder.dim

    def embed_images(self, images):
        self.seen.extend(images)
        return self.inner.embed_images(images)

    def embed_texts(self, texts):
        return self.inner.embed_texts(texts)

    def embed_catalog(self, images, captions):
        return self.inner.embed_catalog(images, captions)


def test_colour_is_read_from_the_garment_pixels_only():
    picture = red_square_on_green()
    mask = np.asarray(picture)[..., 0] > 150
    assert garment_colour(picture, mask) == RED
    assert garment_colour(picture, None) == GREEN  # without a mask the background wins


def test_the_reader_embeds_the_garment_cut_out_on_white(encoder):
    spy, segmenter = SpyEncoder(encoder), SquareSegmenter()
    photo = PhotoReader(spy, segmenter, embed="cutout").read([red_square_on_green()])[0]
    assert photo.segmented and photo.colour == RED and photo.mask.shape == (100, 100)
    embedded = np.asarray(spy.seen[0])
    assert spy.seen[0] is photo.cutout and embedded.shape[:2] == (34, 34)  # the 30-pixel garment + 2 a side
    assert tuple(embedded[0, 0]) == (255, 255, 255) and tuple(embedded[17, 17]) == RED
    assert photo.vector.shape == (encoder.dim,) and np.isclose(np.linalg.norm(photo.vector), 1, atol=1e-5)
    assert photo.type_prior == {}  # the baseline encoder has no type head


def test_embed_modes_photo_and_both(encoder):
    picture = red_square_on_green()
    cutout = PhotoReader(encoder, SquareSegmenter(), embed="cutout").read([picture])[0]
    whole = PhotoReader(encoder, SquareSegmenter(), embed="photo").read([picture])[0]
    both = PhotoReader(encoder, SquareSegmenter(), embed="both").read([picture])[0]
    assert whole.segmented and whole.colour == RED  # the mask still gives the colour
    assert np.allclose(whole.vector, PhotoReader(encoder).read([picture])[0].vector)  # the photo as it came
    from core.encoders import l2_normalize

    assert np.allclose(both.vector, l2_normalize((cutout.vector + whole.vector)[None])[0], atol=1e-5)
    with pytest.raises(ValueError, match="embed must be one of"):
        PhotoReader(encoder, embed="crop")


def test_without_a_trusted_mask_the_photo_is_embedded_as_it_is(encoder):
    spy = SpyEncoder(encoder)
    green = Image.new("RGB", (60, 60), GREEN)  # nothing red: an empty mask
    photo = PhotoReader(spy, SquareSegmenter()).read([green])[0]
    assert not photo.segmented and spy.seen[0] is green and photo.colour == GREEN


def test_mirrored_photo_is_averaged_in(encoder):
    picture = draw_product("shoe", RED, size=96)  # not symmetric
    plain = PhotoReader(encoder).read([picture])[0].vector
    flipped = PhotoReader(encoder, flip=True).read([picture])[0].vector
    assert not np.allclose(plain, flipped) and np.isclose(np.linalg.norm(flipped), 1, atol=1e-5)


def _index(types: list[str], vectors: np.ndarray) -> VectorIndex:
    products = [Product(i, f"p{i}", "Women", "Apparel", "Topwear", kind, "Red") for i, kind in enumerate(types)]
    return VectorIndex.build(products, vectors, "test@1", "state")


def test_the_type_prior_reorders_candidates():
    index = _index(["Tshirts", "Dresses", "Dresses"], np.eye(3, dtype=np.float32))
    found = [Neighbour(0, 0.9), Neighbour(1, 0.8), Neighbour(2, 0.5)]
    ranked = rescore(found, index, {"Dresses": 0.9, "Tshirts": 0.1}, weight=0.3)
    assert [n.id for n in ranked] == [1, 0, 2]
    assert ranked[0].score == pytest.approx(0.8 + 0.27)
    assert rescore(found, index, {}, 0.3) == found and rescore(found, index, {"Dresses": 1.0}, 0.0) == found


def test_index_reads_stored_attributes_by_id():
    index = _index(["Tshirts", "Dresses", "Jeans"], np.eye(3, dtype=np.float32))
    assert index.values_of("article_type", [2, 0, 99]) == ["Jeans", "Tshirts", ""]


def test_every_photo_search_goes_through_the_one_path(loaded_engine, catalog_dir, tmp_path, encoder):
    """Search by photo, Refine with an uploaded photo, evaluate and categories all call the same reader."""
    calls = []

    class CountingReader(PhotoReader):
        def read(self, pictures):
            calls.append(len(pictures))
            return super().read(pictures)

    loaded_engine.set_photo_reader(CountingReader(loaded_engine.encoder, SquareSegmenter()))
    photo = red_square_on_green()
    result = loaded_engine.search_image(photo, k=3)
    assert result.photo is not None and result.photo.colour == RED and result.to_json()["photo"]["segmented"]
    refined = loaded_engine.search_composed("", image=photo, k=3)  # Refine: an uploaded reference, no text
    assert refined.hits and refined.photo is not None and refined.photo.colour == RED
    photo.save(tmp_path / "q.png")
    (tmp_path / "q.jsonl").write_text(json.dumps({"image": "q.png", "relevant_ids": [1000]}) + "\n")
    queries, _ = read_queries(tmp_path / "q.jsonl")
    assert evaluate(loaded_engine, queries, k=50).outcomes
    with_text = loaded_engine.search_composed("in blue", image=photo, k=3)  # the reference as read, kept too
    assert with_text.photo is not None and with_text.photo.segmented
    assert calls == [1, 1, 1, 1]
    reader = CountingReader(loaded_engine.encoder, SquareSegmenter())
    categorize(reader, [("a.png", tmp_path / "q.png")])
    assert calls[-1] == 1


def test_a_red_garment_on_green_finds_red_products(loaded_engine):
    """Embedding the cut-out (embed="cutout"), the background no longer colours the result."""
    picture = Image.new("RGB", (150, 150), GREEN)
    picture.paste(
        draw_product("dress", RED, size=100).convert("RGB"),
        (25, 25),
        Image.fromarray((np.asarray(draw_product("dress", RED, size=100))[..., 1] < 128).astype(np.uint8) * 255),
    )
    loaded_engine.set_photo_reader(PhotoReader(loaded_engine.encoder, SquareSegmenter(), embed="cutout"))
    top = loaded_engine.search_image(picture, k=1).hits[0].product
    assert (top.article_type, top.base_colour) == ("Dresses", "Red")


def test_the_likeliest_types_join_the_candidates(loaded_engine, monkeypatch):
    """A photo whose nearest products are all of another type still finds the type its head names."""
    from core.photo_query import PhotoQuery, likely_types

    monkeypatch.setattr("core.engine.search.PRIOR_DEPTH", 1)  # the first stage alone holds only the jeans

    index = loaded_engine.index()
    jeans = next(i for i in index.ids if index.values_of("article_type", [i])[0] == "Jeans")
    vector = index.index.reconstruct(int(np.flatnonzero(index.ids == jeans)[0]))  # exactly a pair of jeans
    prior = {"Dresses": 0.5, "Jeans": 0.3, "Heels": 0.05}
    assert likely_types(prior) == ("Dresses", "Jeans")
    photo = PhotoQuery(vector, prior, None, (0, 0, 0), Image.new("RGB", (8, 8)))
    loaded_engine.set_photo_reader(PhotoReader(loaded_engine.encoder, prior_weight=2.0))
    assert [n.id for n in index.search(vector, 1)] == [jeans]
    found = loaded_engine.photo_neighbours(photo, k=1)
    assert index.values_of("article_type", [found[0].id]) == ["Dresses"]
    loaded_engine.set_photo_reader(PhotoReader(loaded_engine.encoder, prior_weight=0.0))
    assert loaded_engine.photo_neighbours(photo, k=1)[0].id == jeans  # no prior: the nearest product

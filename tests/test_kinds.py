"""The garment-kind classifier (core/kinds.py), its training pieces (training/train_kind.py) and its place in
the photo path: the type prior of photo queries and the article type the photo is said to show."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from core.config import load_settings
from core.encoders import load_encoder
from core.encoders.stylelens import Labels, StyleLensModel, TowerConfig, save_checkpoint
from core.errors import ModelUnavailable
from core.kinds import KindConfig, KindModel, KindNet, configured_kind_model, save_kind_model
from core.photo_query import PhotoReader, configured_reader
from tests.conftest import draw_product
from training.train_kind import Samples, TrainConfig, accepted_loss, batches, random_crop, real_weights

TYPES = ("Tshirts", "Heels", "Dresses")


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    labels = Labels(article_types=TYPES, colours=("Red", "Blue"), genders=("Men", "Women"))
    path = tmp_path_factory.mktemp("encoder") / "tiny.pt"
    torch.manual_seed(0)
    model = StyleLensModel(TowerConfig(image_size=32, widths=(8, 8, 16, 16), embed_dim=16), labels).eval()
    save_checkpoint(model, path, {"version": "1"})
    return model, load_encoder(str(path))


def test_a_classifier_made_from_the_encoder_starts_as_its_article_head(tiny_encoder, tmp_path):
    model, encoder = tiny_encoder
    net = KindNet.from_encoder(model, image_size=32)
    path = tmp_path / "kind.pt"
    save_kind_model(net, path, {"version": "1"})
    kinds = KindModel(path, centre_crop=1.0)
    photos = [draw_product("tshirt", (200, 30, 30)), draw_product("shoe", (30, 60, 200))]
    head = encoder.article_distributions(encoder.embed_images(photos))
    unmirrored = np.concatenate([kinds._probabilities([p]) for p in photos])
    assert kinds.article_types == TYPES
    assert np.allclose(unmirrored, head, atol=1e-5)
    mirrored = kinds.distributions(photos)  # the bundled config averages with the mirror image, in one pass
    flipped = np.concatenate([kinds._probabilities([ImageOps.mirror(p)]) for p in photos])
    assert mirrored.shape == (2, 3) and np.allclose(mirrored.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(mirrored, (unmirrored + flipped) / 2, atol=1e-5)


def test_the_served_classifier_also_reads_the_centre_of_the_photo_and_its_mirror_image(tiny_encoder, tmp_path):
    from core.kinds import CENTRE_CROP, centre

    model, _ = tiny_encoder
    path = tmp_path / "kind.pt"
    save_kind_model(KindNet.from_encoder(model, image_size=32), path, {"version": "1"})
    kinds = KindModel(path)
    photo = Image.new("RGB", (200, 100), "white")
    photo.paste((200, 30, 30), (0, 0, 12, 100))  # a red band only the whole photo shows
    middle = centre(photo, 0.8)
    assert middle.size == (160, 80) and middle.getpixel((0, 0)) == (255, 255, 255)
    assert kinds.centre_crop == CENTRE_CROP < 1.0 and len(kinds.views([photo])) == 4
    views = [photo, centre(photo, CENTRE_CROP)]
    views += [ImageOps.mirror(v) for v in views]
    expected = np.mean([kinds._probabilities([v])[0] for v in views], axis=0)
    assert np.allclose(kinds.distributions([photo])[0], expected, atol=1e-5)
    assert not np.allclose(kinds.distributions([photo]), KindModel(path, centre_crop=1.0).distributions([photo]))
    assert centre(Image.new("RGB", (3, 3)), 0.1).size == (1, 1)  # never an empty crop
    with pytest.raises(ValueError, match="centre_crop"):
        KindModel(path, centre_crop=0.0)


class FixedKinds:
    """A kind classifier that always says: a dress, surely."""

    article_types = TYPES

    def distributions(self, images):
        return np.tile(np.array([0.05, 0.05, 0.9], np.float32), (len(images), 1))


def test_the_kind_classifier_gives_the_prior_and_the_kind_the_photo_shows(tiny_encoder):
    _, encoder = tiny_encoder
    photo = draw_product("tshirt", (200, 30, 30))
    plain = PhotoReader(encoder).read([photo])[0]
    assert set(plain.type_prior) == set(TYPES)  # without a classifier: the encoder's head
    read = PhotoReader(encoder, kinds=FixedKinds()).read([photo])[0]
    assert read.type_prior == pytest.approx({"Tshirts": 0.05, "Heels": 0.05, "Dresses": 0.9})
    assert read.prediction.article_type == "Dresses"
    assert read.prediction.article_type_score == pytest.approx(0.9)
    assert read.prediction.top_article_types[0] == ("Dresses", pytest.approx(0.9))
    assert read.prediction.colour == plain.prediction.colour  # the other heads stay the encoder's
    assert np.allclose(read.vector, plain.vector)  # the vector searched with does not change


def test_the_prior_can_mix_the_classifier_with_the_encoder_head(tiny_encoder):
    _, encoder = tiny_encoder
    photo = draw_product("tshirt", (200, 30, 30))
    head = PhotoReader(encoder).read([photo])[0].type_prior
    mixed = PhotoReader(encoder, kinds=FixedKinds(), head_share=0.25).read([photo])[0]
    fixed = dict(zip(TYPES, (0.05, 0.05, 0.9)))
    assert mixed.type_prior == pytest.approx({t: 0.75 * fixed[t] + 0.25 * head[t] for t in TYPES}, abs=1e-6)
    assert sum(mixed.type_prior.values()) == pytest.approx(1.0, abs=1e-5)
    assert mixed.prediction.article_type_score == pytest.approx(max(mixed.type_prior.values()), abs=1e-6)
    alone = PhotoReader(encoder, kinds=FixedKinds(), head_share=0.0).read([photo])[0]
    assert alone.type_prior == pytest.approx(fixed)
    with pytest.raises(ValueError):
        PhotoReader(encoder, kinds=FixedKinds(), head_share=1.5)


def test_the_app_uses_the_classifier_only_with_an_encoder_of_the_same_types(monkeypatch, tmp_path, tiny_encoder):
    model, encoder = tiny_encoder
    path = tmp_path / "kind.pt"
    save_kind_model(KindNet.from_encoder(model, 32), path, {"version": "1"})
    monkeypatch.setenv("KIND_MODEL", str(path))
    assert configured_reader(encoder, load_settings()).kinds is not None  # same article types: it stands in
    baseline = load_encoder("baseline")
    assert configured_reader(baseline, load_settings()).kinds is None  # no heads: the baseline stays unlearned
    assert PhotoReader(baseline).read([draw_product("dress", (10, 10, 10))])[0].type_prior == {}
    other = StyleLensModel(model.config, Labels(("Jeans", "Caps"), ("Red", "Blue"), ("Men", "Women"))).eval()
    other_path = tmp_path / "other.pt"
    save_checkpoint(other, other_path, {"version": "1"})
    assert configured_reader(load_encoder(str(other_path)), load_settings()).kinds is None  # other labels: its head
    monkeypatch.setenv("KIND_MODEL", "off")
    assert configured_reader(encoder, load_settings()).kinds is None


def test_kind_model_setting(monkeypatch, tmp_path, tiny_encoder):
    monkeypatch.setenv("KIND_MODEL", "off")
    assert configured_kind_model(load_settings()) is None
    monkeypatch.setenv("KIND_MODEL", str(tmp_path / "missing.pt"))
    with pytest.raises(ModelUnavailable, match="no such file"):
        configured_kind_model(load_settings())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    monkeypatch.setenv("KIND_MODEL", str(tmp_path / "junk.pt"))
    with pytest.raises(ModelUnavailable):
        configured_kind_model(load_settings())
    damaged = KindNet.from_encoder(tiny_encoder[0], 32)
    damaged.config = KindConfig(image_size=32, widths=(8, 8, 16), embed_dim=16)  # a config that cannot build it
    save_kind_model(damaged, tmp_path / "damaged.pt", {"version": "1"})
    monkeypatch.setenv("KIND_MODEL", str(tmp_path / "damaged.pt"))
    with pytest.raises(ModelUnavailable, match="damaged"):
        configured_kind_model(load_settings())
    path = tmp_path / "mine.pt"
    save_kind_model(KindNet.from_encoder(tiny_encoder[0], 32), path, {"version": "1"})
    monkeypatch.setenv("KIND_MODEL", str(path))
    assert configured_kind_model(load_settings()).article_types == TYPES


def test_the_loss_accepts_any_of_the_accepted_types():
    accepted = torch.tensor([[True, True, False]])
    on_second = torch.tensor([[0.0, 8.0, 0.0]])
    on_third = torch.tensor([[0.0, 0.0, 8.0]])
    assert accepted_loss(on_second, accepted, 0.0) < 0.01  # the second type is as good as the first
    assert accepted_loss(on_third, accepted, 0.0) > 7.0
    assert accepted_loss(on_second, accepted, 0.1) > accepted_loss(on_second, accepted, 0.0)  # smoothing


def test_rare_kinds_are_drawn_more_often_and_crops_stay_inside_the_photo():
    weights = real_weights(["Dress"] + ["T-Shirt"] * 9)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[0] == pytest.approx(3 * weights[1])  # 1/sqrt(1) vs 1/sqrt(9)
    pixels = torch.zeros(4, 3, 32, 32)
    pixels[:, 0] = 1.0  # a red photo: any crop of it stays red, no border colour comes in
    cropped = random_crop(pixels, torch.Generator().manual_seed(0))
    assert cropped.shape == pixels.shape and torch.allclose(cropped, pixels)


def test_a_few_steps_learn_to_tell_two_constructed_kinds_apart(tiny_encoder):
    model, _ = tiny_encoder
    torch.manual_seed(0)
    net = KindNet.from_encoder(model, image_size=32).train()
    shirts = [np.asarray(draw_product("tshirt", (200, 30, 30)).resize((32, 32))) for _ in range(12)]
    shoes = [np.asarray(draw_product("shoe", (30, 60, 200)).resize((32, 32))) for _ in range(12)]
    accepted = torch.zeros(24, 3, dtype=torch.bool)
    accepted[:12, 0] = accepted[12:, 1] = True
    samples = Samples(torch.from_numpy(np.stack(shirts + shoes)), accepted, ["T-Shirt"] * 12 + ["Shoes"] * 12)
    patches = torch.full((2, 3, 32, 32), 0.5)
    data = {"photos": samples, "street": samples, "catalog": samples}
    config = TrainConfig(size=32, batch=12, catalog_per_epoch=12)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    rng, generator = np.random.default_rng(0), torch.Generator().manual_seed(0)
    for _ in range(12):
        for pixels, wanted in batches(data, config, rng, generator, patches):
            loss = accepted_loss(net(pixels), wanted, 0.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    net.eval()
    photos = [Image.fromarray(shirts[0]), Image.fromarray(shoes[0])]
    from core.encoders.stylelens import preprocess

    with torch.no_grad():
        predicted = net(preprocess(photos, 32)).argmax(dim=1).tolist()
    assert predicted == [0, 1]


def test_a_head_mix_needs_an_encoder_speaking_the_classifiers_types(tiny_encoder):
    _, encoder = tiny_encoder

    class OtherKinds(FixedKinds):
        article_types = ("Tshirts", "Dresses", "Heels")  # same names, other order

    with pytest.raises(ValueError):
        PhotoReader(encoder, kinds=OtherKinds(), head_share=0.5)
    assert PhotoReader(encoder, kinds=OtherKinds()).head_share == 0.0  # no mix: the classifier alone is fine

"""The artifact registry: every shipped model has its weights, its one loader and a card whose key figures
`python -m core models` lists; the bundled paths of core/ all come from it."""

import json

import pytest

from core.__main__ import main
from core.artifacts import ARTIFACTS, TrainingRecord, key_figures, path_of, with_key_figures


def test_every_shipped_model_has_weights_a_card_and_key_figures():
    for artifact in ARTIFACTS.values():
        assert artifact.path.is_file(), artifact.name
        figures = key_figures(artifact.card)
        assert figures and all(value[:1].isdigit() for value in figures.values()), artifact.name


def test_the_bundled_paths_of_core_come_from_the_registry():
    import core.attributes
    import core.composer
    import core.encoders
    import core.kinds
    import core.look.gender
    import core.look.shop
    import core.rerank
    import core.segment

    assert core.encoders.BUNDLED_CHECKPOINT == path_of("stylelens-small")
    assert core.composer.BUNDLED_COMPOSER == path_of("composer-small")
    assert core.rerank.BUNDLED_RERANKER == path_of("reranker-small")
    assert core.attributes.BUNDLED_ATTRIBUTE_MODEL == path_of("garment-attributes")
    assert core.segment.BUNDLED_SEGMENTER == path_of("garment-segmenter")
    assert core.kinds.BUNDLED_KIND_MODEL == path_of("garment-kind")
    assert core.look.shop.DETECTOR_WEIGHTS == path_of("garment-detector")
    assert core.look.gender.BUNDLED_GENDER_MODEL == path_of("gender-probe")
    with pytest.raises(KeyError):
        path_of("no-such-model")


def test_models_lists_them_with_their_key_figures(capsys):
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)["models"]}
    assert set(models) == set(ARTIFACTS)
    reranker = models["reranker-small"]
    assert reranker["present"] and reranker["card"] == "assets/reranker-small.md"
    assert reranker["loader"] == "core.rerank:load_reranker"
    assert reranker["key_figures"] == key_figures(ARTIFACTS["reranker-small"].card)


def test_a_card_rendered_with_key_figures_reads_back_and_records_are_typed(tmp_path):
    card = tmp_path / "m.md"
    card.write_text(
        with_key_figures(
            "# Model card: m\n\nWhat it is.\n\n## Measured\n| a | b |\n",
            {"recall@10 on held-out photos": "0.700 (baseline 0.500)"},
        )
    )
    assert key_figures(card) == {"recall@10 on held-out photos": "0.700 (baseline 0.500)"}
    assert key_figures(tmp_path / "missing.md") == {}
    record = TrainingRecord.from_dict(
        {"command": "python -m training.x", "version": 3, "minutes": 2.5, "history": [1, 2]}
    )
    assert record.version == "3" and record.minutes == 2.5 and record.extra == {"history": [1, 2]}
    assert record.to_json() == {"command": "python -m training.x", "version": "3", "minutes": 2.5}

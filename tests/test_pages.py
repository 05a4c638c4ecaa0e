"""The pages, run headless through Streamlit's AppTest against the test database."""

import io

import pytest
from conftest import PROJECT_ROOT, draw_product
from streamlit.testing.v1 import AppTest

TIMEOUT = 120


def _truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    draw_product("dress", (200, 0, 0), size=300).save(buffer, format="JPEG")
    return buffer.getvalue()[:1500]


TRUNCATED_JPEG = _truncated_jpeg()


def page(name: str) -> AppTest:
    """The app, opened on page `name` (a path like "pages/search.py"), as a user following a link would."""
    at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=TIMEOUT)
    return at if name == "app.py" else at.switch_page(name)


def texts(at: AppTest) -> str:
    parts = [
        e.value for kind in ("markdown", "caption", "info", "warning", "error", "success") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_home_on_an_empty_catalog_says_how_to_import(settings):
    at = page("app.py").run()
    assert not at.exception
    assert "The catalog is empty" in texts(at)
    assert at.metric[1].value == "0"


def test_home_shows_catalog_and_index_state(loaded_engine):
    at = page("app.py").run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["Products"] == "24" and values["Indexed"] == "24" and values["Database"] == "reachable"


def test_text_search_shows_a_grid(loaded_engine):
    at = page("pages/search.py").run()
    at.text_input(key="text").input("green jeans for men")
    at.button[0].click().run()
    assert not at.exception
    assert "Acme Men Green Jeans" in texts(at)


@pytest.mark.parametrize(
    "query, message",
    [
        (("text", ""), "Type a description"),
        (("text", "red " * 3000), "only the first 500"),
        (("image", TRUNCATED_JPEG), "damaged or truncated"),
        (("image", b"hello"), "not an image"),
        (("image", b"%!PS\n{ } loop\n"), "not an image"),  # PostScript named .jpg: never handed to Ghostscript
        (("text", '{"$where": "sleep(100000)"}'), "Timing"),
    ],
)
def test_search_bad_input_gives_a_message(loaded_engine, query, message):
    at = page("pages/search.py")
    at.session_state["query"] = query
    at.run()
    assert not at.exception
    assert message in texts(at)


@pytest.mark.parametrize("people", [0, 1])
def test_search_by_a_photo_of_a_person_offers_shop_the_look(loaded_engine, monkeypatch, people):
    import io

    import ui.state
    from core.look.pose import PoseVerdict
    from tests.conftest import draw_product

    class Pose:
        def verdict(self, image):
            return PoseVerdict(bool(people), bool(people), (), people=people)

    monkeypatch.setattr(ui.state, "pose_model", lambda: Pose())
    buffer = io.BytesIO()
    draw_product("dress", (200, 40, 40)).save(buffer, format="PNG")
    at = page("pages/search.py")
    at.session_state["query"] = ("image", buffer.getvalue())
    at.run()
    assert not at.exception
    offered = [b for b in at.button if b.label == "Shop the Look with this photo"]
    assert ("**Shop the Look** finds each garment" in texts(at)) == bool(people) and len(offered) == people
    if people:
        offered[0].click().run()
        assert at.session_state["look_photo"] == ("upload", buffer.getvalue())


def test_more_like_this_searches_by_that_product(loaded_engine):
    at = page("pages/search.py")
    at.session_state["query"] = ("similar", 1007)
    at.run()
    assert not at.exception
    assert "Products like **Acme Women Blue Dresses**" in texts(at)


def test_catalog_page_imports_a_folder_and_browses(settings, catalog_dir):
    at = page("pages/catalog.py").run()
    assert "The catalog is empty" in texts(at)
    at.text_input[0].input(str(catalog_dir))
    next(b for b in at.button if b.label == "Import folder").click().run()
    assert not at.exception
    assert "24 added" in texts(at)
    at = page("pages/catalog.py").run()
    assert "24 products" in texts(at) and "Acme Men Red Tshirts" in texts(at)


def test_catalog_page_reports_a_bad_folder(settings, tmp_path):
    at = page("pages/catalog.py").run()
    at.text_input[0].input(str(tmp_path / "nowhere"))
    next(b for b in at.button if b.label == "Import folder").click().run()
    assert not at.exception and "No CSV file" in texts(at)


@pytest.mark.parametrize(
    "name", ["app.py", "pages/search.py", "pages/catalog.py", "pages/evaluate.py", "pages/refine.py"]
)
def test_pages_say_when_the_database_is_down(monkeypatch, tmp_path, name):
    monkeypatch.setenv("MONGO_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300")
    monkeypatch.setenv("STYLELENS_DATA_DIR", str(tmp_path))
    at = page(name).run()
    assert not at.exception
    assert "database is unavailable" in texts(at)


def test_evaluate_page_runs_a_query_file_and_draws_curves_and_map(loaded_engine, tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text(
        '{"text": "Acme Men Red Tshirts", "relevant_ids": [1000], "kind": "text"}\n'
        '{"ref_id": 1006, "relevant_ids": [1007, 1008, 1009, 1010, 1011], "kind": "image"}\n'
        "not json\n"
    )
    at = page("pages/evaluate.py").run()
    assert not at.exception
    at.text_input[0].set_value(str(path))
    next(b for b in at.button if b.label == "Run evaluation").click().run()
    assert not at.exception
    values = {m.label: m.value for m in at.metric}
    assert values["n"] == "2" and values["mrr"] != ""
    table = at.dataframe[0].value
    assert list(table["kind"]) == ["all", "image", "text"]
    assert "1 queries skipped" in [e.label for e in at.expander]
    assert at.get("vega_lite_chart"), "the Recall@K chart is drawn"
    next(b for b in at.button if b.label == "Draw the map").click().run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2


def test_evaluate_page_reports_a_bad_query_file(loaded_engine, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "Acme Men Red Tshirts", "relevant_ids": [1000], "kind": "text"}\n')
    at = page("pages/evaluate.py").run()
    at.text_input[0].set_value(str(good))
    next(b for b in at.button if b.label == "Run evaluation").click().run()
    assert [h.value for h in at.subheader if h.value.startswith("Results")] == [f"Results · {good}"]
    at.text_input[0].set_value(str(tmp_path / "missing.jsonl"))
    next(b for b in at.button if b.label == "Run evaluation").click().run()
    assert not at.exception
    assert "Cannot read the query file" in texts(at)
    assert not [h for h in at.subheader if h.value.startswith("Results")], "no stale results under the error"


def test_refine_page_runs_a_two_step_dialogue_and_steps_back(loaded_engine):
    at = page("pages/refine.py").run()
    assert not at.exception and "Pick or upload a reference" in texts(at)
    at.session_state["refine_ref"] = 1000  # "✨ Refine" on a Search result
    at.run()
    assert not at.exception and "No feedback given" in texts(at)
    at.text_input(key="feedback-1").input("in blue").run()
    assert not at.exception
    assert "Understood:** colour Blue" in texts(at)
    assert "➜ *“in blue”*" in texts(at), "the strip shows the feedback just typed, not the one before"
    assert "Acme Men Blue Tshirts" in texts(at) and "Blue ✓" in texts(at)
    next(b for b in at.button if b.label == "Use as reference").click().run()
    assert not at.exception and len(at.session_state["dialogue"]) == 2
    at.text_input(key="feedback-2").input("the women's version, as a dress").run()
    assert not at.exception and "Acme Women Blue Dresses" in texts(at)
    card_lines = [
        line
        for line in texts(at).splitlines()
        if line.count(" · ") == 2 and "score" not in line and not line.startswith(("Acme", "**"))
    ]
    assert card_lines and all(line.startswith(("Women · Dresses", "Unisex · Dresses")) for line in card_lines)
    assert "Women ✓" in texts(at)
    next(b for b in at.button if b.label == "↩ Step back").click().run()
    assert not at.exception and len(at.session_state["dialogue"]) == 1


def test_refine_page_reports_a_missing_reference(loaded_engine):
    at = page("pages/refine.py")
    at.session_state["dialogue"] = [{"ref": ("product", 999999), "text": ""}]
    at.run()
    assert not at.exception and "no longer in the catalog" in texts(at)


@pytest.mark.parametrize("name", ["app.py", "pages/search.py", "pages/refine.py", "pages/evaluate.py"])
def test_pages_say_when_the_encoder_cannot_be_loaded(settings, monkeypatch, name):
    monkeypatch.setenv("ENCODER_NAME", "no-such-encoder")
    at = page(name).run()
    assert not at.exception
    assert "encoder could not be loaded" in texts(at) and "Known encoders" in texts(at)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("VECTOR_BACKEND", "qdrant", "StyleLens cannot start"),
        ("EXACT_INDEX_LIMIT", "lots", "A setting is wrong"),
    ],
)
@pytest.mark.parametrize("name", ["app.py", "pages/search.py"])
def test_pages_say_when_a_setting_is_wrong(settings, monkeypatch, name, setting, value, message):
    monkeypatch.setenv(setting, value)
    at = page(name).run()
    assert not at.exception and message in texts(at) and setting in texts(at)

"""Browser smoke test: the real app served by `streamlit run`, each page loaded in headless Chromium
and screenshotted to test-artifacts/. Skips (with the reason) where Chromium is absent; .ci/run installs it.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import PROJECT_ROOT, store_garment_features

from benchmarks.drills import CHROMIUM_FLAGS  # the one list of flags the app is driven with

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = PROJECT_ROOT / "test-artifacts"
PAGES = {"home": "", "look": "look", "search": "search", "catalog": "catalog", "evaluate": "evaluate"}  # URL paths

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_url(loaded_engine, request):
    port = free_port()
    env = {
        **os.environ,
        "MONGO_URI": loaded_engine.settings.mongo_uri,
        "DB_NAME": loaded_engine.settings.db_name,
        "STYLELENS_DATA_DIR": str(loaded_engine.settings.data_dir),
        **getattr(request, "param", {}),
    }  # a test may change settings of the app it opens
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_each_page_loads_in_chromium(app_url):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for name, path in PAGES.items():
                page.goto(f"{app_url}/{path}")
                page.wait_for_selector("h1", timeout=90_000)
                wait_idle(page)  # the script has started and finished (a page that loads models takes a while)
                page.wait_for_function(
                    "() => (document.querySelector('[data-testid=\"stSidebar\"]') || {})"
                    ".innerText?.includes('Evaluate')",
                    timeout=30_000,
                )
                page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
                broken = page.evaluate("() => Array.from(document.images).filter(i => !i.naturalWidth).length")
                assert broken == 0, f"{broken} images did not load on {name}"
                body = page.inner_text("body")
                assert "Traceback" not in body and "Error" not in page.title()
                assert {
                    "home": "Products",
                    "look": "Pick a sample",
                    "search": "Describe it",
                    "catalog": "Browse",
                    "evaluate": "Query file",
                }[name] in body
                sidebar = page.inner_text("[data-testid='stSidebar']")
                assert [w for w in sidebar.split() if w in ("Home", "Search", "Catalog", "Evaluate", "app")] == [
                    "Home",
                    "Search",
                    "Catalog",
                    "Evaluate",
                ]
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
                assert (SHOTS / f"{name}.png").stat().st_size > 10_000
        finally:
            browser.close()


def wait_idle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


@contextlib.contextmanager
def app_page(url: str):
    """A Chromium page opened on `url`, once the app has drawn it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("h1", timeout=90_000)
            wait_idle(page)
            yield page
        finally:
            browser.close()


def test_evaluate_and_top_categories_in_chromium(app_url, tmp_path):
    """A user runs a query file on the Evaluate page, then asks for the top categories of two photos."""
    from conftest import draw_product

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        '{"text": "Acme Men Red Tshirts", "relevant_ids": [1000], "kind": "text"}\n'
        '{"ref_id": 1006, "relevant_ids": [1007, 1008, 1009], "kind": "image"}\n'
    )
    photos = [tmp_path / "shirt.png", tmp_path / "shoe.png"]
    draw_product("tshirt", (200, 30, 30), size=200).save(photos[0])
    draw_product("shoe", (20, 20, 20), size=200).save(photos[1])
    SHOTS.mkdir(exist_ok=True)
    with app_page(f"{app_url}/evaluate") as page:
        field = page.get_by_label("Query file (.jsonl)")
        field.fill(str(queries))
        field.press("Enter")
        wait_idle(page)
        page.get_by_role("button", name="Run evaluation").first.click()
        page.get_by_text("Recall@K").wait_for(timeout=120_000)
        wait_idle(page)
        page.get_by_role("button", name="Draw the map").click()
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]').length >= 2", timeout=120_000
        )
        wait_idle(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Results · " in body
        page.screenshot(path=str(SHOTS / "evaluate-results.png"), full_page=True)

        page.goto(f"{app_url}/catalog")
        page.wait_for_selector("h1", timeout=90_000)
        wait_idle(page)
        page.get_by_role("tab", name="Top categories").click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").last.set_input_files([str(p) for p in photos])
        wait_idle(page)
        page.get_by_role("button", name="Find the top categories").click()
        page.get_by_text("categories in 2 images").wait_for(timeout=120_000)
        wait_idle(page)
        assert "Traceback" not in page.inner_text("body")
        page.screenshot(path=str(SHOTS / "catalog-top-categories.png"), full_page=True)


def test_shop_the_look_on_a_packshot_in_chromium(app_url, tmp_path):
    """A user uploads a product photo (no person) on Shop the Look: a clear verdict and similar products."""
    from conftest import draw_product

    photo = tmp_path / "shoe.png"
    draw_product("shoe", (235, 200, 40), size=300).save(photo)
    SHOTS.mkdir(exist_ok=True)
    with app_page(f"{app_url}/look") as page:
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(photo))
        page.get_by_text("No person found").wait_for(timeout=120_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "Similar products for every garment" in body
        assert "Timing: pose" in body and "#1 · score" in body
        page.screenshot(path=str(SHOTS / "look-packshot.png"), full_page=True)


def dress_on_a_bed(path) -> None:
    """A red dress lying on a pale, folded bedsheet: a phone photo of a garment, not a packshot."""
    import numpy as np
    from conftest import draw_product
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(3)
    folds = Image.fromarray((rng.random((12, 9)) * 255).astype(np.uint8)).resize((360, 480), Image.Resampling.BICUBIC)
    shade = np.asarray(folds.filter(ImageFilter.GaussianBlur(6)), dtype=np.float32)[..., None] / 255
    sheet = (np.array([176, 196, 222], dtype=np.float32) * (0.8 + 0.3 * shade)).clip(0, 255).astype(np.uint8)
    photo = Image.fromarray(sheet)
    dress = draw_product("dress", (200, 30, 30), size=300)
    photo.paste(dress, (30, 90), Image.fromarray(((np.asarray(dress).min(axis=2) < 200) * 255).astype(np.uint8)))
    photo.rotate(8, fillcolor=(176, 196, 222)).save(path, quality=90)


@pytest.mark.skipif(not (PROJECT_ROOT / "assets" / "garment-segmenter.pt").is_file(), reason="no segmenter shipped")
@pytest.mark.parametrize(
    "app_url",
    [{"SEGMENTER": "garment-segmenter", "KIND_MODEL": "garment-kind", "ENCODER_NAME": "stylelens-small"}],
    indirect=True,
)
def test_search_by_a_photo_of_a_dress_on_a_bed_in_chromium(app_url, tmp_path):
    """A user uploads a phone photo of a dress on a bed: the garment is found (its colour read from its own
    pixels), and dresses come back. The app runs the bundled models end to end (encoder, garment-kind
    classifier, segmenter, re-ranker trained on that encoder's first stage), as a user gets them."""
    photo = tmp_path / "dress-on-bed.jpg"
    dress_on_a_bed(photo)
    SHOTS.mkdir(exist_ok=True)
    with app_page(f"{app_url}/search") as page:
        page.get_by_role("tab", name="Upload a photo").click()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(photo))
        page.get_by_text("The garment found in your photo").wait_for(timeout=120_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "colour of the garment's own pixels" in body
        first_card = body[: body.index("#1 ·")][-120:]  # name, then "gender · type · colour", then the rank
        assert "Women · Dresses · Red" in first_card, first_card
        page.screenshot(path=str(SHOTS / "search-dress-on-bed.png"), full_page=True)


def test_longer_sleeves_lighter_color_in_chromium(app_url, loaded_engine):
    """The brief's own example: a dark short-sleeved T-shirt + "longer sleeves, lighter color" shows the
    long-sleeved, lighter T-shirts with honest chips and what was read from the reference."""
    products = loaded_engine.catalog.browse(limit=500)
    tees = [p for p in products if p.article_type == "Tshirts"]
    reference, long_light = tees[0], [p.id for p in tees[1:3]]
    store_garment_features(
        loaded_engine,
        {p.id: ("long" if p.id in long_light else "short") if p in tees else None for p in products},
        {p.id: 0.8 if p.id in long_light else 0.2 for p in tees},
    )
    SHOTS.mkdir(exist_ok=True)
    with app_page(f"{app_url}/refine") as page:
        page.get_by_role("textbox", name="Find a product by name").fill(reference.name)
        page.get_by_role("textbox", name="Find a product by name").press("Enter")
        page.get_by_role("button", name="Use as reference").click()
        page.get_by_role("textbox", name="Your feedback").wait_for(timeout=60_000)
        page.get_by_role("textbox", name="Your feedback").fill("longer sleeves, lighter color")
        page.get_by_role("textbox", name="Your feedback").press("Enter")
        page.get_by_text("longer sleeves ✓").first.wait_for(timeout=120_000)
        wait_idle(page)
        body = page.inner_text("body")
        assert "Traceback" not in body and "The reference: short sleeves" in body
        assert "Only 2 products here are recorded as elbow sleeves or long sleeves" in body
        assert body.count("longer sleeves ✓") == 2 and "longer sleeves ✗" not in body
        assert "does not record sleeve length" not in body
        page.screenshot(path=str(SHOTS / "refine-longer-sleeves.png"), full_page=True)

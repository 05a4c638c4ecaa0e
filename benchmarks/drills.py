"""Before a demo: load, faults and hostile inputs against a scratch StyleLens, with a table at the end.

    python benchmarks/drills.py --catalog ../shared/datasets/fashion-products \
        --photos ../shared/datasets/street-photos/photos --out data/benchmarks/drills.json

Everything runs in a scratch folder with its own embedded database (your catalog is not touched), with the
encoder of your settings (ENCODER_NAME) and the shipped Shop the Look models:
- load: 16 concurrent sessions x 50 mixed queries (text, photo, composed feedback, Shop the Look) through one
  shared engine, as Streamlit's sessions share cached resources; then 4 real browser sessions (Playwright and
  the system Chromium) searching through `streamlit run`. Errors, p50/p95 per kind and memory are reported.
- faults: `kill -9` of an import half-way, then the import again; the embedded database killed mid-search (the
  app restarts it) and an external database (MONGO_URI) killed and restarted; a corrupted index file; a stale pid
  file that names a live unrelated process.
- hostile: benchmarks/hostile.py's inputs through the engine (and Shop the Look), three through the CLI.
Without --catalog the products are drawn (coloured garment shapes); without --photos Shop the Look gets the
catalog's photos. Exit status 0 when every drill passed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from core.config import PROJECT_ROOT, load_settings
from core.dbserver import STATE_FILE, local_server_uri, running_server, stop_local_server
from core.engine import StyleLens
from core.errors import DatabaseUnavailable
from core.images import load_image
from core.ingest import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

TEXTS = [
    "red floral summer dress",
    "navy blue men's polo",
    "black leather boots",
    "white sneakers",
    "denim jeans",
    "striped cotton shirt",
    "green kurta for women",
    "grey hoodie",
    "pink top",
    "formal brown shoes",
    "yellow t-shirt",
    "black handbag",
    "blue checked shirt",
    "maroon saree",
    "sports shoes for running",
]
FEEDBACK = [
    "lighter color",
    "same but in navy",
    "the women's version",
    "darker and striped",
    "as a shirt instead",
    "longer sleeves, lighter color",
    "for the gym",
    "in red",
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANSWER_LIMIT_S = 5.0  # a page must say "unavailable" (or answer) within this long while the database is down


@dataclass
class Drill:
    name: str
    passed: bool
    detail: str
    data: dict = field(default_factory=dict)


# ---- the scratch StyleLens ---------------------------------------------------------------------------
def scratch_catalog(folder: Path, source: Path | None, count: int, offset: int = 0) -> Path:
    """`count` products as images/ + styles.csv: rows of the source catalog (images linked, not copied), or
    drawn ones. `offset` skips that many source rows (a second, disjoint catalog)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    if source is None:
        return _drawn_catalog(folder, count, offset)
    with open(source / "styles.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if (source / "images" / f"{r['id']}.jpg").is_file()]
    rows = random.Random(7).sample(rows, min(len(rows), offset + count))[offset:]
    for row in rows:
        link = folder / "images" / f"{row['id']}.jpg"
        if not link.exists():
            link.symlink_to((source / "images" / f"{row['id']}.jpg").resolve())
    _write_csv(folder / "styles.csv", rows)
    return folder


def _drawn_catalog(folder: Path, count: int, offset: int) -> Path:
    from PIL import Image, ImageDraw

    kinds = [
        ("Men", "Topwear", "Tshirts"),
        ("Women", "Dress", "Dresses"),
        ("Men", "Bottomwear", "Jeans"),
        ("Women", "Shoes", "Heels"),
        ("Women", "Topwear", "Tops"),
    ]
    colours = {
        "Red": (200, 30, 30),
        "Blue": (30, 60, 200),
        "Green": (40, 150, 60),
        "Black": (20, 20, 20),
        "Yellow": (235, 200, 40),
        "White": (240, 240, 240),
    }
    rows = []
    for n in range(count):
        gender, sub, article = kinds[n % len(kinds)]
        name, rgb = list(colours.items())[(n // len(kinds)) % len(colours)]
        product_id = 500_000 + offset + n
        image = Image.new("RGB", (224, 224), "white")
        ImageDraw.Draw(image).rounded_rectangle((50 + n % 20, 30, 170, 200 - n % 30), 20, fill=rgb)
        image.save(folder / "images" / f"{product_id}.jpg", quality=90)
        rows.append(
            {
                "id": product_id,
                "gender": gender,
                "masterCategory": "Apparel",
                "subCategory": sub,
                "articleType": article,
                "baseColour": name,
                "season": "Summer",
                "usage": "Casual",
                "productDisplayName": f"Drill {gender} {name} {article} {n}",
                "colorgroup": name,
            }
        )
    _write_csv(folder / "styles.csv", rows)
    return folder


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]  # what core/ingest.py reads
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def scratch_env(scratch: Path, **extra) -> dict:
    """The environment of a scratch StyleLens: its own data folder and embedded database."""
    env = {
        **os.environ,
        "STYLELENS_DATA_DIR": str(scratch / "data"),
        "DB_NAME": "stylelens",
        "COLLECTION_NAME": "products",
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }
    env.pop("MONGO_URI", None)
    env.pop("CATALOG_DIR", None)
    return env


def use_env(env: dict) -> None:
    for key in ("MONGO_URI", "CATALOG_DIR"):
        os.environ.pop(key, None)
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k in ("STYLELENS_DATA_DIR", "DB_NAME", "COLLECTION_NAME", "MONGO_URI", "TOKENIZERS_PARALLELISM")
        }
    )


class LookModels:
    """Shop the Look's models, loaded once and shared, as ui/state.py does."""

    def __init__(self, engine: StyleLens):
        from core.encoders import load_attribute_model
        from core.look.gender import load_gender_model
        from core.look.pose_model import PoseModel
        from core.look.shop import DETECTOR_WEIGHTS, GarmentDetector

        self.engine = engine
        self.detect, self.pose = GarmentDetector(DETECTOR_WEIGHTS), PoseModel()
        self.gender = load_gender_model(load_attribute_model(engine.settings.encoder_name))

    def __call__(self, picture):
        from core.look.shop import shop_the_look

        return shop_the_look(self.engine, picture, self.detect, self.pose, self.gender, k=5, rerank=True)


# ---- load ------------------------------------------------------------------------------------------
def load_drill(engine: StyleLens, look: LookModels, photos: list[Path], sessions: int, per_session: int) -> Drill:
    products = [p.id for p in engine.catalog.browse(limit=100_000)]
    uploads = [engine.image_path(p).read_bytes() for p in engine.catalog.browse(limit=40)]
    people = [p.read_bytes() for p in photos[:40]] or uploads
    kinds = {
        "text": lambda rng: engine.search_text(rng.choice(TEXTS), 10, rerank=True),
        "photo": lambda rng: engine.search_image(load_image(rng.choice(uploads)), 10, rerank=True),
        "feedback": lambda rng: engine.search_composed(
            rng.choice(FEEDBACK), ref_id=rng.choice(products), k=10, rerank=True
        ),
        "look": lambda rng: look(load_image(rng.choice(people))),
    }
    for run in kinds.values():  # warm-up: models and tables load once, outside the timings
        run(random.Random(0))
    memory = MemorySampler()
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    errors: list[str] = []
    lock = threading.Lock()

    def session(number: int) -> None:
        rng = random.Random(number)
        names = list(kinds)
        for step in range(per_session):
            kind = names[(number + step) % len(names)]
            started = time.perf_counter()
            try:
                kinds[kind](rng)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:120]}")
            with lock:
                timings[kind].append(time.perf_counter() - started)

    started = time.perf_counter()
    with memory:
        threads = [threading.Thread(target=session, args=(n,)) for n in range(sessions)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    wall = time.perf_counter() - started
    per_kind = {kind: _percentiles(values) for kind, values in timings.items()}
    total = sum(len(v) for v in timings.values())
    bounded = memory.growth_mb < 500
    detail = (
        f"{total} queries in {wall:.0f} s, {len(errors)} errors; p50/p95 ms: "
        + ", ".join(f"{k} {v['p50_ms']:.0f}/{v['p95_ms']:.0f}" for k, v in per_kind.items())
        + f"; memory {memory.start_mb:.0f} -> peak {memory.peak_mb:.0f} MB, "
        f"second half grew {memory.growth_mb:+.0f} MB"
    )
    return Drill(
        f"load: {sessions} sessions x {per_session} queries",
        not errors and bounded,
        detail,
        {
            "queries": total,
            "errors": errors[:20],
            "seconds": round(wall, 1),
            "per_kind": per_kind,
            "memory_mb": memory.to_json(),
        },
    )


class MemorySampler:
    """Resident memory of this process every half second while in use."""

    def __enter__(self):
        self.samples: list[float] = [self._rss()]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.samples.append(self._rss())

    def _run(self):
        while not self._stop.wait(0.5):
            self.samples.append(self._rss())

    @staticmethod
    def _rss() -> float:
        return psutil.Process().memory_info().rss / 2**20

    @property
    def start_mb(self) -> float:
        return self.samples[0]

    @property
    def peak_mb(self) -> float:
        return max(self.samples)

    @property
    def growth_mb(self) -> float:
        """Growth over the second half of the run: a leak keeps growing, warm caches do not."""
        half = self.samples[len(self.samples) // 2 :]
        return half[-1] - half[0]

    def to_json(self) -> dict:
        return {
            "start": round(self.start_mb),
            "peak": round(self.peak_mb),
            "end": round(self.samples[-1]),
            "second_half_growth": round(self.growth_mb),
        }


def _percentiles(seconds: list[float]) -> dict:
    if not seconds:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0}
    ordered = sorted(seconds)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1),
    }


def browser_drill(scratch: Path, browsers: int, searches: int) -> Drill:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return Drill(
            f"load: {browsers} browser sessions", False, "Chromium is not installed (apt-get install chromium)"
        )
    with served_app(scratch_env(scratch)) as url:
        timings, errors = [], []
        lock = threading.Lock()

        def visitor(number: int) -> None:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.goto(f"{url}/search", timeout=120_000)
                    page.get_by_label("Description").wait_for(timeout=120_000)
                    _wait_idle(page)
                    for step in range(searches):
                        started = time.perf_counter()
                        problem = _browser_search(page, TEXTS[(number * searches + step) % len(TEXTS)])
                        with lock:
                            timings.append(time.perf_counter() - started)
                            if problem:
                                errors.append(f"session {number}: {problem}")
                    if number == 0:
                        page.screenshot(path=str(scratch / "browser-search.png"), full_page=True)
                        problem = _browser_hostile_upload(page, scratch)
                        with lock:
                            errors.extend([f"session 0: {problem}"] if problem else [])
                        page.screenshot(path=str(scratch / "browser-hostile-upload.png"), full_page=True)
                finally:
                    browser.close()

        threads = [threading.Thread(target=visitor, args=(n,)) for n in range(browsers)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    stats = _percentiles(timings)
    return Drill(
        f"load: {browsers} browser sessions",
        not errors and len(timings) == browsers * searches,
        f"{len(timings)} searches typed in Chromium and a PostScript upload, {len(errors)} errors; "
        f"result grid p50 {stats['p50_ms'] / 1000:.1f} s, p95 {stats['p95_ms'] / 1000:.1f} s",
        {"searches": len(timings), "errors": errors, **stats},
    )


# The result area's text (timing line and product names), or "" before any result is drawn.
RESULTS_JS = (
    "() => { const t = [...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
    ".find(e => e.innerText.includes('Timing:')); return t ? "
    "(document.querySelector('[data-testid=\"stMain\"]') || document.body).innerText : ''; }"
)


def _browser_search(page, text: str) -> str | None:
    """Type a description and wait for the grid; what went wrong, or None."""
    box = page.get_by_label("Description")
    box.fill(text)
    before = page.evaluate(RESULTS_JS)
    page.get_by_role("button", name="Search").click()
    try:  # new results drawn and the script finished (the previous search's grid does not count)
        page.wait_for_function(
            f"(before) => {{ const now = ({RESULTS_JS})(); return now && now !== before && "
            "!document.querySelector('[data-testid=\"stStatusWidget\"]'); }",
            arg=before,
            timeout=120_000,
        )
    except Exception as exc:  # noqa: BLE001 - a timeout is the failure reported
        return f"no new results within 2 minutes ({type(exc).__name__})"
    body = page.inner_text("body")
    if page.locator('[data-testid="stException"]').count() or "Traceback" in body:
        return "a traceback on the page"
    return None if "Timing:" in body and "score" in body else "no result grid"


def _browser_hostile_upload(page, folder: Path) -> str | None:
    """Upload a PostScript file named .jpg on the Search page: a warning, no traceback."""
    path = folder / "not-a-photo.jpg"
    path.write_bytes(b"%!PS\n{ } loop\n")
    page.get_by_role("tab", name="Upload a photo").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").first.set_input_files(str(path))
    try:
        page.get_by_text("not an image StyleLens can read").wait_for(timeout=30_000)
    except Exception:  # noqa: BLE001
        return "no warning for a PostScript upload"
    return "a traceback on the page" if page.locator('[data-testid="stException"]').count() else None


def _wait_idle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


class served_app:
    """`streamlit run app.py` on a free loopback port with `env`, for as long as the with-block lasts."""

    def __init__(self, env: dict):
        self.env = env

    def __enter__(self) -> str:
        port = _free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    return url
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("the app did not start within 2 minutes")

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


# ---- faults ---------------------------------------------------------------------------------------------
def kill_import_drill(engine: StyleLens, scratch: Path, folder: Path) -> Drill:
    """kill -9 an import half-way; then check the catalog, what status says, and import again."""
    env = scratch_env(scratch)
    rows = sum(1 for _ in open(folder / "styles.csv", encoding="utf-8")) - 1
    before = engine.catalog.count()
    command = [
        sys.executable,
        "-m",
        "core",
        "ingest",
        "--images",
        str(folder / "images"),
        "--styles",
        str(folder / "styles.csv"),
    ]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while engine.catalog.count() < before + 64 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    landed = engine.catalog.count() - before
    problems = _half_written(engine)
    status = engine.status()
    if status.index_in_step and status.indexed != status.embedded:
        problems.append(f"status says in step with {status.indexed} indexed of {status.embedded}")
    searched = engine.search_text("blue shirt", 5)
    again = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    if again.returncode != 0:
        problems.append(f"the second import failed: {again.stderr[-200:]}")
    after = engine.status()
    if after.products != before + rows or not after.index_in_step:
        problems.append(
            f"after the second import: {after.products - before} of {rows} products, in step {after.index_in_step}"
        )
    problems += _half_written(engine)
    return Drill(
        "fault: kill -9 mid-import",
        not problems,
        f"{landed} of {rows} products in when killed, none half-written; status said "
        f"{'in step' if status.index_in_step else 'out of step'}{' (import under way)' if status.importing else ''}"
        f", search meanwhile: {len(searched.hits)} results; import again: {after.products - before}/{rows}, "
        f"in step" + ("" if not problems else "; PROBLEMS: " + "; ".join(problems)),
        {"rows": rows, "landed_before_kill": landed, "status_after_kill": status.to_json(), "problems": problems},
    )


def _half_written(engine: StyleLens) -> list[str]:
    products = engine.catalog.count()
    embedded = engine.catalog.count_embedded(engine.encoder.model_key)
    missing = [p.id for p in engine.catalog.browse(limit=1_000_000) if not engine.image_path(p).is_file()]
    problems = [] if products == embedded else [f"{products - embedded} products without a vector"]
    return problems + ([f"{len(missing)} products without an image"] if missing else [])


def database_killed_drill(engine: StyleLens, data_dir: Path, external: bool) -> Drill:
    """Searches from 4 threads while the database is killed (and, for an external one, started again)."""
    outcomes: list[tuple[float, float, str]] = []  # (start offset, seconds, "ok" or the error)
    stop = threading.Event()
    began = time.perf_counter()

    def searcher(number: int) -> None:
        rng = random.Random(number)
        while not stop.is_set():
            started = time.perf_counter()
            try:
                engine.search_text(rng.choice(TEXTS), 10)
                result = "ok"
            except DatabaseUnavailable:
                result = "unavailable"
            except Exception as exc:  # noqa: BLE001
                result = f"{type(exc).__name__}: {exc}"[:150]
            outcomes.append((started - began, time.perf_counter() - started, result))
            time.sleep(0.05)

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(4)]
    [t.start() for t in threads]
    time.sleep(2)
    killed_at = time.perf_counter() - began
    os.kill(running_server(data_dir)["pid"], signal.SIGKILL)
    if external:
        time.sleep(6)
        local_server_uri(data_dir)  # an operator starts it again (same port)
    time.sleep(8)
    stop.set()
    [t.join() for t in threads]
    during = [o for o in outcomes if o[0] >= killed_at - 0.5]
    bugs = [o[2] for o in outcomes if o[2] not in ("ok", "unavailable")]
    slowest = max((o[1] for o in during), default=0.0)
    last_failure = max((o[0] + o[1] for o in outcomes if o[2] != "ok"), default=killed_at)
    recovered = any(o[2] == "ok" and o[0] > last_failure for o in outcomes)
    unavailable = sum(o[2] == "unavailable" for o in outcomes)
    passed = not bugs and slowest <= ANSWER_LIMIT_S + 0.5 and recovered and (unavailable > 0 or not external)
    name = "external database (MONGO_URI) killed, restarted" if external else "embedded database killed mid-search"
    return Drill(
        f"fault: {name}",
        passed,
        f"{len(outcomes)} searches, {unavailable} said unavailable, {len(bugs)} other errors; slowest answer "
        f"while down {slowest:.1f} s; searching again {max(0.0, last_failure - killed_at):.1f} s after the "
        f"kill, no restart of the app" + ("" if recovered else " — DID NOT RECOVER"),
        {
            "searches": len(outcomes),
            "unavailable": unavailable,
            "bugs": bugs[:10],
            "slowest_s": round(slowest, 2),
            "recovered": recovered,
        },
    )


def corrupted_index_drill(settings, encoder) -> Drill:
    engine = StyleLens.open(settings, encoder)
    path = engine.index_path
    path.write_bytes(b"PK\x03\x04 this is not an index" + os.urandom(4096))
    fresh = StyleLens.open(settings, encoder)  # as after a restart
    said = fresh.status()
    started = time.perf_counter()
    hits = fresh.search_text("red dress", 5).hits
    seconds = time.perf_counter() - started
    after = fresh.status()
    passed = not said.index_in_step and bool(hits) and after.index_in_step
    return Drill(
        "fault: corrupted index file",
        passed,
        f"status said {'in step' if said.index_in_step else 'out of step'}; first search rebuilt it in "
        f"{seconds:.1f} s ({len(hits)} results); then in step: {after.index_in_step}",
    )


def stale_pid_drill(settings, encoder) -> Drill:
    data_dir = settings.data_dir
    state = json.loads((data_dir / STATE_FILE).read_text())
    stop_local_server(data_dir)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        (data_dir / STATE_FILE).write_text(
            json.dumps({"pid": bystander.pid, "port": state["port"], "started": time.time() - 10_000})
        )
        engine = StyleLens.open(settings, encoder)
        hits = engine.search_text("red dress", 5).hits
        alive = bystander.poll() is None
        new = running_server(data_dir)
        passed = alive and bool(hits) and new is not None and new["pid"] != bystander.pid
        return Drill(
            "fault: stale pid file naming a live process",
            passed,
            f"unrelated process {'untouched' if alive else 'SIGNALLED'}; a new database server started "
            f"(pid {new['pid'] if new else '?'}); search works ({len(hits)} results)",
        )
    finally:
        bystander.kill()


# ---- hostile ---------------------------------------------------------------------------------------------
def hostile_drill(engine: StyleLens, look: LookModels | None, scratch: Path) -> tuple[Drill, list]:
    from benchmarks.hostile import Context, hostile_cases, run_cases, summary, to_json

    products = engine.catalog.browse(limit=1)
    outcomes = run_cases(hostile_cases(), Context(engine, scratch / "hostile", products[0].id, look))
    table = summary(outcomes)
    failed = [o for o in outcomes if not o.passed]
    detail = (
        f"{len(outcomes)} inputs: {sum(o.result == 'refused' for o in outcomes)} refused with a message, "
        f"{sum(o.result == 'handled' for o in outcomes)} handled, {len(failed)} failed; slowest "
        f"{max(o.seconds for o in outcomes):.2f} s" + "".join(f"; {o.name}: {o.message}" for o in failed[:5])
    )
    return Drill(
        "hostile: files, archives, CSVs, query files, text",
        not failed,
        detail,
        {"by_group": table, "cases": to_json(outcomes)},
    ), outcomes


def hostile_cli_drill(scratch: Path) -> Drill:
    """Three hostile inputs through the command line: exit 1 with a message, never a traceback."""
    folder = scratch / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.jpg").write_bytes(b"%!PS\n{ } loop\n")
    (folder / "q.jsonl").write_text('{"ref_id": 1e400, "relevant_ids": [1]}\n' + "[" * 50_000 + "]" * 50_000 + "\n")
    cases = {
        "PostScript as a photo": ["search", "--image", str(folder / "x.jpg"), "--json"],
        "query file /dev/zero": ["evaluate", "--queries", "/dev/zero"],
        "query file with 1e400 and deep nesting": ["evaluate", "--queries", str(folder / "q.jsonl")],
        "reference id 2^64": ["compose", "--ref-id", str(2**64), "--text", "lighter"],
    }
    results, problems = {}, []
    for name, args in cases.items():
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "core", *args],
            cwd=PROJECT_ROOT,
            env=scratch_env(scratch),
            capture_output=True,
            text=True,
            timeout=120,
        )
        results[name] = {
            "exit": done.returncode,
            "seconds": round(time.perf_counter() - started, 1),
            "message": done.stderr.strip().splitlines()[-1][:160] if done.stderr.strip() else "",
        }
        if done.returncode != 1 or "Traceback" in done.stderr or not done.stderr.startswith("error:"):
            problems.append(name)
    slowest = max(r["seconds"] for r in results.values())
    return Drill(
        "hostile: through the CLI",
        not problems,
        f"{len(cases)} inputs, each exit 1 with one 'error:' line ({slowest:.1f} s at most, mostly "
        f"Python start-up)" + (f"; FAILED: {problems}" if problems else ""),
        {"cases": results},
    )


# ---- the run --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="stylelens-drills-"))
    env = scratch_env(scratch)
    use_env(env)
    drills: list[Drill] = []
    try:
        settings = load_settings()
        print(f"» Scratch StyleLens in {scratch} (encoder {settings.encoder_name})", flush=True)
        engine = StyleLens.open(settings)
        first = scratch_catalog(scratch / "catalog", args.catalog, args.products)
        report = engine.import_catalog(first / "images", first / "styles.csv")
        print(f"» Imported: {report.summary()} ({engine.rebuilds} index rebuild)", flush=True)
        photos = sorted(args.photos.glob("*.jpg")) if args.photos else []
        look = LookModels(engine)
        wanted = set(args.only or ["hostile", "load", "faults"])
        if "hostile" in wanted:
            drill, _ = hostile_drill(engine, look, scratch)
            drills += [_report(drill), _report(hostile_cli_drill(scratch))]
        if "load" in wanted:
            drills.append(_report(load_drill(engine, look, photos, args.sessions, args.queries)))
            if args.browsers:
                drills.append(_report(browser_drill(scratch, args.browsers, args.searches)))
        if "faults" in wanted:
            second = scratch_catalog(scratch / "catalog-2", args.catalog, args.products, offset=args.products)
            drills.append(_report(kill_import_drill(engine, scratch, second)))
            drills.append(_report(database_killed_drill(engine, settings.data_dir, external=False)))
            drills.append(_report(external_database_drill(scratch, engine.encoder, first)))
            drills.append(_report(corrupted_index_drill(settings, engine.encoder)))
            drills.append(_report(stale_pid_drill(settings, engine.encoder)))
    finally:
        for folder in ("data", "external"):  # the servers the drills started (--only may have started one)
            if (scratch / folder).is_dir():
                stop_local_server(scratch / folder)
    print_table(drills)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(d) for d in drills], indent=2))
        print(f"» Written: {args.out}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if drills and all(d.passed for d in drills) else 1


def external_database_drill(scratch: Path, encoder, catalog: Path) -> Drill:
    """The same as the embedded-database drill, with MONGO_URI pointing at a server StyleLens does not manage."""
    from core.catalog import Catalog

    uri = local_server_uri(scratch / "external")
    saved = os.environ.get("MONGO_URI")
    os.environ["MONGO_URI"] = uri
    try:
        settings = load_settings()
        engine = StyleLens(settings, Catalog.open(settings), encoder)
        engine.import_catalog(catalog / "images", catalog / "styles.csv")
        return database_killed_drill(engine, scratch / "external", external=True)
    finally:
        os.environ.pop("MONGO_URI") if saved is None else os.environ.__setitem__("MONGO_URI", saved)


def _report(drill: Drill) -> Drill:
    print(f"  {'PASS' if drill.passed else 'FAIL'}  {drill.name}: {drill.detail}", flush=True)
    return drill


def print_table(drills: list[Drill]) -> None:
    width = max((len(d.name) for d in drills), default=10)
    print("\n| drill" + " " * (width - 5) + " | result | detail |")
    print("|" + "-" * (width + 2) + "|--------|--------|")
    for d in drills:
        print(f"| {d.name:<{width}} | {'PASS' if d.passed else 'FAIL':<6} | {d.detail} |")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, help="a catalog folder (images/ + styles.csv) to take products from")
    parser.add_argument("--photos", type=Path, help="a folder of photos of people for Shop the Look")
    parser.add_argument("--products", type=int, default=400, help="products in the scratch catalog (default 400)")
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--queries", type=int, default=50, help="queries per session (default 50)")
    parser.add_argument("--browsers", type=int, default=4, help="browser sessions (0: none)")
    parser.add_argument("--searches", type=int, default=5, help="searches per browser session (default 5)")
    parser.add_argument("--only", nargs="+", choices=["hostile", "load", "faults"], help="run only these drills")
    parser.add_argument("--out", type=Path, help="write every drill's figures here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (screenshot, logs)")
    return parser


if __name__ == "__main__":
    sys.exit(main())

"""Hostile inputs for the drills: strange files, archives, CSVs, query files and strings, each run through the
same engine call a page or the CLI makes, and judged.

A case passes when it ends by itself within CASE_LIMIT_S, either refused with a StyleLensError (the message the
user sees) or handled (a result), as the case expects; leaves no process behind; and leaves the catalog
consistent (every product has its vector and its image). Anything else (another exception, a hang, a
Ghostscript child, a half-written product) fails it. Used by `benchmarks/drills.py` and, in full, by
tests/test_hostile.py against the test catalog.
"""

from __future__ import annotations

import io
import os
import random
import struct
import threading
import time
import traceback
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
from PIL import Image, ImageDraw

from core.errors import StyleLensError
from core.evaluation import evaluate, read_queries
from core.ingest import extract_zip, temporary_folder

CASE_LIMIT_S = 5.0
COLUMNS = "id,gender,masterCategory,subCategory,articleType,baseColour,season,usage,productDisplayName,colorgroup"


@dataclass
class Context:
    """What the cases run against: the engine the app shares, a scratch folder, a catalog product id, and
    optionally Shop the Look's models (drills only)."""

    engine: object
    scratch: Path
    ref_id: int
    look: Callable | None = None  # picture -> LookResult (the page's pipeline), or None to skip it


@dataclass(frozen=True)
class Case:
    name: str
    group: str  # image, path, zip, csv, queries, text, feedback
    make: Callable[[Path], object]  # scratch folder -> the payload
    expect: str = "either"  # refused, handled or either
    check: Callable[[object], str | None] | None = None  # on a handled result: None if right, else what is wrong


@dataclass(frozen=True)
class Outcome:
    name: str
    group: str
    result: str  # refused, handled, FAILED
    message: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.result != "FAILED"


# ---- running ---------------------------------------------------------------------------------
def run_cases(cases: list[Case], context: Context) -> list[Outcome]:
    return [run_case(case, context) for case in cases]


def run_case(case: Case, context: Context) -> Outcome:
    """Run one case in a worker thread with a deadline, then check what it left behind."""
    folder = context.scratch / case.name
    folder.mkdir(parents=True, exist_ok=True)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    box: dict = {}

    def work():
        try:
            box["value"] = RUNNERS[case.group](context, case.make(folder))
        except StyleLensError as exc:
            box["refused"] = str(exc)
        except BaseException as exc:  # noqa: BLE001 - anything else is what the drill is looking for
            box["bug"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:300]

    started = time.perf_counter()
    worker = threading.Thread(target=work, daemon=True, name=f"case-{case.name}")
    worker.start()
    worker.join(CASE_LIMIT_S)
    seconds = time.perf_counter() - started
    if worker.is_alive():
        return Outcome(case.name, case.group, "FAILED", f"still running after {CASE_LIMIT_S:.0f} s", seconds)
    problems = _left_behind(children) + _inconsistency(context.engine)
    if "bug" in box:
        return Outcome(case.name, case.group, "FAILED", f"traceback: {box['bug']}", seconds)
    result = "refused" if "refused" in box else "handled"
    message = box.get("refused") or _describe(box.get("value"))
    if case.expect != "either" and result != case.expect:
        problems.append(f"expected {case.expect}, was {result}")
    if result == "handled" and case.check is not None:
        wrong = case.check(box.get("value"))
        if wrong:
            problems.append(wrong)
    if problems:
        return Outcome(case.name, case.group, "FAILED", "; ".join(problems) + f" ({message[:120]})", seconds)
    return Outcome(case.name, case.group, result, message[:200], seconds)


def _left_behind(before: set[int]) -> list[str]:
    """Processes this case started that are still running (e.g. a Ghostscript interpreter)."""
    deadline = time.monotonic() + 1.0
    while True:
        extra = [p for p in psutil.Process().children(recursive=True) if p.pid not in before and _running(p)]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return [f"process left running: {' '.join(p.cmdline())[:80]}" for p in extra]


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _inconsistency(engine) -> list[str]:
    """Products stored without their vector, or whose image file is missing: half-written data."""
    catalog = engine.catalog
    products, embedded = catalog.count(), catalog.count_embedded(engine.encoder.model_key)
    problems = [] if products == embedded else [f"{products - embedded} products without a vector"]
    missing = [p.id for p in catalog.browse(limit=100_000) if not engine.image_path(p).is_file()]
    return problems + ([f"{len(missing)} products without an image file"] if missing else [])


def _describe(value) -> str:
    if isinstance(value, tuple):  # (search result, decoded picture)
        value = value[0]
    if value is None:
        return "done"
    if hasattr(value, "hits"):
        notes = "; ".join(getattr(value, "notes", [])[:2])
        return f"{len(value.hits)} results" + (f" ({notes})" if notes else "")
    if hasattr(value, "summary"):
        return value.summary()
    return str(value)[:200]


# ---- what each group runs: the page's own calls ---------------------------------------------------------
def _run_image(context: Context, data: bytes):
    from core.images import load_image

    picture = load_image(data)  # the pages decode first, then search / look at the picture
    result = context.engine.search_image(picture, k=5)
    if context.look is not None:
        context.look(picture)
    return (result, picture)


def _run_path(context: Context, path: Path):
    outcomes = []
    for attempt in (lambda: context.engine.search_image(path, k=5), lambda: read_queries(path)):
        try:
            attempt()
            outcomes.append("handled")
        except StyleLensError as exc:
            outcomes.append(str(exc))
    if all(o == "handled" for o in outcomes):
        return "handled"
    raise _Refused(" / ".join(o for o in outcomes if o != "handled"))


class _Refused(StyleLensError):
    pass


def _run_zip(context: Context, data: bytes):
    with temporary_folder() as scratch:
        images, styles = extract_zip(data, Path(scratch))
        return context.engine.import_catalog(images, styles)


def _run_query_zip(context: Context, data: bytes):
    from core.evaluation import unpack_query_zip

    with temporary_folder() as scratch:
        return _run_queries(context, unpack_query_zip(data, Path(scratch)))


def _run_csv(context: Context, folder: Path):
    return context.engine.import_catalog(folder / "images", folder / "styles.csv")


def _run_queries(context: Context, path: Path):
    queries, skipped = read_queries(path, confine=True)
    report = evaluate(context.engine, queries, k=50, method="sum", skipped=skipped)
    return f"{len(report.outcomes)} scored, {len(report.skipped)} skipped"


def _run_text(context: Context, text: str):
    context.engine.catalog.browse(text=text, limit=5)  # Catalog page's and Refine's "name contains"
    context.engine.catalog.count(text)
    return context.engine.search_text(text, k=5)


def _run_feedback(context: Context, text: str):
    return context.engine.search_composed(text, ref_id=context.ref_id, k=5, method="sum")


RUNNERS = {
    "image": _run_image,
    "path": _run_path,
    "zip": _run_zip,
    "csv": _run_csv,
    "queries": _run_queries,
    "query-zip": _run_query_zip,
    "text": _run_text,
    "feedback": _run_feedback,
}


# ---- making the files ----------------------------------------------------------------------------
def _picture(size=(96, 96), colour=(200, 40, 40)) -> Image.Image:
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).rectangle((size[0] // 4, size[1] // 4, 3 * size[0] // 4, 3 * size[1] // 4), fill=colour)
    return image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""
    data = bytearray(_encode(_picture((8, 8)), "PNG"))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


def _png_with_text_bomb() -> bytes:
    """A PNG with a zTXt chunk that inflates to 64 MB."""
    data = _encode(_picture((8, 8)), "PNG")
    payload = b"Comment\x00\x00" + zlib.compress(b"\x00" * (64 << 20), 9)
    chunk = struct.pack(">I", len(payload)) + b"zTXt" + payload
    chunk += struct.pack(">I", zlib.crc32(b"zTXt" + payload) & 0xFFFFFFFF)
    return data[:33] + chunk + data[33:]


def _bmp_with_size(width: int, height: int) -> bytes:
    data = bytearray(_encode(_picture((8, 8)), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _gif_with_size(width: int, height: int) -> bytes:
    data = bytearray(_encode(_picture((8, 8)), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _animated(fmt: str, frames: int) -> bytes:
    images = [_picture((64, 64), (i % 256, 80, 200)) for i in range(frames)]
    return _encode(images[0], fmt, save_all=True, append_images=images[1:], duration=10, loop=0)


def _grey16() -> bytes:
    ramp = np.linspace(0, 65535, 96 * 96).reshape(96, 96).astype(np.uint16)
    return _encode(Image.fromarray(ramp), "PNG")


def _tiff_of(array: np.ndarray) -> bytes:
    return _encode(Image.fromarray(array), "TIFF")


def _jpeg_with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return _encode(_picture((120, 80)), "JPEG", exif=exif.tobytes())


def _zip(files: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_central(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Set a field of every central-directory entry (offset within the entry, struct format)."""
    data = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        position = archive.start_dir
    while data[position : position + 4] == b"PK\x01\x02":
        struct.pack_into(fmt, data, position + offset, value)
        names, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        position += 46 + names + extra + comment
    return bytes(data)


def _declaring_entries(data: bytes, count: int) -> bytes:
    """The zip with its end record claiming `count` entries."""
    data = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, min(count, 0xFFFF), min(count, 0xFFFF))
    return bytes(data)


def _catalog_files(ids=(900001, 900002)) -> dict[str, bytes]:
    rows = [COLUMNS] + [f"{i},Women,Apparel,Topwear,Tops,Red,Summer,Casual,Drill Top {i},Red" for i in ids]
    files = {f"images/{i}.jpg": _encode(_picture(), "JPEG") for i in ids}
    files["styles.csv"] = ("\n".join(rows) + "\n").encode()
    return files


def _symlink_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in _catalog_files((900011,)).items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("images/900012.jpg")
        link.external_attr = 0o120777 << 16  # a symbolic link to a server file
        archive.writestr(link, "/etc/passwd")
    return buffer.getvalue()


def _bad_crc_zip() -> bytes:
    data = bytearray(_zip(_catalog_files((900021,)), zipfile.ZIP_STORED))
    position = data.find(b"Drill Top")
    data[position] ^= 0xFF
    return bytes(data)


def _csv_folder(lines: list[str] | bytes, with_images=(900031,)) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / "images").mkdir(parents=True, exist_ok=True)
        for product_id in with_images:
            _picture(colour=(30, 90, 200)).save(folder / "images" / f"{product_id}.jpg")
        text = lines if isinstance(lines, bytes) else ("\n".join([COLUMNS, *lines]) + "\n").encode()
        (folder / "styles.csv").write_bytes(text)
        return folder

    return make


def _row(product_id, name="Drill Shirt") -> str:
    return f"{product_id},Men,Apparel,Topwear,Shirts,Blue,Summer,Casual,{name},Blue"


def _queries(lines: list[str] | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "queries.jsonl"
        path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
        return path

    return make


def _file(data: bytes, name: str = "upload.jpg") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.jpg"
    if not path.exists():
        os.mkfifo(path)
    return path


def _symlink_to(target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "link.jpg"
        if not path.is_symlink():
            path.symlink_to(target)
        return path

    return make


def _not_white(value) -> str | None:
    picture = value[1]
    mean = float(np.asarray(picture).mean())
    return None if 30 < mean < 225 else f"decoded as a flat picture (mean {mean:.0f}), not the ramp it holds"


def _some_results(value) -> str | None:
    return None if value.hits else "no results"


def _nothing_escaped(report) -> str | None:
    escaped = [p for p in (Path("/escape.jpg"), Path("/tmp/escape.jpg"), Path("/abs/escape.jpg")) if p.exists()]
    return f"wrote outside the upload's folder: {escaped}" if escaped else None


def _queries_with_dev_zero(folder: Path) -> Path:
    link = folder / "zero.jpg"
    if not link.is_symlink():
        link.symlink_to("/dev/zero")
    return _queries(['{"image": "zero.jpg", "relevant_ids": [1]}', '{"text": "red top", "relevant_ids": [1]}'])(folder)


def hostile_cases() -> list[Case]:
    """Every case, in a fixed order (random parts seeded)."""
    rng = random.Random(13)
    good_jpeg = _encode(_picture((200, 300)), "JPEG")
    good_zip = _zip(_catalog_files())
    nested = 100_000
    image = [
        Case("postscript-named-jpg", "image", lambda f: b"%!PS\n{ } loop\n", "refused"),
        Case(
            "eps-with-bounding-box",
            "image",
            lambda f: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 9 9\n{ } loop\n",
            "refused",
        ),
        Case("pdf", "image", lambda f: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "refused"),
        Case("dds-valid", "image", lambda f: _encode(_picture((16, 16)).convert("RGBA"), "DDS"), "refused"),
        Case(
            "dds-corrupt",
            "image",
            lambda f: b"DDS " + struct.pack("<I", 124) + bytes(rng.randrange(256) for _ in range(200)),
            "refused",
        ),
        Case("psd-header", "image", lambda f: b"8BPS\x00\x01" + bytes(100), "refused"),
        Case(
            "svg-with-script",
            "image",
            lambda f: b'<svg xmlns="http://www.w3.org/2000/svg"><script>for(;;){}</script></svg>',
            "refused",
        ),
        Case("html", "image", lambda f: b"<!doctype html><html><body>hello</body></html>", "refused"),
        Case("zip-named-jpg", "image", lambda f: good_zip, "refused"),
        Case(
            "elf-binary",
            "image",
            lambda f: b"\x7fELF\x02\x01\x01" + bytes(rng.randrange(256) for _ in range(500)),
            "refused",
        ),
        Case("random-bytes", "image", lambda f: bytes(rng.randrange(256) for _ in range(4096)), "refused"),
        Case("empty-file", "image", lambda f: b"", "refused"),
        Case("one-byte", "image", lambda f: b"\xff", "refused"),
        Case("plain-text", "image", lambda f: b"hello, this is not a photo", "refused"),
        Case("truncated-jpeg", "image", lambda f: good_jpeg[: len(good_jpeg) // 3], "refused"),
        Case("jpeg-header-only", "image", lambda f: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "refused"),
        Case(
            "png-broken-crc",
            "image",
            lambda f: (lambda d: d[:40] + bytes([d[40] ^ 0xFF]) + d[41:])(_encode(_picture(), "PNG")),
            "refused",
        ),
        Case("png-16-bit-grey", "image", lambda f: _grey16(), "handled", _not_white),
        Case("png-48-bit-colour", "image", lambda f: _png_rgb16(), "handled"),
        Case(
            "tiff-float",
            "image",
            lambda f: _tiff_of(np.linspace(0, 1, 96 * 96, dtype=np.float32).reshape(96, 96)),
            "handled",
            _not_white,
        ),
        Case(
            "tiff-int32",
            "image",
            lambda f: _tiff_of(np.linspace(0, 70000, 96 * 96).astype(np.int32).reshape(96, 96)),
            "handled",
            _not_white,
        ),
        Case("tiff-bad-ifd", "image", lambda f: b"II*\x00\xff\xff\xff\x7f" + bytes(64), "refused"),
        Case("png-1x1", "image", lambda f: _encode(Image.new("RGB", (1, 1), "red"), "PNG"), "handled"),
        Case("png-100000x1", "image", lambda f: _encode(Image.new("L", (100_000, 1), 128), "PNG"), "handled"),
        Case("png-1x100000", "image", lambda f: _encode(Image.new("L", (1, 100_000), 128), "PNG"), "handled"),
        Case("gif-300-frames", "image", lambda f: _animated("GIF", 300), "handled"),
        Case("webp-animated", "image", lambda f: _animated("WEBP", 30), "handled"),
        Case("png-claims-30000x30000", "image", lambda f: _png_with_size(30_000, 30_000), "refused"),
        Case("png-claims-1x2000000000", "image", lambda f: _png_with_size(1, 2_000_000_000), "refused"),
        Case("gif-claims-65535x65535", "image", lambda f: _gif_with_size(65_535, 65_535), "refused"),
        Case("bmp-claims-50000x50000", "image", lambda f: _bmp_with_size(50_000, 50_000), "refused"),
        Case("bmp-negative-size", "image", lambda f: _bmp_with_size(-8, -2_000_000_000), "refused"),
        Case("png-text-chunk-bomb", "image", lambda f: _png_with_text_bomb()),
        Case("file-of-41-mb", "image", lambda f: good_jpeg + bytes(41 * 2**20), "refused"),
        Case("cmyk-jpeg", "image", lambda f: _encode(_picture().convert("CMYK"), "JPEG"), "handled"),
        Case("exif-orientation-9", "image", lambda f: _jpeg_with_orientation(9), "handled"),
        Case("exif-orientation-6", "image", lambda f: _jpeg_with_orientation(6), "handled"),
        Case(
            "palette-with-transparency",
            "image",
            lambda f: _encode(_picture().convert("P"), "PNG", transparency=0),
            "handled",
        ),
        Case("grey-with-alpha", "image", lambda f: _encode(_picture().convert("LA"), "PNG"), "handled"),
        Case("one-bit-bmp", "image", lambda f: _encode(_picture().convert("1"), "BMP"), "handled"),
        Case("ico", "image", lambda f: _encode(_picture((32, 32)), "ICO"), "refused"),
        Case("tga", "image", lambda f: _encode(_picture(), "TGA"), "refused"),
        Case("ppm", "image", lambda f: _encode(_picture(), "PPM"), "refused"),
        Case(
            "xbm-text",
            "image",
            lambda f: b"#define x_width 8\n#define x_height 1\nstatic char x_bits[] = {0x00};\n",
            "refused",
        ),
        Case("jpeg-then-zip", "image", lambda f: good_jpeg + good_zip, "handled"),
        Case(
            "heic-header", "image", lambda f: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), "refused"
        ),
        Case("jpeg-2000", "image", lambda f: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(64), "refused"),
    ]
    paths = [
        Case("path-dev-zero", "path", lambda f: Path("/dev/zero"), "refused"),
        Case("path-named-pipe", "path", _fifo, "refused"),
        Case("path-folder", "path", lambda f: f, "refused"),
        Case("path-link-to-dev-zero", "path", _symlink_to("/dev/zero"), "refused"),
        Case("path-etc-passwd", "path", lambda f: Path("/etc/passwd"), "refused"),
        Case("path-missing", "path", lambda f: f / "nope.jpg", "refused"),
        Case("path-postscript-file", "path", _file(b"%!PS\n{ } loop\n", "x.jpg"), "refused"),
    ]
    archives = [
        Case(
            "zip-traversal",
            "zip",
            lambda f: _zip({**_catalog_files((900041,)), "../../escape.jpg": good_jpeg, "/abs/escape.jpg": good_jpeg}),
            "handled",
            _nothing_escaped,
        ),
        Case("zip-declares-4-gb", "zip", lambda f: _patch_central(good_zip, 24, "<I", 0xF0000000), "refused"),
        Case("zip-encrypted", "zip", lambda f: _patch_central(good_zip, 8, "<H", 0x1), "refused"),
        Case("zip-aes", "zip", lambda f: _patch_central(good_zip, 10, "<H", 99), "refused"),
        Case("zip-bad-crc", "zip", lambda f: _bad_crc_zip(), "refused"),
        Case("zip-truncated", "zip", lambda f: good_zip[: len(good_zip) // 2], "refused"),
        Case("zip-symlink-member", "zip", lambda f: _symlink_zip(), "handled"),
        Case("zip-two-csvs", "zip", lambda f: _zip({**_catalog_files(), "other.csv": b"a,b\n"}), "refused"),
        Case("zip-no-csv", "zip", lambda f: _zip({"images/1.jpg": good_jpeg}), "refused"),
        Case("zip-not-a-zip", "zip", lambda f: b"PK\x03\x04 not really", "refused"),
        Case("zip-in-zip", "zip", lambda f: _zip({**_catalog_files((900051,)), "inner.zip": good_zip}), "handled"),
        Case(
            "zip-300-character-name",
            "zip",
            lambda f: _zip({**_catalog_files((900071,)), f"images/{'9' * 300}.jpg": good_jpeg}),
            "refused",
        ),
        Case("zip-declares-65535-entries", "zip", lambda f: _declaring_entries(good_zip, 65_535)),
        Case(
            "query-zip-file-and-folder",
            "query-zip",
            lambda f: _zip({"q.jsonl": b'{"text": "red", "relevant_ids": [1]}\n', "img": b"x", "img/a.jpg": good_jpeg}),
            "refused",
        ),
        Case(
            "query-zip-300-character-name",
            "query-zip",
            lambda f: _zip({"q.jsonl": b'{"text": "red", "relevant_ids": [1]}\n', "x" * 300 + ".jpg": good_jpeg}),
            "refused",
        ),
        Case(
            "query-zip-traversal",
            "query-zip",
            lambda f: _zip(
                {
                    "q.jsonl": b'{"image": "../../etc/passwd", "relevant_ids": [1]}\n'
                    b'{"text": "red", "relevant_ids": [1]}\n',
                    "../../escape.jpg": good_jpeg,
                }
            ),
            "handled",
        ),
        Case(
            "zip-5000-members",
            "zip",
            lambda f: _zip({**_catalog_files((900061,)), **{f"junk/{i}.txt": b"x" for i in range(5000)}}),
            "handled",
        ),
    ]
    csvs = [
        Case(
            "csv-odd-ids",
            "csv",
            _csv_folder(
                [
                    _row("²"),
                    _row("18446744073709551616"),
                    _row("-5"),
                    _row("1e5"),
                    _row(""),
                    _row("abc"),
                    _row("١٢٣"),
                    _row(" 900031 "),
                ]
            ),
            "handled",
        ),
        Case(
            "csv-latin-1",
            "csv",
            _csv_folder((COLUMNS + "\n" + _row(900031, "Caf\xe9 Shirt") + "\n").encode("latin-1")),
            "handled",
        ),
        Case("csv-utf-16", "csv", _csv_folder((COLUMNS + "\n" + _row(900031) + "\n").encode("utf-16")), "refused"),
        Case(
            "csv-nul-and-escapes",
            "csv",
            _csv_folder((COLUMNS + "\n" + _row(900031, "Nul\x00Shirt \x1b[31m") + "\n").encode()),
            "handled",
        ),
        Case("csv-200k-character-cell", "csv", _csv_folder([_row(900031, "x" * 200_000)]), "refused"),
        Case(
            "csv-formula-and-html",
            "csv",
            _csv_folder([_row(900031, "=cmd|' /C calc'!A0 <script>alert(1)</script>")]),
            "handled",
        ),
        Case("csv-missing-columns", "csv", _csv_folder(b"id,name\n900031,shirt\n"), "refused"),
        Case("csv-duplicate-ids", "csv", _csv_folder([_row(900031), _row(900031, "Second")]), "handled"),
        Case("csv-empty", "csv", _csv_folder(b""), "refused"),
    ]
    ref = '"ref_id": 1, '
    queries = [
        Case("queries-ref-id-1e400", "queries", _queries(['{"ref_id": 1e400, "relevant_ids": [1]}']), "refused"),
        Case("queries-nested-100000", "queries", _queries(["[" * nested + "]" * nested]), "refused"),
        Case("queries-ref-id-superscript", "queries", _queries(['{"ref_id": "²", "relevant_ids": [1]}']), "refused"),
        Case(
            "queries-id-2-to-the-64",
            "queries",
            _queries(['{"text": "red", "relevant_ids": [18446744073709551616]}']),
            "refused",
        ),
        Case("queries-ref-id-nan", "queries", _queries(['{"ref_id": NaN, "relevant_ids": [1]}']), "refused"),
        Case(
            "queries-image-outside",
            "queries",
            _queries(
                [
                    '{"image": "/etc/passwd", "relevant_ids": [1]}',
                    '{"image": "../../../etc/shadow", "relevant_ids": [1]}',
                ]
            ),
            "refused",
        ),
        Case("queries-image-dev-zero", "queries", _queries_with_dev_zero, "handled"),
        Case(
            "queries-2-mb-line",
            "queries",
            _queries(['{"text": "' + "a" * 2_000_000 + '", "relevant_ids": [1]}']),
            "refused",
        ),
        Case("queries-not-utf8", "queries", _queries(b'{"text": "\xff\xfe red", "relevant_ids": [1]}\n'), "refused"),
        Case(
            "queries-mixed",
            "queries",
            _queries(
                [
                    '{"text": "red top", "relevant_ids": [1]}',
                    "not json",
                    "[]",
                    "{" + ref + '"text": "' + "z" * 10_000 + '", "relevant_ids": [2]}',
                ]
            ),
            "handled",
        ),
    ]
    texts = [
        Case("text-10000-characters", "text", lambda f: "red dress " * 1000, "handled"),
        Case("text-emoji", "text", lambda f: "👗👠🔥 red 🧥", "handled"),
        Case("text-chinese", "text", lambda f: "红色连衣裙", "handled"),
        Case("text-arabic", "text", lambda f: "فستان أحمر", "handled"),
        Case("text-zero-width", "text", lambda f: "\u200b\u200d\ufeff", "handled"),
        Case("text-mongo-where", "text", lambda f: '{"$where": "sleep(100000)"}', "handled"),
        Case("text-mongo-ne", "text", lambda f: '{"$ne": null}', "handled"),
        Case("text-regex-redos", "text", lambda f: "(a+)+$" + "a" * 60 + "!", "handled"),
        Case("text-nul", "text", lambda f: "red\x00dress", "handled"),
        Case("text-whitespace-only", "text", lambda f: " \n\t  ", "refused"),
        Case("text-terminal-escapes", "text", lambda f: "\x1b[31mred\x1b[0m \x07", "handled"),
        Case("text-right-to-left-override", "text", lambda f: "\u202edress red", "handled"),
        Case("text-sql", "text", lambda f: "'; DROP TABLE products; --", "handled"),
        Case("text-html", "text", lambda f: "<img src=x onerror=alert(1)>", "handled"),
        Case("feedback-10000-characters", "feedback", lambda f: "lighter and longer " * 530, "handled", _some_results),
        Case("feedback-emoji", "feedback", lambda f: "🔥 but in 💙", "handled"),
        Case("feedback-typos", "feedback", lambda f: "lgihter sleevs blu for wmen", "handled"),
        Case("feedback-other-script", "feedback", lambda f: "более светлый", "handled"),
        Case("feedback-mongo-operator", "feedback", lambda f: '{"$gt": ""}', "handled"),
        Case("feedback-empty", "feedback", lambda f: "", "handled"),
    ]
    return image + paths + archives + csvs + queries + texts


def _png_rgb16() -> bytes:
    """A 16-bit-per-channel colour PNG, written by hand (Pillow cannot write one)."""
    width, height = 32, 32
    rows = b"".join(
        b"\x00" + struct.pack(">" + "H" * width * 3, *([40000, 20000, 5000] * width)) for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def summary(outcomes: list[Outcome]) -> dict:
    by_group: dict[str, dict] = {}
    for o in outcomes:
        group = by_group.setdefault(o.group, {"cases": 0, "refused": 0, "handled": 0, "failed": 0, "max_s": 0.0})
        group["cases"] += 1
        group[o.result.lower() if o.passed else "failed"] += 1
        group["max_s"] = max(group["max_s"], round(o.seconds, 2))
    return by_group


def to_json(outcomes: list[Outcome]) -> list[dict]:
    return [
        {"name": o.name, "group": o.group, "result": o.result, "message": o.message, "seconds": round(o.seconds, 3)}
        for o in outcomes
    ]

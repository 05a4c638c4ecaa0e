"""Command line of StyleLens: the same core functions the pages call.

    python -m core ingest --images DIR --styles CSV
    python -m core search (--image PATH | --text TEXT) [--gender G] [--category C] [--k 10] [--rerank on|off] --json
    python -m core status --json
    python -m core reindex          (garment features brought up to date, index rebuilt)
    python -m core prepare
    python -m core db (start|stop)
    python -m core evaluate --queries FILE.jsonl [--k 50] [--method image|text|sum|composer] [--constraints]
                            [--rerank on|off] --json
    python -m core compose (--image PATH | --ref-id ID) --text TEXT [--method M] [--k 10] [--rerank on|off] --json
    python -m core categories DIR [--top 5] --json
    python -m core look --image PATH [--image PATH ...] [--k 5] [--gender G] [--rerank on|off] --json
    python -m core describe (--image PATH ... | --image DIR | --ref-id ID ...) [--json]
    python -m core models [--json]

Re-ranking is on by default, as in the app (its sidebar switch); `--rerank off` gives the first stage.
Exit codes (core/errors.py): 0 success, 1 bad input or data (message on stderr), 2 usage error, 3 database (or
Milvus) unreachable, 4 a model missing or unusable, 5 the app's own files could not be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.config import load_settings
from core.errors import DatabaseUnavailable, ImageError, QueryError, StyleLensError, exit_code
from core.index import SearchFilter


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except StyleLensError as exc:  # expected: bad input, a model or the database unavailable; bugs show a traceback
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="StyleLens fashion search.")
    commands = parser.add_subparsers(dest="command", required=True)

    ingest = commands.add_parser("ingest", help="import products (images + CSV) into the catalog")
    ingest.add_argument("--images", type=Path, required=True, help="folder of <id>.jpg images")
    ingest.add_argument("--styles", type=Path, required=True, help="CSV in the Fashion Product Images layout")
    ingest.add_argument("--json", action="store_true", help="print the import report as JSON")
    ingest.set_defaults(run=_ingest)

    search = commands.add_parser("search", help="search the catalog by image or text")
    query = search.add_mutually_exclusive_group(required=True)
    query.add_argument("--image", type=Path, help="a product photo")
    query.add_argument("--text", help="a description, e.g. 'red floral summer dress'")
    search.add_argument(
        "--gender", help="Men, Women, Boys, Girls or Unisex (Unisex items are kept unless --strict-gender)"
    )
    search.add_argument("--strict-gender", action="store_true", help="do not add Unisex items to a gender filter")
    search.add_argument("--category", action="append", help="masterCategory, subCategory or articleType (repeatable)")
    search.add_argument("--k", type=int, default=10, help="number of results (default 10)")
    search.add_argument(
        "--rerank",
        choices=["on", "off"],
        default="on",
        help="re-rank the top 100 with the garment-feature re-ranker (default on, as in the app)",
    )
    search.add_argument("--json", action="store_true", help='print {"hits": [...]} as JSON')
    search.set_defaults(run=_search)

    status = commands.add_parser("status", help="database, catalog, index and encoder state")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=_status)

    reindex = commands.add_parser("reindex", help="re-embed what is missing and rebuild the index")
    reindex.set_defaults(run=_reindex)

    prepare = commands.add_parser(
        "prepare",
        help="what ./run_app.sh does before the app opens: database up, "
        "catalog imported from CATALOG_DIR if empty, index in step",
    )
    prepare.set_defaults(run=_prepare)

    evaluate = commands.add_parser("evaluate", help="score the search on a JSON Lines file of queries")
    evaluate.add_argument(
        "--queries",
        type=Path,
        required=True,
        help="one JSON object per line: image / ref_id / text, relevant_ids, kind",
    )
    evaluate.add_argument("--k", type=int, default=50, help="ranking depth, 50 to 200 (default 50)")
    evaluate.add_argument(
        "--method",
        choices=["image", "text", "sum", "composer"],
        help="how image + text queries are combined (default: the best available)",
    )
    evaluate.add_argument(
        "--constraints",
        action="store_true",
        help="apply the app's filters to image + text queries (gender / type asked for, else the reference's)",
    )
    evaluate.add_argument(
        "--rerank",
        choices=["on", "off"],
        default="on",
        help="re-rank each query's top 100 with the garment-feature re-ranker (default on, as in the app)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(run=_evaluate)

    compose = commands.add_parser("compose", help="a reference refined by feedback text, e.g. 'lighter, for women'")
    reference = compose.add_mutually_exclusive_group(required=True)
    reference.add_argument("--image", type=Path, help="a reference photo")
    reference.add_argument("--ref-id", type=int, help="a catalog product as the reference")
    compose.add_argument("--text", required=True, help="the feedback")
    compose.add_argument(
        "--method",
        choices=["image", "text", "sum", "composer"],
        help="how reference and text are combined (default: the best available)",
    )
    compose.add_argument("--k", type=int, default=10)
    compose.add_argument(
        "--rerank",
        choices=["on", "off"],
        default="on",
        help="re-rank the top 100 with the garment-feature re-ranker (default on, as in the app)",
    )
    compose.add_argument("--json", action="store_true")
    compose.set_defaults(run=_compose)

    look = commands.add_parser("look", help="shop the look: pose, gender, garments and similar products per garment")
    look.add_argument(
        "--image",
        type=Path,
        action="append",
        required=True,
        help="a photo of a person, or a folder of them (repeatable)",
    )
    look.add_argument("--k", type=int, default=5, help="products per garment (default 5)")
    look.add_argument("--gender", choices=["Men", "Women"], help="override the gender check")
    look.add_argument(
        "--rerank",
        choices=["on", "off"],
        default="on",
        help="re-rank each garment's top 100 with the garment-feature re-ranker (default on, as in the app)",
    )
    look.add_argument("--json", action="store_true", help="one JSON object per photo and line")
    look.set_defaults(run=_look)

    models = commands.add_parser("models", help="the shipped models: file, loader, card and key figures")
    models.add_argument("--json", action="store_true", help='print {"models": [...]} as JSON')
    models.set_defaults(run=_models)

    categories = commands.add_parser("categories", help="the most common article types in a folder of images")
    categories.add_argument("folder", type=Path)
    categories.add_argument("--top", type=int, default=5, help="how many categories to list (default 5)")
    categories.add_argument("--json", action="store_true")
    categories.set_defaults(run=_categories)

    describe = commands.add_parser("describe", help="kind, colour, sleeves and length of garment photos or products")
    source = describe.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, action="append", help="a garment photo, or a folder of them (repeatable)")
    source.add_argument("--ref-id", type=int, action="append", help="a catalog product id (repeatable)")
    describe.add_argument("--json", action="store_true", help="one JSON object per photo or product and line")
    describe.set_defaults(run=_describe)

    db = commands.add_parser("db", help="start or stop the embedded database (when MONGO_URI is unset)")
    db.add_argument("action", choices=["start", "stop"])
    db.set_defaults(run=_db)
    return parser


def _engine():
    from core.engine import StyleLens

    return StyleLens.open(load_settings())


def _ingest(args) -> int:
    engine = _engine()
    with ProgressBar() as bar:
        report = engine.import_catalog(args.images, args.styles, progress=bar)
    if args.json:
        print(
            json.dumps(
                {
                    "rows": report.rows,
                    "added": report.added,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    "seconds": round(report.seconds, 2),
                    "skipped": [{"id": i, "reason": r} for i, r in report.skipped],
                }
            )
        )
    else:
        print(report.summary())
        for product_id, reason in report.skipped[:20]:
            print(f"  skipped {product_id}: {reason}")
        if len(report.skipped) > 20:
            print(f"  ... and {len(report.skipped) - 20} more")
    return 0


def _search(args) -> int:
    engine = _engine()
    where = SearchFilter.make(args.gender, args.category, include_unisex=not args.strict_gender)
    rerank = args.rerank == "on"
    if args.image is not None:
        result = engine.search_image(args.image, args.k, where, rerank=rerank)
    else:
        result = engine.search_text(args.text, args.k, where, rerank=rerank)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        _print_result(result)
    return 0


def _print_result(result) -> None:
    for note in result.notes:
        print(f"note: {note}")
    for hit in result.hits:
        p = hit.product
        chips = " ".join(f"{c.label} {'✓' if c.ok else '✗'}" for c in result.chips.get(p.id, []))
        print(
            f"{hit.rank:3d}. {hit.score:.3f}  {p.id:>6}  {p.name}  [{p.gender} / {p.article_type} / {p.base_colour}]"
            + (f"  {chips}" if chips else "")
        )


def _status(args) -> int:
    from core.catalog import Catalog
    from core.encoders import load_encoder
    from core.engine import StyleLens

    settings = load_settings()
    try:
        catalog = Catalog.open(settings)
    except DatabaseUnavailable as exc:
        status = {
            "products": 0,
            "indexed": 0,
            "index_in_step": False,
            "encoder": settings.encoder_name,
            "database": str(exc),
        }
        print(json.dumps(status) if args.json else f"database: {exc}")
        return 3
    status = StyleLens(settings, catalog, load_encoder(settings.encoder_name)).status()
    if args.json:
        print(json.dumps(status.to_json()))
    else:
        for key, value in status.to_json().items():
            print(f"{key}: {value}")
    return 0 if status.database == "ok" else 3


def _reindex(args) -> int:
    engine = _engine()
    with ProgressBar() as bar:
        updated = engine.update_features(progress=bar)
    if updated:
        print(f"garment features: {updated} products read again (sleeves, length, colour)")
    with ProgressBar() as bar:
        index = engine.rebuild_index(progress=bar, full=True)
    print(f"index: {len(index)} products, {index.manifest.index_type}, encoder {index.manifest.model_key}")
    return 0


def _prepare(args) -> int:
    settings = load_settings()
    engine = _engine()
    print(f"» Database: {engine.catalog.address}")
    products = engine.catalog.count()
    if products == 0 and settings.catalog_dir:
        print(f"» The catalog is empty: importing {settings.catalog_dir}")
        with ProgressBar() as bar:
            report = engine.import_catalog(settings.catalog_dir / "images", settings.catalog_dir / "styles.csv", bar)
        print(f"  {report.summary()}")
    elif products == 0:
        print(
            "» The catalog is empty. Import one on the Catalog page, or set CATALOG_DIR to a folder "
            "holding images/ and styles.csv and run again."
        )
    with ProgressBar() as bar:
        updated = engine.update_features(progress=bar)  # stale after a new extractor or attribute model
    if updated:
        print(f"» Garment features read again for {updated:,} products (sleeves, length, colour)")
    with ProgressBar() as bar:
        index = engine.index(progress=bar)
    print(f"» Index: {len(index):,} products ({index.manifest.index_type}), encoder {index.manifest.model_key}")
    with ProgressBar() as bar:
        due = engine.update_features(progress=bar)
    if due:
        print(f"» Garment features read for {due:,} products")
    return 0


def _evaluate(args) -> int:
    from core.evaluation import evaluate, read_queries

    queries, skipped = read_queries(args.queries)
    engine = _engine()
    method = args.method or engine.best_method()
    with ProgressBar() as bar:
        report = evaluate(
            engine,
            queries,
            args.k,
            method=method,
            skipped=skipped,
            progress=bar,
            constraints=args.constraints,
            rerank=args.rerank == "on",
        )
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    print(f"encoder {report.encoder}, k={report.k}, {report.seconds:.1f} s")
    rows = [("all", report.overall)] + list(report.by_kind.items())
    names = [n for n in report.overall if n != "n"]
    print(f"{'kind':<24}{'n':>6}" + "".join(f"{n:>14}" for n in names))
    for kind, scores in rows:
        print(f"{kind[:23]:<24}{scores['n']:>6}" + "".join(f"{scores[n]:>14.4f}" for n in names))
    for line, reason in report.skipped[:20]:
        print(f"  skipped line {line}: {reason}")
    return 0


def _compose(args) -> int:
    engine = _engine()
    method = args.method or engine.best_method()
    result = engine.search_composed(
        args.text, image=args.image, ref_id=args.ref_id, k=args.k, method=method, rerank=args.rerank == "on"
    )
    if args.json:
        print(json.dumps({**result.to_json(), "method": method}))
        return 0
    _print_result(result)
    return 0


def _models(args) -> int:
    from core.artifacts import ARTIFACTS, describe

    models = [describe(artifact) for artifact in ARTIFACTS.values()]
    if args.json:
        print(json.dumps({"models": models}))
        return 0
    for model in models:
        size = f"{model['megabytes']} MB" if model["present"] else "MISSING"
        print(f"{model['name']} ({size}): {model['family']}")
        for what, value in model["key_figures"].items():
            print(f"  {what}: {value}")
    return 0 if all(m["present"] for m in models) else 4


def _look(args) -> int:
    from core.categories import image_files
    from core.encoders import load_attribute_model
    from core.images import load_image, original_size
    from core.look.gender import load_gender_model
    from core.look.pose_model import PoseModel
    from core.look.shop import DETECTOR_WEIGHTS, GarmentDetector, shop_the_look

    photos = [p for path in args.image for p in (image_files(path) if path.is_dir() else [path])]
    if not photos:
        raise QueryError("No photos found.")
    detector = GarmentDetector(DETECTOR_WEIGHTS)
    engine, pose = _engine(), PoseModel()
    gender = load_gender_model(load_attribute_model(engine.settings.encoder_name))
    failures = 0
    for photo in photos:
        try:
            picture = load_image(photo)
            result = shop_the_look(
                engine, picture, detector, pose, gender, args.k, args.gender, rerank=args.rerank == "on"
            )
        except ImageError as exc:
            failures += 1
            print(json.dumps({"image": str(photo), "error": str(exc)}) if args.json else f"{photo}: {exc}")
            continue
        data = {"image": str(photo), **result.to_json(original_size(picture)[0] / picture.width)}  # file pixels
        if args.json:
            print(json.dumps(data))
        else:
            verdict = "full shot" if result.pose.full_shot else "not a full shot"
            whose = (
                f"{result.gender} ({result.gender_score:.0%} by {result.gender_source})" if result.gender else "anyone"
            )
            print(f"{photo}: {verdict}, {whose}" + "".join(f"; {r}" for r in result.pose.reasons))
            for note in result.notes:
                print(f"  note: {note}")
            for garment in data["garments"]:
                names = ", ".join(h["name"] for h in garment["hits"][:3])
                print(f"  {garment['label']} {garment['box']} {garment['score']:.2f}: {names}")
    return 1 if failures == len(photos) else 0


def _categories(args) -> int:
    from core.categories import categorize, image_files
    from core.photo_query import attribute_reader

    files = image_files(args.folder)
    if not files:
        raise QueryError(f"No images in {args.folder}.")
    reader = attribute_reader(load_settings())
    with ProgressBar() as bar:
        report = categorize(reader, [(str(p.relative_to(args.folder)), p) for p in files], bar)
    if args.json:
        print(json.dumps(report.to_json(args.top)))
        return 0
    print(f"{len(report.predictions)} images" + (f", {len(report.skipped)} skipped" if report.skipped else ""))
    for count in report.top(args.top):
        print(
            f"  {count.article_type:<24}{count.images:>6}  {count.share:6.1%}  confidence {count.mean_confidence:.2f}"
        )
    return 0


def _describe(args) -> int:
    """One line per photo or product; a photo that cannot be read gets an "error" line, the rest go on."""
    from core.categories import image_files
    from core.images import load_image

    lens = _engine()
    if args.ref_id:
        items = [("id", i, lambda i=i: lens.describe_product(i)) for i in args.ref_id]
    else:
        paths = [f for p in args.image for f in (image_files(p) if p.is_dir() else [p])]
        if not paths:
            raise QueryError("No images in " + ", ".join(str(p) for p in args.image) + ".")
        items = [("image", str(p), lambda p=p: lens.describe_photo(load_image(p))) for p in paths]
    failures = 0
    for key, name, read in items:
        try:
            data = {key: name, **read().to_json()}
        except (ImageError, StyleLensError) as exc:
            failures += 1
            data = {key: name, "error": str(exc)}
        if args.json:
            print(json.dumps(data))
        elif "error" in data:
            print(f"{name}: {data['error']}")
        else:
            print(
                f"{name}: {data['article_type']} ({data['article_type_score']:.2f}) · colour {data['colour']} · "
                f"sleeves {data['sleeves'] or '?'} ({data['sleeve_confidence']:.2f}) · length {data['length'] or '?'}"
            )
    return 1 if failures == len(items) else 0


def _db(args) -> int:
    from core.dbserver import local_server_uri, stop_local_server

    settings = load_settings()
    if settings.mongo_uri:
        print("MONGO_URI is set: StyleLens uses that database and does not manage a server.", file=sys.stderr)
        return 1
    if args.action == "start":
        print(local_server_uri(settings.data_dir))
    else:
        print("stopped" if stop_local_server(settings.data_dir) else "not running")
    return 0


class ProgressBar:
    """A tqdm bar driven by core's progress(done, total, message) callbacks; silent without a terminal.
    The CLI's commands and the benchmarks show long work with it."""

    def __enter__(self):
        from tqdm import tqdm

        self._tqdm, self._bar, self._message = tqdm, None, None
        return self

    def __call__(self, done: int, total: int, message: str) -> None:
        if message != self._message:
            if self._bar:
                self._bar.close()
            self._bar = self._tqdm(
                total=total, desc=message, unit="item", file=sys.stderr, disable=not sys.stderr.isatty()
            )
            self._message = message
        self._bar.n = done
        self._bar.refresh()

    def __exit__(self, *exc):
        if self._bar:
            self._bar.close()


if __name__ == "__main__":
    sys.exit(main())

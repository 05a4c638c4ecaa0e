"""The evaluation harness: run a file of queries through the engine and score the rankings.

A query file is JSON Lines, one query per line, with any of
    image         path of a query photo, relative to the query file
    ref_id        a catalog product used as the query picture (never counted among its own results)
    text          a description, or feedback when given with image/ref_id
    relevant_ids  catalog ids that count as correct (required)
    kind          optional group name; the report breaks every metric down by it
Image and text together are combined by a compose callable (core/composer.py): the sum of the two unit
vectors by default, the baseline every learned composer is compared with through this same code.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from core.archives import unpack
from core.catalog import parse_id
from core.composer import Compose
from core.engine import StyleLens, constrain, read_feedback, wish_for, with_wish
from core.errors import ArchiveError, FileLimitError, ImageError, ModelUnavailable, QueryError, QueryFileError
from core.images import load_image, read_file_limited
from core.index import SearchFilter
from core.ingest import Progress
from core.metrics import first_relevant_rank, mean_metrics, query_metrics, recall_curve
from core.photo_query import PhotoQuery

MIN_EVAL_K, MAX_EVAL_K = 50, 200  # at least 50: recall@50 is part of every report
BATCH = 64
MAX_ZIP_BYTES = 2 * 1024**3
MAX_QUERY_FILE_BYTES = 64 * 1024**2  # ~200k queries
MAX_LINE_CHARS = 1_000_000  # one query's line; a longer one is skipped unread
MAX_RELEVANT = 100_000  # relevant ids of one query


@dataclass(frozen=True)
class EvalQuery:
    line: int
    relevant_ids: frozenset[int]
    image: Path | None = None
    ref_id: int | None = None
    text: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class QueryOutcome:
    query: EvalQuery
    ranked: tuple[int, ...]
    first_rank: int | None
    metrics: dict[str, float]


@dataclass
class EvalReport:
    k: int
    encoder: str
    outcomes: list[QueryOutcome]
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    seconds: float = 0.0
    method: str = "sum"  # how image + text queries were combined
    constraints: bool = False  # whether they also got the app's gender / type filters
    rerank: bool = False  # whether the re-ranker re-ordered the first stage's top candidates

    @property
    def overall(self) -> dict[str, float]:
        return mean_metrics(o.metrics for o in self.outcomes)

    @property
    def by_kind(self) -> dict[str, dict[str, float]]:
        kinds = sorted({o.query.kind for o in self.outcomes if o.query.kind})
        return {kind: mean_metrics(o.metrics for o in self.outcomes if o.query.kind == kind) for kind in kinds}

    def curve(self, kind: str | None = None) -> list[float]:
        """recall@1 .. recall@k for all queries or for one kind."""
        ranks = [o.first_rank for o in self.outcomes if kind is None or o.query.kind == kind]
        return recall_curve(ranks, self.k)

    def to_json(self) -> dict:
        rounded = {name: round(value, 4) if name != "n" else value for name, value in self.overall.items()}
        return {
            **rounded,
            "by_kind": {
                kind: {n: round(v, 4) if n != "n" else v for n, v in scores.items()}
                for kind, scores in self.by_kind.items()
            },
            "k": self.k,
            "encoder": self.encoder,
            "method": self.method,
            "constraints": self.constraints,
            "rerank": self.rerank,
            "seconds": round(self.seconds, 2),
            "skipped": [{"line": line, "reason": reason} for line, reason in self.skipped],
        }


def read_queries(path: Path, confine: bool = False) -> tuple[list[EvalQuery], list[tuple[int, str]]]:
    """Valid queries and (line, reason) for each line that cannot be used. With `confine` (an uploaded
    file), image paths must stay inside the query file's folder."""
    path = Path(path)
    try:
        lines = read_file_limited(path, MAX_QUERY_FILE_BYTES, "query file").decode("utf-8").splitlines()
    except FileLimitError as exc:
        raise QueryFileError(f"Cannot read the query file: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise QueryFileError(f"Cannot read the query file {path}: it is not UTF-8 text ({exc.reason}).") from exc
    queries, skipped = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            skipped.append((number, f"the line is longer than {MAX_LINE_CHARS:,} characters"))
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:  # not JSON, or a number too long to convert
            skipped.append((number, str(exc)[:200]))
            continue
        except RecursionError:
            skipped.append((number, "the JSON is nested too deeply"))
            continue
        try:
            queries.append(_parse_query(record, number, path.parent, confine))
        except QueryError as exc:  # a line that is JSON but not a query (InvalidId is a QueryError)
            skipped.append((number, str(exc)[:200]))
    if not queries:
        detail = f" (first problem, line {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise QueryFileError(f"{path.name} holds no usable query{detail}.")
    return queries, skipped


def query_file_name(name: str) -> str:
    """A safe file name for an uploaded query file, so messages name the file the user chose: its own
    name's plain characters (no folders, no leading dots), else queries.jsonl."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".")[-100:]  # file systems cap names
    return plain if plain.lower().endswith(".jsonl") and len(plain) > len(".jsonl") else "queries.jsonl"


def unpack_query_zip(data: bytes, into: Path) -> Path:
    """Unpack an uploaded zip (one .jsonl + the images it names) safely (core/archives.py); return the
    .jsonl's path."""
    found = []

    def targets(members: list) -> list:
        found.extend(m for m in members if m.name.lower().endswith(".jsonl"))
        if len(found) != 1:
            raise QueryFileError(f"The zip must hold exactly one .jsonl query file; it holds {len(found)}.")
        return [(m, into / m.name) for m in members]

    try:
        unpack(data, MAX_ZIP_BYTES, targets)
    except ArchiveError as exc:
        raise QueryFileError(str(exc)) from exc
    return into / found[0].name


def _parse_query(record: dict, line: int, folder: Path, confine: bool = False) -> EvalQuery:
    if not isinstance(record, dict):
        raise QueryFileError("a line must be a JSON object")
    relevant = record.get("relevant_ids")
    if not isinstance(relevant, list) or not relevant:
        raise QueryFileError("relevant_ids must be a non-empty list of catalog ids")
    if len(relevant) > MAX_RELEVANT:
        raise QueryFileError(f"relevant_ids holds more than {MAX_RELEVANT:,} ids")
    text = str(record["text"]).strip() if record.get("text") is not None else None
    image = _image_path(folder, record["image"], confine) if record.get("image") else None
    ref_id = parse_id(record["ref_id"]) if record.get("ref_id") is not None else None
    if image is None and ref_id is None and not text:
        raise QueryFileError("a query needs an image, a ref_id or a text")
    kind = str(record["kind"])[:100] if record.get("kind") is not None else None
    return EvalQuery(line, frozenset(parse_id(i) for i in relevant), image, ref_id, text or None, kind)


def _image_path(folder: Path, value, confine: bool) -> Path:
    if not isinstance(value, str) or "\x00" in value:
        raise QueryFileError("image must be a path written as a string")
    path = folder / value
    if confine and not path.resolve().is_relative_to(folder.resolve()):
        raise QueryFileError(f"image {value[:80]!r} is outside the uploaded file's folder")
    return path


def evaluate(
    engine: StyleLens,
    queries: Sequence[EvalQuery],
    k: int = 50,
    method: str = "sum",
    skipped: Sequence[tuple[int, str]] = (),
    progress: Progress | None = None,
    constraints: bool = False,
    rerank: bool = False,
) -> EvalReport:
    """Rank the catalog for every query and score the ranking against its relevant ids. Image + text
    queries are combined by the compose callable of `method` (core/composer.py). With `constraints`, they
    also get the filters the app applies (gender and type asked for in the text, else the reference's).
    Sleeve and length requests filter on the stored attributes, as in the app. With `rerank`, the top core.engine.RERANK_DEPTH candidates are re-ordered by the re-ranker (core/rerank.py)."""
    if not MIN_EVAL_K <= k <= MAX_EVAL_K:
        raise QueryError(f"k must be between {MIN_EVAL_K} and {MAX_EVAL_K}.")
    compose = engine.composition(method)
    started = time.perf_counter()
    index = engine.index()
    report = EvalReport(
        k=k,
        encoder=engine.encoder.model_key,
        outcomes=[],
        skipped=list(skipped),
        method=method,
        constraints=constraints,
        rerank=rerank,
    )
    for start in range(0, len(queries), BATCH):
        batch = queries[start : start + BATCH]
        vectors, problems = query_vectors(engine, batch, compose)
        filters = query_filters(engine, batch) if constraints else [SearchFilter()] * len(batch)
        report.skipped.extend(problems)
        for query, vector, where in zip(batch, vectors, filters):
            if vector is None:
                continue
            relevant = set(query.relevant_ids) - {query.ref_id}
            if not relevant:
                report.skipped.append((query.line, "no relevant id other than the query's own reference"))
                continue
            where = engine.attribute_filter(index, where, k, [])[0]  # sleeves / length asked -> stored ids
            photo = vector if isinstance(vector, PhotoQuery) else None  # the app's photo path: cut-out, type prior
            question = (lambda query=query, photo=photo: rerank_query(engine, query, photo)) if rerank else None
            ranking = engine.rank(vector, k, where, question, exclude=query.ref_id, index=index)  # as searches do
            if ranking.unavailable:  # a report must not call first-stage figures re-ranked ones
                raise ModelUnavailable(f"Re-ranking is unavailable: {ranking.unavailable}")
            ranked = tuple(n.id for n in ranking.final)
            report.outcomes.append(
                QueryOutcome(query, ranked, first_relevant_rank(ranked, relevant), query_metrics(ranked, relevant))
            )
        if progress:
            progress(min(start + BATCH, len(queries)), len(queries), "Evaluating queries")
    report.skipped.sort()
    report.seconds = time.perf_counter() - started
    return report


def rerank_query(engine: StyleLens, query: EvalQuery, photo: PhotoQuery | None = None):
    """The re-ranker's query as the app builds it; `photo`: the query photo as read (its type prior)."""
    picture = load_image(query.image) if query.image is not None and query.ref_id is None else None
    if picture is not None:  # as the app does: features of the garment cut out of the photo
        photo = photo or engine.read_photos([picture])[0]
        picture = photo.cutout
    return engine.rerank_query(
        query.text or "", query.ref_id, picture, type_prior=photo.type_prior if photo is not None else None
    )


def query_filters(engine: StyleLens, queries: Sequence[EvalQuery]) -> list[SearchFilter]:
    """The app's constraints for each image + text query (none for the others)."""
    refs = {p.id: p for p in engine.catalog.get([q.ref_id for q in queries if q.ref_id is not None]) if p}
    filters = []
    for query in queries:
        if query.text and (query.image is not None or query.ref_id is not None):
            feedback, _ = read_feedback(query.text)
            reference = refs.get(query.ref_id)
            where = constrain(SearchFilter(), feedback, reference)
            features = engine.stored_features([query.ref_id]).get(query.ref_id) if query.ref_id is not None else None
            kind = (feedback.article_type if feedback else None) or (reference.article_type if reference else None)
            filters.append(with_wish(where, wish_for(feedback, kind, features)))
        else:
            filters.append(SearchFilter())
    return filters


def query_vectors(
    engine: StyleLens, queries: Sequence[EvalQuery], compose: Compose
) -> tuple[list[np.ndarray | PhotoQuery | None], list[tuple[int, str]]]:
    """One query vector per query (a PhotoQuery for a photo alone; None where its picture cannot be had),
    and the reasons."""
    encoder, problems = engine.encoder, []
    pictures: dict[int, Image.Image] = {}
    refs = {p.id: p for p in engine.catalog.get([q.ref_id for q in queries if q.ref_id is not None]) if p}
    for row, query in enumerate(queries):
        if query.image is None and query.ref_id is None:
            continue
        try:
            if query.image is not None:
                pictures[row] = load_image(query.image)
            elif query.ref_id in refs:
                pictures[row] = load_image(engine.image_path(refs[query.ref_id]))
            else:
                raise ImageError(f"ref_id {query.ref_id} is not in the catalog")
        except ImageError as exc:
            problems.append((query.line, str(exc)))
    vectors: list[np.ndarray | None] = [None] * len(queries)
    image_rows = [r for r in pictures if not queries[r].text]
    text_rows = [r for r, q in enumerate(queries) if q.text and q.image is None and q.ref_id is None]
    both_rows = [r for r in pictures if queries[r].text]
    if image_rows:  # photo queries take the app's photo path; their PhotoQuery stands in for the vector
        _fill(vectors, image_rows, engine.read_photos([pictures[r] for r in image_rows]))
    if text_rows:
        _fill(vectors, text_rows, encoder.embed_texts([queries[r].text for r in text_rows]))
    if both_rows:
        _fill(vectors, both_rows, compose([pictures[r] for r in both_rows], [queries[r].text for r in both_rows]))
    return vectors, problems


def _fill(vectors: list, rows: list[int], values: Sequence) -> None:
    for row, value in zip(rows, values):
        vectors[row] = value

"""Settings of StyleLens, read from the environment or a `.env` file in the project root.

Every setting has a default that works on a fresh machine with no internet: an embedded
database under `data/` and the bundled encoder. Settings are read when `load_settings()` is
called (not at import), so tests and the CLI can change the environment first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import load_dotenv

from core.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_ENCODER = "stylelens-small"  # core/encoders: the bundled, trained encoder


@dataclass(frozen=True)
class Settings:
    mongo_uri: str | None  # None: start/use the embedded server under data_dir
    db_name: str
    collection_name: str
    data_dir: Path
    encoder_name: str
    catalog_dir: Path | None
    samples_dir: Path | None = None  # photos of people offered as samples on the Shop the Look page
    # Above this many vectors the index switches from exact search to HNSW.
    exact_index_limit: int = 100_000
    host: str = "127.0.0.1"  # the address the app listens on: loopback unless told to serve a network
    app_password: str | None = None  # when set, every page asks for it first
    allow_server_paths: bool | None = None  # folder/file paths on the server in the pages; None: loopback only
    segmenter_name: str = "garment-segmenter"  # cuts the garment out of query photos; "off" embeds photos whole
    kind_model_name: str = "garment-kind"  # the type prior of photo queries; "off" uses the encoder's article head
    vector_backend: str = "faiss"  # "faiss" (embedded, in the app's process) or "milvus" (core/milvus_index.py)
    milvus_uri: str | None = None  # Milvus Lite file or server address; None: data_dir/milvus.db

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def milvus_address(self) -> str:
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    @property
    def uses_embedded_db(self) -> bool:
        return self.mongo_uri is None


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def load_settings() -> Settings:
    """Settings from the environment, with `.env` filling in what the environment lacks."""
    load_dotenv(PROJECT_ROOT / ".env", override=False)
    data_dir = Path(_env("STYLELENS_DATA_DIR", str(PROJECT_ROOT / "data"))).expanduser().resolve()
    catalog_dir, samples_dir = _env("CATALOG_DIR"), _env("SAMPLE_PHOTOS_DIR")
    return Settings(
        mongo_uri=_env("MONGO_URI"),
        db_name=_env("DB_NAME", "stylelens"),
        collection_name=_env("COLLECTION_NAME", "products"),
        data_dir=data_dir,
        encoder_name=_env("ENCODER_NAME", DEFAULT_ENCODER),
        catalog_dir=Path(catalog_dir).expanduser() if catalog_dir else None,
        samples_dir=Path(samples_dir).expanduser() if samples_dir else None,
        exact_index_limit=_whole_number("EXACT_INDEX_LIMIT", 100_000),
        host=_env("STYLELENS_HOST", "127.0.0.1"),
        app_password=_env("APP_PASSWORD"),
        allow_server_paths=_flag(_env("ALLOW_SERVER_PATHS")),
        segmenter_name=_env("SEGMENTER", "garment-segmenter"),
        kind_model_name=_env("KIND_MODEL", "garment-kind"),
        vector_backend=(_env("VECTOR_BACKEND", "faiss") or "faiss").lower(),
        milvus_uri=_env("MILVUS_URI"),
    )


def _whole_number(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise SettingsError(f"{name} must be a positive whole number, not {value[:40]!r} (unset it for {default:,}).")
    return number


def _flag(value: str | None) -> bool | None:
    return None if value is None else value.lower() in ("1", "true", "yes", "on")

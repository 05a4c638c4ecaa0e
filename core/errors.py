"""The failures StyleLens expects and can explain. Each is a `StyleLensError` whose message is fit to show the
user; pages and the CLI catch `StyleLensError` (the CLI maps each family to its exit code, `EXIT_CODES`), and
anything else, a `ValueError` from numpy included, is a bug and surfaces as one.

    StyleLensError
    ├── QueryError            a query that cannot be run (empty text, bad k, unknown reference, a bad query file)
    │   ├── InvalidId
    │   └── QueryFileError
    ├── ImageError            an image that cannot be used (not an image, damaged, too large)
    │   └── FileLimitError    a path that is not a regular file, or a file over its size limit
    ├── CatalogFormatError    a catalog CSV or zip that cannot be imported; nothing was written
    │   └── ArchiveError      an uploaded zip that cannot be used
    ├── ModelUnavailable      a model file missing, damaged, or made for another encoder
    │   └── AttributeModelUnavailable
    ├── DatabaseUnavailable   MongoDB (or the Milvus vector store) cannot be reached or refuses us
    │   └── MilvusUnavailable
    ├── StorageError          the app's own files could not be written
    └── SettingsError         a setting (environment or .env) with a value StyleLens cannot use
"""

from __future__ import annotations


class StyleLensError(Exception):
    """An expected failure (bad input, a service down, a full disk) with a message a person can act on."""


class QueryError(StyleLensError):
    """A query that cannot be run, with a message for the user."""


class InvalidId(QueryError):
    """A catalog id that is not a whole number from 0 to 2^63-1."""


class QueryFileError(QueryError):
    """An evaluation query file, or one line of it, that cannot be used."""


class ImageError(StyleLensError):
    """An image that cannot be used, with a reason fit to show the user."""


class FileLimitError(ImageError):
    """A path that is not a regular file, or a file over its size limit."""


class CatalogFormatError(StyleLensError):
    """The CSV (or zip) cannot be imported at all; nothing was written."""


class ArchiveError(CatalogFormatError):
    """A zip that cannot be used, with the reason."""


class ModelUnavailable(StyleLensError):
    """A configured model file that is missing, damaged, or not what it claims to be (or made for another
    encoder)."""


class AttributeModelUnavailable(ModelUnavailable):
    """The attribute model is missing, damaged, or was trained on another encoder's features."""


class DatabaseUnavailable(StyleLensError):
    """The catalog database cannot be reached or refuses us; the message says where and what to do."""


class MilvusUnavailable(DatabaseUnavailable):
    """Milvus cannot be reached or pymilvus is not installed."""


class StorageError(StyleLensError):
    """The app's own files could not be written (disk full, read-only folder); nothing was half-written."""


class SettingsError(StyleLensError):
    """A setting (environment or .env) with a value StyleLens cannot use; the message names it."""


# the CLI's exit status for each family (the first class an error is an instance of); 0 is success
EXIT_CODES: tuple[tuple[type[StyleLensError], int], ...] = (
    (DatabaseUnavailable, 3),
    (ModelUnavailable, 4),
    (StorageError, 5),
    (StyleLensError, 1),
)


def exit_code(error: StyleLensError) -> int:
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))

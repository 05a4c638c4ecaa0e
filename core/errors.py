"""The failures StyleLens expects and can explain: every one is a `StyleLensError` whose message is fit to
show the user. Pages and the CLI catch `StyleLensError`; anything else is a bug and surfaces as one."""
from __future__ import annotations


class StyleLensError(Exception):
    """An expected failure (bad input, a service down, a full disk) with a message a person can act on."""


class StorageError(StyleLensError):
    """The app's own files could not be written (disk full, read-only folder); nothing was half-written."""

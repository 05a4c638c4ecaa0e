"""Self-describing checkpoint files: one torch file holding a format tag, the config that built the model,
its weights and the record of how it was made. Written atomically; read with weights_only (no pickled code)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from core.errors import ModelUnavailable


def save_payload(path: Path, fmt: str, model: nn.Module, record: dict, **fields) -> None:
    """Write {format, state_dict, record, **fields} to `path` (never half-written)."""
    payload = {
        "format": fmt,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "record": record,
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(payload, partial)
    partial.replace(path)


def load_payload(path: Path, fmt: str | None, what: str) -> dict:
    """The payload of a `fmt` checkpoint (None: of any StyleLens format); ModelUnavailable (saying `what` was
    expected) for anything else."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise ModelUnavailable(f"{path} is not a readable StyleLens {what} checkpoint: {exc}") from exc
    found = payload.get("format") if isinstance(payload, dict) else None
    if not isinstance(found, str) or (found != fmt if fmt else not found.startswith("stylelens-")):
        raise ModelUnavailable(f"{path} is not a StyleLens {what} checkpoint.")
    return payload

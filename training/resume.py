"""The resumable state of a training run: model, optimizer, epochs done and their history, in one file."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def save_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, history: list,
               **extra) -> None:
    """Written to a temporary file first, so an interrupted save never leaves a broken state behind."""
    partial = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                "history": history, **extra}, partial)
    partial.replace(path)


def load_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict | None:
    """Restore model and optimizer from `path` if it exists; the whole state (epoch, history, ...) or None."""
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)  # a GPU run resumes on a CPU too
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    print(f"Resuming after epoch {state['epoch']}", flush=True)
    return state

"""The resumable state of a training run (model, optimizer, epochs done and their history, in one file),
and where it runs."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def save_state(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, history: list, **extra
) -> None:
    """Written to a temporary file first, so an interrupted save never leaves a broken state behind."""
    partial = path.with_suffix(".tmp")
    torch.save(
        {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "history": history, **extra},
        partial,
    )
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


def resume_or_start(
    work: Path, model: nn.Module, optimizer: torch.optim.Optimizer, seed: int
) -> tuple[int, list, torch.Generator]:
    """(first epoch to run, history so far, augmentation generator) from `work`/last.pt, or a fresh start."""
    generator = torch.Generator().manual_seed(seed)
    state = load_state(work / "last.pt", model, optimizer)
    if not state:
        return 0, [], generator
    generator.set_state(state["generator"])
    return state["epoch"], state["history"], generator


def pick_device(choice: str) -> str:
    """`auto`: a GPU when torch sees one, else the CPU; `cpu` or `cuda` as asked. The same command runs on both,
    and a state saved on one resumes on the other."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice


def trained_on(device: str) -> str:
    """Where a run trained, for its record and model card."""
    return f"cpu ({torch.get_num_threads()} threads)" if device == "cpu" else torch.cuda.get_device_name(0)

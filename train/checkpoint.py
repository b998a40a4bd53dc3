"""Checkpoints: written atomically, loaded with `weights_only=True`, checked before use.

A checkpoint holds everything a resumed run needs to continue as if never stopped: model,
optimizer, LR scheduler, grad scaler, EMA weights, the torch RNG states (global, for
dropout; and the trainer's generator, for timesteps and noise), step and data position,
config and vocabulary. `torch.load(weights_only=True)` refuses pickled objects, so a
checkpoint from an untrusted source cannot run code; a truncated file fails to load and
is reported, never half-used.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from shards import atomic

LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not a plain-data checkpoint."""


def save(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialize `state` and rename it into place (a kill mid-write keeps the old file)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; raise CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused, it holds more than plain tensors and data "
                              f"(weights_only=True): {str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({e})") from None
    if not isinstance(state, dict) or "objective" not in state or "step" not in state:
        raise CheckpointError(f"{path}: not a screen2section checkpoint (no objective/step)")
    return state


def rng_state(generator: torch.Generator) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])

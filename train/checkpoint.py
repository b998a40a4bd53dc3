"""Checkpoints: written atomically, loaded with `weights_only=True`, checked before use.

A checkpoint holds everything a resumed run needs to continue as if never stopped: model,
optimizer, LR scheduler, grad scaler, EMA weights, the torch RNG states (global, for
dropout; and the trainer's generator, for timesteps and noise), step and data position,
config and vocabulary. `torch.load(weights_only=True)` refuses pickled objects, so a
checkpoint from an untrusted source cannot run code; a truncated file fails to load and
is reported, never half-used. Before anything is unpacked, the archive's listed size is
checked against ``MAX_EXPANDED_BYTES`` (a small file that would expand to gigabytes is refused),
and after loading every field a model or a resumed run needs is checked, each named.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from shards.storage import atomic

LAST = "last.pt"
BEST = "best.pt"
MAX_EXPANDED_BYTES = 8 * 2**30  # 8 GiB: the large preset's training state is ~0.7 GB
FIELDS: dict[str, type | tuple[type, ...]] = {  # what a checkpoint must hold, and of what kind
    "objective": dict, "step": int, "config": dict, "model_config": dict, "factors": dict, "tdc": bool,
}


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not a plain-data checkpoint."""


def save(path: str | Path, state: dict[str, Any]) -> Path:
    """Serialize `state` and rename it into place (a kill mid-write keeps the old file)."""
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)


def load(path: str | Path, map_location: str | torch.device = "cpu", strict: bool = True) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; raise CheckpointError naming the file
    (``strict``: and every missing or mistyped field)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no checkpoint")
    try:
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({e})") from None
    if expanded > MAX_EXPANDED_BYTES:
        raise CheckpointError(f"{path}: the archive would expand to {expanded / 2**30:.1f} GiB, above the limit of "
                              f"{MAX_EXPANDED_BYTES / 2**30:.0f} GiB; refused before loading")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused, it holds more than plain tensors and data "
                              f"(weights_only=True): {str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: unreadable or truncated checkpoint ({e})") from None
    if not isinstance(state, dict) or "objective" not in state or "step" not in state:
        raise CheckpointError(f"{path}: not a screen2section checkpoint (no objective/step)")
    if strict:
        problems = [f"'{k}' missing" if k not in state else f"'{k}' is a {type(state[k]).__name__}, not a "
                    f"{kind.__name__ if isinstance(kind, type) else kind}"
                    for k, kind in FIELDS.items() if k not in state or not isinstance(state[k], kind)]
        if problems:
            raise CheckpointError(f"{path}: not a checkpoint of this version of screen2section: "
                                  + "; ".join(problems))
    return state


def model_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's weights in a loaded checkpoint, keyed as `SectionModel.state_dict()`: the EMA
    weights where the run kept them (its evaluations used those), else the trained ones."""
    if state.get("ema"):
        return {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
    return {k[len("model."):]: v for k, v in state["objective"].items() if k.startswith("model.")}


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


# parameters with one row per raw token: a warm start takes their rows by token, not by index
RAW_ROWS = ("reader.raw_head.weight", "reader.raw_head.bias", "reader.null_raw")


def warm_start(model: torch.nn.Module, path: str | Path, raw: tuple[str, ...]) -> dict[str, Any]:
    """Start a new run from another run's trained weights (`train fit --init-from`): a model
    trained on synthetic pages, then fine-tuned on real ones.

    Weights are taken by name where the shapes agree (the EMA weights where the run kept them,
    as `train predict` uses). Rows of the raw-token head are taken by token (`RAW_ROWS`: the
    two runs' raw vocabularies come from different manifests); section types and roles are
    the closed sets of shards.tokens, the same in both. Everything else keeps its fresh
    initialisation, and the returned report names it. Only weights come over: the optimizer,
    the schedule and the step start afresh. Refused, naming the file, when under half of
    `model`'s weights would come over (another preset or backbone)."""
    state = load(path)
    weights = model_weights(state)
    own = model.state_dict()
    old_raw = {t: i for i, t in enumerate(state["factors"].get("raw", ()))}
    taken, fresh, raw_rows = {}, [], 0
    for name, value in own.items():
        src = weights.get(name)
        if name in RAW_ROWS and src is not None and src.shape[1:] == value.shape[1:]:
            pairs = [(i, old_raw[t]) for i, t in enumerate(raw) if old_raw.get(t, src.shape[0]) < src.shape[0]]
            out = value.clone()
            out[[i for i, _ in pairs]] = src[[j for _, j in pairs]]
            taken[name], raw_rows = out, len(pairs)
        elif src is not None and src.shape == value.shape and src.dtype == value.dtype:
            taken[name] = src
        else:
            fresh.append(name)
    if sum(own[k].numel() for k in taken) < 0.5 * sum(v.numel() for v in own.values()):
        raise CheckpointError(f"{path}: --init-from holds under half the weights of the model this run builds (preset "
                              f"{state['model_config'].get('canvas_width')}-px canvas, encoder "
                              f"{state['model_config'].get('encoder', 'conv')!r}); use the preset and [model] "
                              "settings that checkpoint was trained with (its RUN/config.json)")
    model.load_state_dict(taken, strict=False)
    return {"from": str(path), "from_step": state["step"], "taken": len(taken), "fresh": fresh,
            "raw_tokens_taken": raw_rows, "raw_tokens": len(raw)}

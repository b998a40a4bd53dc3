"""The trainer: the diffusion section transformer, its losses, and the streaming trainer.

``from train import load_model``: ``load_model("run/best.pt").predict("page.png")`` gives the
sections of a screenshot (train.inference).
"""
from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("screen2section")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def load_model(*args, **kwargs):
    """See :func:`train.inference.load_model` (imported on first use: torch is heavy)."""
    from .inference import load_model as _load

    return _load(*args, **kwargs)


__all__ = ["load_model", "__version__"]

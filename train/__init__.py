"""The trainer: the diffusion section transformer, its losses, and the streaming trainer.

``from train import load_model``: ``load_model("run/best.pt").predict("page.png")`` gives the
sections of a screenshot (train.inference).
"""
from __future__ import annotations

from shards.views.cli_support import version

__version__ = version()


def load_model(*args, **kwargs):
    """See :func:`train.inference.load_model` (imported on first use: torch is heavy)."""
    from .inference import load_model as _load

    return _load(*args, **kwargs)


__all__ = ["load_model", "__version__"]

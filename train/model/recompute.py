"""Activation checkpointing of the transformer blocks: keep less for backward, recompute it.

A training step keeps every block's activations for the backward pass. For the large
preset on a full-height 512 x 2048 page that is ~11.5 GiB a page, almost all of it the
encoder's attention over the page's 4,096 stride-16 tokens (scores and probabilities of
each of its 6 blocks; `train.memory`). With ``model.checkpointing`` on, a block keeps only
its inputs and runs its forward again in the backward pass (``torch.utils.checkpoint``,
non-reentrant, the RNG state preserved so dropout draws the same masks): one block's
activations are alive at a time, for about one more forward of the blocks
(benchmarks/README.md, "Memory of the big presets"). Phases 3 and 4 switch it on
(`train.phases`); it changes no result, only memory and time (tests/test_recompute.py).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.checkpoint import checkpoint


def run_block(block: Callable[..., Any], enabled: bool, *args: Any, **kwargs: Any) -> Any:
    """``block(*args, **kwargs)``, checkpointed when ``enabled`` and a backward can follow."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(block, *args, use_reentrant=False, **kwargs)
    return block(*args, **kwargs)

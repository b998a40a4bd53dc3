"""Progressive unfreezing of a pretrained backbone (ULMFiT-style, Howard & Ruder 2018).

With a pretrained image encoder loaded from a local weights file, training starts with the
encoder's pretrained groups frozen (denoiser and heads learn first, so their random gradients
do not wreck the pretrained features); every `every` steps the next encoder layer group, from
the top down, becomes trainable. The encoder's ``neck`` group (its randomly initialised
layers between backbone and denoiser: projections, positions, token transformer) trains from
the start like the heads: frozen, it held random projections of the features for the first
`every` steps (a third of a 600-step run at phase 1's 200), and no pretrained weight sits
behind it to protect. Without pretrained weights nothing is frozen: a randomly initialized
encoder must learn from the start. The state is a function of the step alone, so a resumed
run freezes exactly what an uninterrupted one would.
"""
from __future__ import annotations

from torch import nn


def _params(items) -> list[nn.Parameter]:
    out = []
    for item in items:
        out += [item] if isinstance(item, nn.Parameter) else list(item.parameters())
    return out


NEW = "neck"  # the group of an encoder's randomly initialised layers: never frozen


def frozen_groups(model: nn.Module, step: int, every: int) -> list[str]:
    """The encoder layer groups still frozen at `step` (input-side groups thaw last)."""
    if every <= 0 or not model.cfg.weights_path:
        return []
    names = [name for name in model.encoder.groups() if name != NEW]
    thawed = min(len(names), step // every)
    return names[: len(names) - thawed]


def apply_freezing(model: nn.Module, step: int, every: int) -> list[str]:
    """Set requires_grad for `step` (everything outside the frozen groups trains)."""
    frozen = frozen_groups(model, step, every)
    for p in model.parameters():
        p.requires_grad_(True)
    groups = model.encoder.groups()
    for name in frozen:
        for p in _params(groups[name]):
            p.requires_grad_(False)
    return frozen

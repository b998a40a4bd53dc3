"""The four phase strategies, registered in one dict, and the rule that picks one.

A phase is a small module of defaults (`DEFAULTS`, TrainConfig fields) plus a docstring
that says what it does and why for its data size. The feature code lives in the trainer
and in `train.features`; phases only decide which features are on.
"""
from __future__ import annotations

from types import ModuleType

from . import large, medium, micro, small

PHASES: dict[int, ModuleType] = {m.PHASE: m for m in (micro, small, medium, large)}
# upper bounds (exclusive) on the number of source pairs for phases 1-3
THRESHOLDS = ((1, 2_500), (2, 25_000), (3, 100_000))


def pick_phase(n_sources: int) -> tuple[int, str]:
    """(phase, reason) for a data set of `n_sources` source pairs."""
    lower = 0
    for phase, upper in THRESHOLDS:
        if n_sources < upper:
            return phase, f"{n_sources} source pairs: {lower:,} <= n < {upper:,} -> phase {phase} ({PHASES[phase].NAME})"
        lower = upper
    return 4, f"{n_sources} source pairs: n >= {lower:,} -> phase 4 ({PHASES[4].NAME})"


def phase_defaults(phase: int) -> dict:
    if phase not in PHASES:
        raise ValueError(f"phase must be 1-4, found {phase!r}")
    return dict(PHASES[phase].DEFAULTS, phase=phase)

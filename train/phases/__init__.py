"""The four phase strategies, registered in one dict, and the rule that picks one.

A phase is a small module: its ``NAME``, ``PHASE`` number, ``MIN_SOURCES`` (the fewest source
pairs it is for), ``DEFAULTS`` (TrainConfig settings, nested tables included) and a
docstring that says what it does and why for its data size. The features themselves live in
the trainer, the objective and the model, switched by config fields; phases only decide
which are on. Phase choices of the CLI, config validation and the picking rule all derive
from ``PHASES``: a new phase is its module plus one line here.
"""
from __future__ import annotations

import copy
from types import ModuleType

from . import large, medium, micro, small

PHASES: dict[int, ModuleType] = {m.PHASE: m for m in sorted((micro, small, medium, large), key=lambda m: m.PHASE)}


def pick_phase(n_sources: int) -> tuple[int, str]:
    """(phase, reason) for a data set of `n_sources` source pairs: the phase with the largest
    MIN_SOURCES not above it."""
    ordered = sorted(PHASES.values(), key=lambda m: m.MIN_SOURCES)
    chosen = max((m for m in ordered if m.MIN_SOURCES <= n_sources), key=lambda m: m.MIN_SOURCES, default=ordered[0])
    following = [m.MIN_SOURCES for m in ordered if m.MIN_SOURCES > chosen.MIN_SOURCES]
    bound = f"{chosen.MIN_SOURCES:,} <= n < {following[0]:,}" if following else f"n >= {chosen.MIN_SOURCES:,}"
    return chosen.PHASE, f"{n_sources} source pairs: {bound} -> phase {chosen.PHASE} ({chosen.NAME})"


def phase_defaults(phase: int) -> dict:
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {sorted(PHASES)}, found {phase!r}")
    return dict(copy.deepcopy(PHASES[phase].DEFAULTS), phase=phase)

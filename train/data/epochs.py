"""The epoch plan: where a step falls in the data (epoch lengths, curriculum stages, data dropout).

The run's epochs are planned up front: an epoch is one pass over the (filtered) training
shards, cut short where a curriculum stage ends, so every stage starts a fresh epoch with
its own difficulty filter. Everything is a pure function of the config and the
manifest's sample count, so a resumed run finds exactly the data position and filters an
uninterrupted run had.
"""
from __future__ import annotations

import math

from ..config import TrainConfig
from .stream import EpochFilter, steps_per_epoch


class EpochPlan:
    """Epoch plan of one run over `n_train` training samples split across `world` ranks."""

    def __init__(self, cfg: TrainConfig, n_train: int, world: int):
        self.cfg, self.n_train, self.world = cfg, n_train, world
        per_step = cfg.batch_size * cfg.grad_accum
        self.expected_epochs = max(1, math.ceil(cfg.max_steps / steps_per_epoch(n_train, per_step, world)))
        self.lengths: list[int] = []
        self.starts: list[int] = []
        step = 0
        while step < cfg.max_steps:
            n = steps_per_epoch(n_train, per_step, world, self.keep_fraction(len(self.lengths)))
            n = max(1, min(n, self._next_boundary(step) - step))
            self.starts.append(step)
            self.lengths.append(n)
            step += n

    def _bounds(self) -> list[int]:
        """First step of each curriculum stage, then max_steps."""
        stages = max(1, self.cfg.curriculum_stages)
        return [k * self.cfg.max_steps // stages for k in range(stages)] + [self.cfg.max_steps]

    def _next_boundary(self, step: int) -> int:
        return min(b for b in self._bounds() if b > step)

    def keep_fraction(self, epoch: int) -> float:
        """Progressive data dropout: from 1 down to 1 - data_dropout by the last epoch."""
        if not self.cfg.data_dropout:
            return 1.0
        return 1.0 - self.cfg.data_dropout * min(1.0, epoch / max(1, self.expected_epochs - 1))

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, steps already taken in it) of optimizer step `step`."""
        for e, (start, n) in enumerate(zip(self.starts, self.lengths)):
            if step < start + n:
                return e, step - start
        return len(self.lengths), 0

    def stage(self, step: int) -> int:
        """Curriculum stage 0..S-1 of a step (stages split max_steps evenly)."""
        return max(k for k, b in enumerate(self._bounds()[:-1]) if b <= step)

    def max_difficulty(self, epoch: int) -> float | None:
        """Stage k < S-1 keeps samples with difficulty <= (k + 1) / S; the last keeps all."""
        stages = self.cfg.curriculum_stages
        k = self.stage(self.starts[epoch]) if epoch < len(self.starts) else stages - 1
        return (k + 1) / stages if stages > 1 and k < stages - 1 else None

    def filter(self, epoch: int) -> EpochFilter:
        return EpochFilter(max_variants=self.cfg.max_variants, fold_out=self.cfg.fold,
                           max_difficulty=self.max_difficulty(epoch),
                           keep_fraction=self.keep_fraction(epoch), seed=self.cfg.seed, epoch=epoch)


def train_samples(manifest: dict, cfg: TrainConfig) -> int:
    """Samples one epoch of ``cfg`` passes over: the train split, less the held-out fold,
    less the variants past ``max_variants``."""
    split = manifest["splits"]["train"]
    n = split["samples"]
    if cfg.max_variants:
        factor = int(manifest["config"].get("factor", 1)) or 1
        n = min(n, split.get("sources", 0) * min(cfg.max_variants, factor)) or n
    if cfg.fold is not None:
        folds = int(manifest["config"].get("folds", 5))
        n = max(1, round(n * (folds - 1) / folds))
    return n

"""What the trainer optimizes: the model plus the loss modules a config switches on.

`Objective.forward(batch, generator)` is one training forward (`training_losses`), so a
single `DistributedDataParallel` wrapper around it sees every parameter that gets a
gradient, learned loss weights included. `param_groups` gives the optimizer one group
for the shared weights and, in TDC stage 2, one per denoiser copy with its own LR.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .diffusion import DiffusionSchedule, UniformTimestepSampler, training_losses
from .losses import (ElementCombinationLoss, GeometricLoss, ModalityAwareLossWeighting,
                     MultiScaleConsistencyLoss, MultiTaskLoss, VarianceAwareLossScheduler)
from .model import DiffusionSectionTransformer, model_config
from .tdc import TDCModel


def build_model(cfg: TrainConfig, vocab_size: int) -> DiffusionSectionTransformer:
    overrides: dict[str, Any] = {"max_slots": cfg.max_slots, "encoder": cfg.encoder,
                                 "weights_path": cfg.weights_path, "guidance_scale": cfg.guidance_scale,
                                 "sample_steps": cfg.sample_steps}
    if cfg.image_size is not None:
        overrides["image_size"] = cfg.image_size
    if cfg.dropout is not None:
        overrides["dropout"] = cfg.dropout
    if cfg.region_size is not None:
        overrides["region_size"] = cfg.region_size
    return DiffusionSectionTransformer(model_config(cfg.preset, vocab_size, **overrides))


class Objective(nn.Module):
    """Model + loss modules; forward returns `training_losses`' dict."""

    def __init__(self, cfg: TrainConfig, model: nn.Module):
        super().__init__()
        self.cfg, self.model = cfg, model
        self.schedule = DiffusionSchedule.from_config(model.cfg)
        T = self.schedule.num_timesteps
        self.sampler = VarianceAwareLossScheduler(T) if cfg.variance_aware else UniformTimestepSampler(T)
        self.element_loss = ElementCombinationLoss(label_smoothing=cfg.label_smoothing)
        self.geometric_loss = GeometricLoss()
        self.consistency = MultiScaleConsistencyLoss() if cfg.multiscale else None
        self.weighting: nn.Module | None = None
        if cfg.multitask:
            self.weighting = MultiTaskLoss()
        elif cfg.modality_weighting:
            self.weighting = ModalityAwareLossWeighting()

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, Any]:
        return training_losses(self.model, batch, generator, schedule=self.schedule, sampler=self.sampler,
                               element_loss=self.element_loss, geometric_loss=self.geometric_loss,
                               consistency=self.consistency, weighting=self.weighting,
                               region_weight=self.cfg.region_loss)

    def start_tdc(self) -> None:
        """Enter TDC stage 2: replace the model by per-group copies of its denoiser."""
        if not isinstance(self.model, TDCModel):
            self.model = TDCModel(self.model, self.cfg.tdc_groups)

    def param_groups(self) -> list[dict[str, Any]]:
        cfg = self.cfg
        if isinstance(self.model, TDCModel):
            lrs = cfg.tdc_lrs or [cfg.lr] * cfg.tdc_groups
            experts = [{"params": self.model.expert_parameters(g), "lr": lrs[g]} for g in range(cfg.tdc_groups)]
            taken = {id(p) for grp in experts for p in grp["params"]}
            rest = [p for p in self.parameters() if id(p) not in taken]
            return [{"params": rest, "lr": cfg.lr}, *experts]
        return [{"params": list(self.parameters()), "lr": cfg.lr}]


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine annealing to 0 at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(progress * math.pi))


def make_optimizer(obj: Objective, step: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW + warmup/cosine LambdaLR positioned at `step`."""
    cfg = obj.cfg
    opt = torch.optim.AdamW(obj.param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, cfg.warmup_steps, cfg.max_steps))
    if step:  # position the schedule without stepping it (it would warn: no optimizer step yet)
        sched.last_epoch = step
        for group, base in zip(opt.param_groups, sched.base_lrs):
            group["lr"] = base * lr_factor(step, cfg.warmup_steps, cfg.max_steps)
        sched._last_lr = [g["lr"] for g in opt.param_groups]
    return opt, sched

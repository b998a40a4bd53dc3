"""What the trainer optimizes: the model plus the loss recipe, in one place.

``Objective.forward(batch, generator) -> dict`` is one training forward and returns every
named scalar (``loss`` first), as timm's training task and nanoGPT's ``forward(idx,
targets)`` return their loss; the trainer logs whatever it returns. The recipe:

1. draw timesteps t (the timestep sampler, train.diffusion.timesteps) and which samples run
   unconditionally (classifier-free guidance, ``cond_drop_prob``);
2. pad each page's true boxes to the N proposals with random boxes and noise them
   (train.diffusion.process); encode the canvases; denoise;
3. match the proposals to the true sections one-to-one (train.losses.matching) and read each
   matched proposal at its predicted box (train.model.reader);
4. every loss in ``LOSSES`` whose weight (train.config.LossConfig) is above 0 scores the step;
   a loss that returns per-sample values is weighted per sample by the sampler's importance
   weight and its modality's mix alpha(t) (structural) or beta(t) (geometric), and is also
   logged per quarter of the timesteps (``geometric@t1-25``, ...);
5. the weighting (sum, uncertainty or multitask; train.losses.weighting) makes one scalar.

A new loss is its module, one line in ``LOSSES`` and its weight field in ``LossConfig``.

A single ``DistributedDataParallel`` wrapper around this module sees every parameter that gets
a gradient, learned loss weights included. ``param_groups`` gives the optimizer one group for
the shared weights and, in TDC stage 2, one per denoiser copy with its own LR.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import torch
from torch import nn

from .config import TrainConfig
from .data.vocab import Factors
from .diffusion.process import NoiseSchedule, corrupt, pad_targets, uniform
from .diffusion.timesteps import TIMESTEP_SAMPLERS
from .losses.context import StepContext
from .losses.dense import dense_loss
from .losses.diversity import diversity_loss
from .losses.edges import edges_loss
from .losses.element_combination import element_loss
from .losses.geometric import geometric_loss
from .losses.layout import layout_loss
from .losses.matching import hungarian_match
from .losses.multiscale import consistency_loss
from .losses.presence import presence_loss
from .losses.region import region_loss
from .losses.weighting import WEIGHTINGS
from .model import SectionModel, model_config
from .model.denoiser import snr_groups


class LossSpec(NamedTuple):
    fn: Callable[[StepContext], dict[str, Any]]
    modality: str  # structural | geometric | visual (train.losses.weighting)


LOSSES: dict[str, LossSpec] = {
    "element": LossSpec(element_loss, "structural"),
    "presence": LossSpec(presence_loss, "structural"),
    "geometric": LossSpec(geometric_loss, "geometric"),
    "region": LossSpec(region_loss, "structural"),
    "edges": LossSpec(edges_loss, "geometric"),
    "dense": LossSpec(dense_loss, "geometric"),
    "consistency": LossSpec(consistency_loss, "visual"),
    "layout": LossSpec(layout_loss, "geometric"),
    "diversity": LossSpec(diversity_loss, "structural"),
}


def build_model(cfg: TrainConfig, factors: Factors) -> SectionModel:
    """The model a config asks for, sized to the factor vocabularies."""
    return SectionModel(model_config(cfg.preset, num_types=len(factors.types), num_roles=len(factors.roles),
                                     num_raw=len(factors.raw), max_children=factors.max_children,
                                     num_regions=len(factors.regions),
                                     **{"few_shot": cfg.few_shot_max > 0, **cfg.model}))


class Objective(nn.Module):
    """Model + the losses a config switches on; forward returns every named scalar."""

    def __init__(self, cfg: TrainConfig, model: SectionModel):
        super().__init__()
        self.cfg, self.model = cfg, model
        self.schedule = NoiseSchedule.from_config(model.cfg)
        T = self.schedule.num_timesteps
        self.sampler = TIMESTEP_SAMPLERS["variance_aware" if cfg.variance_aware else "uniform"](T)
        self.active = [name for name in LOSSES if getattr(cfg.loss, name) > 0]
        self.weighting = WEIGHTINGS[cfg.loss.weighting]({k: LOSSES[k].modality for k in self.active})

    def context(self, batch: dict[str, Any], generator: torch.Generator) -> tuple[StepContext, torch.Tensor]:
        """Steps 1-3 of the recipe: the model's forward on a batch, matched and read."""
        model, cfg = self.model, self.model.cfg
        B, device = batch["boxes"].shape[0], batch["boxes"].device
        t, importance = self.sampler.sample(B, generator, device)
        drop = uniform((B,), generator, device) < cfg.cond_drop_prob
        x0 = pad_targets(batch["boxes"], batch["mask"], cfg.proposals, generator)
        noisy = corrupt(x0, t, self.schedule, generator)
        feats = model.encode(batch["image"], batch["extent"])
        context = model.batch_context(batch)
        out = model.denoise(feats, noisy, t, drop, context)
        match = hungarian_match(out.boxes, out.presence, batch["boxes"], batch["mask"])
        read = model.read(feats, out.boxes[match.batch, match.pred], match.batch, drop, context)
        ctx = StepContext(model, batch, feats, t, drop, noisy, out, match, read, generator,
                          self.cfg.loss.label_smoothing, context)
        return ctx, importance

    def forward(self, batch: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
        ctx, importance = self.context(batch, generator)
        alpha, beta = (x.to(importance.device) for x in self.sampler.mix(ctx.t))
        mix = {"structural": alpha, "geometric": beta, "visual": torch.ones_like(alpha)}
        parts: dict[str, torch.Tensor] = {}
        logs: dict[str, Any] = {}
        per_sample = torch.zeros_like(alpha)
        for name in self.active:
            spec, weight = LOSSES[name], getattr(self.cfg.loss, name)
            out = spec.fn(ctx)
            value = out["loss"]
            if "per_sample" in out:
                ps = out["per_sample"]
                value = (importance * mix[spec.modality] * ps).mean() + out.get("extra", 0)
                per_sample = per_sample + mix[spec.modality] * ps.detach()
                logs.update(by_timestep(name, ps.detach(), ctx.t, self.schedule.num_timesteps))
            parts[name] = weight * value
            logs[name] = out["loss"].detach()
            logs.update({f"{name}.{k}": v.detach() for k, v in out.items()
                         if k not in ("loss", "per_sample", "extra") and torch.is_tensor(v) and v.dim() == 0})
        combined = self.weighting(parts)
        result: dict[str, Any] = {"loss": combined["loss"]}
        result.update(logs)
        result.update({k: v.detach() for k, v in combined.items() if k != "loss"})
        result.update({"t": ctx.t, "per_sample": per_sample, "matched": torch.tensor(float(len(ctx.match.batch)))})
        return result

    def start_tdc(self) -> None:
        """Enter TDC stage 2: the denoiser becomes one copy per SNR group of timesteps."""
        self.model.start_tdc(snr_groups(self.schedule.alpha_bar_table(), self.cfg.tdc_groups))

    def param_groups(self) -> list[dict[str, Any]]:
        cfg = self.cfg
        if self.model.tdc:
            experts = self.model.denoiser.experts
            lrs = cfg.tdc_lrs or [cfg.lr] * len(experts)
            groups = [{"params": list(e.parameters()), "lr": lrs[g]} for g, e in enumerate(experts)]
            taken = {id(p) for grp in groups for p in grp["params"]}
            rest = [p for p in self.parameters() if id(p) not in taken]
            return [{"params": rest, "lr": cfg.lr}, *groups]
        # few-shot gates (tanh gates, the label copy's weight and temperature): no weight decay, which
        # pulled zero-started gates back to 0 (0.0003 / -0.001 after 600 steps), and GATE_LR x the rate
        gates = [p for n, p in self.named_parameters() if n.endswith((".gate", "copy.weight", "copy.scale"))]
        if not gates:
            return [{"params": list(self.parameters()), "lr": cfg.lr}]
        taken = {id(p) for p in gates}
        return [{"params": [p for p in self.parameters() if id(p) not in taken], "lr": cfg.lr},
                {"params": gates, "lr": cfg.lr * GATE_LR, "weight_decay": 0.0}]


T_BUCKETS = 4
GATE_LR = 10.0  # learning rate of the few-shot gates, in multiples of the run's


def by_timestep(name: str, per_sample: torch.Tensor, t: torch.Tensor, T: int) -> dict[str, torch.Tensor]:
    """The mean of a per-sample loss in each quarter of the timesteps the batch drew
    (``NAME@t1-25``, ...): where a denoising loss stays high shows which noise levels fail."""
    bucket = ((t - 1).clamp(min=0) * T_BUCKETS // max(T, 1)).clamp(max=T_BUCKETS - 1)
    out = {}
    for k in bucket.unique().tolist():
        lo, hi = k * T // T_BUCKETS + 1, (k + 1) * T // T_BUCKETS
        out[f"{name}@t{lo}-{hi}"] = per_sample[bucket == k].mean()
    return out


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warmup to 1, then cosine annealing to 0 at `total`."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(progress * math.pi))


def make_optimizer(obj: Objective, step: int) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW + the warmup/cosine learning-rate schedule, positioned at `step`."""
    cfg = obj.cfg
    opt = torch.optim.AdamW(obj.param_groups(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup_steps, cfg.max_steps))
    if step:  # position the schedule without stepping it (it would warn: no optimizer step yet)
        lr_schedule.last_epoch = step
        for group, base in zip(opt.param_groups, lr_schedule.base_lrs):
            group["lr"] = base * lr_factor(step, cfg.warmup_steps, cfg.max_steps)
        lr_schedule._last_lr = [g["lr"] for g in opt.param_groups]
    return opt, lr_schedule

"""The trainer's memory budget: how many samples one forward + backward may hold at once.

A step's batch (``batch_size`` samples, ``grad_accum`` batches per optimizer step) must fit
the memory the process has: ``max_memory`` (bytes, ``"8G"``, or a share like ``"50%"`` of the
device's memory: RAM on CPU, split between the ranks of a node; the GPU's own on CUDA). From
the budget and the model's estimated cost (:func:`sample_cost`: fixed bytes plus measured
bytes per sample), :func:`micro_batch_size` says how many samples one forward may take; the trainer splits each
batch into micro-batches of that size (:func:`split_batch`) and accumulates their gradients,
each weighted by its share of the step's samples, so the effective batch and the gradient of
per-sample-mean losses are unchanged.

What micro-batches do change (why splitting only happens when the budget asks for it):
BatchNorm statistics of the conv encoder are computed per micro-batch; losses normalised over
the batch rather than per sample (the region loss over matched sections, the edge loss over
pixels, the diversity entropy of section types) weigh their terms per micro-batch; and the
noise, timesteps and dropout are drawn in another order, so the curve is another draw of the
same process, not the same numbers.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Any, NamedTuple

import torch

from .config import TrainConfigError, parse_memory

log = logging.getLogger(__name__)
MiB = 2**20


class Cost(NamedTuple):
    """Peak RSS of a training process: ``fixed + per_sample x batch`` bytes."""

    fixed: int  # torch and the libraries, the model, its gradients, the optimizer and EMA states
    per_sample: int  # activations kept for backward, per page at the full canvas height


# Measured with `python -m benchmarks.train_input --probe` (benchmarks/train_input.py: probe_cost)
# on 2 cores, AMD EPYC, 23.5 GiB, torch 2.14 on CPU, 1 thread: a fresh process per (phase, batch)
# runs a warm-up and a training step at the phase's defaults on pages padded to the full canvas
# height (max_aspect x width, the tallest a page gets: a batch is padded to its tallest page).
# micro, small: the slope of peak RSS from batches of 1 and 3 (42 and 718 MiB). medium, large:
# one batch of 1 (a batch of 3 of large would not fit 23.5 GiB; a step takes ~10 minutes here),
# peak RSS less RUNTIME less the model's states (medium: 3,993 MiB peak, large 13,854). Most of it is the
# encoder's attention over the page's tokens (large: 4,096 tokens, 6 layers). Rounded up to 16 MiB.
PER_SAMPLE: dict[str, int] = {"micro": 48 * MiB, "small": 720 * MiB, "medium": 2_544 * MiB, "large": 11_776 * MiB}
# The same with `model.checkpointing` (train.model.recompute; on in phases 3-4), probed 2026-12-05 the
# same way with two steps (`--probe-checkpointing on --probe-steps 2`): medium 2,302 MiB peak, large
# 4,528 (without: 3,987 and 13,532 in the same runs). Presets not probed so keep the figures above.
PER_SAMPLE_CHECKPOINTED: dict[str, int] = {"medium": 848 * MiB, "large": 2_432 * MiB}
# The intercept of the micro and small fits less their model's states (PARAM_BYTES per parameter),
# the larger (small: 1,247 - 93 MiB), rounded up to 64 MiB: the imported libraries, allocator caches.
RUNTIME = 1_216 * MiB
# fp32 weight + gradient + AdamW's two moments, + one more with an EMA copy of the weights
PARAM_BYTES, EMA_BYTES = 16, 4


def device_memory(device: torch.device) -> int:
    """Bytes this process may count on: the GPU's memory on CUDA, else the machine's RAM shared
    by the node's ranks (torchrun's LOCAL_WORLD_SIZE)."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return ram // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def budget_bytes(value: Any, device: torch.device) -> int:
    kind, n = parse_memory(value)
    return int(n * device_memory(device)) if kind == "share" else int(n)


def sample_cost(preset: str, canvas_width: int, max_aspect: int, params: int, ema: bool = False,
                context_pages: int = 0, checkpointing: bool = False) -> Cost:
    """A model's cost: the runtime and its ``params`` parameters' states, plus the preset's
    measured bytes per sample (:data:`PER_SAMPLE`, or :data:`PER_SAMPLE_CHECKPOINTED` with
    activation checkpointing) scaled to its canvas and to few-shot context pages (each encoded
    like the page: an upper bound)."""
    from .model import PRESETS

    area = (canvas_width ** 2 * max_aspect) / (PRESETS[preset]["canvas_width"] ** 2 * 4)
    # convolutions grow with the area, the encoder's attention over its tokens with its square:
    # linear below the measured canvas and quadratic above it over-estimate both (a smaller
    # micro-batch rather than an OOM)
    area = area if area <= 1 else area ** 2
    fixed = RUNTIME + params * (PARAM_BYTES + (EMA_BYTES if ema else 0))
    per_sample = (PER_SAMPLE_CHECKPOINTED.get(preset, PER_SAMPLE[preset]) if checkpointing else PER_SAMPLE[preset])
    return Cost(fixed, math.ceil(per_sample * area * (1 + context_pages)))


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def micro_batch_size(budget: int, per_sample: int, batch: int, fixed: int = 0) -> int:
    """Samples per forward so ``fixed + micro x per_sample`` fits ``budget``: ``batch`` when it
    all fits, else the even split of ``batch`` into the fewest micro-batches that fit (64 at
    most 23 -> 3 of 22). ValueError naming --max-memory when not even one sample fits."""
    room = (budget - fixed) // per_sample if per_sample > 0 else batch
    if room < 1:
        raise ValueError(f"max_memory {gib(budget)} holds no training sample (fixed {gib(fixed)} + "
                         f"{gib(per_sample)} per sample): raise --max-memory (config 'max_memory') or use a "
                         "smaller canvas (--set model.canvas_width=...)")
    if room >= batch:
        return batch
    return math.ceil(batch / math.ceil(batch / room))


def split_batch(batch: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """A collated batch (train.data.inputs.collate) as micro-batches of at most ``size`` samples,
    in order; few-shot context pages go with the sample that owns them."""
    n = len(batch["key"])
    if size >= n:
        return [batch]
    parts = []
    for a in range(0, n, size):
        b = min(n, a + size)
        part = {k: v[a:b] for k, v in batch.items() if k not in ("context", "context_owner")}
        if "context_owner" in batch:
            owner = batch["context_owner"]
            keep = ((owner >= a) & (owner < b)).nonzero().squeeze(1)
            if len(keep):
                ctx = batch["context"]
                part["context"] = {k: v[keep] if torch.is_tensor(v) else [v[i] for i in keep.tolist()]
                                   for k, v in ctx.items()}
                part["context_owner"] = owner[keep] - a
        parts.append(part)
    return parts


def plan(cfg: Any, model: torch.nn.Module, device: torch.device) -> int:
    """Samples per forward for a training config and its model (the one place that decides it);
    logs a split."""
    model_cfg = model.cfg
    cost = sample_cost(cfg.preset, model_cfg.canvas_width, model_cfg.max_aspect,
                       sum(p.numel() for p in model.parameters()), bool(cfg.ema_decay), cfg.few_shot_max,
                       bool(getattr(model_cfg, "checkpointing", False)))
    budget = budget_bytes(cfg.max_memory, device)
    try:
        size = micro_batch_size(budget, cost.per_sample, cfg.batch_size, cost.fixed)
    except ValueError as e:
        raise TrainConfigError(f"{e} (preset {cfg.preset!r}, canvas {model_cfg.canvas_width} px)") from None
    if size < cfg.batch_size:
        log.info("batch of %d split into %d micro-batches of <= %d (max_memory %s = %s; preset %s at %d px: "
                 "~%s + %s per sample); effective batch unchanged: %d x grad_accum %d", cfg.batch_size,
                 math.ceil(cfg.batch_size / size), size, cfg.max_memory, gib(budget), cfg.preset,
                 model_cfg.canvas_width, gib(cost.fixed), gib(cost.per_sample), cfg.batch_size, cfg.grad_accum)
    return size

"""Scoring a model on held-out sources: sample section slots for each screenshot and
compare them with the truth using `train.metrics` (token accuracy, exact match, count
accuracy, box mIoU, Maximum IoU, alignment, overlap). Given a `train.baseline.LayoutPrior`,
the prior is scored on the very same samples and reported under ``"baseline"``.

``"given_boxes"`` scores box-conditioned generation (``sampling.sample(given=...)``): the
true sections and boxes are held and only tokens are generated, so its token accuracy is what
the model reads from the pixels whatever its boxes. Its ``"baseline"`` is the prior's token
per slot on the true sections (the prior does not look at boxes)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .data import EpochFilter, loader, sample_stream
from .baseline import LayoutPrior
from .metrics import MetricAccumulator
from .sampling import sample
from .vocab import PAD, Vocab

# what box-conditioned generation is scored on: the count and boxes are given, so only these vary
GIVEN_KEYS = ("token_accuracy", "aligned_token_accuracy", "exact_match")


@torch.no_grad()
def evaluate(model: nn.Module, shards: str | Path, split: str, vocab: Vocab, *, image_size: int,
             max_slots: int, batch_size: int = 32, num_workers: int = 0, max_samples: int | None = None,
             steps: int = 20, guidance_scale: float = 1.0, temperature: float = 0.0, seed: int = 0, fold: int | None = None,
             device: torch.device | str = "cpu", on_error: str = "raise",
             baseline: LayoutPrior | None = None) -> dict[str, Any]:
    """Metrics over the first `max_samples` samples of `split` (in shard order)."""
    keep = EpochFilter(fold_in=fold)
    ds = sample_stream(shards, split, vocab, image_size=image_size, max_slots=max_slots, seed=seed, epoch=0,
                       keep=keep, shuffle_buffer=0, on_error=on_error, repeat=False, split_nodes=False)
    acc, base_acc, n = MetricAccumulator(), MetricAccumulator(), 0
    given_acc, given_base = MetricAccumulator(), MetricAccumulator()
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for batch in loader(ds, batch_size, num_workers, seed):
            if max_samples is not None and n >= max_samples:
                break
            if max_samples is not None:
                batch = {k: v[: max_samples - n] for k, v in batch.items()}
            batch = {k: v.to(device) for k, v in batch.items()}
            pred = sample(model, batch["image"], steps, guidance_scale, generator, temperature=temperature)
            acc.update(pred, batch)
            real = batch["tokens"] != PAD
            given = {"slot_mask": real, "boxes": batch["boxes"], "box_mask": batch["box_mask"]}
            given_acc.update(sample(model, batch["image"], steps, guidance_scale, generator,
                                    temperature=temperature, given=given), batch)
            if baseline is not None:
                cpu = {k: v.cpu() for k, v in batch.items()}
                prior = baseline.predict(len(batch["tokens"]))
                base_acc.update(prior, cpu)
                on_true = torch.where(real.cpu(), prior["tokens"], torch.full_like(prior["tokens"], PAD))
                given_base.update({"tokens": on_true, "boxes": cpu["boxes"]}, cpu)
            n += len(batch["tokens"])
    finally:
        model.train(was_training)
    out = {"split": split, "fold": fold, "samples": n, **_rounded(acc)}
    out["given_boxes"] = {k: v for k, v in _rounded(given_acc).items() if k in GIVEN_KEYS}
    if baseline is not None:
        out["baseline"] = _rounded(base_acc)
        out["given_boxes"]["baseline"] = {k: v for k, v in _rounded(given_base).items() if k in GIVEN_KEYS}
    return out


def _rounded(acc: MetricAccumulator) -> dict[str, float | None]:
    return {k: (None if math.isnan(v) else round(v, 6)) for k, v in acc.compute().items()}

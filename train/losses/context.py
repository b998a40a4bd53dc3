"""What one training forward produced, handed to every named loss (train.objective.LOSSES).

The objective runs the model once per batch (encode, corrupt, denoise, match, read) and
collects the results here; each loss is a function of this context alone, so adding a loss
never changes the forward or another loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..model import Denoised, Features, Read
from .matching import Match


@dataclass
class StepContext:
    model: Any  # the SectionModel (unwrapped)
    batch: dict[str, Any]  # targets: boxes [B,M,4], mask [B,M], types [B,M], children [B,M,K], raw [B,M]
    feats: Features
    t: torch.Tensor  # [B] timesteps
    drop: torch.Tensor  # [B] bool, condition dropped (classifier-free guidance)
    noisy: torch.Tensor  # [B,N,4] the proposals the denoiser saw
    out: Denoised
    match: Match
    read: Read  # the reader at the matched proposals' predicted boxes, rows as in ``match``
    generator: torch.Generator
    label_smoothing: float = 0.0
    few_shot: Any = None  # the batch's few-shot context tokens (train.model.context.Context) or None

    @property
    def batch_size(self) -> int:
        return self.t.shape[0]


def per_sample_mean(values: torch.Tensor, sample: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean of ``values`` [K] per sample (``sample`` [K] indices) -> [B]; 0 where a sample has none."""
    total = values.new_zeros(batch_size).index_add(0, sample, values)
    count = values.new_zeros(batch_size).index_add(0, sample, torch.ones_like(values))
    return total / count.clamp_min(1)

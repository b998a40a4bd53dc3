"""Diversity of the predicted section types (wav2vec 2.0's diversity term, Baevski et al.
2020, eq. 4): with p̄ the type distribution averaged over the matched sections of the batch
and T the number of types,

    diversity = (T - exp(H(p̄))) / T

0 when every type is used equally, towards 1 when the reader collapses onto a few frequent
types. Keep its weight small: the true type distribution is not uniform.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .context import StepContext


def diversity_loss(ctx: StepContext) -> dict[str, Any]:
    probs = F.softmax(ctx.read.type.float(), dim=-1)
    if len(probs) == 0:
        return {"loss": ctx.out.presence.sum() * 0}
    mean = probs.mean(0)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum()
    T = probs.shape[-1]
    return {"loss": (T - torch.exp(entropy)) / T}

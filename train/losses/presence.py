"""Presence loss: which proposals are sections.

Every proposal i has a presence logit o_i; its target is 1 when the matching
(train.losses.matching) gave it a true section, else 0. With the sigmoid focal loss
(Lin et al. 2017; ``torchvision.ops.sigmoid_focal_loss``, alpha 0.25, gamma 2):

    presence_b = sum_i FL(o_i, y_i) / max(1, number of true sections of b)

normalised by the number of sections as DETR and DiffusionDet do. Most of the N proposals are
not sections; the focal term keeps their easy negatives from drowning the few positives.
"""
from __future__ import annotations

from typing import Any

import torch
from torchvision.ops import sigmoid_focal_loss

from .context import StepContext


def presence_loss(ctx: StepContext) -> dict[str, Any]:
    logits = ctx.out.presence
    target = torch.zeros_like(logits)
    target[ctx.match.batch, ctx.match.pred] = 1.0
    fl = sigmoid_focal_loss(logits, target, alpha=0.25, gamma=2.0, reduction="none")
    per_sample = fl.sum(1) / ctx.batch["mask"].sum(1).clamp_min(1).to(fl.dtype)
    return {"loss": per_sample.mean(), "per_sample": per_sample}

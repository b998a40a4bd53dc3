"""Geometric loss: where the sections are.

Over the matched pairs (proposal i, true section j) of a sample, boxes normalised cxcywh:

    l1   = mean over pairs of sum_k |b_i,k - g_j,k|                (F.l1_loss on coordinates)
    giou = mean over pairs of 1 - GIoU(b_i, g_j)                    (Rezatofighi et al. 2019,
           torchvision.ops.generalized_box_iou_loss)
    geometric_b = l1_weight * l1 + giou_weight * giou,   weights (5, 2)

DETR's box loss and weights (Carion et al. 2020): L1 is scale-dependent and smooth, GIoU is
scale-invariant and still has a gradient for disjoint boxes. A page with no section counts 0.
"""
from __future__ import annotations

from typing import Any

from ..geometry import giou_loss
from .context import StepContext, per_sample_mean

L1_WEIGHT, GIOU_WEIGHT = 5.0, 2.0


def geometric_loss(ctx: StepContext) -> dict[str, Any]:
    m = ctx.match
    pred = ctx.out.boxes[m.batch, m.pred]
    true = ctx.batch["boxes"][m.batch, m.target].to(pred.dtype)
    l1 = (pred - true).abs().sum(-1)
    giou = giou_loss(pred, true)
    per_sample = per_sample_mean(L1_WEIGHT * l1 + GIOU_WEIGHT * giou, m.batch, ctx.batch_size)
    n = max(1, len(m.batch))
    return {"loss": per_sample.mean(), "per_sample": per_sample, "l1": l1.sum() / n, "giou": giou.sum() / n}

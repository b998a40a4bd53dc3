"""Geometric loss: where the sections are.

Over the matched pairs (proposal i, true section j) of a sample, boxes normalised cxcywh:

    l1   = mean over pairs of sum_k |b_i,k - g_j,k|                (F.l1_loss on coordinates)
    giou = mean over pairs of 1 - GIoU(b_i, g_j)                    (Rezatofighi et al. 2019,
           torchvision.ops.generalized_box_iou_loss)
    geometric_b = l1_weight * l1 + giou_weight * giou,   weights (5, 2)

averaged over the final boxes and those of every earlier refinement stage of the denoiser
(deep supervision of the cascade, as DETR supervises each decoder layer), all scored
against the final stage's matching.

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
    stages = [*ctx.out.stages, ctx.out.boxes]
    true = ctx.batch["boxes"][m.batch, m.target].float()
    per_section = 0
    for boxes in stages:
        pred = boxes[m.batch, m.pred]
        l1 = (pred - true).abs().sum(-1)
        giou = giou_loss(pred, true)
        per_section = per_section + (L1_WEIGHT * l1 + GIOU_WEIGHT * giou) / len(stages)
    per_sample = per_sample_mean(per_section, m.batch, ctx.batch_size)
    n = max(1, len(m.batch))  # l1 and giou: of the final stage
    return {"loss": per_sample.mean(), "per_sample": per_sample, "l1": l1.sum() / n, "giou": giou.sum() / n}

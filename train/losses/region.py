"""Region loss: the reader names every true section from features pooled at a jittered true box.

For each true section of a sample whose condition is kept (classifier-free guidance drops
some), the box is jittered (centre moved by N(0, sigma) of its size, each side scaled by
exp(N(0, sigma)), sigma = 0.1) and the reader's factor logits there are scored as the element
loss scores them (train.losses.element_combination.factor_losses):

    region = mean over those sections of  type + children + raw_weight * raw

Why: deep supervision of the reader (the RoI head of Fast R-CNN, Girshick 2015, is trained
on crops at ground-truth-matched boxes; Lee et al. 2015, "Deeply-supervised nets"). The
element loss only reads where the denoiser put its matched proposals, which early in training
is off the section; this term lets every section teach the reader from near-true boxes, and
the jitter makes it robust to the small misplacements of sampled boxes (reading at boxes of
IoU 0.53 fell from 21% to 2.6% for a reader trained at exact boxes only).
"""
from __future__ import annotations

from typing import Any

import torch

from .context import StepContext
from .element_combination import factor_losses, section_loss

JITTER = 0.1


def jitter_boxes(boxes: torch.Tensor, generator: torch.Generator, sigma: float = JITTER) -> torch.Tensor:
    """cxcywh boxes [K,4] with centres moved and sides scaled at random (clamped to the canvas)."""
    noise = torch.randn(boxes.shape, generator=generator, device=generator.device).to(boxes.device) * sigma
    cx = boxes[:, 0] + noise[:, 0] * boxes[:, 2]
    cy = boxes[:, 1] + noise[:, 1] * boxes[:, 3]
    w = boxes[:, 2] * noise[:, 2].exp()
    h = boxes[:, 3] * noise[:, 3].exp()
    return torch.stack([cx, cy, w, h], 1).clamp(0, 1)


def region_loss(ctx: StepContext) -> dict[str, Any]:
    bt = ctx.batch
    real = bt["mask"] & ~ctx.drop[:, None]
    sample, slot = real.nonzero(as_tuple=True)
    if len(sample) == 0:
        zero = ctx.out.boxes.sum() * 0
        return {"loss": zero}
    boxes = jitter_boxes(bt["boxes"][sample, slot], ctx.generator)
    read = ctx.model.read(ctx.feats, boxes, sample, None, ctx.few_shot)
    parts = factor_losses(read, bt["types"][sample, slot], bt["children"][sample, slot], bt["raw"][sample, slot],
                          bt["regions"][sample, slot], ctx.label_smoothing)
    loss = section_loss(parts).mean()
    return {"loss": loss, **{k: v.mean() for k, v in parts.items()}}

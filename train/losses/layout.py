"""Layout penalties on the predicted section boxes (the production loss of phases 3-4):

    layout = Alignment(b) + Overlap(b)

over the boxes of the proposals matched to true sections, Alignment after Lee et al. 2020 and
Overlap after Li et al. 2020, both as computed by Kikuchi et al. 2021 (LayoutGAN++)
(train.geometry.layout_alignment / layout_overlap). Sections of a page stack without overlap
and share edges, so both are small on true layouts.
"""
from __future__ import annotations

from typing import Any

import torch

from ..geometry import layout_alignment, layout_overlap
from .context import StepContext


def layout_loss(ctx: StepContext) -> dict[str, Any]:
    m, B = ctx.match, ctx.batch_size
    N = ctx.out.boxes.shape[1]
    chosen = torch.zeros(B, N, dtype=torch.bool, device=ctx.out.boxes.device)
    chosen[m.batch, m.pred] = True
    boxes = ctx.out.boxes.float()
    alignment = layout_alignment(boxes, chosen).mean()
    overlap = layout_overlap(boxes, chosen).mean()
    return {"loss": alignment + overlap, "alignment": alignment, "overlap": overlap}

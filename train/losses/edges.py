"""Edge loss: the fine feature map learns where section boundaries are, densely.

A 1x1 convolution on the encoder's stride-4 fine map (train.model.network ``edge_head``) gives
an edge logit e_p per cell p; its target y_p is 1 on the cells that an edge of a true section
box passes through (each of the four edges, one cell thick, rasterised on the fine grid) and
0 elsewhere on the page (the padding below the page is not scored). With the positive cells
weighted by w = (negatives / positives) on the page, capped at 20:

    edges = mean over the page's cells of  BCE(e_p, y_p) weighted by w on the positives

Why: an auxiliary dense task for the features the denoiser reads (auxiliary heads speed up
set detectors' training, e.g. Co-DETR, Zong et al. 2023). The denoiser places each edge from
the fine features pooled around it (train.model.denoiser); a feature map told at every cell
whether a boundary is there makes that read easy long before the sparse, matched box losses
alone would teach it.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .context import StepContext

MAX_POS_WEIGHT = 20.0


def edge_targets(boxes: torch.Tensor, mask: torch.Tensor, extent: torch.Tensor, stride: int,
                 shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(targets [B,H,W] float, valid [B,H,W] bool) on the fine grid for page-normalised cxcywh
    ``boxes`` [B,M,4] (``mask`` [B,M]) of pages of ``extent`` [B,2] canvas pixels."""
    B, M, _ = boxes.shape
    H, W = shape
    cells_w = (extent[:, 0].float() / stride).clamp(min=1)  # [B]
    cells_h = (extent[:, 1].float() / stride).clamp(min=1)
    cx, cy, w, h = boxes.float().unbind(-1)
    x0 = ((cx - w / 2) * cells_w[:, None]).floor().clamp(0, W - 1).long()
    x1 = ((cx + w / 2) * cells_w[:, None] - 1e-4).floor().clamp(0, W - 1).long()
    y0 = ((cy - h / 2) * cells_h[:, None]).floor().clamp(0, H - 1).long()
    y1 = ((cy + h / 2) * cells_h[:, None] - 1e-4).floor().clamp(0, H - 1).long()
    rows = torch.arange(H, device=boxes.device).view(1, 1, H, 1)
    cols = torch.arange(W, device=boxes.device).view(1, 1, 1, W)
    inside_x = (cols >= x0[..., None, None]) & (cols <= x1[..., None, None])
    inside_y = (rows >= y0[..., None, None]) & (rows <= y1[..., None, None])
    on_h = ((rows == y0[..., None, None]) | (rows == y1[..., None, None])) & inside_x
    on_v = ((cols == x0[..., None, None]) | (cols == x1[..., None, None])) & inside_y
    target = ((on_h | on_v) & mask[..., None, None]).any(1).float()
    valid = (rows[0] < cells_h.ceil().view(B, 1, 1)) & (cols[0] < cells_w.ceil().view(B, 1, 1))
    return target, valid


def edges_loss(ctx: StepContext) -> dict[str, Any]:
    logits = ctx.model.edge_logits(ctx.feats)  # [B, H, W]
    bt = ctx.batch
    target, valid = edge_targets(bt["boxes"], bt["mask"], bt["extent"], ctx.feats.fine_stride, logits.shape[-2:])
    pos = (target * valid).sum()
    neg = valid.sum() - pos
    weight = torch.where(target > 0, (neg / pos.clamp_min(1)).clamp(max=MAX_POS_WEIGHT), torch.ones_like(target))
    bce = F.binary_cross_entropy_with_logits(logits.float(), target, weight=weight * valid, reduction="sum")
    per_page = valid.flatten(1).sum(1).clamp_min(1)
    loss = bce / per_page.sum()
    return {"loss": loss}

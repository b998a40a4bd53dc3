"""Dense loss: the dense proposal head (train.model.dense) learns where sections are, everywhere.

With the targets of :func:`train.model.dense.dense_targets` on the fine grid (cells on the
page only, rows of the page only):

    inside = mean over cells of BCE(inside logit, inside target)
    box    = mean over inside cells of  5 * L1(ltrb, target ltrb) + 2 * (1 - GIoU(cell box, target box))
    edge   = mean over the page's pixel rows of BCE(edge logit, edge target), edge rows
             weighted by (other rows / edge rows), capped at 20
    dense  = inside + box + edge

Each term is a mean within a page, then over the batch's pages, so a tall page counts once.
The box weights are DETR's (train.losses.geometric). Every section teaches every one of its
cells at every step: this is what makes the head learn in hundreds of steps where the set
denoiser's matched losses, one proposal per section, do not.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..geometry import cxcywh, giou_loss
from ..model.dense import cell_boxes, dense_targets
from .context import StepContext
from .geometric import GIOU_WEIGHT, L1_WEIGHT

MAX_EDGE_WEIGHT = 20.0


def _page_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` [B, ...] under ``weight`` within each page, then over pages that have weight."""
    w = weight.flatten(1).float()
    per_page = (values.flatten(1) * w).sum(1) / w.sum(1).clamp_min(1e-6)
    has = w.sum(1) > 0
    return per_page[has].mean() if bool(has.any()) else values.sum() * 0


def dense_loss(ctx: StepContext) -> dict[str, Any]:
    bt, feats = ctx.batch, ctx.feats
    out = ctx.model.dense(feats)
    H, W = out.inside.shape[-2:]
    tg = dense_targets(bt["boxes"], bt["mask"], bt["extent"], feats.fine_stride, (H, W))
    inside = _page_mean(F.binary_cross_entropy_with_logits(out.inside, tg.inside, reduction="none"), tg.valid)
    pos = (tg.inside > 0) & tg.valid
    pred = cell_boxes(out.ltrb, bt["extent"], feats.fine_stride)  # [B, H, W, 4] xyxy
    true = cell_boxes(tg.ltrb, bt["extent"], feats.fine_stride)
    l1 = (out.ltrb - tg.ltrb).abs().sum(1)  # [B, H, W]
    giou = torch.zeros_like(l1)
    if bool(pos.any()):  # corners put back in order: early distances may cross (l + r < 0)
        p = pred[pos]
        p = torch.cat([torch.minimum(p[:, :2], p[:, 2:]), torch.maximum(p[:, :2], p[:, 2:]) + 1e-4], 1)
        giou[pos] = giou_loss(cxcywh(p), cxcywh(true[pos]))
    box = _page_mean(L1_WEIGHT * l1 + GIOU_WEIGHT * giou, pos)
    n_edge = (tg.edge * tg.row_valid).sum(1, keepdim=True)
    n_other = tg.row_valid.sum(1, keepdim=True) - n_edge
    pos_w = (n_other / n_edge.clamp_min(1)).clamp(max=MAX_EDGE_WEIGHT)
    weight = torch.where(tg.edge > 0, pos_w.expand_as(tg.edge), torch.ones_like(tg.edge))
    edge = _page_mean(F.binary_cross_entropy_with_logits(out.edge, tg.edge, weight=weight, reduction="none"),
                      tg.row_valid)
    loss = inside + box + edge
    return {"loss": loss, "inside": inside.detach(), "box": box.detach(), "edge": edge.detach()}

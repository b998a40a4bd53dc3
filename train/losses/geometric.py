"""Geometric loss: where the sections are.

Boxes are normalised (cx, cy, w, h). Over the slots whose box is known (``box_mask``):

    l1   = mean over slots of (1/4) * sum_k |p_k - g_k|           (F.l1_loss on coordinates)
    giou = mean over slots of 1 - GIoU(p, g)                       (Rezatofighi et al. 2019,
           torchvision.ops.generalized_box_iou_loss on box_convert(..., "cxcywh", "xyxy"))
    pad  = mean over empty slots (``pad_mask``) of (1/4) * sum_k |p_k - 0|
           (pulls the boxes of empty slots to the null box so that, while sampling, the box
           diffusion of empty slots follows the trajectory it was trained on)

    loss = l1_weight * l1 + giou_weight * giou + pad_weight * pad

The L1 + GIoU pair is DETR's box loss (Carion et al. 2020): L1 is scale-dependent and
smooth, GIoU is scale-invariant and still has a gradient for disjoint boxes.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import box_convert, generalized_box_iou_loss

from .element_combination import _masked_mean


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - GIoU per box for cxcywh boxes [..., 4] (elementwise, no reduction)."""
    shape = pred.shape[:-1]
    p = box_convert(pred.reshape(-1, 4).float(), "cxcywh", "xyxy")
    g = box_convert(target.reshape(-1, 4).float(), "cxcywh", "xyxy")
    return generalized_box_iou_loss(p, g, reduction="none").view(shape)


class GeometricLoss(nn.Module):
    """Box L1 + GIoU over located slots (+ null-box L1 over empty slots)."""

    def __init__(self, l1_weight: float = 1.0, giou_weight: float = 1.0, pad_weight: float = 0.1) -> None:
        super().__init__()
        self.l1_weight, self.giou_weight, self.pad_weight = l1_weight, giou_weight, pad_weight

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        box_mask: torch.Tensor,
        pad_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``pred``, ``target`` [B,N,4] cxcywh; ``box_mask`` [B,N] bool; ``pad_mask`` [B,N]
        bool (empty slots, optional). Returns loss, l1, giou, pad and per_sample [B]."""
        abs_err = (pred.float() - target.float()).abs().mean(-1)
        l1, l1_ps = _masked_mean(abs_err, box_mask)
        # GIoU of a zero-area target is meaningless: keep it out even if the mask says yes.
        valid = box_mask & (target[..., 2] > 0) & (target[..., 3] > 0)
        giou = torch.where(valid, giou_loss(pred, torch.where(valid[..., None], target, 0.5)),
                           torch.zeros_like(abs_err))
        giou, giou_ps = _masked_mean(giou, valid)
        if pad_mask is None:
            pad, pad_ps = abs_err.new_zeros(()), abs_err.new_zeros(pred.shape[0])
        else:
            pad, pad_ps = _masked_mean(pred.float().abs().mean(-1), pad_mask)
        loss = self.l1_weight * l1 + self.giou_weight * giou + self.pad_weight * pad
        per_sample = self.l1_weight * l1_ps + self.giou_weight * giou_ps + self.pad_weight * pad_ps
        return {"loss": loss, "l1": l1, "giou": giou, "pad": pad, "per_sample": per_sample}

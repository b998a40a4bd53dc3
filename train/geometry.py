"""Box geometry, in one place for the losses, the matcher and the metrics.

Boxes inside the trainer are normalised (cx, cy, w, h) on the canvas (train.data.inputs):
x by the canvas width, y by its full height. IoU and GIoU come from ``torchvision.ops``
on the xyxy form; what torchvision does not have is written here once:

- ``layout_alignment``: (Lee et al. 2020; as computed by Kikuchi et al. 2021) for each
  element, d = the smallest distance to another element over the six alignment lines
  (left, centre-x, right, top, centre-y, bottom); score = mean over elements of
  -log(1 - d); an element alone counts 0. Lower is better aligned.
- ``layout_overlap``: (Li et al. 2020, as computed by Kikuchi et al. 2021) sum over ordered
  pairs i != j of area(b_i ∩ b_j) / area(b_i), over the number of elements. Lower is better.

Both are differentiable and double as loss terms (train.losses.layout).
"""
from __future__ import annotations

import torch
from torchvision.ops import box_convert, box_iou, generalized_box_iou, generalized_box_iou_loss


def xyxy(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, "cxcywh", "xyxy")


def cxcywh(boxes: torch.Tensor) -> torch.Tensor:
    return box_convert(boxes, "xyxy", "cxcywh")


def clip_to_page(boxes: torch.Tensor) -> torch.Tensor:
    """cxcywh boxes with their edges clipped to the page, [0, 1] x [0, 1]."""
    return cxcywh(xyxy(boxes).clamp(0, 1))


def iou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of cxcywh boxes a [n,4] and b [m,4] -> [n, m] (0 where a box is empty)."""
    if len(a) == 0 or len(b) == 0:
        return a.new_zeros((len(a), len(b)))
    return torch.nan_to_num(box_iou(xyxy(a.float()), xyxy(b.float())), nan=0.0)


def giou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise generalized IoU of cxcywh boxes a [n,4] and b [m,4] -> [n, m]."""
    if len(a) == 0 or len(b) == 0:
        return a.new_zeros((len(a), len(b)))
    return torch.nan_to_num(generalized_box_iou(xyxy(a.float()), xyxy(b.float())), nan=-1.0)


def giou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - GIoU of corresponding cxcywh boxes [..., 4], no reduction."""
    shape = pred.shape[:-1]
    loss = generalized_box_iou_loss(xyxy(pred.reshape(-1, 4).float()), xyxy(target.reshape(-1, 4).float()),
                                    reduction="none")
    return loss.view(shape)


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """logit(x) with x clamped into (eps, 1 - eps): the reference of iterative box refinement."""
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


def _ltrb(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    cx, cy, w, h = boxes.unbind(-1)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def layout_alignment(boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Alignment score per layout [B] of boxes [B,N,4] over elements ``mask`` [B,N]."""
    left, t, r, b = _ltrb(boxes)
    lines = torch.stack([left, boxes[..., 0], r, t, boxes[..., 1], b], dim=-1)  # [B,N,6]
    dist = (lines[:, :, None, :] - lines[:, None, :, :]).abs()  # [B,N,N,6]
    n = boxes.shape[1]
    pair_ok = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=boxes.device)
    dist = torch.where(pair_ok[..., None], dist, torch.full_like(dist, float("inf")))
    d = dist.amin(dim=(2, 3))  # [B,N]
    has_other = torch.isfinite(d) & mask
    d = torch.where(has_other, d, torch.zeros_like(d)).clamp(max=1 - 1e-6)
    score = torch.where(has_other, -torch.log1p(-d), torch.zeros_like(d))
    return score.sum(1) / mask.sum(1).clamp_min(1)


def layout_overlap(boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Overlap score per layout [B] of boxes [B,N,4] over elements ``mask`` [B,N]."""
    left, t, r, b = _ltrb(boxes)
    iw = (torch.minimum(r[:, :, None], r[:, None]) - torch.maximum(left[:, :, None], left[:, None])).clamp_min(0)
    ih = (torch.minimum(b[:, :, None], b[:, None]) - torch.maximum(t[:, :, None], t[:, None])).clamp_min(0)
    area = (boxes[..., 2] * boxes[..., 3])[:, :, None]  # area of b_i, row i
    n = boxes.shape[1]
    pair_ok = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=boxes.device)
    ratio = torch.where(pair_ok & (area > 0), iw * ih / area.clamp_min(1e-12), torch.zeros_like(iw))
    return ratio.sum(dim=(1, 2)) / mask.sum(1).clamp_min(1)

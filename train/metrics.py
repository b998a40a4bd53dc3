"""Layout metrics shared by evaluation and tests.

A prediction and a target are dicts of batched tensors: ``tokens`` [B,N] long (PAD for an
empty slot) and ``boxes`` [B,N,4] normalised (cx, cy, w, h); the target also has
``box_mask`` [B,N] (its box is known). Slots are in page order (top to bottom), so slot i of
the prediction is compared with slot i of the target ("matched slots").

- ``token_accuracy``: over the target's sections (non-PAD slots), the fraction whose
  predicted token is the target token (a PAD predicted there is wrong). Strictly
  positional: one missed or extra section near the top shifts every later slot.
- ``aligned_token_accuracy``: the predicted and target section sequences (PAD dropped)
  aligned in page order by their longest common subsequence of tokens; the score is the
  number of aligned equal tokens over max(#pred, #target), summed over samples before
  dividing. A missed or extra section costs one section, not every slot after it, and
  predicting extra sections is charged through the larger count. Like the positional
  one, an UNK matches an UNK.
- ``exact_match``: fraction of samples whose predicted slot sequence equals the target one
  at every slot (so the count and every token are right).
- ``count_accuracy``: fraction of samples with as many predicted sections as target ones.
- ``box_miou``: over the target's located sections, the mean IoU of the predicted box in
  the same slot with the target box (0 where the prediction left the slot empty).
- ``max_iou``: Maximum IoU (Kikuchi et al. 2021, "Constrained graphic layout generation via
  latent optimization"): elements of the same token are matched one-to-one between the
  prediction and the target by the assignment maximising the summed IoU (Hungarian, scipy's
  ``linear_sum_assignment``); the score is the summed matched IoU over max(#pred, #target)
  elements (Kikuchi divide by the shared element count; with counts that may differ, the
  larger count also charges missing and extra elements). Mean over samples.
- ``alignment``: (Lee et al. 2020; as computed by Kikuchi et al. 2021) for each predicted
  element, d = the smallest distance to another element over the six alignment lines (left,
  centre-x, right, top, centre-y, bottom); score = mean over elements of -log(1 - d); an
  element alone counts 0. Lower is better aligned. Mean over samples with an element.
- ``overlap``: (Li et al. 2020, Attribute-conditioned layout GAN, as computed by Kikuchi et
  al. 2021) sum over ordered pairs i != j of area(b_i ∩ b_j) / area(b_i), over the number of
  elements. Lower is better. Mean over samples with an element.

``layout_alignment`` and ``layout_overlap`` are differentiable and double as loss terms.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np
import torch

from .vocab import PAD

try:  # scipy arrives with albumentations; fall back to greedy matching without it
    from scipy.optimize import linear_sum_assignment
except ImportError:  # pragma: no cover
    linear_sum_assignment = None

METRICS = ("token_accuracy", "aligned_token_accuracy", "exact_match", "count_accuracy", "box_miou", "max_iou",
           "alignment", "overlap")


def _ltrb(boxes: torch.Tensor) -> tuple[torch.Tensor, ...]:
    cx, cy, w, h = boxes.unbind(-1)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def box_iou_elementwise(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of corresponding cxcywh boxes a[..., 4] and b[..., 4] -> [...] (0 for empty)."""
    al, at, ar, ab = _ltrb(a)
    bl, bt, br, bb = _ltrb(b)
    iw = (torch.minimum(ar, br) - torch.maximum(al, bl)).clamp_min(0)
    ih = (torch.minimum(ab, bb) - torch.maximum(at, bt)).clamp_min(0)
    inter = iw * ih
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def box_iou_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of cxcywh boxes a [n,4] and b [m,4] -> [n, m]."""
    return box_iou_elementwise(a[:, None, :], b[None, :, :])


def layout_alignment(boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Alignment score per layout [B] of boxes [B,N,4] over elements ``mask`` [B,N]."""
    l, t, r, b = _ltrb(boxes)
    lines = torch.stack([l, boxes[..., 0], r, t, boxes[..., 1], b], dim=-1)  # [B,N,6]
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
    l, t, r, b = _ltrb(boxes)
    iw = (torch.minimum(r[:, :, None], r[:, None]) - torch.maximum(l[:, :, None], l[:, None])).clamp_min(0)
    ih = (torch.minimum(b[:, :, None], b[:, None]) - torch.maximum(t[:, :, None], t[:, None])).clamp_min(0)
    area = (boxes[..., 2] * boxes[..., 3])[:, :, None]  # area of b_i, row i
    n = boxes.shape[1]
    pair_ok = mask[:, :, None] & mask[:, None, :] & ~torch.eye(n, dtype=torch.bool, device=boxes.device)
    ratio = torch.where(pair_ok & (area > 0), iw * ih / area.clamp_min(1e-12), torch.zeros_like(iw))
    return ratio.sum(dim=(1, 2)) / mask.sum(1).clamp_min(1)


def _assign(iou: np.ndarray) -> float:
    """Summed IoU of the one-to-one matching maximising it."""
    if iou.size == 0:
        return 0.0
    if linear_sum_assignment is not None:
        rows, cols = linear_sum_assignment(iou, maximize=True)
        return float(iou[rows, cols].sum())
    total, iou = 0.0, iou.copy()  # greedy fallback: best remaining pair first
    for _ in range(min(iou.shape)):
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        total += iou[i, j]
        iou[i, :], iou[:, j] = -1, -1
    return total


def maximum_iou(
    pred_tokens: torch.Tensor, pred_boxes: torch.Tensor,
    tgt_tokens: torch.Tensor, tgt_boxes: torch.Tensor,
) -> float:
    """Maximum IoU of one layout pair; elements given as tokens [n] and boxes [n,4]."""
    n = max(len(pred_tokens), len(tgt_tokens))
    if n == 0:
        return 1.0
    total = 0.0
    for label in torch.unique(torch.cat([pred_tokens, tgt_tokens])).tolist():
        p, g = pred_boxes[pred_tokens == label], tgt_boxes[tgt_tokens == label]
        if len(p) and len(g):
            total += _assign(box_iou_matrix(p.double(), g.double()).cpu().numpy())
    return total / n


def lcs_length(a: list[int], b: list[int]) -> int:
    """Length of the longest common subsequence of two short sequences (O(len(a) len(b)));
    hand-written: difflib's matcher finds matching blocks heuristically, not the LCS."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _aligned_tokens(pt: torch.Tensor, tt: torch.Tensor) -> tuple[float, int]:
    total, denom = 0, 0
    for p_row, t_row in zip(pt.tolist(), tt.tolist()):
        p = [x for x in p_row if x != PAD]
        t = [x for x in t_row if x != PAD]
        total += lcs_length(p, t)
        denom += max(len(p), len(t))
    return float(total), denom


def batch_statistics(
    pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> dict[str, tuple[float, int]]:
    """(sum, count) of every metric over one batch: the mergeable form of the metrics."""
    pt, pb = pred["tokens"], pred["boxes"].float()
    tt, tb = target["tokens"], target["boxes"].float()
    tbox = target.get("box_mask", tt != PAD) & (tt != PAD)
    preal, treal = pt != PAD, tt != PAD
    iou = box_iou_elementwise(torch.where(preal[..., None], pb, torch.zeros_like(pb)), tb)
    has_pred = preal.any(1)
    stats = {
        "token_accuracy": (float(((pt == tt) & treal).sum()), int(treal.sum())),
        "aligned_token_accuracy": _aligned_tokens(pt, tt),
        "exact_match": (float((pt == tt).all(1).sum()), len(tt)),
        "count_accuracy": (float((preal.sum(1) == treal.sum(1)).sum()), len(tt)),
        "box_miou": (float(iou[tbox].sum()), int(tbox.sum())),
        "alignment": (float(layout_alignment(pb, preal)[has_pred].sum()), int(has_pred.sum())),
        "overlap": (float(layout_overlap(pb, preal)[has_pred].sum()), int(has_pred.sum())),
    }
    miou_sum, miou_n = 0.0, 0
    for b in range(len(tt)):
        if tbox[b].any():
            miou_sum += maximum_iou(pt[b][preal[b]], pb[b][preal[b]], tt[b][tbox[b]], tb[b][tbox[b]])
            miou_n += 1
    stats["max_iou"] = (miou_sum, miou_n)
    return stats


class MetricAccumulator:
    """Sums (value, count) pairs over many batches; ``compute`` gives the means (NaN for a
    metric that never had anything to measure)."""

    def __init__(self) -> None:
        self.sums = {k: 0.0 for k in METRICS}
        self.counts = {k: 0 for k in METRICS}

    def update(self, pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
        self.merge(batch_statistics(pred, target))

    def merge(self, stats: Mapping[str, tuple[float, int]]) -> None:
        for k, (s, n) in stats.items():
            self.sums[k] += s
            self.counts[k] += n

    def compute(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] if self.counts[k] else float("nan") for k in METRICS}


@torch.no_grad()
def evaluate_batch(pred: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """Every metric, averaged over one batch."""
    acc = MetricAccumulator()
    acc.update(pred, target)
    return acc.compute()


@torch.no_grad()
def evaluate_batches(
    pairs: Iterable[tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]]
) -> dict[str, float]:
    """Every metric over many (pred, target) batches, each slot / sample counted once."""
    acc = MetricAccumulator()
    for pred, target in pairs:
        acc.update(pred, target)
    return acc.compute()

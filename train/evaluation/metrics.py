"""Section metrics of one page, as (numerator, denominator) pairs that add up over pages and
sources (evaluation sums them per source, then bootstraps over sources).

A page's predicted sections and its true ones are each a set of boxes (normalised canvas
cxcywh) with a type, children and raw token. Predicted and true sections are matched
one-to-one by box: the assignment maximising the summed IoU (Hungarian,
``scipy.optimize.linear_sum_assignment``). Then, with M true sections:

- ``count``: 1 when the page has as many predicted sections as true ones (over pages).
- ``miou``: the summed IoU of the matched pairs over M (a true section left unmatched
  counts 0; extra predictions cost through ``count`` and the factor scores' matching).
- ``max_iou``: Maximum IoU (Kikuchi et al. 2021, "Constrained graphic layout generation via
  latent optimization"): the same matching done within each section type, the summed IoU
  over max(#pred, #true) (with counts that may differ, the larger count also charges missing
  and extra sections; a page with neither scores 1). Over pages.
- ``type``, ``children``, ``token``, ``raw_token``: over the M true sections, the share whose
  matched prediction overlaps it by IoU >= 0.5 and has the same type / the same ordered
  children / both (the canonical token) / the same raw token.
- ``precision``, ``recall``, ``f1``: the detection view of finding, whatever the reading:
  with TP the matched pairs at IoU >= 0.5, TP over the predicted sections, over the true
  ones, and 2 TP / (predicted + true). The exact count alone hides whether a page has one
  extra box or a wrong set.
- ``bcubed_precision``, ``bcubed_recall``, ``bcubed_f1``: the page-segmentation literature's
  pixel BCubed scores of the boxes alone, whatever their types (`bcubed.pixel_bcubed`; Kiesel
  et al. 2020). Per page, then over pages, as the literature averages them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..geometry import iou_matrix
from .bcubed import pixel_bcubed

METRICS = ("count", "miou", "max_iou", "type", "children", "token", "raw_token", "precision", "recall", "f1",
           "bcubed_precision", "bcubed_recall", "bcubed_f1")
MATCH_IOU = 0.5


def _assign(iou: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if iou.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return linear_sum_assignment(iou, maximize=True)


def maximum_iou(pred_types: np.ndarray, pred_boxes: torch.Tensor, true_types: np.ndarray,
                true_boxes: torch.Tensor) -> float:
    n = max(len(pred_types), len(true_types))
    if n == 0:
        return 1.0
    total = 0.0
    for label in set(pred_types.tolist()) & set(true_types.tolist()):
        p, g = pred_boxes[pred_types == label], true_boxes[true_types == label]
        iou = iou_matrix(p, g).double().numpy()
        rows, cols = _assign(iou)
        total += float(iou[rows, cols].sum())
    return total / n


def page_stats(pred_boxes: torch.Tensor, pred_types: Sequence[int], pred_children: Sequence[tuple],
               pred_raw: Sequence[int], true_boxes: torch.Tensor, true_types: Sequence[int],
               true_children: Sequence[tuple], true_raw: Sequence[int]) -> dict[str, tuple[float, int]]:
    """(numerator, denominator) of every metric for one page (module docstring)."""
    n_pred, n_true = len(pred_types), len(true_types)
    iou = iou_matrix(true_boxes.float(), pred_boxes.float()).double().numpy()
    rows, cols = _assign(iou)
    good = iou[rows, cols] >= MATCH_IOU
    same_type = np.array([true_types[r] == pred_types[c] for r, c in zip(rows, cols)], dtype=bool) & good
    same_children = np.array([true_children[r] == pred_children[c] for r, c in zip(rows, cols)], dtype=bool) & good
    same_raw = np.array([true_raw[r] == pred_raw[c] for r, c in zip(rows, cols)], dtype=bool) & good
    bc_precision, bc_recall, bc_f1 = pixel_bcubed(pred_boxes, true_boxes)
    return {
        "count": (float(n_pred == n_true), 1),
        "miou": (float(iou[rows, cols].sum()), n_true),
        "max_iou": (maximum_iou(np.asarray(pred_types), pred_boxes, np.asarray(true_types), true_boxes), 1),
        "type": (float(same_type.sum()), n_true),
        "children": (float(same_children.sum()), n_true),
        "token": (float((same_type & same_children).sum()), n_true),
        "raw_token": (float(same_raw.sum()), n_true),
        "precision": (float(good.sum()), n_pred),
        "recall": (float(good.sum()), n_true),
        "f1": (2.0 * float(good.sum()), n_pred + n_true),
        "bcubed_precision": (bc_precision, 1),
        "bcubed_recall": (bc_recall, 1),
        "bcubed_f1": (bc_f1, 1),
    }


def add_stats(total: dict[str, list[float]], stats: dict[str, tuple[float, int]]) -> None:
    """Accumulate one page's (numerator, denominator) pairs into ``total``."""
    for k, (num, den) in stats.items():
        acc = total.setdefault(k, [0.0, 0.0])
        acc[0] += num
        acc[1] += den

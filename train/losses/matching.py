"""One-to-one matching of the N predicted boxes to a page's true sections (set prediction).

As in DETR (Carion et al. 2020) and DiffusionDet, each true section is assigned to exactly one
proposal by the assignment of least total cost (Hungarian algorithm,
``scipy.optimize.linear_sum_assignment``); the other proposals are "no section". The cost of
giving true section j to proposal i is

    C_ij = w_cls * (pos_i - neg_i) + w_l1 * |b_i - g_j|_1 + w_giou * (-GIoU(b_i, g_j))

with the focal costs of the presence probability p_i (Deformable DETR, Zhu et al. 2021):
pos_i = a (1 - p_i)^2 (-log p_i), neg_i = (1 - a) p_i^2 (-log(1 - p_i)), a = 0.25; weights
(2, 5, 2) as there. Matching is not differentiated through (it picks targets).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..geometry import giou_matrix

COST_WEIGHTS = (2.0, 5.0, 2.0)  # presence, L1, GIoU


class Match(NamedTuple):
    """Matched pairs over the batch, flattened: sample, proposal and target indices [K]."""

    batch: torch.Tensor
    pred: torch.Tensor
    target: torch.Tensor


@torch.no_grad()
def match_cost(boxes: torch.Tensor, presence: torch.Tensor, targets: torch.Tensor,
               weights: tuple[float, float, float] = COST_WEIGHTS) -> torch.Tensor:
    """Cost matrix [N, M] of one sample: predicted ``boxes`` [N,4], ``presence`` logits [N],
    true ``targets`` [M,4]."""
    p = torch.sigmoid(presence.float())[:, None]
    alpha = 0.25
    pos = alpha * (1 - p) ** 2 * -torch.log(p.clamp_min(1e-8))
    neg = (1 - alpha) * p ** 2 * -torch.log((1 - p).clamp_min(1e-8))
    l1 = torch.cdist(boxes.float(), targets.float(), p=1)
    return weights[0] * (pos - neg) + weights[1] * l1 - weights[2] * giou_matrix(boxes, targets)


@torch.no_grad()
def hungarian_match(boxes: torch.Tensor, presence: torch.Tensor, targets: torch.Tensor,
                    mask: torch.Tensor) -> Match:
    """Match each sample's true boxes (``targets`` [B,M,4] where ``mask`` [B,M]) to its
    proposals (``boxes`` [B,N,4], ``presence`` [B,N])."""
    bs, ps, ts = [], [], []
    for b in range(boxes.shape[0]):
        real = mask[b].nonzero(as_tuple=True)[0]
        if len(real) == 0:
            continue
        cost = match_cost(boxes[b], presence[b], targets[b, real]).cpu().numpy()
        rows, cols = linear_sum_assignment(np.nan_to_num(cost, nan=1e6, posinf=1e6, neginf=-1e6))
        bs.append(np.full(len(rows), b))
        ps.append(rows)
        ts.append(real.cpu().numpy()[cols])
    device = boxes.device
    if not bs:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Match(empty, empty, empty)
    return Match(*(torch.from_numpy(np.concatenate(x)).long().to(device) for x in (bs, ps, ts)))

"""Every metric against a hand computation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from train.metrics import (METRICS, _assign, box_iou_elementwise, evaluate_batch, evaluate_batches,
                           layout_alignment, layout_overlap, lcs_length, maximum_iou)

Z = [0.0, 0.0, 0.0, 0.0]


def _pair():
    target = {
        "tokens": torch.tensor([[3, 4, 0], [3, 0, 0]]),
        "boxes": torch.tensor([[[0.5, 0.25, 1, 0.5], [0.5, 0.75, 1, 0.5], Z],
                               [[0.5, 0.5, 0.5, 0.5], Z, Z]]),
        "box_mask": torch.tensor([[True, True, False], [True, False, False]]),
    }
    pred = {
        "tokens": torch.tensor([[3, 5, 0], [3, 3, 0]]),
        "boxes": torch.tensor([[[0.5, 0.25, 1, 0.5], [0.5, 0.75, 1, 0.25], Z],
                               [[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.25, 0.25], Z]]),
    }
    return pred, target


def test_evaluate_batch_by_hand():
    pred, target = _pair()
    m = evaluate_batch(pred, target)
    assert set(m) == set(METRICS)
    assert m["token_accuracy"] == pytest.approx(2 / 3)  # sample 0: 1 of 2, sample 1: 1 of 1
    # LCS: sample 0 [3,5] vs [3,4] -> 1 of max(2,2); sample 1 [3,3] vs [3] -> 1 of max(2,1)
    assert m["aligned_token_accuracy"] == pytest.approx(2 / 4)
    assert m["exact_match"] == 0.0  # wrong token / extra section
    assert m["count_accuracy"] == 0.5  # 2 == 2, 2 != 1
    # IoUs of located target slots: 1, (1 x 0.25) / (0.5 + 0.25 - 0.25) = 0.5, 1
    assert m["box_miou"] == pytest.approx((1 + 0.5 + 1) / 3)
    # sample 0: only token 3 is shared (IoU 1) over max(2, 2); sample 1: best match 1 over max(2, 1)
    assert m["max_iou"] == pytest.approx((0.5 + 0.5) / 2)
    assert m["alignment"] == pytest.approx(0.0)  # shared left edges / centres
    # sample 0: disjoint; sample 1: inner box inside outer: (0.0625/0.25 + 0.0625/0.0625) / 2
    assert m["overlap"] == pytest.approx((0 + 0.625) / 2)


def test_aligned_accuracy_charges_a_shift_once_not_per_slot():
    target = {"tokens": torch.tensor([[3, 4, 5, 0]]), "boxes": torch.zeros(1, 4, 4)}
    pred = {"tokens": torch.tensor([[7, 3, 4, 5]]), "boxes": torch.zeros(1, 4, 4)}
    m = evaluate_batch(pred, target)
    assert m["token_accuracy"] == 0.0  # every slot shifted by the extra section on top
    assert m["aligned_token_accuracy"] == pytest.approx(3 / 4)
    assert lcs_length([1, 2, 3, 2], [2, 3, 1, 2]) == 3 and lcs_length([], [1]) == 0


def test_metrics_aggregate_over_batches_like_one_big_batch():
    pred, target = _pair()
    split = [({k: v[i:i + 1] for k, v in pred.items()}, {k: v[i:i + 1] for k, v in target.items()})
             for i in range(2)]
    assert evaluate_batches(split) == pytest.approx(evaluate_batch(pred, target))


def test_empty_prediction_scores_zero_not_nan():
    _, target = _pair()
    pred = {"tokens": torch.zeros(2, 3, dtype=torch.long), "boxes": torch.zeros(2, 3, 4)}
    m = evaluate_batch(pred, target)
    assert m["token_accuracy"] == 0 and m["box_miou"] == 0 and m["max_iou"] == 0
    assert math.isnan(m["alignment"])  # nothing predicted: nothing to measure


def test_iou_by_hand():
    a = torch.tensor([[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2], [0.5, 0.5, 0.0, 0.0]])
    b = torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.7, 0.7, 0.2, 0.2], [0.5, 0.5, 0.0, 0.0]])
    assert box_iou_elementwise(a, b).tolist() == pytest.approx([0.25, 0.0, 0.0])


def test_alignment_by_hand():
    # A: l 0.15 r 0.35 t 0.15 b 0.35; B: l 0.2, xc 0.35, r 0.5, t 0.6, b 0.8: closest line 0.05
    boxes = torch.tensor([[[0.25, 0.25, 0.2, 0.2], [0.35, 0.7, 0.3, 0.2], [0.9, 0.9, 0.1, 0.1]]])
    two = layout_alignment(boxes, torch.tensor([[True, True, False]]))
    assert two.item() == pytest.approx(-math.log(0.95), rel=1e-4)
    alone = layout_alignment(boxes, torch.tensor([[True, False, False]]))
    assert alone.item() == 0.0
    boxes.requires_grad_(True)
    layout_alignment(boxes, torch.tensor([[True, True, False]])).sum().backward()
    assert boxes.grad[0, :2].abs().sum() > 0 and torch.all(boxes.grad[0, 2] == 0)


def test_overlap_by_hand():
    # A: [0,0.5]x[0,0.5]; B: [0.25,0.75]x[0.25,0.75]; overlap 0.0625 on areas 0.25 and 0.25
    boxes = torch.tensor([[[0.25, 0.25, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]])
    got = layout_overlap(boxes, torch.tensor([[True, True, False]]))
    assert got.item() == pytest.approx((0.25 + 0.25) / 2)
    all3 = layout_overlap(boxes, torch.tensor([[True, True, True]]))
    # + A∩C / A = 1, B∩C / B = 1, C∩A / C = 0.25, C∩B / C = 0.25
    assert all3.item() == pytest.approx((0.25 + 0.25 + 1 + 1 + 0.25 + 0.25) / 3)


def test_maximum_iou_uses_the_optimal_assignment():
    iou = np.array([[0.9, 0.8], [0.8, 0.1]])
    assert _assign(iou) == pytest.approx(1.6)  # greedy would take 0.9 + 0.1
    # same label for both elements: boxes built so the best pairing is the crossed one
    g = torch.tensor([[0.5, 0.25, 1.0, 0.5], [0.5, 0.75, 1.0, 0.5]])
    p = torch.tensor([[0.5, 0.75, 1.0, 0.5], [0.5, 0.25, 1.0, 0.5]])
    tokens = torch.tensor([3, 3])
    assert maximum_iou(tokens, p, tokens, g) == pytest.approx(1.0)
    assert maximum_iou(torch.tensor([3, 4]), p, tokens, g) == pytest.approx(0.5)

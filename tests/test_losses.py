"""The loss recipe: one-to-one matching, each named loss by hand, weightings, the objective."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from train.config import LossConfig, TrainConfig
from train.data.vocab import IGNORE
from train.geometry import giou_loss, iou_matrix
from train.losses.element_combination import factor_losses, info_nce
from train.losses.matching import Match, hungarian_match, match_cost
from train.losses.region import jitter_boxes
from train.losses.weighting import WEIGHTINGS, DynamicWeightAverage
from train.model import Read
from train.objective import LOSSES, Objective

from model_helpers import tiny_batch, tiny_model


def test_hungarian_matching_by_hand():
    # two true sections, three proposals: proposal 2 sits on section 0, proposal 0 on section 1,
    # proposal 1 is between them; the cheapest one-to-one assignment takes 2->0 and 0->1
    targets = torch.tensor([[[0.5, 0.1, 1.0, 0.2], [0.5, 0.6, 1.0, 0.4]]])
    boxes = torch.tensor([[[0.5, 0.62, 1.0, 0.38], [0.5, 0.3, 1.0, 0.3], [0.5, 0.11, 1.0, 0.2]]])
    presence = torch.zeros(1, 3)
    m = hungarian_match(boxes, presence, targets, torch.tensor([[True, True]]))
    assert sorted(zip(m.pred.tolist(), m.target.tolist())) == [(0, 1), (2, 0)]
    cost = match_cost(boxes[0], presence[0], targets[0])
    assert cost.shape == (3, 2) and float(cost[2, 0]) < float(cost[1, 0]) < float(cost[0, 0])
    # a likelier proposal wins a tie in the boxes
    m = hungarian_match(boxes[:, [2, 2]], torch.tensor([[-3.0, 3.0]]), targets[:, :1], torch.tensor([[True]]))
    assert m.pred.tolist() == [1]


def test_matching_skips_pages_without_sections():
    boxes = torch.rand(2, 4, 4)
    mask = torch.tensor([[False] * 3, [True, False, False]])
    m = hungarian_match(boxes, torch.zeros(2, 4), torch.rand(2, 3, 4), mask)
    assert m.batch.tolist() == [1] and len(m.pred) == 1
    empty = hungarian_match(boxes, torch.zeros(2, 4), torch.rand(2, 3, 4), torch.zeros(2, 3, dtype=torch.bool))
    assert isinstance(empty, Match) and len(empty.batch) == 0


def test_factor_losses_by_hand():
    read = Read(type=torch.tensor([[2.0, 0.0, 0.0]]), children=torch.tensor([[[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]]),
                raw=torch.tensor([[0.0, 0.0]]), region=torch.tensor([[0.0, 1.0]]))
    parts = factor_losses(read, torch.tensor([0]), torch.tensor([[1, IGNORE]]), torch.tensor([1]), torch.tensor([1]))
    assert float(parts["type"][0]) == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2)))
    # the ignored position adds nothing
    assert float(parts["children"][0]) == pytest.approx(-math.log(math.e / (math.e + 2)))
    assert float(parts["raw"][0]) == pytest.approx(math.log(2))
    assert float(parts["region_type"][0]) == pytest.approx(-math.log(math.e / (math.e + 1)))


def test_info_nce_is_low_for_paired_rows_and_high_for_swapped_ones():
    a = torch.eye(4)
    assert float(info_nce(a, a)) < 0.01 < float(info_nce(a, a[[1, 0, 3, 2]]))


def test_giou_loss_and_iou_by_hand():
    a = torch.tensor([[0.5, 0.5, 0.5, 0.5]])
    b = torch.tensor([[0.75, 0.5, 0.5, 0.5]])
    assert float(iou_matrix(a, b)[0, 0]) == pytest.approx(1 / 3)
    assert float(giou_loss(a, b)[0]) == pytest.approx(2 / 3)  # the hull is the union: GIoU = IoU


def test_region_jitter_moves_boxes_by_a_share_of_their_size_and_is_seeded():
    boxes = torch.tensor([[0.5, 0.5, 1.0, 0.2]] * 500)
    a = jitter_boxes(boxes, torch.Generator().manual_seed(0))
    assert torch.equal(a, jitter_boxes(boxes, torch.Generator().manual_seed(0)))
    assert 0.005 < float((a[:, 1] - 0.5).std()) < 0.05  # sigma 0.1 of a side of 0.2
    assert float(a.min()) >= 0 and float(a.max()) <= 1


@pytest.mark.parametrize("name", sorted(WEIGHTINGS))
def test_every_weighting_makes_one_scalar_with_gradients_to_every_term(name):
    w = WEIGHTINGS[name]({"element": "structural", "geometric": "geometric", "consistency": "visual"})
    values = (("element", 2.0), ("geometric", 1.0), ("consistency", 0.5))
    parts = {k: torch.tensor(v, requires_grad=True) for k, v in values}
    out = w(parts)
    out["loss"].backward()
    assert out["loss"].dim() == 0 and all(p.grad is not None and float(p.grad) > 0 for p in parts.values())
    if name == "sum":
        assert float(out["loss"].detach()) == pytest.approx(3.5)


def test_uncertainty_weighting_is_kendalls_formula():
    w = WEIGHTINGS["uncertainty"]({"element": "structural"})
    with torch.no_grad():
        w.log_vars[0] = math.log(2.0)
    assert float(w({"element": torch.tensor(4.0)})["loss"]) == pytest.approx(0.5 * 4.0 / 2.0 + 0.5 * math.log(2.0))


def test_dynamic_weight_average_raises_the_weight_of_a_term_that_stopped_falling():
    dwa = DynamicWeightAverage(["a", "b"])
    assert dwa.weights(["a", "b"]) == {"a": 1.0, "b": 1.0}
    dwa.record({"a": torch.tensor(1.0), "b": torch.tensor(1.0)})
    dwa.record({"a": torch.tensor(0.5), "b": torch.tensor(1.0)})
    w = dwa.weights(["a", "b"])
    assert w["b"] > 1.0 > w["a"] and sum(w.values()) == pytest.approx(2.0)


def test_every_registered_loss_has_a_weight_setting_and_the_objective_returns_every_named_scalar():
    assert set(LOSSES) <= {f for f in vars(LossConfig())}
    cfg = TrainConfig(loss=LossConfig(consistency=1.0, layout=0.1, diversity=0.01))
    model = tiny_model(cfg)
    obj = Objective(cfg, model)
    out = obj(tiny_batch(model), torch.Generator().manual_seed(0))
    assert set(obj.active) == set(LOSSES)
    for name in LOSSES:
        assert name in out and torch.isfinite(out[name])
    assert {"element.type", "element.children", "element.align", "geometric.giou", "layout.overlap"} <= set(out)
    out["loss"].backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith("denoiser.edge_heads.0"))


def test_a_zero_weight_removes_exactly_that_loss():
    cfg = TrainConfig(loss=LossConfig(region=0.0))
    model = tiny_model(cfg)
    out = Objective(cfg, model)(tiny_batch(model), torch.Generator().manual_seed(0))
    assert "region" not in out and "element" in out


def test_the_region_loss_reaches_the_reader_and_not_the_denoiser():
    cfg = TrainConfig(loss=LossConfig(element=0, presence=0, geometric=0, region=1.0))
    model = tiny_model(cfg)
    Objective(cfg, model)(tiny_batch(model), torch.Generator().manual_seed(0))["loss"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.reader.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.denoiser.parameters())


def test_presence_is_calibrated_binary_cross_entropy():
    from train.losses.presence import presence_loss

    class Ctx:  # the few fields presence_loss reads
        out = type("O", (), {"presence": torch.zeros(1, 4)})()
        match = Match(torch.tensor([0]), torch.tensor([2]), torch.tensor([0]))

    assert float(presence_loss(Ctx)["loss"]) == pytest.approx(F.binary_cross_entropy_with_logits(
        torch.zeros(4), torch.tensor([0.0, 0.0, 1.0, 0.0])).item())


def test_edge_targets_are_the_true_boxes_outlines_on_the_page():
    from train.losses.edges import edge_targets

    boxes = torch.tensor([[[0.5, 0.25, 1.0, 0.5], [0.5, 0.75, 1.0, 0.5]]])
    target, valid = edge_targets(boxes, torch.tensor([[True, True]]), torch.tensor([[32, 40]]), 4, (12, 8))
    rows = target[0].sum(1).tolist()
    assert rows[0] == 8 and rows[4] == 8 and rows[5] == 8 and rows[9] == 8  # top and bottom edges of both bands
    assert rows[1:4] == [2.0, 2.0, 2.0] and rows[10:] == [0.0, 0.0]  # the side edges; nothing below the page
    assert valid[0, :10].all() and not valid[0, 10:].any()
    none, _ = edge_targets(boxes, torch.tensor([[False, False]]), torch.tensor([[32, 40]]), 4, (12, 8))
    assert float(none.sum()) == 0

"""Every loss against a hand computation on tiny tensors, and its gradient's reach."""
from __future__ import annotations

import math

import pytest
import torch

from train.diffusion import training_losses
from train.losses import (DynamicWeightAverage, ElementCombinationLoss, GeometricLoss,
                          ModalityAwareLossWeighting, MultiScaleConsistencyLoss, MultiTaskLoss,
                          VarianceAwareLossScheduler, diversity_loss, region_loss, rescale_images)
from train.model import build_model


def _log_softmax(z):
    m = math.log(sum(math.exp(v) for v in z))
    return [v - m for v in z]


def _ce_smooth(z, y, eps):
    lp = _log_softmax(z)
    return (1 - eps) * -lp[y] + eps * sum(-v for v in lp) / len(z)


def _bce(o, y):
    s = 1 / (1 + math.exp(-o))
    return -(y * math.log(s) + (1 - y) * math.log(1 - s))


LOGITS = [[2.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 3.0], [1.0, 0.0, 2.0, 0.0]]
TOKENS = [3, 3, 0]  # two sections (id 3), then an empty slot


def _presence(z):  # logsumexp over ids >= 2 (not PAD, not MASK) minus the PAD logit
    return math.log(sum(math.exp(v) for v in z[2:])) - z[0]


def test_element_combination_token_and_presence_by_hand():
    loss = ElementCombinationLoss(label_smoothing=0.1, presence_weight=0.5, align_weight=0.0)
    out = loss(torch.tensor([LOGITS]), torch.tensor([TOKENS]))
    token = (_ce_smooth(LOGITS[0], 3, 0.1) + _ce_smooth(LOGITS[1], 3, 0.1)) / 2  # PAD ignored
    presence = sum(_bce(_presence(z), y) for z, y in zip(LOGITS, [1, 1, 0])) / 3
    assert out["token"].item() == pytest.approx(token, rel=1e-5)
    assert out["presence"].item() == pytest.approx(presence, rel=1e-5)
    assert out["loss"].item() == pytest.approx(token + 0.5 * presence, rel=1e-5)
    assert out["per_sample"].item() == pytest.approx(token + 0.5 * presence, rel=1e-5)
    # only the slots the diffusion masked count
    only_second = torch.tensor([[False, True, False]])
    masked = loss(torch.tensor([LOGITS]), torch.tensor([TOKENS]), loss_mask=only_second)
    assert masked["token"].item() == pytest.approx(_ce_smooth(LOGITS[1], 3, 0.1), rel=1e-5)
    assert masked["presence"].item() == pytest.approx(_bce(_presence(LOGITS[1]), 1), rel=1e-5)


def test_element_combination_infonce_by_hand():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    loss = ElementCombinationLoss(label_smoothing=0.0, temperature=1.0, align_weight=1.0)
    out = loss(torch.zeros(2, 1, 4), torch.zeros(2, 1, dtype=torch.long), image_emb=a, struct_emb=b)
    c = 1 / math.sqrt(2)  # cos(a_i, b_j): [[1, c], [0, c]]
    rows = [-math.log(math.e / (math.e + math.exp(c))), -math.log(math.exp(c) / (1 + math.exp(c)))]
    cols = [-math.log(math.e / (math.e + 1)), math.log(2)]
    assert out["align"].item() == pytest.approx((sum(rows) + sum(cols)) / 4, rel=1e-5)
    assert out["align_per_sample"].tolist() == pytest.approx(
        [(rows[0] + cols[0]) / 2, (rows[1] + cols[1]) / 2], rel=1e-5)


def test_geometric_l1_giou_pad_by_hand():
    pred = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.2, 0.2], [0.3, 0.3, 0.1, 0.1],
                          [0.1, 0.2, 0.0, 0.0]]], requires_grad=True)
    target = torch.tensor([[[0.5, 0.5, 0.4, 0.4], [0.7, 0.7, 0.2, 0.2], [0.0, 0.0, 0.0, 0.0],
                            [0.0, 0.0, 0.0, 0.0]]])
    box_mask = torch.tensor([[True, True, False, False]])
    pad_mask = torch.tensor([[False, False, False, True]])
    out = GeometricLoss(l1_weight=2.0, giou_weight=1.0, pad_weight=0.1)(pred, target, box_mask, pad_mask)
    # slot 0: same centre, IoU 0.04/0.16, enclosing box = target -> GIoU = IoU
    # slot 1: disjoint 0.2-squares, enclosing 0.7 x 0.7: GIoU = 0 - (0.49 - 0.08) / 0.49
    giou = ((1 - 0.25) + (1 + 0.41 / 0.49)) / 2
    l1 = (0.4 / 4 + 1.0 / 4) / 2
    pad = (0.1 + 0.2) / 4
    assert out["l1"].item() == pytest.approx(l1, rel=1e-5)
    assert out["giou"].item() == pytest.approx(giou, rel=1e-5)
    assert out["pad"].item() == pytest.approx(pad, rel=1e-5)
    assert out["loss"].item() == pytest.approx(2 * l1 + giou + 0.1 * pad, rel=1e-5)
    out["loss"].backward()
    assert pred.grad[0, :2].abs().sum() > 0 and pred.grad[0, 3].abs().sum() > 0
    assert torch.all(pred.grad[0, 2] == 0)  # unlocated: no box supervision


def test_variance_aware_scheduler_by_hand():
    s = VarianceAwareLossScheduler(4, decay=0.5, warmup=1, uniform_prob=0.0, shift=0.5)
    assert not s.ready and torch.allclose(s.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    s.update(torch.tensor([1, 2, 3, 4]), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    s.update(torch.tensor([1, 1]), torch.tensor([3.0, 1.0]))  # m_1 = 0.5 * 1 + 0.5 * (9 + 1) / 2
    assert s.second_moment.tolist() == pytest.approx([3.0, 4.0, 9.0, 16.0])
    root = [math.sqrt(3), 2, 3, 4]
    p = [r / sum(root) for r in root]
    assert s.probabilities().tolist() == pytest.approx(p)
    t, w = s.sample(20000, torch.Generator().manual_seed(0))
    assert t.min() >= 1 and t.max() <= 4
    freq = torch.bincount(t - 1, minlength=4).double() / len(t)
    assert freq.tolist() == pytest.approx(p, abs=0.015)
    assert w[t == 4][0].item() == pytest.approx(1 / (4 * p[3]), rel=1e-5)
    alpha, beta = s.mix(torch.tensor([4, 2, 0]))
    assert alpha.tolist() == pytest.approx([1.5, 1.0, 0.5])
    assert beta.tolist() == pytest.approx([0.5, 1.0, 1.5])
    s2 = VarianceAwareLossScheduler(4, decay=0.5, warmup=1, uniform_prob=0.0)
    s2.load_state_dict(s.state_dict())  # the estimate checkpoints with the run
    assert torch.equal(s2.probabilities(), s.probabilities())


def test_modality_aware_by_hand_and_gradient():
    w = ModalityAwareLossWeighting()
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([math.log(2.0), 0.0, -1.0]))
    losses = {"visual": torch.tensor(2.0), "structural": torch.tensor(4.0), "geometric": torch.tensor(1.0)}
    out = w(losses)
    expected = (0.5 * 0.5 * 2 + 0.5 * math.log(2)) + 0.5 * 4 + (0.5 * math.e - 0.5)
    assert out["loss"].item() == pytest.approx(expected, rel=1e-5)
    out["loss"].backward()
    # d/ds (0.5 e^-s L + 0.5 s) = 0.5 - 0.5 e^-s L
    assert w.log_vars.grad.tolist() == pytest.approx([0.0, -1.5, 0.5 - 0.5 * math.e], abs=1e-6)
    w.zero_grad()
    w({"structural": torch.tensor(4.0)})["loss"].backward()
    assert w.log_vars.grad.tolist() == pytest.approx([0.0, -1.5, 0.0], abs=1e-6)
    with pytest.raises(KeyError):
        w({"audio": torch.tensor(1.0)})


def test_multiscale_consistency_by_hand():
    la = torch.tensor([[[0.0, math.log(3.0)]]], requires_grad=True)  # p = (1/4, 3/4)
    lb = torch.tensor([[[0.0, 0.0]]], requires_grad=True)  # p = (1/2, 1/2)
    ba = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]], requires_grad=True)
    bb = torch.tensor([[[0.5, 0.6, 0.2, 0.4]]])
    out = MultiScaleConsistencyLoss(box_weight=2.0)(la, ba, lb, bb)
    kl_ab = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    kl_ba = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert out["kl"].item() == pytest.approx(0.5 * (kl_ab + kl_ba), rel=1e-5)
    assert out["l1"].item() == pytest.approx(0.3 / 4, rel=1e-5)
    assert out["loss"].item() == pytest.approx(0.5 * (kl_ab + kl_ba) + 0.15, rel=1e-5)
    out["loss"].backward()
    assert la.grad.abs().sum() > 0 and lb.grad.abs().sum() > 0 and ba.grad.abs().sum() > 0
    img = torch.full((1, 3, 16, 16), 0.7)
    assert torch.allclose(rescale_images(img, 0.5), img, atol=1e-6)


def test_dynamic_weight_average_by_hand():
    dwa = DynamicWeightAverage(["token", "box"], temperature=2.0)
    assert dwa.weights(["token", "box"]) == {"token": 1.0, "box": 1.0}
    dwa.record({"token": torch.tensor(2.0), "box": torch.tensor(1.0)})
    assert dwa.weights(["token", "box"]) == {"token": 1.0, "box": 1.0}
    dwa.record({"token": torch.tensor(1.0), "box": torch.tensor(1.0)})
    r = [0.5 / 2, 1.0 / 2]  # (L(s-1) / L(s-2)) / T
    z = sum(math.exp(v) for v in r)
    w = dwa.weights(["token", "box"])
    assert [w["token"], w["box"]] == pytest.approx([2 * math.exp(r[0]) / z, 2 * math.exp(r[1]) / z])


def test_diversity_by_hand():
    # ids 0..2 are PAD/MASK/UNK, ids 3.. the known section tokens: 3 of them
    logits = torch.tensor([[[9.0, 9.0, 9.0, 0.0, 0.0, 0.0], [9.0, 9.0, 9.0, math.log(4.0), 0.0, 0.0],
                            [0.0, 0.0, 0.0, 50.0, 0.0, 0.0]]])
    mask = torch.tensor([[True, True, False]])
    mean = [0.5, 0.25, 0.25]  # average of (1/3, 1/3, 1/3) and (2/3, 1/6, 1/6)
    h = -sum(p * math.log(p) for p in mean)
    assert diversity_loss(logits, mask).item() == pytest.approx((3 - math.exp(h)) / 3, rel=1e-5)


def test_multitask_by_hand():
    mt = MultiTaskLoss(alignment_weight=1.0, overlap_weight=0.5, diversity_weight=0.0)
    terms = {"token": torch.tensor(2.0), "box": torch.tensor(1.0), "align": torch.tensor(0.5)}
    boxes = torch.tensor([[[0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.25, 0.25]]])  # second inside first
    mask = torch.tensor([[True, True]])
    out = mt(terms, boxes=boxes, slot_mask=mask)
    # step 1: DWA weights 1, sigmas 1: 0.5 * sum; overlap (0.0625/0.25 + 1) / 2; aligned centres
    assert out["overlap"].item() == pytest.approx(0.625)
    assert out["alignment"].item() == pytest.approx(0.0)
    assert out["loss"].item() == pytest.approx(0.5 * 3.5 + 0.5 * 0.625, rel=1e-5)
    mt({"token": torch.tensor(1.0), "box": torch.tensor(1.0), "align": torch.tensor(0.5)})
    out = mt(terms)  # DWA now: r = (1/2, 1/1, 0.5/0.5) / T=2
    z = [math.exp(0.25), math.exp(0.5), math.exp(0.5)]
    w = [3 * v / sum(z) for v in z]
    assert out["dwa.token"].item() == pytest.approx(w[0], rel=1e-5)
    assert out["loss"].item() == pytest.approx(0.5 * (2 * w[0] + 1 * w[1] + 0.5 * w[2]), rel=1e-5)
    mt.eval()  # no recording outside training
    before = mt.dwa.history.clone()
    mt(terms)
    assert torch.allclose(before, mt.dwa.history, equal_nan=True)


def test_multitask_gradient_reaches_sigmas_boxes_and_logits():
    mt = MultiTaskLoss(diversity_weight=1.0)
    boxes = torch.tensor([[[0.3, 0.3, 0.4, 0.4], [0.5, 0.5, 0.4, 0.4]]], requires_grad=True)
    logits = torch.randn(1, 2, 6, requires_grad=True)
    token = torch.tensor(2.0, requires_grad=True)
    out = mt({"token": token, "box": torch.tensor(3.0)}, boxes=boxes,
             slot_mask=torch.tensor([[True, True]]), logits=logits)
    out["loss"].backward()
    assert mt.uncertainty.log_vars.grad[1:].abs().min() > 0  # structural, geometric
    assert token.grad.item() > 0 and boxes.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0


# -- gradients through the model --------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model("micro", 10, image_size=32, patch_size=8, max_slots=4, d_model=32,
                        encoder_layers=1, denoiser_layers=1, proj_dim=16, dropout=0.0,
                        stem_channels=8)
    g = torch.Generator().manual_seed(1)
    batch = {"image": torch.randn(3, 3, 32, 32, generator=g),
             "tokens": torch.tensor([[3, 4, 0, 0], [5, 0, 0, 0], [3, 3, 6, 0]]),
             "boxes": torch.rand(3, 4, 4, generator=g) * 0.5 + 0.1,
             "box_mask": torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0]]).bool()}
    return model, batch


def _grads(model, loss):
    model.zero_grad()
    loss.backward(retain_graph=True)
    return {n: (p.grad is not None and p.grad.abs().sum().item() > 0) for n, p in model.named_parameters()}


def test_each_training_term_reaches_the_parameters_it_should(tiny):
    model, batch = tiny
    r = training_losses(model, batch, torch.Generator().manual_seed(0), cond_drop_prob=0.0)
    token = _grads(model, r["token"])
    assert token["token_head.weight"] and token["encoder.stem.0.weight"]
    assert token["blocks.0.cross_attn.in_proj_weight"]
    assert not token["box_head.weight"] and not token["image_proj.weight"]
    box = _grads(model, r["box_l1"] + r["box_giou"])
    assert box["box_head.weight"] and box["box_in.weight"] and box["encoder.stem.0.weight"]
    assert not box["token_head.weight"]
    align = _grads(model, r["align"])
    assert align["image_proj.weight"] and align["struct_proj.0.weight"] and align["token_emb.weight"]
    assert align["encoder.stem.0.weight"] and not align["token_head.weight"]
    presence = _grads(model, r["presence"])
    assert presence["token_head.weight"]
    region = _grads(model, r["region"])  # the reader alone, at the true boxes
    assert region["regions.cnn.0.weight"] and region["regions.head.2.weight"]
    assert not region["token_head.weight"] and not region["box_head.weight"]
    assert not region["encoder.stem.0.weight"]
    assert token["regions.cnn.0.weight"]  # the main path reads regions at the predicted boxes


def test_region_loss_by_hand():
    logits = torch.tensor([LOGITS, LOGITS])
    tokens = torch.tensor([TOKENS, [2, 3, 0]])
    mask = torch.tensor([[True, False, False], [True, True, False]])
    want = (_ce_smooth(LOGITS[0], 3, 0.1) + _ce_smooth(LOGITS[0], 2, 0.1) + _ce_smooth(LOGITS[1], 3, 0.1)) / 3
    assert region_loss(logits, tokens, mask, label_smoothing=0.1).item() == pytest.approx(want, rel=1e-5)
    assert region_loss(logits, tokens, torch.zeros_like(mask)).item() == 0.0


def test_region_term_skips_dropped_conditions_and_can_be_switched_off(tiny):
    model, batch = tiny
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    kept = training_losses(model, batch, g(), cond_drop_prob=0.0)
    dropped = training_losses(model, batch, g(), cond_drop_prob=1.0)
    assert kept["region"].item() > 0 and dropped["region"].item() == 0.0
    off = training_losses(model, batch, g(), cond_drop_prob=0.0, region_weight=0.0)
    assert "region" not in off
    assert off["loss"].item() == pytest.approx(kept["loss"].item() - kept["region"].item(), rel=1e-5)


def test_consistency_and_weightings_reach_their_parameters(tiny):
    model, batch = tiny
    modality = ModalityAwareLossWeighting()
    r = training_losses(model, batch, torch.Generator().manual_seed(0), weighting=modality,
                        consistency=MultiScaleConsistencyLoss())
    assert _grads(model, r["consistency"])["encoder.stem.0.weight"]
    modality.zero_grad()
    r["loss"].backward()
    assert modality.log_vars.grad.abs().min() > 0
    mt = MultiTaskLoss()
    r = training_losses(model, batch, torch.Generator().manual_seed(0), weighting=mt)
    model.zero_grad()
    r["loss"].backward()
    assert mt.uncertainty.log_vars.grad.abs().min() > 0 and model.token_head.weight.grad.abs().sum() > 0

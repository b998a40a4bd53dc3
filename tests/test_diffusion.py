"""Schedules, corruption, timestep samplers, the training forward and the seeded sampler."""
from __future__ import annotations

import math

import pytest
import torch

from train.diffusion import (DiffusionSchedule, UniformTimestepSampler, corrupt, training_losses)
from train.losses import VarianceAwareLossScheduler
from train.model import build_model
from train.sampling import cfg_mix, sample, timesteps
from train.vocab import MASK, PAD


def test_mask_schedules():
    t = torch.tensor([0, 25, 50, 100])
    assert DiffusionSchedule(100, "linear").mask_rate(t).tolist() == pytest.approx([0, 0.25, 0.5, 1])
    cos = DiffusionSchedule(100, "cosine").mask_rate(t).tolist()
    assert cos == pytest.approx([0, math.sin(math.pi / 8), math.sqrt(0.5), 1], abs=1e-6)
    with pytest.raises(ValueError):
        DiffusionSchedule(100, "zigzag").mask_rate(t)


def test_cosine_alpha_bar_by_hand():
    ab = DiffusionSchedule(10).alpha_bar_table()
    f = lambda t: math.cos((t / 10 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    assert ab[0] == 1 and ab[5].item() == pytest.approx(f(5) / f(0), rel=1e-9)
    assert torch.all(ab[1:] < ab[:-1]) and ab[-1] < 1e-3


def test_corrupt_by_hand():
    sched = DiffusionSchedule(100, "linear")
    tokens = torch.tensor([[3, 4, PAD, PAD]]).repeat(2, 1)
    boxes = torch.full((2, 4, 4), 0.25)
    c = corrupt(tokens, boxes, torch.tensor([100, 1]), sched, torch.Generator().manual_seed(0))
    assert torch.all(c.tokens[0] == MASK) and c.masked[0].all()  # t = T: everything absorbed
    assert torch.equal(c.tokens[c.masked], torch.full_like(c.tokens[c.masked], MASK))
    assert torch.equal(c.tokens[~c.masked], tokens[~c.masked])
    ab = sched.alpha_bar(torch.tensor([100, 1]))[:, None, None]
    assert torch.allclose(c.boxes, ab.sqrt() * (2 * 0.25 - 1) + (1 - ab).sqrt() * c.noise)
    again = corrupt(tokens, boxes, torch.tensor([100, 1]), sched, torch.Generator().manual_seed(0))
    assert torch.equal(again.tokens, c.tokens) and torch.equal(again.boxes, c.boxes)


def test_mask_fraction_follows_the_schedule():
    sched = DiffusionSchedule(100, "cosine")
    tokens = torch.full((4000, 16), 5)
    c = corrupt(tokens, torch.zeros(4000, 16, 4), torch.full((4000,), 30), sched,
                torch.Generator().manual_seed(0))
    assert c.masked.float().mean().item() == pytest.approx(math.sin(0.3 * math.pi / 2), abs=0.01)


def test_uniform_sampler():
    t, w = UniformTimestepSampler(7).sample(1000, torch.Generator().manual_seed(0))
    assert t.min() == 1 and t.max() == 7 and torch.all(w == 1)


def test_timesteps():
    assert timesteps(100, 4) == [100, 75, 50, 25, 0]
    assert timesteps(3, 10) == [3, 2, 1, 0]


def test_cfg_mix():
    c, u = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
    assert torch.equal(cfg_mix(c, u, 1.0), c)
    assert cfg_mix(c, u, 7.5).tolist() == pytest.approx([0.5 + 7.5 * 0.5, 1.0 - 7.5 * 3.0])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("micro", 12, image_size=32, patch_size=8, max_slots=6, d_model=32,
                       encoder_layers=1, denoiser_layers=2, proj_dim=16, stem_channels=8,
                       dropout=0.1)


def _batch():
    g = torch.Generator().manual_seed(3)
    tokens = torch.tensor([[3, 4, 5, 0, 0, 0], [6, 0, 0, 0, 0, 0]])
    return {"image": torch.randn(2, 3, 32, 32, generator=g), "tokens": tokens,
            "boxes": torch.rand(2, 6, 4, generator=g) * 0.5 + 0.1, "box_mask": tokens != PAD}


def test_training_losses_are_finite_seeded_and_feed_the_sampler(model):
    sampler = VarianceAwareLossScheduler(model.cfg.num_timesteps, warmup=1)
    torch.manual_seed(123)  # global RNG must not matter...
    model.eval()  # ...dropout off, so both runs are the same computation
    r1 = training_losses(model, _batch(), torch.Generator().manual_seed(5), sampler=sampler)
    torch.manual_seed(456)
    r2 = training_losses(model, _batch(), torch.Generator().manual_seed(5), sampler=sampler)
    model.train()
    assert torch.equal(r1["loss"], r2["loss"]) and torch.equal(r1["t"], r2["t"])
    for k in ("loss", "structural", "geometric", "align", "token", "presence", "box_l1", "box_giou"):
        assert torch.isfinite(r1[k]), k
    assert r1["per_sample"].shape == (2,) and not r1["per_sample"].requires_grad
    sampler.update(r1["t"], r1["per_sample"])
    assert sampler.counts.sum() == 2


def test_sampling_is_reproducible_for_a_seed(model):
    images = _batch()["image"]
    a = sample(model, images, steps=5, guidance_scale=3.0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(99)
    b = sample(model, images, steps=5, guidance_scale=3.0, generator=7)
    c = sample(model, images, steps=5, guidance_scale=3.0, generator=8)
    assert torch.equal(a["tokens"], b["tokens"]) and torch.equal(a["boxes"], b["boxes"])
    assert not torch.equal(a["boxes"], c["boxes"])
    assert a["tokens"].shape == (2, 6) and a["boxes"].shape == (2, 6, 4)
    assert not (a["tokens"] == MASK).any()  # fully unmasked after the last step
    assert torch.all(a["boxes"][~a["slot_mask"]] == 0)
    assert torch.all((a["boxes"] >= 0) & (a["boxes"] <= 1))
    assert model.training  # mode restored


def test_guidance_scale_one_is_the_conditional_model(model):
    images = _batch()["image"]
    one = sample(model, images, steps=4, guidance_scale=1.0, generator=1, eta=0.5)
    # the mixing path, infinitesimally away from 1, agrees with the conditional-only path
    near = sample(model, images, steps=4, guidance_scale=1.0 + 1e-6, generator=1, eta=0.5)
    assert torch.equal(one["tokens"], near["tokens"])
    assert torch.allclose(one["boxes"], near["boxes"], atol=1e-4)
    # and the unconditional branch (null embedding) has no influence at scale 1 ...
    with torch.no_grad():
        saved = model.null_cond.clone()
        model.null_cond.add_(5.0)
    try:
        moved = sample(model, images, steps=4, guidance_scale=1.0, generator=1, eta=0.5)
        guided = sample(model, images, steps=4, guidance_scale=7.5, generator=1, eta=0.5)
    finally:
        with torch.no_grad():
            model.null_cond.copy_(saved)
    guided_before = sample(model, images, steps=4, guidance_scale=7.5, generator=1, eta=0.5)
    assert torch.equal(one["boxes"], moved["boxes"]) and torch.equal(one["tokens"], moved["tokens"])
    assert not torch.equal(guided["boxes"], guided_before["boxes"])  # ... but does at 7.5


def test_box_conditioned_sampling_holds_the_given_sections_and_boxes(model):
    batch = _batch()
    batch["box_mask"][0, 2] = False  # a section whose box is unknown: the model places it
    given = {"slot_mask": batch["tokens"] != PAD, "boxes": batch["boxes"], "box_mask": batch["box_mask"]}
    a = sample(model, batch["image"], steps=5, guidance_scale=3.0, generator=2, given=given)
    b = sample(model, batch["image"], steps=5, guidance_scale=3.0, generator=2, given=given)
    assert torch.equal(a["tokens"], b["tokens"])
    assert torch.equal(a["slot_mask"], given["slot_mask"])  # the count is the given one
    assert not (a["tokens"][given["slot_mask"]] == PAD).any() and not (a["tokens"] == MASK).any()
    held = given["slot_mask"] & given["box_mask"]
    assert torch.allclose(a["boxes"][held], batch["boxes"][held])
    assert not torch.allclose(a["boxes"][0, 2], batch["boxes"][0, 2])


def test_sections_are_read_again_at_their_final_boxes(model):
    batch = _batch()
    given = {"slot_mask": batch["tokens"] != PAD, "boxes": batch["boxes"], "box_mask": batch["tokens"] != PAD}
    out = sample(model, batch["image"], steps=4, guidance_scale=1.0, generator=3, temperature=0.0, given=given)
    model.eval()
    with torch.no_grad():
        logits = model.read_regions(batch["image"], batch["boxes"])
    model.train()
    logits[..., PAD] = logits[..., MASK] = float("-inf")
    real = given["slot_mask"]
    assert torch.equal(out["tokens"][real], logits.argmax(-1)[real])
    assert (out["tokens"][~real] == PAD).all()

"""The box diffusion: schedule, targets padded with placeholders, corruption, timestep samplers, sampling."""
from __future__ import annotations

import pytest
import torch

from model_helpers import tiny_batch, tiny_model
from train.config import SamplingConfig
from train.diffusion.process import NoiseSchedule, corrupt, pad_targets
from train.diffusion.sampling import INITS, cfg_mix, page_generators, sample, timesteps
from train.diffusion.timesteps import TIMESTEP_SAMPLERS, VarianceAwareTimestepSampler


def test_the_cosine_schedule_goes_from_clean_to_noise():
    s = NoiseSchedule(100, scale=2.0)
    ab = s.alpha_bar_table()
    assert ab[0] == 1 and bool((ab[1:] < ab[:-1]).all()) and float(ab[-1]) < 1e-3
    boxes = torch.tensor([[0.25, 0.5, 1.0, 0.0]])
    assert torch.allclose(s.to_boxes(s.to_signal(boxes)), boxes)
    assert s.to_boxes(torch.tensor([[9.0, -9.0, 0.0, 0.0]])).tolist() == [[1.0, 0.0, 0.5, 0.5]]  # clamped


def test_targets_are_padded_with_placeholders_in_a_seeded_random_order():
    true = torch.tensor([[[0.5, 0.1, 1.0, 0.2], [0.5, 0.6, 1.0, 0.4]]])
    mask = torch.tensor([[True, True]])
    a = pad_targets(true, mask, 6, torch.Generator().manual_seed(0))
    assert a.shape == (1, 6, 4) and torch.equal(a, pad_targets(true, mask, 6, torch.Generator().manual_seed(0)))
    found = [i for i in range(6) for j in range(2) if torch.equal(a[0, i], true[0, j])]
    assert len(found) == 2  # both true boxes are there, once each
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    many = torch.rand(1, 9, 4)
    assert pad_targets(many, torch.ones(1, 9, dtype=torch.bool), 4, torch.Generator()).shape == (1, 4, 4)


def test_corruption_keeps_boxes_at_small_t_and_destroys_them_at_large_t():
    s = NoiseSchedule(100)
    x0 = torch.tensor([[[0.5, 0.3, 0.8, 0.2]]]).repeat(1, 200, 1)
    early = corrupt(x0, torch.tensor([1]), s, torch.Generator().manual_seed(0))
    late = corrupt(x0, torch.tensor([100]), s, torch.Generator().manual_seed(0))
    assert float((early - x0).abs().mean()) < 0.02 < float((late - x0).abs().mean())


def test_timestep_samplers_are_registered_and_seeded():
    assert set(TIMESTEP_SAMPLERS) == {"uniform", "variance_aware"}
    for cls in TIMESTEP_SAMPLERS.values():
        s = cls(50)
        t, w = s.sample(64, torch.Generator().manual_seed(3))
        assert int(t.min()) >= 1 and int(t.max()) <= 50 and w.shape == (64,)
        assert torch.equal(t, s.sample(64, torch.Generator().manual_seed(3))[0])


def test_variance_aware_sampling_visits_noisy_timesteps_more_with_a_smaller_weight():
    s = VarianceAwareTimestepSampler(10, warmup=1, uniform_prob=0.0)
    t = torch.arange(1, 11)
    s.update(t, torch.where(t == 10, torch.tensor(10.0), torch.tensor(1.0)))
    assert s.ready
    p = s.probabilities()
    assert float(p[9]) > float(p[0])
    _, w = s.sample(2000, torch.Generator().manual_seed(0))
    assert float(w.min()) < 1.0 < float(w.max())
    alpha, beta = s.mix(torch.tensor([1, 10]))
    assert float(alpha[1]) > float(alpha[0]) and torch.allclose(alpha + beta, torch.full((2,), 2.0))


def test_sampling_steps_guidance_mix():
    assert timesteps(100, 4) == [100, 75, 50, 25, 0]
    assert timesteps(10, 50)[0] == 10 and timesteps(10, 50)[-1] == 0
    assert torch.equal(cfg_mix(torch.tensor(2.0), torch.tensor(1.0), 3.0), torch.tensor(4.0))


@pytest.mark.parametrize("init", INITS)
def test_sampling_is_seeded_per_page_and_independent_of_the_batch(init):
    model = tiny_model().eval()
    batch = tiny_batch(model, n=3)
    settings = SamplingConfig(steps=3, threshold=0.3, init=init)
    all3 = sample(model, batch["image"], batch["extent"], settings, page_generators([10, 11, 12]))
    again = sample(model, batch["image"], batch["extent"], settings, page_generators([10, 11, 12]))
    first = sample(model, batch["image"][:1], batch["extent"][:1], settings, page_generators([10]))
    assert [len(p) for p in all3] == [len(p) for p in again]
    assert torch.equal(all3[0].boxes, again[0].boxes) and torch.allclose(all3[0].boxes, first[0].boxes, atol=1e-5)
    for page in all3:  # sections come top to bottom, with a type, children and raw token each
        tops = (page.boxes[:, 1] - page.boxes[:, 3] / 2).tolist()
        assert tops == sorted(tops)
        assert len(page.types) == len(page.children) == len(page.raw) == len(page.scores) == len(page)
        assert bool((page.scores > 0.3).all())


def test_guided_sampling_runs_the_null_condition_too():
    model = tiny_model().eval()
    with torch.no_grad():  # an untrained model leaves boxes where they are: give its heads some say
        for head in model.denoiser.edge_heads:
            head[-1].weight.normal_(0, 0.5)
    batch = tiny_batch(model, n=2)
    plain = sample(model, batch["image"], batch["extent"], SamplingConfig(steps=2, threshold=0.01, init="noise"),
                   page_generators([1, 2]))
    guided = sample(model, batch["image"], batch["extent"], SamplingConfig(steps=2, threshold=0.01, guidance_scale=3.0,
                                                                      init="noise"),
                    page_generators([1, 2]))
    assert any(len(a) != len(b) or not torch.equal(a.boxes, b.boxes) for a, b in zip(plain, guided))

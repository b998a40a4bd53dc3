"""The set model: shapes, padding invariance, guidance nulls, TDC routing, encoders, presets."""
from __future__ import annotations

import pytest
import torch

from model_helpers import TINY_MODEL, tiny_batch, tiny_factors, tiny_model
from train.config import TrainConfig
from train.data.inputs import collate
from train.diffusion.process import NoiseSchedule
from train.model import PRESETS, count_parameters, model_config, model_config_errors
from train.model.denoiser import RoutedDenoiser, apply_deltas, side_windows, snr_groups
from train.objective import build_model


def test_denoise_and_read_shapes():
    model = tiny_model().eval()
    batch = tiny_batch(model)
    feats = model.encode(batch["image"], batch["extent"])
    boxes = torch.rand(4, 8, 4)
    out = model.denoise(feats, boxes, torch.tensor([1, 5, 50, 100]))
    assert out.boxes.shape == (4, 8, 4) and out.presence.shape == (4, 8) and out.stages.shape == (1, 4, 8, 4)
    read = model.read(feats, torch.rand(5, 4), torch.tensor([0, 0, 1, 2, 3]))
    f = tiny_factors()
    assert read.type.shape == (5, len(f.types)) and read.children.shape == (5, f.max_children, len(f.roles) + 1)
    assert read.raw.shape == (5, len(f.raw))


def test_a_page_gets_the_same_output_whatever_it_is_batched_with():
    model = tiny_model().eval()
    batch = tiny_batch(model, n=3)
    alone = collate([{k: (v[0] if k != "image" else v[0, :, : int(batch["extent"][0, 1] + 15) // 16 * 16])
                      for k, v in batch.items() if k != "key"}])
    boxes = torch.rand(1, 8, 4)
    t = torch.tensor([30])
    with torch.no_grad():
        together = model.denoise(model.encode(batch["image"], batch["extent"]), boxes.repeat(3, 1, 1), t.repeat(3))
        single = model.denoise(model.encode(alone["image"], alone["extent"]), boxes, t)
    assert torch.allclose(together.boxes[0], single.boxes[0], atol=1e-5)
    assert torch.allclose(together.presence[0], single.presence[0], atol=1e-5)


def test_a_dropped_condition_sees_nothing_of_the_image():
    model = tiny_model().eval()
    a, b = tiny_batch(model, n=2, seed=0), tiny_batch(model, n=2, seed=1)
    boxes = torch.rand(2, 8, 4)
    t, drop = torch.tensor([40, 40]), torch.tensor([True, True])
    with torch.no_grad():
        out_a = model.denoise(model.encode(a["image"], a["extent"]), boxes, t, drop)
        out_b = model.denoise(model.encode(b["image"], b["extent"]), boxes, t, drop)
        read_a = model.read(model.encode(a["image"], a["extent"]), boxes[0], torch.zeros(8, dtype=torch.long), drop)
    assert torch.allclose(out_a.presence, out_b.presence, atol=1e-5)  # same boxes, null condition: same answer
    assert torch.equal(read_a.type, model.reader.null_type.expand_as(read_a.type))


def test_edges_move_in_units_of_their_window_and_stay_a_box():
    boxes = torch.tensor([[0.5, 0.5, 1.0, 0.1]])
    windows, reach = side_windows(boxes)
    assert reach[0].tolist() == pytest.approx([0.5, 0.1, 0.5, 0.1])  # half the side, at least 0.1 of the page
    assert windows["top"][0].tolist() == pytest.approx([0.5, 0.45, 1.0, 0.2])
    moved = apply_deltas(boxes, torch.tensor([[0.0, -1.0, 0.0, 0.5]]), reach)  # top up 0.1, bottom down 0.05
    assert moved[0].tolist() == pytest.approx([0.5, 0.475, 1.0, 0.25])
    crossed = apply_deltas(boxes, torch.tensor([[0.0, 2.0, 0.0, 0.0]]), reach)  # top pushed below the bottom
    assert float(crossed[0, 3]) > 0


def test_tdc_routes_each_sample_to_the_copy_that_owns_its_timestep():
    model = tiny_model().eval()
    groups = snr_groups(NoiseSchedule(100).alpha_bar_table(), 2)
    assert groups[1] == 0 and groups[100] == 1 and set(groups.tolist()) == {0, 1}
    base = model.denoiser
    model.start_tdc(groups)
    assert isinstance(model.denoiser, RoutedDenoiser) and model.tdc
    with torch.no_grad():
        for expert in model.denoiser.experts[1].parameters():  # make the copies differ
            expert.add_(0.05)
    batch = tiny_batch(model, n=2)
    feats = model.encode(batch["image"], batch["extent"])
    boxes, t = torch.rand(2, 8, 4), torch.tensor([2, 99])
    with torch.no_grad():
        routed = model.denoise(feats, boxes, t)
        own = [model.denoiser.experts[int(groups[int(ti)])](feats.select(torch.tensor([i])), boxes[i:i + 1], t[i:i + 1])
               for i, ti in enumerate(t)]
    for i in range(2):
        assert torch.allclose(routed.boxes[i], own[i].boxes[0], atol=1e-6)
    assert base is not model.denoiser


def test_presets_grow_and_their_settings_are_checked():
    counts = [count_parameters(build_model(TrainConfig(preset=name), tiny_factors())) for name in PRESETS]
    assert counts == sorted(counts) and 1_000_000 < counts[0] < 3_000_000
    cfg = model_config("micro", num_types=5, num_roles=4, num_raw=3, dropout=0.2)
    assert cfg.canvas_height == 4 * cfg.canvas_width and cfg.dropout == 0.2
    errors = model_config_errors("micro", {"canvas_width": 100, "dropout": 2, "colour": 1, "encoder": "vgg"})
    assert len(errors) == 4 and any("canvas_width" in e and "multiple of 16" in e for e in errors)
    assert model_config_errors("huge", {}) == [
        "config 'preset' must be one of ['large', 'medium', 'micro', 'small'], found 'huge'"]


@pytest.mark.parametrize("encoder", ["resnet18", "vit_b_16"])
@pytest.mark.slow
def test_backbone_encoders_give_the_same_kind_of_features(encoder):
    model = tiny_model(TrainConfig(model={**TINY_MODEL, "encoder": encoder}))
    batch = tiny_batch(model, n=2)
    feats = model.encode(batch["image"], batch["extent"])
    assert feats.fine.shape[0] == 2 and feats.tokens.shape[-1] == TINY_MODEL["d_model"]
    out = model.denoise(feats, torch.rand(2, 8, 4), torch.tensor([3, 90]))
    assert torch.isfinite(out.boxes).all()

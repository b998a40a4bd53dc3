"""Model construction, presets, layer groups, backbones from local weights, and an overfit run."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from torchvision.models import resnet18, vit_b_16

from train.diffusion import training_losses
from train.inputs import collate, encode_sample
from train.metrics import evaluate_batch
from train.model import (PRESETS, DiffusionSectionTransformer, ModelConfig, build_model,
                         count_parameters, layer_groups, model_config, parameter_summary)
from train.sampling import sample
from train.vocab import PAD, Vocab


def _tiny(**kw):
    base = dict(image_size=32, patch_size=8, max_slots=5, d_model=32, encoder_layers=2,
                denoiser_layers=1, proj_dim=16, stem_channels=8, dropout=0.0)
    return build_model("micro", 10, **{**base, **kw})


def _inputs(model, b=2):
    g = torch.Generator().manual_seed(0)
    s, n = model.cfg.image_size, model.cfg.max_slots
    return (torch.randn(b, 3, s, s, generator=g), torch.randint(0, 10, (b, n), generator=g),
            torch.randn(b, n, 4, generator=g), torch.randint(1, 101, (b,), generator=g))


def test_presets_span_one_to_fifty_million_parameters():
    counts = {p: count_parameters(DiffusionSectionTransformer(model_config(p, 512))) for p in PRESETS}
    assert 0.8e6 <= counts["micro"] <= 1.5e6
    assert 4e6 <= counts["small"] <= 8e6
    assert 15e6 <= counts["medium"] <= 28e6
    assert 40e6 <= counts["large"] <= 60e6
    assert model_config("micro", 512).dropout >= 0.3  # phase 1 regularisation
    with pytest.raises(ValueError):
        model_config("huge", 10)


def test_config_round_trips_and_overrides():
    cfg = model_config("small", 40, dropout=0.5, max_slots=24)
    assert cfg.dropout == 0.5 and cfg.max_slots == 24 and cfg.d_model == PRESETS["small"]["d_model"]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_forward_shapes_and_ranges():
    model = _tiny()
    images, tokens, boxes, t = _inputs(model)
    out = model(images, tokens, boxes, t)
    assert out.logits.shape == (2, 5, 10) and out.boxes.shape == (2, 5, 4)
    assert torch.all((out.boxes > 0) & (out.boxes < 1))
    assert model.image_embedding(out.memory).shape == (2, 16)
    assert model.structure_embedding(tokens, boxes.sigmoid(), tokens != PAD).shape == (2, 16)


def test_dropped_condition_ignores_the_image():
    model = _tiny().eval()
    images, tokens, boxes, t = _inputs(model)
    drop = torch.tensor([True, False])
    a = model(images, tokens, boxes, t, drop)
    b = model(images + torch.randn_like(images), tokens, boxes, t, drop)
    assert torch.allclose(a.logits[0], b.logits[0], atol=1e-6)
    assert not torch.allclose(a.logits[1], b.logits[1], atol=1e-4)


def test_add_time_conditioning_variant():
    model = _tiny(time_conditioning="add")
    assert count_parameters(model) < count_parameters(_tiny())
    images, tokens, boxes, t = _inputs(model)
    assert model(images, tokens, boxes, t).logits.shape == (2, 5, 10)


def test_layer_groups_partition_the_parameters_and_freeze():
    model = _tiny()
    groups = layer_groups(model)
    assert list(groups) == ["stem", "encoder.0", "encoder.1", "neck", "denoiser", "heads"]
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    for p in groups["stem"] + groups["encoder.0"]:
        p.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) < count_parameters(model)
    images, tokens, boxes, t = _inputs(model)
    model(images, tokens, boxes, t).logits.sum().backward()
    assert all(p.grad is None for p in groups["stem"])
    assert all(p.grad is not None for p in groups["encoder.1"])
    assert "total" in parameter_summary(model)


def test_resnet18_encoder_loads_local_weights(tmp_path):
    torch.manual_seed(1)
    ref = resnet18(weights=None)
    path = tmp_path / "resnet18.pt"
    torch.save({"state_dict": ref.state_dict()}, path)
    model = _tiny(encoder="resnet18", weights_path=str(path), image_size=64)
    assert torch.equal(model.encoder.stem[0].weight, ref.conv1.weight)
    assert torch.equal(model.encoder.layers[3][1].conv2.weight, ref.layer4[1].conv2.weight)
    groups = layer_groups(model)
    assert list(groups)[:6] == ["stem", "encoder.0", "encoder.1", "encoder.2", "encoder.3", "neck"]
    images, tokens, boxes, t = _inputs(model)
    assert model(images, tokens, boxes, t).memory.shape == (2, 4, 32)  # (64 / 32)^2 tokens


def test_vit_b_16_encoder_loads_weights_saved_at_another_size(tmp_path):
    torch.manual_seed(2)
    ref = vit_b_16(weights=None, image_size=64)  # 16 patches; the model below has 4
    path = tmp_path / "vit.pt"
    torch.save(ref.state_dict(), path)
    model = _tiny(encoder="vit_b_16", weights_path=str(path))
    assert torch.equal(model.encoder.layers[11].mlp[0].weight, ref.encoder.layers[11].mlp[0].weight)
    assert model.encoder.pos_embedding.shape == (1, 1 + 4, 768)
    assert len([g for g in layer_groups(model) if g.startswith("encoder.")]) == 12
    images, tokens, boxes, t = _inputs(model)
    assert model(images, tokens, boxes, t).memory.shape == (2, 5, 32)


# -- overfit ---------------------------------------------------------------------------------

COLORS = [(230, 30, 30), (30, 200, 30), (30, 30, 230), (220, 220, 30), (200, 30, 200), (30, 200, 200)]
NAMES = ["section.hero@h1@p", "nav@a@a", "section.features@h2@ul", "footer@p",
         "section.cta@a.btn", "div.grid@img@img"]


def synthetic_page(rng: np.random.Generator):
    """A page of 2-5 full-width bands, one per section; the band's colour is its token."""
    h, w = int(rng.integers(300, 600)), int(rng.integers(200, 400))
    img = np.full((h, w, 3), 255, np.uint8)
    n = int(rng.integers(2, 6))
    edges = [0, *np.sort(rng.choice(np.arange(20, h - 20), n - 1, replace=False)).tolist(), h]
    sections = []
    for k in range(n):
        c = int(rng.integers(0, len(COLORS)))
        y0, y1 = edges[k], edges[k + 1]
        img[y0 + 2:y1 - 2, 5:w - 5] = COLORS[c]
        sections.append({"token": NAMES[c], "box": [5, y0 + 2, w - 10, y1 - y0 - 4]})
    return img, {"size": [w, h], "sections": sections}


@pytest.fixture
def one_thread():
    """One intra-op thread: the run is then the same float computation on any machine, and
    a busy neighbour cannot stall it at OpenMP barriers (2 spinning threads on 2 shared
    cores can be 50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_micro_model_overfits_a_small_batch(one_thread):
    rng = np.random.default_rng(0)
    pages = [synthetic_page(rng) for _ in range(16)]
    vocab = Vocab.from_counts({n: 5 for n in NAMES})
    batch = collate([encode_sample(img, meta, vocab, 64, 8) for img, meta in pages])
    torch.manual_seed(0)
    # region_size 8 on a 64 px canvas: the crop resolution of the preset's 16 on 128 px
    model = build_model("micro", len(vocab), image_size=64, max_slots=8, dropout=0.0, region_size=8)
    assert 0.8e6 <= count_parameters(model) <= 1.2e6
    total, warmup = 300, 30
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    lr = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * max(0, s - warmup) / (total - warmup))))
    g = torch.Generator().manual_seed(0)
    start, acc, step = time.perf_counter(), 0.0, 0
    for step in range(1, total + 1):
        loss = training_losses(model, batch, g)["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lr.step()
        if step >= 150 and step % 25 == 0:
            pred = sample(model, batch["image"], steps=10, guidance_scale=1.0, generator=0, temperature=0)
            acc = evaluate_batch(pred, batch)["token_accuracy"]
            if acc >= 0.95:
                break
    print(f"overfit: {step} steps, token accuracy {acc:.3f}, {time.perf_counter() - start:.1f} s")
    assert acc >= 0.95


def test_token_logits_read_the_region_and_leave_the_box_head_alone():
    model = _tiny(region_size=8)
    images, tokens, boxes, t = _inputs(model)
    out = model(images, tokens, boxes, t)
    out.logits.sum().backward()
    assert model.regions.cnn[0].weight.grad.abs().sum() > 0
    # boxes reach the reader detached: the token head cannot move the box head
    assert model.box_head.weight.grad is None


def test_denoise_needs_the_images_only_with_a_region_reader():
    images, tokens, boxes, t = _inputs(_tiny())
    model = _tiny(region_size=8)
    memory = model.encode_image(images)
    with pytest.raises(ValueError, match="region_size=8.*denoise needs the images"):
        model.denoise(memory, tokens, boxes, t)
    plain = _tiny(region_size=0)
    assert plain.regions is None
    assert plain.denoise(plain.encode_image(images), tokens, boxes, t).logits.shape == (2, 5, 10)


def test_reader_alone_names_sections_unless_asked_to_share():
    images, tokens, boxes, t = _inputs(_tiny())
    alone, both = _tiny(region_size=8), _tiny(region_size=8, token_from="both")
    assert alone.token_head.out_features == 1 and both.token_head.out_features == 10
    region_boxes = boxes.sigmoid()
    assert alone.read_regions(images, region_boxes).shape == (2, 5, 10)
    assert both.read_regions(images, region_boxes) is None
    # with the reader alone, the denoiser moves only the empty-slot (PAD) logit
    out = alone(images, tokens, boxes, t)
    with torch.no_grad():
        read = alone.regions(images, out.boxes)
    assert torch.allclose(out.logits[..., 1:], read[..., 1:], atol=1e-6)
    with pytest.raises(ValueError, match="unknown token_from 'pixels'"):
        _tiny(token_from="pixels")

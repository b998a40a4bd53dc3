"""The pretrained EfficientNet-Lite0 encoder: its key map (against the reference implementation),
its features and padding on a tall page, progressive unfreezing, its settings, and a run that
trains it and round-trips through a checkpoint and an export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model_helpers import TINY_MODEL, tiny_factors, tiny_model
from train import checkpoint as ckpt
from train.config import TrainConfig, resolve
from train.data.inputs import InputSpec, collate
from train.inference import export, load_model
from train.model import model_config, model_config_errors
from train.model import efficientnet as eff
from train.model.encoders import load_state_file
from train.phases import phase_defaults
from train.trainer import fit
from train.unfreeze import apply_freezing

WEIGHTS = eff.packaged_weights()
pytestmark = pytest.mark.skipif(not (eff.timm_available() and WEIGHTS),
                                reason=f"timm or the ImageNet weights are not installed ({eff.INSTALL})")
EFF = {**TINY_MODEL, "encoder": "efficientnet_lite0"}


def timm_net(name: str = eff.TIMM_NAME) -> torch.nn.Module:
    import timm

    return timm.create_model(name, pretrained=False).eval()


def test_the_packaged_weights_map_onto_timm_in_order_every_tensor_of_its_shape():
    state = load_state_file(WEIGHTS)
    net = timm_net()
    target = net.state_dict()
    mapped = eff.to_timm_keys(state, target)
    assert len(state) == len(target) == 296  # 247 tensors + 49 BN batch counters
    assert list(mapped) == list(target)
    for (theirs, tensor), (ours, value) in zip(state.items(), mapped.items()):
        assert value is tensor and value.shape == target[ours].shape, (theirs, ours)
    assert list(mapped)[:2] == ["conv_stem.weight", "bn1.weight"] and list(state)[:2] == ["_conv_stem.weight",
                                                                                            "_bn0.weight"]
    net.load_state_dict(mapped)  # strict: no key missing or left over
    assert torch.equal(net.blocks[4][2].conv_pwl.weight, state["_blocks.10._project_conv.weight"])
    # a file whose order would pair a BN's bias with a weight (same shape) or misses a tensor is refused
    keys = list(state)
    keys[1], keys[2] = keys[2], keys[1]
    with pytest.raises(ValueError, match=r"_bn0.bias \(32,\) does not fit bn1.weight"):
        eff.to_timm_keys({k: state[k] for k in keys}, target)
    with pytest.raises(ValueError, match="295 tensors"):
        eff.to_timm_keys({k: v for k, v in state.items() if k != "_fc.bias"}, target)


def test_timm_with_the_map_gives_the_reference_implementations_logits():
    ref_impl = pytest.importorskip("efficientnet_lite_pytorch",
                                   reason="the reference implementation comes with the dev extra")
    state = load_state_file(WEIGHTS)
    ref = ref_impl.EfficientNet.from_name("efficientnet-lite0")
    ref.load_state_dict(state)
    ref.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = ref(x)
        got = eff.backbone(WEIGHTS).eval()(x)
        net = timm_net("efficientnet_lite0")  # symmetric padding: same tensors, other network
        net.load_state_dict(eff.to_timm_keys(state, net.state_dict()))
        symmetric = net(x)
    assert (got - want).abs().max() < 1e-4  # measured: 0.0
    assert (symmetric - want).abs().max() > 0.5  # measured: 3.2


def page(height: int, width: int = 320) -> tuple[np.ndarray, dict]:
    """A page of 120-px bands of alternating colours, one section each."""
    img = np.zeros((height, width, 3), dtype=np.uint8)
    sections = []
    for i, y in enumerate(range(0, height, 120)):
        img[y:y + 120] = (40 + 50 * (i % 4), 200 - 40 * (i % 3), 90 + 60 * (i % 2))
        sections.append({"type": "hero", "children": ["heading"], "raw_token": "footer@p",
                         "box": [0, y, width, min(120, height - y)]})
    return img, {"size": [width, height], "sections": sections, "__key__": f"page-{height}_v00"}


def test_features_and_padding_on_a_tall_page_whatever_it_is_batched_with():
    model = tiny_model(TrainConfig(model=EFF)).eval()
    spec = InputSpec.of(model.cfg, tiny_factors())
    items = [spec.encode(*page(h)) for h in (1190, 300)]  # 64 px wide: 238 and 60 rows of a 256-row canvas
    batch = collate(items)
    assert batch["image"].shape[2:] == (240, 64) and batch["extent"][:, 1].tolist() == [238, 60]
    enc = model.encoder.double()
    x = (batch["image"].double() - model.mean.double()) / model.std.double()
    rows = batch["extent"][:, 1].double()
    with torch.no_grad():
        fine, tokens, pad = enc(x, rows)
        alone = [enc(x[i:i + 1, :, : (int(rows[i]) + 15) // 16 * 16], rows[i:i + 1]) for i in range(2)]
    c = 2 * EFF["stem_channels"]
    assert fine.shape == (2, c, 60, 16) and tokens.shape == (2, 15 * 4, EFF["d_model"]) and pad.shape == (2, 60)
    assert not pad[0].any() and pad[1].tolist() == [False] * 16 + [True] * 44  # 60 rows: 4 token rows of 4
    assert fine[1, :, 15:].abs().max() == 0 and fine[1, :, :15].abs().amax((0, 2)).min() > 0
    for i, (f, t, p) in enumerate(alone):  # padding never reaches the page: the same features alone
        assert torch.allclose(fine[i, :, : f.shape[2]], f[0], atol=1e-9)
        assert torch.allclose(tokens[i][~pad[i]], t[0][~p[0]], atol=1e-9)
    feats = tiny_model(TrainConfig(model=EFF)).eval().encode(batch["image"], batch["extent"])
    assert feats.tokens.shape == (2, 60 + 60 + 16, EFF["d_model"])  # grid + one token per fine row and column


def test_groups_cover_every_parameter_and_thaw_from_the_top_keeping_frozen_bn_statistics():
    model = tiny_model(TrainConfig(model=EFF))
    assert model.cfg.weights_path == WEIGHTS
    enc = model.encoder
    groups = enc.groups()
    assert list(groups) == ["stem", "encoder.0", "encoder.1", "encoder.2", "encoder.3", "neck"]
    ids = [id(p) for items in groups.values() for item in items
           for p in ([item] if isinstance(item, torch.nn.Parameter) else item.parameters())]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in enc.parameters()}
    assert groups["stem"][0] is enc.stem and groups["encoder.3"] == [enc.stages[4]]  # input first, stride 16 last
    assert apply_freezing(model, 0, 10) == ["stem", "encoder.0", "encoder.1", "encoder.2", "encoder.3"]
    assert all(p.requires_grad for p in enc.proj.parameters())  # the new layers train from the start
    assert apply_freezing(model, 10, 10)[-1] == "encoder.2" and apply_freezing(model, 50, 10) == []
    apply_freezing(model, 40, 10)  # only the stem still frozen
    model.train()
    stem_bn, top_bn = enc.stem[1], enc.stages[4][-1].bn3
    before = stem_bn.running_mean.clone(), top_bn.running_mean.clone()
    batch = collate([InputSpec.of(model.cfg, tiny_factors()).encode(*page(400))])
    model.encode(batch["image"], batch["extent"])
    assert torch.equal(stem_bn.running_mean, before[0]) and not stem_bn.training
    assert not torch.equal(top_bn.running_mean, before[1]) and top_bn.training


def test_its_settings_default_to_the_installed_weights_and_name_the_fix(monkeypatch, tmp_path):
    sizes = dict(num_types=5, num_roles=4, num_raw=3)
    assert model_config("micro", encoder="efficientnet_lite0", **sizes).weights_path == WEIGHTS
    random = tiny_model(TrainConfig(model={**EFF, "weights_path": ""}))
    assert random.cfg.weights_path == "" and not torch.equal(random.encoder.stem[0].weight,
                                                             load_state_file(WEIGHTS)["_conv_stem.weight"])
    assert model_config_errors("micro", {"encoder": "efficientnet_lite0", "weights_path": str(tmp_path / "x.pth")}) \
        == [f"config 'model.weights_path' must be a file path, found '{tmp_path / 'x.pth'}', which is not a file"]
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "resnet.pth")
    with pytest.raises(ValueError, match=r"'model.weights_path' .*resnet.pth.* not an EfficientNet-Lite0"):
        tiny_model(TrainConfig(model={**EFF, "weights_path": str(tmp_path / "resnet.pth")}))
    monkeypatch.setattr(eff, "packaged_weights", lambda: None)
    monkeypatch.setattr(eff, "timm_available", lambda: False)
    errors = model_config_errors("micro", {"encoder": "efficientnet_lite0"})
    assert len(errors) == 2 and all(eff.INSTALL in e for e in errors)
    assert "needs timm" in errors[0] and "ImageNet weights" in errors[1]
    assert len(model_config_errors("micro", {"encoder": "efficientnet_lite0", "weights_path": ""})) == 1


def test_a_run_trains_it_and_round_trips_through_a_checkpoint(shards, tmp_path):
    cfg = resolve(phase_defaults(1), dict(model=EFF, batch_size=4, max_steps=2, eval_every=100, num_workers=0,
                                          shuffle_buffer=8, checkpoint_every=2, warmup_steps=1, unfreeze_every=1,
                                          sampling=dict(steps=2, threshold=0.2)), {})
    fit(shards, tmp_path / "run", cfg, progress=False)
    pretrained = tiny_model(TrainConfig(model=EFF)).encoder
    loaded = load_model(tmp_path / "run" / "last.pt")  # built with no weights file, then the checkpoint's
    enc = loaded.model.encoder
    assert loaded.model.cfg.weights_path is None
    for a, b in zip(enc.stages[:4].parameters(), pretrained.stages[:4].parameters()):  # frozen both steps
        assert torch.equal(a, b)
    assert torch.equal(enc.stem[1].running_var, pretrained.stem[1].running_var)  # frozen BN: its statistics too
    moved = [not torch.equal(a, b) for a, b in zip(enc.stages[4].parameters(), pretrained.stages[4].parameters())]
    assert any(moved)  # thawed at step 1 and trained: the checkpoint holds the trained weights
    saved = {k[len("model."):]: v for k, v in ckpt.load(tmp_path / "run" / "last.pt")["objective"].items()
             if k.startswith("model.")}
    state = loaded.model.state_dict()
    assert set(state) == set(saved) and all(torch.equal(v, saved[k]) for k, v in state.items())
    img = page(500)[0]
    assert load_model(export(tmp_path / "run" / "last.pt", tmp_path / "exported")).predict(img) == loaded.predict(img)

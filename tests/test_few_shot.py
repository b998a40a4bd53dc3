"""Few-shot context (FSDM): episodes, k = 0 is the plain model, the context is a set."""
from __future__ import annotations

import torch

from model_helpers import TINY_MODEL, tiny_batch, tiny_model
from train.config import LossConfig, TrainConfig
from train.data.episodes import Episodes, draw_context
from train.data.inputs import collate
from train.objective import Objective


def _items(n_groups: int = 3, per_group: int = 6, variants: int = 2) -> list[dict]:
    items = []
    for g in range(n_groups):
        for s in range(per_group):
            for v in range(variants):
                items.append({"key": f"g{g}p{s}_v{v:02d}", "source": f"g{g}p{s}", "group": f"g{g}"})
    return items


def test_episodes_draw_context_from_the_group_and_never_from_the_target_source():
    stream = list(Episodes(k_max=4, seed=0, epoch=0)(_items()))
    sizes = [len(it["context"]) for it in stream]
    assert max(sizes) == 4 and min(sizes) == 0
    for it in stream:
        for c in it["context"]:
            assert c["group"] == it["group"] and c["source"] != it["source"]
            assert "context" not in c  # context pages carry no context of their own
    again = list(Episodes(k_max=4, seed=0, epoch=0)(_items()))
    assert [[c["key"] for c in it["context"]] for it in again] == [[c["key"] for c in it["context"]] for it in stream]


def test_the_reservoir_is_bounded():
    ep = Episodes(k_max=2, seed=0, epoch=0, per_group=2, max_groups=2)
    stream = list(ep(_items(n_groups=5, per_group=5)))
    assert all(len(it["context"]) <= 2 for it in stream)


def test_evaluation_context_is_drawn_by_key_from_other_sources_of_the_group():
    pages = [it for it in _items() if it["key"].endswith("_v00")]
    target = next(it for it in _items() if it["key"] == "g1p2_v01")
    chosen = draw_context(pages, target, 3, "s")
    assert len(chosen) == 3 and all(c["group"] == "g1" and c["source"] != "g1p2" for c in chosen)
    assert [c["key"] for c in chosen] == [c["key"] for c in draw_context(list(reversed(pages)), target, 3, "s")]


def _few_shot_model():
    cfg = TrainConfig(few_shot_max=3)
    model = tiny_model(cfg).eval()
    with torch.no_grad():  # open the gates, which start closed, so the context changes the output
        for name, p in model.named_parameters():
            if name.endswith("context.gate"):
                p.fill_(1.0)
    return model


def _with_context(model, n: int, k: int) -> dict:
    batch = tiny_batch(model, n=n)
    items = [{k_: (v[i] if not isinstance(v, list) else v[i]) for k_, v in batch.items()} for i in range(n)]
    pages = tiny_batch(model, n=k, seed=7) if k else None
    context_items = [{k_: v[j] for k_, v in pages.items()} for j in range(k)] if k else []
    for it in items:
        it["image"] = it["image"][:, : int(it["extent"][1] + 15) // 16 * 16]
        it["context"] = [dict(c, image=c["image"][:, : int(c["extent"][1] + 15) // 16 * 16]) for c in context_items]
    return collate(items)


def test_k_0_is_the_model_without_context_for_the_same_weights():
    model = _few_shot_model()
    plain_cfg = TrainConfig()
    plain = tiny_model(plain_cfg).eval()
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    assert not missing and all(".context." in k or ".copy." in k or k.startswith("context.") for k in unexpected)
    batch = _with_context(model, 2, 0)
    assert "context" not in batch
    boxes, t = torch.rand(2, 8, 4), torch.tensor([10, 60])
    with torch.no_grad():
        a = model.denoise(model.encode(batch["image"], batch["extent"]), boxes, t, None, model.batch_context(batch))
        b = plain.denoise(plain.encode(batch["image"], batch["extent"]), boxes, t)
    assert torch.equal(a.boxes, b.boxes) and torch.equal(a.presence, b.presence)


def test_context_changes_the_output_and_its_order_does_not():
    model = _few_shot_model()
    batch = _with_context(model, 2, 3)
    assert len(batch["context_owner"]) == 6
    feats = model.encode(batch["image"], batch["extent"])
    boxes, t = torch.rand(2, 8, 4), torch.tensor([10, 60])
    with torch.no_grad():
        with_ctx = model.denoise(feats, boxes, t, None, model.batch_context(batch))
        without = model.denoise(feats, boxes, t)
        order = torch.tensor([2, 0, 1, 5, 3, 4])  # each sample's context pages shuffled
        shuffled = dict(batch, context={k: (v[order] if torch.is_tensor(v) else [v[i] for i in order])
                                        for k, v in batch["context"].items()},
                                        context_owner=batch["context_owner"][order])
        again = model.denoise(feats, boxes, t, None, model.batch_context(shuffled))
    assert not torch.allclose(with_ctx.presence, without.presence)
    assert torch.allclose(with_ctx.presence, again.presence, atol=1e-5)
    assert torch.allclose(with_ctx.boxes, again.boxes, atol=1e-5)


def test_the_objective_trains_the_context_layers():
    cfg = TrainConfig(few_shot_max=3, loss=LossConfig())
    cfg.model = dict(TINY_MODEL)
    model = _few_shot_model()
    obj = Objective(cfg, model)
    obj(_with_context(model, 2, 2), torch.Generator().manual_seed(0))["loss"].backward()
    assert model.context.look[0].weight.grad is not None
    assert model.encoder.stem[0].weight.grad is not None  # the targets train the encoder


def test_the_label_copy_names_a_section_by_the_context_section_it_resembles():
    from train.model.context import LabelCopy

    copy = LabelCopy(8, num_types=5)
    torch.manual_seed(0)
    shots = torch.randn(1, 3, 8)
    types = torch.tensor([[1, 3, 4]])
    pad = torch.tensor([[False, False, True]])
    h = torch.cat([shots[:, 1], shots[:, 2]])  # like the 2nd shot; like the 3rd, which is padding
    with torch.no_grad():
        copy.scale.fill_(torch.tensor(50.0).log())
        out = copy(h, shots.expand(2, -1, -1), types.expand(2, -1), pad.expand(2, -1))
    assert out[0].argmax() == 3  # the type of the shot it resembles
    assert out[1].argmax() in (1, 3) and out[1, 4] == out[1].min()  # padding is never copied
    none = copy(h, shots.expand(2, -1, -1), types.expand(2, -1), torch.ones(2, 3, dtype=torch.bool))
    assert torch.equal(none, torch.zeros_like(none))  # no context: nothing added


def test_context_changes_the_type_logits_and_the_gates_get_no_weight_decay():
    model = _few_shot_model()
    batch = _with_context(model, 2, 3)
    feats = model.encode(batch["image"], batch["extent"])
    boxes, idx = torch.rand(4, 4) * 0.5 + 0.25, torch.tensor([0, 0, 1, 1])
    with torch.no_grad():
        with_ctx = model.read(feats, boxes, idx, None, model.batch_context(batch))
        without = model.read(feats, boxes, idx)
    assert not torch.allclose(with_ctx.type, without.type)
    cfg = TrainConfig(few_shot_max=3, loss=LossConfig())
    cfg.model = dict(TINY_MODEL)
    groups = Objective(cfg, model).param_groups()
    gates = {id(p) for n, p in model.named_parameters() if n.endswith((".gate", "copy.weight", "copy.scale"))}
    assert len(groups) == 2 and {id(p) for p in groups[1]["params"]} == gates and groups[1]["weight_decay"] == 0.0
    assert len(gates) == 1 + 2 + model.cfg.denoiser_layers  # reader gate, the copy pair, one gate per block

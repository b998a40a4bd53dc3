"""The set model can learn: a small model overfits 16 striped pages (count, boxes, tokens >= 95%).

If the losses, the matching, the denoiser or the reader were broken, memorising 16 pages
would fail; so this is the test that the pieces add up to a model that reads pages. The
pages are `model_helpers.striped_page`s (3-6 full-width bands, a type and children per band).
"""
from __future__ import annotations

import numpy as np
import torch

from model_helpers import striped_page, tiny_factors
from train.config import SamplingConfig, TrainConfig
from train.data.inputs import InputSpec, collate
from train.diffusion.sampling import page_generators, sample
from train.evaluation.metrics import add_stats, page_stats
from train.objective import Objective, build_model, make_optimizer

MODEL = dict(canvas_width=64, stem_channels=16, d_model=64, encoder_layers=1, denoiser_layers=2, num_heads=4,
             ff_mult=2, proj_dim=16, dropout=0.0, proposals=12)


def _scores(model, batch, factors) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        preds = sample(model, batch["image"], batch["extent"], SamplingConfig(), page_generators(range(16)))
    tot: dict = {}
    for i, p in enumerate(preds):
        m = batch["mask"][i]
        add_stats(tot, page_stats(p.boxes, p.types.tolist(), [factors.decode_children(c) for c in p.children.tolist()],
                                  p.raw.tolist(), batch["boxes"][i][m], batch["types"][i][m].tolist(),
                                  [factors.decode_children(c) for c in batch["children"][i][m].tolist()],
                                  batch["raw"][i][m].tolist()))
    return {k: v[0] / max(v[1], 1) for k, v in tot.items()}


def test_a_small_model_overfits_16_pages():
    torch.manual_seed(0)
    cfg = TrainConfig()
    cfg.model = MODEL
    cfg.lr, cfg.warmup_steps, cfg.max_steps, cfg.weight_decay = 3e-3, 20, 400, 0.0
    factors = tiny_factors()
    model = build_model(cfg, factors)
    spec = InputSpec.of(model.cfg, factors)
    rng = np.random.default_rng(0)
    items = []
    for i in range(16):
        img, meta = striped_page(rng)
        items.append(spec.encode(img, {**meta, "__key__": f"page-{i}_v00"}))
    batch = collate(items)
    obj = Objective(cfg, model)
    opt, lr = make_optimizer(obj, 0)
    g = torch.Generator().manual_seed(1)
    for _ in range(cfg.max_steps):
        obj.train()
        out = obj(batch, g)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(obj.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        lr.step()
    got = _scores(model, batch, factors)
    assert got["count"] >= 0.95 and got["miou"] >= 0.95 and got["token"] >= 0.95, got

"""A tiny model and batches of striped pages for the trainer's unit tests (fast on one core)."""
from __future__ import annotations

import numpy as np
import torch

from train.config import TrainConfig
from train.data.inputs import InputSpec, collate
from train.data.vocab import Factors
from train.objective import build_model

TINY_MODEL = dict(encoder="conv", canvas_width=64, stem_channels=8, d_model=32, encoder_layers=1, denoiser_layers=2,
                  num_heads=2, ff_mult=2, proj_dim=16, dropout=0.0, proposals=8)
TYPES = ("navbar", "hero", "features", "pricing", "footer")


def tiny_factors() -> Factors:
    return Factors.build({"nav@a": 3, "section.hero@h1": 3, "footer@p": 3}, min_count=1)


def tiny_model(cfg: TrainConfig | None = None, seed: int = 0) -> torch.nn.Module:
    cfg = cfg or TrainConfig()
    cfg.model = {**TINY_MODEL, **cfg.model}
    torch.manual_seed(seed)
    return build_model(cfg, tiny_factors())


def striped_page(rng: np.random.Generator, width: int = 320) -> tuple[np.ndarray, dict]:
    """A page of 3-6 full-width bands of distinct colours, each a section of a known type."""
    n = int(rng.integers(3, 7))
    heights = rng.integers(40, 160, n)
    img = np.zeros((int(heights.sum()), width, 3), dtype=np.uint8)
    sections, y = [], 0
    for i, h in enumerate(heights):
        kind = TYPES[int(rng.integers(len(TYPES)))]
        img[y:y + h] = (40 * (TYPES.index(kind) + 1), 255 - 30 * i, 90 + 20 * (i % 3))
        sections.append({"type": kind, "children": ["heading", "text"][: 1 + i % 2], "raw_token": "footer@p",
                         "box": [0, y, width, int(h)]})
        y += int(h)
    return img, {"size": [width, y], "sections": sections}


def tiny_batch(model: torch.nn.Module, n: int = 4, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    spec = InputSpec.of(model.cfg, tiny_factors())
    items = []
    for i in range(n):
        img, meta = striped_page(rng)
        items.append(spec.encode(img, {**meta, "__key__": f"page-{seed}-{i}_v00"}))
    return collate(items)

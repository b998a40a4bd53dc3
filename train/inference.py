"""Using a trained checkpoint: rebuild the model, predict sections for a screenshot."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from . import checkpoint as ckpt
from .config import TrainConfig
from .inputs import boxes_to_pixels, letterbox
from .objective import Objective, build_model
from .sampling import sample
from .vocab import PAD, Vocab


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, Vocab, TrainConfig]:
    """(model in eval mode, vocab, config) from a checkpoint; EMA weights when it has them."""
    state = ckpt.load(path, device)
    cfg, vocab = TrainConfig.from_dict(state["config"]), Vocab.from_dict(state["vocab"])
    cfg.weights_path = None  # the checkpoint holds every weight; the backbone file is not needed
    obj = Objective(cfg, build_model(cfg, len(vocab)))
    if state["tdc"]:
        obj.start_tdc()
    obj.load_state_dict(state["objective"])
    model = obj.model
    if state.get("ema"):
        ema = {k[len("module."):]: v for k, v in state["ema"].items() if k.startswith("module.")}
        model.load_state_dict(ema)
    return model.to(device).eval(), vocab, cfg


@torch.no_grad()
def predict(model: nn.Module, vocab: Vocab, image: np.ndarray, *, steps: int = 20, guidance_scale: float = 1.0,
            temperature: float = 0.0, seed: int = 0) -> list[dict[str, Any]]:
    """Predicted sections of an RGB screenshot: [{"token", "box": [x, y, w, h] pixels}]."""
    size = model.cfg.image_size
    tensor, scale, pad = letterbox(image, size)
    device = next(model.parameters()).device
    out = sample(model, tensor[None].to(device), steps, guidance_scale, torch.Generator().manual_seed(seed),
                 temperature=temperature)
    tokens, boxes = out["tokens"][0].cpu(), out["boxes"][0].cpu()
    keep = tokens != PAD
    px = boxes_to_pixels(boxes[keep], scale, pad, size).tolist()
    names = vocab.decode(tokens[keep].tolist(), strip_special=False)
    sections = [{"token": t, "box": [round(float(v), 1) for v in b]} for t, b in zip(names, px)]
    return sorted(sections, key=lambda s: s["box"][1])


def draw_overlay(image: np.ndarray, sections: list[dict[str, Any]]) -> np.ndarray:
    """The screenshot with each predicted section's box and token drawn on it."""
    out = image.copy()
    for i, s in enumerate(sections):
        colour = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)][i % 5]
        x, y, w, h = (int(round(v)) for v in s["box"])
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, 3)
        cv2.putText(out, s["token"], (x + 6, y + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, colour, 2, cv2.LINE_AA)
    return out

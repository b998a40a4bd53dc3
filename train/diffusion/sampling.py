"""Reverse diffusion: a screenshot -> its sections, in K steps, seeded per page.

As DiffusionDet samples (Chen et al., ICCV 2023): the N proposals start as pure noise x_T ~
N(0, I) in box space; each of the K steps goes from t to t' < t (t = T, ..., evenly spaced,
down to 0):

1. Predict clean boxes and presence logits at the current boxes, with classifier-free
   guidance (Ho & Salimans 2022) when the scale s != 1: pred = uncond + s * (cond - uncond),
   on the boxes (in diffusion space) and on the presence logits.
2. DDIM (Song et al. 2021): eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t),
   x_t' = sqrt(ab_t') x0 + sqrt(1 - ab_t' - sigma^2) eps + sigma z,
   sigma = eta * sqrt((1 - ab_t') / (1 - ab_t) * (1 - ab_t / ab_t')); eta = 0: deterministic.
3. Box renewal: proposals whose presence probability is under the threshold are replaced by
   fresh noise, so the next step searches again where nothing was found.

After the last step, proposals above the presence threshold are sections; of two that overlap
by more than ``nms_iou`` the likelier stays (``torchvision.ops.nms``: one-to-one matching makes
duplicates rare, this removes the rest). The reader names each section at its final box
(guided like step 1), and sections are ordered top to bottom, then left to right: the
section order is read from the boxes.

Every draw of a page comes from its own generator (seeded from the page, e.g. its key), so a
page's sections do not depend on what it is batched with.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torchvision.ops import nms

from ..config import SamplingConfig
from ..geometry import clip_to_page, xyxy
from ..model import Features, Read, unwrap
from ..model.context import Context
from .process import NoiseSchedule


@dataclass
class Sections:
    """The predicted sections of one page, top to bottom (boxes: cxcywh normalised by the page)."""

    boxes: torch.Tensor  # [n, 4]
    scores: torch.Tensor  # [n] presence probability
    types: torch.Tensor  # [n] type ids
    children: torch.Tensor  # [n, max_children] role ids (end marker and after: ignored)
    raw: torch.Tensor  # [n] raw-token ids

    def __len__(self) -> int:
        return len(self.boxes)


def cfg_mix(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond)."""
    return uncond + scale * (cond - uncond)


def timesteps(num_timesteps: int, steps: int) -> list[int]:
    """K + 1 strictly decreasing timesteps from T to 0 (K capped at T)."""
    steps = max(1, min(steps, num_timesteps))
    ts = torch.linspace(num_timesteps, 0, steps + 1).round().long().tolist()
    return list(dict.fromkeys(ts))


def _denoise(model, feats: Features, boxes: torch.Tensor, t: torch.Tensor, scale: float,
             schedule: NoiseSchedule, context: Context | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided (x0 in diffusion space, presence logits)."""
    if scale == 1.0:
        out = model.denoise(feats, boxes, t, None, context)
        return schedule.to_signal(out.boxes), out.presence
    B = boxes.shape[0]
    uncond = torch.arange(2 * B, device=boxes.device) >= B  # second half: the null condition
    both = model.denoise(feats.repeat(2), boxes.repeat(2, 1, 1), t.repeat(2), uncond,
                         None if context is None else context.repeat(2))
    (bc, bu), (pc, pu) = schedule.to_signal(both.boxes).chunk(2), both.presence.chunk(2)
    return cfg_mix(bc, bu, scale), cfg_mix(pc, pu, scale)


def read_sections(model, feats: Features, boxes: torch.Tensor, batch_idx: torch.Tensor, scale: float,
                  context: Context | None = None) -> Read:
    """The reader's (guided) logits at ``boxes`` [K,4] of samples ``batch_idx``."""
    cond = model.read(feats, boxes, batch_idx, None, context)
    if scale == 1.0 or len(boxes) == 0:
        return cond
    null = torch.ones(feats.tokens.shape[0], dtype=torch.bool, device=boxes.device)
    uncond = model.read(feats, boxes, batch_idx, null)
    return Read(*(cfg_mix(c.float(), u.float(), scale) for c, u in zip(cond, uncond)))


def page_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]


def _noise(generators: Sequence[torch.Generator], n: int, device: torch.device | str) -> torch.Tensor:
    return torch.stack([torch.randn((n, 4), generator=g) for g in generators]).to(device)


@torch.no_grad()
def sample(model, images: torch.Tensor, extent: torch.Tensor, settings: SamplingConfig,
           generators: Sequence[torch.Generator], context: Context | None = None) -> list[Sections]:
    """The sections of each canvas in ``images`` (uint8 [B,3,H,W], the page's (cols, rows) on
    it ``extent`` [B,2]), one generator per page (:func:`page_generators`); ``context``: the
    pages' few-shot context tokens (``model.encode_context``), if any."""
    model = unwrap(model)
    cfg = model.cfg
    schedule = NoiseSchedule.from_config(cfg)
    ab = schedule.alpha_bar_table().tolist()
    ts = timesteps(schedule.num_timesteps, settings.steps)
    scale, device = float(settings.guidance_scale), images.device
    was_training = model.training
    model.eval()
    try:
        feats = model.encode(images, extent)
        B, N = images.shape[0], cfg.proposals
        x = _noise(generators, N, device)
        for t_now, t_next in zip(ts[:-1], ts[1:]):
            t = torch.full((B,), t_now, dtype=torch.long, device=device)
            x0, presence = _denoise(model, feats, schedule.to_boxes(x), t, scale, schedule, context)
            x0 = x0.clamp(-schedule.scale, schedule.scale)
            if t_next == 0:
                break
            a_t, a_n = ab[t_now], ab[t_next]
            eps = (x - a_t ** 0.5 * x0) / max(1 - a_t, 1e-12) ** 0.5
            sigma = settings.eta * ((1 - a_n) / (1 - a_t) * (1 - a_t / a_n)) ** 0.5 if settings.eta > 0 else 0.0
            x = a_n ** 0.5 * x0 + max(1 - a_n - sigma ** 2, 0.0) ** 0.5 * eps
            fresh = _noise(generators, N, device)
            if sigma > 0:
                x = x + sigma * _noise(generators, N, device)
            renew = (torch.sigmoid(presence) < settings.threshold)[..., None]
            x = torch.where(renew, fresh, x)
        boxes, scores = clip_to_page(schedule.to_boxes(x0)), torch.sigmoid(presence)
        kept: list[torch.Tensor] = []
        for b in range(B):
            idx = (scores[b] > settings.threshold).nonzero(as_tuple=True)[0]
            idx = idx[nms(xyxy(boxes[b, idx].float()), scores[b, idx].float(), settings.nms_iou)]
            kept.append(idx)
        batch_idx = torch.cat([torch.full((len(k),), b, dtype=torch.long, device=device) for b, k in enumerate(kept)])
        flat = torch.cat([boxes[b, k] for b, k in enumerate(kept)]) if kept else boxes.new_zeros((0, 4))
        read = read_sections(model, feats, flat, batch_idx, scale, context)
        out, start = [], 0
        for b, k in enumerate(kept):
            sl = slice(start, start + len(k))
            start += len(k)
            bx = boxes[b, k]
            order = sorted(range(len(k)), key=lambda i: (float(bx[i, 1] - bx[i, 3] / 2), float(bx[i, 0])))
            o = torch.tensor(order, dtype=torch.long, device=device)
            out.append(Sections(bx[o].float().cpu(), scores[b, k][o].float().cpu(),
                                read.type[sl][o].argmax(-1).cpu(), read.children[sl][o].argmax(-1).cpu(),
                                read.raw[sl][o].argmax(-1).cpu()))
        return out
    finally:
        model.train(was_training)

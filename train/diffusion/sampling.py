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

from ..config import INITS, SamplingConfig  # noqa: F401 (INITS: the starts, re-exported)
from ..geometry import clip_to_page, xyxy
from ..model import Features, Read, unwrap
from ..model.context import Context
from ..model.dense_decode import DecodeSettings, decode
from .process import NoiseSchedule, placeholder_boxes


@dataclass
class Sections:
    """The predicted sections of one page, top to bottom (boxes: cxcywh normalised by the page)."""

    boxes: torch.Tensor  # [n, 4]
    scores: torch.Tensor  # [n] presence probability
    types: torch.Tensor  # [n] type ids
    children: torch.Tensor  # [n, max_children] role ids (end marker and after: ignored)
    raw: torch.Tensor  # [n] raw-token ids
    regions: torch.Tensor  # [n] region type ids: the region each section lies in (issue 35)

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


def decode_settings(settings: SamplingConfig) -> DecodeSettings:
    """The dense decoder's settings of a run: edges closer than ``min_band`` rows are one (0, not
    measured: the decoder's default)."""
    return DecodeSettings(min_gap=settings.min_band - 1) if settings.min_band else DecodeSettings()


def page_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]


def _noise(generators: Sequence[torch.Generator], n: int, device: torch.device | str) -> torch.Tensor:
    return torch.stack([torch.randn((n, 4), generator=g) for g in generators]).to(device)


def _start(model, feats: Features, settings: SamplingConfig, schedule: NoiseSchedule,
           generators: Sequence[torch.Generator]) -> tuple[torch.Tensor, list[int], torch.Tensor | None]:
    """(x at the first timestep in diffusion space [B, N, 4], the timesteps to walk down, the
    proposals x_0 in diffusion space that renewal redraws around, or None: redraw from noise).

    ``noise``: x_T ~ N(0, I). ``proposals``: the dense head's boxes (up to N; the rest
    placeholders as in training, train.diffusion.process) diffused to ``t_start`` with
    q(x_t | x_0) (SDEdit, Meng et al. 2022); at t_start >= T that is pure noise, drawn
    exactly as ``noise`` draws it."""
    N, device = unwrap(model).cfg.proposals, feats.fine.device
    T = schedule.num_timesteps
    t_start = min(int(settings.t_start), T)
    if settings.init == "noise" or t_start >= T:
        return _noise(generators, N, device), timesteps(T, settings.steps), None
    found = decode(unwrap(model).dense(feats), feats.extent, feats.fine_stride, decode_settings(settings))
    x0 = torch.stack([torch.cat([boxes[:N].float(), placeholder_boxes(max(0, N - len(boxes)), g, device)])
                      for (boxes, _), g in zip(found, generators)])
    x0 = schedule.to_signal(x0)
    ab = float(schedule.alpha_bar_table()[t_start])
    x = ab ** 0.5 * x0 + (1 - ab) ** 0.5 * _noise(generators, N, device)
    steps = max(1, min(settings.steps, t_start))
    ts = list(dict.fromkeys(torch.linspace(t_start, 0, steps + 1).round().long().tolist()))
    return x, ts, x0


def _denoise_walk(model, feats: Features, settings: SamplingConfig, generators: Sequence[torch.Generator],
                  context: Context | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """DDIM from the start of ``settings.init`` down to t = 0; per page, the (boxes [k, 4],
    presence [k]) of the proposals kept (above the threshold, after NMS)."""
    schedule = NoiseSchedule.from_config(unwrap(model).cfg)
    ab = schedule.alpha_bar_table().tolist()
    scale = float(settings.guidance_scale)
    B, N, device = feats.fine.shape[0], unwrap(model).cfg.proposals, feats.fine.device
    x, ts, around = _start(model, feats, settings, schedule, generators)
    x0 = presence = None
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
        if around is not None:  # renewal around the proposals: them, diffused to t_next
            fresh = a_n ** 0.5 * around + (1 - a_n) ** 0.5 * fresh
        if sigma > 0:
            x = x + sigma * _noise(generators, N, device)
        renew = (torch.sigmoid(presence) < settings.threshold)[..., None]
        x = torch.where(renew, fresh, x)
    boxes, scores = clip_to_page(schedule.to_boxes(x0)), torch.sigmoid(presence)
    kept = []
    for b in range(B):
        idx = (scores[b] > settings.threshold).nonzero(as_tuple=True)[0]
        idx = idx[nms(xyxy(boxes[b, idx].float()), scores[b, idx].float(), settings.nms_iou)]
        kept.append((boxes[b, idx], scores[b, idx]))
    return kept


@torch.no_grad()
def sample(model, images: torch.Tensor, extent: torch.Tensor, settings: SamplingConfig,
           generators: Sequence[torch.Generator], context: Context | None = None) -> list[Sections]:
    """The sections of each canvas in ``images`` (uint8 [B,3,H,W], the page's (cols, rows) on
    it ``extent`` [B,2]), one generator per page (:func:`page_generators`); ``context``: the
    pages' few-shot context tokens (``model.encode_context``), if any. Where the boxes come
    from is ``settings.init``: "dense" reads the dense head's boxes (train.model.dense_decode)
    as they are; "noise" and "proposals" run the set denoiser from the start :func:`_start`
    gives."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    try:
        feats = model.encode(images, extent)
        if settings.init == "dense":
            found = decode(model.dense(feats), feats.extent, feats.fine_stride, decode_settings(settings))
        else:
            found = _denoise_walk(model, feats, settings, generators, context)
        return read_found(model, feats, found, float(settings.guidance_scale), context)
    finally:
        model.train(was_training)


def read_found(model, feats: Features, found: list[tuple[torch.Tensor, torch.Tensor]], scale: float,
               context: Context | None = None) -> list[Sections]:
    """Each page's boxes [k, 4] (with scores [k]) read by the reader, sections top to bottom."""
    device = feats.fine.device
    batch_idx = torch.cat([torch.full((len(bx),), b, dtype=torch.long, device=device)
                           for b, (bx, _) in enumerate(found)])
    flat = torch.cat([bx.float() for bx, _ in found]) if found else feats.fine.new_zeros((0, 4))
    read = read_sections(model, feats, flat, batch_idx, scale, context)
    out, start = [], 0
    for bx, sc in found:
        sl = slice(start, start + len(bx))
        start += len(bx)
        order = sorted(range(len(bx)), key=lambda i: (float(bx[i, 1] - bx[i, 3] / 2), float(bx[i, 0])))
        o = torch.tensor(order, dtype=torch.long, device=device)
        out.append(Sections(bx[o].float().cpu(), sc[o].float().cpu(), read.type[sl][o].argmax(-1).cpu(),
                            read.children[sl][o].argmax(-1).cpu(), read.raw[sl][o].argmax(-1).cpu(),
                            read.region[sl][o].argmax(-1).cpu()))
    return out


@torch.no_grad()
def read_at(model, images: torch.Tensor, extent: torch.Tensor, boxes: Sequence[torch.Tensor], scale: float = 1.0,
            context: Context | None = None) -> list[Sections]:
    """The reader alone at given boxes (each page's [k, 4] cxcywh page shares, e.g. the true
    ones: "reading alone" in evaluation), as :func:`sample` returns sections."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    try:
        feats = model.encode(images, extent)
        return read_found(model, feats, [(b.float(), torch.ones(len(b), device=b.device)) for b in boxes], scale,
                          context)
    finally:
        model.train(was_training)

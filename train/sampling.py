"""Reverse diffusion: screenshot -> section slots, in K steps, seeded.

Starting from all-MASK tokens and boxes x_T ~ N(0, I), each of the K steps goes from t to
t' < t (t = T, ..., evenly spaced, down to 0):

1. Predict x0 (token logits, boxes), with classifier-free guidance (Ho & Salimans 2022):
   pred = uncond + s * (cond - uncond), on the logits for tokens and on x0 for boxes;
   s = 1 is the conditional model alone (and skips the unconditional pass).
2. Tokens, iterative unmasking (MaskGIT, Chang et al. 2022): draw a token for every masked
   slot from softmax(logits / temperature) (MASK excluded; temperature 0 = argmax), keep the
   most confident draws and leave the floor(N * m(t')) least confident masked, so the mask
   count follows the training schedule; slots unmasked earlier never change.
3. Boxes, DDIM (Song et al. 2021): eps = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t),
   x_t' = sqrt(ab_t') x0 + sqrt(1 - ab_t' - sigma^2) eps + sigma z, with
   sigma = eta * sqrt((1 - ab_t') / (1 - ab_t) * (1 - ab_t / ab_t')); eta = 0: deterministic.

4. With a region reader that alone names sections (train.regions), once the boxes are final
   every section's token is read again at its final box (drawn from the reader's guided
   logits like step 2): a token committed early was read at a box that was still moving,
   and the reader's answer depends on nothing but the crop. Which slots hold a section
   stays as sampled.

The result's boxes are the last x0 prediction; empty (PAD) slots get the null box.

Box-conditioned generation (``given``; the conditional layout tasks of LayoutDM, Inoue et al.
2023, done the same way: the known part is held fixed through the reverse process): the
true sections and their boxes are given, so empty slots are PAD from the start and never
unmasked, and each known box replaces the x0 prediction before the DDIM step (the box
trajectory is then that of the given box) and in the result. Only the tokens are generated:
it measures what the model reads from the pixels apart from where it places sections.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .diffusion import DiffusionSchedule, as_generator, boxes_to_diffusion, normal, uniform
from .model import unwrap
from .vocab import MASK, PAD


def cfg_mix(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance: uncond + scale * (cond - uncond)."""
    return uncond + scale * (cond - uncond)


def timesteps(num_timesteps: int, steps: int) -> list[int]:
    """K + 1 strictly decreasing timesteps from T to 0 (K capped at T)."""
    steps = max(1, min(steps, num_timesteps))
    ts = torch.linspace(num_timesteps, 0, steps + 1).round().long().tolist()
    return list(dict.fromkeys(ts))


def _predict(model: nn.Module, images: torch.Tensor, memory: torch.Tensor, tokens: torch.Tensor,
             x: torch.Tensor, t: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided (logits, boxes in [0,1]) for the current state."""
    if scale == 1.0:
        out = model.denoise(memory, tokens, x, t, images=images)
        return out.logits.float(), out.boxes.float()
    B = tokens.shape[0]
    uncond = torch.arange(2 * B, device=tokens.device) >= B  # second half: the null condition
    both = model.denoise(memory.repeat(2, 1, 1), tokens.repeat(2, 1), x.repeat(2, 1, 1),
                         t.repeat(2), uncond, images.repeat(2, 1, 1, 1))
    (lc, lu), (bc, bu) = both.logits.float().chunk(2), both.boxes.float().chunk(2)
    return cfg_mix(lc, lu, scale), cfg_mix(bc, bu, scale).clamp(0, 1)


def _draw(logits: torch.Tensor, temperature: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(token drawn per slot, its log-probability) from logits [B,N,V]."""
    logp = F.log_softmax(logits, dim=-1)
    if temperature <= 0:
        drawn = logp.argmax(-1)
    else:
        u = uniform(tuple(logits.shape), generator, logits.device).clamp(1e-20, 1 - 1e-7)
        gumbel = -torch.log(-torch.log(u))
        drawn = (logp / temperature + gumbel).argmax(-1)
    return drawn, logp.gather(-1, drawn.unsqueeze(-1)).squeeze(-1)


def _unmask(tokens: torch.Tensor, drawn: torch.Tensor, confidence: torch.Tensor,
            keep_masked: int) -> torch.Tensor:
    """Fill masked slots with their draws except the ``keep_masked`` least confident ones."""
    masked = tokens == MASK
    confidence = torch.where(masked, confidence, torch.full_like(confidence, float("inf")))
    order = confidence.argsort(dim=1)  # least confident masked slots first
    stay = torch.zeros_like(masked)
    stay.scatter_(1, order[:, :keep_masked], True)
    return torch.where(masked & ~stay, drawn, tokens)


def _ddim_step(x: torch.Tensor, x0: torch.Tensor, ab_t: float, ab_next: float, eta: float,
               generator: torch.Generator) -> torch.Tensor:
    eps = (x - ab_t ** 0.5 * x0) / max(1 - ab_t, 1e-12) ** 0.5
    sigma = 0.0
    if eta > 0 and ab_next < 1:
        sigma = eta * ((1 - ab_next) / (1 - ab_t) * (1 - ab_t / ab_next)) ** 0.5
    x_next = ab_next ** 0.5 * x0 + max(1 - ab_next - sigma ** 2, 0.0) ** 0.5 * eps
    if sigma > 0:
        x_next = x_next + sigma * normal(tuple(x.shape), generator, x.device)
    return x_next


def _reread(model: nn.Module, images: torch.Tensor, boxes: torch.Tensor, tokens: torch.Tensor,
            scale: float, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Step 4: the sections' tokens read again at their final boxes (unchanged without a
    reader that names sections alone)."""
    logits = model.read_regions(images, boxes)
    if logits is None:
        return tokens
    logits = logits.float()
    if scale != 1.0:  # guided like step 1: the unconditional reader answers with its null logits
        null = torch.ones(len(tokens), dtype=torch.bool, device=tokens.device)
        logits = cfg_mix(logits, model.read_regions(images, boxes, null).float(), scale)
    logits[..., PAD] = float("-inf")
    logits[..., MASK] = float("-inf")
    drawn, _ = _draw(logits, temperature, generator)
    return torch.where(tokens != PAD, drawn, tokens)


@torch.no_grad()
def sample(
    model: nn.Module,
    images: torch.Tensor,
    steps: int | None = None,
    guidance_scale: float | None = None,
    generator: torch.Generator | int = 0,
    *,
    temperature: float = 1.0,
    eta: float = 0.0,
    schedule: DiffusionSchedule | None = None,
    given: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Generate section slots for letterboxed ``images`` [B,3,S,S].

    ``steps`` and ``guidance_scale`` default to the model config's; ``generator`` is a
    ``torch.Generator`` or an int seed. Returns ``tokens`` [B,N] long, ``boxes`` [B,N,4]
    normalised cxcywh, ``slot_mask`` [B,N] bool (a section was predicted).
    ``given``: ``slot_mask`` [B,N] (the true sections), ``boxes`` [B,N,4] and ``box_mask``
    [B,N] (which of them are known) for box-conditioned generation (module docstring).
    """
    model = unwrap(model)
    cfg = model.cfg
    generator = as_generator(generator)
    schedule = schedule or DiffusionSchedule.from_config(cfg)
    scale = cfg.guidance_scale if guidance_scale is None else float(guidance_scale)
    ts = timesteps(schedule.num_timesteps, steps or cfg.sample_steps)
    ab = schedule.alpha_bar_table().tolist()
    was_training = model.training
    model.eval()
    try:
        B, N, device = images.shape[0], cfg.max_slots, images.device
        memory = model.encode_image(images)
        tokens = torch.full((B, N), MASK, dtype=torch.long, device=device)
        x = normal((B, N, 4), generator, device).to(memory.dtype)
        held = None
        if given is not None:
            tokens = torch.where(given["slot_mask"], tokens, torch.full_like(tokens, PAD))
            held = (given["slot_mask"] & given["box_mask"])[..., None]
        boxes = torch.zeros(B, N, 4, device=device)
        for t_now, t_next in zip(ts[:-1], ts[1:]):
            t = torch.full((B,), t_now, dtype=torch.long, device=device)
            logits, boxes = _predict(model, images, memory, tokens, x, t, scale)
            if held is not None:
                boxes = torch.where(held, given["boxes"].float(), boxes)
            logits[..., MASK] = float("-inf")
            drawn, confidence = _draw(logits, temperature, generator)
            keep = int(N * float(schedule.mask_rate(torch.tensor(float(t_next)))))
            tokens = _unmask(tokens, drawn, confidence, keep)
            x = _ddim_step(x, boxes_to_diffusion(boxes), ab[t_now], ab[t_next], eta, generator)
            x = x.to(memory.dtype)
        slot_mask = tokens != PAD
        boxes = boxes.clamp(0, 1)
        tokens = _reread(model, images, boxes, tokens, scale, temperature, generator)
        boxes = torch.where(slot_mask[..., None], boxes, torch.zeros_like(boxes))
        return {"tokens": tokens, "boxes": boxes, "slot_mask": slot_mask}
    finally:
        model.train(was_training)

"""Multi-scale consistency: the same page seen at two input resolutions should get the same
sections. The batch's canvases are down-sampled by ``factor`` and back (antialiased), which
removes the detail a 1/factor smaller screenshot would lack while keeping the canvas; the
denoiser then sees the *same* noisy proposals at the same timesteps, and with p_a, p_b the
presence probabilities, z_a, z_b the reader's type logits at the matched proposals' boxes and
b_a, b_b the predicted boxes from the full and the rescaled canvas:

    presence = mean over proposals of symmetric Bernoulli KL(p_a, p_b)
    type     = mean over matched proposals of 0.5 * [KL(q_a || q_b) + KL(q_b || q_a)], q = softmax(z)
    boxes    = mean over matched proposals of (1/4) * sum_k |b_a,k - b_b,k|
    consistency = presence + type + boxes

Symmetric, so neither resolution is the teacher (both get gradients).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .context import StepContext

FACTOR = 0.5


def rescale_images(images: torch.Tensor, factor: float = FACTOR) -> torch.Tensor:
    """uint8 canvases [B,3,H,W] at resolution ``factor``, resized back (uint8)."""
    x = images.float()
    small = F.interpolate(x, scale_factor=factor, mode="bilinear", antialias=True, align_corners=False)
    back = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return back.round().clamp(0, 255).to(torch.uint8)


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """0.5 * (KL(a||b) + KL(b||a)) per position [...] from logits [..., V]."""
    la, lb = F.log_softmax(logits_a.float(), -1), F.log_softmax(logits_b.float(), -1)
    return 0.5 * ((la.exp() - lb.exp()) * (la - lb)).sum(-1)


def consistency_loss(ctx: StepContext) -> dict[str, Any]:
    model, m = ctx.model, ctx.match
    feats = model.encode(rescale_images(ctx.batch["image"]), ctx.batch["extent"])
    other = model.denoise(feats, ctx.noisy, ctx.t, ctx.drop, ctx.few_shot)
    two = lambda o: torch.stack([o, torch.zeros_like(o)], -1)  # noqa: E731 - Bernoulli as 2 logits
    presence = symmetric_kl(two(ctx.out.presence), two(other.presence)).mean()
    shift = ctx.out.boxes[m.batch, m.pred] - other.boxes[m.batch, m.pred]
    boxes = shift.abs().mean() if len(m.batch) else presence * 0
    type_term = presence * 0
    if len(m.batch):
        read_b = model.read(feats, ctx.out.boxes[m.batch, m.pred].detach(), m.batch, ctx.drop, ctx.few_shot)
        type_term = symmetric_kl(ctx.read.type, read_b.type).mean()
    return {"loss": presence + type_term + boxes, "presence": presence, "type": type_term, "boxes": boxes}

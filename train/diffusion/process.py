"""Forward diffusion over the set of section boxes (DiffusionDet, Chen et al., ICCV 2023).

Timesteps are integers t = 1..T (t = 0 is clean data). A page's true boxes (normalised
cxcywh on the canvas) are padded to the N proposals with random boxes (centre and size drawn
around the middle of the canvas, N(0.5, 1/6) clipped, DiffusionDet's placeholders), scaled
to x0 = (2 b - 1) * s with the signal scale s (``box_scale``, 2 by default: a higher SNR
than the unit scale, the setting DiffusionDet found best), and noised with the cosine
schedule of Nichol & Dhariwal 2021:

    alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t/T + e)/(1 + e) * pi/2), e = 0.008, betas <= 0.999
    x_t = sqrt(alpha_bar(t)) x0 + sqrt(1 - alpha_bar(t)) eps

The denoiser sees x_t as boxes again, clamp(x_t, -s, s) mapped back to [0, 1], and predicts
clean boxes; which of them are sections is decided by set matching in the loss
(train.losses.matching), not by the padding order. The placeholders are shuffled among the
true boxes so that no proposal index means "a real section".

Every random draw comes from the ``torch.Generator`` passed in, on its device, then moved to
the data's, so a CPU generator also drives CUDA runs.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch


def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """U[0, 1) drawn from ``generator`` (on its device), returned on ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """N(0, 1) drawn from ``generator`` (on its device), returned on ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


@functools.lru_cache(maxsize=8)
def _cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


@dataclass(frozen=True)
class NoiseSchedule:
    """The box noise schedule: T steps, cosine alpha_bar, signal scale."""

    num_timesteps: int = 100
    scale: float = 2.0

    @classmethod
    def from_config(cls, cfg) -> "NoiseSchedule":
        return cls(cfg.num_timesteps, cfg.box_scale)

    def alpha_bar_table(self) -> torch.Tensor:
        """alpha_bar(t) for t = 0..T, float64 [T+1] (alpha_bar(0) = 1)."""
        return _cosine_alpha_bar(self.num_timesteps).clone()

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return _cosine_alpha_bar(self.num_timesteps).to(t.device)[t.long()].float()

    def to_signal(self, boxes: torch.Tensor) -> torch.Tensor:
        """Normalised boxes in [0,1] -> diffusion space [-s, s]."""
        return (boxes * 2 - 1) * self.scale

    def to_boxes(self, x: torch.Tensor) -> torch.Tensor:
        """Diffusion space -> boxes in [0, 1] (clamped, as the denoiser sees them)."""
        return (x.clamp(-self.scale, self.scale) / self.scale + 1) / 2


def placeholder_boxes(n: int, generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """``n`` random cxcywh boxes, N(0.5, 1/6) per coordinate, sizes at least 1e-4."""
    b = normal((n, 4), generator, device) / 6 + 0.5
    b[:, 2:] = b[:, 2:].clamp(min=1e-4)
    return b.clamp(0, 1)


def pad_targets(boxes: torch.Tensor, mask: torch.Tensor, proposals: int,
                generator: torch.Generator) -> torch.Tensor:
    """x0 boxes [B,N,4]: each sample's true boxes (``mask`` [B,M]) and random placeholders,
    in a random order. Pages with more sections than proposals keep a random N of them."""
    B, device = boxes.shape[0], boxes.device
    out = placeholder_boxes(B * proposals, generator, device).view(B, proposals, 4)
    for b in range(B):
        real = boxes[b][mask[b]]
        order = torch.randperm(proposals, generator=generator, device=generator.device).to(device)
        k = min(len(real), proposals)
        if k:
            keep = torch.randperm(len(real), generator=generator, device=generator.device)[:k].to(device)
            out[b, order[:k]] = real[keep].to(out.dtype)
    return out


def corrupt(x0_boxes: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule,
            generator: torch.Generator) -> torch.Tensor:
    """q(x_t | x_0) for boxes [B,N,4] at timesteps t [B], returned as the noisy boxes the
    denoiser sees (normalised, clamped to [0, 1])."""
    noise = normal(tuple(x0_boxes.shape), generator, x0_boxes.device).to(x0_boxes.dtype)
    ab = schedule.alpha_bar(t)[:, None, None].to(x0_boxes.dtype)
    x_t = ab.sqrt() * schedule.to_signal(x0_boxes) + (1 - ab).sqrt() * noise
    return schedule.to_boxes(x_t)

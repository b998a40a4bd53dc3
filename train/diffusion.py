"""Forward diffusion over section slots and the training objective.

Timesteps are integers t = 1..T (t = 0 is clean data).

- Tokens: absorbing-state ("mask") diffusion (Austin et al. 2021, D3PM; MaskGIT, Chang et
  al. 2022): at step t each slot, PAD slots included, is independently replaced by MASK with
  probability m(t); ``linear``: m(t) = t/T; ``cosine``: m(t) = sin(pi/2 * t/T), MaskGIT's
  cosine schedule written in t. m(T) = 1: the reverse process starts from all MASK.
- Boxes: Gaussian diffusion in [-1, 1] (x0 = 2 * box - 1; the null box of an empty or
  unlocated slot is x0 = -1) with the cosine schedule of Nichol & Dhariwal 2021:
  alpha_bar(t) = f(t)/f(0), f(t) = cos^2((t/T + s)/(1 + s) * pi/2), s = 0.008, betas clipped
  at 0.999; x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps.
- The model predicts x0 for both (clean token logits, clean boxes).
- Classifier-free guidance: each sample's image condition is dropped (null embedding) with
  probability ``cond_drop_prob`` during training.

Every random draw comes from the ``torch.Generator`` passed in; draws happen on the
generator's device and are moved to the data's, so a CPU generator also drives CUDA runs.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import torch
from torch import nn

from .losses.element_combination import ElementCombinationLoss
from .losses.geometric import GeometricLoss
from .losses.modality_aware import ModalityAwareLossWeighting
from .losses.multiscale import MultiScaleConsistencyLoss, rescale_images
from .losses.multitask import MultiTaskLoss
from .losses.region import region_loss
from .model import ModelOutput
from .vocab import MASK, PAD


def uniform(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """U[0, 1) drawn from ``generator`` (on its device), returned on ``device``."""
    return torch.rand(shape, generator=generator, device=generator.device).to(device)


def normal(shape: tuple[int, ...], generator: torch.Generator, device: torch.device | str) -> torch.Tensor:
    """N(0, 1) drawn from ``generator`` (on its device), returned on ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device).to(device)


def as_generator(seed_or_generator: int | torch.Generator) -> torch.Generator:
    if isinstance(seed_or_generator, torch.Generator):
        return seed_or_generator
    return torch.Generator().manual_seed(int(seed_or_generator))


@dataclass(frozen=True)
class DiffusionSchedule:
    num_timesteps: int = 100
    mask_kind: str = "cosine"

    @classmethod
    def from_config(cls, cfg: Any) -> "DiffusionSchedule":
        return cls(cfg.num_timesteps, cfg.mask_schedule)

    def mask_rate(self, t: torch.Tensor) -> torch.Tensor:
        """m(t): probability that a slot is MASK at step t (float tensor like t)."""
        r = t.float() / self.num_timesteps
        if self.mask_kind == "linear":
            return r
        if self.mask_kind == "cosine":
            return torch.sin(0.5 * math.pi * r)
        raise ValueError(f"unknown mask schedule {self.mask_kind!r}")

    def alpha_bar_table(self) -> torch.Tensor:
        """alpha_bar(t) for t = 0..T, float64 [T+1] (alpha_bar(0) = 1)."""
        return _cosine_alpha_bar(self.num_timesteps).clone()

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        return _cosine_alpha_bar(self.num_timesteps).to(t.device)[t.long()].float()


@functools.lru_cache(maxsize=8)
def _cosine_alpha_bar(T: int, s: float = 0.008) -> torch.Tensor:
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


@dataclass
class Corrupted:
    tokens: torch.Tensor  # [B,N] with MASK where corrupted
    boxes: torch.Tensor  # [B,N,4] noisy boxes in diffusion space
    masked: torch.Tensor  # [B,N] bool, the slots set to MASK
    noise: torch.Tensor  # [B,N,4] the eps that was added


def boxes_to_diffusion(boxes: torch.Tensor) -> torch.Tensor:
    return boxes * 2 - 1


def boxes_from_diffusion(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


def corrupt(
    tokens: torch.Tensor,
    boxes: torch.Tensor,
    t: torch.Tensor,
    schedule: DiffusionSchedule,
    generator: torch.Generator,
) -> Corrupted:
    """q(x_t | x_0) for tokens [B,N] and normalised boxes [B,N,4] at timesteps t [B]."""
    masked = uniform(tokens.shape, generator, tokens.device) < schedule.mask_rate(t)[:, None]
    noise = normal(tuple(boxes.shape), generator, boxes.device).to(boxes.dtype)
    ab = schedule.alpha_bar(t)[:, None, None].to(boxes.dtype)
    x_t = ab.sqrt() * boxes_to_diffusion(boxes) + (1 - ab).sqrt() * noise
    return Corrupted(torch.where(masked, torch.full_like(tokens, MASK), tokens), x_t, masked, noise)


class TimestepSampler(Protocol):
    """How training picks timesteps; :class:`VarianceAwareLossScheduler` is the adaptive one."""

    def sample(self, batch_size: int, generator: torch.Generator,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]: ...

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None: ...

    def mix(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class UniformTimestepSampler:
    """t ~ U{1..T}, importance weight 1, token and box terms weighted equally."""

    def __init__(self, num_timesteps: int) -> None:
        self.num_timesteps = num_timesteps

    def sample(self, batch_size: int, generator: torch.Generator,
               device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        t = torch.randint(1, self.num_timesteps + 1, (batch_size,), generator=generator,
                          device=generator.device)
        return t.to(device), torch.ones(batch_size, device=device)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        pass

    def mix(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        one = torch.ones_like(t, dtype=torch.float32)
        return one, one


Weighting = ModalityAwareLossWeighting | MultiTaskLoss | None


def _combine(weighting: Weighting, parts: dict[str, torch.Tensor], align_weight: float,
             boxes: torch.Tensor, slot_mask: torch.Tensor, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """The scalar to optimise from the per-modality parts (see :func:`training_losses`)."""
    if isinstance(weighting, MultiTaskLoss):
        terms = {"token": parts["structural"], "box": parts["geometric"], "align": parts["align"]}
        if "consistency" in parts:
            terms["consistency"] = parts["consistency"]
        return weighting(terms, boxes=boxes, slot_mask=slot_mask, logits=logits)
    visual = parts["align"] + parts.get("consistency", 0)
    if isinstance(weighting, ModalityAwareLossWeighting):
        return weighting({"structural": parts["structural"], "geometric": parts["geometric"],
                          "visual": visual})
    loss = parts["structural"] + parts["geometric"] + align_weight * parts["align"]
    return {"loss": loss + parts.get("consistency", 0)}


def _denoise(model: nn.Module, images: torch.Tensor, noisy: Corrupted, t: torch.Tensor,
             drop: torch.Tensor, consistency: MultiScaleConsistencyLoss | None,
             teacher: torch.Tensor | None) -> tuple[ModelOutput, ModelOutput | None, torch.Tensor]:
    """(output, output on the rescaled images or None, image tokens of the real images).
    With multi-scale consistency the rescaled copy of the batch rides in the same call (same
    corrupted slots, timesteps and drops) and is split off after."""
    if consistency is None:
        memory = model.encode_image(images)
        return model.denoise(memory, noisy.tokens, noisy.boxes, t, drop, images, teacher), None, memory
    B = images.shape[0]
    both_images = torch.cat([images, rescale_images(images, consistency.factor)])
    memory = model.encode_image(both_images)
    both = model.denoise(memory, noisy.tokens.repeat(2, 1), noisy.boxes.repeat(2, 1, 1), t.repeat(2),
                         drop.repeat(2), both_images, None if teacher is None else teacher.repeat(2, 1, 1))
    first = ModelOutput(*(None if x is None else x[:B] for x in both))
    second = ModelOutput(*(None if x is None else x[B:] for x in both))
    return first, second, memory[:B]


def training_losses(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    generator: torch.Generator,
    *,
    schedule: DiffusionSchedule | None = None,
    sampler: TimestepSampler | None = None,
    element_loss: ElementCombinationLoss | None = None,
    geometric_loss: GeometricLoss | None = None,
    consistency: MultiScaleConsistencyLoss | None = None,
    weighting: Weighting = None,
    cond_drop_prob: float | None = None,
    region_weight: float = 1.0,
) -> dict[str, Any]:
    """One training forward: draw t, corrupt, denoise, and score.

    Per sample b at timestep t_b with importance weight w_b and mix (alpha, beta) from the
    sampler: structural = mean_b w_b alpha(t_b) E_b, geometric = mean_b w_b beta(t_b) G_b,
    where E_b is the element-combination (token + presence) loss over the masked slots and
    G_b the geometric loss; align is the InfoNCE term; consistency (optional) compares with
    the same corrupted slots read from a rescaled image; region (models with a region reader,
    ``region_weight`` > 0) is :func:`~train.losses.region.region_loss` at the true boxes. The
    total ``loss`` is structural + geometric + align_weight * align + consistency, or what ``weighting``
    (modality uncertainty weights, or the multi-task loss) makes of them.

    Returns ``loss`` plus every term (scalars), ``t`` [B], ``per_sample`` [B]
    (alpha E_b + beta G_b, unweighted: feed it to ``sampler.update``) and ``output``.

    ``model`` needs ``cfg``, ``encode_image``, ``denoise``, ``image_embedding`` and
    ``structure_embedding`` (a DistributedDataParallel wrapper must go around the module
    that calls this function, not be passed in: DDP only syncs gradients of its own forward).
    """
    cfg = model.cfg
    schedule = schedule or DiffusionSchedule.from_config(cfg)
    sampler = sampler or UniformTimestepSampler(schedule.num_timesteps)
    element_loss = element_loss or ElementCombinationLoss()
    geometric_loss = geometric_loss or GeometricLoss()
    p_drop = cfg.cond_drop_prob if cond_drop_prob is None else cond_drop_prob
    images, tokens, boxes = batch["image"], batch["tokens"], batch["boxes"]
    slot_mask, box_mask = tokens != PAD, batch["box_mask"]
    B, device = tokens.shape[0], tokens.device

    t, importance = sampler.sample(B, generator, device)
    noisy = corrupt(tokens, boxes, t, schedule, generator)
    drop = uniform((B,), generator, device) < p_drop
    out, out_b, memory = _denoise(model, images, noisy, t, drop, consistency,
                                  boxes if region_weight > 0 else None)
    elem = element_loss(out.logits, tokens, loss_mask=noisy.masked,
                        image_emb=model.image_embedding(memory),
                        struct_emb=model.structure_embedding(tokens, boxes, slot_mask))
    geo = geometric_loss(out.boxes, boxes, box_mask, pad_mask=~slot_mask)
    alpha, beta = (x.to(device) for x in sampler.mix(t))
    parts = {
        "structural": (importance * alpha * elem["per_sample"]).mean(),
        "geometric": (importance * beta * geo["per_sample"]).mean(),
        "align": elem["align"],
    }
    if out_b is not None:
        parts["consistency"] = consistency(out.logits, out.boxes, out_b.logits, out_b.boxes,
                                           box_mask=slot_mask)["loss"]
    result: dict[str, Any] = _combine(weighting, parts, element_loss.align_weight, out.boxes,
                                      slot_mask, out.logits)
    if out.region_logits is not None:
        parts["region"] = region_loss(out.region_logits, tokens, slot_mask & box_mask & ~drop[:, None],
                                      element_loss.label_smoothing)
        result["loss"] = result["loss"] + region_weight * parts["region"]
    result.update(parts)
    result.update({"token": elem["token"], "presence": elem["presence"], "box_l1": geo["l1"],
                   "box_giou": geo["giou"], "box_pad": geo["pad"], "t": t,
                   "per_sample": (alpha * elem["per_sample"] + beta * geo["per_sample"]).detach(),
                   "output": out})
    return result

"""Element-combination loss: what each section is, factor by factor, plus visual-structural
alignment.

A section's canonical token ``type@role@role...`` (the "@ concatenation") is predicted by
factor. For a true section j matched to proposal i (train.losses.matching), with the reader's
logits at i's predicted box (train.model.reader):

    type     = CE(z_type, y_type)
    children = mean over positions k with a target (the roles, then the end marker) of
               CE(z_children[k], y_children[k])
    raw      = CE(z_raw, y_raw)                    (the raw token; not all of it shows)
    E_j      = type + children + raw_weight * raw

with label smoothing eps (Szegedy et al. 2016): (1 - eps) * -log p_y + eps * mean_v -log p_v.
Per sample, E_b is the mean of E_j over its sections (0 for a page with none), so the
timestep sampler can weight samples. The alignment term is InfoNCE between the pooled image
embedding u_b and the pooled embedding s_b of the page's true structure (Oord et al. 2018;
symmetric as in CLIP, Radford et al. 2021):

    align = 0.5 * [CE(u s^T / tau, I) + CE(s u^T / tau, I)],  u, s L2-normalised, tau = 0.1

    loss  = mean_b E_b + align_weight * align

The sum of the factor cross-entropies is the seed's ElementCombinationLoss, whose token is
the product of its factors: a token is right exactly when every factor is.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ..data.vocab import IGNORE
from ..model import Read
from .context import StepContext, per_sample_mean

ALIGN_WEIGHT = 0.1
RAW_WEIGHT = 0.5
TEMPERATURE = 0.1


def factor_losses(read: Read, types: torch.Tensor, children: torch.Tensor, raw: torch.Tensor, regions: torch.Tensor,
                  label_smoothing: float = 0.0) -> dict[str, torch.Tensor]:
    """Per-section CEs [K] of each factor: ``type``, ``children``, ``raw`` and ``region_type`` (the
    type of the region the section lies in, issue 35's coarse level)."""
    ls = label_smoothing
    ce_type = F.cross_entropy(read.type.float(), types, reduction="none", label_smoothing=ls)
    K, P, C = read.children.shape
    ce_pos = F.cross_entropy(read.children.float().reshape(K * P, C), children.reshape(-1), reduction="none",
                             ignore_index=IGNORE, label_smoothing=ls).view(K, P)
    valid = (children != IGNORE).float()
    ce_children = (ce_pos * valid).sum(1) / valid.sum(1).clamp_min(1)
    ce_raw = F.cross_entropy(read.raw.float(), raw, reduction="none", label_smoothing=ls)
    ce_region = F.cross_entropy(read.region.float(), regions, reduction="none", label_smoothing=ls)
    return {"type": ce_type, "children": ce_children, "raw": ce_raw, "region_type": ce_region}


def section_loss(parts: dict[str, torch.Tensor]) -> torch.Tensor:
    """The per-section sum of the factor CEs (the raw token weighted by `RAW_WEIGHT`)."""
    return parts["type"] + parts["children"] + parts["region_type"] + RAW_WEIGHT * parts["raw"]


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of a and b [B, P] (mean over rows)."""
    a, b = F.normalize(a.float(), dim=-1), F.normalize(b.float(), dim=-1)
    logits = a @ b.t() / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def element_loss(ctx: StepContext) -> dict[str, Any]:
    """The element-combination loss of one training step (module docstring)."""
    m, bt = ctx.match, ctx.batch
    keep = ~ctx.drop[m.batch]  # an unconditional sample's sections cannot be read
    parts = factor_losses(ctx.read, bt["types"][m.batch, m.target], bt["children"][m.batch, m.target],
                          bt["raw"][m.batch, m.target], bt["regions"][m.batch, m.target], ctx.label_smoothing)
    per_section = section_loss(parts)
    per_sample = per_sample_mean(per_section[keep], m.batch[keep], ctx.batch_size)
    align = info_nce(ctx.model.image_embedding(ctx.feats),
                     ctx.model.structure_embedding(bt["types"], bt["children"].clamp_min(0), bt["boxes"], bt["mask"]))
    logs = {k: v[keep].mean() if keep.any() else v.sum() * 0 for k, v in parts.items()}
    return {"loss": per_sample.mean() + ALIGN_WEIGHT * align, "per_sample": per_sample,
            "extra": ALIGN_WEIGHT * align, "align": align, **logs}

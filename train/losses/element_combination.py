"""Element-combination loss: which sections the page is made of.

For slot i of sample b with target token y (PAD = empty slot) and logits z over the vocabulary,
restricted to the slots the diffusion asks about (``loss_mask``, the masked ones):

    token    = mean over real slots (y != PAD) of label-smoothed cross-entropy
               (1 - eps) * -log softmax(z)_y + eps * mean_v -log softmax(z)_v
               (Szegedy et al. 2016; PAD slots are ignored so that the many empty slots do
               not drown the section tokens)
    presence = mean over all slots of BCE(o, [y != PAD]),  o = logsumexp(z_v, v not PAD/MASK) - z_PAD
               the log-odds the softmax gives to "a section is here": it is what teaches the
               number of sections, since the token term never sees an empty slot
    align    = InfoNCE between the pooled image embedding u_b and pooled structure embedding
               s_b (Oord et al. 2018; symmetric as in CLIP, Radford et al. 2021):
               0.5 * [CE(u s^T / tau, b) + CE(s u^T / tau, b)], u, s L2-normalised

    loss = token + presence_weight * presence + align_weight * align

``per_sample`` is ``token + presence_weight * presence`` taken per sample (a sample with no
slot in the mask counts 0), for timestep statistics; ``align_per_sample`` is the InfoNCE
row+column average of each sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..vocab import MASK, PAD


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean over all masked entries, per-sample mean [B]) of values [B, N]."""
    m = mask.to(values.dtype)
    values = torch.where(mask, values, torch.zeros_like(values))
    total = values.sum() / m.sum().clamp_min(1)
    per_sample = values.sum(1) / m.sum(1).clamp_min(1)
    return total, per_sample


def presence_logit(logits: torch.Tensor) -> torch.Tensor:
    """Log-odds of "this slot holds a section": logsumexp over real tokens minus the PAD logit."""
    real = logits.clone()
    real[..., PAD] = float("-inf")
    real[..., MASK] = float("-inf")
    return torch.logsumexp(real, dim=-1) - logits[..., PAD]


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric InfoNCE between paired rows of a and b [B, P]: (mean, per-sample [B])."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.t() / temperature
    labels = torch.arange(a.shape[0], device=a.device)
    rows = F.cross_entropy(logits, labels, reduction="none")
    cols = F.cross_entropy(logits.t(), labels, reduction="none")
    per_sample = 0.5 * (rows + cols)
    return per_sample.mean(), per_sample


class ElementCombinationLoss(nn.Module):
    """Label-smoothed section-token CE (PAD ignored) + slot presence + visual–structural
    InfoNCE; see the module docstring for the formulas."""

    def __init__(
        self,
        label_smoothing: float = 0.1,
        presence_weight: float = 1.0,
        align_weight: float = 0.1,
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.presence_weight = presence_weight
        self.align_weight = align_weight
        self.temperature = temperature

    def forward(
        self,
        logits: torch.Tensor,
        tokens: torch.Tensor,
        loss_mask: torch.Tensor | None = None,
        image_emb: torch.Tensor | None = None,
        struct_emb: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``logits`` [B,N,V], ``tokens`` [B,N] targets, ``loss_mask`` [B,N] bool (default
        all slots), embeddings [B,P] (the align term is 0 without them)."""
        if loss_mask is None:
            loss_mask = torch.ones_like(tokens, dtype=torch.bool)
        real = tokens != PAD
        ce = F.cross_entropy(
            logits.flatten(0, 1).float(), tokens.flatten(), reduction="none",
            label_smoothing=self.label_smoothing,
        ).view_as(tokens)
        token, token_ps = _masked_mean(ce, loss_mask & real)
        bce = F.binary_cross_entropy_with_logits(
            presence_logit(logits.float()), real.float(), reduction="none"
        )
        presence, presence_ps = _masked_mean(bce, loss_mask)
        if image_emb is not None and struct_emb is not None:
            align, align_ps = info_nce(image_emb.float(), struct_emb.float(), self.temperature)
        else:
            align, align_ps = logits.new_zeros(()), logits.new_zeros(tokens.shape[0])
        loss = token + self.presence_weight * presence + self.align_weight * align
        per_sample = token_ps + self.presence_weight * presence_ps
        return {"loss": loss, "token": token, "presence": presence, "align": align,
                "per_sample": per_sample, "align_per_sample": align_ps}

"""The production loss for phases 3–4: every term, balanced twice over, plus layout priors.

    L = sum_m [ (sum_{k in m} w_k L_k) / (2 sigma_m^2) + log sigma_m ]          (1) + (2)
        + lambda_align * Alignment(b) + lambda_overlap * Overlap(b)               (3)
        + lambda_div * Diversity(p)                                               (4)

(1) Dynamic Weight Averaging (Liu, Johns & Davison 2019, "End-to-end multi-task learning
    with attention", eq. 7) across training steps, for the task terms k (token, align, box,
    consistency): w_k(s) = K exp(r_k / T) / sum_i exp(r_i / T), r_k = L_k(s-1) / L_k(s-2),
    so a term whose loss stopped falling gets more weight; w = 1 until two steps are
    recorded. Steps are recorded by ``forward`` in training mode (detached values).
(2) Uncertainty weighting per modality (Kendall et al. 2018, :mod:`.modality_aware`):
    structural = token, visual = align + consistency, geometric = box.
(3) Layout aesthetics on the predicted boxes of the target's sections (Alignment: Lee et al.
    2020; Overlap: Li et al. 2020; both as in Kikuchi et al. 2021, LayoutGAN++), see
    :func:`train.metrics.layout_alignment` / :func:`train.metrics.layout_overlap`.
(4) Diversity (Baevski et al. 2020, wav2vec 2.0, eq. 4): with p̄ the softmax over the known
    section tokens (PAD, MASK and UNK excluded) averaged over the batch's real slots and V' the number of
    such tokens, Diversity = (V' - exp(H(p̄))) / V': 0 when every token is used equally,
    towards 1 when the model collapses onto a few frequent tokens. Keep lambda_div small: the
    true token distribution is not uniform.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import layout_alignment, layout_overlap
from ..vocab import NUM_SPECIAL
from .modality_aware import ModalityAwareLossWeighting

TERM_MODALITY: dict[str, str] = {
    "token": "structural", "align": "visual", "consistency": "visual", "box": "geometric",
}


class DynamicWeightAverage(nn.Module):
    """DWA weights for named terms from their last two recorded values (buffers)."""

    def __init__(self, names: Sequence[str], temperature: float = 2.0) -> None:
        super().__init__()
        self.names, self.temperature = tuple(names), temperature
        self.register_buffer("history", torch.full((2, len(self.names)), float("nan")))

    def weights(self, present: Sequence[str]) -> dict[str, float]:
        """Weights of the ``present`` terms (summing to their number)."""
        idx = [self.names.index(k) for k in present]
        prev, prev2 = self.history[1, idx], self.history[0, idx]
        if not idx or torch.isnan(prev).any() or torch.isnan(prev2).any():
            return {k: 1.0 for k in present}
        r = prev / prev2.clamp_min(1e-12)
        w = len(idx) * torch.softmax(r / self.temperature, dim=0)
        return {k: float(w[i]) for i, k in enumerate(present)}

    @torch.no_grad()
    def record(self, losses: Mapping[str, torch.Tensor]) -> None:
        """Push one step's values (terms not given keep no value for this step)."""
        row = torch.full((len(self.names),), float("nan"), device=self.history.device)
        for k, v in losses.items():
            row[self.names.index(k)] = float(v)
        self.history.copy_(torch.stack([self.history[1], row]))


def diversity_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(V' - perplexity(p̄)) / V' over section tokens; see the module docstring, (4)."""
    real_logits = logits[..., NUM_SPECIAL:].float()
    probs = F.softmax(real_logits, dim=-1)
    w = mask.unsqueeze(-1).to(probs.dtype)
    mean = (probs * w).sum((0, 1)) / w.sum().clamp_min(1)
    entropy = -(mean * torch.log(mean.clamp_min(1e-12))).sum()
    v = real_logits.shape[-1]
    return (v - torch.exp(entropy)) / v


class MultiTaskLoss(nn.Module):
    """DWA x uncertainty-weighted task terms + alignment/overlap penalties + diversity.
    Holds learned parameters (the modality sigmas): add them to the optimizer."""

    def __init__(
        self,
        dwa_temperature: float = 2.0,
        alignment_weight: float = 0.1,
        overlap_weight: float = 0.1,
        diversity_weight: float = 0.01,
    ) -> None:
        super().__init__()
        self.dwa = DynamicWeightAverage(list(TERM_MODALITY), dwa_temperature)
        self.uncertainty = ModalityAwareLossWeighting()
        self.alignment_weight, self.overlap_weight = alignment_weight, overlap_weight
        self.diversity_weight = diversity_weight

    def forward(
        self,
        terms: Mapping[str, torch.Tensor],
        boxes: torch.Tensor | None = None,
        slot_mask: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """``terms``: scalar task losses keyed by "token", "align", "box", "consistency" (any
        subset). ``boxes`` [B,N,4] predicted, ``slot_mask`` [B,N] the sections they are
        judged on, ``logits`` [B,N,V]; penalties whose inputs are missing are skipped."""
        present = [k for k in TERM_MODALITY if k in terms]
        w = self.dwa.weights(present)
        per_modality: dict[str, torch.Tensor] = {}
        for k in present:
            m = TERM_MODALITY[k]
            per_modality[m] = per_modality.get(m, 0) + w[k] * terms[k]
        out = {f"dwa.{k}": torch.tensor(w[k]) for k in present}
        unc = self.uncertainty(per_modality)
        total = unc["loss"]
        out.update({k: v for k, v in unc.items() if k != "loss"})
        if boxes is not None and slot_mask is not None:
            out["alignment"] = layout_alignment(boxes.float(), slot_mask).mean()
            out["overlap"] = layout_overlap(boxes.float(), slot_mask).mean()
            total = (total + self.alignment_weight * out["alignment"]
                     + self.overlap_weight * out["overlap"])
        if logits is not None:
            mask = slot_mask
            if mask is None:
                mask = torch.ones(logits.shape[:2], dtype=torch.bool, device=logits.device)
            out["diversity"] = diversity_loss(logits, mask)
            total = total + self.diversity_weight * out["diversity"]
        if self.training:
            self.dwa.record({k: terms[k].detach() for k in present})
        out["loss"] = total
        return out

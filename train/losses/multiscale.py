"""Multi-scale consistency: the same page seen at two input resolutions should get the same
sections. With p_a, p_b the token distributions (softmax of the logits) and b_a, b_b the
boxes predicted for one slot from the full-resolution and the rescaled image (same corrupted
slots, same timestep):

    kl   = mean over slots of 0.5 * [KL(p_a || p_b) + KL(p_b || p_a)]
         = mean over slots of 0.5 * sum_v (p_a,v - p_b,v) (log p_a,v - log p_b,v)
    l1   = mean over located slots of (1/4) * sum_k |b_a,k - b_b,k|
    loss = kl + box_weight * l1

Symmetric, so neither resolution is the teacher (both get gradients). "Two resolutions" is
realised by :func:`rescale_images`: down-sample by ``factor`` and back (antialiased), which
removes the detail a 1/factor smaller screenshot would lack while keeping the tensor size
every encoder (ViT included) expects.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .element_combination import _masked_mean


def rescale_images(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Images [B,3,S,S] at resolution ``factor * S``, resized back to S x S."""
    size = images.shape[-2:]
    small = F.interpolate(images, scale_factor=factor, mode="bilinear", antialias=True,
                          align_corners=False)
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)


def symmetric_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """0.5 * (KL(a||b) + KL(b||a)) per position [...] from logits [..., V]."""
    la, lb = F.log_softmax(logits_a.float(), -1), F.log_softmax(logits_b.float(), -1)
    return 0.5 * ((la.exp() - lb.exp()) * (la - lb)).sum(-1)


class MultiScaleConsistencyLoss(nn.Module):
    def __init__(self, box_weight: float = 1.0, factor: float = 0.5) -> None:
        super().__init__()
        self.box_weight, self.factor = box_weight, factor

    def forward(
        self,
        logits_a: torch.Tensor,
        boxes_a: torch.Tensor,
        logits_b: torch.Tensor,
        boxes_b: torch.Tensor,
        slot_mask: torch.Tensor | None = None,
        box_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Logits [B,N,V], boxes [B,N,4]; ``slot_mask`` [B,N] (default: every slot, since
        agreeing on where the page *ends* matters too); ``box_mask`` defaults to slot_mask."""
        if slot_mask is None:
            slot_mask = torch.ones(logits_a.shape[:2], dtype=torch.bool, device=logits_a.device)
        if box_mask is None:
            box_mask = slot_mask
        kl, kl_ps = _masked_mean(symmetric_kl(logits_a, logits_b), slot_mask)
        l1, l1_ps = _masked_mean((boxes_a.float() - boxes_b.float()).abs().mean(-1), box_mask)
        return {"loss": kl + self.box_weight * l1, "kl": kl, "l1": l1,
                "per_sample": kl_ps + self.box_weight * l1_ps}

"""Region loss: the region reader, cropping each section at its true box, names it.

For the sections in ``mask`` (real slots with a known box, condition not dropped), with
``z'`` the region reader's token logits for the crop at the *true* box
(``ModelOutput.region_logits``, :mod:`train.regions`) and ``y`` the target token:

    region = mean over masked slots of label-smoothed CE(z', y)
             (same smoothing as the element-combination token term)

Why: deep supervision of the region reader (auxiliary heads, Lee et al. 2015, "Deeply-
supervised nets"; the RoI head of Fast R-CNN, Girshick 2015, is likewise trained on crops
at ground-truth-matched boxes). The diffusion token term only asks about the masked slots
and reads them at boxes the model is still learning to place; this term lets every section
of every sample teach the reader from a clean crop, so it learns what a section's content
looks like while the boxes are still being learned.
At sampling time the reader crops at the predicted boxes (train.regions).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def region_loss(region_logits: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor,
                label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean label-smoothed CE of ``region_logits`` [B,N,V] against ``tokens`` [B,N] over
    ``mask`` [B,N] bool (0 when the mask is empty)."""
    ce = F.cross_entropy(region_logits.flatten(0, 1).float(), tokens.flatten(), reduction="none",
                         label_smoothing=label_smoothing).view_as(tokens)
    m = mask.to(ce.dtype)
    return (ce * m).sum() / m.sum().clamp_min(1)

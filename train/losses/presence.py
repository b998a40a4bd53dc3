"""Presence loss: which proposals are sections.

Every proposal i has a presence logit o_i; its target y_i is 1 when the matching
(train.losses.matching) gave it a true section, else 0:

    presence_b = mean over the N proposals of BCE(o_i, y_i)

Plain binary cross-entropy, not the focal loss detectors use for their long tail of easy
background boxes: here a page has a handful of sections among a few dozen proposals (about
1 in 4), and the presence probability is *thresholded* to count sections, so it must be
calibrated. (With the focal loss, alpha 0.25, the matched proposals' probabilities stayed
around 0.35 after 300 steps and no page got a single section at threshold 0.5.)
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .context import StepContext


def presence_loss(ctx: StepContext) -> dict[str, Any]:
    logits = ctx.out.presence
    target = torch.zeros_like(logits)
    target[ctx.match.batch, ctx.match.pred] = 1.0
    per_sample = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1)
    return {"loss": per_sample.mean(), "per_sample": per_sample}

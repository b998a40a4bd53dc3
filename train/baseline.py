"""The reference every evaluation is read against: a layout prior that never sees the image.

"Beats chance" needs a number for chance. The prior is fitted on the training split's
targets only (no pixels are decoded) and predicts the same layout for every page:

- as many sections as the median training page has (clipped to the slots);
- in slot i, the token most often found in slot i of training pages that reach slot i;
- in slot i, the mean box of the located sections in slot i.

It is scored by the same `train.metrics` on the same held-out samples as the model, so a
model's margin over it is what the model learned from the screenshot.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from shards.reader import make_pipeline

from .data import EpochFilter
from .inputs import encode_target
from .vocab import PAD, Vocab


@dataclass(frozen=True)
class LayoutPrior:
    tokens: torch.Tensor  # [N] long, PAD past the median count
    boxes: torch.Tensor  # [N, 4] cxcywh

    def predict(self, batch_size: int) -> dict[str, torch.Tensor]:
        """The prior's prediction for a batch, in the form `train.metrics` scores."""
        return {"tokens": self.tokens.expand(batch_size, -1).clone(),
                "boxes": self.boxes.expand(batch_size, -1, -1).clone()}


def fit_prior(shards: str | Path, vocab: Vocab, *, image_size: int, max_slots: int,
              split: str = "train", keep: EpochFilter | None = None,
              max_samples: int = 5000, on_error: str = "raise") -> LayoutPrior:
    """Fit the prior on the first ``max_samples`` samples of ``split`` (shard order) that
    ``keep`` accepts; metadata only, so it costs a read of the shards, not a decode.
    ``on_error`` is the reader's handler: "skip" passes over corrupt shards like training does."""
    keep = keep or EpochFilter()
    slot_tokens = [Counter() for _ in range(max_slots)]
    box_sum, box_n = torch.zeros(max_slots, 4, dtype=torch.float64), torch.zeros(max_slots)
    counts: list[int] = []
    for raw in make_pipeline(shards, split, shuffle_buffer=0, decode=False, split_nodes=False,
                             handler=on_error):
        meta = json.loads(raw["json"])
        meta["__key__"] = raw["__key__"]
        if not keep(meta):
            continue
        t = encode_target(meta, tuple(meta["size"]), vocab, image_size, max_slots)
        n = int(t["slot_mask"].sum())
        counts.append(n)
        for i, tok in enumerate(t["tokens"][:n].tolist()):
            slot_tokens[i][tok] += 1
        box_sum += (t["boxes"] * t["box_mask"][:, None]).double()
        box_n += t["box_mask"].float()
        if len(counts) >= max_samples:
            break
    if not counts:
        raise ValueError(f"{shards}: no '{split}' samples to fit the baseline prior on")
    median = sorted(counts)[len(counts) // 2]
    tokens = torch.full((max_slots,), PAD, dtype=torch.long)
    for i in range(median):
        # ties go to the smaller id: ids are ordered by overall frequency (train.vocab)
        tokens[i] = min(slot_tokens[i].items(), key=lambda kv: (-kv[1], kv[0]))[0]
    boxes = (box_sum / box_n.clamp_min(1)[:, None]).float()
    boxes[median:] = 0
    return LayoutPrior(tokens, boxes)

"""The reference every evaluation is read against: a layout prior that never sees the image.

"Beats chance" needs a number for chance. The prior is fitted on the training split's
targets only (metadata; no pixels are decoded) and predicts the same layout for every page:

- as many sections as the median training page has;
- for the i-th section from the top: the mean box, the most frequent type, the most frequent
  children sequence, the most frequent raw token and the most frequent region type of the
  i-th sections of training pages that have one.

It is scored by the same metrics (train.evaluation.metrics) on the same held-out pages as the
model, so a model's margin over it is what the model read from the screenshot.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shards.storage.reader import make_pipeline, sample_meta

from ..data.inputs import InputSpec
from ..data.stream import EpochFilter


@dataclass(frozen=True)
class LayoutPrior:
    boxes: torch.Tensor  # [n, 4] normalised canvas cxcywh, top to bottom
    types: tuple[int, ...]
    children: tuple[tuple[int, ...], ...]  # ids, end marker included
    raw: tuple[int, ...]
    # the 1st percentile of section heights, in canvas pixel rows (0: not measured): the dense
    # decoder's scale (train.fit sets sampling.min_band from it)
    thinnest: float = 0.0
    regions: tuple[int, ...] = ()  # region type ids (empty: a prior fitted before issue 35)

    def region_ids(self, factors: Any) -> list[int]:
        """Each slot's region type id (``main`` for a prior fitted before regions existed)."""
        return list(self.regions) if len(self.regions) == len(self.types) else [
            factors.region_id("main")] * len(self.types)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a checkpoint carries the prior of its run's training split)."""
        return {"boxes": self.boxes.tolist(), "types": list(self.types), "children": [list(c) for c in self.children],
                "raw": list(self.raw), "thinnest": self.thinnest, "regions": list(self.regions)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LayoutPrior":
        return cls(torch.tensor(data["boxes"], dtype=torch.float32).reshape(-1, 4), tuple(data["types"]),
                   tuple(tuple(c) for c in data["children"]), tuple(data["raw"]),
                   float(data.get("thinnest", 0.0)), tuple(data.get("regions", ())))


def fit_prior(shards: str | Path, spec: InputSpec, *, split: str = "train", keep: EpochFilter | None = None,
              max_samples: int = 5000, on_error: str = "raise") -> LayoutPrior:
    """Fit the prior on up to ``max_samples`` samples of ``split`` (shard order) that ``keep``
    accepts. ``on_error`` is the reader's handler: "skip" passes over corrupt shards."""
    slots: list[dict[str, Counter]] = []
    box_sum: list[torch.Tensor] = []
    counts: list[int] = []
    heights: list[float] = []  # canvas pixel rows
    for raw in make_pipeline(shards, split, shuffle_buffer=0, decode=False, split_nodes=False, handler=on_error,
                             select=keep or EpochFilter()):
        meta = sample_meta(raw)
        t = spec.target(meta, tuple(meta["size"]))
        n = int(t["mask"].sum())
        counts.append(n)
        heights += (t["boxes"][:n, 3] * float(t["extent"][1])).tolist()
        for i in range(n):
            if i == len(slots):
                slots.append({"type": Counter(), "children": Counter(), "raw": Counter(), "region": Counter(),
                              "n": Counter()})
                box_sum.append(torch.zeros(4, dtype=torch.float64))
            slots[i]["type"][int(t["types"][i])] += 1
            slots[i]["children"][tuple(int(c) for c in t["children"][i])] += 1
            slots[i]["raw"][int(t["raw"][i])] += 1
            slots[i]["region"][int(t["regions"][i])] += 1
            slots[i]["n"]["all"] += 1
            box_sum[i] += t["boxes"][i].double()
        if len(counts) >= max_samples:
            break
    if not counts:
        raise ValueError(f"{shards}: no '{split}' samples to fit the layout prior on")
    median = sorted(counts)[len(counts) // 2]

    def top(c: Counter):  # ties go to the smaller value: a pure function of the counts
        return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    n = min(median, len(slots))
    return LayoutPrior(torch.stack([(box_sum[i] / slots[i]["n"]["all"]).float() for i in range(n)])
                       if n else torch.zeros(0, 4),
                       tuple(top(slots[i]["type"]) for i in range(n)),
                       tuple(top(slots[i]["children"]) for i in range(n)),
                       tuple(top(slots[i]["raw"]) for i in range(n)),
                       float(np.percentile(heights, 1)) if heights else 0.0,
                       tuple(top(slots[i]["region"]) for i in range(n)))

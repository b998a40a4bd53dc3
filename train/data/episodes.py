"""Few-shot episodes from a stream: each sample gets k context samples of its own group.

FSDM trains episodically (Giannone et al. 2022): a target page and a context set of k other
pages of the same group (site or template), k drawn from 0..K per target so that k = 0 is the
ordinary model. The data set is never held in memory: the stream keeps, per group, a
*reservoir* of the most recent samples it has passed (at most ``per_group`` each, for at
most ``max_groups`` groups, the least recently seen group dropped first), and a target's
context is drawn from its group's reservoir, never from its own source (no variant of the
target page is ever its context). Memory is bounded by max_groups x per_group encoded
samples: 256 x 8 canvases of the micro preset (~0.15 MB each) is ~300 MB at most, and
a few MB for data sets of tens of groups. Draws come from a generator seeded by (seed,
epoch, rank, worker), so a run's episodes are reproducible.

The first samples of a group have no context yet (its reservoir is empty); the shuffle
buffer of the reader mixes groups, so this is a few samples per group per epoch.
"""
from __future__ import annotations

import random
from collections import OrderedDict, deque
from typing import Any, Iterable, Iterator

from webdataset.utils import pytorch_worker_info


class Episodes:
    """A stream stage: encoded samples in, the same samples with a ``context`` list out."""

    def __init__(self, k_max: int, seed: int, epoch: int, per_group: int = 8, max_groups: int = 256) -> None:
        self.k_max, self.seed, self.epoch = k_max, seed, epoch
        self.per_group, self.max_groups = per_group, max_groups

    def __call__(self, src: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        rank, _, worker, _ = pytorch_worker_info()
        rng = random.Random(f"episodes-{self.seed}-{self.epoch}-{rank}-{worker}")
        pools: OrderedDict[str, deque] = OrderedDict()
        for item in src:
            group = item["group"]
            pool = pools.pop(group, None) or deque(maxlen=self.per_group)
            pools[group] = pool  # most recently seen last
            if len(pools) > self.max_groups:
                pools.popitem(last=False)
            others = [c for c in pool if c["source"] != item["source"]]
            k = min(rng.randint(0, self.k_max), len(others))
            context = rng.sample(others, k)
            pool.append(item)
            yield {**item, "context": context}


def draw_context(candidates: list[dict[str, Any]], target: dict[str, Any], k: int, seed: str) -> list[dict[str, Any]]:
    """k pages of the target's group that are not the target's source, chosen by a generator
    seeded from ``seed`` and the target's key (evaluation: the same pages whatever the order)."""
    pool = sorted((c for c in candidates if c["group"] == target["group"] and c["source"] != target["source"]),
                  key=lambda c: c["key"])
    rng = random.Random(f"{seed}:{target['key']}")
    return rng.sample(pool, min(k, len(pool)))

"""Streaming training data: shards -> filtered, encoded, batched tensors, epoch by epoch.

The `shards` reader does the streaming (shard shuffle, split by node and worker, shuffle
buffer, decode); this module adds the trainer's per-epoch filters (variants kept, K-fold,
curriculum stage, progressive data dropout), applied to each sample's metadata *before* its
image is decoded, encoding to tensors and batching in DataLoader workers.

Every epoch has a fixed number of steps computed from the manifest, the same on every
rank: a rank's stream repeats its own shards until it has delivered them, so distributed
ranks see disjoint shards and finish the same number of steps (DDP needs both).
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset

from shards.schema import parse_key
from shards.storage.hashing import hash_unit
from shards.storage.reader import make_pipeline, resolve_urls

from .episodes import Episodes
from .inputs import InputSpec, collate


@dataclass(frozen=True)
class EpochFilter:
    """Which samples an epoch uses; None fields mean "no filter"."""

    max_variants: int = 0  # keep variants 0..k-1 of each source (0 = all): an augmentation factor
    fold_in: int | None = None  # keep only this fold (K-fold validation)
    fold_out: int | None = None  # drop this fold (K-fold training)
    max_difficulty: float | None = None  # curriculum stage
    keep_fraction: float = 1.0  # progressive data dropout
    seed: int = 0
    epoch: int = 0

    def __call__(self, meta: dict[str, Any]) -> bool:
        if self.max_variants and parse_key(meta["__key__"])[1] >= self.max_variants:
            return False
        if self.fold_in is not None and meta.get("fold") != self.fold_in:
            return False
        if self.fold_out is not None and meta.get("fold") == self.fold_out:
            return False
        if self.max_difficulty is not None and meta.get("difficulty", 0.0) > self.max_difficulty:
            return False
        if self.keep_fraction < 1.0:
            return hash_unit(f"{self.seed}:{self.epoch}:{meta['__key__']}") < self.keep_fraction
        return True


def _encode(spec: InputSpec, shard_ids: dict[str, int], src):
    for image, meta in src:
        item = spec.encode(image, meta)
        item["difficulty"] = torch.tensor(float(meta.get("difficulty", 0.0)))
        # which shard a sample came from: lets a run report each rank's data coverage
        item["shard"] = torch.tensor(shard_ids.get(Path(meta["__url__"]).name, -1))
        yield item


class _Repeat(IterableDataset):
    """Iterate a rank's pipeline pass after pass (each pass reshuffled) without end."""

    def __init__(self, build, passes: int | None):
        self.build, self.passes = build, passes

    def __iter__(self):
        for p in itertools.count() if self.passes is None else range(self.passes):
            n = 0
            for item in self.build(p):
                n += 1
                yield item
            if n == 0 and self.passes is None:
                # an endless loop over nothing would hang the trainer without a word
                raise RuntimeError("the training stream is empty for this worker/epoch: every sample was "
                                   "filtered out (fold, curriculum stage or data dropout) or no shard is left")


def sample_stream(shards: str | Path, split: str, spec: InputSpec, *,
                  seed: int, epoch: int, keep: Callable[[dict[str, Any]], bool], shuffle_buffer: int, on_error: str,
                  repeat: bool, split_nodes: bool = True, few_shot: int = 0) -> IterableDataset:
    """The encoded samples of one epoch (repeat=True: cycling over the rank's shards); ``keep``
    (e.g. an :class:`EpochFilter`) sees each sample's metadata before its image is decoded;
    ``few_shot`` > 0 gives each sample up to that many context pages of its group
    (train.data.episodes)."""

    shard_ids = {Path(u).name: i for i, u in enumerate(resolve_urls(shards, split))}

    def build(p: int):
        # the same epoch seed on every pass: a rank keeps its own shards for the whole epoch,
        # so ranks never overlap within an epoch (a repeat pass replays the same order)
        pipe = make_pipeline(shards, split, shuffle_buffer=shuffle_buffer, seed=seed,
                             epoch=epoch, handler=on_error, split_nodes=split_nodes, select=keep)
        pipe.append(partial(_encode, spec, shard_ids))
        if few_shot:
            pipe.append(Episodes(few_shot, seed, epoch))
        return iter(pipe)

    return _Repeat(build, None if repeat else 1)


class MixedStream(IterableDataset):
    """Several endless sample streams (one per shard set) mixed with fixed shares: webdataset's
    RandomMix, made deterministic. Each DataLoader worker draws which stream gives the next
    sample from its own generator, seeded by (seed, worker id), so a run's data order is a
    function of its seed, as with one set."""

    def __init__(self, streams: list[IterableDataset], weights: list[float], seed: int):
        self.streams, self.weights, self.seed = streams, weights, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(f"{self.seed}:{info.id if info is not None else 0}")
        its = [iter(s) for s in self.streams]
        picks = range(len(its))
        while True:
            yield next(its[rng.choices(picks, self.weights)[0]])


def loader(dataset: IterableDataset, batch_size: int, num_workers: int, seed: int = 0) -> DataLoader:
    # an explicit generator: otherwise the DataLoader draws its worker seed from the global
    # torch RNG, which would shift dropout's stream and break exact resume
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      persistent_workers=False, drop_last=False,
                      generator=torch.Generator().manual_seed(seed))


def steps_per_epoch(n_samples: int, batch_size: int, world: int, keep_fraction: float = 1.0) -> int:
    """Steps one rank takes per epoch: the manifest's samples over all ranks' batches."""
    return max(1, math.ceil(n_samples * keep_fraction / (batch_size * world)))


def epoch_batches(ds: IterableDataset, batch_size: int, num_workers: int, steps: int,
                  skip: int = 0, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Exactly `steps` batches of an endless stream, the first `skip` consumed unseen (resume)."""
    it = iter(loader(ds, batch_size, num_workers, seed))
    yield from itertools.islice(it, skip, steps)

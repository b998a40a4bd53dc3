"""Planning a job: split and fold per source, and the shard work units.

A work unit is (split, sorted chunk of sources, variant group) -> one shard. Variant v
belongs to group v // variants_per_group, so a source's variants spread over several
shards, and inside a shard they are written variant-major (every source's first variant,
then every source's second...), so copies of one page never sit next to each other.
Split and fold come from a hash of (seed, source id): never per variant, so no augmented
copy of a validation page is ever trained on, and adding sources never moves old ones.
With `split_by = "group"` the hash is of the source's group id instead (`augment.groups`),
so every page of a group lands in one split and one fold: whole groups are held out, and
few-shot evaluation sees only groups never trained on. A page that is its own group gets
the same split and fold under either setting.
"""
from __future__ import annotations

from dataclasses import dataclass

from shards.storage.hashing import hash_unit
from shards.storage.writer import shard_name

from .config import AugmentConfig
from .groups import SPLIT_BY, prefix_group
from .sources import SourcePair

MIN_CHUNKS = 8


@dataclass(frozen=True)
class Source:
    pair: SourcePair
    split: str
    fold: int | None
    group: str


@dataclass(frozen=True)
class ShardTask:
    """One work unit: build `name` from `sources` x `variants`."""

    split: str
    index: int
    group: int
    sources: tuple[Source, ...]
    variants: tuple[int, ...]

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index)


def assign_split(unit: str, seed: int, val_fraction: float, folds: int) -> tuple[str, int | None]:
    """('val', None) or ('train', fold in 0..folds-1), from the split unit alone: the source id,
    or its group id under `split_by = "group"`."""
    if hash_unit(f"{seed}:split:{unit}") < val_fraction:
        return "val", None
    return "train", int(hash_unit(f"{seed}:fold:{unit}") * folds)


def variant_groups(cfg: AugmentConfig) -> list[tuple[int, ...]]:
    vpg = cfg.variants_per_group
    return [tuple(range(g, min(g + vpg, cfg.factor))) for g in range(0, cfg.factor, vpg)]


def chunk_size(n_sources: int, cfg: AugmentConfig) -> int:
    """Sources per chunk: fill shards to `samples_per_shard`, but cut small jobs into at
    least MIN_CHUNKS chunks per split so their work still spreads over several workers.
    It depends on the inputs and config only, never on the number of workers."""
    per_source = min(cfg.variants_per_group, cfg.factor)
    return max(1, min(cfg.samples_per_shard // per_source, -(-n_sources // MIN_CHUNKS)))


def plan_tasks(pairs: list[SourcePair], cfg: AugmentConfig,
               page_groups: dict[str, str] | None = None) -> list[ShardTask]:
    """All work units for `pairs` (sorted by id) under `cfg`, in a fixed order. `page_groups`
    maps source id -> group (`augment.groups.assign_groups`); an id it lacks is grouped by
    its prefix (`augment.groups.prefix_group`)."""
    groups = variant_groups(cfg)
    page_groups = page_groups or {}
    tasks = []
    for split in ("train", "val"):
        sources = []
        for p in sorted(pairs, key=lambda p: p.source_id):
            group = page_groups.get(p.source_id) or prefix_group(p.source_id)
            s, f = assign_split(SPLIT_BY[cfg.split_by](p.source_id, group), cfg.seed, cfg.val_fraction, cfg.folds)
            if s == split:
                sources.append(Source(p, s, f, group))
        chunk = chunk_size(len(sources), cfg)
        for c, start in enumerate(range(0, len(sources), chunk)):
            part = tuple(sources[start:start + chunk])
            for g, variants in enumerate(groups):
                tasks.append(ShardTask(split, c * len(groups) + g, g, part, variants))
    return tasks

"""`manifest.json`: the index of a shard directory, merged from the shards' sidecars.

The manifest is the only file the trainer needs to plan an epoch: shards with their counts,
sizes and hashes, per-split totals, the number of source pairs (which picks the training
phase), the section-label vocabulary with counts per factor (``vocab``: ``token``,
``type``, ``role``, ``raw_token``, ``tag``), the accepted sources of each group per split
(``groups``: ``{"train": {"<group>": n, ...}, "val": {...}}``, `augment.groups`; absent
from manifests written before issue 20), reject counts, the job config, a fingerprint of
the inputs and the package versions its shards were written with (``versions``: package ->
versions, `shards.storage.versions`; absent from manifests written before issue 24). It is written
atomically and carries a format tag, its version and the sample schema version; another
version is refused with how to rebuild.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from ..schema import REBUILD, SCHEMA_VERSION, SPLITS, VOCAB_FACTORS
from . import atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "screen2section-shards"
MANIFEST_VERSION = 2


class ManifestError(ValueError):
    """A manifest that is missing, unreadable or of another format/version."""


def manifest_path(out: str | Path) -> Path:
    out = Path(out)
    return out if out.name == MANIFEST_NAME else out / MANIFEST_NAME


def _split_totals(sidecars: list[dict[str, Any]], sources: dict[str, int],
                  groups: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    totals = {}
    for split in SPLITS:
        mine = [s for s in sidecars if s.get("split") == split]
        totals[split] = {
            "shards": len(mine),
            "samples": sum(s["samples"] for s in mine),
            "bytes": sum(s["bytes"] for s in mine),
            "sources": int(sources.get(split, 0)),
        } | ({"groups": len(groups.get(split, {}))} if groups is not None else {})
    return totals


def _group_table(groups: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Every split, its groups sorted by name, counts as ints."""
    return {split: {g: int(n) for g, n in sorted(groups.get(split, {}).items())} for split in SPLITS}


def build_manifest(
    sidecars: Iterable[dict[str, Any]],
    *,
    sources: dict[str, int],
    rejects: dict[str, int] | None = None,
    config: dict[str, Any] | None = None,
    config_hash: str = "",
    input_fingerprint: str = "",
    stats: dict[str, Any] | None = None,
    groups: dict[str, dict[str, int]] | None = None,
    versions: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Merge shard sidecars into the manifest dict.

    `sources` holds `total`, `accepted`, `rejected` and per-split counts of source pairs;
    `groups`, when given, split -> group -> accepted sources (then each split's totals also
    count its groups); `versions`, when given, package -> the versions its shards were
    written with (`shards.storage.versions.gather` over the sidecars).
    """
    sidecars = sorted(sidecars, key=lambda s: s["shard"])
    vocab: dict[str, Counter[str]] = {f: Counter() for f in VOCAB_FACTORS}
    for s in sidecars:
        for f in VOCAB_FACTORS:
            vocab[f].update(s.get("vocab", {}).get(f, {}))
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "schema": SCHEMA_VERSION,
        "shards": [{k: v for k, v in s.items() if k != "vocab"} for s in sidecars],
        "splits": _split_totals(sidecars, sources, groups),
        "totals": {
            "shards": len(sidecars),
            "samples": sum(s["samples"] for s in sidecars),
            "bytes": sum(s["bytes"] for s in sidecars),
        },
        "sources": dict(sources),
        "vocab": {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in vocab.items()},
        "rejects": dict(sorted((rejects or {}).items())),
        "config": config or {},
        "config_hash": config_hash,
        "input_fingerprint": input_fingerprint,
        "stats": stats or {},
    } | ({"groups": _group_table(groups)} if groups is not None else {}) | (
        {"versions": versions} if versions is not None else {})


def boxes_warning(manifest: dict[str, Any]) -> str | None:
    """The line that says how many accepted sources have no located element, if any."""
    n = int(manifest.get("stats", {}).get("sources_without_boxes", 0))
    if not n:
        return None
    accepted = manifest.get("sources", {}).get("accepted", 0)
    return (f"warning: {n} of {accepted} accepted sources have no element with a box (no boxes file or "
            "data-bbox, or none usable), so their sections have no boxes; get boxes with "
            "`python -m augment render`, or pass --strict to refuse such sources")


def write_manifest(out: str | Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest atomically into `out`; return its path."""
    path = manifest_path(out)
    atomic.write_json(path, manifest)
    return path


def load_manifest(out: str | Path) -> dict[str, Any]:
    """Load and check a manifest (a directory or the file itself)."""
    path = manifest_path(out)
    if not path.exists():
        raise ManifestError(f"{path}: no manifest (is this a shard directory written by `augment run`?)")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"{path}: unreadable manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: format tag is {m.get('format') if isinstance(m, dict) else None!r}, "
                            f"expected {MANIFEST_FORMAT!r}")
    if m.get("version") != MANIFEST_VERSION or m.get("schema") != SCHEMA_VERSION:
        raise ManifestError(f"{path}: manifest version {m.get('version')!r} (sample schema {m.get('schema')!r}); "
                            f"this build reads manifest version {MANIFEST_VERSION}, schema {SCHEMA_VERSION}; {REBUILD}")
    if problems := shape_problems(m):
        raise ManifestError(f"{path}: " + "; ".join(problems[:10]) + ("; ..." if len(problems) > 10 else ""))
    return m


def plain_shard_name(name: Any) -> bool:
    """A shard file name inside the folder: no directory part, no `..`, no hidden or absolute path."""
    return (isinstance(name, str) and name.endswith(".tar") and not name.startswith(".")
            and not any(c in name for c in "/\\\0") and len(name) <= 255)


def shape_problems(m: dict[str, Any]) -> list[str]:
    """Every field a reader relies on that is missing or of the wrong type, and every shard name
    that is not a plain file name in the folder (`"../x.tar"` would read outside it)."""
    out = [f"'{k}' must be a JSON {t.__name__}" for k, t in (("shards", list), ("totals", dict), ("splits", dict),
                                                            ("sources", dict)) if not isinstance(m.get(k), t)]
    for i, row in enumerate(m.get("shards") if isinstance(m.get("shards"), list) else []):
        if not isinstance(row, dict):
            out.append(f"shards[{i}] must be an object")
            continue
        if not plain_shard_name(row.get("shard")):
            out.append(f"shards[{i}].shard {row.get('shard')!r} must be a plain '<name>.tar' file name in this folder")
        out += [f"shards[{i}] ({row.get('shard')!r}) lacks '{k}' or it is not a {t.__name__}"
                for k, t in (("samples", int), ("bytes", int), ("sha256", str)) if not isinstance(row.get(k), t)]
    if isinstance(m.get("totals"), dict) and not isinstance(m["totals"].get("samples"), int):
        out.append("'totals.samples' must be an integer")
    groups = m.get("groups", {})
    if not (isinstance(groups, dict) and all(isinstance(t, dict) and all(
            isinstance(g, str) and isinstance(n, int) for g, n in t.items()) for t in groups.values())):
        out.append("'groups' must map each split to {group: number of sources}")
    return out


def group_summary(manifest: dict[str, Any], head: int = 5) -> str | None:
    """The line `shards inspect` prints about groups (None for a manifest without them): how
    many, per split, how many have sources in both splits, and the `head` largest."""
    table = manifest.get("groups")
    if table is None:
        return None
    total: Counter[str] = Counter()
    for counts in table.values():
        total.update(counts)
    per_split = ", ".join(f"{split} {len(counts)}" for split, counts in table.items())
    both = len(set.intersection(*(set(c) for c in table.values()))) if table else 0
    largest = ", ".join(f"{g} {n}" for g, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:head])
    sizes = sorted(total.values())
    spread = f"sources per group {sizes[0]}-{sizes[-1]}, median {sizes[len(sizes) // 2]}; " if sizes else ""
    return (f"groups: {len(total)} ({per_split}; in both splits {both}); {spread}"
            f"largest: {largest or 'none'}")


def shard_paths(out: str | Path, manifest: dict[str, Any], split: str | None = None) -> list[Path]:
    """Absolute paths of the manifest's shards, optionally of one split, sorted by name."""
    base = manifest_path(out).parent
    return [base / s["shard"] for s in manifest["shards"] if split is None or s.get("split") == split]

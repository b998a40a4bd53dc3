"""Verification of a shard directory: hashes, counts, tar layout and sample schema.

`verify_dir` re-reads every byte: it recomputes each shard's sha256 and size, checks them
against the sidecar and the manifest, walks every tar member (flat names, regular files,
grouped by key, all three members present) and validates every sample's metadata. Each
problem is a message naming the shard (and the key); an empty list means all is well.
`versions_warning` is not a problem: it says when the shards were written with other package
versions than this environment's (`shards.storage.versions`), so a rebuild here may differ in bytes.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..schema import validate_members, validate_meta
from . import versions
from .manifest import ManifestError, load_manifest, manifest_path
from .tario import ShardFormatError, iter_tar_samples
from .writer import SidecarError, is_shard_name, read_sidecar


class _HashingReader:
    """A read-only file wrapper that hashes and counts what is read through it."""

    def __init__(self, fh: Any):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _check_samples(path: Path, reader: _HashingReader) -> tuple[list[str], int, list[str]]:
    problems, keys = [], []
    try:
        for key, members in iter_tar_samples(reader, path.name):
            keys.append(key)
            member_problems = validate_members(key, sorted(members))
            problems += [f"{path.name}: {p}" for p in member_problems]
            if "json" in members:
                try:
                    meta = json.loads(members["json"])
                    problems += [f"{path.name}: {p}" for p in validate_meta(key, meta)]
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    problems.append(f"{path.name}: sample {key}: json member does not parse ({e})")
    except ShardFormatError as e:
        problems.append(str(e))
    return problems, len(keys), keys


def verify_shard(path: str | Path, expected: dict[str, Any] | None = None) -> list[str]:
    """Every problem of one shard against its sidecar (and `expected`, e.g. a manifest row)."""
    path = Path(path)
    if not path.exists():
        return [f"{path.name}: shard file is missing"]
    try:
        sidecar = read_sidecar(path)
    except SidecarError as e:
        return [f"{e} (torn or edited: rerun `augment run` with the same command to rebuild the shard)"]
    if sidecar is None:
        return [f"{path.name}: no sidecar {path.name}.json (the shard was never completed)"]
    with open(path, "rb") as fh:
        reader = _HashingReader(fh)
        problems, count, keys = _check_samples(path, reader)
        reader.drain()
    actual = {"sha256": reader.sha.hexdigest(), "bytes": reader.size, "samples": count}
    for label, ref in (("sidecar", sidecar), ("manifest", expected)):
        for field_name, value in actual.items():
            if ref is not None and ref.get(field_name) != value:
                problems.append(f"{path.name}: {field_name} is {value}, {label} says {ref.get(field_name)}")
    if keys and (sidecar.get("first_key"), sidecar.get("last_key")) != (keys[0], keys[-1]):
        problems.append(f"{path.name}: first/last key {keys[0]}/{keys[-1]} differ from the sidecar")
    return problems


def verify_dir(out: str | Path) -> list[str]:
    """Every problem of a shard directory (empty list: verified)."""
    try:
        manifest = load_manifest(out)
    except ManifestError as e:
        return [str(e)]
    base = manifest_path(out).parent
    problems = []
    listed = set()
    for row in manifest["shards"]:
        listed.add(row["shard"])
        problems += verify_shard(base / row["shard"], row)
    # shard-named files only: a user's notes.tar in the folder is none of ours
    for extra in sorted(p.name for p in base.glob("*.tar") if p.name not in listed and is_shard_name(p.name)):
        problems.append(f"{extra}: shard on disk is not in the manifest")
    totals = sum(r["samples"] for r in manifest["shards"])
    if totals != manifest["totals"]["samples"]:
        problems.append(f"manifest: totals.samples is {manifest['totals']['samples']}, shards add up to {totals}")
    return problems


def versions_warning(out: str | Path) -> str | None:
    """The warning line when the manifest's shards were written with other package versions
    than this environment's (None when they were not, or the manifest predates recording them)."""
    try:
        manifest = load_manifest(out)
    except ManifestError:
        return None  # verify_dir reports it
    return versions.warning(
        f"{manifest_path(out)}: its shards", versions.drift(manifest.get("versions")),
        "They verify as written; `augment run` with this environment into a new --out rebuilds them with its versions.")

"""`augment replay OUT KEY`: rebuild one sample from its source pair and its record.

The sample's JSON lists every applied op with its exact parameters; replay re-applies
them to the source page (no random draws at all) and compares the three members byte
for byte with what the shard holds, so a user can trust that the record is complete. A
sample re-rendered from its snapshot (`augment run --rerender`) is re-rendered again, from
the same `<id>.mhtml`.
A key, source or folder that cannot be found is a `ReplayError` naming it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from shards.schema import parse_key, sample_group
from shards.storage.manifest import load_manifest, shard_paths
from shards.storage.tario import iter_tar_samples
from shards.storage.writer import encode_members

from .config import AugmentConfig
from .pipeline import build_sample, replay_page
from .render.rerender import rerender_hook
from .render.snapshot import SnapshotError, read_snapshot, snapshot_path
from .sources import discover, load_pair


class ReplayError(ValueError):
    """The sample or its source cannot be found; the message names the key, folder or file."""


@dataclass
class ReplayResult:
    key: str
    shard: str
    members: dict[str, bool]

    @property
    def identical(self) -> bool:
        return all(self.members.values())

    def text(self) -> str:
        parts = ", ".join(f"{m}: {'same' if ok else 'DIFFERENT'}" for m, ok in sorted(self.members.items()))
        verdict = "bytes match" if self.identical else "bytes differ"
        return f"{self.key} (in {self.shard}): {verdict} ({parts})"


def find_sample(out: str | Path, key: str) -> tuple[str, dict[str, bytes]]:
    """(shard name, raw members) of `key`, scanning the manifest's shards."""
    manifest = load_manifest(out)
    for path in shard_paths(out, manifest):
        with open(path, "rb") as fh:
            for k, members in iter_tar_samples(fh, path.name):
                if k == key:
                    return path.name, members
    raise ReplayError(f"{out}: no sample with key {key!r} in its {len(manifest['shards'])} shards "
                      "(`python -m shards inspect` lists the splits; keys look like <source id>_v<NN>)")


def _config(manifest: dict) -> AugmentConfig:
    names = {f.name for f in dataclasses.fields(AugmentConfig)}
    return AugmentConfig(**{k: v for k, v in manifest["config"].items() if k in names})


def replay(out: str | Path, key: str, input_dir: str | Path | None = None) -> ReplayResult:
    """Rebuild `key` and compare it with the stored sample."""
    manifest = load_manifest(out)
    source_id, variant = parse_key(key)
    shard, stored = find_sample(out, key)
    meta = json.loads(stored["json"])
    if not (input_dir or manifest.get("input")):
        raise ReplayError(f"{out}: the manifest records no source folder; pass --input with the folder given to "
                          "`augment run`")
    folder = Path(input_dir or manifest["input"])
    if not folder.is_dir():
        raise ReplayError(f"{folder}: the source folder of {key} is not a directory; pass --input with the folder "
                          "given to `augment run`")
    pairs, _ = discover(folder, follow_symlinks=True)  # the one source asked for, read to compare, never shipped
    pair = next((p for p in pairs if p.source_id == source_id), None)
    if pair is None:
        raise ReplayError(f"{folder}: no source pair with id {source_id!r}")
    cfg = _config(manifest)
    hook = None
    if any(o["op"] == "rerender" for o in meta["ops"]):
        try:
            hook = rerender_hook(read_snapshot(snapshot_path(pair.html)))
        except SnapshotError as e:
            raise ReplayError(f"{key} was re-rendered from its snapshot, which cannot be read now: {e}") from None
    page = replay_page(load_pair(pair, cfg.max_pixels), meta["ops"], hook)
    rebuilt = encode_members(build_sample(page, variant, cfg, meta["split"], meta["fold"], group=sample_group(meta)))
    members = {ext: rebuilt.get(ext) == data for ext, data in stored.items()}
    return ReplayResult(key, shard, members)

"""What `--out` already holds, and what a rerun of `augment run` may keep of it.

A rerun keeps every shard whose sidecar matches its bytes and the job's hash (`existing_state`);
the hash covers the config and `input_fingerprint`, every input file's name and content. A
shard of another plan or config is a conflict (replaced only with `--overwrite`); files the job
did not write are left alone and named (`foreign_files`); kept shards built under other package
versions are named in a warning (`kept_versions_note`).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from shards.storage import atomic, versions
from shards.storage.images import max_file_bytes
from shards.storage.lock import LOCK_NAME
from shards.storage.manifest import MANIFEST_NAME
from shards.storage.writer import SidecarError, file_sha256, is_shard_name, read_sidecar, sidecar_path
from shards.tokens.htmlparse import MAX_HTML_BYTES

from .config import AugmentConfig
from .groups import MAX_GROUPS_BYTES
from .plan import ShardTask
from .render.snapshot import MAX_SNAPSHOT_BYTES, snapshot_path
from .sources import MAX_BOXES_BYTES, SourcePair

REJECTS_NAME = "rejects.jsonl"
OWN_FILES = (MANIFEST_NAME, REJECTS_NAME, LOCK_NAME, "contact_sheet.png")  # besides shards and sidecars


def input_fingerprint(pairs: list[SourcePair], max_pixels: int = AugmentConfig.max_pixels,
                      groups_file: Path | None = None, snapshots: bool = False) -> str:
    """sha256 over every input file's name and content (what a rerun must match), each pair's
    snapshot with `snapshots` (`rerender`), the `groups_file` (`groups.json`) last when there is
    one. A file that cannot be read, or is larger than its kind may be (it is rejected unread),
    enters with its name and size or error instead."""
    h = hashlib.sha256()
    files = [(f, limit) for p in sorted(pairs, key=lambda p: p.source_id)
             for f, limit in [(p.image, max_file_bytes(max_pixels)), (p.html, MAX_HTML_BYTES),
                              (p.boxes, MAX_BOXES_BYTES)]
             + [(snap, MAX_SNAPSHOT_BYTES) for snap in ([snapshot_path(p.html)] if snapshots and p.html else [])
                if snap.is_file()]]
    for f, limit in files + [(groups_file, MAX_GROUPS_BYTES)]:
        if f is None:
            continue
        h.update(f.name.encode("utf-8"))
        try:
            size = f.stat().st_size
            if size > limit:
                h.update(f"oversize:{size}".encode())
                continue
            with open(f, "rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        except OSError as e:
            h.update(f"unreadable:{e.errno}".encode())
    return h.hexdigest()


def existing_state(out: Path, tasks: list[ShardTask], job_hash: str) -> tuple[dict[str, dict], list[str]]:
    """(done sidecars by shard name, conflicts): what a rerun can keep and what it must not mix.

    Only files named like this job's shards count; a sidecar that does not parse is not done
    (its shard is rebuilt when planned). A shard of another plan is a conflict."""
    done, conflicts = {}, []
    planned = {t.name for t in tasks}
    names = sorted({p.name[: -len(".json")] if p.name.endswith(".json") else p.name
                    for p in out.iterdir() if is_shard_name(p.name.removesuffix(".json"))})
    for name in names:
        try:
            info = read_sidecar(out / name)
        except SidecarError:
            info = None
        if name not in planned or (info is not None and info.get("config_hash") != job_hash):
            conflicts.append(name)
        elif info is not None and (out / name).exists() and file_sha256(out / name) == (info["sha256"], info["bytes"]):
            done[name] = info
    return done, conflicts


def foreign_files(out: Path) -> list[str]:
    """Names in `out` this job did not write (left alone)."""
    return sorted(p.name for p in out.iterdir()
                  if not (is_shard_name(p.name.removesuffix(".json")) or p.name in OWN_FILES
                          or atomic.is_own_temp(p.name)))


def clear_conflicts(out: Path, names: list[str]) -> None:
    for name in names:
        for p in (out / name, sidecar_path(out / name)):
            p.unlink(missing_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)


def kept_versions_note(out: Path, done: dict[str, dict]) -> str | None:
    """The warning for shards kept from a run under other package versions (None if none)."""
    now = versions.current()
    odd = [s for s in done.values() if versions.drift(versions.gather([s.get("versions")]), now)]
    rows = versions.drift(versions.gather(s.get("versions") for s in odd), now)
    return versions.warning(
        f"--out {out}: {len(odd)} of the {len(done)} shard(s) kept from an earlier run", rows,
        "This run keeps them and builds the rest with this environment's versions; for one set "
        "of versions throughout, run into a new --out.")

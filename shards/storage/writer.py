"""The deterministic shard writer.

A plain USTAR tar with a fixed mtime, owner and mode, so the same samples in the same
order give byte-identical tars: the very bytes `webdataset.TarWriter` writes (members of
a sample in sorted extension order, `tarfile` headers, the end-of-archive blocks padded
to a 10240-byte record), written here in three pieces per member (header, data, padding)
instead of `tarfile`'s 10 kB stream chunks, each hashed (sha256, for the sidecar) as it
goes: 1.7x the write rate of going through `TarWriter` (benchmarks/shard_io). A shard is
written under a temporary name and renamed when complete; its sidecar `<shard>.json` is
written after the rename and is the "done" marker: a shard without a sidecar is
incomplete, whatever its size.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterable

import orjson

from ..schema import IMAGE_EXTS, VOCAB_FACTORS, Sample, SchemaError, parse_key, section_factors
from . import atomic

TAR_MTIME = 0
TAR_USER = TAR_GROUP = "s2s"
TAR_MODE = 0o444
SIDECAR_SUFFIX = ".json"
SHARD_NAME_RE = re.compile(r"^(train|val)-\d{6,}\.tar$")  # what `shard_name` makes
_END = tarfile.NUL * (2 * tarfile.BLOCKSIZE)  # two zero blocks end the archive


class SidecarError(ValueError):
    """A sidecar that exists but does not parse (torn or edited); the message names it."""


def sidecar_path(shard: str | Path) -> Path:
    """`train-000000.tar` -> `train-000000.tar.json`."""
    return Path(str(shard) + SIDECAR_SUFFIX)


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:06d}.tar"


def is_shard_name(name: str) -> bool:
    """Whether `name` is one `shard_name` makes (a job touches no other file as a shard)."""
    return bool(SHARD_NAME_RE.match(name))


class _HashingFile:
    """A write-only file object that hashes and counts what passes through it.

    The sha256 runs on a thread of its own, beside the writes: hashlib and the file's write
    both release the GIL on large buffers, so hashing an image overlaps writing it (and
    encoding the next sample). Pieces are hashed in the order written (one worker takes
    them first in, first out); small ones (headers, padding) are joined first, since hashlib
    keeps the GIL under 2 KiB. At most BACKLOG bytes wait to be hashed, so a slow hash holds
    back the writer instead of memory. `digest()` waits for the hash to catch up.
    """

    JOIN = 64 << 10  # pieces below this are gathered before hashing
    BACKLOG = 64 << 20
    # Early writeback: every SYNC_EVERY bytes a thread of its own asks the kernel to write what
    # has reached the file so far (fdatasync; one at a time), so the shard's closing fsync
    # (atomic_open) finds little left to write, instead of all of it at the end.
    SYNC_EVERY = 8 << 20

    def __init__(self, fh: Any):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(1, thread_name_prefix="shard-sha256")
        self._small = bytearray()
        self._queued: deque[tuple[Future, int]] = deque()
        self._backlog = 0
        self._syncer: ThreadPoolExecutor | None = None
        self._sync: Future | None = None
        self._unsynced = 0

    def write(self, data: bytes) -> int:
        if self.fh is None:  # aborted: tarfile's finalizer may still flush; drop it
            return len(data)
        n = len(data)
        if n < self.JOIN:
            self._small += data
            if len(self._small) >= self.JOIN:
                self._hash_small()
        else:
            self._hash_small()
            self._submit(data if isinstance(data, bytes) else bytes(data))  # bytes: nobody can change it meanwhile
        self.size += n
        written = self.fh.write(data)
        self._unsynced += n
        if self._unsynced >= self.SYNC_EVERY and (self._sync is None or self._sync.done()):
            self._writeback()
        return written

    def _writeback(self) -> None:
        if self._sync is not None:
            self._sync.result()  # an error of the last writeback (ENOSPC, EIO) surfaces here
        self.fh.flush()
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="shard-writeback")
        self._sync, self._unsynced = self._syncer.submit(os.fdatasync, self.fh.fileno()), 0

    def _hash_small(self) -> None:
        if self._small:
            self._submit(bytes(self._small))
            self._small.clear()

    def _submit(self, data: bytes) -> None:
        assert self._pool is not None, "write after digest"
        self._queued.append((self._pool.submit(self.sha.update, data), len(data)))
        self._backlog += len(data)
        while self._backlog > self.BACKLOG:
            future, n = self._queued.popleft()
            future.result()
            self._backlog -= n

    def digest(self) -> str:
        """The sha256 hex digest of everything written; no more writes after it."""
        self._hash_small()
        self.close()
        return self.sha.hexdigest()

    def close(self) -> None:
        """Wait for the hash and the writeback to catch up (or drop them when aborted) and end their threads."""
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)
            self._syncer = None
            if self._sync is not None and self.fh is not None:
                self._sync.result()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=self.fh is None)
            self._pool = None
            for future, _ in self._queued:  # an error of the hash itself (none is expected) surfaces here
                if not future.cancelled():
                    future.result()
            self._queued.clear()

    def flush(self) -> None:
        """Flush to the file and wait for a writeback in flight (the file may be closed next)."""
        if self.fh is not None:
            self.fh.flush()
        if self._sync is not None:
            self._sync.result()


def encode_members(sample: Sample) -> dict[str, Any]:
    """The webdataset dict for one sample; refuses keys and extensions outside the contract."""
    parse_key(sample.key)
    if sample.image_ext not in IMAGE_EXTS:
        raise SchemaError(f"sample {sample.key}: image extension {sample.image_ext!r} not in {IMAGE_EXTS}")
    return {
        "__key__": sample.key,
        sample.image_ext: sample.image,
        "html": sample.html.encode("utf-8"),
        "json": dumps_meta(sample.meta).encode("utf-8"),
    }


def dumps_meta(meta: dict[str, Any]) -> str:
    """A sample's JSON: canonical (sorted keys) and compact.

    Not `atomic.dumps_json`: any `indent` makes `json` fall back from its C encoder to the
    pure-Python one, ~25 ms for a page's element list, which made JSON the most expensive
    part of writing a shard (benchmarks/shard_io). Nobody reads these by eye.
    """
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


# 1-9 -> 0: a run of 19 zeros in the translated text is an integer orjson would not keep exact
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def loads_meta(data: bytes | str) -> Any:
    """A sample's JSON parsed: exactly what `json.loads` returns (or raises), ~2.3x faster.

    orjson parses the JSON `dumps_meta` writes to the same objects as `json`, in 250 instead
    of 560 us a sample (the element list is most of the text; benchmarks/shard_io). Where
    the two differ, `json` decides: orjson turns an integer of more than 64 bits into a
    float (so a text with a run of 19+ digits goes to `json`), and refuses what `json`
    accepts or refuses with its own message (NaN, Infinity, lone surrogates, a BOM).
    (Not for writing: orjson spells 1e-05 as 0.00001 and NaN as null, so its output
    would not be `dumps_meta`'s bytes.)
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_NUMBER not in raw.translate(_DIGITS):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


class ShardWriter:
    """Write one shard atomically; `close()` renames it and writes the sidecar.

    Use as a context manager: an exception inside the block leaves neither shard nor
    sidecar behind.
    """

    def __init__(self, path: str | Path, config_hash: str = "", split: str | None = None):
        self.path = Path(path)
        self.config_hash, self.split = config_hash, split
        self.keys: list[str] = []
        self._keyset: set[str] = set()
        self.info: dict[str, Any] | None = None
        self.sources: set[str] = set()
        self.vocab: dict[str, Counter[str]] = {f: Counter() for f in VOCAB_FACTORS}
        self._cm = atomic.atomic_open(self.path, "wb")
        self._hashing = _HashingFile(self._cm.__enter__())

    def write(self, sample: Sample) -> None:
        """Append one sample; keys must be unique within the shard."""
        members = encode_members(sample)
        if sample.key in self._keyset:
            raise SchemaError(f"{self.path.name}: duplicate key {sample.key!r}")
        try:
            for ext in sorted(k for k in members if k != "__key__"):
                self._add(f"{sample.key}.{ext}", members[ext])
        except OSError as e:
            raise atomic.with_path(e, self.path) from e
        self.keys.append(sample.key)
        self._keyset.add(sample.key)
        self.sources.add(parse_key(sample.key)[0])
        for section in sample.meta.get("sections", []):
            for factor, value in section_factors(section):
                self.vocab[factor][value] += 1

    def _add(self, name: str, data: bytes) -> None:
        """One member: what `tarfile.TarFile.addfile` writes for it, in three writes."""
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.uname, ti.gname = len(data), TAR_MTIME, TAR_MODE, TAR_USER, TAR_GROUP
        self._hashing.write(ti.tobuf(tarfile.USTAR_FORMAT, tarfile.ENCODING, "surrogateescape"))
        self._hashing.write(data)
        if len(data) % tarfile.BLOCKSIZE:
            self._hashing.write(tarfile.NUL * (tarfile.BLOCKSIZE - len(data) % tarfile.BLOCKSIZE))

    def _finish_tar(self) -> None:
        """The end-of-archive blocks, padded to a whole record (as `tarfile.TarFile.close`)."""
        self._hashing.write(_END)
        if self._hashing.size % tarfile.RECORDSIZE:
            self._hashing.write(tarfile.NUL * (tarfile.RECORDSIZE - self._hashing.size % tarfile.RECORDSIZE))
        self._hashing.flush()

    def close(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish the tar, rename it into place, write and return the sidecar.

        `extra` adds job-level fields (rejects, counters) to the sidecar.
        """
        try:
            self._finish_tar()
        except OSError as e:  # the last blocks did not fit: drop the partial shard
            self.abort()
            raise atomic.with_path(e, self.path) from e
        self._cm.__exit__(None, None, None)
        info = {
            "shard": self.path.name,
            "split": self.split,
            "samples": len(self.keys),
            "bytes": self._hashing.size,
            "sha256": self._hashing.digest(),
            "first_key": self.keys[0] if self.keys else None,
            "last_key": self.keys[-1] if self.keys else None,
            "config_hash": self.config_hash,
            "sources": len(self.sources),
            "vocab": {f: dict(sorted(c.items())) for f, c in self.vocab.items()},
            **(extra or {}),
        }
        atomic.write_json(sidecar_path(self.path), info)
        self.info = info
        return info

    def abort(self) -> None:
        """Drop the partial shard: nothing appears under its name."""
        self._hashing.fh = None
        self._hashing.close()
        err = RuntimeError(f"{self.path.name}: write aborted")
        # atomic_open removes its temporary file when an exception is thrown into it
        self._cm.__exit__(RuntimeError, err, None)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_shard(path: str | Path, samples: Iterable[Sample], config_hash: str = "",
                split: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `samples` into the shard `path`; return its sidecar dict."""
    w = ShardWriter(path, config_hash, split)
    try:
        for s in samples:
            w.write(s)
    except BaseException:
        w.abort()
        raise
    return w.close(extra)


def read_sidecar(shard: str | Path) -> dict[str, Any] | None:
    """The sidecar of `shard`, or None when the shard is not done; SidecarError when it does not parse."""
    p = sidecar_path(shard)
    if not p.exists():
        return None
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SidecarError(f"{p.name}: sidecar does not parse ({type(e).__name__}: {str(e)[:120]})") from None
    if not isinstance(info, dict):
        raise SidecarError(f"{p.name}: sidecar is a JSON {type(info).__name__}, not an object")
    return info


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> tuple[str, int]:
    """(sha256 hex, size) of a file, read in chunks."""
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            sha.update(block)
            size += len(block)
    return sha.hexdigest(), size


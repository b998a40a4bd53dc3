"""Atomic file writes: a reader never sees a half-written file under its final name.

Every file the project writes as an output (shards, sidecars, manifest, checkpoints) goes
through here: the bytes land in a temporary file in the same directory (so the rename
stays on one filesystem), are fsynced, then `os.replace`d over the final name.

Temporary files are named `.tmp-<final name>.<8 random chars>.s2s`, so a job recognises its
own leftovers (`is_own_temp`) and never deletes a user's `.tmp-notes.txt`. They take the
mode an ordinary `open()` would give (0666 less the umask), not `mkstemp`'s 0600: shared
filesystems (Dask, multi-node training) need the outputs readable by the other users.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

TMP_PREFIX = ".tmp-"
TMP_SUFFIX = ".s2s"
_OWN_TEMP = re.compile(r"^\.tmp-.+\.[A-Za-z0-9_]{8}\.s2s$")  # mkstemp's random part is 8 of [a-z0-9_]


def is_own_temp(name: str) -> bool:
    """Whether `name` is a temporary file written by this module (not a user's `.tmp-*` file)."""
    return bool(_OWN_TEMP.match(name))


def current_umask() -> int:
    """The process umask, read without changing it where /proc says it (Linux >= 4.7)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but only a fallback)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path`; on clean exit fsync and rename it to `path`.

    On an exception the temporary file is removed and nothing appears under `path`.
    A process killed mid-write leaves only a `.tmp-*.s2s` file, which no reader counts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise with_path(e, path) from e
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def with_path(e: OSError, path: str | Path) -> OSError:
    """`e` naming `path` (a disk-full error from a write names no file otherwise)."""
    if e.filename is not None:
        return e
    return type(e)(e.errno, f"{e.strerror or e} while writing {path}", str(path))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def dumps_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, fixed separators, so equal objects give equal bytes."""
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as canonical JSON to `path` atomically."""
    write_bytes(path, dumps_json(obj).encode("utf-8"))


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Delete temporary files left by killed writers of this module (and nothing else: a user's
    `.tmp-notes.txt` stays); return what was removed. Call it only while holding the folder's
    lock (`shards.storage.lock`), or it could remove a running job's files."""
    removed = []
    for p in sorted(Path(directory).glob(TMP_PREFIX + "*" + TMP_SUFFIX)):
        if not is_own_temp(p.name):
            continue
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed

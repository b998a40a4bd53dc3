"""Atomic file writes: a reader never sees a half-written file under its final name.

Every file the project writes as an output (shards, sidecars, manifest, checkpoints) goes
through here: the bytes land in a temporary file in the same directory (so the rename
stays on one filesystem), are fsynced, then `os.replace`d over the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary sibling of `path`; on clean exit fsync and rename it to `path`.

    On an exception the temporary file is removed and nothing appears under `path`.
    A process killed mid-write leaves only a `.tmp-*` file, which no reader counts.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
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
    """Delete temporary files left by killed writers; return what was removed."""
    removed = []
    for p in sorted(Path(directory).glob(TMP_PREFIX + "*")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed.append(p)
    return removed

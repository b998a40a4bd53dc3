"""One job per output folder: an advisory lock file that names its holder.

`hold(folder, job)` takes `<folder>/.s2s-lock` for the duration of a block: `augment run`
and `augment render` on `--out`, `train fit` on `--run`. A second job on the same folder
is refused at once with `LockBusy`, whose message names the holder (command, pid, host,
start time) and the lock file. The lock is an `flock` on the file, so the kernel releases it
when the holder exits in any way, even SIGKILL: a lock file left by a dead process is
simply taken over (and logged). The file's JSON content is only there to name the holder;
it is removed when the holder finishes.

flock works between processes of one machine and, on Linux, over NFSv4 (emulated with
POSIX locks). On a filesystem without locks the job runs unlocked, with a warning.
Descriptors are not inherited across `exec` (PEP 446), so loky and Dask workers never hold
the lock; processes *forked* without exec (a DataLoader's workers) share it while they live.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCK_NAME = ".s2s-lock"
log = logging.getLogger(__name__)


class LockBusy(RuntimeError):
    """Another job holds the folder; the message names it and what to do."""

    def __init__(self, message: str, holder: dict[str, Any]):
        super().__init__(message)
        self.holder = holder


def lock_path(folder: str | Path) -> Path:
    return Path(folder) / LOCK_NAME


def _read(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 65536, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    """`augment run, pid 123 on host-a since 2026-01-01T10:00:00+00:00` (or what is known of it)."""
    if not holder.get("pid"):
        return "a job that has not yet written its details"
    return (f"{holder.get('job', 'a job')}, pid {holder['pid']} on {holder.get('host', '?')} "
            f"since {holder.get('started', '?')}")


def _me(job: str) -> dict[str, Any]:
    return {"job": job, "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "argv": sys.argv}


def _acquire(path: Path, job: str, what: str) -> int | None:
    """The locked descriptor of `path` (None: the filesystem has no locks)."""
    for _ in range(20):  # a holder unlinking the file between our open and our flock: try again
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise LockBusy(f"{what} {path.parent}: in use by {describe(holder)}; wait for it to finish or use "
                           f"another folder (lock file {path})", holder) from None
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                log.warning("%s %s: this filesystem does not support locks (%s); nothing stops a second job "
                            "from writing here at the same time", what, path.parent, e.strerror)
                return None
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
    raise LockBusy(f"{what} {path.parent}: the lock file {path} keeps changing; is another job starting?", {})


@contextlib.contextmanager
def hold(folder: str | Path, job: str, what: str = "--out") -> Iterator[dict[str, Any]]:
    """Hold `folder`'s lock for the block (the folder must exist); yield our holder record.

    `what` names the setting in messages (`--out`, `--run`). Raises `LockBusy` when a live
    job holds it; takes over, with an info log line, a lock left by a job that died.
    """
    path = lock_path(folder)
    fd = _acquire(path, job, what)
    me = _me(job)
    if fd is None:
        yield me
        return
    try:
        previous = _read(fd)
        if previous.get("pid"):
            log.info("%s %s: took over the lock of %s, which is no longer running", what, folder, describe(previous))
        data = (json.dumps(me, sort_keys=True) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        yield me
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # before unlocking: a waiting job then re-opens a fresh file
        os.close(fd)

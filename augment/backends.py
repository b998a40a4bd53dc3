"""Where `augment run` sends its shard work units: one registry of execution backends.

Each backend is a context manager that makes a joblib backend current, so `job.py` runs
the same `Parallel(...)(delayed(build_shard)(...))` under any of them and the bytes never
depend on the backend (a shard's content depends only on its task, config and seed).

Every backend is called as `(out, backend, jobs, scheduler)`: the run options it needs
(see `augment.run_options`), as plain values so that this module imports nothing of augment.

* `loky` (default) and `threading`: joblib's own pools on this machine, `jobs` workers.
* `dask`: joblib's Dask backend. With `scheduler` it connects to an existing cluster and
  uses all of its workers; without, it starts a `distributed.LocalCluster` of `jobs`
  single-threaded worker processes and closes it afterwards. The output directory must be
  on a filesystem every worker can write; this is checked on every worker before any work
  is sent. A worker lost mid-shard leaves only a `.tmp-*.s2s` file (writes are atomic);
  Dask reschedules the task on another worker, and if it gives up a rerun builds the
  missing shards.

Dask is an optional extra and is imported only when `dask` is asked for.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

from joblib import cpu_count, parallel_config

from shards.storage.atomic import TMP_PREFIX, TMP_SUFFIX

DASK_INSTALL = "pip install -e .[dask]"
CONNECT_TIMEOUT = "30s"  # how long to wait for --scheduler before giving up


class BackendError(RuntimeError):
    """A backend that cannot start; the message names the setting and what to do."""


def worker_count(jobs: int) -> int:
    """`jobs` as joblib reads it: negative counts back from the number of cores (-1 = all)."""
    return jobs if jobs > 0 else max(cpu_count() + 1 + jobs, 1)


@contextlib.contextmanager
def _joblib_pool(out: Path, backend: str, jobs: int, scheduler: str | None) -> Iterator[None]:
    with parallel_config(backend=backend, n_jobs=jobs):
        yield


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:
        raise BackendError(f"--backend dask: the Dask extra is not installed ({e.name} missing); "
                           f"install it with `{DASK_INSTALL}`") from None
    return distributed


def can_write(out: str, probe: str) -> bool:
    """Run on a worker: does it see `probe` in `out` (the same filesystem) and may it write there?"""
    return os.path.exists(os.path.join(out, probe)) and os.access(out, os.W_OK)


def check_shared_output(client: Any, out: Path) -> None:
    """Refuse to start when any worker cannot see or write `out` (it would lose its shards)."""
    probe = f"{TMP_PREFIX}probe.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"  # removed by a rerun if we die
    (out / probe).touch()
    try:
        answers = client.run(can_write, str(out), probe)
    finally:
        (out / probe).unlink(missing_ok=True)
    if not answers:
        raise BackendError(f"--scheduler {client.scheduler.address}: the cluster has no workers")
    blind = sorted(addr for addr, ok in answers.items() if not ok)
    if blind:
        raise BackendError(f"--out {out}: not writable or not the same directory on Dask worker(s) "
                           f"{', '.join(blind)}; put the output on a filesystem shared by every worker")


@contextlib.contextmanager
def _connect(jobs: int, scheduler: str | None, distributed: Any) -> Iterator[Any]:
    """A Dask client: to `scheduler`, or to a LocalCluster of `jobs` worker processes."""
    if scheduler:
        logging.getLogger("distributed").setLevel(logging.ERROR)
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:
            raise BackendError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler ({e})") from None
        with client:
            yield client
        return
    # processes, one thread each: the work is CPU-bound Python + OpenCV, so threads would share the GIL
    cluster = distributed.LocalCluster(n_workers=worker_count(jobs), threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, distributed.Client(cluster) as client:
        yield client


def _joblib_dask_backend() -> Any:
    """joblib's Dask backend, reporting tasks that Dask itself fails instead of waiting on them.

    joblib (1.6) completes a Parallel task only from a result; when Dask fails the task
    (KilledWorker: the workers running it died `allowed-failures` + 1 times), the future
    ends in error, no callback runs and Parallel waits forever. Here the error is handed
    to the callback as the task's outcome, so Parallel raises it like any task error.
    """
    from joblib._dask import DaskDistributedBackend

    class Backend(DaskDistributedBackend):
        async def _collect(self) -> None:
            while self._continue:
                async for future, result in self.waiting_futures:
                    done, callback = self._results.pop(future), self._callbacks.pop(future)
                    outcome = result[1] if future.status == "error" else result  # error: (type, exc, tb)
                    if future.status == "error":
                        done.set_exception(outcome)
                    else:
                        done.set_result(outcome)
                    callback(outcome)
                await asyncio.sleep(0.01)

    return Backend()


@contextlib.contextmanager
def _dask(out: Path, backend: str, jobs: int, scheduler: str | None) -> Iterator[None]:
    distributed = _import_distributed()
    with _connect(jobs, scheduler, distributed) as client:
        check_shared_output(client, out)
        try:
            # n_jobs=-1: as many tasks in flight as the cluster has worker threads
            with parallel_config(backend=_joblib_dask_backend(), n_jobs=-1):
                yield
        except distributed.KilledWorker as e:
            raise BackendError(f"--backend dask: the cluster gave up on a shard after losing the workers that "
                               f"built it ({e}); finished shards are kept, rerun the same command to build the "
                               "rest") from None


BACKENDS: dict[str, Callable[[Path, str, int, str | None], ContextManager[None]]] = {
    "loky": _joblib_pool,
    "threading": _joblib_pool,
    "dask": _dask,
}


def execution(out: Path, *, backend: str, jobs: int, scheduler: str | None) -> ContextManager[None]:
    """The context in which `Parallel()` runs the job's work units (see the module docstring)."""
    return BACKENDS[backend](out, backend, jobs, scheduler)

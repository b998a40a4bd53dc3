"""`augment run --backend dask`: same bytes as loky, worker loss, clear errors.

The slow tests start real Dask clusters on localhost (no dashboard): a LocalCluster of 2
worker processes must give byte-identical shards, sidecars, manifest and rejects to
`--backend loky --jobs 1`; a worker killed with SIGKILL while it builds a shard must cost
nothing (Dask reschedules the shard, a rerun keeps everything, nothing lost or doubled).
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import pytest

from augment import backends
from augment.backends import BackendError, check_shared_output
from augment.config import ConfigError
from augment.run_options import run_options
from augment.synth import write_synth
from shards import load_manifest
from shards.storage.verify import verify_dir

REPO = Path(__file__).resolve().parents[1]
SOURCES, FACTOR = 8, 4
FLAGS = ["--factor", str(FACTOR), "--samples-per-shard", "3", "--no-progress", "--val-fraction", "0.3",
         "--folds", "3", "--seed", "3"]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("src")
    write_synth(d, SOURCES, seed=5, progress=False)
    return d


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "job.toml"
    p.write_text("variants_per_group = 2\n")  # many small shards: the kill lands between and inside them
    return p


def _cmd(sources: Path, out: Path, cfg_file: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "augment", "run", "--input", str(sources), "--out", str(out),
            "--config", str(cfg_file), *FLAGS, *extra]


def _snapshot(out: Path) -> dict[str, str]:
    """name -> sha256 of every file in `out` (temp files included, so leftovers show)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


def _keys(out: Path) -> Counter:
    """How often each sample key occurs over all shards."""
    keys: Counter = Counter()
    for shard in sorted(out.glob("*.tar")):
        with tarfile.open(shard) as tar:
            keys.update({m.name.split(".", 1)[0] for m in tar.getmembers()})
    return keys


@pytest.fixture(scope="module")
def reference(sources, cfg_file, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("ref") / "out"
    done = subprocess.run(_cmd(sources, out, cfg_file, "--backend", "loky", "--jobs", "1"),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    snap = _snapshot(out)
    assert sum(n.endswith(".tar") for n in snap) >= 8
    return snap


# --------------------------------------------------------------------------- fast checks

def test_missing_dask_names_the_flag_and_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(BackendError, match=r"--backend dask: .*pip install -e \.\[dask\]"):
        with backends.execution(tmp_path, backend="dask", jobs=2, scheduler=None):
            pass


def test_backend_and_scheduler_settings_are_checked():
    with pytest.raises(ConfigError, match=r"'backend' must be one of \['dask', 'loky', 'threading'\], found 'spark'"):
        run_options(backend="spark")
    with pytest.raises(ConfigError, match=r"'scheduler' must be unset unless backend is 'dask' \(backend is 'loky'\)"):
        run_options(scheduler="tcp://127.0.0.1:8786")


class _FakeClient:
    """Stands for a Client whose workers answer `can_write` as given."""

    def __init__(self, answers: dict[str, bool]):
        self.answers = answers

    def run(self, fn, out: str, probe: str) -> dict[str, bool]:
        assert fn is backends.can_write and fn(out, probe)  # the client's own view: probe present
        return self.answers


def test_output_not_shared_with_a_worker_is_refused_before_any_work(tmp_path):
    client = _FakeClient({"tcp://10.0.0.1:4000": True, "tcp://10.0.0.2:4000": False})
    with pytest.raises(BackendError, match=rf"--out {tmp_path}: not writable .* tcp://10\.0\.0\.2:4000; "
                                           "put the output on a filesystem shared"):
        check_shared_output(client, tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone either way
    check_shared_output(_FakeClient({"tcp://10.0.0.1:4000": True}), tmp_path)


def test_unreachable_scheduler_is_named(monkeypatch, tmp_path):
    pytest.importorskip("distributed")
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT", "1s")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(BackendError, match=rf"--scheduler tcp://127\.0\.0\.1:{port}: cannot connect to the Dask"):
        with backends.execution(tmp_path, backend="dask", jobs=1, scheduler=f"tcp://127.0.0.1:{port}"):
            pass


# --------------------------------------------------------------------------- real clusters

@pytest.mark.slow
def test_local_cluster_of_2_workers_matches_loky_jobs_1(sources, cfg_file, reference, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    done = subprocess.run(_cmd(sources, out, cfg_file, "--backend", "dask", "--jobs", "2"),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _snapshot(out) == reference  # every shard, sidecar, manifest.json and rejects.jsonl


def _busy_worker(client, timeout: float = 60.0) -> tuple[str, int]:
    """(address, pid) of a worker that is building a shard right now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [addr for addr, keys in client.processing().items() if keys]
        if busy:
            return busy[0], client.run(os.getpid, workers=[busy[0]])[busy[0]]
        time.sleep(0.05)
    raise AssertionError("no Dask worker picked up a shard")


def _kill_a_busy_worker_mid_job(client, cmd: list[str], out: Path) -> tuple[str, subprocess.CompletedProcess]:
    """Start the job, SIGKILL a worker while it builds a shard, wait for the job to end."""
    job = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not list(out.glob("*.tar.json")) and job.poll() is None:
            time.sleep(0.05)  # kill once the job is demonstrably under way
        addr, pid = _busy_worker(client)
        assert job.poll() is None, "the job finished before a worker could be killed"
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = job.communicate(timeout=120)
    finally:
        job.kill()
    return addr, subprocess.CompletedProcess(cmd, job.returncode, stdout, stderr)


@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["dask-retries", "rerun-completes"])
def test_worker_killed_mid_job_loses_and_doubles_nothing(allowed_failures, sources, cfg_file, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    import dask

    out = tmp_path / "out"
    # allowed-failures 0: the scheduler gives up on the lost shard at once, so the rerun path is taken
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                     silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        cmd = _cmd(sources, out, cfg_file, "--backend", "dask", "--scheduler", cluster.scheduler_address)
        addr, first = _kill_a_busy_worker_mid_job(client, cmd, out)
        assert addr not in client.scheduler_info()["workers"]  # the scheduler saw the loss
        if allowed_failures:
            assert first.returncode == 0, first.stderr  # Dask rescheduled the lost shard on a live worker
        else:
            assert first.returncode == 2, first.stderr
            assert "--backend dask: the cluster gave up on a shard" in first.stderr
            assert "rerun the same command to build the rest" in first.stderr
        rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    if allowed_failures:
        assert "(0 built," in rerun.stdout  # the first run had already finished every shard
    else:
        assert "(0 built," not in rerun.stdout
    assert verify_dir(out) == []
    assert load_manifest(out)["totals"]["samples"] == SOURCES * FACTOR
    keys = _keys(out)
    assert len(keys) == SOURCES * FACTOR and set(keys.values()) == {1}
    assert _snapshot(out) == reference  # no stray temp file, same bytes as loky --jobs 1


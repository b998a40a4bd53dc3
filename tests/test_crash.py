"""Crash and resume, disk full: nothing half-written is ever marked done, reruns converge.

`augment run` is killed with SIGKILL at many moments (on events: the first temp file, the
k-th shard renamed, the k-th sidecar, the rejects file, the manifest's temp file; and after
seeded random delays), then rerun to completion: every shard, the manifest and rejects.jsonl
must be byte-identical to an uninterrupted run, and no `.tmp-*` file may be left or counted.
Disk full is simulated in-process with write hooks (ENOSPC after N shard bytes, or on the
k-th fsync of any output file); a rerun after "freeing space" must give the same bytes.
"""
from __future__ import annotations

import errno
import hashlib
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

import shards.storage.atomic
import shards.storage.writer
from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.synth import write_synth
from shards import load_manifest
from shards.storage.verify import verify_dir
from shards.storage.writer import file_sha256, read_sidecar

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--factor", "4", "--samples-per-shard", "3", "--jobs", "1", "--no-progress",
         "--val-fraction", "0.3", "--folds", "3", "--seed", "3"]
KILLED = -9


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("src")
    write_synth(d, 6, seed=5, progress=False)
    return d


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "job.toml"
    p.write_text("variants_per_group = 2\n")
    return p


def _cmd(sources: Path, out: Path, cfg_file: Path) -> list[str]:
    return [sys.executable, "-m", "augment", "run", "--input", str(sources), "--out", str(out),
            "--config", str(cfg_file), *FLAGS]


def _snapshot(out: Path) -> dict[str, str]:
    """name -> sha256 of every file in `out`."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def reference(sources, cfg_file, tmp_path_factory) -> tuple[Path, dict[str, str], float]:
    out = tmp_path_factory.mktemp("ref") / "out"
    t0 = time.perf_counter()
    proc = subprocess.run(_cmd(sources, out, cfg_file), cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert verify_dir(out) == []
    snap = _snapshot(out)
    assert sum(n.endswith(".tar") for n in snap) >= 8  # several shards, so kills land between them
    return out, snap, seconds


# --------------------------------------------------------------------------- kill triggers

Trigger = Callable[[list[str]], bool]


def _count(suffix: str, k: int) -> Trigger:
    return lambda names: sum(n.endswith(suffix) and not n.startswith(".tmp-") for n in names) >= k


def _tmp_of(prefix: str) -> Trigger:
    return lambda names: any(n.startswith(".tmp-" + prefix) for n in names)


def _tar_without_sidecar(names: list[str]) -> bool:
    s = set(names)
    return any(n.endswith(".tar") and not n.startswith(".tmp-") and n + ".json" not in s for n in names)


def _exists(name: str) -> Trigger:
    return lambda names: name in names


EVENTS: dict[str, Trigger] = {
    "out-dir-created": lambda names: True,
    "first-temp-shard": _tmp_of("train-"),
    "tar-renamed-before-sidecar": _tar_without_sidecar,
    "sidecar-1": _count(".tar.json", 1),
    "sidecar-4": _count(".tar.json", 4),
    "shard-7": _count(".tar", 7),
    "sidecar-11": _count(".tar.json", 11),
    "rejects-written": _exists("rejects.jsonl"),
    "manifest-temp": _tmp_of("manifest.json"),
}


def _run_and_kill(cmd: list[str], out: Path, trigger: Trigger | None, delay: float | None) -> int:
    """Start `cmd`; SIGKILL it when `trigger` fires on the listing of `out` (or after `delay`)."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.perf_counter()
    try:
        while proc.poll() is None:
            if delay is not None and time.perf_counter() - t0 >= delay:
                break
            if trigger is not None:
                try:
                    names = os.listdir(out)
                except FileNotFoundError:
                    names = None
                if names is not None and trigger(names):
                    break
            time.sleep(0.001)
        if proc.poll() is None:
            proc.kill()  # SIGKILL, this process only
    finally:
        proc.wait()
        proc.stderr.close()
    return proc.returncode


def _check_interrupted(out: Path, ref_snap: dict[str, str]) -> None:
    """What a killed run leaves: every sidecar marks a complete shard; no manifest unless final."""
    if not out.exists():
        return
    names = set(os.listdir(out))
    for n in names:
        if n.endswith(".tar.json") and not n.startswith(".tmp-"):
            shard = out / n[: -len(".json")]
            info = read_sidecar(shard)
            assert shard.exists(), f"{n}: sidecar without its shard"
            assert file_sha256(shard) == (info["sha256"], info["bytes"]), f"{shard.name}: marked done but incomplete"
            assert hashlib.sha256(shard.read_bytes()).hexdigest() == ref_snap[shard.name]
            assert hashlib.sha256((out / n).read_bytes()).hexdigest() == ref_snap[n]
    for final in ("manifest.json", "rejects.jsonl"):
        if final in names:
            assert hashlib.sha256((out / final).read_bytes()).hexdigest() == ref_snap[final], final


def _rerun_and_compare(cmd: list[str], out: Path, ref_snap: dict[str, str]) -> None:
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    snap = _snapshot(out)
    assert not [n for n in snap if n.startswith(".tmp-")], "temp files left after the rerun"
    assert snap == ref_snap  # every shard, sidecar, rejects.jsonl and manifest.json: same bytes
    m = load_manifest(out)
    assert sorted(p.name for p in out.glob("*.tar")) == sorted(r["shard"] for r in m["shards"])
    assert verify_dir(out) == []


def _trial(sources, cfg_file, tmp_path, ref_snap, name, trigger=None, delay=None, plant_temp=False) -> int:
    out = tmp_path / name
    cmd = _cmd(sources, out, cfg_file)
    rc = _run_and_kill(cmd, out, trigger, delay)
    assert rc in (0, KILLED), rc
    _check_interrupted(out, ref_snap)
    if plant_temp and out.exists():
        # a temp file that looks like a shard from an even earlier crash
        (out / ".tmp-train-000000.tar.zzzz0000.s2s").write_bytes(b"partial tar bytes")
    _rerun_and_compare(cmd, out, ref_snap)
    return rc


FAST_EVENTS = ["first-temp-shard", "rejects-written"]


@pytest.mark.parametrize("event", FAST_EVENTS)
def test_kill_on_event_then_rerun_gives_identical_bytes(sources, cfg_file, reference, tmp_path, event):
    _, ref_snap, _ = reference
    _trial(sources, cfg_file, tmp_path, ref_snap, event, trigger=EVENTS[event], plant_temp=True)


@pytest.mark.slow
def test_kill_at_every_event_and_random_moments(sources, cfg_file, reference, tmp_path):
    """7 further event trials + 8 seeded random delays + 2 double kills = 17 trials (19 with the fast ones)."""
    _, ref_snap, seconds = reference
    rcs = {}
    for event in sorted(set(EVENTS) - set(FAST_EVENTS)):
        rcs[event] = _trial(sources, cfg_file, tmp_path, ref_snap, event, trigger=EVENTS[event])
    rng = random.Random(20261125)
    for i in range(8):
        delay = rng.uniform(0.25, 1.05) * seconds
        rcs[f"delay-{delay:.2f}s"] = _trial(sources, cfg_file, tmp_path, ref_snap, f"delay-{i}", delay=delay)
    # killed twice: mid-run, then again during the resumed run, then completed
    for i, (first, second) in enumerate([("sidecar-1", "first-temp-shard"), ("shard-7", "rejects-written")]):
        out = tmp_path / f"double-{i}"
        cmd = _cmd(sources, out, cfg_file)
        rcs[f"double-{first}"] = _run_and_kill(cmd, out, EVENTS[first], None)
        _check_interrupted(out, ref_snap)
        before = set(os.listdir(out))
        rcs[f"double-{second}"] = _run_and_kill(
            cmd, out, lambda names, second=second, before=before: EVENTS[second]([n for n in names if n not in before]),
            None)
        _check_interrupted(out, ref_snap)
        _rerun_and_compare(cmd, out, ref_snap)
    killed = [k for k, rc in rcs.items() if rc == KILLED]
    print(f"{len(killed)} of {len(rcs)} runs killed:", rcs)
    # most trials must really have been interrupted (a trial whose moment came too late just finished)
    assert len(killed) >= len(rcs) * 2 // 3, rcs


# --------------------------------------------------------------------------- disk full

FAST = dict(factor=4, samples_per_shard=3, val_fraction=0.3, folds=3, seed=3)
ONE_QUIET = RunOptions(jobs=1, progress=False)


def _config():
    cfg = load_config(None, **FAST)
    cfg.variants_per_group = 2
    return cfg


@pytest.fixture(scope="module")
def inproc_reference(sources, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("inproc_ref")
    run_job(sources, out, _config(), ONE_QUIET)
    return _snapshot(out)


def _enospc(what: str) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (simulated, {what})")


def _check_after_failure(out: Path) -> None:
    """After a failed job: no temp file, no manifest, every sidecar marks a complete shard."""
    names = sorted(os.listdir(out))
    assert not [n for n in names if n.startswith(".tmp-")], names
    assert "manifest.json" not in names
    for n in names:
        if n.endswith(".tar.json"):
            info = read_sidecar(out / n[: -len(".json")])
            assert file_sha256(out / n[: -len(".json")]) == (info["sha256"], info["bytes"])


def _shard_budget_hook(monkeypatch, budget: int) -> list[int]:
    """ENOSPC once more than `budget` shard bytes were written (in this process)."""
    written = [0]
    real = shards.storage.writer._HashingFile.write

    def write(self, data):
        if self.fh is not None and written[0] + len(data) > budget:
            raise _enospc(f"after {written[0]} bytes")
        written[0] += len(data)
        return real(self, data)

    monkeypatch.setattr(shards.storage.writer._HashingFile, "write", write)
    return written


@pytest.mark.parametrize("budget", [0, 100_000, 1_500_000])
def test_disk_full_while_writing_shards(sources, inproc_reference, tmp_path, monkeypatch, budget):
    out = tmp_path / "out"
    with monkeypatch.context() as mp:
        _shard_budget_hook(mp, budget)
        with pytest.raises(OSError) as err:
            run_job(sources, out, _config(), ONE_QUIET)
    assert err.value.errno == errno.ENOSPC
    _check_after_failure(out)
    done = [n for n in os.listdir(out) if n.endswith(".tar.json")]
    assert (len(done) > 0) == (budget > 600_000)  # the big budget lets a few shards finish
    summary = run_job(sources, out, _config(), ONE_QUIET)  # space freed: the hook is gone
    assert summary.kept == len(done) and summary.built == sum(n.endswith(".tar") for n in inproc_reference) - len(done)
    assert _snapshot(out) == inproc_reference
    assert verify_dir(out) == []


@pytest.mark.parametrize("k", [1, 2, 14, 25, 26])
def test_disk_full_at_the_kth_fsync(sources, inproc_reference, tmp_path, monkeypatch, k):
    """fsync is where a full disk often shows (delayed allocation): shard, sidecar, rejects, manifest."""
    out = tmp_path / "out"
    n_files = len(inproc_reference)
    assert n_files == 26  # 12 shards + 12 sidecars + rejects.jsonl + manifest.json: k covers each kind
    calls = [0]
    real = os.fsync

    def fsync(fd):
        calls[0] += 1
        if calls[0] == k:
            raise _enospc(f"fsync #{k}")
        return real(fd)

    with monkeypatch.context() as mp:
        mp.setattr(shards.storage.atomic.os, "fsync", fsync)
        with pytest.raises(OSError) as err:
            run_job(sources, out, _config(), ONE_QUIET)
    assert err.value.errno == errno.ENOSPC
    _check_after_failure(out)
    run_job(sources, out, _config(), ONE_QUIET)
    assert _snapshot(out) == inproc_reference
    assert verify_dir(out) == []


def test_disk_full_error_names_the_path(sources, tmp_path, monkeypatch):
    out = tmp_path / "out"
    _shard_budget_hook(monkeypatch, 100_000)
    with pytest.raises(OSError) as err:
        run_job(sources, out, _config(), ONE_QUIET)
    assert re.search(r"(train|val)-\d{6}\.tar", str(err.value)) and str(out) in str(err.value)


def test_disk_full_from_the_cli_is_a_failure_exit_not_a_partial_success(sources, cfg_file, tmp_path):
    """The CLI in a process whose shard writes fail: non-zero exit, ENOSPC in stderr, nothing marked done."""
    out = tmp_path / "out"
    code = (
        "import errno, sys, shards.storage.writer as w\n"
        "def write(self, data):\n"
        "    raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "w._HashingFile.write = write\n"
        "from augment.cli import main\n"
        f"sys.exit(main({_cmd(sources, out, cfg_file)[3:]!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr
    assert not list(out.glob("*.tar")) and not list(out.glob(".tmp-*")) and not (out / "manifest.json").exists()

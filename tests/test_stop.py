"""Issue 16, class 5: Ctrl-C and SIGTERM stop `augment run` and its workers cleanly.

A 2-worker run is stopped once its first shard is done: by SIGTERM to the main process (as a
batch scheduler or `kill` does) and by SIGINT to its whole process group (as Ctrl-C in a
terminal does). The command exits 143 / 130 with one line and no traceback; every loky
worker is gone within seconds, nothing is written after the exit, every shard that has a
sidecar matches it; the rerun of the same command completes and verifies.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from augment.synth import write_synth
from shards.storage.manifest import load_manifest
from shards.storage.verify import verify_dir
from shards.storage.writer import file_sha256, read_sidecar

ROOT = Path(__file__).resolve().parents[1]
SOURCES, FACTOR = 12, 20


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("stop-src")
    write_synth(src, SOURCES, seed=0, progress=False)
    return src


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _listing(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in out.iterdir()}


@pytest.mark.slow
@pytest.mark.parametrize("how,code,said", [("SIGTERM", 143, "terminated (SIGTERM)"), ("Ctrl-C", 130, "interrupted")])
def test_a_stopped_run_stops_its_workers_and_the_rerun_completes(sources, tmp_path, how, code, said):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "augment", "run", "--input", str(sources), "--out", str(out), "--factor", str(FACTOR),
           "--jobs", "2", "--seed", "0", "--val-fraction", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            # a terminal's default: a suite started in the background (`cmd &`) hands its
                            # children SIGINT ignored, and the job then ran to the end and exited 0
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 180
    while not (out.is_dir() and list(out.glob("*.tar.json"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no shard finished in time"
        time.sleep(0.05)
    workers = _descendants(proc.pid)
    assert workers, "the run has no worker processes"
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole foreground group
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert said in stderr and "Traceback" not in stderr
    deadline = time.monotonic() + 15
    while [p for p in workers if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in workers if _alive(p)], "workers outlived the run"
    before = _listing(out)
    time.sleep(2)
    assert _listing(out) == before, "files changed after the run exited"
    assert not (out / "manifest.json").exists()
    for side in out.glob("*.tar.json"):  # nothing half-written is marked done
        shard = out / side.name[: -len(".json")]
        info = read_sidecar(shard)
        assert file_sha256(shard) == (info["sha256"], info["bytes"])
    rerun = subprocess.run(cmd + ["--no-progress"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert verify_dir(out) == []
    assert load_manifest(out)["totals"]["samples"] == SOURCES * FACTOR

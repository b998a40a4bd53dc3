"""The torchrun multi-node recipe, with two local processes standing in for two nodes.

Each "node" is its own `torchrun --nnodes=2 --nproc_per_node=1` launched concurrently,
meeting at a c10d rendezvous on 127.0.0.1, and writing to its own run directory (as two
machines without a shared run directory would). The ranks must train the same number of
steps on disjoint shard sets; only the node holding rank 0 may have checkpoints; and its
`last.pt` must load and evaluate in a plain single-process run.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from train import checkpoint as ckpt

from model_helpers import TINY_MODEL

TINY = dict(model=TINY_MODEL, batch_size=4, max_steps=3, eval_every=3, eval_sources=2, eval_variants=0,
            num_workers=0, shuffle_buffer=8, checkpoint_every=2, warmup_steps=1, grad_accum=1,
            sampling=dict(steps=2))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(port: int, run_id: str, shards: Path, run: Path, cfg: Path) -> list[str]:
    """The command every real node runs (HOST0:PORT replaced by the local endpoint).

    No --node_rank: torchrun reads it only for the static rendezvous and warns under c10d,
    which gives out ranks itself. --local_addr pins the address rank 0 publishes as master.
    """
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
            "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", f"--rdzv_id={run_id}",
            "--local_addr=127.0.0.1",
            "-m", "train", "fit", "--shards", str(shards), "--run-dir", str(run), "--phase", "4",
            "--config", str(cfg)]


def _launch_two_nodes(shards: Path, runs: list[Path], cfg: Path) -> list[subprocess.CompletedProcess]:
    port, run_id = _free_port(), f"s2s-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # two "nodes" share this machine's cores
    procs = [subprocess.Popen(_node(port, run_id, shards, runs[k], cfg), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for k in (0, 1)]
    done = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=240)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    finally:
        for p in procs:
            p.kill()
    return done


@pytest.mark.slow
def test_two_nodes_train_equal_steps_on_disjoint_shards_and_rank_0_checkpoints(shards, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    runs = [tmp_path / "node-0", tmp_path / "node-1"]
    for p in _launch_two_nodes(shards, runs, cfg):
        assert p.returncode == 0, p.stderr[-3000:]
    # the rendezvous gives out ranks (in no promised order): find which node got rank 0
    ranks = {}
    for run in runs:
        for f in run.glob("rank-*.json"):
            ranks[run] = json.loads(f.read_text())
    assert sorted(r["rank"] for r in ranks.values()) == [0, 1]
    assert all(r["world"] == 2 and r["step"] == 3 for r in ranks.values())  # resampling: equal steps
    cover = [set(r["shards"]) for r in ranks.values()]
    assert cover[0] and cover[1] and not cover[0] & cover[1]  # split by node: disjoint shards
    main = next(run for run, r in ranks.items() if r["rank"] == 0)
    other = next(run for run, r in ranks.items() if r["rank"] == 1)
    assert (main / ckpt.LAST).exists()
    assert not list(other.glob("*.pt")), "a rank other than 0 wrote a checkpoint"
    state = ckpt.load(main / ckpt.LAST)
    assert state["step"] == 3 and state["ema"] is not None
    ev = subprocess.run([sys.executable, "-m", "train", "evaluate", "--checkpoint", str(main / ckpt.LAST),
                         "--shards", str(shards)], capture_output=True, text=True, timeout=120,
                        env={k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")})
    assert ev.returncode == 0, ev.stderr
    assert "variant 00 (untouched pages)" in ev.stdout

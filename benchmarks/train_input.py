"""Training input vs compute: is a phase's training bound by loading or by the model?

For each phase preset (its defaults from `train.phases`, batch size capped so CPUs finish),
on the shards of one cached `augment run`, through `train.trainer.Trainer` itself:
- input: samples/s that `Trainer.batches()` delivers (shard streaming, decode, the phase's
  epoch filters, letterbox + encoding, DataLoader with the configured workers), no model;
- compute: samples/s of `Trainer.train_step` (forward, losses, backward, optimizer, the
  phase's AMP/EMA/accumulation) on a batch already in memory, no loading.
input/compute < 1 means loading bounds training. By default one DataLoader worker loads
and torch computes on one thread: a core loading against a core computing, which also
keeps the figures stable on a shared machine (two spinning OpenMP threads on two busy
cores ran a step 5-10x slower than one). The device is the trainer's own
(CUDA when available, so the same run on a GPU machine gives the GPU figures).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from train.config import resolve
from train.phases import PHASES, phase_defaults
from train.trainer import Trainer

from . import common

NAME = "train_input"
QUICK = dict(sources=6, factor=4, batch_cap=4, batches=4, steps=1, workers=1, threads=1)
FULL = dict(sources=24, factor=10, batch_cap=8, batches=12, steps=2, workers=1, threads=1)
QUICK_PHASES = (1, 2)  # the larger presets take tens of seconds a step on a shared CPU


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def input_rate(trainer: Trainer, batches: int) -> tuple[float, dict[str, torch.Tensor]]:
    """(samples/s after the first batch, that first batch): the first pays worker start-up."""
    it = trainer.batches()
    first = next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += len(next(it)["tokens"])
    rate = n / (time.perf_counter() - t0)
    it.close()
    return rate, first


def compute_rate(trainer: Trainer, batch: dict[str, torch.Tensor], steps: int) -> float:
    """Samples/s of optimizer steps on `batch` (one untimed warm-up step first)."""
    micro = [batch] * trainer.cfg.grad_accum
    trainer.train_step(micro)
    _sync(trainer.info.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(micro)
    _sync(trainer.info.device)
    return steps * len(batch["tokens"]) * len(micro) / (time.perf_counter() - t0)


def measure_phase(shards: Path, phase: int, batch_cap: int, batches: int, steps: int, workers: int,
                  seed: int) -> dict[str, Any]:
    defaults = phase_defaults(phase)
    flags = {"batch_size": min(batch_cap, defaults.get("batch_size", 16)), "num_workers": workers, "seed": seed,
             "max_steps": 10_000, "eval_every": 10**9, "checkpoint_every": 10**9}
    cfg = resolve(defaults, None, flags)
    with tempfile.TemporaryDirectory(prefix="s2s-bench-run-") as run:
        trainer = Trainer(shards, run, cfg, progress=False)
        inp, first = input_rate(trainer, batches)
        comp = compute_rate(trainer, first, steps)
        trainer.log.close()
    return {"phase": phase, "name": PHASES[phase].NAME, "preset": cfg.preset,
            "image_size": trainer.obj.model.cfg.image_size, "batch_size": cfg.batch_size,
            "grad_accum": cfg.grad_accum, "amp": cfg.amp, "device": str(trainer.info.device),
            "input_samples_per_s": round(inp, 2), "compute_samples_per_s": round(comp, 2),
            "input_over_compute": common.ratio(inp, comp), "bound_by": "input" if inp < comp else "compute"}


def measure(sources: int, factor: int, batch_cap: int, batches: int, steps: int, workers: int, threads: int,
            work: Path, seed: int = 0, phases: tuple[int, ...] = tuple(PHASES)) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    torch.set_num_threads(threads)
    shards = common.cached_shards(work, sources, factor, seed)
    rows = [measure_phase(shards, p, batch_cap, batches, steps, workers, seed) for p in phases]
    settings = {"sources": sources, "factor": factor, "batch_cap": batch_cap, "batches": batches, "steps": steps,
                "workers": workers, "seed": seed, "torch_threads": torch.get_num_threads(),
                "cuda": torch.cuda.is_available()}
    return {"settings": settings, "phases": rows}


def report(r: dict[str, Any]) -> str:
    keys = ("phase", "preset", "device", "image_size", "batch_size", "input_samples_per_s",
            "compute_samples_per_s", "input_over_compute", "bound_by")
    heads = ("phase", "preset", "device", "image", "batch", "input samples/s", "step samples/s", "input/step",
             "bound by")
    return common.table(heads, [[row[k] for k in keys] for row in r["phases"]])


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--phases", type=int, nargs="+", choices=sorted(PHASES),
                   help=f"phases to measure (default all, quick {' '.join(map(str, QUICK_PHASES))})")
    p.add_argument("--batch-cap", type=int,
                   help=f"largest batch size used (default {FULL['batch_cap']}, quick {QUICK['batch_cap']})")
    p.add_argument("--batches", type=int, help="batches timed for the input rate")
    p.add_argument("--steps", type=int, help="optimizer steps timed for the compute rate")
    p.add_argument("--workers", type=int, help="DataLoader workers (default 1)")
    p.add_argument("--threads", type=int, help="torch threads for the training step (default 1)")
    args = p.parse_args(argv)
    phases = tuple(args.phases or (QUICK_PHASES if args.quick else PHASES))
    return common.run_sized(NAME, args, QUICK, FULL, measure, report, phases=phases)


if __name__ == "__main__":
    sys.exit(main())

"""Training input vs compute vs memory: per phase, is training bound by loading, and does it fit?

For each phase preset at its DEFAULT batch size (`train.phases`), on the shards of one
cached `augment run`, through `train.trainer.Trainer` itself, in a fresh process per phase
(so one phase's peak memory never hides another's):
- loader: samples/s that `Trainer.batches()` delivers (shard streaming, decode, the phase's
  epoch filters, canvas encoding, DataLoader with the configured workers), no model;
- step: samples/s of `Trainer.train_step` (forward, losses, backward, optimizer, the phase's
  AMP/EMA/accumulation, the batch split into the micro-batches `max_memory` allows) on a
  batch already in memory, no loading;
- peak RSS of that process (loader workers apart): what the step needs at that batch.
Target: loader/step >= 3, so loading never bounds training. By default one DataLoader
worker loads and torch computes on one thread: a core loading against a core computing, which
also keeps the figures stable on a shared machine (two spinning OpenMP threads on two busy
cores ran a step 5-10x slower than one). The device is the trainer's own (CUDA when available,
so the same run on a GPU machine gives the GPU figures).

`--probe` measures instead what `train.memory` stores: per phase, peak RSS of a fresh process
after a training step on batches of 1 and 3 pages padded to the full canvas height; per sample =
the slope (PER_SAMPLE), runtime = the intercept less the model's states (RUNTIME); with one
batch size (`--probe-batches 1`, for presets whose batch of 3 does not fit), per sample = peak
less RUNTIME less the model's states. `--probe-checkpointing off on` probes each phase with
activation checkpointing off and on (train.model.recompute), beside the step's CPU seconds
per page (one torch thread: CPU time barely moves with foreign load). `--same N`
compares, on the same batches, the losses of N steps of phase 1 run whole and as micro-batches
of a quarter.
"""
from __future__ import annotations

import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from train import memory
from train.config import resolve
from train.phases import PHASES, phase_defaults
from train.trainer import Trainer

from . import common

NAME = "train_input"
QUICK = dict(sources=6, factor=4, batches=2, steps=1, workers=1, threads=1)
FULL = dict(sources=24, factor=10, batches=4, steps=1, workers=1, threads=1)
QUICK_PHASES = (1,)  # the larger presets take minutes a step at their default batch on a shared CPU
TARGET = 3.0  # loader samples/s over step samples/s
PROBE_BATCHES = (1, 3)
MiB = 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_rss() -> int:
    """Peak resident bytes of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def input_rate(trainer: Trainer, batches: int) -> tuple[float, dict[str, Any]]:
    """(samples/s after the first batch, that first batch): the first pays worker start-up."""
    it = trainer.batches()
    first = next(it)
    n, t0 = 0, time.perf_counter()
    for _ in range(batches):
        n += len(next(it)["key"])
    rate = n / (time.perf_counter() - t0)
    it.close()
    return rate, first


def compute_rate(trainer: Trainer, batch: dict[str, Any], steps: int) -> float:
    """Samples/s of optimizer steps on `batch` (one untimed warm-up step first)."""
    batches = [batch] * trainer.cfg.grad_accum
    trainer.train_step(batches)
    _sync(trainer.info.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(batches)
    _sync(trainer.info.device)
    return steps * len(batch["key"]) * len(batches) / (time.perf_counter() - t0)


def _trainer(shards: Path, run: str, phase: int, workers: int, threads: int, seed: int,
             **flags: Any) -> Trainer:
    torch.set_num_threads(threads)
    flags = {"num_workers": workers, "seed": seed, "max_steps": 10_000, "eval_every": 10**9,
             "checkpoint_every": 10**9, **flags}
    return Trainer(shards, run, resolve(phase_defaults(phase), None, flags), progress=False)


def measure_phase(shards: Path, phase: int, batches: int, steps: int, workers: int, threads: int, seed: int,
                  batch: int | None = None, max_memory: str | None = None) -> dict[str, Any]:
    """One phase's row (run it in a fresh process: the peak RSS is the process's)."""
    with tempfile.TemporaryDirectory(prefix="s2s-bench-run-") as run:
        trainer = _trainer(shards, run, phase, workers, threads, seed, batch_size=batch, max_memory=max_memory)
        cfg = trainer.cfg
        inp, first = input_rate(trainer, batches)
        comp = compute_rate(trainer, first, steps)
        trainer.log.close()
    return {"phase": phase, "name": PHASES[phase].NAME, "preset": cfg.preset,
            "canvas_width": trainer.obj.model.cfg.canvas_width, "batch_size": cfg.batch_size,
            "micro_batch": trainer.micro_size, "grad_accum": cfg.grad_accum, "amp": cfg.amp,
            "max_memory": cfg.max_memory, "device": str(trainer.info.device),
            "peak_rss_mib": round(peak_rss() / MiB), "input_samples_per_s": round(inp, 2),
            "compute_samples_per_s": round(comp, 2), "input_over_compute": common.ratio(inp, comp),
            "bound_by": "input" if inp < comp else "compute"}


def probe_phase(shards: Path, phase: int, batch: int, seed: int, checkpointing: bool | None = None,
                steps: int = 2, aspect: int | None = None) -> dict[str, Any]:
    """Peak RSS after `steps` training steps (the first a warm-up) on `batch` pages padded to the
    full canvas height, no split, one micro-batch a step (the measurement behind
    train.memory.PER_SAMPLE), and the CPU and wall seconds of the last step; `checkpointing`
    None: the phase's own setting; `aspect`: the canvas height in widths (default the preset's)."""
    model = {k: v for k, v in (("checkpointing", checkpointing), ("max_aspect", aspect)) if v is not None}
    with tempfile.TemporaryDirectory(prefix="s2s-bench-run-") as run:
        trainer = _trainer(shards, run, phase, 0, 1, seed, batch_size=batch, max_memory="100%", model=model or None,
                           grad_accum=1)
        trainer.micro_size = batch
        b = next(trainer.batches())
        height = trainer.obj.model.cfg.canvas_height
        image = torch.full((batch, 3, height, b["image"].shape[3]), 124, dtype=torch.uint8)
        image[:, :, : b["image"].shape[2]] = b["image"]
        b["image"] = image
        for _ in range(steps):
            c0, t0 = time.process_time(), time.perf_counter()
            trainer.train_step([b])
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        trainer.log.close()
    states = sum(p.numel() for p in trainer.obj.model.parameters()) * (
        memory.PARAM_BYTES + (memory.EMA_BYTES if trainer.cfg.ema_decay else 0))
    return {"phase": phase, "batch": batch, "peak_rss": peak_rss(), "states": states,
            "checkpointing": trainer.obj.model.cfg.checkpointing, "pages": batch, "height": height,
            "step_cpu_s": cpu, "step_wall_s": wall}


def same_results(shards: Path, steps: int, workers: int, threads: int, seed: int) -> dict[str, Any]:
    """Phase 1 losses over `steps` steps on the same batches, whole and as micro-batches of a quarter."""
    losses: dict[str, list[float]] = {}
    for name, div in (("whole", 1), ("micro", 4)):
        with tempfile.TemporaryDirectory(prefix="s2s-bench-run-") as run:
            trainer = _trainer(shards, run, 1, workers, threads, seed)
            trainer.micro_size = trainer.cfg.batch_size // div
            it = trainer.batches()
            losses[name] = [round(trainer.train_step([next(it)])["loss"], 5) for _ in range(steps)]
            it.close()
            trainer.log.close()
    gaps = [abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses["whole"], losses["micro"])]
    return {**losses, "micro_batch": trainer.cfg.batch_size // 4, "max_relative_gap": round(max(gaps), 4)}


def _child(fn: Callable[..., dict[str, Any]], out: str, kwargs: dict[str, Any]) -> None:
    if "fork" in multiprocessing.get_all_start_methods():  # a spawned process spawns its loader workers,
        multiprocessing.set_start_method("fork", force=True)  # which cannot pickle the stream: fork as usual
    Path(out).write_text(json.dumps(fn(**kwargs)))


def in_fresh_process(fn: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """`fn(**kwargs)` in a spawned process (its own peak RSS; it may start loader workers)."""
    with tempfile.TemporaryDirectory(prefix="s2s-bench-child-") as tmp:
        out = str(Path(tmp) / "row.json")
        p = multiprocessing.get_context("spawn").Process(target=_child, args=(fn, out, kwargs))
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"{fn.__name__}({kwargs}) failed in its process (exit code {p.exitcode})")
        return json.loads(Path(out).read_text())


def measure(sources: int, factor: int, batches: int, steps: int, workers: int, threads: int, work: Path,
            seed: int = 0, phases: tuple[int, ...] = tuple(PHASES), batch: int | None = None,
            max_memory: str | None = None, probe: bool = False, same: int = 0,
            probe_batches: tuple[int, ...] = PROBE_BATCHES,
            probe_checkpointing: tuple[bool | None, ...] = (None,), probe_steps: int = 2,
            probe_aspect: int | None = None) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    shards = common.cached_shards(work, sources, factor, seed)
    settings = {"sources": sources, "factor": factor, "batches": batches, "steps": steps, "workers": workers,
                "seed": seed, "torch_threads": threads, "batch": batch or "phase default",
                "max_memory": max_memory or "config default", "cuda": torch.cuda.is_available()}
    result: dict[str, Any] = {"settings": settings}
    if probe:
        settings.update(probe_batches=list(probe_batches), probe_steps=probe_steps, probe_aspect=probe_aspect)
        result["probe"] = [probe_cost(shards, p, seed, probe_batches, c, probe_steps, probe_aspect)
                           for p in phases for c in probe_checkpointing]
        return result
    rows = [in_fresh_process(measure_phase, shards=shards, phase=p, batches=batches, steps=steps, workers=workers,
                             threads=threads, seed=seed, batch=batch, max_memory=max_memory) for p in phases]
    result["phases"] = rows
    result["targets"] = {f"phase{r['phase']}_input_over_compute": {
        "target": TARGET, "measured": r["input_over_compute"],
        "met": r["input_over_compute"] is not None and r["input_over_compute"] >= TARGET} for r in rows}
    if same:
        result["same_results"] = in_fresh_process(same_results, shards=shards, steps=same, workers=workers,
                                                  threads=threads, seed=seed)
    return result


def probe_cost(shards: Path, phase: int, seed: int, batches: tuple[int, ...] = PROBE_BATCHES,
               checkpointing: bool | None = None, steps: int = 2, aspect: int | None = None) -> dict[str, Any]:
    """A phase's (fixed, per-sample) peak-RSS cost from fresh processes at `batches` (two sizes: the
    slope and the intercept; one: the peak less RUNTIME and the model's states), and the step's
    CPU seconds per page at the first size."""
    runs = [in_fresh_process(probe_phase, shards=shards, phase=phase, batch=b, seed=seed, checkpointing=checkpointing,
                             steps=steps, aspect=aspect) for b in batches]
    p0, r0 = runs[0], runs[0]["peak_rss"]
    if len(runs) > 1:
        per = (runs[-1]["peak_rss"] - r0) / (batches[-1] - batches[0])
        runtime: float = r0 - per * batches[0] - p0["states"]
    else:
        runtime = memory.RUNTIME
        per = (r0 - runtime - p0["states"]) / batches[0]
    return {"phase": phase, "preset": phase_defaults(phase)["preset"], "checkpointing": p0["checkpointing"],
            "canvas_height": p0["height"], "batches": list(batches),
            "peak_rss_mib": [r["peak_rss"] // MiB for r in runs],
            "per_sample_mib": round(per / MiB), "states_mib": round(p0["states"] / MiB),
            "runtime_mib": round(runtime / MiB), "step_cpu_s_per_page": round(p0["step_cpu_s"] / p0["pages"], 3),
            "step_wall_s_per_page": round(p0["step_wall_s"] / p0["pages"], 3)}


def report(r: dict[str, Any]) -> str:
    if "probe" in r:
        keys = ("phase", "preset", "checkpointing", "canvas_height", "batches", "peak_rss_mib", "per_sample_mib",
                "states_mib", "runtime_mib", "step_cpu_s_per_page")
        return common.table(("phase", "preset", "checkpointing", "canvas height", "batches", "peak RSS MiB",
                             "per sample MiB", "model states MiB", "runtime MiB", "step CPU s/page"),
                            [[p.get(k, "-") for k in keys] for p in r["probe"]])
    keys = ("phase", "preset", "device", "canvas_width", "batch_size", "micro_batch", "peak_rss_mib",
            "input_samples_per_s", "compute_samples_per_s", "input_over_compute")
    heads = ("phase", "preset", "device", "canvas", "batch", "micro-batch", "peak RSS MiB", "loader samples/s",
             "step samples/s", f"loader/step (>= {TARGET:g})")
    text = common.table(heads, [[row[k] for k in keys] for row in r["phases"]])
    if "same_results" in r:
        s = r["same_results"]
        text += (f"\n\nsame batches, phase 1: losses whole {s['whole']} vs micro-batches of {s['micro_batch']} "
                 f"{s['micro']} (largest relative gap {s['max_relative_gap']})")
    return text


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--phases", type=int, nargs="+", choices=sorted(PHASES),
                   help=f"phases to measure (default all, quick {' '.join(map(str, QUICK_PHASES))})")
    p.add_argument("--batch", type=int, help="batch size of every phase (default: each phase's own)")
    p.add_argument("--max-memory", help="the trainer's max_memory (default: the config's, 50%% of the machine)")
    p.add_argument("--batches", type=int, help=f"batches timed for the loader rate (default {FULL['batches']}, "
                                               f"quick {QUICK['batches']})")
    p.add_argument("--steps", type=int, help=f"optimizer steps timed for the step rate (default {FULL['steps']})")
    p.add_argument("--workers", type=int, help="DataLoader workers (default 1)")
    p.add_argument("--threads", type=int, help="torch threads for the training step (default 1)")
    p.add_argument("--probe", action="store_true", help="measure instead the memory cost per sample "
                                                        "(train.memory.PER_SAMPLE, RUNTIME)")
    p.add_argument("--probe-batches", type=int, nargs="+", default=list(PROBE_BATCHES),
                   help="--probe: batch sizes, two for a slope, one for peak less runtime and model states")
    p.add_argument("--probe-checkpointing", nargs="+", choices=("phase", "off", "on"), default=["phase"],
                   help="--probe: activation checkpointing settings to probe each phase with (phase: its own)")
    p.add_argument("--probe-steps", type=int, default=2,
                   help="--probe: training steps per process, the first a warm-up; the last is timed")
    p.add_argument("--probe-aspect", type=int,
                   help="--probe: canvas height in widths (model.max_aspect; default the preset's, 4)")
    p.add_argument("--same", type=int, default=0, help="also compare this many phase-1 steps whole and as "
                                                       "micro-batches (default 0: not run)")
    args = p.parse_args(argv)
    phases = tuple(args.phases or (QUICK_PHASES if args.quick else PHASES))
    return common.run_sized(NAME, args, QUICK, FULL, measure, report, phases=phases, batch=args.batch,
                            max_memory=args.max_memory, probe=args.probe, same=args.same,
                            probe_batches=tuple(args.probe_batches), probe_steps=args.probe_steps,
                            probe_aspect=args.probe_aspect,
                            probe_checkpointing=tuple({"phase": None, "off": False, "on": True}[c]
                                                      for c in args.probe_checkpointing))


if __name__ == "__main__":
    sys.exit(main())

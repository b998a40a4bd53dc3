"""What a phase costs: measured rates on this machine, turned into hours and money per phase.

Measured here, on the shards of one cached `augment run`:
- augmentation: variants/s of `augment run --jobs N` over synthetic sources (the whole job:
  pixels, boxes, HTML, sample JSON, shards with their sha256 and fsync, manifest);
- shard write: MB/s of `shards.storage.writer.ShardWriter` alone (part of the job above), and bytes
  per sample; shard read: samples/s of `shards.storage.reader.make_pipeline` in-process;
- per phase, in a fresh process, through `train.trainer.Trainer` at the phase defaults: the
  loader's pages/s with one DataLoader worker, and the training step on one micro-batch of
  the size `train.memory` plans for the default batch under the default `max_memory` (the
  default batch is its micro-batches one after another, so its pages/s is this one's, less
  the optimizer step's share), with `grad_accum` as the phase says; the step's FLOPs per page
  (`torch.utils.flop_counter`, counted on the untimed warm-up step; matmuls, convolutions and
  attention, the recomputation of checkpointed blocks included).
`benchmarks.cost_model` turns them into hours and USD (its docstring says how, and where each
price comes from). On a CUDA machine the step is the GPU's and its figures are measured; here
(no GPU) they are extrapolated and labelled so. `--from-recorded` measures nothing: it prices
the rates of the recorded runs of augment_throughput, shard_io and train_input
(benchmarks/results/), which count no FLOPs, so it gives no GPU figures.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import torch
from torch.utils.flop_counter import FlopCounterMode

from augment.config import load_config
from train import memory
from train.config import resolve
from train.phases import PHASES, phase_defaults

from . import augment_throughput, common, cost_model, shard_io, train_input

NAME = "cost"
QUICK = dict(sources=6, factor=4, jobs=2, batches=1)
FULL = dict(sources=24, factor=10, jobs=2, batches=2)
QUICK_PHASES = (1,)  # the larger presets take minutes a step on a shared CPU


def measure_phase(shards: Path, phase: int, batches: int, seed: int) -> dict[str, Any]:
    """One phase's loader rate, step rate and FLOPs per page (run it in a fresh process)."""
    with tempfile.TemporaryDirectory(prefix="s2s-bench-run-") as run:
        trainer = train_input._trainer(shards, run, phase, 1, 1, seed)
        cfg, dev = trainer.cfg, trainer.info.device
        loader_rate, first = train_input.input_rate(trainer, batches)
        part = [memory.split_batch(first, trainer.micro_size)[0]] * cfg.grad_accum
        with FlopCounterMode(display=False) as flops:
            trainer.train_step(part)  # warm-up, counted
        train_input._sync(dev)
        t0 = time.perf_counter()
        trainer.train_step(part)
        train_input._sync(dev)
        secs = time.perf_counter() - t0
        trainer.log.close()
    pages = sum(len(b["key"]) for b in part)
    return {"phase": phase, "preset": cfg.preset, "device": dev.type, "batch_size": cfg.batch_size,
            "micro_batch": trainer.micro_size, "grad_accum": cfg.grad_accum, "amp": cfg.amp,
            "checkpointing": trainer.obj.model.cfg.checkpointing, "page_height": int(first["image"].shape[2]),
            "loader_per_s_per_worker": round(loader_rate, 3), "step_per_s": round(pages / secs, 4),
            "flops_per_sample": flops.get_total_flops() / pages, "peak_rss_mib": round(train_input.peak_rss() / 2**20)}


def measure_data(sources: int, factor: int, jobs: int, work: Path, seed: int) -> dict[str, Any]:
    """Augmentation variants/s at `jobs` workers, shard write MB/s and bytes/sample, read samples/s."""
    src = common.subset(common.cached_sources(work, sources, seed), sources, work / f"at-src-{sources}")
    cfg = load_config(None, factor=factor, seed=seed)
    out = work / "cost-out"
    augment_throughput.run_ours(src, out, cfg, jobs)  # untimed: starts the workers, imports
    with common.stopwatch() as t:
        n = augment_throughput.run_ours(src, out, cfg, jobs)
    shards = common.cached_shards(work, sources, factor, seed)
    samples = shard_io.load_samples(shards)
    wdir = work / "cost-write"
    wdir.mkdir(parents=True, exist_ok=True)
    nbytes = shard_io.write_ours(samples, wdir, 1)  # untimed: warms the page cache
    with common.stopwatch() as w:
        shard_io.write_ours(samples, wdir, 1)
    with common.stopwatch() as r:
        read = shard_io.drain(shard_io.make_pipeline(shards, "train", shuffle_buffer=0), 0)
    return {"augment_variants": n, "augment_s": round(t["s"], 3), "augment_per_s": round(n / t["s"], 3),
            "write_mb_per_s": round(nbytes / 1e6 / w["s"], 1), "bytes_per_sample": round(nbytes / len(samples)),
            "read_per_s": round(read / r["s"], 2)}


def from_record(record: Path = common.RECORD_DIR) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(data, phase rows) as `measure` gives them, from the recorded augment_throughput, shard_io and
    train_input(_phase4) results; no FLOPs (None)."""
    def load(name: str) -> dict[str, Any]:
        return json.loads((record / f"{name}.json").read_text(encoding="utf-8"))

    aug, sio = load("augment_throughput"), load("shard_io")
    jobs = aug["settings"]["jobs"]
    w = sio["write"]
    data = {"augment_per_s": aug["variants_per_s_per_core"][f"ours_jobs{jobs}"] * jobs,
            "write_mb_per_s": w["mb_per_s"]["shards_writer"],
            "bytes_per_sample": round(w["bytes"] / (sio["read"]["samples"] * sio["settings"]["copies"])),
            "read_per_s": sio["read"]["samples_per_s"]["shards_reader_w0"],
            "recorded": {n: load(n)["date"] for n in ("augment_throughput", "shard_io", "train_input",
                                                       "train_input_phase4")}}
    rows = [{**{k: r[k] for k in ("phase", "preset", "device", "micro_batch", "grad_accum")},
             "checkpointing": False, "page_height": None, "loader_per_s_per_worker": r["input_samples_per_s"],
             "step_per_s": r["compute_samples_per_s"], "flops_per_sample": None}
            for n in ("train_input", "train_input_phase4") for r in load(n)["phases"]]
    return data, rows


def costs(data: dict[str, Any], rows: list[dict[str, Any]], **prices: Any) -> list[dict[str, Any]]:
    """Each measured phase's cost (cost_model.phase_cost) at the phase defaults' training pages."""
    out = []
    for row in rows:
        cfg = resolve(phase_defaults(row["phase"]), None, {})
        rates = cost_model.Rates(data["augment_per_s"], data["write_mb_per_s"], data["bytes_per_sample"],
                                 row["loader_per_s_per_worker"], row["step_per_s"], row["flops_per_sample"],
                                 row["device"])
        out.append(cost_model.phase_cost(row["phase"], rates, cfg.max_steps * cfg.batch_size * cfg.grad_accum,
                                         cfg.amp, **prices))
    return out


def measure(sources: int, factor: int, jobs: int, batches: int, work: Path, seed: int = 0,
            phases: tuple[int, ...] = tuple(PHASES), prices: dict[str, Any] | None = None,
            recorded: bool = False) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    if recorded:
        data, rows = from_record()
        rows = [r for r in rows if r["phase"] in phases]
        return {"settings": {"from": "recorded results", **data.pop("recorded")}, "data": data, "phases": rows,
                "costs": costs(data, rows, **(prices or {}))}
    cv2.setNumThreads(1)
    work.mkdir(parents=True, exist_ok=True)
    shards = common.cached_shards(work, sources, factor, seed)
    data = measure_data(sources, factor, jobs, work, seed)
    rows = [train_input.in_fresh_process(measure_phase, shards=shards, phase=p, batches=batches, seed=seed)
            for p in phases]
    settings = {"sources": sources, "factor": factor, "jobs": jobs, "batches": batches, "seed": seed,
                "torch_threads": 1, "loader_workers": 1, "cuda": torch.cuda.is_available()}
    return {"settings": settings, "data": data, "phases": rows, "costs": costs(data, rows, **(prices or {}))}


def report(r: dict[str, Any]) -> str:
    d = r["data"]
    rates = (f"augmentation {d['augment_per_s']:.3g} variants/s ({r['settings'].get('jobs', 2)} workers); shard write "
             f"{d['write_mb_per_s']:.3g} MB/s, {d['bytes_per_sample'] / 1e6:.3g} MB/sample; shard read "
             f"{d['read_per_s']:.3g} samples/s (one process)")
    keys = ("phase", "preset", "device", "micro_batch", "grad_accum", "checkpointing", "page_height",
            "loader_per_s_per_worker", "step_per_s", "flops_per_sample")
    measured = common.table(("phase", "preset", "device", "micro-batch", "accum", "checkpointing", "page px",
                             "loader pages/s/worker", "step pages/s", "GFLOP/page"),
                            [[row[k] / 1e9 if k == "flops_per_sample" and row[k] else row[k] for k in keys]
                             for row in r["phases"]])
    rows = []
    for c in r["costs"]:
        lo, hi = c["seed_claim_usd_month"]
        rows.append([c["phase"], f"{c['sources']:,} x {c['factor']} = {c['samples']:,}", c["shard_gb"],
                     c["augment_h"], f"{c['train_pages']:,} ({c['epochs']:g})", c["train_cpu_h"], c["train_gpu_h"],
                     c["run_usd_cpu"], c["run_usd_gpu"], c["runs_per_month"], c["month_usd_cpu"], c["month_usd_gpu"],
                     f"{lo:,}-{hi:,}"])
    gpu = r["costs"][0]["gpu_figures"].split(",")[0] if r["costs"] else "-"
    cost = common.table(("phase", "data (sources x variants)", "shards GB", "augment h (CPU)", "train pages (epochs)",
                         "train h CPU", f"train h GPU ({gpu})", "run $ CPU", "run $ GPU", "runs/month", "$/month CPU",
                         "$/month GPU", "seed's claim $/month"), rows)
    inputs = r["costs"][0]["inputs"] if r["costs"] else None
    prices = "" if inputs is None else (
        f"\n\nCPU: {inputs['cpu']['name']}, ${inputs['cpu']['price_per_hour']}/h ({inputs['cpu']['source']}); "
        f"GPU: {inputs['gpu']['name']}, ${inputs['gpu']['price_per_hour']}/h ({inputs['gpu']['source']}), "
        f"assumed utilization {inputs['gpu_utilization']:g} of peak, {inputs['gpu_loader_workers']} loader workers")
    return f"{rates}\n\n{measured}\n\n{cost}{prices}"


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--jobs", type=int, help=f"augmentation workers (default {FULL['jobs']})")
    p.add_argument("--batches", type=int, help=f"batches timed for the loader rate (default {FULL['batches']}, "
                                               f"quick {QUICK['batches']})")
    p.add_argument("--phases", type=int, nargs="+", choices=sorted(PHASES),
                   help=f"phases to measure (default all, quick {' '.join(map(str, QUICK_PHASES))})")
    p.add_argument("--cpu-price-per-hour", type=float, default=cost_model.CPU_MACHINE.price_per_hour,
                   help=f"USD an hour of a CPU machine like this one ({cost_model.CPU_MACHINE.name}; "
                        f"{cost_model.CPU_MACHINE.source})")
    p.add_argument("--gpu-price-per-hour", type=float, default=cost_model.GPU_MACHINE.price_per_hour,
                   help=f"USD an hour of the GPU machine ({cost_model.GPU_MACHINE.name}; "
                        f"{cost_model.GPU_MACHINE.source})")
    p.add_argument("--gpu-utilization", type=float, default=cost_model.GPU_UTILIZATION,
                   help="share of the GPU's peak FLOP/s a step sustains (extrapolated GPU figures only)")
    p.add_argument("--runs-per-month", type=int, default=cost_model.RUNS_PER_MONTH,
                   help="runs (augment + train) a month")
    p.add_argument("--from-recorded", action="store_true",
                   help="measure nothing: price the rates recorded in benchmarks/results/ (no FLOPs: no GPU figures)")
    args = p.parse_args(argv)
    cpu, gpu = cost_model.CPU_MACHINE, cost_model.GPU_MACHINE
    prices = {"cpu": cost_model.Machine(cpu.name, args.cpu_price_per_hour, cpu.source if args.cpu_price_per_hour
                                        == cpu.price_per_hour else "--cpu-price-per-hour"),
              "gpu": cost_model.Machine(gpu.name, args.gpu_price_per_hour, gpu.source if args.gpu_price_per_hour
                                        == gpu.price_per_hour else "--gpu-price-per-hour"),
              "utilization": args.gpu_utilization, "runs_per_month": args.runs_per_month}
    phases = tuple(args.phases or (QUICK_PHASES if args.quick else PHASES))
    return common.run_sized(NAME, args, QUICK, FULL, measure, report, phases=phases, prices=prices,
                            recorded=args.from_recorded)


if __name__ == "__main__":
    sys.exit(main())

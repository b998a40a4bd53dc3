"""What a phase costs: measured rates and machine prices -> hours and money per run and per month.

Pure arithmetic on fixed inputs (tests/test_cost.py); `benchmarks.cost` measures the rates.
A phase's *run* is: augment its data set once on CPU machines (`augment run`, shards written
as it goes), then train its preset for the phase defaults' steps (`train fit`: ``max_steps``
x ``batch_size`` x ``grad_accum`` pages; loading runs beside the step in DataLoader workers).
Training is costed two ways: on CPU machines like the one measured (its measured step rate),
and on one GPU. The GPU's hours are *measured* when the benchmark ran on one, else
*extrapolated*: the step's counted FLOPs per page (``torch.utils.flop_counter``) over the
GPU's peak at the phase's precision times an assumed utilization, and never faster than the
GPU machine's loader workers deliver pages (the loader rate measured here, per worker).

Prices are on-demand list prices, not fetched at run time (nothing is downloaded): each says
where it comes from and when it was read; pass ``--cpu-price-per-hour`` /
``--gpu-price-per-hour`` for today's.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Machine:
    """A machine one can rent by the hour, and where its price comes from."""

    name: str
    price_per_hour: float  # USD
    source: str


# A machine like the measured one (2 cores = 4 vCPUs, >= 16 GiB): AWS's general-purpose m6i.xlarge.
CPU_MACHINE = Machine("AWS EC2 m6i.xlarge (4 vCPU = 2 cores, 16 GiB)", 0.192,
                      "AWS EC2 On-Demand pricing, US East (N. Virginia), Linux, as listed in 2024")
# One data-centre GPU rented alone (the seed's phases 1-3 name a single GPU)
GPU_MACHINE = Machine("1x NVIDIA A100 40 GB SXM4 (Lambda GPU Cloud, on-demand)", 1.29,
                      "Lambda GPU Cloud on-demand pricing, as listed in 2024")
# A100 datasheet, dense: bf16/fp16 tensor cores (phases with amp) and plain FP32 (PyTorch leaves
# TF32 matmuls off by default, and the trainer does not turn them on)
GPU_PEAK_TFLOPS = {"amp": 312.0, "fp32": 19.5}
# share of the peak a training step sustains: an assumption (large transformer training reaches
# 0.3-0.5; these models are small and launch-bound at their batch, so below that is likely)
GPU_UTILIZATION = 0.3
GPU_LOADER_WORKERS = 8  # DataLoader workers the GPU machine runs (Lambda's 1x A100 has 30 vCPUs)
RUNS_PER_MONTH = 4  # a run a week: augment and train
# (source pairs, variants per source) of each phase's data set: the sizes, at the phase's MIN_SOURCES
PHASE_DATA: dict[int, tuple[int, int]] = {1: (2_000, 50), 2: (10_000, 10), 3: (25_000, 4), 4: (100_000, 10)}
# the seed's claim (step5_training_strategies.md), USD a month
SEED_CLAIMS: dict[int, tuple[int, int]] = {1: (20, 50), 2: (100, 200), 3: (300, 500), 4: (800, 1_500)}


@dataclass(frozen=True)
class Rates:
    """What the benchmark measured for one phase (pages = samples)."""

    augment_per_s: float  # variants/s of `augment run` on the whole CPU machine (all its workers)
    write_mb_per_s: float  # ShardWriter, one process
    bytes_per_sample: float  # shard bytes per sample
    loader_per_s_per_worker: float  # pages/s the trainer's loader delivers per DataLoader worker
    step_per_s: float  # training pages/s of the measured device
    flops_per_sample: float | None  # FLOPs of one training page (forward, backward, recompute); None: not counted
    device: str = "cpu"  # where step_per_s was measured ("cuda": the GPU figures are measured)


def phase_cost(phase: int, rates: Rates, train_pages: int, amp: bool, cpu: Machine = CPU_MACHINE,
               gpu: Machine = GPU_MACHINE, utilization: float = GPU_UTILIZATION,
               loader_workers: int = GPU_LOADER_WORKERS, runs_per_month: int = RUNS_PER_MONTH,
               data: tuple[int, int] | None = None) -> dict[str, Any]:
    """Hours and USD of one phase's run and month; every input and assumption in the result."""
    sources, factor = data or PHASE_DATA[phase]
    samples = sources * factor
    augment_h = samples / rates.augment_per_s / 3600
    write_h = samples * rates.bytes_per_sample / (rates.write_mb_per_s * 1e6) / 3600  # inside augment_h
    on_gpu = rates.device == "cuda"
    train_cpu_h = None if on_gpu else train_pages / rates.step_per_s / 3600
    train_gpu_h: float | None
    if on_gpu:
        train_gpu_h, gpu_how = train_pages / rates.step_per_s / 3600, "measured"
    elif rates.flops_per_sample is None:
        train_gpu_h, gpu_how = None, "not measured (no FLOP count)"
    else:
        peak = GPU_PEAK_TFLOPS["amp" if amp else "fp32"] * 1e12
        compute_h = train_pages * rates.flops_per_sample / (peak * utilization) / 3600
        loader_h = train_pages / (rates.loader_per_s_per_worker * loader_workers) / 3600
        train_gpu_h = max(compute_h, loader_h)
        gpu_how = "extrapolated, " + ("loader-bound" if loader_h > compute_h else "compute-bound")
    run_cpu = None if train_cpu_h is None else (augment_h + train_cpu_h) * cpu.price_per_hour
    run_gpu = None if train_gpu_h is None else augment_h * cpu.price_per_hour + train_gpu_h * gpu.price_per_hour
    return {
        "phase": phase, "sources": sources, "factor": factor, "samples": samples,
        "shard_gb": round(samples * rates.bytes_per_sample / 1e9, 1),
        "train_pages": train_pages, "epochs": round(train_pages / samples, 3),
        "augment_h": round(augment_h, 2), "write_h": round(write_h, 3),
        "train_cpu_h": None if train_cpu_h is None else round(train_cpu_h, 1),
        "train_gpu_h": None if train_gpu_h is None else round(train_gpu_h, 3), "gpu_figures": gpu_how,
        "run_usd_cpu": None if run_cpu is None else round(run_cpu, 2),
        "run_usd_gpu": None if run_gpu is None else round(run_gpu, 2),
        "runs_per_month": runs_per_month,
        "month_usd_cpu": None if run_cpu is None else round(run_cpu * runs_per_month, 2),
        "month_usd_gpu": None if run_gpu is None else round(run_gpu * runs_per_month, 2),
        "seed_claim_usd_month": list(SEED_CLAIMS[phase]),
        "inputs": {"rates": asdict(rates), "amp": amp, "cpu": asdict(cpu), "gpu": asdict(gpu),
                   "gpu_peak_tflops": GPU_PEAK_TFLOPS["amp" if amp else "fp32"], "gpu_utilization": utilization,
                   "gpu_loader_workers": loader_workers},
    }

"""Augmentation throughput: variants/s per core of `augment run`, against two baselines.

On one fixed set of synthetic sources at factor F, in one process run:
- ours: `augment.job.run_job` with --jobs 1 and --jobs N (the whole job: sources, ops on
  pixels + boxes + HTML, sample JSON, shards, manifest);
- bare: plain albumentations + cv2 encode + tarfile on the same sources and output sizes,
  replaying the parameters our run drew (`benchmarks.baselines`): the floor of pixel work;
- naive: the same image ops with geometry and photometry at full resolution, rescale last.

Reports our/bare and our/naive throughput ratios, parallel efficiency at N workers
(throughput at N over N x throughput at 1) and where a variant's time goes (decode,
spatial, photometric, structure, encode, write), from one instrumented single-process pass.
OpenCV is held to one thread so "per core" means one core.
"""
from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import cv2

from augment.config import AugmentConfig, load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.pipeline import augment_page, build_sample
from augment.sources import discover, page_from_arrays, read_boxes, read_image
from shards.storage.reader import make_pipeline
from shards.storage.writer import ShardWriter

from . import common
from .baselines import run_loop

NAME = "augment_throughput"
QUICK = dict(sources=6, factor=4, jobs=2, repeats=1)
FULL = dict(sources=24, factor=10, jobs=2, repeats=2)
STAGES = ("decode", "spatial", "photometric", "structure", "encode", "write")
TARGETS = {"ratio_vs_bare": 0.9, "ratio_vs_naive": 1.0, "parallel_efficiency": 0.9}


def run_ours(src: Path, out: Path, cfg: AugmentConfig, jobs: int) -> int:
    """One complete job of `jobs` workers from scratch (a rerun would keep finished shards);
    returns samples."""
    shutil.rmtree(out, ignore_errors=True)
    return run_job(src, out, cfg, RunOptions(jobs=jobs, progress=False, follow_symlinks=True)).samples


def recorded_ops(out: Path) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """(source, variant) -> the ops our job applied, read back from its shards."""
    ops = {}
    for split in ("train", "val"):
        try:
            pipe = make_pipeline(out, split, shuffle_buffer=0, decode=False)
        except RuntimeError:  # a split with no shards (tiny inputs)
            continue
        for raw in pipe:
            meta = json.loads(raw["json"])
            ops[(meta["source"], meta["variant"])] = meta["ops"]
    return ops


def source_list(src: Path) -> list[tuple[str, Path, Path]]:
    pairs, _ = discover(src, follow_symlinks=True)
    return [(p.source_id, p.image, p.html) for p in pairs]


def breakdown(src: Path, cfg: AugmentConfig, work: Path) -> dict[str, float]:
    """Milliseconds per variant in each stage, from one instrumented in-process pass."""
    t: Counter = Counter()
    writer = ShardWriter(work / "breakdown.tar")
    pairs, _ = discover(src, follow_symlinks=True)
    for pair in pairs:
        with common.stopwatch() as s:
            image = read_image(pair.image)
        t["decode"] += s["s"]
        with common.stopwatch() as s:
            boxes = read_boxes(pair.boxes, (image.shape[1], image.shape[0])) if pair.boxes else None
            page = page_from_arrays(pair.source_id, image, pair.html.read_bytes(), boxes)
        t["parse"] += s["s"]
        for v in range(cfg.factor):
            sample = build_sample(augment_page(page, v, cfg, t), v, cfg, "train", 0, t)
            with common.stopwatch() as s:
                writer.write(sample)
            t["write"] += s["s"]
    writer.close()
    n = max(1, len(pairs) * cfg.factor)
    stages = {k: t.pop(k, 0.0) for k in ("decode", "spatial", "photometric", "encode", "write")}
    stages["structure"] = sum(t.values())  # parse, copy, records and every structure op
    return {k: round(1000 * stages[k] / n, 3) for k in STAGES}


def measure(sources: int, factor: int, jobs: int, repeats: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    cv2.setNumThreads(1)
    work.mkdir(parents=True, exist_ok=True)
    src = common.subset(common.cached_sources(work, sources, seed), sources, work / f"at-src-{sources}")
    cfg = load_config(None, factor=factor, seed=seed)
    out = work / "at-out"
    samples = run_ours(src, out, cfg, 1)  # untimed: imports and albumentations set-up happen here
    recorded, todo = recorded_ops(out), source_list(src)
    fmt, q = cfg.image_format, cfg.quality
    secs, cpu = common.race({
        "ours_jobs1": lambda: run_ours(src, out, cfg, 1),
        "bare": lambda: run_loop(todo, recorded, factor, work / "bare.tar", fmt, q, False),
        "naive": lambda: run_loop(todo, recorded, factor, work / "naive.tar", fmt, q, True)}, repeats)
    # untimed: starts the loky workers (each imports the library on its first task)
    run_ours(src, out, cfg, jobs)
    secs[f"ours_jobs{jobs}"] = common.best_of(lambda: run_ours(src, out, cfg, jobs), repeats)
    rate = {k: samples / v for k, v in secs.items()}
    per_core = {k: round(r / (jobs if k == f"ours_jobs{jobs}" else 1), 3) for k, r in rate.items()}
    figures = {
        "samples": samples, "seconds": {k: round(v, 3) for k, v in secs.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
        "variants_per_s_per_core": per_core,
        "ratio_vs_bare": common.ratio(rate["ours_jobs1"], rate["bare"]),
        "ratio_vs_naive": common.ratio(rate["ours_jobs1"], rate["naive"]),
        "ratio_vs_bare_cpu": common.ratio(cpu["bare"], cpu["ours_jobs1"]),
        "ratio_vs_naive_cpu": common.ratio(cpu["naive"], cpu["ours_jobs1"]),
        "parallel_efficiency": common.ratio(rate[f"ours_jobs{jobs}"], jobs * rate["ours_jobs1"]),
        "breakdown_ms_per_variant": breakdown(src, cfg, work),
    }
    figures["targets"] = {k: {"target": v, "measured": figures[k], "met": figures[k] is not None and figures[k] >= v}
                          for k, v in TARGETS.items()}
    settings = {"sources": sources, "factor": factor, "jobs": jobs, "repeats": repeats, "seed": seed,
                "image_format": fmt, "opencv_threads": 1,
                "timing": "best of interleaved repeats; wall = perf_counter, cpu = process_time"}
    return {"settings": settings, **figures}


def report(r: dict[str, Any]) -> str:
    jobs = r["settings"]["jobs"]
    pc, secs = r["variants_per_s_per_core"], r["seconds"]
    cpu = r["cpu_seconds"]
    rows = [(k, secs[k], cpu.get(k), pc[k], common.ratio(pc[k], pc["bare"]), common.ratio(pc[k], pc["naive"]))
            for k in ("ours_jobs1", f"ours_jobs{jobs}", "bare", "naive")]
    out = [common.table(("run", "wall s", "cpu s", "variants/s/core", "x bare", "x naive"), rows), "",
           f"by CPU time: x bare {r['ratio_vs_bare_cpu']}, x naive {r['ratio_vs_naive_cpu']}",
           f"parallel efficiency at {jobs} workers: {r['parallel_efficiency']}", "",
           common.table(("stage", "ms/variant"), list(r["breakdown_ms_per_variant"].items()))]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--jobs", type=int, help=f"workers of the parallel run (default {FULL['jobs']})")
    p.add_argument("--repeats", type=int, help="timed repeats, best kept (default 2, quick 1)")
    return common.run_sized(NAME, p.parse_args(argv), QUICK, FULL, measure, report)


if __name__ == "__main__":
    sys.exit(main())

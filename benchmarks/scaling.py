"""Scaling: `augment run` wall time and peak memory per worker against the number of sources.

Each size runs as its own `python -m augment run ... --jobs 1` process (one worker: the
process itself). Its peak RSS is read from `/proc/<pid>/status` (`VmHWM`, the high-water
mark of the process's own address space) while it runs: `ru_maxrss` from `wait4` would not
do, because Linux carries the launching process's peak into a child across fork + exec, so
every child of a big benchmark process would report the parent's size. Time should grow
linearly in the number of sources (the fitted slope is seconds per source; the intercept is
start-up) and memory should stay flat, since a job holds one shard's samples at a time,
never the data set.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import common

NAME = "scaling"
QUICK = dict(sizes=(6, 12, 24), factor=2)
FULL = dict(sizes=(50, 100, 200, 400), factor=4)
# A worker holds one shard's samples in memory (a shard is written in variant-major order,
# and the samples come source by source), so its peak grows with the shard until shards
# reach samples_per_shard, and not with the data set after that. Small jobs get smaller
# shards (at least 8 chunks per split), so each size runs with shards of this many samples,
# a size every one of them fills: what is left to grow with is the number of sources.
SAMPLES_PER_SHARD = 24
TARGETS = {"rss_growth": 0.1}  # peak RSS at the largest size over the smallest, minus 1


def run_size(src: Path, out: Path, factor: int, seed: int) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one fresh `augment run` process."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "augment", "run", "--input", str(src), "--out", str(out), "--factor", str(factor),
           "--jobs", "1", "--seed", str(seed), "--samples-per-shard", str(SAMPLES_PER_SHARD), "--no-progress",
           "--follow-symlinks"]  # the sources are links into a shared pool (common.subset)
    err = out.with_name(out.name + ".stderr")
    t0 = time.perf_counter()
    peak_kib = 0
    with open(err, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=fh)
        while proc.poll() is None:
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            time.sleep(0.05)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.read_text()[-2000:]}")
    return wall, peak_kib / 1024


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set so far (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def fit(xs: list[int], ys: list[float]) -> dict[str, float]:
    """Least-squares line y = slope * x + intercept, with R^2."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    pred = slope * np.asarray(xs, float) + intercept
    ss_res = float(((np.asarray(ys) - pred) ** 2).sum())
    ss_tot = float(((np.asarray(ys) - np.mean(ys)) ** 2).sum())
    return {"slope": round(float(slope), 5), "intercept": round(float(intercept), 3),
            "r2": round(1 - ss_res / ss_tot, 4) if ss_tot else 1.0}


def measure(sizes: tuple[int, ...], factor: int, work: Path, seed: int = 0) -> dict[str, Any]:
    """Every figure of the benchmark (see the module docstring) as a JSON-ready dict."""
    sizes = tuple(sorted(sizes))
    pool = common.cached_sources(work, max(sizes), seed)
    rows = []
    for n in sizes:
        src = common.subset(pool, n, work / f"scaling-src-{n}")
        wall, rss = run_size(src, work / f"scaling-out-{n}", factor, seed)
        rows.append({"sources": n, "variants": n * factor, "seconds": round(wall, 3), "peak_rss_mib": round(rss, 1),
                     "ms_per_variant": round(1000 * wall / (n * factor), 2)})
    t_fit = fit(list(sizes), [r["seconds"] for r in rows])
    m_fit = fit(list(sizes), [r["peak_rss_mib"] for r in rows])
    growth = round(rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"] - 1, 4)
    return {"settings": {"sizes": list(sizes), "factor": factor, "jobs": 1, "seed": seed,
                         "samples_per_shard": SAMPLES_PER_SHARD},
            "rows": rows, "time_fit_s_per_source": t_fit, "rss_fit_mib_per_source": m_fit, "rss_growth": growth,
            "targets": {"rss_growth": {"target": f"<= {TARGETS['rss_growth']}", "measured": growth,
                                       "met": growth <= TARGETS["rss_growth"]}}}


def report(r: dict[str, Any]) -> str:
    keys = ("sources", "variants", "seconds", "ms_per_variant", "peak_rss_mib")
    t, m = r["time_fit_s_per_source"], r["rss_fit_mib_per_source"]
    return "\n".join([
        common.table(("sources", "variants", "seconds", "ms/variant", "peak RSS MiB"),
                     [[x[k] for k in keys] for x in r["rows"]]), "",
        f"time: {t['slope']:.4g} s per source (+{t['intercept']:.3g} s start-up), R^2 {t['r2']}",
        f"peak RSS: {m['slope']:+.4g} MiB per source; largest/smallest - 1 = {r['rss_growth']:+.1%}"])


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    p.add_argument("--sizes", type=int, nargs="+",
                   help=f"numbers of sources (default {FULL['sizes']}, quick {QUICK['sizes']})")
    p.add_argument("--factor", type=int,
                   help=f"variants per source (default {FULL['factor']}, quick {QUICK['factor']})")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = tuple(args.sizes or base["sizes"])
    machine = common.machine()
    r = measure(sizes, args.factor or base["factor"], args.work, args.seed)
    common.finish(NAME, args, machine, r, report(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())

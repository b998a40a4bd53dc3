"""What every benchmark shares: machine facts, cached inputs, timing, tables and JSON.

Absolute times on a shared 2-core machine drift with whatever else runs, so every
benchmark reports ratios against a baseline measured in the same process run; the JSON
records the load average before and after, so a reader can tell a quiet run from a busy one.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from shards.storage import atomic
from shards.storage.versions import package_versions

# The few-shot benchmarks' generator setting (`augment synth --shared-looks`): every middle section
# type of a group painted in another's look, so that only the group's pages tell which is which
FEW_SHOT_LOOKS = 1.0
RECORD_DIR = Path(__file__).with_name("results")  # the recorded results (tracked; `python -m benchmarks --record`)
RESULTS_DIR = RECORD_DIR / "latest"  # where runs write (ignored by git): running never dirties the checkout
DEFAULT_WORK = Path(os.environ.get("S2S_BENCH_WORK", "/tmp/s2s-bench"))
PACKAGES = ("torch", "torchvision", "albumentations", "opencv-python-headless", "numpy", "webdataset", "joblib")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (platform's answer elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    return {"python": platform.python_version(), **package_versions(PACKAGES)}


def machine() -> dict[str, Any]:
    """The facts a reader needs to compare runs: cores, CPU, OS, memory, load, GPU."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        mem = None
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(), "platform": platform.platform(),
        "memory_gib": round(mem, 1) if mem else None, "loadavg_start": list(os.getloadavg()),
    }
    try:
        import torch

        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["cuda"] = None
    return info


@contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """`with stopwatch() as t: ...` then `t["s"]` holds the block's wall seconds."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        yield t
    finally:
        t["s"] = time.perf_counter() - t0


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of `repeats` timed calls: the least disturbed by other load."""
    times = []
    for _ in range(max(1, repeats)):
        with stopwatch() as t:
            fn()
        times.append(t["s"])
    return min(times)


def race(contenders: dict[str, Callable[[], Any]], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """(best wall s, best CPU s of this process) per contender over `repeats` rounds.

    Rounds interleave the contenders (a, b, c, a, b, c, ...), so a burst of load from
    other processes hits them alike instead of whichever happened to run then. CPU time
    (`time.process_time`, this process only) barely moves with foreign load; it misses
    work done in child processes and time spent waiting on the disk.
    """
    wall = {k: float("inf") for k in contenders}
    cpu = dict(wall)
    for _ in range(max(1, repeats)):
        for name, fn in contenders.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - t0)
            cpu[name] = min(cpu[name], time.process_time() - c0)
    return wall, cpu


def ratio(ours: float, base: float) -> float | None:
    return round(ours / base, 3) if base else None


def cached_sources(work: Path, count: int, seed: int = 0, shared_looks: float = 0.0) -> Path:
    """A folder of `count` synthetic source pairs, generated once and reused across runs.

    Page i depends only on (seed, i) (and `shared_looks`, `augment synth --shared-looks`), so a
    pool only grows: a run needing more pages writes the missing ones, a run needing fewer takes
    a subset (see `subset`).
    """
    from augment.synth import write_synth

    pool = work / (f"sources-seed{seed}" + (f"-looks{shared_looks:g}" if shared_looks else ""))
    have = sum(1 for i in range(count) if (pool / f"page-{i:05d}.png").exists())
    if have < count:
        write_synth(pool, count, seed, progress=False, shared_looks=shared_looks)
    return pool


def subset(pool: Path, count: int, dest: Path) -> Path:
    """`dest` holding links to the first `count` pairs of `pool` (no copying): a job reading it
    needs `follow_symlinks` (`--follow-symlinks`), since the links point outside `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        for ext in (".png", ".html", ".boxes.json"):
            link = dest / f"page-{i:05d}{ext}"
            if not link.exists():
                link.symlink_to((pool / link.name).resolve())
    groups = pool / "groups.json"  # the pages' look families (few-shot groups), those of the subset only
    if groups.exists():
        ids = {f"page-{i:05d}" for i in range(count)}
        kept = {k: v for k, v in json.loads(groups.read_text(encoding="utf-8")).items() if k in ids}
        atomic.write_bytes(dest / "groups.json", (json.dumps(kept, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return dest


def write_result(name: str, record: dict[str, Any], out_dir: Path | None = None) -> Path:
    """Write `record` (plus machine, versions, load at the end) to `<out_dir>/<name>.json`
    atomically: a temp file renamed into place, so a killed run never leaves half a file."""
    out_dir = Path(out_dir) if out_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "date": datetime.date.today().isoformat(), **record}
    record.setdefault("machine", machine())
    record["machine"]["loadavg_end"] = list(os.getloadavg())
    record["versions"] = versions()
    path = out_dir / f"{name}.json"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return "-" if v is None else str(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-markdown table (readable in a terminal, pasteable into the README)."""
    cells = [list(headers)] + [[fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
                     + [line(r) for r in cells[1:]])


def machine_line(m: dict[str, Any]) -> str:
    load = ", ".join(f"{v:.2f}" for v in m["loadavg_start"])
    return f"{m['usable_cpus']} cores, {m['cpu_model']}, {m['memory_gib']} GiB; load average at start {load}"


def size_flags(p: argparse.ArgumentParser, quick: dict[str, Any], full: dict[str, Any]) -> None:
    """--sources and --factor, with both modes' defaults in the help."""
    for flag, what in (("sources", "synthetic source pairs"), ("factor", "variants per source")):
        p.add_argument(f"--{flag}", type=int, help=f"{what} (default {full[flag]}, quick {quick[flag]})")


def base_parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """The flags every benchmark takes; each adds its own sizes."""
    from shards.views.cli_support import HelpFormatter

    p = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}", description=doc, formatter_class=HelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--quick", action="store_true", help="smallest settings that still mean something (make bench)")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK,
                   help="scratch folder; synthetic sources are cached here ($S2S_BENCH_WORK sets the default)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR,
                   help="folder for <name>.json")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic sources and of the job")
    return p


def cached_shards(work: Path, sources: int, factor: int, seed: int = 0) -> Path:
    """Shards of an `augment run` over `sources` synthetic pairs, built once and reused."""
    from augment.config import load_config
    from augment.job import run_job
    from augment.run_options import RunOptions

    out = work / f"shards-{sources}x{factor}-seed{seed}"
    if not (out / "manifest.json").exists():
        src = subset(cached_sources(work, sources, seed), sources, work / f"src-{sources}-seed{seed}")
        # small jobs are cut into >= 8 shards per split: enough for the readers' worker split
        opts = RunOptions(jobs=1, progress=False, follow_symlinks=True)  # `subset` links into the pool
        run_job(src, out, load_config(None, factor=factor, seed=seed), opts)
    return out


def chosen_sizes(args: argparse.Namespace, quick: dict[str, Any], full: dict[str, Any]) -> dict[str, Any]:
    """The mode's size settings, each overridden by its flag when given."""
    return {k: getattr(args, k, None) or v for k, v in (quick if args.quick else full).items()}


def finish(name: str, args: argparse.Namespace, machine_info: dict[str, Any], result: dict[str, Any],
           text: str) -> Path:
    """Print the run's table under its machine line and write its JSON record."""
    print(f"{name}: {machine_line(machine_info)}\n{text}")
    path = write_result(name, {"machine": machine_info, "quick": args.quick, **result}, args.results)
    print(f"wrote {path}")
    return path


def run_sized(name: str, args: argparse.Namespace, quick: dict[str, Any], full: dict[str, Any],
              measure: Callable[..., dict[str, Any]], report: Callable[[dict[str, Any]], str],
              **extra: Any) -> int:
    """Measure with the mode's sizes (flags win), then print and write the result."""
    machine_info = machine()
    result = measure(**chosen_sizes(args, quick, full), work=args.work, seed=args.seed, **extra)
    finish(name, args, machine_info, result, report(result))
    return 0


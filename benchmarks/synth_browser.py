"""Browser-drawn synthetic pages per second: the synth engine's warm browser against `augment render` one at a time.

The same grammar pages (`augment.synth.browser`, seed `--seed`, `--width` px, the pinned
frameworks from `--cache`, fetched by `python -m augment synth-assets`) are written once
into a stage, then rendered:

- **synth**: as `augment synth --engine browser` renders them: one browser, `--jobs` pages at
  once, no page scripts, no snapshot (`write.py`'s settings);
- **render, one at a time**: `augment render --html STAGE --jobs 1` with its defaults (scripts
  on, the paused clock settled, a snapshot per page): the baseline;
- **end to end**: `write_browser_synth` itself (page generation, staging, render, moving the
  pairs, truth), the number a user sees.

Each row gives pages/s (wall), the CPU seconds per page of this process and every process
under it (`TreeCpu`, read from /proc: a lower bound) and what 2 idle cores would give from it
(2 / CPU s per page; Chromium's CPU per page itself grows with the load, so on a loaded machine
this too is pessimistic). Target: synth >= 2 pages/s at 1280 px on 2 cores. Chromium is
CPU-heavy: on a shared machine the wall figures drift with the load (recorded at start and end).
"""
from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

from augment.render import RenderOptions, render_pages
from augment.synth.browser import LAYOUTS, BrowserSynthOptions, SynthError, fetch_assets, write_browser_synth
from augment.synth.browser.assets import DEFAULT_CACHE, MANIFEST, stage_assets
from augment.synth.browser.grammar import page_spec

from . import common

NAME = "synth_browser"
QUICK = {"pages": 8, "jobs": 4}
FULL = {"pages": 40, "jobs": 4}
TARGET = 2.0  # pages/s at 1280 px on 2 cores


class TreeCpu:
    """CPU seconds of this process and every process under it (the browsers, their renderers), read from
    /proc every `every` seconds: a renderer that lives between two reads is missed, and one read after
    its last one loses its last moments, so this is a lower bound (os.times misses more: Chromium's
    sandboxed renderers are reaped in a namespace of their own, never by this process)."""

    def __init__(self, every: float = 0.1):
        self.every, self.seen, self._stop = every, {}, threading.Event()
        self.tick = os.sysconf("SC_CLK_TCK")

    def _read(self) -> None:
        parents, cpu = {}, {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(d)] = int(fields[1])
                cpu[int(d)] = (int(fields[11]) + int(fields[12])) / self.tick
        me = os.getpid()
        for pid in cpu:
            p, hops = pid, 0
            while p not in (0, 1, me) and hops < 64:
                p, hops = parents.get(p, 0), hops + 1
            if p == me:
                self.seen[pid] = cpu[pid]

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._read()

    def __enter__(self) -> "TreeCpu":
        self.start = time.process_time()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.process_time() - self.start + sum(self.seen.values())


def _timed(fn) -> dict[str, float]:
    w0 = time.perf_counter()
    with TreeCpu() as cpu:
        fn()
    return {"wall_s": time.perf_counter() - w0, "cpu_s": cpu.seconds}


def _row(pages: int, t: dict[str, float]) -> dict[str, Any]:
    cpu_per_page = t["cpu_s"] / pages
    return {"pages": pages, "wall_s": round(t["wall_s"], 2), "pages_per_s": round(pages / t["wall_s"], 3),
            "cpu_s_per_page": round(cpu_per_page, 3), "pages_per_s_2_idle_cores": round(2 / cpu_per_page, 2)}


def measure(pages: int, jobs: int, work: Path, seed: int, width: int = 1280, cache: str = DEFAULT_CACHE,
            manifest: str = str(MANIFEST)) -> dict[str, Any]:
    fetch_assets(cache, manifest, offline=True)  # a missing package: the error says how to fetch it
    root = work / f"synth-browser-{pages}-w{width}-seed{seed}"
    shutil.rmtree(root, ignore_errors=True)
    stage = root / "stage"
    assets = stage_assets(stage, cache, manifest)
    html = stage / "pages"
    html.mkdir(parents=True)
    for i in range(pages):
        spec = page_spec(seed, i, assets, tuple(LAYOUTS), (width,))
        (html / f"{spec.source_id}.html").write_text(spec.html, encoding="utf-8")
    synth_opts = RenderOptions(width=width, jobs=jobs, javascript=False, snapshot=False, progress=False,
                               asset_root=str(stage), max_height=BrowserSynthOptions.max_height)
    one_opts = RenderOptions(width=width, jobs=1, progress=False, asset_root=str(stage),
                             max_height=BrowserSynthOptions.max_height)
    rows = {
        "synth": _timed(lambda: render_pages(root / "synth", html_dir=html, opts=synth_opts)),
        "render_one_at_a_time": _timed(lambda: render_pages(root / "one", html_dir=html, opts=one_opts)),
        "end_to_end": _timed(lambda: write_browser_synth(root / "e2e", BrowserSynthOptions(
            count=pages, seed=seed, widths=(width,), jobs=jobs, cache=cache, manifest=manifest, progress=False))),
    }
    result = {name: _row(pages, t) for name, t in rows.items()}
    synth = result["synth"]["pages_per_s"]
    return {"settings": {"pages": pages, "jobs": jobs, "width": width, "seed": seed, "cache": str(cache),
                         "manifest": str(manifest)},
            "rows": result,
            "speedup_vs_one_at_a_time": round(synth / result["render_one_at_a_time"]["pages_per_s"], 2),
            "targets": {"synth_pages_per_s": {"target": TARGET, "value": synth, "met": synth >= TARGET}},
            "load_end": list(os.getloadavg())}


def report(r: dict[str, Any]) -> str:
    head = ["renderer", "pages", "wall s", "pages/s", "CPU s/page", "pages/s on 2 idle cores"]
    names = {"synth": f"synth engine (--jobs {r['settings']['jobs']}, warm browser)",
             "render_one_at_a_time": "augment render --jobs 1 (defaults)", "end_to_end": "augment synth --engine "
                                                                                        "browser, end to end"}
    rows = [[names[k], v["pages"], v["wall_s"], v["pages_per_s"], v["cpu_s_per_page"], v["pages_per_s_2_idle_cores"]]
            for k, v in r["rows"].items()]
    t = r["targets"]["synth_pages_per_s"]
    return (common.table(head, rows) + f"\n\n{r['settings']['width']} px; synth vs one at a time: "
            f"x{r['speedup_vs_one_at_a_time']}; target >= {t['target']} pages/s: {'met' if t['met'] else 'not met'} "
            f"(load average at the end {', '.join(f'{x:.1f}' for x in r['load_end'])})")


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    p.add_argument("--pages", type=int, help=f"pages (default {FULL['pages']}, quick {QUICK['pages']})")
    p.add_argument("--jobs", type=int, help=f"pages at once in the synth engine's browser (default {FULL['jobs']}, "
                                            f"quick {QUICK['jobs']})")
    p.add_argument("--width", type=int, default=1280, help="page width in CSS px")
    p.add_argument("--cache", default=DEFAULT_CACHE, help="the package cache `python -m augment synth-assets` fills")
    p.add_argument("--manifest", default=str(MANIFEST), help="the pinned packages (frameworks.toml)")
    args = p.parse_args(argv)
    try:
        return common.run_sized(NAME, args, QUICK, FULL, measure, report, width=args.width, cache=args.cache,
                                manifest=args.manifest)
    except SynthError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

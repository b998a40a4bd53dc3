"""`write_browser_synth`: COUNT grammar pages -> HTML in a stage -> Chromium -> source pairs with truth.

The pages (`grammar.page_spec`) are written to ``OUT/.synth-stage/w<width>/`` beside the
staged packages (``OUT/.synth-stage/assets``, `assets.stage_assets`, from the cache only:
nothing is downloaded here), and rendered with `augment render`'s library function
(`augment.render.render_pages`: the same sandbox, asset root, paused clock and offline
rule; the stage is the asset root), one browser per width with ``jobs`` pages at once, no
page scripts (the pages have none). Each pair is moved into OUT with the stage's path
replaced by ``synth://stage`` in the saved DOM and boxes file (so the bytes do not depend on
where OUT is), then its truth is written as ``<id>.truth.json``.

The truth keeps only what the capture holds: a region or section whose element has no box
(below ``max_height``) is dropped, counted under ``page.cut``; one whose xpath names no
element of the saved DOM is counted under ``page.lost`` (a generator bug; the tests want 0).
OUT also gets ``groups.json`` (group = framework-layout), ``ATTRIBUTION`` (every package,
version and license) and ``render_rejects.jsonl``. A rerun makes only the pages not yet
complete; the stage is removed at the end.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from shards.pairs.groups import write_groups
from shards.storage import atomic
from shards.tokens.htmlparse import parse_html

from ...render import REJECTS_NAME, RenderOptions, is_complete, render_pages
from ...render.snapshot import SNAPSHOT_SUFFIX, relocate
from .assets import DEFAULT_CACHE, MANIFEST, SynthError, attribution, stage_assets
from .grammar import WIDTH, PageSpec, page_spec
from .layouts import LAYOUTS

STAGE_NAME = ".synth-stage"
NEUTRAL = "synth://stage"
TRUTH_SUFFIX = ".truth.json"
MIN_WIDTH, MAX_WIDTH = 320, 2560


@dataclass(frozen=True)
class BrowserSynthOptions:
    """What `write_browser_synth` makes; the CLI's flags, with the same defaults."""

    count: int = 200
    seed: int = 0
    widths: tuple[int, ...] = (WIDTH,)
    layouts: tuple[str, ...] = tuple(LAYOUTS)
    frameworks: tuple[str, ...] = ()  # () = every framework of the manifest
    cache: str = DEFAULT_CACHE
    manifest: str = str(MANIFEST)
    jobs: int = 4
    height: int = 800
    max_height: int = 6000
    timeout: float = 30.0
    snapshot: bool = False
    browser: str | None = None
    progress: bool = True

    def problems(self) -> list[str]:
        """Every bad setting, each naming its flag."""
        out = []
        if self.count < 1:
            out.append(f"--count {self.count}: must be at least 1")
        bad = [x for x in self.widths if not MIN_WIDTH <= x <= MAX_WIDTH]
        if bad or not self.widths:
            out.append(f"--width {','.join(map(str, bad)) or '(none)'}: every width must be in "
                       f"{MIN_WIDTH}..{MAX_WIDTH} px (CSS px = image px)")
        unknown = sorted(set(self.layouts) - set(LAYOUTS))
        if unknown or not self.layouts:
            out.append(f"--layouts {','.join(unknown) or '(none)'}: choose from {', '.join(LAYOUTS)}")
        if self.jobs < 1:
            out.append(f"--jobs {self.jobs}: must be at least 1")
        if not self.timeout > 0:
            out.append(f"--timeout {self.timeout}: must be above 0 seconds")
        if self.max_height < self.height:
            out.append(f"--max-height {self.max_height}: must be at least --height {self.height}")
        return out


@dataclass
class BrowserSynthSummary:
    """What a run did; `text()` is what the CLI prints."""

    out: Path
    pages: int = 0
    rendered: int = 0
    kept: int = 0
    rejected: int = 0
    cut: int = 0
    lost: int = 0
    groups: dict[str, str] = field(default_factory=dict)
    render_seconds: float = 0.0
    seconds: float = 0.0

    def text(self) -> str:
        return (f"pages {self.pages}: rendered {self.rendered}, kept {self.kept} (already complete), rejected "
                f"{self.rejected} (see {REJECTS_NAME}); {len(set(self.groups.values()))} groups\n"
                f"truth: {self.cut} regions/sections below the capture dropped, {self.lost} lost\n"
                f"{self.seconds:.1f} s ({self.rendered / max(self.render_seconds, 1e-9):.2f} pages/s rendering)\n"
                f"output: {self.out} (<id>.png/.html/.boxes.json/{TRUTH_SUFFIX[1:]}, groups.json, ATTRIBUTION)")


def finish_truth(truth: dict, html: str, boxes: dict) -> dict:
    """The truth of what was captured: regions/sections with a box, indices renumbered (module docstring)."""
    box = {e["xpath"]: e["box"] for e in boxes["elements"]}
    root = parse_html(html)
    cut = lost = 0
    keep_regions = []
    for r in truth["regions"]:
        if r["xpath"] in box:
            keep_regions.append(r)
        elif root.xpath(r["xpath"]):
            cut += 1
        else:
            lost += 1
    index = {id(r): n for n, r in enumerate(keep_regions)}
    old = {n: id(r) for n, r in enumerate(truth["regions"])}
    sections = []
    for s in truth["sections"]:
        if s["xpath"] in box and old[s["region"]] in index:
            sections.append({**s, "region": index[old[s["region"]]]})
        elif root.xpath(s["xpath"]):
            cut += 1
        else:
            lost += 1
    page = {**truth["page"], "cut": cut, "lost": lost}
    return {"page": page, "regions": [{**r, "box": box[r["xpath"]]} for r in keep_regions],
            "sections": [{**s, "box": box[s["xpath"]]} for s in sections]}


def _move_pair(stage: Path, pairs: Path, sid: str, out: Path) -> None:
    """Move one rendered pair into OUT, the stage's path made neutral; the boxes file last."""
    snap = pairs / f"{sid}{SNAPSHOT_SUFFIX}"
    if snap.is_file():
        data = relocate(snap.read_bytes(), stage.as_uri(), NEUTRAL, foreign=f"{NEUTRAL}/..")
        atomic.write_bytes(out / snap.name, data)
    for suffix in (".png", ".html", ".boxes.json"):
        data = (pairs / f"{sid}{suffix}").read_bytes()
        if suffix != ".png":
            data = data.replace(stage.as_uri().encode(), NEUTRAL.encode()).replace(str(stage).encode(),
                                                                                   NEUTRAL.encode())
        atomic.write_bytes(out / f"{sid}{suffix}", data)


def _render_width(width: int, specs: list[PageSpec], stage: Path, out: Path, opts: BrowserSynthOptions,
                  summary: BrowserSynthSummary, rejects: list[dict]) -> None:
    pages, pairs = stage / f"w{width}", stage / f"pairs-w{width}"
    for d in (pages, pairs):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for spec in specs:
        (pages / f"{spec.source_id}.html").write_text(spec.html, encoding="utf-8")
    ropts = RenderOptions(width=width, height=opts.height, max_height=opts.max_height, jobs=opts.jobs,
                          timeout=opts.timeout, browser=opts.browser, progress=opts.progress,
                          asset_root=str(stage), javascript=False, snapshot=opts.snapshot)
    t0 = time.perf_counter()
    render_pages(pairs, html_dir=pages, opts=ropts)
    summary.render_seconds += time.perf_counter() - t0
    if (pairs / REJECTS_NAME).is_file():
        for line in (pairs / REJECTS_NAME).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rejects.append({k: str(v).replace(stage.as_uri(), NEUTRAL).replace(str(stage), NEUTRAL)
                            for k, v in row.items()})
    for spec in specs:
        if not is_complete(pairs, spec.source_id):
            summary.rejected += 1
            continue
        _move_pair(stage, pairs, spec.source_id, out)
        boxes = json.loads((out / f"{spec.source_id}.boxes.json").read_text(encoding="utf-8"))
        html = (out / f"{spec.source_id}.html").read_text(encoding="utf-8")
        truth = finish_truth(spec.truth, html, boxes)
        summary.cut += truth["page"]["cut"]
        summary.lost += truth["page"]["lost"]
        atomic.write_json(out / f"{spec.source_id}{TRUTH_SUFFIX}", truth)
        summary.rendered += 1


def _make(out: Path, stage: Path, opts: BrowserSynthOptions) -> BrowserSynthSummary:
    assets = stage_assets(stage, opts.cache, opts.manifest, offline=True,
                          only={"framework": list(opts.frameworks)} if opts.frameworks else None)
    summary = BrowserSynthSummary(out, pages=opts.count)
    by_width: dict[int, list[PageSpec]] = {}
    for i in tqdm(range(opts.count), desc="synth pages", unit="page", disable=not opts.progress):
        spec = page_spec(opts.seed, i, assets, opts.layouts, opts.widths)
        summary.groups[spec.source_id] = spec.group
        if is_complete(out, spec.source_id) and (out / f"{spec.source_id}{TRUTH_SUFFIX}").is_file():
            summary.kept += 1
        else:
            by_width.setdefault(spec.width, []).append(spec)
    rejects: list[dict] = []
    for width, specs in sorted(by_width.items()):
        _render_width(width, specs, stage, out, opts, summary, rejects)
    done = {k: g for k, g in summary.groups.items() if is_complete(out, k)}
    if done:
        write_groups(out, done)
    atomic.write_bytes(out / REJECTS_NAME, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rejects).encode())
    atomic.write_bytes(out / "ATTRIBUTION", attribution(assets.packages).encode())
    return summary


def write_browser_synth(out: str | Path, opts: BrowserSynthOptions = BrowserSynthOptions()) -> BrowserSynthSummary:
    """Make `opts.count` browser-drawn source pairs with their truth in `out` (see the module docstring)."""
    t0 = time.perf_counter()
    if problems := opts.problems():
        raise SynthError("; ".join(problems))
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    stage = out / STAGE_NAME
    try:
        summary = _make(out, stage, opts)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    summary.seconds = time.perf_counter() - t0
    return summary

"""The render job: every input that has no complete pair yet, `jobs` pages at a time.

A page is complete when `<id>.png`, `<id>.html` and `<id>.boxes.json` exist; each is
written atomically and the boxes file last, so a killed job leaves no pair that looks
complete, and a rerun renders only the rest. A page that fails (timeout, navigation error,
crashed renderer, DOM the project's parser refuses, nothing visible) is a line in
`render_rejects.jsonl`, rewritten at the end of every run with that run's rejects; the job
goes on. When the browser itself dies, it is restarted and the pages it held are tried
once more. The job holds `--out`'s lock (`shards.storage.lock`): a second render into the same folder
is refused naming the first. The groups of the complete pages (`inputs.py`) are merged
into `PAIRS/groups.json` at the end of every run.

What a page may load is the asset root's rule (`guard.py`); what it may write is bounded:
boxes only for elements meeting the captured area, at most `max_elements` of them (else
the page is a reject, `too_many_elements`), each page's `render` record saying what was
blocked, cut and clipped. The summary says how the browser was sandboxed (`sandbox.py`).

With `snapshot` (the default; `--no-snapshot` turns it off) each page also gets `<id>.mhtml`,
its self-contained archive (`snapshot.py`, what `augment run --rerender` renders again),
written before the boxes file; a page whose archive fails or is too large is written
without one and counted.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from shards.storage import atomic
from shards.storage.lock import hold
from shards.tokens.htmlparse import HtmlError

from ..groups import GROUPS_NAME, write_groups
from .browser import Browser, BrowserGone, PageFailure, RawPage, find_browser
from .extract import boxes_json, check_elements, png_size
from .guard import AssetRoot
from .inputs import InputReject, RenderError, RenderInput, asset_root, from_html_dir, from_url_file
from .snapshot import SNAPSHOT_SUFFIX

REJECTS_NAME = "render_rejects.jsonl"


@dataclass(frozen=True)
class RenderOptions:
    """How pages are rendered; the CLI's flags, with the same defaults."""

    width: int = 1280
    height: int = 800
    max_height: int = 4000
    jobs: int = 2
    timeout: float = 30.0
    allow_network: bool = False
    browser: str | None = None
    progress: bool = True
    asset_root: str | None = None  # None: the --html folder, or the --urls list's folder
    follow_symlinks: bool = False
    max_elements: int = 20_000  # the page set's largest has 207; a dense 1280x4000 table ~5,000
    javascript: bool = True
    snapshot: bool = True  # also write <id>.mhtml, the page's self-contained archive (snapshot.py)

    def problems(self) -> list[str]:
        """Every bad setting, each naming its flag."""
        out = []
        for name, flag, lo in (("width", "--width", 64), ("height", "--height", 64),
                               ("max_height", "--max-height", 64), ("jobs", "--jobs", 1),
                               ("max_elements", "--max-elements", 1)):
            if getattr(self, name) < lo:
                out.append(f"{flag} {getattr(self, name)}: must be at least {lo}")
        if not self.timeout > 0:
            out.append(f"--timeout {self.timeout}: must be above 0 seconds")
        return out


@dataclass
class RenderSummary:
    """What a render job did; `text()` is the summary the CLI prints."""

    out: Path
    inputs: int = 0
    rendered: int = 0
    kept: int = 0
    rejects: Counter = field(default_factory=Counter)
    elements_found: int = 0
    elements_kept: int = 0
    elements_cut: int = 0  # wholly outside the captured area: not recorded
    elements_clipped: int = 0
    blocked: int = 0
    blocked_files: int = 0  # of `blocked`: file: requests outside the asset root (or not a file)
    restarts: int = 0
    sandbox: str = ""
    javascript: bool = True
    seconds: float = 0.0
    grouped: int = 0  # complete pages whose group went into groups.json
    groups: int = 0  # distinct groups among them
    snapshots: int = 0  # <id>.mhtml written
    snapshot_bytes: int = 0
    snapshot_missing: Counter = field(default_factory=Counter)  # pages written without one, by why

    @property
    def xpath_rate(self) -> float:
        """Share of the elements collect.js found whose xpath resolves in the project's parse."""
        return self.elements_kept / self.elements_found if self.elements_found else 1.0

    def text(self) -> str:
        rej = ", ".join(f"{r}={n}" for r, n in sorted(self.rejects.items())) or "none"
        return (f"pages {self.inputs}: rendered {self.rendered}, kept {self.kept} (already complete), "
                f"rejected {sum(self.rejects.values())} ({rej})\n"
                f"elements {self.elements_kept} of {self.elements_found} found kept "
                f"({100 * self.xpath_rate:.2f}% of xpaths resolve in the project's parse); {self.elements_cut} "
                f"outside the capture not recorded, {self.elements_clipped} clipped to it\n"
                f"blocked requests {self.blocked} ({self.blocked_files} of them file: outside the asset root or not a "
                f"file); browser restarts {self.restarts}; browser sandbox {self.sandbox or 'not started'}"
                f"{'' if self.javascript else '; JavaScript off'}\n"
                + (f"{GROUPS_NAME}: {self.grouped} pages in {self.groups} groups\n" if self.grouped else "")
                + (f"snapshots {self.snapshots} (<id>{SNAPSHOT_SUFFIX}, "
                   f"{self.snapshot_bytes / max(self.snapshots, 1) / 1e3:.0f} kB per page){self._missing()}\n"
                   if self.snapshots or self.snapshot_missing else "")
                + f"{self.seconds:.1f} s ({self.rendered / max(self.seconds, 1e-9):.2f} pages/s)\n"
                f"output: {self.out} (rejects in {REJECTS_NAME})")

    def _missing(self) -> str:
        whys = "; ".join(f"{n} {why}" for why, n in sorted(self.snapshot_missing.items()))
        return f"; {sum(self.snapshot_missing.values())} page(s) without one ({whys})" if whys else ""


def is_complete(out: Path, source_id: str) -> bool:
    """Whether `out` holds all three files of the pair (the boxes file is written last)."""
    return all((out / f"{source_id}{ext}").is_file() for ext in (".png", ".html", ".boxes.json"))


def _save(item: RenderInput, raw: RawPage, out: Path) -> tuple[int, int]:
    """Check the page's xpaths and write its pair; return (elements found in the capture, kept)."""
    try:
        checked = check_elements(raw.html, raw.elements, item.given)
    except HtmlError as e:
        raise PageFailure("bad_html", f"{e} (the DOM after load, as `augment run` would parse it)") from None
    if not checked.elements:
        raise PageFailure("no_elements", f"{item.given}: no element with a non-empty box after load "
                                         f"({checked.found} found, none resolving)")
    render = {"url": item.url, "blocked_requests": len(raw.blocked), "blocked": raw.blocked[:20],
              "blocked_files": raw.blocked_files, "dropped": checked.dropped, "cut": raw.cut, "clipped": raw.clipped}
    atomic.write_bytes(out / f"{item.source_id}.png", raw.png)
    atomic.write_bytes(out / f"{item.source_id}.html", raw.html.encode("utf-8"))
    if raw.snapshot is not None:  # before the boxes file: a complete pair rendered with snapshots has its own
        atomic.write_bytes(out / f"{item.source_id}{SNAPSHOT_SUFFIX}", raw.snapshot)
    atomic.write_bytes(out / f"{item.source_id}.boxes.json",
                       boxes_json(png_size(raw.png), checked.elements, render))
    return checked.found, len(checked.elements)


async def _render_one(browser: Browser, item: RenderInput, out: Path, opts: RenderOptions) -> tuple:
    """(found, kept, the RawPage) or a reject row; a dead browser is restarted and the page retried once."""
    for attempt in range(2):
        try:
            raw = await browser.render(item.url, opts.width, opts.height, opts.max_height, opts.timeout,
                                       opts.max_elements)
            found, kept = await asyncio.to_thread(_save, item, raw, out)
            return found, kept, raw
        except BrowserGone as gone:
            await browser.restart(gone.generation)
            if attempt:
                return _row(item, "browser_crash", f"{item.given}: the browser died twice while rendering "
                                                   f"this page ({gone})")
        except PageFailure as f:
            return _row(item, f.reason, str(f))
    raise AssertionError("unreachable")


def _row(item: RenderInput | InputReject, reason: str, message: str) -> dict[str, str]:
    return {"source": item.source_id, "input": item.given, "reason": reason, "message": message}


async def _render_all(todo: list[RenderInput], out: Path, opts: RenderOptions, executable: str, guard: AssetRoot,
                      summary: RenderSummary, rows: list[dict[str, str]]) -> None:
    bar = tqdm(total=len(todo), desc="render", unit="page", disable=not opts.progress)
    queue: asyncio.Queue = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)
    t0 = time.perf_counter()
    async with Browser(executable, guard, opts.javascript, snapshot=opts.snapshot) as browser:
        summary.sandbox = browser.sandbox
        async def worker() -> None:
            while not queue.empty():
                item = queue.get_nowait()
                result = await _render_one(browser, item, out, opts)
                if isinstance(result, dict):
                    rows.append(result)
                    summary.rejects[result["reason"]] += 1
                else:
                    summary.rendered += 1
                    summary.elements_found += result[0]
                    summary.elements_kept += result[1]
                    summary.elements_cut += result[2].cut
                    summary.elements_clipped += result[2].clipped
                    summary.blocked += len(result[2].blocked)
                    summary.blocked_files += result[2].blocked_files
                    if result[2].snapshot is not None:
                        summary.snapshots += 1
                        summary.snapshot_bytes += len(result[2].snapshot)
                    elif result[2].snapshot_error:
                        summary.snapshot_missing[result[2].snapshot_error.split(":")[0]] += 1
                bar.set_postfix(pages_s=f"{summary.rendered / (time.perf_counter() - t0):.2f}",
                                rejects=len(rows), blocked=summary.blocked)
                bar.update()

        try:
            await asyncio.gather(*(worker() for _ in range(min(opts.jobs, len(todo)))))
        finally:
            summary.restarts = browser.restarts
            bar.close()


def render_pages(out: str | Path, *, html_dir: str | Path | None = None, urls: str | Path | None = None,
                 opts: RenderOptions = RenderOptions()) -> RenderSummary:
    """Render `--html DIR` or `--urls FILE` into source pairs in `out` (see the module docstring)."""
    t0 = time.perf_counter()
    problems = opts.problems()
    if (html_dir is None) == (urls is None):
        problems.append("give exactly one of --html DIR and --urls FILE")
    out = Path(out).resolve()
    if html_dir is not None and Path(html_dir).resolve() == out:
        problems.append(f"--out {out}: is the --html folder; the rendered <id>.html would replace the sources")
    if problems:
        raise RenderError("; ".join(problems))
    guard = asset_root(html_dir, urls, opts.asset_root, opts.follow_symlinks, opts.allow_network)
    items, early = (from_html_dir(html_dir, opts.follow_symlinks) if html_dir is not None
                    else from_url_file(urls, guard=guard))
    executable = find_browser(opts.browser)
    out.mkdir(parents=True, exist_ok=True)
    with hold(out, "augment render"):
        return _locked_render(out, items, early, opts, executable, guard, t0)


def _locked_render(out: Path, items: list[RenderInput], early: list[InputReject], opts: RenderOptions,
                   executable: str, guard: AssetRoot, t0: float) -> RenderSummary:
    atomic.remove_stale_temps(out)
    summary = RenderSummary(out, inputs=len(items) + len(early), javascript=opts.javascript)
    rows = [_row(r, r.reason, r.message) for r in early]
    summary.rejects.update(r.reason for r in early)
    todo = [it for it in items if not is_complete(out, it.source_id)]
    summary.kept = len(items) - len(todo)
    try:
        if todo:
            asyncio.run(_render_all(todo, out, opts, executable, guard, summary, rows))
    finally:
        text = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n"
                       for r in sorted(rows, key=lambda r: (r["source"], r["reason"])))
        atomic.write_bytes(out / REJECTS_NAME, text.encode("utf-8"))
        summary.seconds = time.perf_counter() - t0
    _write_groups(out, items, summary)
    return summary


def _write_groups(out: Path, items: list[RenderInput], summary: RenderSummary) -> None:
    """Merge the groups of the complete pages among `items` into `out/groups.json`."""
    groups = {it.source_id: it.group for it in items if it.group is not None and is_complete(out, it.source_id)}
    if groups:
        write_groups(out, groups)
    summary.grouped, summary.groups = len(groups), len(set(groups.values()))

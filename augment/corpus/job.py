"""`build_corpus`: the manifest's pinned packages -> rendered source pairs with groups and attribution.

Before any work: the manifest is checked (`load_manifest`), the builders' versions, and
every archive's pin in the lock beside the manifest (`lock`): an archive the lock does not
pin stops the build, naming each, unless ``allow_unpinned`` (they are then named in the
summary and in ``corpus.json``). For each site, in manifest order: fetch (or find in the
cache) its package and wheels, check each against its digest and unpack it (`fetch`),
build the site when it is a theme (`builders`), pick its pages (``files`` globs under the
site root, less ``exclude``, never a file a link leads outside the root), and render
them with `augment render`'s library function (`render_pages`) from a URL list written
at the site root, so the site's own folder is the folder its pages load assets from (the
render stage's asset root). The rendered pairs are copied into OUT under the id ``<site>__<page path>``, with
the site root's local path replaced by ``corpus://<site>`` in the saved DOM and the boxes
file, so the bytes do not depend on where the cache lives.

OUT gets the pairs, ``groups.json`` (group = site), ``ATTRIBUTION`` (package, version,
license, home page and pages of every site), ``corpus.json`` (each page's site, kind and
file; counts per kind) and ``render_rejects.jsonl``. A site that cannot be fetched, checked,
built or rendered is a line in ``corpus_rejects.jsonl`` (and in the summary) and the job
goes on; with ``--offline`` every missing archive is named at once before any work starts.
"""
from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from tqdm.auto import tqdm

from shards.pairs.groups import GROUPS_NAME, write_groups
from shards.pairs.folder import source_id_for
from shards.storage import atomic

from ..render import REJECTS_NAME, RenderOptions, is_complete, render_pages
from ..render.inputs import url_id
from ..render.snapshot import SNAPSHOT_SUFFIX, relocate
from .builders import PAGES, TOOLS, build_site
from .fetch import FETCHERS, fetch_and_unpack
from .lock import Pin, archives, key, lock_path, read_lock, unpinned
from .manifest import KINDS, CorpusError, Manifest, Site, load_manifest

URLS_NAME = "corpus-pages.urls"
CORPUS_NAME = "corpus.json"
SITE_REJECTS_NAME = "corpus_rejects.jsonl"
ATTRIBUTION_NAME = "ATTRIBUTION"
PAIR_SUFFIXES = (".png", ".html", ".boxes.json")
DEFAULT_ROOTS = {"npm": "package", "deb": "usr/share/doc/{package}"}


@dataclass
class CorpusSummary:
    """What a corpus build did; `text()` is the summary the CLI prints."""

    out: Path
    sites: int = 0
    pages: dict[str, str] = field(default_factory=dict)  # id -> kind
    groups: dict[str, str] = field(default_factory=dict)  # id -> site
    site_rejects: list[dict[str, str]] = field(default_factory=list)
    page_rejects: int = 0
    seconds: float = 0.0
    pinned: int = 0  # archives checked against the lock
    unpinned: list[str] = field(default_factory=list)  # "site NAME: source package version", built unchecked

    def text(self) -> str:
        kinds = Counter(self.pages.values())
        per_kind = ", ".join(f"{k} {kinds[k]}" for k in KINDS if kinds[k])
        size = sum(p.stat().st_size for p in self.out.iterdir() if p.is_file())
        return (f"sites {self.sites}: {len(set(self.groups.values()))} with pages, {len(self.site_rejects)} failed"
                + "".join(f"\n  {r['site']}: {r['message']}" for r in self.site_rejects)
                + f"\narchives: {self.pinned} checked against the lock, {len(self.unpinned)} unpinned"
                + "".join(f"\n  unpinned, not checked (--allow-unpinned): {u}" for u in self.unpinned)
                + f"\npages {len(self.pages)} ({per_kind}); {self.page_rejects} pages not rendered "
                f"(see {REJECTS_NAME})\n{size / 1e6:.1f} MB in {self.out}; {self.seconds:.0f} s")


def check_tools(manifest: Manifest) -> None:
    """Refuse builder versions other than the manifest's [tools] pins (their pages would differ)."""
    needed = sorted({t for s in manifest.sites if s.build for t in TOOLS[s.build]})
    problems = []
    for tool in needed:
        pin = manifest.tools.get(tool)
        try:
            have = metadata.version(tool)
        except metadata.PackageNotFoundError:
            have = None
        if pin is None:
            problems.append(f"{manifest.path}: [tools] has no pin for {tool}; add {tool} = \"{have or 'X.Y.Z'}\"")
        elif have != pin:
            problems.append(f"{tool} {have or 'is not installed'}"
                            + (f" is installed, the manifest pins {pin}" if have else f" (the manifest pins {pin})"))
    if problems:
        raise CorpusError("the site builders are not the pinned ones: " + "; ".join(problems)
                          + "; install them with pip install -e '.[corpus]'")


def check_offline(manifest: Manifest, cache: Path, pins: dict[str, Pin]) -> None:
    """Name every archive the cache lacks (one error), before any work starts."""
    missing = []
    for site in manifest.sites:
        for source, package, version in archives(site):
            pin = pins.get(key(source, package, version))
            try:
                FETCHERS[source](package, version, cache, True, pin.file if pin else None)
            except CorpusError as e:
                missing.append(f"site {site.name}: {e}")
    if missing:
        raise CorpusError(f"--offline: {len(missing)} archive(s) missing from the cache:\n  " + "\n  ".join(missing))


def check_pins(manifest: Manifest, lock: Path, allow_unpinned: bool) -> tuple[dict[str, Pin], list[str]]:
    """The lock's pins and the manifest's unpinned archives; refused (all named) unless allowed."""
    pins = read_lock(lock)
    missing = unpinned(manifest, pins)
    if missing and not allow_unpinned:
        raise CorpusError(f"{len(missing)} archive(s) have no digest in {lock}"
                          + ("" if lock.is_file() else " (no such file)") + ":\n  " + "\n  ".join(missing)
                          + "\npin them with `python -m augment corpus lock` (make corpus-lock), or pass "
                          "--allow-unpinned to build them unchecked")
    return pins, missing


def site_root(site: Site, cache: Path, offline: bool, pins: dict[str, Pin]) -> Path:
    """The folder of the site's pages: the unpacked package's root, or the built site."""
    folders = [fetch_and_unpack(s, p, v, cache, offline, pins.get(key(s, p, v))) for s, p, v in archives(site)]
    if site.source == "pypi":
        root = build_site(site, cache / "work" / "build" / site.name, folders)
        return root / site.root if site.root else root
    root = folders[0] / (site.root or DEFAULT_ROOTS[site.source].format(package=site.package))
    if not root.is_dir():
        raise CorpusError(f"site {site.name}: root {root.relative_to(folders[0])} is not a folder of "
                          f"{site.package} {site.version}; fix 'root' in the manifest")
    return root


def select_pages(site: Site, root: Path) -> list[str]:
    """The pages' paths under `root` (posix, sorted) that `files` match and `exclude` does not."""
    globs = site.files or PAGES.get(site.build or "", ())
    inside = root.resolve()
    chosen = {p.relative_to(root).as_posix() for g in globs for p in root.glob(g)
              if p.is_file() and p.resolve().is_relative_to(inside)}  # a link inside the package may not lead out
    dropped = {p.relative_to(root).as_posix() for g in site.exclude for p in root.glob(g)}
    pages = sorted(chosen - dropped)
    if not pages:
        raise CorpusError(f"site {site.name}: no file under {root.name}/ matches files = {list(globs)}; "
                          "fix the globs in the manifest")
    return pages


def page_id(site: Site, relative: str) -> str:
    """``<site>__<path without suffix, '/' as '-'>``, made key-safe."""
    stem = relative.rsplit(".", 1)[0].replace("/", "-")
    return source_id_for(f"{site.name}__{stem}")


def _copy_pair(stage: Path, staged: str, out: Path, new_id: str, root: Path, site: Site) -> None:
    """Copy one rendered pair into OUT under its corpus id, the site root's path made neutral."""
    neutral = f"corpus://{site.name}".encode()
    snapshot = stage / f"{staged}{SNAPSHOT_SUFFIX}"
    if snapshot.is_file():  # first: the boxes file, copied last, marks the pair complete
        data = relocate(snapshot.read_bytes(), root.as_uri(), neutral.decode(), foreign=f"{neutral.decode()}/..")
        data = relocate(data, str(root), neutral.decode())
        atomic.write_bytes(out / f"{new_id}{SNAPSHOT_SUFFIX}", data)
    for suffix in PAIR_SUFFIXES:
        data = (stage / f"{staged}{suffix}").read_bytes()
        if suffix != ".png":
            data = data.replace(root.as_uri().encode(), neutral).replace(str(root).encode(), neutral)
        atomic.write_bytes(out / f"{new_id}{suffix}", data)


def render_site(site: Site, root: Path, out: Path, stage: Path, opts: RenderOptions,
                summary: CorpusSummary, rejects: list[dict]) -> None:
    """Render the site's pages from a URL list at its root and copy them into OUT."""
    pages = select_pages(site, root)
    uris = {rel: (root / rel).resolve().as_uri() for rel in pages}
    atomic.write_bytes(root / URLS_NAME, "".join(f"{u}\n" for u in uris.values()).encode())
    if stage.exists():
        shutil.rmtree(stage)
    render_pages(stage, urls=root / URLS_NAME, opts=opts)
    failed = {}
    if (stage / REJECTS_NAME).is_file():
        for line in (stage / REJECTS_NAME).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            failed[row["source"]] = row
    for rel, uri in uris.items():
        staged, new_id = url_id(uri), page_id(site, rel)
        if is_complete(stage, staged):
            _copy_pair(stage, staged, out, new_id, root.resolve(), site)
            summary.pages[new_id] = site.kind_of(rel)
            summary.groups[new_id] = site.name
        else:
            row = failed.get(staged, {"reason": "not_rendered", "message": "no pair written"})
            message = row["message"].replace(root.resolve().as_uri(), f"corpus://{site.name}")
            rejects.append({"source": new_id, "input": f"{site.name}/{rel}", "reason": row["reason"],
                            "message": message.replace(str(root.resolve()), f"corpus://{site.name}")})


def _prepare_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()) and not (out / CORPUS_NAME).is_file():
        raise CorpusError(f"--out {out}: holds files but no {CORPUS_NAME}; give an empty or new folder "
                          "(a corpus folder is rebuilt whole)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _attribution(manifest: Manifest, summary: CorpusSummary) -> str:
    per_site = Counter(summary.groups.values())
    lines = ["Pages of this corpus are rendered from the packages below, each under its own license.",
             "site | package | version | source | license | home page | pages", ""]
    for s in manifest.sites:
        if per_site[s.name]:
            wheels = f" (built with {', '.join(s.wheels)})" if s.wheels else ""
            lines.append(f"{s.name} | {s.package} | {s.version} | {s.source} | {s.license} | {s.home} | "
                         f"{per_site[s.name]}{wheels}")
    return "\n".join(lines) + "\n"


def build_corpus(manifest_path: str | Path, out: str | Path, cache: str | Path, *, offline: bool = False,
                 jobs: int = 1, progress: bool = True, sites: list[str] | None = None,
                 lock: str | Path | None = None, allow_unpinned: bool = False) -> CorpusSummary:
    """Build the corpus of `manifest_path` into `out` (see the module docstring); `sites` limits
    the build to those site names; `lock` is the lock file (default: corpus.lock beside the
    manifest)."""
    t0 = time.perf_counter()
    manifest = load_manifest(manifest_path)
    if sites:
        unknown = sorted(set(sites) - {s.name for s in manifest.sites})
        if unknown:
            raise CorpusError(f"--site {', '.join(unknown)}: not in {manifest.path}")
        manifest = Manifest(manifest.path, tuple(s for s in manifest.sites if s.name in sites), manifest.tools)
    out, cache = Path(out).resolve(), Path(cache).resolve()
    check_tools(manifest)
    pins, missing = check_pins(manifest, lock_path(manifest, lock), allow_unpinned)
    if offline:
        check_offline(manifest, cache, pins)
    _prepare_out(out)
    opts = RenderOptions(jobs=jobs, timeout=60.0, progress=False)
    summary, page_rejects = CorpusSummary(out, sites=len(manifest.sites), unpinned=missing), []
    summary.pinned = sum(key(*a) in pins for s in manifest.sites for a in archives(s))
    for site in tqdm(manifest.sites, desc="corpus", unit="site", disable=not progress):
        try:
            root = site_root(site, cache, offline, pins)
            render_site(site, root, out, cache / "work" / "render" / site.name, opts, summary, page_rejects)
        except CorpusError as e:
            summary.site_rejects.append({"site": site.name, "reason": "site_failed", "message": str(e)})
    summary.page_rejects = len(page_rejects)
    write_groups(out, summary.groups)
    atomic.write_bytes(out / REJECTS_NAME, "".join(json.dumps(r, sort_keys=True) + "\n" for r in page_rejects).encode())
    atomic.write_bytes(out / SITE_REJECTS_NAME,
                       "".join(json.dumps(r, sort_keys=True) + "\n" for r in summary.site_rejects).encode())
    atomic.write_bytes(out / ATTRIBUTION_NAME, _attribution(manifest, summary).encode())
    record = {"manifest": manifest.path.name, "pages": {k: {"site": summary.groups[k], "kind": v}
                                                        for k, v in sorted(summary.pages.items())},
              "kinds": dict(sorted(Counter(summary.pages.values()).items())),
              "sites": len(set(summary.groups.values()))}
    if missing:
        record["unpinned"] = missing
    atomic.write_json(out / CORPUS_NAME, record)
    summary.seconds = time.perf_counter() - t0
    return summary


__all__ = ["ATTRIBUTION_NAME", "CORPUS_NAME", "CorpusSummary", "GROUPS_NAME", "build_corpus"]

"""`python -m augment` / `s2s-augment`: synth, render, run, replay and corpus build.

Exit codes: 0 success; 1 `replay` found different bytes, or an OS error (disk full) stopped
the job; 2 an error in the input, a setting or the command line, or the output folder is in
use by another job (`error: ...` names the file, key or setting); 130 Ctrl-C; 143 SIGTERM.
"""
from __future__ import annotations

import argparse
import sys

from shards.schema import SchemaError
from shards.storage.lock import LockBusy
from shards.storage.manifest import ManifestError
from shards.storage.reader import ShardReadError
from shards.storage.tario import ShardFormatError
from shards.views.cli_support import (EXIT_ERROR, EXIT_PROBLEMS, add_command, new_parser, parse, parse_assignment,
                                      progress_enabled, run_command)

from .backends import BACKENDS, BackendError
from .config import AugmentConfig, ConfigError, load_config
from .corpus.cli import add_corpus_command
from .corpus.manifest import CorpusError
from .groups import SPLIT_BY, GroupsError
from .job import JobError, run_job
from .presets import DEFAULT_PRESET, PRESETS
from .render import BrowserError, RenderError, RenderOptions, render_pages
from .render.browser import BROWSER_CANDIDATES
from .replay import ReplayError
from .run_options import RunOptions, run_options
from .sources import Reject

ERRORS: dict[type[BaseException], int] = {
    ConfigError: EXIT_ERROR, JobError: EXIT_ERROR, BackendError: EXIT_ERROR, Reject: EXIT_ERROR,
    GroupsError: EXIT_ERROR, RenderError: EXIT_ERROR, BrowserError: EXIT_ERROR, LockBusy: EXIT_ERROR,
    ReplayError: EXIT_ERROR, CorpusError: EXIT_ERROR,
    ManifestError: EXIT_ERROR, ShardReadError: EXIT_ERROR, ShardFormatError: EXIT_ERROR, SchemaError: EXIT_ERROR,
    OSError: EXIT_PROBLEMS,  # disk full, permissions: the message names the file
}


def cmd_synth(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ConfigError(f"--count {args.count}: must be at least 1")
    if args.engine == "browser":
        return _synth_browser(args)
    from .synth import write_synth

    if not 0.0 <= args.shared_looks <= 1.0:
        raise ConfigError(f"--shared-looks {args.shared_looks}: must be in 0..1 (0 = every section type painted "
                          "alike in every group)")
    paths = write_synth(args.out, args.count, args.seed, progress=progress_enabled(not args.no_progress),
                        shared_looks=args.shared_looks)
    print(f"wrote {len(paths)} source pairs to {args.out}")
    return 0


def _synth_browser(args: argparse.Namespace) -> int:
    from .synth.browser import LAYOUTS, MANIFEST, BrowserSynthOptions, parse_widths, write_browser_synth

    try:
        widths = parse_widths(args.width)
    except ValueError as e:
        raise ConfigError(f"--width {args.width}: {e}; give N, N,M,..., A-B or all (e.g. 1280 or 390-1600)") from None
    opts = BrowserSynthOptions(count=args.count, seed=args.seed, widths=widths,
                               layouts=_names(args.layouts) or tuple(LAYOUTS),
                               frameworks=_names(args.frameworks), cache=args.cache,
                               manifest=args.manifest or str(MANIFEST),
                               jobs=args.jobs, timeout=args.timeout, max_height=args.max_height,
                               snapshot=args.snapshot, browser=args.browser,
                               progress=progress_enabled(not args.no_progress))
    print(write_browser_synth(args.out, opts).text())
    return 0


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text != "all" else ()


def cmd_synth_assets(args: argparse.Namespace) -> int:
    from .synth.browser import MANIFEST, fetch_assets

    for line in fetch_assets(args.cache, args.manifest or MANIFEST, offline=args.offline):
        print(line)
    print(f"synth assets ready in {args.cache}")
    return 0


def add_synth_flags(s: argparse.ArgumentParser) -> None:
    from .synth.browser import DEFAULT_CACHE, LAYOUTS, BrowserSynthOptions

    d = BrowserSynthOptions()
    s.add_argument("--out", required=True, help="folder for <id>.png/.html/.boxes.json (browser: also .truth.json)")
    s.add_argument("--count", type=int, default=200, help="pages to write")
    s.add_argument("--seed", type=int, default=0, help="page i depends on (seed, i) only")
    s.add_argument("--engine", choices=["painter", "browser"], default="painter",
                   help="painter: drawn in Python, fast (unit tests); browser: HTML with real CSS frameworks, "
                        "drawn by the system Chromium (needs `python -m augment synth-assets` once)")
    s.add_argument("--shared-looks", type=float, default=0.0,
                   help="painter: share (0..1) of a group's section types painted in another type's look, one "
                        "cycle per group, so that only the group's other pages tell which look is which type "
                        "(few-shot); 0 paints every type alike everywhere")
    s.add_argument("--width", default=str(d.widths[0]),
                   help="browser: page width(s) in CSS px, each page drawing one: N, N,M,..., A-B (the phone to "
                        "desktop widths in that range) or all (390-1600)")
    s.add_argument("--layouts", default="all", help=f"browser: layouts to draw from, comma-separated, or all "
                                                    f"({', '.join(LAYOUTS)})")
    s.add_argument("--frameworks", default="all",
                   help="browser: CSS frameworks of the manifest to draw from, comma-separated, or all")
    s.add_argument("--cache", default=DEFAULT_CACHE, help="browser: the package cache synth-assets fills")
    s.add_argument("--manifest", help="browser: the pinned packages (default: augment/synth/browser/frameworks.toml)")
    s.add_argument("--jobs", type=int, default=d.jobs, help="browser: pages rendered at once in one browser")
    s.add_argument("--timeout", type=float, default=d.timeout, help="browser: seconds per page before it is a reject")
    s.add_argument("--max-height", type=int, default=d.max_height, help="browser: cut the full-page screenshot here")
    s.add_argument("--snapshot", action="store_true",
                   help="browser: also write <id>.mhtml (for `augment run --rerender`; default: not written)")
    s.add_argument("--browser", metavar="PATH",
                   help=f"browser: Chromium executable (default: the first found of {', '.join(BROWSER_CANDIDATES)})")
    s.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")


def cmd_render(args: argparse.Namespace) -> int:
    opts = RenderOptions(width=args.width, height=args.height, max_height=args.max_height, jobs=args.jobs,
                         timeout=args.timeout, allow_network=args.allow_network, browser=args.browser,
                         progress=progress_enabled(not args.no_progress), asset_root=args.asset_root,
                         follow_symlinks=args.follow_symlinks, max_elements=args.max_elements,
                         javascript=not args.no_javascript, snapshot=not args.no_snapshot)
    summary = render_pages(args.out, html_dir=args.html, urls=args.urls, opts=opts)
    print(summary.text())
    return 0


def add_render_flags(p: argparse.ArgumentParser) -> None:
    d = RenderOptions()
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--html", metavar="DIR", help="render every *.html / *.htm directly in DIR (as file: URLs)")
    src.add_argument("--urls", metavar="FILE", help="render the URLs listed in FILE, one per line (# comments)")
    p.add_argument("--out", required=True, metavar="PAIRS",
                   help="folder for <id>.png/.html/.boxes.json (resumable; one job at a time)")
    p.add_argument("--width", type=int, default=d.width, help="viewport width in CSS px = image width")
    p.add_argument("--height", type=int, default=d.height,
                   help="viewport height in CSS px, what 100vh means; the screenshot is the full page")
    p.add_argument("--max-height", type=int, default=d.max_height, help="cut the full-page screenshot here")
    p.add_argument("--jobs", type=int, default=d.jobs, help="pages rendered at once in one browser")
    p.add_argument("--timeout", type=float, default=d.timeout, help="seconds per page before it is a reject")
    p.add_argument("--allow-network", action="store_true",
                   help="fetch http(s) requests (otherwise only file: under --asset-root, data: and blob: load; others "
                        "are blocked and counted)")
    p.add_argument("--asset-root", metavar="DIR",
                   help="folder a page's file: requests must stay under; others are blocked and counted "
                        "(default: the --html folder, or the --urls list's folder)")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="render pages and load assets through symbolic links that point out of the folder "
                        "(otherwise: pages rejected, symlink_outside; assets blocked)")
    p.add_argument("--max-elements", type=int, default=d.max_elements, metavar="N",
                   help="most elements recorded in a page's captured area; a page with more is a reject "
                        "(too_many_elements)")
    p.add_argument("--no-javascript", action="store_true",
                   help="run none of the pages' scripts (default: scripts run, offline, clock fixed)")
    p.add_argument("--no-snapshot", action="store_true",
                   help="write no <id>.mhtml (each page's self-contained archive, which `augment run --rerender` "
                        "renders again; default: written)")
    p.add_argument("--browser", metavar="PATH",
                   help=f"Chromium executable (default: the first found of {', '.join(BROWSER_CANDIDATES)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")


def _config(args: argparse.Namespace) -> AugmentConfig:
    try:
        sets = [parse_assignment(a) for a in args.set or []]
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return load_config(
        args.config, preset=args.preset, sets=sets, factor=args.factor, seed=args.seed,
        val_fraction=args.val_fraction, folds=args.folds, split_by=args.split_by,
        image_format=args.image_format, quality=args.quality, samples_per_shard=args.samples_per_shard,
        rerender=True if args.rerender else None,
    )


def _run_options(args: argparse.Namespace) -> RunOptions:
    return run_options(
        jobs=args.jobs, backend=args.backend, scheduler=args.scheduler, strict=args.strict or None,
        overwrite=args.overwrite or None, progress=False if args.no_progress else None,
        follow_symlinks=args.follow_symlinks or None,
    )


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.print_config:
        from .settings import to_toml

        print(to_toml(cfg.job_dict()), end="")
        return 0
    missing = [flag for flag, value in (("--input", args.input), ("--out", args.out)) if not value]
    if missing:
        args.parser.error(f"the following arguments are required: {', '.join(missing)}")
    summary = run_job(args.input, args.out, cfg, _run_options(args))
    print(summary.text())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    result = replay(args.out, args.key, args.input)
    print(result.text())
    return 0 if result.identical else EXIT_PROBLEMS


def _from_config(name: str, what: str) -> str:
    """Help text of a flag whose default comes from the config."""
    return f"{what} (default: {getattr(AugmentConfig, name)}, or the --config file's)"


def add_run_flags(p: argparse.ArgumentParser) -> None:
    d = RunOptions()
    p.add_argument("--input", help="folder of <id>.png + <id>.html [+ <id>.boxes.json]; only its top level is read "
                                   "(required unless --print-config)")
    p.add_argument("--out", help="shard directory to write (resumable; one job at a time; required unless "
                                 "--print-config)")
    p.add_argument("--config", help="TOML config (see augment/default.toml); flags and --set override it "
                                    "(default: the built-in defaults)")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help=f"augmentation preset (augment/presets/NAME.toml) under --config, the flags and --set "
                        f"(default: the config file's preset, else {DEFAULT_PRESET})")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting after --config and the flags, e.g. --set ops.spatial.p=0.5 "
                        "(repeatable; default: none)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--factor", type=int, help=_from_config("factor", "samples per source, variant 00 included"))
    p.add_argument("--seed", type=int, help=_from_config("seed", "job seed"))
    p.add_argument("--val-fraction", type=float,
                   help=_from_config("val_fraction", "share of sources held out for validation"))
    p.add_argument("--folds", type=int, help=_from_config("folds", "cross-validation folds over train sources"))
    p.add_argument("--split-by", choices=sorted(SPLIT_BY),
                   help=_from_config("split_by", "what the split and fold hash: each source, or its group (whole "
                                                 "groups held out; groups.json, else the id before '__', else the id)"))
    p.add_argument("--image-format", choices=["png", "jpg", "webp"],
                   help=_from_config("image_format", "encoding of the augmented screenshots"))
    p.add_argument("--quality", type=int, help=_from_config("quality", "jpg/webp quality 1-100"))
    p.add_argument("--samples-per-shard", type=int, help=_from_config("samples_per_shard", "target samples per shard"))
    p.add_argument("--rerender", action="store_true",
                   help="structure ops edit the page and Chromium renders it again from its snapshot (<id>.mhtml, "
                        "written by `augment render`) instead of painting; pairs without one are painted (default: "
                        "off, or the --config file's `rerender`)")
    p.add_argument("--jobs", type=int, default=d.jobs, help="parallel workers; -1 = all cores")
    p.add_argument("--backend", choices=sorted(BACKENDS), default=d.backend,
                   help="where shards are built; dask needs `pip install -e .[dask]`")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786, with --backend dask (default: "
                                       "a LocalCluster of --jobs workers)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad source, including one with no element box (otherwise: record it and "
                        "go on)")
    p.add_argument("--overwrite", action="store_true", help="replace output from another config or input")
    p.add_argument("--follow-symlinks", action="store_true",
                   help="read symbolic links in --input that point outside it (otherwise: rejected, "
                        "symlink_outside)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")


def build_parser() -> argparse.ArgumentParser:
    p, sub = new_parser("s2s-augment", __doc__)
    s = add_command(sub, "synth", cmd_synth, "write synthetic source pairs",
                    "Write COUNT synthetic (screenshot, HTML, boxes) pairs with exact boxes; the same seed gives "
                    "the same bytes. --engine browser writes HTML pages with real CSS frameworks and renders them "
                    "in Chromium, with each page's regions and sections in <id>.truth.json.")
    add_synth_flags(s)
    sa = add_command(sub, "synth-assets", cmd_synth_assets, "fetch the browser engine's pinned npm packages",
                     "Fetch the CSS frameworks, icon fonts and web fonts pinned in the manifest (npm pack) into "
                     "the cache `augment synth --engine browser` reads; the only step that downloads.")
    sa.add_argument("--cache", default=".synth-cache", help="folder the packages are fetched into")
    sa.add_argument("--manifest", default=None, help="the pinned packages (default: augment/synth/browser/"
                                                     "frameworks.toml)")
    sa.add_argument("--offline", action="store_true", help="download nothing: only check the cache holds them all")
    rd = add_command(sub, "render", cmd_render, "render HTML files or URLs into source pairs with headless Chromium",
                     "Render HTML files or URLs into source pairs (<id>.png, <id>.html, <id>.boxes.json) with "
                     "the system Chromium: offline, deterministic, resumable; failures go to "
                     "PAIRS/render_rejects.jsonl.")
    add_render_flags(rd)
    r = add_command(sub, "run", cmd_run, "expand source pairs into WebDataset shards",
                    "Expand every source pair into FACTOR synchronized variants (pixels, boxes and HTML) written "
                    "as WebDataset shards with a manifest; a rerun builds only what is missing. Settings: "
                    "defaults < --config < flags < --set.")
    add_run_flags(r)
    rp = add_command(sub, "replay", cmd_replay, "rebuild one sample from its source and record; compare bytes",
                     "Rebuild one sample from its source pair and the ops recorded in its JSON, and compare the "
                     "three members byte for byte with the shard's (exit 1 when they differ).")
    rp.add_argument("out", help="shard directory")
    rp.add_argument("key", help="sample key, e.g. page-00003_v07")
    rp.add_argument("--input", help="source folder (default: the one recorded in the manifest)")
    add_corpus_command(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_command(parse(build_parser(), argv), ERRORS)


if __name__ == "__main__":
    sys.exit(main())

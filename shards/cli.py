"""`python -m shards` / `s2s-shards`: verify, inspect and look at a shard directory."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .manifest import ManifestError, boxes_warning, load_manifest
from .show import MAX_OUTLINES, STRIP_HEIGHT, STRIP_WIDTH
from .verify import verify_dir


def cmd_verify(args: argparse.Namespace) -> int:
    problems = verify_dir(args.out)
    for p in problems:
        print(f"PROBLEM {p}")
    if problems:
        print(f"{args.out}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    m = load_manifest(args.out)
    print(f"{args.out}: OK, {m['totals']['shards']} shards, {m['totals']['samples']} samples verified")
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
    from .show import contact_sheet

    path = contact_sheet(args.out, split=args.split, n=args.n, dest=args.dest, seed=args.seed, width=args.width,
                         strip_height=args.strip_height, max_outlines=args.max_outlines)
    print(f"contact sheet written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s-shards", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="recompute hashes and counts, check every sample")
    v.add_argument("out", help="shard directory (holds manifest.json)")
    v.set_defaults(func=cmd_verify)
    i = sub.add_parser("inspect", help="totals per split, shards, vocabulary head per factor, rejects")
    i.add_argument("out")
    i.add_argument("--head", type=int, default=10, help="vocabulary entries to list per factor (default 10)")
    i.set_defaults(func=cmd_inspect)
    s = sub.add_parser("show", help="contact sheet: samples with boxes and tokens, beside their source")
    s.add_argument("out")
    s.add_argument("--split", default="train", help="split to draw from (default train)")
    s.add_argument("--n", type=int, default=8, help="augmented samples, one row each (default 8)")
    s.add_argument("--out", dest="dest", default=None, help="PNG path (default OUT/contact_sheet.png)")
    s.add_argument("--seed", type=int, default=0, help="which samples are picked (default 0)")
    s.add_argument("--width", type=int, default=STRIP_WIDTH,
                   help=f"page width on the sheet in px, never enlarged (default {STRIP_WIDTH})")
    s.add_argument("--strip-height", type=int, default=STRIP_HEIGHT,
                   help=f"tall pages are cut into columns at most this high (default {STRIP_HEIGHT})")
    s.add_argument("--max-outlines", type=int, default=MAX_OUTLINES,
                   help=f"element outlines drawn per image, the largest first (default {MAX_OUTLINES})")
    s.set_defaults(func=cmd_show)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`python -m benchmarks [--quick] [--only NAME ...]`: run the benchmarks one after another.

`make bench` runs all of them with --quick (about two minutes on two cores); each writes
benchmarks/results/<name>.json and prints its table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import augment_throughput, common, label_ceiling, role_confusion, scaling, shard_io, train_input

BENCHMARKS = {m.NAME: m for m in (augment_throughput, shard_io, train_input, scaling, label_ceiling, role_confusion)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="each benchmark's smallest meaningful settings")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    p.add_argument("--work", type=Path, default=common.DEFAULT_WORK, help="scratch folder (cached sources)")
    p.add_argument("--results", type=Path, default=common.RESULTS_DIR, help="folder for the JSON results")
    args = p.parse_args(argv)
    shared = ["--work", str(args.work), "--results", str(args.results)] + (["--quick"] if args.quick else [])
    for name in args.only or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        with common.stopwatch() as t:
            BENCHMARKS[name].main(shared)
        print(f"({name}: {t['s']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

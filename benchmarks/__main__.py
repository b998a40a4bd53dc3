"""`python -m benchmarks [--quick] [--only NAME ...]`: run the benchmarks one after another.

`make bench` runs all of them with --quick (about two minutes on two cores); each prints its
table and writes benchmarks/results/latest/<name>.json, which git ignores: running
benchmarks never dirties the checkout. `python -m benchmarks --record` (`make bench-record`)
is the deliberate step that makes those the recorded results (benchmarks/results/) and
regenerates the tables of benchmarks/README.md and of docs/evaluation.md (benchmarks/docs_tables.py) from them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shards.views.cli_support import HelpFormatter

from . import (augment_throughput, common, cost, docs_tables, label_ceiling, model_quality, record, rerender,
               role_confusion, scaling, shard_io, synth_browser, train_input)

BENCHMARKS = {m.NAME: m for m in (augment_throughput, shard_io, train_input, scaling, label_ceiling, role_confusion,
                                  cost)}
# the README blocks and the module whose report() writes each; model_quality (~20 CPU minutes) runs on its own:
# python -m benchmarks.model_quality [--few-shot] [--real] [--full]; so does rerender (Chromium, ~0.2 pages/s per core):
# python -m benchmarks.rerender [--html DIR ...]; so does synth_browser (Chromium and the synth-assets cache):
# python -m benchmarks.synth_browser. The cost table is in docs/evaluation.md (benchmarks/docs_tables.py)
RECORDED = {**BENCHMARKS, "train_input_phase4": train_input, "train_input_memory": train_input,
            "model_quality": model_quality, "rerender": rerender, "model_quality_few_shot": model_quality,
            "model_quality_real": model_quality, "label_ceiling_few_shot": label_ceiling,
            "synth_browser": synth_browser}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=HelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--quick", action="store_true", help="each benchmark's smallest meaningful settings")
    p.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these (default: all)")
    p.add_argument("--work", type=Path, default=common.DEFAULT_WORK, help="scratch folder (cached sources)")
    p.add_argument("--results", type=Path, default=common.RESULTS_DIR, help="folder for the JSON results")
    p.add_argument("--record", action="store_true",
                   help="run nothing: copy --results/*.json into benchmarks/results/ (tracked) and regenerate the "
                        "tables of benchmarks/README.md and docs/evaluation.md from them")
    args = p.parse_args(argv)
    if args.record:
        recorded = record.copy_latest(args.results)
        names = record.update_readme(RECORDED)
        tables = docs_tables.update_page()
        print(f"recorded {len(recorded)} result(s) in {common.RECORD_DIR}; README blocks updated: {', '.join(names)}; "
              f"{docs_tables.PAGE.name} tables updated: {', '.join(tables)}")
        return 0
    shared = ["--work", str(args.work), "--results", str(args.results)] + (["--quick"] if args.quick else [])
    for name in args.only or BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        with common.stopwatch() as t:
            BENCHMARKS[name].main(shared)
        print(f"({name}: {t['s']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

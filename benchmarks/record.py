"""`python -m benchmarks --record`: make the latest results the recorded ones, and the README's tables.

Running a benchmark never dirties the checkout: results go to `benchmarks/results/latest/`
(ignored by git). Recording is a deliberate step: it copies those JSON files into
`benchmarks/results/` (tracked) and regenerates, in `benchmarks/README.md`, every block
between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` from `results/NAME.json` with that
benchmark's own `report()` (the prose around the blocks is written by hand; review it).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import ModuleType

from shards.storage import atomic

from . import common

README = Path(__file__).with_name("README.md")
BLOCK = re.compile(r"(<!-- bench:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)", re.S)


def copy_latest(latest: Path = common.RESULTS_DIR, record: Path = common.RECORD_DIR) -> list[Path]:
    """Copy every `latest/*.json` (and the figures beside them) into the record folder; return the recorded files."""
    files = sorted([*latest.glob("*.json"), *latest.glob("*.png")])
    if not files:
        raise SystemExit(f"error: {latest}: no results to record; run `make bench` or `python -m benchmarks` first")
    for f in files:
        shutil.copyfile(f, record / f.name)
    return [record / f.name for f in files]


def block(name: str, record: Path, modules: dict[str, ModuleType]) -> str:
    """The generated text of one README block: the run's date and machine, then its report."""
    r = json.loads((record / f"{name}.json").read_text(encoding="utf-8"))
    module = modules[r.get("benchmark", name)]
    mode = "quick settings" if r.get("quick") else "full settings"
    return (f"Recorded {r.get('date', '?')}, {mode}, on {common.machine_line(r['machine'])}.\n\n"
            f"{module.report(r)}\n")


def update_readme(modules: dict[str, ModuleType], record: Path = common.RECORD_DIR, readme: Path = README) -> list[str]:
    """Regenerate every marked block of `readme` from `record`; return the names updated."""
    text = readme.read_text(encoding="utf-8")
    names = [m["name"] for m in BLOCK.finditer(text)]
    missing = [n for n in names if not (record / f"{n}.json").exists()]
    if missing:
        raise SystemExit(f"error: {record}: no {', '.join(n + '.json' for n in missing)} for the README's blocks")
    new = BLOCK.sub(lambda m: m[1] + block(m["name"], record, modules) + m[4], text)
    atomic.write_bytes(readme, new.encode("utf-8"))
    return names

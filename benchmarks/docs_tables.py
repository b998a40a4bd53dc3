"""The result tables of the documentation's evaluation page, generated from the recorded results.

`docs/evaluation.md` holds every table of the project's status (model quality, where sampling
starts, backbones, the augmentation ablation, few-shot, sim-to-real, what a phase costs) between
`<!-- results:NAME -->` and `<!-- /results:NAME -->` markers. The text between them is what
`TABLES[NAME]` makes from `benchmarks/results/*.json`, never typed by hand: `make bench-record`
(`python -m benchmarks --record`) rewrites the blocks after recording, and
`tests/test_docs.py` checks that the page is what the recorded results give. The prose around
the blocks is written by hand.

`model_quality_before_dense.json` is the model_quality result recorded on 2026-11-30, before the
dense head (the augmentation ablation was last run then); the tables read it as recorded.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shards.storage import atomic

from . import common

PAGE = Path(__file__).resolve().parents[1] / "docs" / "evaluation.md"
BLOCK = re.compile(r"(<!-- results:(?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)", re.S)
SCORES = {"count": "section count", "miou": "box mIoU", "type": "section type", "token": "canonical token",
          "children": "children", "f1": "sections found (F1 at IoU 0.5)"}
STARTS = {"dense": "`dense` (default)", "proposals": "`proposals` (dense boxes diffused to t = 20, 4 DDIM steps)",
          "noise": "`noise` (DiffusionDet)"}
BACKBONES = {"pretrained": "EfficientNet-Lite0, ImageNet (default)", "random": "conv, from scratch"}
ARMS = {"web_f1": "web, factor 1 (452 pages)", "web_f10": "web, factor 10", "web_f20": "web, factor 20",
        "seed_f10": "seed preset, factor 10"}
REAL_ARMS = {"synthetic": "synthetic only", "real": "real only", "mixed": "mixed (synthetic, then the mix)"}
REAL_SCORES = ("count", "miou", "type", "token", "bcubed_f1")


def _load(record: Path, name: str) -> dict[str, Any]:
    path = record / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"error: {path}: missing, and {PAGE.name}'s tables are made from it; "
                         f"record it with `make bench-record` or restore it with git")
    return json.loads(path.read_text(encoding="utf-8"))


def _cell(s: dict[str, Any] | None, digits: int = 3) -> str:
    if not s or s.get("value") is None:
        return "-"
    ci = s.get("ci")
    return f"{s['value']:.{digits}f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def _source(r: dict[str, Any], name: str, command: str) -> str:
    return (f"`{command}`; from `benchmarks/results/{name}.json`, recorded {r.get('date', '?')} on "
            f"{common.machine_line(r['machine'])}.\n\n")


def headline(record: Path) -> str:
    """Held-out scores of the phase-1 model against the layout prior, the CPU targets and the model of 11-30."""
    r, before = _load(record, "model_quality"), _load(record, "model_quality_before_dense")
    main, old = r["main"], before["arms"]["main"]["model"]
    rows = []
    for key, label in SCORES.items():
        target = r["targets"].get(key)
        rows.append([label, _cell(main["model"][key]), _cell(main["prior"][key]),
                     f"{target['target']:.2f}: {'met' if target['met'] else 'not met'}" if target else "-",
                     f"{old[key]['value']:.3f}" if key in old else "-"])
    return _source(r, "model_quality", "python -m benchmarks.model_quality") + common.table(
        ["held-out score", "model", "layout prior", "CPU target", f"before the dense head ({before['date']})"], rows)


def finding_and_reading(record: Path) -> str:
    """Which half fails: the model beside finding alone, reading alone and the augmented variants."""
    r = _load(record, "model_quality")
    main = r["main"]
    rows = [[label, *(_cell(main[who][key]) for who in ("model", "finding", "reading", "variants"))]
            for key, label in SCORES.items()]
    return _source(r, "model_quality", "python -m benchmarks.model_quality") + common.table(
        ["held-out score", "model", "finding alone", "reading alone", "model, augmented variants"], rows)


def starts(record: Path) -> str:
    """The same trained model sampled from the dense boxes, from them diffused, and from noise."""
    r = _load(record, "model_quality")
    rows = [[STARTS.get(init, init), *(_cell(a["model"][k]) for k in ("count", "miou", "type", "token", "f1"))]
            for init, a in r["starts"].items()]
    return _source(r, "model_quality", "python -m benchmarks.model_quality") + common.table(
        ["`sampling.init`", "count", "mIoU", "type", "token", "F1"], rows)


def backbones(record: Path) -> str:
    """Pretrained backbone against one trained from scratch, on held-out synthetic and on real pages."""
    r = _load(record, "model_quality")
    keys = ("count", "miou", "type", "token")
    rows = [[BACKBONES.get(name, name), *(_cell(a["model"][k]) for k in keys), *(_cell(a["real"][k]) for k in keys),
             f"{a['seconds']:.0f}"] for name, a in r["backbones"].items()]
    first = next(iter(r["backbones"].values()))
    rows.append([f"layout prior ({first['real_pages']} real pages)", *("" for _ in keys),
                 *(_cell(first["real_prior"][k]) for k in keys), ""])
    return _source(r, "model_quality", "python -m benchmarks.model_quality") + common.table(
        ["backbone", "held-out count", "mIoU", "type", "token", "real count", "real mIoU", "real type", "real token",
         "training s"], rows)


def ablation(record: Path) -> str:
    """What augmentation buys at equal steps (`--full`), as last recorded (before the dense head)."""
    r = _load(record, "model_quality_before_dense")
    arms = [name for name in ARMS if name in r["arms"]] + sorted(set(r["arms"]) - set(ARMS) - {"main"})
    rows = [[ARMS.get(name, name), *(_cell(r["arms"][name]["model"][k]) for k in ("token", "type", "miou", "count"))]
            for name in arms]
    return _source(r, "model_quality_before_dense", "python -m benchmarks.model_quality --full") + common.table(
        ["arm", "canonical token", "section type", "box mIoU", "count"], rows)


def few_shot(record: Path) -> str:
    """Type and token with 0 and 4 context pages of the page's group, on held-out groups."""
    r = _load(record, "model_quality_few_shot")
    rows = []
    for looks, label in (("1", "shared looks 1 (the benchmark's)"), ("0", "shared looks 0 (today's pages)")):
        t = r["few_shot"][looks]["rows"]
        rows.append([label, *(_cell(t[k]["model"][m]) for m in ("type", "token") for k in ("k=0", "k=4"))])
    return _source(r, "model_quality_few_shot", "python -m benchmarks.model_quality --few-shot") + common.table(
        ["held-out groups", "type k=0", "type k=4", "token k=0", "token k=4"], rows)


def real(record: Path) -> str:
    """Sim-to-real: the three models and the prior on the held-out real pages, and the CPU targets."""
    r = _load(record, "model_quality_real")
    arms = r["real"]["arms"]
    pages = arms["mixed"]["scores"]["all"]["model"]["sources"]
    rows = [[label, *(_cell(arms[name]["scores"]["all"]["model"][k]) for k in REAL_SCORES)]
            for name, label in REAL_ARMS.items()]
    rows.append(["layout prior (mixed run's data)", *(_cell(arms["mixed"]["scores"]["all"]["prior"][k])
                                                      for k in REAL_SCORES)])
    targets = r["real"]["targets"]
    rows.append(["CPU target (mixed)", *(f"{targets[k]['target']:g}: {'met' if targets[k]['met'] else 'not met'}"
                                         if k in targets else "-" for k in REAL_SCORES)])
    return _source(r, "model_quality_real", "python -m benchmarks.model_quality --real") + common.table(
        [f"{pages} held-out real pages", "count", "mIoU", "type", "canonical token", "pixel BCubed F1"], rows)


def real_kinds(record: Path) -> str:
    """Sim-to-real per kind of page, the mixed model."""
    r = _load(record, "model_quality_real")
    scores = r["real"]["arms"]["mixed"]["scores"]
    rows = [[kind, s["model"]["sources"], *(f"{s['model'][k]['value']:.3f}" for k in REAL_SCORES)]
            for kind, s in scores.items() if kind != "all" and s["model"]["sources"]]
    return _source(r, "model_quality_real", "python -m benchmarks.model_quality --real") + common.table(
        ["kind (mixed model)", "pages", "count", "mIoU", "type", "canonical token", "pixel BCubed F1"], rows)


def cost(record: Path) -> str:
    """What a phase costs, priced from the recorded throughput and training rates (`--from-recorded`)."""
    from . import cost as cost_bench  # torch and the trainer's config: imported only for this table

    data, phases = cost_bench.from_record(record)
    rows = []
    for c in cost_bench.costs(data, phases):
        lo, hi = c["seed_claim_usd_month"]
        rows.append([c["phase"], f"{c['sources']:,} x {c['factor']} = {c['samples']:,}", f"{c['shard_gb']:g}",
                     f"{c['augment_h']:g}", f"{c['train_pages']:,} ({c['epochs']:g})", f"{c['train_cpu_h']:g}",
                     f"{c['run_usd_cpu']:g}", f"{c['month_usd_cpu']:g}",
                     "not measured" if c["train_gpu_h"] is None else f"{c['train_gpu_h']:g}", f"{lo:,}-{hi:,}"])
    dates = ", ".join(f"{name} {date}" for name, date in data["recorded"].items())
    return (f"`python -m benchmarks.cost --from-recorded`; from the recorded {dates}; "
            f"{cost_bench.cost_model.RUNS_PER_MONTH} runs a month.\n\n") + common.table(
        ["phase", "data (sources x variants)", "shards GB", "augment h (CPU)", "train pages (epochs)", "train h CPU",
         "run $ CPU", "$/month CPU", "train h GPU", "seed's claim $/month"], rows)


TABLES: dict[str, Callable[[Path], str]] = {
    "headline": headline, "finding_and_reading": finding_and_reading, "starts": starts, "backbones": backbones,
    "ablation": ablation, "few_shot": few_shot, "real": real, "real_kinds": real_kinds, "cost": cost}


def update_page(record: Path = common.RECORD_DIR, page: Path = PAGE) -> list[str]:
    """Regenerate every marked block of `page` from the results in `record`; return the names updated."""
    text = page.read_text(encoding="utf-8")
    names = [m["name"] for m in BLOCK.finditer(text)]
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        raise SystemExit(f"error: {page}: no table named {', '.join(unknown)}; "
                         f"the names are {', '.join(TABLES)} (benchmarks/docs_tables.py)")
    new = BLOCK.sub(lambda m: m[1] + TABLES[m["name"]](record) + "\n" + m[4], text)
    if new != text:
        atomic.write_bytes(page, new.encode("utf-8"))
    return names

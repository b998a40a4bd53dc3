"""Sim-to-real: the phase-1 model on real sites it never saw, trained on synthetic pages only,
on real pages only, and on both mixed (`python -m benchmarks.model_quality --real`).

The real pages are the corpus `make corpus` builds (`--real-pairs`, default `corpus_out/`; the
benchmark never downloads). They are augmented like the main arm's synthetic sources (the
``web`` preset at 256-512 px, JPEG), ``--real-factor`` variants each, with whole *sites*
held out (``split_by = "group"`` over the corpus's ``groups.json``, ``VAL_FRACTION`` of them),
so that no page of a scored site was trained on (the docs and blog sites built from PyPI
themes share one sample text: for them the theme is what is new). Three models are scored on
those held-out sites' untouched pages, by `train evaluate`'s code (95% bootstrap intervals
over pages, each page its own source; the layout prior of each model's own training data
beside it):

- **synthetic**: the main arm's checkpoint (synthetic pages only);
- **real**: a run on the real shards alone, from the phase-1 start (ImageNet backbone);
- **mixed**: the synthetic checkpoint fine-tuned on both (`train fit --shards SYN --shards REAL
  --mix MIX --init-from SYN_RUN/last.pt`), what a user with a synthetic model and a few real
  pages does (why this start and not a run from scratch: docs/evaluation.md, Status).

Both new runs take ``--real-steps`` steps with the phase-1 defaults, like the main arm. Each
score is given for all held-out pages and per kind of page (the corpus's ``corpus.json``),
with pixel BCubed F1 (Kiesel et al. 2020) from the section boxes beside the project's own
measures. Targets (mixed model, CPU): `TARGETS`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import common

VAL_FRACTION = 0.2  # of the sites: ~17 of 86, so that each kind but landing has held-out pages
MIX = [0.3, 0.7]  # synthetic, real: shares of the mixed run's training stream (it starts from the synthetic model)
# the runs' own end-of-run evaluation: a few held-out pages (the arms are scored after, per kind)
FIT_EVAL = {"eval_variants": 0, "eval_sources": 8}
TARGETS = {"count": 0.5, "type": 0.6, "miou": 0.65, "bcubed_f1": 0.6}
SHOWN = ("count", "miou", "type", "token", "bcubed_f1")
ARMS = ("synthetic", "real", "mixed")
DEFAULT_PAIRS = Path(__file__).resolve().parent.parent / "corpus_out"  # where `make corpus` writes (CORPUS)


def kinds_of(pairs: Path) -> dict[str, str]:
    """Page id -> kind, from the corpus's corpus.json; a clear error where there is no corpus."""
    record = pairs / "corpus.json"
    if not record.is_file():
        raise SystemExit(f"--real-pairs {pairs}: no corpus there (no corpus.json); build it with `make corpus` "
                         f"(or python -m augment corpus build --manifest corpus.toml --out {pairs}), or give "
                         "--real-pairs PATH of a built corpus; this benchmark downloads nothing")
    return {page: v["kind"] for page, v in json.loads(record.read_text(encoding="utf-8"))["pages"].items()}


def build_real(work: Path, pairs: Path, factor: int, seed: int, width: list[int]) -> Path:
    """Shards of the corpus pairs, whole sites held out (cached in `work`, by the corpus's page list)."""
    from augment.config import load_config
    from augment.job import run_job
    from augment.run_options import RunOptions
    from shards.storage.hashing import hash64

    pages = (pairs / "corpus.json").read_text(encoding="utf-8")
    out = work / f"quality-real-{hash64(pages) & 0xFFFFFFFF:08x}-x{factor}-seed{seed}"
    if not (out / "manifest.json").exists():
        sets = [{"image_format": "jpg"}, {"ops": {"spatial": {"width": width}}}, {"split_by": "group"},
                {"val_fraction": VAL_FRACTION}]
        run_job(pairs, out, load_config(None, preset="web", factor=factor, seed=seed, sets=sets),
                RunOptions(jobs=2, progress=False, follow_symlinks=True))
    return out


def score(checkpoint: Path, shards: Path, kinds: dict[str, str]) -> dict[str, Any]:
    """Held-out real sites' untouched pages: model and prior, over all and per kind."""
    from train.evaluation.evaluate import evaluate_checkpoint

    ev = evaluate_checkpoint(checkpoint, shards, "val", variants=0, by=kinds)
    rows = {"all": ev["pages"], **{k: v["pages"] for k, v in ev["by"].items()}}
    return {name: {who: {m: {"value": e[who]["value"][m], "ci": e[who]["ci"][m]} for m in SHOWN}
                   | {"sources": e[who]["sources"]} for who in ("model", "prior")}
            for name, e in rows.items()}


def measure_real(work: Path, pairs: Path, syn_shards: Path, syn_checkpoint: Path, steps: int, factor: int,
                 seed: int, width: list[int], train_arm) -> dict[str, Any]:
    """The three arms on held-out real sites (module docstring); `train_arm` is the main
    benchmark's (one phase-1 run)."""
    kinds = kinds_of(pairs)
    t0 = time.perf_counter()
    real = build_real(work, pairs, factor, seed, width)
    data_s = time.perf_counter() - t0
    runs = work / "quality-runs"
    trained = {"real": train_arm(real, runs / "real", steps, seed, **FIT_EVAL),
               "mixed": train_arm([syn_shards, real], runs / "mixed", steps, seed, mix=MIX,
                                  init_from=str(syn_checkpoint), **FIT_EVAL)}
    checkpoints = {"synthetic": syn_checkpoint, "real": runs / "real" / "last.pt", "mixed": runs / "mixed" / "last.pt"}
    arms = {}
    for name in ARMS:
        t1 = time.perf_counter()
        scores = score(checkpoints[name], real, kinds)
        arms[name] = {"scores": scores, "eval_seconds": round(time.perf_counter() - t1, 1),
                      "train_seconds": trained[name]["seconds"] if name in trained else None}
    mixed = arms["mixed"]["scores"]["all"]["model"]
    return {"pairs": str(pairs), "shards": str(real), "factor": factor, "steps": steps, "mix": MIX,
            "mixed_from": str(syn_checkpoint),
            "val_fraction": VAL_FRACTION, "data_seconds": round(data_s, 1), "arms": arms,
            "targets": {k: {"target": v, "value": mixed[k]["value"],
                            "met": mixed[k]["value"] is not None and mixed[k]["value"] >= v}
                        for k, v in TARGETS.items()},
            "seconds": round(time.perf_counter() - t0, 1)}


def _cell(s: dict[str, Any]) -> str:
    v, ci = s["value"], s["ci"]
    return "-" if v is None else f"{v:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def report_real(r: dict[str, Any]) -> str:
    """The sim-to-real table: per kind, each arm's scores and the prior's."""
    rows = []
    for kind, scores in r["arms"]["synthetic"]["scores"].items():
        if not scores["model"]["sources"]:  # a kind with no page among the held-out sites
            continue
        for name in ARMS:
            s = r["arms"][name]["scores"][kind]
            rows.append([kind, name, s["model"]["sources"], *(_cell(s["model"][m]) for m in SHOWN)])
        prior = r["arms"]["mixed"]["scores"][kind]["prior"]
        rows.append([kind, "prior (mixed run's data)", prior["sources"], *(_cell(prior[m]) for m in SHOWN)])
    head = (f"held-out real sites of {r['pairs']} ({100 * r['val_fraction']:.0f}% of sites), untouched pages; "
            f"real and mixed runs {r['steps']} steps each (mixed: mix {r['mix']}, from the synthetic model), "
            f"factor {r['factor']}; "
            f"data {r['data_seconds']} s, whole sim-to-real part {r['seconds']} s\n\n")
    text = head + common.table(["kind", "trained on", "pages", "count", "mIoU", "type", "canonical token",
                                "pixel BCubed F1"], rows)
    targets = [[k, t["target"], "-" if t["value"] is None else f"{t['value']:.3f}", t["met"]]
               for k, t in r["targets"].items()]
    return text + "\n\nmixed model, all held-out real pages:\n" + common.table(["metric", "target", "value", "met"],
                                                                                targets)

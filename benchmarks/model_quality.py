"""Model quality on held-out sources: what phase-1 training reaches on CPU, and what augmentation buys.

Synthetic sources (500 by default) are augmented with the ``web`` preset at a width suited to
the phase-1 model (its canvas is 128 px wide: images 256-512 px wide, JPEG; the preset's
512-1280 px would be 4-6x the work for no pixel the model sees) and 10% of *sources* are held
out. Then, with the phase-1 defaults of `train fit` (micro preset; only the steps, the
evaluation cadence and one loader worker set here):

- **main**: every variant (the augmentation factor, 20 by default: 500 x 50 web variants take
  ~14 minutes of augmentation alone on 2 cores; ``--factor 50`` measures it), ``--steps`` steps;
- **ablation**, all at ``--ablation-steps`` steps: factor 1, 10 and the full factor (the first k variants
  of each source of the same shards, so the arms differ only in how many augmented copies
  they see), and the ``seed`` preset (rotation +-15 degrees, perspective, long side 256-1024)
  at factor 10 beside the web preset's factor-10 arm;
- with ``--few-shot``: sources grouped by look (the synthetic generator's groups.json), whole
  groups held out (``--split-by group``), a few-shot model (up to 4 context pages) scored on
  the held-out groups with k = 0, 1 and 4 context pages from the same group.

Every arm is scored by `train evaluate`'s code: each held-out source once at its untouched
variant 00 and over 2 augmented variants, 95% bootstrap intervals over sources, the layout
prior of the same training data beside each score. Targets (CPU, variant 00): count >= 0.90,
mIoU >= 0.85, section type >= 0.90, canonical token >= 0.60, each above the prior's interval.

Writes results/latest/model_quality.json and ablation.png (scores per arm with intervals).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import common

NAME = "model_quality"
QUICK = dict(sources=60, factor=5, steps=40, ablation_steps=10)
FULL = dict(sources=500, factor=20, steps=600, ablation_steps=150)
TARGETS = {"count": 0.90, "miou": 0.85, "type": 0.90, "token": 0.60}
WIDTH = [256, 512]  # px: augmented width for a 128-px canvas
SHOWN = ("count", "miou", "type", "children", "token", "raw_token")


def build(work: Path, sources: int, factor: int, seed: int, preset: str, split_by: str = "source") -> Path:
    """Shards of the synthetic sources under `preset` (cached in `work`)."""
    from augment.config import load_config
    from augment.job import run_job
    from augment.run_options import RunOptions

    out = work / f"quality-{preset}-{split_by}-{sources}x{factor}-seed{seed}"
    if not (out / "manifest.json").exists():
        src = common.subset(common.cached_sources(work, sources, seed), sources, work / f"src-{sources}-seed{seed}")
        sets = [{"image_format": "jpg"}]
        if preset == "web":
            sets.append({"ops": {"spatial": {"width": WIDTH}}})
        if split_by != "source":
            sets.append({"split_by": split_by})
        run_job(src, out, load_config(None, preset=preset, factor=factor, seed=seed, sets=sets),
                RunOptions(jobs=2, progress=False, follow_symlinks=True))
    return out


def train_arm(shards: Path, run: Path, steps: int, seed: int, **settings: Any) -> dict[str, Any]:
    """One phase-1 run; returns its final held-out evaluation and its seconds."""
    from train.config import resolve
    from train.phases import phase_defaults
    from train.trainer import fit

    cfg = resolve(phase_defaults(1), {"max_steps": steps, "eval_every": steps, "checkpoint_every": steps,
                                      "num_workers": 1, "eval_sources": 0, "eval_variants": 2, "seed": seed,
                                      **settings}, {})
    t0 = time.perf_counter()
    result = fit(shards, run, cfg, overwrite=True, progress=False)
    return {"eval": result["last_eval"], "seconds": round(time.perf_counter() - t0, 1), "steps": steps,
            "settings": settings}


def _scores(evaluation: dict[str, Any], who: str = "model", group: str = "pages") -> dict[str, Any]:
    e = evaluation[group][who]
    return {k: {"value": e["value"][k], "ci": e["ci"][k]} for k in SHOWN}


def measure(sources: int, factor: int, steps: int, ablation_steps: int, work: Path, seed: int,
            few_shot: bool = False, results: Path = common.RESULTS_DIR) -> dict[str, Any]:
    runs = work / "quality-runs"
    t0 = time.perf_counter()
    web = build(work, sources, factor, seed, "web")
    seed_shards = build(work, sources, min(10, factor), seed, "seed")
    data_s = time.perf_counter() - t0
    arms: dict[str, dict[str, Any]] = {"main": train_arm(web, runs / "main", steps, seed)}
    for k in sorted({1, min(10, factor), factor}):
        arms[f"web_f{k}"] = train_arm(web, runs / f"web-f{k}", ablation_steps, seed, max_variants=k)
    arms[f"seed_f{min(10, factor)}"] = train_arm(seed_shards, runs / "seed", ablation_steps, seed,
                                                 max_variants=min(10, factor))
    result: dict[str, Any] = {
        "settings": dict(sources=sources, factor=factor, steps=steps, ablation_steps=ablation_steps, width=WIDTH),
        "data_seconds": round(data_s, 1),
        "arms": {name: {"seconds": a["seconds"], "steps": a["steps"], "settings": a["settings"],
                        "model": _scores(a["eval"]), "prior": _scores(a["eval"], "prior"),
                        "variants": _scores(a["eval"], "model", "variants"), "samples": a["eval"]["samples"]}
                 for name, a in arms.items()},
    }
    main = result["arms"]["main"]
    result["targets"] = {k: {"target": v, "value": main["model"][k]["value"], "prior": main["prior"][k]["value"],
                             "met": _met(main, k, v)} for k, v in TARGETS.items()}
    if few_shot:
        result["few_shot"] = few_shot_table(work, sources, factor, steps, seed)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    plot(result, Path(results) / "ablation.png")
    return result


def _met(arm: dict[str, Any], key: str, target: float) -> bool:
    value, prior_ci = arm["model"][key]["value"], arm["prior"][key]["ci"] or [0, 0]
    lo = (arm["model"][key]["ci"] or [value, value])[0]
    return value is not None and value >= target and lo > prior_ci[1]


def few_shot_table(work: Path, sources: int, factor: int, steps: int, seed: int) -> dict[str, Any]:
    """k = 0, 1, 4 context pages on held-out groups, one few-shot model."""
    from train.evaluation.evaluate import evaluate_checkpoint

    shards = build(work, sources, min(10, factor), seed, "web", split_by="group")
    run = work / "quality-runs" / "few-shot"
    arm = train_arm(shards, run, steps, seed, few_shot_max=4, few_shot_k=4)
    rows = {}
    for k in (0, 1, 4):
        ev = evaluate_checkpoint(run / "last.pt", shards, "val", variants=0, context_k=k)
        rows[f"k={k}"] = {"model": _scores(ev), "prior": _scores(ev, "prior")}
    gain = {m: None if rows["k=4"]["model"][m]["value"] is None else
            round(rows["k=4"]["model"][m]["value"] - rows["k=0"]["model"][m]["value"], 4) for m in SHOWN}
    return {"seconds": arm["seconds"], "seconds_per_step": round(arm["seconds"] / steps, 3), "rows": rows,
            "gain_k4_over_k0": gain}


def plot(result: dict[str, Any], path: Path) -> Path:
    """Bars per arm (canonical token, type, mIoU, count) with 95% intervals; the prior dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [a for a in result["arms"] if a != "main"]
    keys = ("token", "type", "miou", "count")
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(arms)
    for i, name in enumerate(arms):
        scores = result["arms"][name]["model"]
        vals = [scores[k]["value"] or 0 for k in keys]
        errs = [[v - (scores[k]["ci"] or [v, v])[0] for k, v in zip(keys, vals)],
                [(scores[k]["ci"] or [v, v])[1] - v for k, v in zip(keys, vals)]]
        ax.bar([j + i * width for j in range(len(keys))], vals, width, yerr=errs, capsize=3, label=name)
    prior = result["arms"][arms[0]]["prior"]
    for j, k in enumerate(keys):
        if prior[k]["value"] is not None:
            ax.hlines(prior[k]["value"], j - 0.1, j + 0.8, colors="grey", linestyles="dashed")
    steps = result["arms"][arms[0]]["steps"]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], ["canonical token", "section type", "box mIoU",
                                                                     "count"])
    ax.set_ylim(0, 1)
    ax.set_title(f"held-out sources (variant 00), {steps} steps each, 95% intervals; dashed: layout prior")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def report(r: dict[str, Any]) -> str:
    def cell(s: dict[str, Any]) -> str:
        v, ci = s["value"], s["ci"]
        return "-" if v is None else f"{v:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")

    main = r["arms"]["main"]
    rows = [[k, cell(main["model"][k]), cell(main["prior"][k]), cell(main["variants"][k]),
             r["targets"][k]["target"] if k in r["targets"] else "-",
             r["targets"][k]["met"] if k in r["targets"] else "-"] for k in SHOWN]
    text = (f"main run: {main['steps']} steps, {main['seconds']} s training; data {r['data_seconds']} s; "
            f"held-out pages {main['samples']}\n\n")
    text += common.table(["metric", "model (variant 00)", "layout prior", "model (augmented variants)", "target",
                          "met"], rows)
    arm_rows = [[name, a["steps"], cell(a["model"]["token"]), cell(a["model"]["type"]), cell(a["model"]["miou"]),
                 cell(a["model"]["count"]), a["seconds"]] for name, a in r["arms"].items() if name != "main"]
    text += "\n\n" + common.table(["ablation arm", "steps", "token", "type", "mIoU", "count", "train s"], arm_rows)
    if "few_shot" in r:
        fs = r["few_shot"]["rows"]
        text += "\n\n" + common.table(["context pages", "token", "type", "mIoU", "count"],
                                      [[k, cell(v["model"]["token"]), cell(v["model"]["type"]),
                                        cell(v["model"]["miou"]), cell(v["model"]["count"])] for k, v in fs.items()])
        text += f"\n\ngain of k=4 over k=0: {r['few_shot']['gain_k4_over_k0']}"
        plain = {name: round(a["seconds"] / a["steps"], 3) for name, a in r["arms"].items()}
        text += (f"\ntraining s/step (each run's one evaluation included; runs in sequence on a machine whose other "
                 f"load varies): with context (up to 4 pages) {r['few_shot']['seconds_per_step']}, without {plain}")
    return text


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--steps", type=int, help=f"steps of the main run (default {FULL['steps']}, quick {QUICK['steps']})")
    p.add_argument("--ablation-steps", type=int,
                   help=f"steps of each ablation arm (default {FULL['ablation_steps']}, "
                        f"quick {QUICK['ablation_steps']})")
    p.add_argument("--few-shot", action="store_true", help="add the k = 0, 1, 4 context-pages table on held-out groups")
    args = p.parse_args(argv)
    return common.run_sized(NAME, args, QUICK, FULL, measure, report, few_shot=args.few_shot, results=args.results)


if __name__ == "__main__":
    sys.exit(main())

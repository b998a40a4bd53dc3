"""Model quality on held-out sources: what phase-1 training reaches on CPU, which half fails, and
what augmentation buys.

Synthetic sources (500 by default) are augmented with the ``web`` preset at a width suited to
the phase-1 model (its canvas is 128 px wide: images 256-512 px wide, JPEG; the preset's
512-1280 px would be 4-6x the work for no pixel the model sees) and 10% of *sources* are held
out. Then, with the phase-1 defaults of `train fit` (micro preset; only the steps, the
evaluation cadence and one loader worker set here):

- **main** (the default run, <= 20 minutes on 2 quiet cores): every variant (factor 10),
  ``--steps`` steps, scored as `train evaluate` scores it: the model as configured (its
  sections from the dense head, ``sampling.init = "dense"``), *finding alone* (the dense
  head's boxes, read), *reading alone* (the reader at the true boxes) and the layout prior;
- **starts**, the same trained model sampled three ways (``sampling.init``): the dense
  head's boxes as they are; the set denoiser from them diffused to ``t_start`` (SDEdit);
  the set denoiser from pure noise (DiffusionDet);
- with ``--full``: the **ablation** arms, all at ``--ablation-steps`` steps: factor 1, 10 and
  20 (the first k variants of each source of factor-20 shards, so the arms differ only in how
  many augmented copies they see), and the ``seed`` preset (rotation +-15 degrees,
  perspective, long side 256-1024) at factor 10 beside the web preset's factor-10 arm; and
  the few-shot table;
- with ``--backbones`` (or ``--full``): the phase-1 model with its ImageNet-pretrained
  EfficientNet-Lite0 backbone (the main run) beside the same model with a backbone trained from
  scratch (``model.encoder = "conv"``), same data and steps, each scored on the
  held-out sources and on the project's real pages (``tests/data/real``: rendered third-party
  pages no run trains on);
- with ``--few-shot``, alone (recorded as ``model_quality_few_shot``) or in ``--full``: the
  few-shot table (`benchmarks.few_shot`): whole look groups held out, a few-shot model per
  generator setting scored on them with k = 0, 1 and 4 context pages;
- with ``--real``: sim-to-real (`benchmarks.sim_to_real`): held-out real *sites* of the
  corpus ``make corpus`` builds (``--real-pairs``), scored per kind of page for the main arm
  (synthetic only), a run on real pages only and a run on both mixed, with pixel BCubed F1.

Every arm is scored by `train evaluate`'s code: each held-out source once at its untouched
variant 00 (and, for the main run, over 2 augmented variants), 95% bootstrap intervals over
sources, the layout prior of the same training data beside each score. Targets (CPU, variant
00): count >= 0.90, mIoU >= 0.85, section type >= 0.90, canonical token >= 0.60, each above
the prior's interval.

Writes results/latest/model_quality.json and, with --full, ablation.png (scores per arm with
intervals).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import common
from .few_shot import few_shot_table, report_few_shot
from .sim_to_real import DEFAULT_PAIRS, kinds_of, measure_real, report_real

NAME = "model_quality"
QUICK = dict(sources=60, factor=5, steps=40, ablation_steps=10, real_steps=20, real_factor=1)
FULL = dict(sources=500, factor=10, steps=600, ablation_steps=150, real_steps=150, real_factor=2)
ABLATION_FACTOR = 20  # the ablation's largest factor (--full)
STARTS = ("dense", "proposals", "noise")  # sampling.init, the arms of one trained model
TARGETS = {"count": 0.90, "miou": 0.85, "type": 0.90, "token": 0.60}
WIDTH = [256, 512]  # px: augmented width for a 128-px canvas
SHOWN = ("count", "miou", "type", "children", "token", "raw_token", "precision", "recall", "f1")
WHO = ("model", "finding", "reading", "prior")


def build(work: Path, sources: int, factor: int, seed: int, preset: str, split_by: str = "source",
          shared_looks: float = 0.0) -> Path:
    """Shards of the synthetic sources under `preset` (cached in `work`); `shared_looks`: the
    generator's setting (`augment synth --shared-looks`)."""
    from augment.config import load_config
    from augment.job import run_job
    from augment.run_options import RunOptions

    looks = f"-looks{shared_looks:g}" if shared_looks else ""
    out = work / f"quality-{preset}-{split_by}-{sources}x{factor}-seed{seed}{looks}"
    if not (out / "manifest.json").exists():
        src = common.subset(common.cached_sources(work, sources, seed, shared_looks), sources,
                            work / f"src-{sources}-seed{seed}{looks}")
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


REAL_PAGES = Path(__file__).resolve().parent.parent / "tests" / "data" / "real"
# the arms of --backbones: the main run (phase 1's default, the pretrained backbone) and the same
# model with its backbone trained from scratch
BACKBONES = {"pretrained": {}, "random": {"model": {"encoder": "conv"}}}


def backbones(web: Path, runs: Path, steps: int, seed: int, main: dict[str, Any]) -> dict[str, Any]:
    """Pretrained against random backbone: the main run (pretrained, the default) and one more
    run, same data and steps, each scored on the held-out sources and on the real pages."""
    from train.evaluation.evaluate import evaluate_pairs_checkpoint

    out = {}
    for name, settings in BACKBONES.items():
        arm = main if not settings else train_arm(web, runs / name, steps, seed, **settings)
        run = runs / ("main" if not settings else name)
        real = evaluate_pairs_checkpoint(run / "last.pt", REAL_PAGES)
        out[name] = {"seconds": arm["seconds"], "settings": settings, "model": _scores(arm["eval"]),
                     "real": _scores(real), "real_prior": _scores(real, "prior"), "real_pages": real["samples"]}
    return out


def _scores(evaluation: dict[str, Any], who: str = "model", group: str = "pages") -> dict[str, Any]:
    e = evaluation[group][who]
    return {k: {"value": e["value"][k], "ci": e["ci"][k]} for k in SHOWN}


def measure(sources: int, factor: int, steps: int, ablation_steps: int, work: Path, seed: int,
            few_shot: bool = False, ablations: bool = False, backbone_arms: bool = False,
            results: Path = common.RESULTS_DIR, real: Path | None = None, real_steps: int = FULL["real_steps"],
            real_factor: int = FULL["real_factor"]) -> dict[str, Any]:
    from train.evaluation.evaluate import evaluate_checkpoint

    if few_shot and not ablations:  # the few-shot table alone (recorded as model_quality_few_shot)
        t0 = time.perf_counter()
        table = few_shot_table(work, sources, factor, steps, seed, build, train_arm)
        return {"settings": dict(sources=sources, factor=min(10, factor), steps=steps, width=WIDTH),
                "few_shot": table, "total_seconds": round(time.perf_counter() - t0, 1)}
    if real is not None:
        kinds_of(real)  # no corpus there: said before the main run, not after it
    runs = work / "quality-runs"
    t0 = time.perf_counter()
    web = build(work, sources, factor, seed, "web")
    data_s = time.perf_counter() - t0
    main = train_arm(web, runs / "main", steps, seed)
    result: dict[str, Any] = {
        "settings": dict(sources=sources, factor=factor, steps=steps, ablation_steps=ablation_steps, width=WIDTH),
        "data_seconds": round(data_s, 1),
        "main": {"seconds": main["seconds"], "steps": steps, "samples": main["eval"]["samples"],
                 **{who: _scores(main["eval"], who) for who in WHO},
                 "variants": _scores(main["eval"], "model", "variants")},
    }
    starts: dict[str, Any] = {}
    for init in STARTS:
        t1 = time.perf_counter()
        ev = evaluate_checkpoint(runs / "main" / "last.pt", web, "val", variants=0, sampling={"init": init})
        starts[init] = {"model": _scores(ev), "seconds": round(time.perf_counter() - t1, 1)}
    result["starts"] = starts
    result["targets"] = {k: {"target": v, "value": result["main"]["model"][k]["value"],
                             "prior": result["main"]["prior"][k]["value"], "met": _met(result["main"], k, v)}
                         for k, v in TARGETS.items()}
    if backbone_arms or ablations:
        result["backbones"] = backbones(web, runs, steps, seed, main)
    if ablations:
        result["arms"] = ablation(work, sources, ablation_steps, seed)
        plot(result, Path(results) / "ablation.png")
    if ablations:
        result["few_shot"] = few_shot_table(work, sources, factor, steps, seed, build, train_arm)
    if real is not None:
        result["real"] = measure_real(work, real, web, runs / "main" / "last.pt", real_steps, real_factor, seed,
                                      WIDTH, train_arm)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    return result


def ablation(work: Path, sources: int, steps: int, seed: int) -> dict[str, Any]:
    """What augmentation buys at equal steps: factors 1, 10, 20 of the same shards; the seed preset."""
    runs = work / "quality-runs"
    web = build(work, sources, ABLATION_FACTOR, seed, "web")
    seed_shards = build(work, sources, 10, seed, "seed")
    arms = {f"web_f{k}": train_arm(web, runs / f"web-f{k}", steps, seed, max_variants=k)
            for k in (1, 10, ABLATION_FACTOR)}
    arms["seed_f10"] = train_arm(seed_shards, runs / "seed", steps, seed, max_variants=10)
    return {name: {"seconds": a["seconds"], "steps": a["steps"], "settings": a["settings"],
                   "model": _scores(a["eval"]), "prior": _scores(a["eval"], "prior"), "samples": a["eval"]["samples"]}
            for name, a in arms.items()}


def _met(arm: dict[str, Any], key: str, target: float) -> bool:
    value, prior_ci = arm["model"][key]["value"], arm["prior"][key]["ci"] or [0, 0]
    lo = (arm["model"][key]["ci"] or [value, value])[0]
    return value is not None and value >= target and lo > prior_ci[1]


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


def _cell(s: dict[str, Any]) -> str:
    v, ci = s["value"], s["ci"]
    return "-" if v is None else f"{v:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def report(r: dict[str, Any]) -> str:
    if "main" not in r:
        return report_few_shot(r["few_shot"])
    main = r["main"]
    rows = [[k, _cell(main["model"][k]), _cell(main["prior"][k]), _cell(main["finding"][k]), _cell(main["reading"][k]),
             _cell(main["variants"][k]), r["targets"][k]["target"] if k in r["targets"] else "-",
             r["targets"][k]["met"] if k in r["targets"] else "-"] for k in SHOWN]
    text = (f"main run: {main['steps']} steps, {main['seconds']} s training; data {r['data_seconds']} s; "
            f"held-out pages {main['samples']}; whole benchmark {r.get('total_seconds', '-')} s\n\n")
    text += common.table(["metric", "model (variant 00)", "layout prior", "finding alone", "reading alone",
                          "model (augmented variants)", "target", "met"], rows)
    text += "\n\n" + common.table(["sampling.init", "count", "mIoU", "type", "token", "F1", "eval s"],
                                   [[init, *(_cell(a["model"][k]) for k in ("count", "miou", "type", "token", "f1")),
                                     a["seconds"]] for init, a in r["starts"].items()])
    if "backbones" in r:
        keys = ("count", "miou", "type", "token")
        text += "\n\n" + common.table(
            ["backbone", *(f"held-out {k}" for k in keys), *(f"real {k}" for k in keys), "train s"],
            [[name, *(_cell(a["model"][k]) for k in keys), *(_cell(a["real"][k]) for k in keys), a["seconds"]]
             for name, a in r["backbones"].items()])
        first = next(iter(r["backbones"].values()))
        text += (f"\nreal pages: {first['real_pages']}; their layout prior: "
                 + ", ".join(f"{k} {_cell(first['real_prior'][k])}" for k in keys))
    if "arms" in r:
        arm_rows = [[name, a["steps"], _cell(a["model"]["token"]), _cell(a["model"]["type"]),
                     _cell(a["model"]["miou"]), _cell(a["model"]["count"]), a["seconds"]]
                    for name, a in r["arms"].items()]
        text += "\n\n" + common.table(["ablation arm", "steps", "token", "type", "mIoU", "count", "train s"], arm_rows)
    if "few_shot" in r:
        text += "\n\n" + report_few_shot(r["few_shot"])
    if "real" in r:
        text += "\n\n" + report_real(r["real"])
    return text


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    common.size_flags(p, QUICK, FULL)
    p.add_argument("--steps", type=int, help=f"steps of the main run (default {FULL['steps']}, quick {QUICK['steps']})")
    p.add_argument("--ablation-steps", type=int,
                   help=f"steps of each ablation arm (default {FULL['ablation_steps']}, "
                        f"quick {QUICK['ablation_steps']})")
    p.add_argument("--few-shot", action="store_true",
                   help="instead: the k = 0, 1, 4 context-pages table on held-out groups (benchmarks.few_shot)")
    p.add_argument("--backbones", action="store_true",
                   help="add the pretrained-against-random backbone arms, scored on held-out sources and real pages")
    p.add_argument("--real", action="store_true",
                   help="add sim-to-real: held-out real sites of --real-pairs for synthetic-only, real-only and "
                        "mixed runs (~10 CPU minutes more)")
    p.add_argument("--real-pairs", type=Path, default=DEFAULT_PAIRS,
                   help="the real-page corpus (`make corpus` builds it; nothing is downloaded here)")
    p.add_argument("--real-steps", type=int,
                   help=f"steps of the real-only and mixed runs (default {FULL['real_steps']}, "
                        f"quick {QUICK['real_steps']})")
    p.add_argument("--real-factor", type=int,
                   help=f"variants per real page (default {FULL['real_factor']}, quick {QUICK['real_factor']})")
    p.add_argument("--full", action="store_true",
                   help="add the backbone arms, the augmentation ablation (factors 1, 10, 20; seed preset) and the "
                        "few-shot table (~2 CPU hours)")
    args = p.parse_args(argv)
    name = NAME + ("_few_shot" if args.few_shot and not args.full else  # the few-shot table alone
                   "_real" if args.real and not (args.full or args.backbones) else "")  # main arm + sim-to-real
    return common.run_sized(name, args, QUICK, FULL, measure, report, few_shot=args.few_shot, ablations=args.full,
                            backbone_arms=args.backbones, results=args.results,
                            real=args.real_pairs if args.real else None)


if __name__ == "__main__":
    sys.exit(main())

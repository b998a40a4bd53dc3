"""`python -m train` / `s2s-train`: fit, evaluate, predict, report.

A thin layer over library functions (train.trainer.fit, train.evaluation.evaluate.evaluate,
train.inference.load_model, train.evaluation.report.plot_run). Known failures print
``error: ...`` naming the file or setting and exit 2; nothing else prints a traceback.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from shards.manifest import ManifestError, load_manifest

from .checkpoint import CheckpointError
from .config import TrainConfig, TrainConfigError, parse_assignment, read_table, resolve
from .phases import PHASES, phase_defaults, pick_phase


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """Phase (auto from the manifest unless forced) -> its defaults -> file -> flags -> --set."""
    manifest = load_manifest(args.shards)
    if args.phase == "auto":
        phase, reason = pick_phase(int(manifest["sources"].get("accepted", 0)))
    else:
        phase, reason = int(args.phase), f"forced with --phase {args.phase}"
    table = read_table(args.config) if args.config else None
    flags = {"max_steps": args.max_steps, "seed": args.seed, "num_workers": args.workers,
             "batch_size": args.batch_size, "eval_every": args.eval_every}
    sets = [parse_assignment(a) for a in args.set or []]
    return resolve(phase_defaults(phase), table, flags, str(args.config), sets), reason


def cmd_fit(args: argparse.Namespace) -> int:
    cfg, reason = resolve_config(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0
    from .trainer import fit

    print(f"phase {cfg.phase}: {reason}", file=sys.stderr)
    folds = int(load_manifest(args.shards)["config"].get("folds", 5))
    if args.fold is None:
        print(json.dumps(_brief(fit(args.shards, args.run, cfg, resume=args.resume)), indent=1))
        return 0
    chosen = range(folds) if args.fold == "all" else [_fold(args.fold, folds)]
    results = []
    for i in chosen:
        cfg.fold = i
        results.append(fit(args.shards, Path(args.run) / f"fold-{i}", cfg, resume=args.resume)["last_eval"] or {})
    summary: dict[str, Any] = {}
    for key in ("count", "miou", "type", "token"):
        vals = [r["pages"]["model"]["value"][key] for r in results
                if r.get("pages") and r["pages"]["model"]["value"].get(key) is not None]
        if vals:
            summary[key] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals), "folds": vals}
    print(json.dumps(summary, indent=1))
    (Path(args.run) / "cv.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def _fold(text: str, folds: int) -> int:
    try:
        fold = int(text)
    except ValueError:
        raise TrainConfigError(f"--fold must be an integer in 0..{folds - 1} or 'all', found {text!r}") from None
    if not 0 <= fold < folds:
        raise TrainConfigError(f"--fold {fold}: the shards have {folds} folds (0..{folds - 1})")
    return fold


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in result.items() if k != "last_eval"}
    if result.get("last_eval"):
        from .evaluation.evaluate import format_table

        print(format_table(result["last_eval"]), file=sys.stderr)
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .data.inputs import InputSpec
    from .data.stream import EpochFilter
    from .evaluation.evaluate import evaluate, format_table
    from .evaluation.prior import fit_prior
    from .inference import load_model
    from .trainer import eval_settings

    predictor = load_model(args.checkpoint)
    from . import checkpoint as ckpt

    cfg = TrainConfig.from_dict(ckpt.load(args.checkpoint)["config"])
    spec = InputSpec.of(predictor.model.cfg, predictor.factors)
    settings = eval_settings(cfg, max_sources=args.max_sources)
    settings.variants, settings.fold = args.variants, None
    prior = fit_prior(args.shards, spec, keep=EpochFilter(max_variants=cfg.max_variants))
    result = evaluate(predictor.model, args.shards, args.split, spec, settings, prior=prior)
    print(format_table(result))
    if args.out:
        from shards import atomic

        atomic.write_json(args.out, result)
        print(f"scores written to {args.out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import as_rgb_array, draw_overlay, load_model

    image = as_rgb_array(args.image)
    sections = load_model(args.checkpoint).predict(image)
    for s in sections:
        print(f"{s.token:<40} {s.box} score {s.score:.2f}")
    if args.out:
        import cv2

        out = Path(args.out)
        if not out.parent.is_dir():
            raise FileNotFoundError(f"--out {out}: folder {out.parent} does not exist")
        if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
            raise TrainConfigError(f"--out {out}: give a .png, .jpg or .webp file name")
        ok, buf = cv2.imencode(out.suffix, cv2.cvtColor(draw_overlay(image, sections), cv2.COLOR_RGB2BGR))
        from shards import atomic

        atomic.write_bytes(out, buf.tobytes())
        print(f"overlay written to {out}")
    if args.json:
        print(json.dumps([s.to_dict() for s in sections], indent=1))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .evaluation.report import plot_run

    print(f"curves written to {plot_run(args.run, args.out)}")
    return 0


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="s2s-train", description=__doc__, formatter_class=_Formatter,
                                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    kw: dict[str, Any] = dict(formatter_class=_Formatter, allow_abbrev=False)
    f = sub.add_parser("fit", help="train from shards", description="Train from a shard directory into a run "
                       "directory, with the phase strategy its number of sources picks.", **kw)
    f.add_argument("--shards", required=True, help="shard directory written by `augment run`")
    # --run-dir too: under torchrun, torchrun's own parser takes "--run" for its "--run-path"
    f.add_argument("--run", "--run-dir", dest="run", required=True,
                   help="run directory (config, checkpoints, metrics.jsonl); use --run-dir under torchrun")
    f.add_argument("--phase", default="auto", choices=["auto", *map(str, sorted(PHASES))],
                   help="training phase; auto picks it from the manifest's number of source pairs")
    f.add_argument("--config", help="TOML/JSON file of settings (tables [model], [sampling], [loss])")
    f.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting, e.g. --set loss.region=0.5 --set model.dropout=0.2 (repeatable)")
    f.add_argument("--max-steps", type=int, help="optimizer steps (default: the phase's)")
    f.add_argument("--batch-size", type=int, help="samples per step (default: the phase's)")
    f.add_argument("--eval-every", type=int, help="steps between held-out evaluations (default: the phase's)")
    f.add_argument("--seed", type=int, help="run seed (default: 0)")
    f.add_argument("--workers", type=int, help="DataLoader worker processes (default: 2)")
    f.add_argument("--fold", help="K-fold: validate on fold i of the train split, or 'all' folds in turn")
    f.add_argument("--resume", action="store_true", help="continue from RUN/last.pt on the same curve")
    f.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    f.set_defaults(func=cmd_fit)
    e = sub.add_parser("evaluate", help="held-out scores of a checkpoint", description="Score a checkpoint on "
                       "held-out sources: model and layout prior, with 95%% bootstrap intervals over sources.", **kw)
    e.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt)")
    e.add_argument("--shards", required=True, help="shard directory")
    e.add_argument("--split", default="val", help="split to score")
    e.add_argument("--max-sources", type=int, default=0, help="score at most this many sources (0 = all)")
    e.add_argument("--variants", type=int, default=2, help="augmented variants per source scored beside variant 00")
    e.add_argument("--out", help="also write the scores as JSON to this file")
    e.set_defaults(func=cmd_evaluate)
    pr = sub.add_parser("predict", help="the sections of one screenshot", description="Predict the sections "
                        "of a screenshot and optionally draw them.", **kw)
    pr.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt)")
    pr.add_argument("image", help="a screenshot (png, jpg or webp)")
    pr.add_argument("--out", help="write an overlay image (png/jpg/webp) of the predicted sections")
    pr.add_argument("--json", action="store_true", help="also print the sections as JSON")
    pr.set_defaults(func=cmd_predict)
    r = sub.add_parser("report", help="plot losses and held-out scores over steps", **kw)
    r.add_argument("run", help="run directory")
    r.add_argument("--out", help="PNG path (default: RUN/curves.png)")
    r.set_defaults(func=cmd_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (TrainConfigError, ManifestError, CheckpointError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

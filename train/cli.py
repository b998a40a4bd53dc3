"""`python -m train` / `s2s-train`: fit, evaluate, predict, report."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from shards.manifest import ManifestError, load_manifest

from .checkpoint import CheckpointError
from .config import TrainConfigError, read_table, resolve
from .phases import phase_defaults, pick_phase


def resolve_config(args: argparse.Namespace):
    """Phase (auto from the manifest unless forced) -> its defaults -> file -> flags."""
    manifest = load_manifest(args.shards)
    if args.phase == "auto":
        phase, reason = pick_phase(int(manifest["sources"].get("accepted", 0)))
    else:
        phase, reason = int(args.phase), f"forced with --phase {args.phase}"
    table = read_table(args.config) if args.config else None
    flags = {"max_steps": args.max_steps, "seed": args.seed, "num_workers": args.workers,
             "batch_size": args.batch_size, "eval_every": args.eval_every}
    return resolve(phase_defaults(phase), table, flags, str(args.config)), reason


def cmd_fit(args: argparse.Namespace) -> int:
    from .trainer import fit

    cfg, reason = resolve_config(args)
    print(f"phase {cfg.phase}: {reason}", file=sys.stderr)
    folds = int(load_manifest(args.shards)["config"].get("folds", 5))
    if args.fold != "all":
        cfg.fold = None if args.fold is None else int(args.fold)
        print(json.dumps(fit(args.shards, args.run, cfg, resume=args.resume), indent=1))
        return 0
    results = []
    for i in range(folds):
        cfg.fold = i
        results.append(fit(args.shards, Path(args.run) / f"fold-{i}", cfg, resume=args.resume)["last_eval"] or {})
    summary = {}
    for key in ("token_accuracy", "exact_match", "box_miou", "max_iou"):
        vals = [r[key] for r in results if r.get(key) is not None]
        if vals:
            summary[key] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals), "folds": vals}
    print(json.dumps(summary, indent=1))
    (Path(args.run) / "cv.json").write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .baseline import fit_prior
    from .evaluate import evaluate
    from .inference import load_model

    model, vocab, cfg = load_model(args.checkpoint)
    prior = fit_prior(args.shards, vocab, image_size=model.cfg.image_size, max_slots=cfg.max_slots)
    metrics = evaluate(model, args.shards, args.split, vocab, image_size=model.cfg.image_size,
                       max_slots=cfg.max_slots, batch_size=cfg.batch_size, max_samples=args.max_samples,
                       steps=cfg.sample_steps, guidance_scale=cfg.guidance_scale,
                       temperature=cfg.sample_temperature, seed=cfg.seed,
                       baseline=prior)
    print(json.dumps(metrics, indent=1))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import cv2

    from .inference import draw_overlay, load_model, predict

    raw = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if raw is None:
        print(f"error: {args.image}: not a readable image", file=sys.stderr)
        return 2
    image = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    model, vocab, cfg = load_model(args.checkpoint)
    sections = predict(model, vocab, image, steps=cfg.sample_steps, guidance_scale=cfg.guidance_scale,
                       temperature=cfg.sample_temperature)
    for s in sections:
        print(f"{s['token']:<40} {s['box']}")
    if args.out:
        cv2.imwrite(str(args.out), cv2.cvtColor(draw_overlay(image, sections), cv2.COLOR_RGB2BGR))
        print(f"overlay written to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import plot_run

    print(f"curves written to {plot_run(args.run, args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s2s-train", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="train from shards")
    f.add_argument("--shards", required=True)
    # --run-dir too: under torchrun, torchrun's own parser takes "--run" for its "--run-path"
    f.add_argument("--run", "--run-dir", dest="run", required=True,
                   help="run directory (config, checkpoints, metrics.jsonl); use --run-dir under torchrun")
    f.add_argument("--phase", default="auto", choices=["auto", "1", "2", "3", "4"])
    f.add_argument("--config", help="TOML/JSON of TrainConfig fields (see train/config.py)")
    f.add_argument("--max-steps", type=int)
    f.add_argument("--batch-size", type=int)
    f.add_argument("--eval-every", type=int)
    f.add_argument("--seed", type=int)
    f.add_argument("--workers", type=int, help="DataLoader workers")
    f.add_argument("--fold", help="K-fold: validate on fold i of the train split, or 'all'")
    f.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    f.set_defaults(func=cmd_fit)
    e = sub.add_parser("evaluate", help="metrics of a checkpoint on a split")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--shards", required=True)
    e.add_argument("--split", default="val")
    e.add_argument("--max-samples", type=int)
    e.set_defaults(func=cmd_evaluate)
    pr = sub.add_parser("predict", help="predicted sections of one screenshot")
    pr.add_argument("--checkpoint", required=True)
    pr.add_argument("image")
    pr.add_argument("--out", help="overlay PNG")
    pr.set_defaults(func=cmd_predict)
    r = sub.add_parser("report", help="plot loss and held-out metrics over steps")
    r.add_argument("run")
    r.add_argument("--out")
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

"""`python -m train` / `s2s-train`: fit, evaluate, predict, show, export, report.

A thin layer over library functions (train.trainer.fit, train.evaluation.evaluate.evaluate_checkpoint,
train.inference.load_model and export, train.evaluation.report.plot_run), built on the CLI pieces the
three commands share (shards.views.cli_support): every flag shows its default, `-v`/`-q`,
`--version`, no abbreviations. Known failures print ``error: ...`` naming the file or
setting and exit 2 (an OS error such as a full disk: 1; Ctrl-C: 130; SIGTERM: 143).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from shards.pairs.groups import GroupsError
from shards.pairs.pages import PairsError
from shards.storage.images import ImageError
from shards.storage.lock import LockBusy
from shards.storage.manifest import ManifestError, load_manifest
from shards.storage.reader import ShardReadError
from shards.views.cli_support import EXIT_ERROR, EXIT_PROBLEMS, add_command, new_parser, parse, run_command

from .checkpoint import CheckpointError
from .config import INITS, TrainConfig, TrainConfigError, parse_assignment, read_table, resolve
from .phases import PHASES, phase_defaults, pick_phase

ERRORS: dict[type[BaseException], int] = {
    TrainConfigError: EXIT_ERROR, ManifestError: EXIT_ERROR, CheckpointError: EXIT_ERROR, ShardReadError: EXIT_ERROR,
    LockBusy: EXIT_ERROR, ImageError: EXIT_ERROR, FileNotFoundError: EXIT_ERROR, FileExistsError: EXIT_ERROR,
    PairsError: EXIT_ERROR, GroupsError: EXIT_ERROR, OSError: EXIT_PROBLEMS,
}


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, str]:
    """Phase (auto from the manifest unless forced) -> its defaults -> file -> flags -> --set."""
    sources = sum(int(load_manifest(s)["sources"].get("accepted", 0)) for s in args.shards)
    if args.phase == "auto":  # several --shards sets: the phase of their total sources
        phase, reason = pick_phase(sources)
    else:
        phase, reason = int(args.phase), f"forced with --phase {args.phase}"
    table = read_table(args.config) if args.config else None
    flags = {"max_steps": args.max_steps, "seed": args.seed, "num_workers": args.workers,
             "batch_size": args.batch_size, "eval_every": args.eval_every, "max_memory": args.max_memory,
             "mix": _mix(args.mix) if args.mix else None, "init_from": args.init_from}
    sets = [parse_assignment(a) for a in args.set or []]
    return resolve(phase_defaults(phase), table, flags, str(args.config), sets), reason


def cmd_fit(args: argparse.Namespace) -> int:
    cfg, reason = resolve_config(args)
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0
    from .trainer import fit

    print(f"phase {cfg.phase}: {reason}", file=sys.stderr)
    folds = int(load_manifest(args.shards[0])["config"].get("folds", 5))
    kw = dict(resume=args.resume, overwrite=args.overwrite, progress=not args.quiet)
    shards = args.shards if len(args.shards) > 1 else args.shards[0]
    if args.fold is None:
        print(json.dumps(_brief(fit(shards, args.run, cfg, **kw)), indent=1))
        return 0
    chosen = range(folds) if args.fold == "all" else [_fold(args.fold, folds)]
    results = []
    for i in chosen:
        cfg.fold = i
        results.append(fit(shards, Path(args.run) / f"fold-{i}", cfg, **kw)["last_eval"] or {})
    summary: dict[str, Any] = {}
    for key in ("count", "miou", "type", "token"):
        vals = [r["pages"]["model"]["value"][key] for r in results
                if r.get("pages") and r["pages"]["model"]["value"].get(key) is not None]
        if vals:
            summary[key] = {"mean": statistics.fmean(vals), "std": statistics.pstdev(vals), "folds": vals}
    print(json.dumps(summary, indent=1))
    from shards.storage import atomic

    atomic.write_json(Path(args.run) / "cv.json", summary)
    return 0


def _fold(text: str, folds: int) -> int:
    try:
        fold = int(text)
    except ValueError:
        raise TrainConfigError(f"--fold must be an integer in 0..{folds - 1} or 'all', found {text!r}") from None
    if not 0 <= fold < folds:
        raise TrainConfigError(f"--fold {fold}: the shards have {folds} folds (0..{folds - 1})")
    return fold


def _mix(text: str) -> list[float]:
    """`--mix 0.7,0.3` as a list of shares (checked with the config)."""
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise TrainConfigError(f"--mix {text!r}: give one share per --shards set, comma-separated, e.g. "
                               "--mix 0.7,0.3") from None


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    if result.get("last_eval"):
        from .evaluation.evaluate import format_table

        for name, scores in (result["last_eval"].get("sets") or {"": result["last_eval"]}).items():
            print((f"held-out split of {name}:\n" if name else "") + format_table(scores), file=sys.stderr)
    return {k: v for k, v in result.items() if k != "last_eval"}


def _left_out(rows: list[dict[str, Any]], what: str) -> None:
    """The pairs a command did not use, one line each on stderr."""
    if rows:
        print(f"{len(rows)} pair{'s' if len(rows) != 1 else ''} {what}:", file=sys.stderr)
        for r in rows:
            print(f"  {r['reason']}: {r['message']}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.evaluate import evaluate_checkpoint, evaluate_pairs_checkpoint, format_table

    sampling = {k: v for k, v in (("init", args.init), ("t_start", args.t_start)) if v is not None}
    if args.pairs:
        result = evaluate_pairs_checkpoint(args.checkpoint, args.pairs, context_k=args.context_k, sampling=sampling)
        for w in result["warnings"]:
            print(w, file=sys.stderr)
        _left_out(result["rejects"], "not scored")
    else:
        result = evaluate_checkpoint(args.checkpoint, args.shards, args.split, max_sources=args.max_sources,
                                     variants=args.variants, context_k=args.context_k, sampling=sampling)
    print(format_table(result))
    if args.out:
        from shards.storage import atomic

        atomic.write_json(args.out, result)
        print(f"scores written to {args.out}")
    return 0


def _count(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, found {text!r}")
    return value


def _overlay_path(text: str) -> Path:
    out = Path(text)
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: folder {out.parent} does not exist")
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp"):
        raise TrainConfigError(f"--out {out}: give a .png, .jpg or .webp file name")
    return out


def cmd_predict(args: argparse.Namespace) -> int:
    from .inference import as_rgb_array, draw_overlay, load_model

    out = _overlay_path(args.out) if args.out else None  # checked before any work
    image = as_rgb_array(args.image)
    predictor = load_model(args.checkpoint)
    context: list = []
    if args.context:
        from .inference import context_from_pairs, require_few_shot

        require_few_shot(predictor, args.checkpoint, f"--context {args.context}")
        context, left_out = context_from_pairs(args.context, args.context_k)
        _left_out(left_out, "not used as context")
        print(f"{len(context)} context page{'s' if len(context) != 1 else ''} from {args.context}", file=sys.stderr)
    sections = predictor.predict(image, context=context)
    if args.json:
        print(json.dumps([s.to_dict() for s in sections], indent=1))
    else:
        for s in sections:
            print(f"{s.token:<40} {list(s.box)} score {s.score:.2f}")
    if out is not None:
        import cv2

        from shards.storage import atomic

        ok, buf = cv2.imencode(out.suffix, cv2.cvtColor(draw_overlay(image, sections), cv2.COLOR_RGB2BGR))
        atomic.write_bytes(out, buf.tobytes())
        print(f"overlay written to {out}", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .inference import export

    out = export(args.checkpoint, args.out)
    print(f"exported {args.checkpoint} to {out} (model.safetensors, config.json); "
          f"load it with train.load_model({str(out)!r})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .evaluation.overlay import show_held_out

    out = _overlay_path(args.out)
    print(f"held-out pages written to {show_held_out(args.checkpoint, args.shards, out, split=args.split, n=args.n)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .evaluation.report import plot_run

    print(f"curves written to {plot_run(args.run, args.out)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p, sub = new_parser("s2s-train", __doc__)
    f = add_command(sub, "fit", cmd_fit, "train from shards",
                    "Train from a shard directory into a run directory, with the phase strategy its number of "
                    "source pairs picks. Settings layer: phase defaults, --config, flags, --set.")
    f.add_argument("--shards", required=True, action="append",
                   help="shard directory written by `augment run`; repeat it to train on several sets at once, mixed "
                        "by --mix, each set's held-out split scored on its own")
    f.add_argument("--mix", metavar="W1,W2,...",
                   help="shares of the --shards sets in the training stream, in their order, e.g. 0.7,0.3 "
                        "(default: in proportion to their training samples)")
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
    f.add_argument("--max-memory", help="memory a training process may use: bytes, a size (8G, 512M) or a share of "
                                        "the device's memory (default: 50%%); a batch that would not fit runs as "
                                        "micro-batches with the same effective batch")
    f.add_argument("--fold", help="K-fold: validate on fold i of the train split, or 'all' folds in turn "
                                  "(default: validate on the val split)")
    f.add_argument("--init-from", metavar="CHECKPOINT",
                   help="start from another run's trained weights (e.g. one trained on synthetic pages, to "
                        "fine-tune on real ones); optimizer and step start afresh (default: none, a fresh model)")
    f.add_argument("--resume", action="store_true", help="continue from RUN/last.pt on the same curve")
    f.add_argument("--overwrite", action="store_true", help="start afresh in a run directory that holds a run")
    f.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    e = add_command(sub, "evaluate", cmd_evaluate, "held-out scores of a checkpoint",
                    "Score a checkpoint on held-out sources of shards (--shards), or on a folder of your own "
                    "source pairs (--pairs), each at its original page: model and layout prior, with 95% "
                    "bootstrap intervals over sources.")
    e.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--shards", help="shard directory: score its held-out split (one of --shards, --pairs required)")
    src.add_argument("--pairs", help="folder of source pairs (<id>.png + <id>.html + <id>.boxes.json, optional "
                                     "groups.json: the input of `augment run`): score every pair at its original "
                                     "page; pairs without boxes are listed, not scored (one of --shards, --pairs "
                                     "required)")
    e.add_argument("--split", default="val", help="split to score (--shards only)")
    e.add_argument("--max-sources", type=int, default=0,
                   help="score at most this many sources (0 = all; --shards only)")
    e.add_argument("--variants", type=int, default=2,
                   help="augmented variants per source scored beside variant 00 (--shards only)")
    e.add_argument("--context-k", type=_count, metavar="K",
                   help="few-shot: K context pages per scored page, drawn from other sources of its group, never "
                        "the page itself (default: the run's few_shot_k)")
    e.add_argument("--init", choices=INITS,
                   help="where sampling starts: the dense head's boxes (dense), the set denoiser from them diffused "
                        "to --t-start (proposals), or from noise (default: the run's sampling.init)")
    e.add_argument("--t-start", type=int, metavar="T",
                   help="timestep --init proposals starts from (default: the run's sampling.t_start)")
    e.add_argument("--out", help="also write the scores as JSON to this file (default: not written)")
    pr = add_command(sub, "predict", cmd_predict, "the sections of one screenshot",
                     "Predict the sections of a screenshot; print them and optionally draw them.")
    pr.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt)")
    pr.add_argument("image", help="a screenshot (png, jpg or webp)")
    pr.add_argument("--out", help="write an overlay image (png/jpg/webp) of the predicted sections")
    pr.add_argument("--json", action="store_true", help="print the sections as JSON")
    pr.add_argument("--context", metavar="DIR",
                    help="few-shot: a folder of source pairs of the same site or template (with boxes.json), given "
                         "with their true sections as context; needs a model trained with few_shot_max > 0")
    pr.add_argument("--context-k", type=_count, default=0, metavar="K",
                    help="use the first K pairs of --context by id (0 = all of them)")
    x = add_command(sub, "export", cmd_export, "write a checkpoint's model as safetensors + JSON",
                    "Write the weights prediction uses as DIR/model.safetensors and the model's config, factor "
                    "tables and sampling settings as DIR/config.json; train.load_model(DIR) reads them with no "
                    "pickle.")
    x.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt)")
    x.add_argument("--out", required=True, help="folder to write")
    sh = add_command(sub, "show", cmd_show, "held-out pages: predicted sections beside the true ones",
                     "Draw N held-out pages (variant 00), each twice: with the sections the model predicts and "
                     "with the true ones, numbered, with a legend of their tokens.")
    sh.add_argument("--checkpoint", required=True, help="a checkpoint (RUN/best.pt or RUN/last.pt) or an export")
    sh.add_argument("--shards", required=True, help="shard directory")
    sh.add_argument("--split", default="val", help="split to draw pages from")
    sh.add_argument("--n", type=int, default=4, help="pages, one row each")
    sh.add_argument("--out", required=True, help="PNG path")
    r = add_command(sub, "report", cmd_report, "plot losses and held-out scores over steps",
                    "Plot a run's training losses and held-out scores (with the layout prior) as a PNG.")
    r.add_argument("run", help="run directory")
    r.add_argument("--out", help="PNG path (default: RUN/curves.png)")
    return p


def main(argv: list[str] | None = None) -> int:
    return run_command(parse(build_parser(), argv), ERRORS)


if __name__ == "__main__":
    sys.exit(main())

"""`fit`: stream shards, train with the phase's features, evaluate, checkpoint, resume.

One optimizer step = `grad_accum` batches of `batch_size`; each batch runs as micro-batches of
the size the memory budget allows (train.memory: `max_memory`), gradients accumulated. Rank 0
alone evaluates, logs and writes checkpoints; every rank takes the same number of steps (see
`train.data`). The loop is deterministic: data order, timesteps, noise and dropout all follow
seeded generators whose states are checkpointed, so `--resume` continues the same curve.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm.auto import tqdm

from shards.storage import atomic
from shards.storage.lock import hold
from shards.storage.manifest import load_manifest
from shards.storage.reader import resolve_urls
from shards.views.cli_support import progress_enabled

from . import checkpoint as ckpt
from . import distributed, memory
from .config import TrainConfig, TrainConfigError
from .data.epochs import EpochPlan, train_samples
from .data.inputs import InputSpec, to_device
from .data.stream import EpochFilter, MixedStream, epoch_batches, sample_stream
from .data.vocab import Factors
from .evaluation.evaluate import EvalSettings, evaluate
from .evaluation.prior import LayoutPrior, fit_prior
from .objective import Objective, build_model, make_optimizer
from .runlog import RunLog
from .unfreeze import apply_freezing

LOG_EVERY = 10


def factors_of(manifest: dict[str, Any] | list[dict[str, Any]], min_count: int = 2) -> Factors:
    """The factor vocabularies of a shard directory (its manifest's raw-token counts), or of
    several (their counts added)."""
    counts: Counter = Counter()
    for m in manifest if isinstance(manifest, list) else [manifest]:
        counts.update(m.get("vocab", {}).get("raw_token", {}))
    return Factors.build(dict(counts), min_count=min_count)


def shard_sets(shards: str | Path | list) -> list[Path]:
    """`--shards` as a list of shard directories (one or several)."""
    return [Path(s) for s in (shards if isinstance(shards, (list, tuple)) else [shards])]


def eval_settings(cfg: TrainConfig, max_sources: int | None = None) -> EvalSettings:
    """The evaluation settings a training config implies (one place for both callers)."""
    return EvalSettings(sampling=cfg.sampling, batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                        max_sources=cfg.eval_sources if max_sources is None else max_sources,
                        variants=cfg.eval_variants, fold=cfg.fold, on_error=cfg.on_error, seed=cfg.seed,
                        context_k=cfg.few_shot_k)


class Trainer:
    """The state of one training run; `fit()` drives it."""

    def __init__(self, shards: str | Path | list, run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
                 progress: bool = True):
        self.sets = shard_sets(shards)  # several: mixed by cfg.mix, each held-out split scored on its own
        self.shards, self.run_dir, self.cfg, self.progress = self.sets[0], Path(run_dir), cfg, progress
        self.info = distributed.init()
        self.manifests = [load_manifest(s) for s in self.sets]
        self.manifest = self.manifests[0]
        if cfg.mix and len(cfg.mix) != len(self.sets):
            raise TrainConfigError(f"--mix has {len(cfg.mix)} shares for {len(self.sets)} --shards sets; give one "
                                   "share per set, in --shards order")
        if cfg.fold is not None and len(self.sets) > 1:
            raise TrainConfigError("--fold validates on a fold of one shard set; give one --shards with it")
        self.mix = cfg.mix or [float(train_samples(m, cfg)) for m in self.manifests]
        state = ckpt.load(self.run_dir / ckpt.LAST, self.info.device) if resume else None
        self.factors = Factors.from_dict(state["factors"]) if state else factors_of(self.manifests)
        torch.manual_seed(cfg.seed * 1000 + self.info.rank)  # dropout draws from the global stream
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.info.rank + 1)
        self.obj = Objective(cfg, build_model(cfg, self.factors))
        # fine-tuning: another run's weights, before the optimizer and EMA copy them; a resumed run's own win
        self.warm = ckpt.warm_start(self.obj.model, cfg.init_from, self.factors.raw) if cfg.init_from and not state \
            else None
        self.spec = InputSpec.of(self.obj.model.cfg, self.factors)
        self.micro_size = memory.plan(cfg, self.obj.model, self.info.device)  # samples per forward
        if state and state["tdc"]:
            self.obj.start_tdc()
        self.obj.to(self.info.device)
        self.step, self.best, self.bad_evals = 0, None, 0
        self.prior: LayoutPrior | None = None
        self.window: dict[str, float] = {}  # loss sums since the last log line (checkpointed)
        self.coverage: set[int] = set()  # shard indices this rank trained on (this process)
        self.plan = EpochPlan(cfg, sum(train_samples(m, cfg) for m in self.manifests), self.info.world)
        self._optim(state)
        if state:
            self._restore(state)
        self.log = RunLog(self.run_dir, self.info.main, resume_step=self.step if state else None)

    # -- set-up ------------------------------------------------------------------------
    def _optim(self, state: dict | None) -> None:
        cfg, dev = self.cfg, self.info.device
        step = state["step"] if state else 0
        apply_freezing(self.obj.model, step, cfg.unfreeze_every)
        self.opt, self.lr_schedule = make_optimizer(self.obj, step)
        self.scaler = torch.amp.GradScaler(dev.type, enabled=cfg.amp and dev.type == "cuda")
        self.ema = (AveragedModel(self.obj.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
                    if cfg.ema_decay else None)
        self.wrapped = (DistributedDataParallel(self.obj, find_unused_parameters=True)
                        if self.info.world > 1 else self.obj)

    def _restore(self, state: dict) -> None:
        try:
            self.obj.load_state_dict(state["objective"])
        except RuntimeError as e:  # a size or key mismatch: the model the config builds is another one
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise ckpt.CheckpointError(
                f"{self.run_dir / ckpt.LAST}: the checkpoint and the config disagree on the model ({first}); "
                "resume with the settings the run started with (RUN/config.json) or start afresh with "
                "--overwrite") from None
        self.opt.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        ckpt.restore_rng(state["rng"], self.generator)
        self.step, self.best, self.bad_evals = state["step"], state["best"], state["bad_evals"]
        self.window = dict(state.get("window", {}))

    def state(self) -> dict[str, Any]:
        return {
            "objective": self.obj.state_dict(), "tdc": self.obj.model.tdc,
            "optimizer": self.opt.state_dict(), "scheduler": self.lr_schedule.state_dict(),
            "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema else None,
            "rng": ckpt.rng_state(self.generator), "step": self.step, "best": self.best,
            "bad_evals": self.bad_evals, "window": dict(self.window), "config": self.cfg.to_dict(),
            "model_config": self.obj.model.cfg.to_dict(), "factors": self.factors.to_dict(),
            "data_position": list(self.plan.position(self.step)),
            "prior": self.prior.to_dict() if self.prior is not None else None,
        }

    # -- data --------------------------------------------------------------------------
    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """Micro-batches from the current step on, epoch after epoch."""
        cfg, epoch, skip = self.cfg, *self.plan.position(self.step)
        while epoch < len(self.plan.lengths):
            streams = [sample_stream(s, "train", self.spec, seed=cfg.seed, epoch=epoch, keep=self.plan.filter(epoch),
                                     shuffle_buffer=cfg.shuffle_buffer, on_error=cfg.on_error, repeat=True,
                                     few_shot=cfg.few_shot_max) for s in self.sets]
            ds = streams[0] if len(streams) == 1 else MixedStream(streams, self.mix, cfg.seed * 7919 + epoch)
            n = self.plan.lengths[epoch] * cfg.grad_accum
            yield from epoch_batches(ds, cfg.batch_size, cfg.num_workers, n, skip * cfg.grad_accum,
                                     seed=cfg.seed * 7919 + epoch)
            epoch, skip = epoch + 1, 0

    # -- one step ----------------------------------------------------------------------
    def _autocast(self):
        dev = self.info.device
        return torch.autocast(dev.type, dtype=torch.float16 if dev.type == "cuda" else torch.bfloat16,
                              enabled=self.cfg.amp)

    def accumulate(self, batches: list[dict[str, Any]]) -> dict[str, float]:
        """Forward + backward of one step's batches, each split into micro-batches of
        `micro_size`; every micro-batch's loss is weighted by its share of the step's samples,
        so the gradient of a per-sample-mean loss is the full step's (train.memory)."""
        chunks = [c for b in batches for c in memory.split_batch(b, self.micro_size)]
        total = sum(len(c["key"]) for c in chunks)
        sums: dict[str, float] = {}
        for i, batch in enumerate(chunks):
            share = len(batch["key"]) / total
            batch = to_device(batch, self.info.device)
            sync = contextlib.nullcontext()
            if self.info.world > 1 and i < len(chunks) - 1:
                sync = self.wrapped.no_sync()
            with sync:
                with self._autocast():
                    out = self.wrapped(batch, self.generator)
                self.scaler.scale(out["loss"] * share).backward()
            self.obj.sampler.update(out["t"].detach().cpu(), out["per_sample"].float().cpu())
            for k, v in out.items():  # every named scalar the objective returns
                if isinstance(v, torch.Tensor) and v.dim() == 0:
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * share
        return sums

    def optimizer_step(self) -> None:
        """Clip, step, schedule and average the accumulated gradients, then clear them."""
        self.scaler.unscale_(self.opt)
        torch.nn.utils.clip_grad_norm_(self.obj.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self.lr_schedule.step()
        if self.ema is not None:
            self.ema.update_parameters(self.obj.model)

    def train_step(self, batches: list[dict[str, Any]]) -> dict[str, float]:
        """One optimizer step over `grad_accum` batches; the step's mean of every named scalar."""
        sums = self.accumulate(batches)
        self.optimizer_step()
        return sums

    # -- evaluation, checkpoints, stage switches ------------------------------------------
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.obj.model

    def evaluate(self) -> dict[str, Any] | None:
        """Held-out metrics (the val split, or the held-out fold under K-fold). With several
        shard sets, each set's split is scored on its own (``sets``, by path); the top-level
        scores are the first set's and ``score`` (the best checkpoint's) is the sets' mean."""
        cfg = self.cfg
        split = "train" if cfg.fold is not None else "val"
        scored = [s for s, m in zip(self.sets, self.manifests) if cfg.fold is not None or m["splits"]["val"]["shards"]]
        if not scored:
            return None
        if self.prior is None:  # fitted once per process, on the samples this run trains on
            train = self.shards if len(self.sets) == 1 else [u for s in self.sets for u in resolve_urls(s, "train")]
            self.prior = fit_prior(train, self.spec, on_error=cfg.on_error,
                                   keep=EpochFilter(max_variants=cfg.max_variants, fold_out=cfg.fold))
            if not cfg.sampling.min_band and self.prior.thinnest >= 2:  # the decoder's scale, from the data
                cfg.sampling.min_band = math.floor(self.prior.thinnest)
        results = [evaluate(self.eval_model(), s, split, self.spec, eval_settings(cfg), prior=self.prior,
                            device=self.info.device) for s in scored]
        if len(self.sets) == 1:
            return results[0]
        scores = [r["score"] for r in results if r.get("score") is not None]
        return {**results[0], "sets": {str(s): r for s, r in zip(scored, results)},
                "score": sum(scores) / len(scores) if scores else None}

    def after_eval(self, metrics: dict[str, Any] | None) -> bool:
        """Track the best held-out canonical-token accuracy (variant 00 pages); True when
        early stopping says stop."""
        if metrics is None or metrics.get("score") is None:
            return False
        self.log.write("val", self.step, {k: v for k, v in metrics.items() if k not in ("split", "fold", "sampling")})
        if self.best is None or metrics["score"] > self.best:
            self.best, self.bad_evals = metrics["score"], 0
            ckpt.save(self.run_dir / ckpt.BEST, self.state())
        else:
            self.bad_evals += 1
        return bool(self.cfg.early_stopping) and self.bad_evals >= self.cfg.early_stopping

    def maybe_start_tdc(self) -> None:
        cfg = self.cfg
        if cfg.tdc_groups and not self.obj.model.tdc and \
                self.step >= int(cfg.tdc_start * cfg.max_steps):
            self.obj.start_tdc()
            self.obj.to(self.info.device)
            self._optim({"step": self.step})

    def save(self) -> None:
        if self.info.main:
            ckpt.save(self.run_dir / ckpt.LAST, self.state())

    # -- the loop ----------------------------------------------------------------------
    def fit(self, until: int | None = None) -> dict[str, Any]:
        """Train to `max_steps` (or pause at step `until`, checkpointed, to resume later)."""
        cfg, info = self.cfg, self.info
        until = cfg.max_steps if until is None else min(until, cfg.max_steps)
        if info.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic.write_json(self.run_dir / "config.json", cfg.to_dict())
            if self.warm and self.step == 0:
                self.log.write("init", 0, self.warm)  # what came from --init-from, and what did not
        bar = tqdm(total=cfg.max_steps, initial=self.step, desc="train", unit="step",
                   disable=not (info.main and progress_enabled(self.progress)))
        seen, t0, stop, last_eval = 0, time.perf_counter(), False, None
        micro: list[dict[str, torch.Tensor]] = []
        for batch in self.batches():
            micro.append(batch)
            if len(micro) < cfg.grad_accum:
                continue
            self.maybe_start_tdc()
            apply_freezing(self.obj.model, self.step, cfg.unfreeze_every)
            for k, v in self.train_step(micro).items():  # each scalar's sum and count ("#k": per-t losses skip steps)
                self.window[k] = self.window.get(k, 0.0) + v
                self.window["#" + k] = self.window.get("#" + k, 0) + 1
            self.window["steps"] = self.window.get("steps", 0) + 1
            seen += sum(len(b["key"]) for b in micro) * info.world
            for b in micro:
                self.coverage.update(int(i) for i in b["shard"])
            micro, self.step = [], self.step + 1
            if self.step % LOG_EVERY == 0 or self.step == cfg.max_steps:
                self.window.pop("steps")
                row = {k: round(v / self.window["#" + k], 6) for k, v in self.window.items() if k[0] != "#"}
                row["lr"] = self.lr_schedule.get_last_lr()[0]
                self.log.write("train", self.step, row)
                bar.set_postfix(loss=f"{row['loss']:.3f}", samples_s=f"{seen / (time.perf_counter() - t0):.1f}")
                self.window = {}
            bar.update()
            if self.step % cfg.eval_every == 0 or self.step == cfg.max_steps:
                last_eval = self.evaluate() if info.main else None
                stop = self.after_eval(last_eval) if info.main else False
            stop = bool(distributed.max_over_ranks(info, int(stop)))
            if self.step % cfg.checkpoint_every == 0 or self.step >= until or stop:
                self.save()
            if self.step >= until or stop:
                break
        bar.close()
        self.log.close()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.run_dir / f"rank-{info.rank}.json", {
            "rank": info.rank, "world": info.world, "step": self.step, "shards": sorted(self.coverage)})
        distributed.barrier(info)
        return {"step": self.step, "stopped_early": stop, "best_score": self.best, "last_eval": last_eval,
                "run_dir": str(self.run_dir)}


RUN_FILES = (ckpt.LAST, ckpt.BEST, "metrics.jsonl", "config.json")


def fit(shards: str | Path | list, run_dir: str | Path, cfg: TrainConfig, *, resume: bool = False,
        overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train from `shards` into `run_dir` (see the module docstring). One job per run
    directory (rank 0 holds its lock); a directory that already holds a run is continued with
    ``resume``, replaced with ``overwrite``, and otherwise refused, so no run is lost."""
    run_dir = Path(run_dir)
    info = distributed.init()
    if not info.main:
        return _fit(shards, run_dir, cfg, resume, progress)
    run_dir.mkdir(parents=True, exist_ok=True)
    with hold(run_dir, "train fit", what="--run"):
        present = [name for name in RUN_FILES if (run_dir / name).exists()]
        if present and not resume:
            if not overwrite:
                raise FileExistsError(f"--run {run_dir} already holds a run ({', '.join(present)}): use --resume "
                                      "to continue it or --overwrite to start afresh")
            for name in present:
                (run_dir / name).unlink()
        return _fit(shards, run_dir, cfg, resume, progress)


def _fit(shards: str | Path | list, run_dir: Path, cfg: TrainConfig, resume: bool, progress: bool) -> dict[str, Any]:
    trainer = Trainer(shards, run_dir, cfg, resume=resume, progress=progress)
    try:
        return trainer.fit()
    finally:
        distributed.shutdown(trainer.info)

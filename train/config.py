"""The trainer's configuration: one owner per setting, layered phase defaults -> file -> flags.

`TrainConfig` holds what the training loop needs; three tables inside it own the rest, each
in one place:

- ``model``: overrides of :class:`train.model.ModelConfig` fields on top of the ``preset``
  (canvas width, dropout, proposals, ...). The model's own config is the only owner of its
  sizes; this table only names the changes (a TOML ``[model]`` table).
- ``sampling`` (:class:`SamplingConfig`): how sections are generated, used alike by the
  training-time evaluation, ``train evaluate`` and ``train predict``.
- ``loss`` (:class:`LossConfig`): the weight of every named loss of the objective
  (:data:`train.objective.LOSSES`; 0 = off) and how they are combined (``weighting``).

Phases only choose defaults (see `train.phases`); every feature is a field, so a config file,
a flag or ``--set key=value`` can switch any single feature on or off under any phase. The
resolved config is written to RUNDIR/config.json and saved in every checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TrainConfigError(ValueError):
    """A config value or file that cannot be used; the message names it."""


# where sampling starts (train.diffusion.sampling): the set denoiser from pure noise (DiffusionDet), the
# denoiser from the dense head's boxes diffused to t_start (SDEdit), or the dense head's boxes as they are
INITS = ("noise", "proposals", "dense")


@dataclass
class SamplingConfig:
    """How the set denoiser generates sections (:func:`train.diffusion.sampling.sample`)."""

    steps: int = 4  # reverse diffusion steps (DiffusionDet: 1-4 suffice, boxes are refined each step)
    guidance_scale: float = 1.0  # classifier-free guidance; 1 = the conditional model alone
    threshold: float = 0.5  # presence probability above which a proposal is a section
    nms_iou: float = 0.7  # proposals overlapping a likelier one by more are duplicates
    eta: float = 0.0  # DDIM noise; 0 = deterministic
    init: str = "dense"  # one of INITS
    t_start: int = 20  # the timestep "proposals" starts from (T = model.num_timesteps: pure noise)
    # canvas pixel rows: two section edges the dense head finds closer than this are one edge found
    # twice. 0 = from the training data: `train fit` sets it to the 1st percentile of the heights
    # of the sections it trains on (synthetic pages: 6, their top strips; real pages have 2-5-px bars)
    min_band: int = 0

    def checks(self) -> list[tuple[bool, str, str]]:
        return [
            (self.init in INITS, "sampling.init", f"one of {sorted(INITS)}"),
            (_is_int(self.t_start) and self.t_start >= 1, "sampling.t_start",
             "an integer >= 1 (model.num_timesteps and above: pure noise)"),
            (_is_int(self.steps) and self.steps >= 1, "sampling.steps", "an integer >= 1"),
            (_is_int(self.min_band) and self.min_band >= 0, "sampling.min_band",
             "an integer >= 0 (0: from the training data)"),
            (_is_num(self.guidance_scale) and self.guidance_scale >= 0, "sampling.guidance_scale", "a number >= 0"),
            (_is_num(self.threshold) and 0 < self.threshold < 1, "sampling.threshold", "in (0, 1)"),
            (_is_num(self.nms_iou) and 0 < self.nms_iou <= 1, "sampling.nms_iou", "in (0, 1]"),
            (_is_num(self.eta) and self.eta >= 0, "sampling.eta", "a number >= 0"),
        ]


WEIGHTINGS = ("sum", "uncertainty", "multitask")


@dataclass
class LossConfig:
    """Weight of each named loss (train.objective.LOSSES; 0 switches it off) and how the
    weighted terms become one scalar (``weighting``: train.losses.weighting.WEIGHTINGS)."""

    element: float = 1.0  # section type + children + raw tag CE on matched proposals, + alignment
    presence: float = 1.0  # "is a section" focal loss over every proposal
    geometric: float = 1.0  # box L1 + GIoU on matched proposals
    region: float = 1.0  # the reader at jittered true boxes
    edges: float = 1.0  # dense section boundaries on the fine feature map
    dense: float = 1.0  # dense section proposals: inside, distances to edges, row edges (train.losses.dense)
    consistency: float = 0.0  # multi-scale agreement (phase 2)
    layout: float = 0.0  # alignment + overlap penalties on predicted boxes (phase 4)
    diversity: float = 0.0  # section-type usage spread (phase 4)
    label_smoothing: float = 0.0
    weighting: str = "sum"  # sum | uncertainty | multitask

    def checks(self) -> list[tuple[bool, str, str]]:
        rows = [(_is_num(getattr(self, f.name)) and getattr(self, f.name) >= 0, f"loss.{f.name}",
                 "a number >= 0 (0 = off)")
                for f in dataclasses.fields(self) if f.name not in ("label_smoothing", "weighting")]
        rows += [
            (_is_num(self.label_smoothing) and 0 <= self.label_smoothing < 1, "loss.label_smoothing", "in [0, 1)"),
            (self.weighting in WEIGHTINGS, "loss.weighting", f"one of {WEIGHTINGS}"),
        ]
        return rows


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


# the forms of `max_memory` (train.memory turns one into a budget)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory(value: Any) -> tuple[str, float]:
    """``("bytes", n)`` or ``("share", fraction)`` of a ``max_memory`` value; ValueError naming the forms."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return "bytes", float(value)
    if isinstance(value, str):
        if m := _SHARE.match(value):
            share = float(m.group(1)) / 100
            if 0 < share <= 1:
                return "share", share
        elif m := _SIZE.match(value):
            n = float(m.group(1)) * _UNITS[m.group(2).upper()]
            if n > 0:
                return "bytes", n
    raise ValueError(f"{value!r} is not a memory size: give bytes (8000000000), a size (8G, 512M) or a share of "
                     "the device's memory (50%)")


def _memory_ok(x: Any) -> bool:
    try:
        parse_memory(x)
    except ValueError:
        return False
    return True


@dataclass
class TrainConfig:
    """Everything `train fit` needs besides the shard directory and the run directory."""

    phase: int = 0  # 0 = picked from the manifest's number of source pairs
    seed: int = 0
    preset: str = "micro"  # model size preset (train.model.PRESETS)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides on top of the preset
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    max_steps: int = 1000
    grad_clip: float = 1.0
    grad_accum: int = 1
    # memory one training process may use: bytes, "8G", or a share of the device's (train.memory);
    # a batch that would not fit runs as micro-batches with the same effective batch. Half: the
    # rest is the loader workers', the OS's and other jobs'
    max_memory: str | int = "50%"
    num_workers: int = 2
    shuffle_buffer: int = 500
    max_variants: int = 0  # train on variants 0..k-1 of each source only (0 = all): an augmentation factor
    # several --shards sets: the share of each in the training stream, in --shards order (empty: in
    # proportion to their training samples, as if they were one set); drawn by a seeded mix
    mix: list[float] = field(default_factory=list)
    on_error: str = "raise"  # raise | skip: what a corrupt shard or sample does
    eval_every: int = 250
    eval_sources: int = 200  # held-out sources scored at each evaluation (0 = all)
    eval_variants: int = 2  # augmented variants per held-out source scored beside its variant 00
    checkpoint_every: int = 250
    fold: int | None = None  # K-fold: validate on this fold of the train split
    # phase features (the phase defaults switch them on)
    unfreeze_every: int = 0  # steps between unfreezing backbone layer groups (0 = all trainable)
    variance_aware: bool = False  # variance-aware timestep sampling
    curriculum_stages: int = 0
    tdc_groups: int = 0  # two-stage divide-and-conquer: denoiser copies in stage 2
    tdc_start: float = 0.6  # share of max_steps after which stage 2 starts
    tdc_lrs: list[float] = field(default_factory=list)  # per-group LR (default: lr)
    data_dropout: float = 0.0  # share of the epoch dropped by the last epoch (progressive)
    early_stopping: int = 0  # evaluations without improvement before stopping (0 = off)
    few_shot_max: int = 0  # FSDM: up to this many context pages of the target's group per sample (0 = off)
    few_shot_k: int = 0  # FSDM: context pages per held-out page in evaluations (0 = none)
    amp: bool = False
    ema_decay: float = 0.0
    # a checkpoint whose trained weights this run starts from (train.checkpoint.warm_start; "": none),
    # e.g. a model trained on synthetic pages fine-tuned on real ones; --resume ignores it
    init_from: str = ""

    def checks(self) -> list[tuple[bool, str, str]]:
        """Rows of (ok, setting, rule): every setting's type and range."""
        from .phases import PHASES  # the registry owns the phase numbers

        pos_int = "an integer >= 1"
        rows = [
            (_is_int(self.phase) and (self.phase == 0 or self.phase in PHASES), "phase",
             f"0 (auto) or one of {sorted(PHASES)}"),
            (_is_int(self.seed), "seed", "an integer"),
            (isinstance(self.preset, str), "preset", "a preset name"),
            (isinstance(self.model, dict), "model", "a table of ModelConfig fields"),
            (_is_int(self.batch_size) and self.batch_size >= 1, "batch_size", pos_int),
            (_is_num(self.lr) and self.lr > 0, "lr", "a number > 0"),
            (_is_num(self.weight_decay) and self.weight_decay >= 0, "weight_decay", "a number >= 0"),
            (_is_int(self.warmup_steps) and self.warmup_steps >= 0, "warmup_steps", "an integer >= 0"),
            (_is_int(self.max_steps) and self.max_steps >= 1, "max_steps", pos_int),
            (_is_num(self.grad_clip) and self.grad_clip > 0, "grad_clip", "a number > 0"),
            (_is_int(self.grad_accum) and self.grad_accum >= 1, "grad_accum", pos_int),
            (_memory_ok(self.max_memory), "max_memory", "bytes, a size such as '8G' or '512M', or a share such as "
             "'50%' of the device's memory"),
            (_is_int(self.num_workers) and self.num_workers >= 0, "num_workers", "an integer >= 0"),
            (_is_int(self.shuffle_buffer) and self.shuffle_buffer >= 0, "shuffle_buffer", "an integer >= 0"),
            (_is_int(self.max_variants) and self.max_variants >= 0, "max_variants", "an integer >= 0 (0 = all)"),
            (isinstance(self.mix, list) and all(_is_num(v) and v > 0 for v in self.mix), "mix",
             "a list of shares > 0, one per --shards set (empty: by training samples)"),
            (self.on_error in ("raise", "skip"), "on_error", "'raise' or 'skip'"),
            (_is_int(self.eval_every) and self.eval_every >= 1, "eval_every", pos_int),
            (_is_int(self.eval_sources) and self.eval_sources >= 0, "eval_sources", "an integer >= 0 (0 = all)"),
            (_is_int(self.eval_variants) and self.eval_variants >= 0, "eval_variants", "an integer >= 0"),
            (_is_int(self.checkpoint_every) and self.checkpoint_every >= 1, "checkpoint_every", pos_int),
            (self.fold is None or (_is_int(self.fold) and self.fold >= 0), "fold", "unset or an integer >= 0"),
            (_is_int(self.unfreeze_every) and self.unfreeze_every >= 0, "unfreeze_every", "an integer >= 0"),
            (isinstance(self.variance_aware, bool), "variance_aware", "true or false"),
            (_is_int(self.curriculum_stages) and self.curriculum_stages >= 0, "curriculum_stages", "an integer >= 0"),
            (_is_int(self.tdc_groups) and self.tdc_groups >= 0, "tdc_groups", "an integer >= 0"),
            (_is_num(self.tdc_start) and 0 < self.tdc_start < 1, "tdc_start", "in (0, 1)"),
            (isinstance(self.tdc_lrs, list) and all(_is_num(v) and v > 0 for v in self.tdc_lrs)
             and (not self.tdc_lrs or len(self.tdc_lrs) == self.tdc_groups), "tdc_lrs",
             "a list of tdc_groups learning rates > 0, or empty"),
            (_is_num(self.data_dropout) and 0 <= self.data_dropout < 1, "data_dropout", "in [0, 1)"),
            (_is_int(self.early_stopping) and self.early_stopping >= 0, "early_stopping", "an integer >= 0"),
            (_is_int(self.few_shot_max) and self.few_shot_max >= 0, "few_shot_max", "an integer >= 0 (0 = off)"),
            (_is_int(self.few_shot_k) and 0 <= self.few_shot_k <= max(self.few_shot_max, 0), "few_shot_k",
             "an integer in 0..few_shot_max"),
            (isinstance(self.amp, bool), "amp", "true or false"),
            (_is_num(self.ema_decay) and 0 <= self.ema_decay < 1, "ema_decay", "in [0, 1)"),
            (isinstance(self.init_from, str), "init_from", "a checkpoint path, or empty for none"),
        ]
        return rows + self.sampling.checks() + self.loss.checks()

    def validate(self) -> "TrainConfig":
        """Raise one TrainConfigError listing every setting that breaks its rule."""
        from .model import model_config_errors

        bad = [f"config '{name}' must be {rule}, found {_lookup(self, name)!r}"
               for ok, name, rule in self.checks() if not ok]
        if isinstance(self.model, dict) and isinstance(self.preset, str):
            bad += model_config_errors(self.preset, self.model)
        if bad:
            raise TrainConfigError("; ".join(bad))
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        cfg = TrainConfig()
        _apply(cfg, data, "checkpoint", strict=False)
        return cfg


SECTIONS: dict[str, type] = {"sampling": SamplingConfig, "loss": LossConfig}


def _lookup(cfg: TrainConfig, name: str) -> Any:
    obj: Any = cfg
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _apply(cfg: TrainConfig, table: dict[str, Any], where: str, strict: bool = True) -> None:
    """Set the fields of ``table`` on ``cfg`` (nested tables merge field by field)."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(table) - known)
    if unknown and strict:
        raise TrainConfigError(f"{where}: unknown settings {unknown}; known: {', '.join(sorted(known))}")
    for key, value in table.items():
        if key not in known:
            continue
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise TrainConfigError(f"{where}: '{key}' must be a table of settings, found {value!r}")
            sub = getattr(cfg, key)
            names = {f.name for f in dataclasses.fields(sub)}
            bad = sorted(set(value) - names)
            if bad and strict:
                raise TrainConfigError(f"{where}: unknown settings {[f'{key}.{b}' for b in bad]}; "
                                       f"known: {', '.join(sorted(names))}")
            for k, v in value.items():
                if k in names:
                    setattr(sub, k, v)
        elif key == "model":
            if not isinstance(value, dict):
                raise TrainConfigError(f"{where}: 'model' must be a table of ModelConfig fields, found {value!r}")
            cfg.model = {**cfg.model, **value}
        else:
            setattr(cfg, key, value)


def parse_assignment(text: str) -> dict[str, Any]:
    """``key=value`` (``--set``) as a nested table: ``loss.region=0.5`` -> {"loss": {"region": 0.5}}
    (shards.views.cli_support.parse_assignment, with the trainer's error type)."""
    from shards.views.cli_support import parse_assignment as parse

    try:
        return parse(text)
    except ValueError as e:
        raise TrainConfigError(str(e).replace("ops.spatial.p=0.5", "loss.region=0.5")) from None


def read_table(path: str | Path) -> dict[str, Any]:
    """A TOML or JSON config file as a dict, with errors naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as e:
        raise TrainConfigError(f"{path}: cannot read config ({e})") from None
    if not isinstance(data, dict):
        raise TrainConfigError(f"{path}: a config file must hold a table of settings")
    return data


def resolve(phase_defaults: dict[str, Any], file_table: dict[str, Any] | None,
            flags: dict[str, Any], origin: str = "config file",
            assignments: list[dict[str, Any]] | None = None) -> TrainConfig:
    """Phase defaults, then the file, then flags that are not None, then ``--set`` assignments."""
    cfg = TrainConfig()
    layers = [(phase_defaults, "phase defaults"), (file_table or {}, origin),
              ({k: v for k, v in flags.items() if v is not None}, "command line")]
    layers += [(a, "--set") for a in assignments or []]
    for table, where in layers:
        _apply(cfg, table, where)
    return cfg.validate()

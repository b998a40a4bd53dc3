"""The trainer's configuration: one dataclass, layered phase defaults -> file -> flags.

Phases only choose defaults (see `train.phases`); every feature is a field here, so a
config file or a flag can switch any single feature on or off under any phase. The
resolved config is written to RUNDIR/config.json and saved in every checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class TrainConfigError(ValueError):
    """A config value or file that cannot be used; the message names it."""


@dataclass
class TrainConfig:
    """Everything `train fit` needs besides the shard directory and the run directory."""

    phase: int = 0  # 0 = picked from the manifest's number of source pairs
    seed: int = 0
    preset: str = "micro"  # model size preset (train.model.PRESETS)
    encoder: str = "patch"  # patch | resnet18 | vit_b_16
    weights_path: str | None = None  # local torchvision weights for a backbone encoder
    image_size: int | None = None  # None: the preset's
    dropout: float | None = None  # None: the preset's
    max_slots: int = 12
    min_count: int = 2  # tokens seen fewer times map to UNK
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    max_steps: int = 1000
    grad_clip: float = 1.0
    num_workers: int = 2
    shuffle_buffer: int = 500
    on_error: str = "raise"  # raise | skip: what a corrupt shard or sample does
    eval_every: int = 250
    eval_samples: int = 256  # held-out samples scored at each evaluation
    checkpoint_every: int = 250
    sample_steps: int = 20
    guidance_scale: float = 1.0
    # 0: each token is the argmax (scores the model's best guess); > 0: Gumbel draws at that
    # temperature (diverse layouts for generation, noisier scores).
    sample_temperature: float = 0.0
    fold: int | None = None  # K-fold: validate on this fold of the train split
    # features (phase defaults switch them on)
    unfreeze_every: int = 0  # steps between unfreezing backbone layer groups (0 = all trainable)
    variance_aware: bool = False
    label_smoothing: float = 0.0
    # weight of the region loss (train.losses.region): the region reader naming each section
    # from a crop at its true box; 0 = off. Only models with a reader (region_size > 0) have it.
    region_loss: float = 1.0
    region_size: int | None = None  # None: the preset's (train.model.ModelConfig.region_size)
    curriculum_stages: int = 0
    tdc_groups: int = 0  # two-stage divide-and-conquer: denoiser copies in stage 2
    tdc_start: float = 0.6  # share of max_steps after which stage 2 starts
    tdc_lrs: list[float] = field(default_factory=list)  # per-group LR (default: lr)
    data_dropout: float = 0.0  # share of the epoch dropped by the last epoch (progressive)
    modality_weighting: bool = False
    multiscale: bool = False
    early_stopping: int = 0  # evaluations without improvement before stopping (0 = off)
    amp: bool = False
    ema_decay: float = 0.0
    grad_accum: int = 1
    multitask: bool = False

    def validate(self) -> "TrainConfig":
        checks = [
            (self.phase in (0, 1, 2, 3, 4), "phase", "0 (auto) or 1-4"),
            (self.batch_size >= 1, "batch_size", "at least 1"),
            (self.max_steps >= 1, "max_steps", "at least 1"),
            (self.grad_accum >= 1, "grad_accum", "at least 1"),
            (0.0 <= self.ema_decay < 1.0, "ema_decay", "in [0, 1)"),
            (0.0 <= self.data_dropout < 1.0, "data_dropout", "in [0, 1)"),
            (0.0 <= self.label_smoothing < 1.0, "label_smoothing", "in [0, 1)"),
            (self.region_loss >= 0.0, "region_loss", "at least 0 (0 = off)"),
            (self.region_size is None or self.region_size == 0 or self.region_size >= 4,
             "region_size", "0 (no region reader) or at least 4 pixels"),
            (self.sample_temperature >= 0.0, "sample_temperature", "at least 0 (0 = argmax)"),
            (self.on_error in ("raise", "skip"), "on_error", "'raise' or 'skip'"),
            (0.0 < self.tdc_start < 1.0, "tdc_start", "in (0, 1)"),
        ]
        for ok, name, rule in checks:
            if not ok:
                raise TrainConfigError(f"config '{name}' must be {rule}, found {getattr(self, name)!r}")
        if self.tdc_lrs and len(self.tdc_lrs) != self.tdc_groups:
            raise TrainConfigError(f"config 'tdc_lrs' has {len(self.tdc_lrs)} values for tdc_groups={self.tdc_groups}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        return cls(**{k: v for k, v in data.items() if k in {f.name for f in dataclasses.fields(cls)}})


def read_table(path: str | Path) -> dict[str, Any]:
    """A TOML or JSON config file as a dict, with errors naming the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as e:
        raise TrainConfigError(f"{path}: cannot read config ({e})") from None


def resolve(phase_defaults: dict[str, Any], file_table: dict[str, Any] | None,
            flags: dict[str, Any], origin: str = "config file") -> TrainConfig:
    """Phase defaults, then the file, then flags that are not None."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig()
    for table, where in ((phase_defaults, "phase defaults"), (file_table or {}, origin),
                         ({k: v for k, v in flags.items() if v is not None}, "command line")):
        unknown = set(table) - known
        if unknown:
            raise TrainConfigError(f"{where}: unknown settings {sorted(unknown)}")
        for k, v in table.items():
            setattr(cfg, k, v)
    return cfg.validate()

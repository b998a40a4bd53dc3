"""The augmentation job's configuration: one dataclass, layered file -> defaults -> flags.

`AugmentConfig.ops` holds one table per registered op (`[ops.<name>]` in TOML), starting
from each op module's DEFAULTS; the shipped `default.toml` lists every value with its
meaning. Only fields that shape the output enter `job_dict()` (and so the manifest and
the config hash): the number of workers or the backend never change a byte of output.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shards.schema import IMAGE_EXTS

from .backends import BACKENDS

DEFAULT_TOML = Path(__file__).with_name("default.toml")
RUN_ONLY = ("jobs", "backend", "scheduler", "strict", "overwrite", "progress")


class ConfigError(ValueError):
    """A config value or file that cannot be used; the message names it."""


def _op_defaults() -> dict[str, dict[str, Any]]:
    from .ops import OPS

    return {name: copy.deepcopy(mod.DEFAULTS) for name, mod in OPS.items()}


@dataclass
class AugmentConfig:
    """Everything `augment run` needs besides the input and output paths."""

    factor: int = 50
    seed: int = 0
    val_fraction: float = 0.1
    folds: int = 5
    image_format: str = "png"
    quality: int = 90
    samples_per_shard: int = 500
    variants_per_group: int = 10
    max_pixels: int = 40_000_000
    ops: dict[str, dict[str, Any]] = field(default_factory=_op_defaults)
    jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    strict: bool = False
    overwrite: bool = False
    progress: bool = True

    def validate(self) -> "AugmentConfig":
        checks = [
            (self.factor >= 1, "factor", "at least 1", self.factor),
            (0.0 <= self.val_fraction < 1.0, "val_fraction", "in [0, 1)", self.val_fraction),
            (self.folds >= 1, "folds", "at least 1", self.folds),
            (self.image_format in IMAGE_EXTS, "image_format", f"one of {IMAGE_EXTS}", self.image_format),
            (1 <= self.quality <= 100, "quality", "in 1..100", self.quality),
            (self.samples_per_shard >= 1, "samples_per_shard", "at least 1", self.samples_per_shard),
            (self.variants_per_group >= 1, "variants_per_group", "at least 1", self.variants_per_group),
            (self.jobs != 0, "jobs", "non-zero (negative counts from the number of cores, as in joblib)", self.jobs),
            (self.backend in BACKENDS, "backend", f"one of {sorted(BACKENDS)}", self.backend),
            (not self.scheduler or self.backend == "dask", "scheduler",
             f"unset unless backend is 'dask' (backend is {self.backend!r})", self.scheduler),
        ]
        for ok, name, rule, value in checks:
            if not ok:
                raise ConfigError(f"config '{name}' must be {rule}, found {value!r}")
        for name in self.ops:
            if not 0.0 <= float(self.ops[name].get("p", 0.0)) <= 1.0:
                raise ConfigError(f"config 'ops.{name}.p' must be in [0, 1], found {self.ops[name]['p']!r}")
        return self

    def job_dict(self) -> dict[str, Any]:
        """The output-shaping settings (saved in the manifest, hashed into every sidecar)."""
        d = dataclasses.asdict(self)
        return {k: v for k, v in d.items() if k not in RUN_ONLY}

    def hash(self) -> str:
        blob = json.dumps(self.job_dict(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]


def _merge(cfg: AugmentConfig, table: dict[str, Any], origin: str) -> None:
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{origin}: unknown setting {key!r}; known: {', '.join(sorted(known))}")
        if key != "ops":
            setattr(cfg, key, value)
            continue
        for op, values in value.items():
            if op not in cfg.ops:
                raise ConfigError(f"{origin}: unknown op [ops.{op}]; registered: {', '.join(cfg.ops)}")
            unknown = set(values) - set(cfg.ops[op])
            if unknown:
                raise ConfigError(f"{origin}: [ops.{op}] has unknown keys {sorted(unknown)}")
            cfg.ops[op].update(values)


def load_config(path: str | Path | None = None, **overrides: Any) -> AugmentConfig:
    """Defaults, then the TOML file at `path` (if any), then `overrides` that are not None."""
    cfg = AugmentConfig()
    if path is not None:
        try:
            table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ConfigError(f"{path}: cannot read config ({e})") from None
        _merge(cfg, table, str(path))
    _merge(cfg, {k: v for k, v in overrides.items() if v is not None}, "command line")
    return cfg.validate()

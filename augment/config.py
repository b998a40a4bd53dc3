"""The augmentation job's configuration: one dataclass, layered file -> defaults -> flags.

`AugmentConfig.ops` holds one table per registered op (`[ops.<name>]` in TOML), starting
from each op module's DEFAULTS; the shipped `default.toml` lists every base value with its
meaning. `load_config` layers: base values -> the preset (`augment.presets`, the flag's,
else the file's `preset`, else `DEFAULT_PRESET`) -> the TOML file -> flags. Every field
shapes the output, and all of them enter `job_dict()` (and so the manifest and the config
hash). How a job runs (workers, backend, strictness) never changes a byte of output and is
not configured here: see `augment.run_options`.
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

from .presets import DEFAULT_PRESET, PRESETS

DEFAULT_TOML = Path(__file__).with_name("default.toml")


class ConfigError(ValueError):
    """A config value or file that cannot be used; the message names it."""


def check(rows: list[tuple[bool, str, str, Any]], what: str = "config") -> None:
    """Raise one ConfigError naming every failed row (ok, setting, rule, value found)."""
    failed = [f"{what} '{name}' must be {rule}, found {value!r}" for ok, name, rule, value in rows if not ok]
    if failed:
        raise ConfigError("; ".join(failed))


def _op_defaults() -> dict[str, dict[str, Any]]:
    from .ops import OPS

    return {name: copy.deepcopy(mod.DEFAULTS) for name, mod in OPS.items()}


@dataclass
class AugmentConfig:
    """Every setting that shapes the output of `augment run` (the input and output paths and
    the run options aside)."""

    factor: int = 50
    seed: int = 0
    val_fraction: float = 0.1
    folds: int = 5
    image_format: str = "png"
    quality: int = 90
    samples_per_shard: int = 500
    variants_per_group: int = 10
    max_pixels: int = 40_000_000
    preset: str = "seed"  # the preset applied over the base values (which are the seed preset's)
    ops: dict[str, dict[str, Any]] = field(default_factory=_op_defaults)

    def validate(self) -> "AugmentConfig":
        from .ops import OPS

        check([
            (self.preset in PRESETS, "preset", f"one of {sorted(PRESETS)}", self.preset),
            (self.factor >= 1, "factor", "at least 1", self.factor),
            (0.0 <= self.val_fraction < 1.0, "val_fraction", "in [0, 1)", self.val_fraction),
            (self.folds >= 1, "folds", "at least 1", self.folds),
            (self.image_format in IMAGE_EXTS, "image_format", f"one of {IMAGE_EXTS}", self.image_format),
            (1 <= self.quality <= 100, "quality", "in 1..100", self.quality),
            (self.samples_per_shard >= 1, "samples_per_shard", "at least 1", self.samples_per_shard),
            (self.variants_per_group >= 1, "variants_per_group", "at least 1", self.variants_per_group),
            *((0.0 <= float(table.get("p", 0.0)) <= 1.0, f"ops.{name}.p", "in [0, 1]", table.get("p"))
              for name, table in self.ops.items()),
            *(row for name, table in self.ops.items() if hasattr(OPS.get(name), "check")
              for row in OPS[name].check(table)),
        ])
        return self

    def job_dict(self) -> dict[str, Any]:
        """The output-shaping settings (saved in the manifest, hashed into every sidecar)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        blob = json.dumps(self.job_dict(), sort_keys=True).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]


def _merge(cfg: AugmentConfig, table: dict[str, Any], origin: str) -> None:
    known = {f.name for f in dataclasses.fields(AugmentConfig)}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{origin}: unknown setting {key!r}; known: {', '.join(sorted(known))} "
                              "(how the job runs, e.g. --jobs or --backend, is set by flags only)")
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


def _read_toml(path: str | Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read {what} ({e})") from None


def load_config(path: str | Path | None = None, preset: str | None = None, **overrides: Any) -> AugmentConfig:
    """Base values, then the preset (`preset`, else the file's ``preset``, else
    DEFAULT_PRESET), then the TOML file at `path` (if any), then `overrides` that are not None."""
    cfg = AugmentConfig()
    table = _read_toml(path, "config") if path is not None else {}
    name = preset or table.get("preset") or DEFAULT_PRESET
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} is unknown; known: {', '.join(sorted(PRESETS))} "
                          "(augment/presets/<name>.toml)")
    _merge(cfg, _read_toml(PRESETS[name], "preset"), f"preset {name} ({PRESETS[name]})")
    _merge(cfg, {k: v for k, v in table.items() if k != "preset"}, str(path))
    _merge(cfg, {k: v for k, v in overrides.items() if v is not None}, "command line")
    cfg.preset = name
    return cfg.validate()

"""The augmentation job's configuration: one dataclass, layered file -> defaults -> flags.

`AugmentConfig.ops` holds one table per registered op (`[ops.<name>]` in TOML), starting
from each op module's DEFAULTS; the shipped `default.toml` lists every base value with its
meaning. `load_config` layers: base values -> the preset (`augment.presets`, the flag's,
else the file's `preset`, else `DEFAULT_PRESET`) -> the TOML file -> flags -> `--set`. Every
field shapes the output, and all of them enter `job_dict()` (and so the manifest and the
config hash). How a job runs (workers, backend, strictness) never changes a byte of output
and is not configured here: see `augment.run_options`. Every value is checked against its
rule in `augment.settings` before any work starts, all at once.
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
    split_by: str = "source"  # what the split and fold hash: "source" id or "group" id (augment.groups)
    image_format: str = "png"
    quality: int = 90
    samples_per_shard: int = 500
    variants_per_group: int = 10
    max_pixels: int = 40_000_000
    # structure ops edit the DOM and Chromium draws the result, for pairs with a snapshot (augment.render.rerender)
    rerender: bool = False
    preset: str = "seed"  # the preset applied over the base values (which are the seed preset's)
    ops: dict[str, dict[str, Any]] = field(default_factory=_op_defaults)

    def validate(self) -> "AugmentConfig":
        from .settings import problems

        check(problems(self.job_dict()))
        return self

    def job_dict(self) -> dict[str, Any]:
        """The output-shaping settings (saved in the manifest, hashed into every sidecar)."""
        return dataclasses.asdict(self)

    def hash(self) -> str:
        values = self.job_dict()
        if values["rerender"] is False:  # painting, as before the setting existed: same bytes, same hash (pinned)
            del values["rerender"]
        blob = json.dumps(values, sort_keys=True).encode("utf-8")
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
        if not isinstance(value, dict):
            raise ConfigError(f"{origin}: 'ops' must be a table of [ops.<name>] tables, found {value!r:.60}")
        for op, values in value.items():
            if op not in cfg.ops:
                raise ConfigError(f"{origin}: unknown op [ops.{op}]; registered: {', '.join(cfg.ops)}")
            if not isinstance(values, dict):
                raise ConfigError(f"{origin}: [ops.{op}] must be a table of settings, found {values!r:.60}")
            unknown = set(values) - set(cfg.ops[op])
            if unknown:
                raise ConfigError(f"{origin}: [ops.{op}] has unknown keys {sorted(unknown)}")
            cfg.ops[op].update(values)


def _read_toml(path: str | Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read {what} ({e})") from None


def load_config(path: str | Path | None = None, preset: str | None = None,
                sets: list[dict[str, Any]] | None = None, **overrides: Any) -> AugmentConfig:
    """Base values, then the preset (`preset`, else the file's ``preset``, else
    DEFAULT_PRESET), then the TOML file at `path` (if any), then `overrides` that are not
    None, then `sets` (nested tables from `--set key=value`, in order); validated."""
    cfg = AugmentConfig()
    table = _read_toml(path, "config") if path is not None else {}
    # the preset named last wins: --set, else the flag, else the file, else the default
    named = [t["preset"] for t in sets or [] if "preset" in t]
    name = named[-1] if named else preset if preset is not None else table.get("preset", DEFAULT_PRESET)
    if isinstance(name, str) and name in PRESETS:  # an unknown name is reported by validate()
        _merge(cfg, _read_toml(PRESETS[name], "preset"), f"preset {name} ({PRESETS[name]})")
    _merge(cfg, {k: v for k, v in table.items() if k != "preset"}, str(path))
    _merge(cfg, {k: v for k, v in overrides.items() if v is not None}, "command line")
    for extra in sets or []:
        _merge(cfg, {k: v for k, v in extra.items() if k != "preset"}, "--set")
    cfg.preset = name
    return cfg.validate()

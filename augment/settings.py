"""The rule of every setting of `augment run`, checked before any work starts; the config as TOML.

`RULES` maps each setting's dotted name (`factor`, `ops.spatial.long_side`) to a rule: a
kind from `KINDS` and its bounds. `problems(values)` checks a whole `job_dict()` at once and
returns one row per setting (ok, name, rule in words, value found) for `config.check`,
which reports every failure together. Types are checked before ranges, so `val_fraction =
"0.1"` says "a number in [0, 1)" instead of raising a TypeError deep inside a worker, and an
ordered pair such as `long_side = [1024, 256]` is refused here, not when a worker draws from it.

A setting without a rule is itself a problem (`test_settings` walks every default), so a
new op parameter cannot slip in unchecked: add its rule here beside the op's DEFAULTS.
`to_toml` renders a config in the layout of `default.toml` (what `--print-config` prints,
and what `--config` reads back).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shards.schema import IMAGE_EXTS

from .groups import SPLIT_BY
from .ops.spatial import SIZING
from .presets import PRESETS

Rule = tuple[str, Any, Any]  # (kind, low, high): bounds inclusive, None = unbounded


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _integer(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _within(v: Any, lo: Any, hi: Any) -> bool:
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _pair(item: Callable[[Any], bool]) -> Callable[[Any, Any, Any], bool]:
    def ok(v: Any, lo: Any, hi: Any) -> bool:
        return (isinstance(v, list) and len(v) == 2 and all(item(x) and _within(x, lo, hi) for x in v)
                and v[0] <= v[1])
    return ok


def _bounds(lo: Any, hi: Any) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    return f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else ""


# kind -> (check(value, low, high), words(low, high))
KINDS: dict[str, tuple[Callable[[Any, Any, Any], bool], Callable[[Any, Any], str]]] = {
    "bool": (lambda v, lo, hi: isinstance(v, bool), lambda lo, hi: "true or false"),
    "int": (lambda v, lo, hi: _integer(v) and _within(v, lo, hi), lambda lo, hi: "an integer" + _bounds(lo, hi)),
    "number": (lambda v, lo, hi: _number(v) and _within(v, lo, hi), lambda lo, hi: "a number" + _bounds(lo, hi)),
    # val_fraction: 1 would leave no training source
    "fraction": (lambda v, lo, hi: _number(v) and 0 <= v < 1, lambda lo, hi: "a number in [0, 1)"),
    "prob": (lambda v, lo, hi: _number(v) and 0 <= v <= 1, lambda lo, hi: "a number in [0, 1]"),
    "choice": (lambda v, lo, hi: isinstance(v, str) and v in lo, lambda lo, hi: f"one of {lo}"),
    "int_pair": (_pair(_integer), lambda lo, hi: f"[low, high] integers{_bounds(lo, hi)}, low <= high"),
    "odd_pair": (_pair(lambda x: _integer(x) and x % 2 == 1),
                 lambda lo, hi: f"[low, high] odd integers{_bounds(lo, hi)}, low <= high"),
    "pair": (_pair(_number), lambda lo, hi: f"[low, high] numbers{_bounds(lo, hi)}, low <= high"),
}

P: Rule = ("prob", None, None)
RULES: dict[str, Rule] = {
    "preset": ("choice", tuple(sorted(PRESETS)), None),
    "factor": ("int", 1, None),
    "seed": ("int", None, None),
    "val_fraction": ("fraction", None, None),
    "folds": ("int", 1, None),
    "split_by": ("choice", tuple(sorted(SPLIT_BY)), None),
    "image_format": ("choice", IMAGE_EXTS, None),
    "quality": ("int", 1, 100),
    "samples_per_shard": ("int", 1, None),
    "variants_per_group": ("int", 1, None),
    "max_pixels": ("int", 1, None),
    "rerender": ("bool", None, None),
    "ops.reorder.p": P,
    "ops.reorder.min_width": P,
    "ops.reorder.min_height": ("number", 0, None),
    "ops.reorder.tolerance": ("number", 0, None),
    "ops.dropout.p": P,
    "ops.dropout.max_k": ("int", 1, None),
    "ops.dropout.max_area": P,
    "ops.dropout.min_side": ("number", 0, None),
    "ops.dropout.ring": ("int", 1, None),
    "ops.dropout.salient_weight": ("number", 0, None),
    "ops.dropout.max_tries": ("int", 1, None),
    "ops.spatial.p": P,
    "ops.spatial.mode": ("choice", tuple(sorted(SIZING)), None),
    "ops.spatial.long_side": ("int_pair", 16, None),
    "ops.spatial.width": ("int_pair", 16, None),
    "ops.spatial.max_height": ("int", 16, None),
    "ops.spatial.rotate": ("pair", -180, 180),
    "ops.spatial.scale": ("pair", 0.01, None),
    "ops.spatial.translate": ("number", 0, 1),
    "ops.spatial.perspective_p": P,
    "ops.spatial.perspective": ("number", 0, 0.5),
    "ops.spatial.crop_p": P,
    "ops.spatial.crop_min_height": ("number", 0.01, 1),
    "ops.spatial.crop_min_width": ("number", 0.01, 1),
    "ops.spatial.min_visible": P,
    "ops.photometric.p": P,
    "ops.photometric.color_p": P,
    "ops.photometric.brightness": ("pair", 0, None),
    "ops.photometric.contrast": ("pair", 0, None),
    "ops.photometric.saturation": ("pair", 0, None),
    "ops.photometric.noise_p": P,
    "ops.photometric.noise_std": ("pair", 0, 1),
    "ops.photometric.blur_p": P,
    "ops.photometric.blur_limit": ("odd_pair", 3, None),
    "ops.photometric.jpeg_p": P,
    "ops.photometric.jpeg_quality": ("int_pair", 1, 100),
    "ops.class_substitution.p": P,
    "ops.class_substitution.rate": P,
    "ops.wrapper.p": P,
    "ops.wrapper.max_k": ("int", 1, None),
    "ops.flatten.p": P,
    "ops.flatten.rate": P,
    "ops.placeholder.p": P,
    "ops.placeholder.rate": P,
    "ops.placeholder.mask_share": P,
}


def flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"ops": {"spatial": {"p": 1}}}` -> `{"ops.spatial.p": 1}`."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def describe(rule: Rule) -> str:
    """A rule in words, as the error message says it."""
    kind, lo, hi = rule
    return KINDS[kind][1](lo, hi)


def problems(values: dict[str, Any]) -> list[tuple[bool, str, str, Any]]:
    """One row (ok, setting, rule in words, value) per setting of `values` (a `job_dict()`)."""
    rows = []
    for name, value in flatten(values).items():
        rule = RULES.get(name)
        if rule is None:
            rows.append((False, name, "a setting with a rule in augment/settings.py (none is known)", value))
            continue
        kind, lo, hi = rule
        rows.append((KINDS[kind][0](value, lo, hi), name, describe(rule), value))
    return rows


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return repr(v)


def to_toml(values: dict[str, Any]) -> str:
    """A config dict (scalars at the top, one `[ops.<name>]` table per op) as TOML text."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    for name, table in values.get("ops", {}).items():
        lines += ["", f"[ops.{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"

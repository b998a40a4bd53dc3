"""Photometric op: brightness, contrast, saturation, Gaussian noise, motion blur and JPEG
artefacts on the screenshot.

Targets: pixels only. Colour and sensor/compression noise never move anything, so element
quads and the HTML tree stay untouched. It runs on output pixels (after the spatial op),
where images are at most 1024 px on the long side, which keeps it cheap.

The transforms are albumentations 2.0.8 ones in one `A.Compose`. `draw` picks which of the
four sub-ops are on (each with its own probability) and an integer seed; `apply` rebuilds
(or reuses) the Compose for exactly those sub-ops and ranges, seeds it with
`set_random_seed(seed)` and runs it, so the pixels depend on the params alone. The values
albumentations actually drew (brightness factor, JPEG quality, ...) are added to the params
under ``"applied"`` for readability; replay ignores them, the seed is what counts.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

# albumentations asks PyPI for a newer version on import (a 2 s network timeout in
# sandboxed workers); augmentation must never touch the network.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
import albumentations as A  # noqa: E402

from ..page import Page  # noqa: E402

NAME = "photometric"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 0.8,
    "color_p": 0.9,
    "brightness": [0.7, 1.3],  # multiplicative factors, as in DESIGN.md
    "contrast": [0.8, 1.2],
    "saturation": [0.9, 1.1],
    "noise_p": 0.3,
    "noise_std": [0.01, 0.05],  # standard deviation as a fraction of 255
    "blur_p": 0.15,
    "blur_limit": [3, 7],  # odd kernel sizes
    "jpeg_p": 0.3,
    "jpeg_quality": [40, 90],
}
SUB_OPS = ("color", "noise", "blur", "jpeg")
MAX_SEED = 2**31 - 1

_CACHE: dict[str, A.Compose] = {}
_LOCK = threading.Lock()  # a cached Compose carries RNG state: seed + call must not interleave


def _spec(name: str, cfg: dict) -> dict[str, Any]:
    """The ranges one sub-op needs; recorded in the params so apply never reads config."""
    if name == "color":
        return {k: [float(v) for v in cfg[k]] for k in ("brightness", "contrast", "saturation")}
    if name == "noise":
        return {"std": [float(v) for v in cfg["noise_std"]]}
    if name == "blur":
        return {"limit": [int(v) for v in cfg["blur_limit"]]}
    return {"quality": [int(v) for v in cfg["jpeg_quality"]]}


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    on = [name for name in SUB_OPS if rng.random() < cfg[f"{name}_p"]]
    seed = int(rng.integers(0, MAX_SEED))
    if not on:
        return None
    return {"seed": seed, "transforms": {name: _spec(name, cfg) for name in on}}


def _transform(name: str, spec: dict[str, Any]) -> A.BasicTransform:
    if name == "color":
        return A.ColorJitter(brightness=tuple(spec["brightness"]), contrast=tuple(spec["contrast"]),
                             saturation=tuple(spec["saturation"]), hue=(0.0, 0.0), p=1.0)
    if name == "noise":
        return A.GaussNoise(std_range=tuple(spec["std"]), p=1.0)
    if name == "blur":
        return A.MotionBlur(blur_limit=tuple(spec["limit"]), p=1.0)
    if name == "jpeg":
        return A.ImageCompression(compression_type="jpeg", quality_range=tuple(spec["quality"]), p=1.0)
    raise KeyError(f"unknown photometric sub-op {name!r}; known: {', '.join(SUB_OPS)}")


def _compose(transforms: dict[str, dict[str, Any]]) -> A.Compose:
    """The Compose for this sub-op set and ranges, built once per process (building is not free)."""
    key = repr(sorted((n, sorted(s.items())) for n, s in transforms.items()))
    if key not in _CACHE:
        # Always in SUB_OPS order, whatever order the params list them in.
        parts = [_transform(n, transforms[n]) for n in SUB_OPS if n in transforms]
        unknown = set(transforms) - set(SUB_OPS)
        if unknown:
            raise KeyError(f"unknown photometric sub-op(s) {sorted(unknown)}; known: {', '.join(SUB_OPS)}")
        _CACHE[key] = A.Compose(parts, save_applied_params=True)
    return _CACHE[key]


def _scalars(values: dict[str, Any]) -> dict[str, Any]:
    """The JSON-friendly scalars among albumentations' applied values (no noise maps)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if k == "shape":
            continue
        if isinstance(v, (bool, int, float, str, np.integer, np.floating)):
            out[k] = v.item() if isinstance(v, np.generic) else v
        elif isinstance(v, (list, tuple)) and len(v) <= 8 and all(isinstance(x, (int, float)) for x in v):
            out[k] = list(v)
    return out


def apply(page: Page, params: dict[str, Any]) -> None:
    compose = _compose(params["transforms"])
    image = np.ascontiguousarray(page.image)
    with _LOCK:
        compose.set_random_seed(int(params["seed"]))
        result = compose(image=image)
    page.image = np.ascontiguousarray(result["image"], dtype=np.uint8)
    params["applied"] = {name: _scalars(values) for name, values in result.get("applied_transforms", [])}


def difficulty(params: dict[str, Any]) -> tuple[float, ...]:
    """Any photometric change: 0.1."""
    return (0.1,)

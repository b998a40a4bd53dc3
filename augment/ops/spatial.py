"""Spatial op: crop, rescale, rotate, scale, translate and perspective, as ONE homography.

Targets: pixels, every element quad, and the tree (elements that end up mostly outside
the image leave the HTML). The parameters are drawn once; the composite 3x3 homography
(source pixels -> output pixels) is recorded on the page. The output is sized by the
long side (`mode = "long_side"`, the seed's) or by the page width (`"width"`, the web
preset's: a tall page stays tall, up to `max_height`); see `SIZING`. Only the drawn crop
and output size are recorded, so replay does not depend on the mode.

Why not a chain of albumentations geometric transforms: each would warp the full
1280x4000 screenshot and be thrown away by the final rescale to <= 1024 px, and their box
targets are axis-aligned (inexact under rotation). Instead the crop + rescale runs first
(`functional.resize`, which anti-aliases text), then a single
`cv2.warpPerspective` applies rotation/scale/translation/perspective at output
resolution, and the same matrices move every quad exactly in one vectorized step.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..page import Page, box_to_quad
from ._visibility import drop_invisible

NAME = "spatial"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 1.0,
    "mode": "long_side",  # how the output is sized: a key of SIZING
    "long_side": [256, 1024],
    "width": [512, 1280],
    "max_height": 2048,
    "rotate": [-15.0, 15.0],
    "scale": [0.8, 1.2],
    "translate": 0.1,
    "perspective_p": 0.3,
    "perspective": 0.05,
    "crop_p": 0.5,
    "crop_min_height": 0.4,
    "crop_min_width": 0.85,
    "min_visible": 0.5,
}


def _draw_crop(rng: np.random.Generator, size: tuple[int, int], cfg: dict) -> list[int]:
    w, h = size
    if rng.random() >= cfg["crop_p"]:
        return [0, 0, w, h]
    cw = max(1, int(round(w * rng.uniform(cfg["crop_min_width"], 1.0))))
    ch = max(1, int(round(h * rng.uniform(cfg["crop_min_height"], 1.0))))
    return [int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch]


def _border_colour(image: np.ndarray) -> list[int]:
    """The page's background guess: per-channel median of the outermost pixel ring."""
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return [int(v) for v in np.median(ring, axis=0)]


def _by_long_side(rng: np.random.Generator, crop: list[int], cfg: dict) -> tuple[list[int], list[int]]:
    """The seed's sizing: the output's long side is drawn from `long_side`."""
    long_side = int(rng.integers(cfg["long_side"][0], cfg["long_side"][1] + 1))
    s = long_side / max(crop[2], crop[3])
    return crop, [max(1, int(round(crop[2] * s))), max(1, int(round(crop[3] * s)))]


def _by_width(rng: np.random.Generator, crop: list[int], cfg: dict) -> tuple[list[int], list[int]]:
    """A browser's sizing: the output's width is drawn from `width` and the height follows,
    so a tall page stays tall; an output taller than `max_height` is cut to a scroll
    window of the crop that fits (its top drawn uniformly)."""
    width = int(rng.integers(cfg["width"][0], cfg["width"][1] + 1))
    s = width / crop[2]
    fits = max(1, int(cfg["max_height"] / s))  # source rows under the cap
    if crop[3] > fits:
        crop = [crop[0], crop[1] + int(rng.integers(0, crop[3] - fits + 1)), crop[2], fits]
    return crop, [width, max(1, int(round(crop[3] * s)))]


SIZING = {"long_side": _by_long_side, "width": _by_width}



def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any]:
    cfg = {**DEFAULTS, **cfg}
    crop, out = SIZING[cfg["mode"]](rng, _draw_crop(rng, page.size, cfg), cfg)
    offsets = [[0.0, 0.0]] * 4
    if rng.random() < cfg["perspective_p"]:
        mag = cfg["perspective"] * np.array(out, dtype=np.float64)
        offsets = (rng.uniform(-1.0, 1.0, (4, 2)) * mag).round(3).tolist()
    return {
        "mode": cfg["mode"],
        "source_size": list(page.size),
        "crop": crop,
        "out_size": out,
        "angle": round(float(rng.uniform(*cfg["rotate"])), 4),
        "scale": round(float(rng.uniform(*cfg["scale"])), 4),
        "translate": [round(float(v), 4) for v in rng.uniform(-cfg["translate"], cfg["translate"], 2)],
        "perspective": offsets,
        "border": _border_colour(page.image),
        "min_visible": float(cfg["min_visible"]),
    }


def matrices(params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(R, W): R maps source pixels to the rescaled crop, W warps at output resolution."""
    x, y, cw, ch = params["crop"]
    ow, oh = params["out_size"]
    r = F.scaling(ow / cw, oh / ch) @ F.translation(-x, -y)
    centre = (ow / 2.0, oh / 2.0)
    tx, ty = params["translate"]
    w = (F.perspective((ow, oh), np.asarray(params["perspective"]))
         @ F.translation(tx * ow, ty * oh)
         @ F.rotation_scale(params["angle"], params["scale"], centre))
    return r, w


def apply(page: Page, params: dict[str, Any]) -> None:
    x, y, cw, ch = params["crop"]
    ow, oh = params["out_size"]
    r, w = matrices(params)
    small = F.resize(page.image[y:y + ch, x:x + cw], (ow, oh))
    page.image = F.warp_image(small, w, (ow, oh), tuple(params["border"]))
    # Pixels outside the crop are gone even where the warp would bring their place back
    # into view (a translation can expose border there), so quads are clipped to the crop
    # first; the share cut off counts against the element's visibility. (Clipping keeps the
    # bounds, exact for the axis-aligned quads this op receives: it runs once per variant.)
    located = page.located()
    in_crop, crop_frac = F.clip_quads(page.quads - np.array([x, y], dtype=np.float64), (cw, ch))
    clipped = box_to_quad(in_crop + np.array([x, y, 0, 0], dtype=np.float64))
    cut = crop_frac < 1.0
    h = w @ r
    page.quads[cut] = clipped[cut]
    page.quads = F.transform_points(page.quads, h)
    page.homography = h @ page.homography
    drop_invisible(page, params["min_visible"], prior=np.where(located, crop_frac, 0.0), located=located)


def difficulty(params: dict[str, Any]) -> tuple[float, ...]:
    """Rotation (up to 0.25 at 15 degrees), scale change (0.1 at +-20%), perspective (0.1)
    and the share of the page cropped away (up to 0.1): two terms, added in this grouping
    since the sample difficulties were first recorded."""
    _, _, cw, ch = params["crop"]
    sw, sh = params["source_size"]
    return (0.25 * abs(params["angle"]) / 15 + 0.1 * abs(params["scale"] - 1) / 0.2,
            0.1 * float(np.abs(params["perspective"]).max() > 0) + 0.1 * (1 - (cw * ch) / (sw * sh)))

"""The two image-only loops `augment_throughput` measures our pipeline against.

Both replay, variant by variant, the very parameters our job drew (read back from its
shards' `ops`), so they work on the same sources at the same output sizes:

- bare: what someone would write with plain albumentations and no synchronization:
  decode each source once, then per variant crop, rescale to the output size, rotate/scale/
  translate (`A.Affine`), perspective (`A.Perspective`), the same photometric sub-ops,
  encode with cv2 and append image + HTML to a tar. It never touches boxes or the tree:
  the floor of unavoidable pixel work.
- naive: the same ops in the naive order: every geometric op and the photometric ones at
  full (cropped source) resolution, the rescale to the output size last.

Element dropout and section reordering also touch pixels (a flat fill, a row permutation);
both loops apply those too, from the recorded rectangles and bands.
"""
from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no PyPI version check on import
import albumentations as A  # noqa: E402

from augment.pipeline import encode_image  # noqa: E402

_PHOTOMETRIC: dict[str, A.Compose] = {}


def _photometric(transforms: dict[str, dict[str, Any]]) -> A.Compose:
    """The photometric Compose for one sub-op set, built once (as any user would cache it)."""
    key = repr(sorted((n, sorted(s.items())) for n, s in transforms.items()))
    if key not in _PHOTOMETRIC:
        parts = []
        if "color" in transforms:
            c = transforms["color"]
            parts.append(A.ColorJitter(brightness=tuple(c["brightness"]), contrast=tuple(c["contrast"]),
                                       saturation=tuple(c["saturation"]), hue=(0.0, 0.0), p=1.0))
        if "noise" in transforms:
            parts.append(A.GaussNoise(std_range=tuple(transforms["noise"]["std"]), p=1.0))
        if "blur" in transforms:
            parts.append(A.MotionBlur(blur_limit=tuple(transforms["blur"]["limit"]), p=1.0))
        if "jpeg" in transforms:
            parts.append(A.ImageCompression(compression_type="jpeg",
                                            quality_range=tuple(transforms["jpeg"]["quality"]), p=1.0))
        _PHOTOMETRIC[key] = A.Compose(parts)
    return _PHOTOMETRIC[key]


def _geometric(spatial: dict[str, Any]) -> list[A.BasicTransform]:
    """Affine (+ Perspective when one was drawn) with the recorded magnitudes."""
    a, s = float(spatial["angle"]), float(spatial["scale"])
    tx, ty = (float(v) for v in spatial["translate"])
    fill = tuple(int(c) for c in spatial["border"])
    parts: list[A.BasicTransform] = [A.Affine(rotate=(a, a), scale=(s, s), border_mode=cv2.BORDER_CONSTANT, fill=fill,
                                              translate_percent={"x": (tx, tx), "y": (ty, ty)}, p=1.0)]
    offsets = np.abs(np.asarray(spatial["perspective"], dtype=np.float64))
    if offsets.max() > 0:
        mag = float((offsets / np.asarray(spatial["out_size"], dtype=np.float64)).max())
        parts.append(A.Perspective(scale=(mag, mag), border_mode=cv2.BORDER_CONSTANT, fill=fill, p=1.0))
    return parts


def _pixel_structure_ops(image: np.ndarray, ops: list[dict[str, Any]]) -> np.ndarray:
    """The pixel side of reordering (row permutation) and dropout (flat fills)."""
    for rec in ops:
        if rec["op"] == "reorder":
            (a0, a1), (b0, b1) = rec["bands"]
            image[a0:b1] = np.concatenate([image[b0:b1], image[a1:b0], image[a0:a1]])
        elif rec["op"] == "dropout":
            for (x0, y0, x1, y1), colour in zip(rec["rects"], rec["colours"]):
                image[y0:y1, x0:x1] = colour
    return image


def augment_image(image: np.ndarray, ops: list[dict[str, Any]], naive: bool) -> np.ndarray:
    """One variant's pixels from the recorded `ops` (bare order, or naive when `naive`)."""
    image = _pixel_structure_ops(image.copy(), ops)
    by_name = {rec["op"]: rec for rec in ops}
    spatial, photo = by_name.get("spatial"), by_name.get("photometric")
    if spatial is None:
        return _photometric(photo["transforms"])(image=image)["image"] if photo else image
    x, y, cw, ch = spatial["crop"]
    ow, oh = spatial["out_size"]
    crop = A.Crop(x, y, x + cw, y + ch, p=1.0)
    resize = A.Resize(oh, ow, interpolation=cv2.INTER_AREA, p=1.0)
    geo = _geometric(spatial)
    out = A.Compose([crop, *geo] if naive else [crop, resize, *geo])(image=image)["image"]
    if photo:
        out = _photometric(photo["transforms"])(image=out)["image"]
    return resize(image=out)["image"] if naive else out


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def run_loop(sources: Iterable[tuple[str, Path, Path]], recorded: dict[tuple[str, int], list[dict]],
             factor: int, out_tar: Path, image_format: str, quality: int, naive: bool) -> int:
    """Decode each (id, image, html) source once, write its `factor` variants; returns samples."""
    n = 0
    with tarfile.open(out_tar, "w") as tar:
        for sid, image_path, html_path in sources:
            bgr = cv2.imdecode(np.fromfile(image_path, np.uint8), cv2.IMREAD_COLOR)
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            html = html_path.read_bytes()
            for v in range(factor):
                pixels = augment_image(image, recorded.get((sid, v), []), naive)
                key = f"{sid}_v{v:02d}"
                _add(tar, f"{key}.{image_format}", encode_image(pixels, image_format, quality))
                _add(tar, f"{key}.html", html)
                n += 1
    return n

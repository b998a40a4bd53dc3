"""`shards show`: a contact sheet to check by eye that boxes and pixels agree.

Each cell shows a sample's source (variant 00) on the left and the augmented sample on
the right, both with element quads (thin grey) and section quads with their tokens
(coloured) drawn over the pixels.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import atomic
from .reader import decode_sample, make_pipeline

CELL_H = 420
COLS = 2
PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
           (70, 240, 240), (240, 50, 230), (128, 128, 0), (0, 0, 128), (170, 110, 40)]


def _poly(img: np.ndarray, quad: Any, scale: float, colour: tuple, thick: int) -> None:
    pts = (np.asarray(quad, dtype=np.float64) * scale).round().astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], True, colour, thick, cv2.LINE_AA)


def draw_sample(image: np.ndarray, meta: dict, height: int = CELL_H) -> np.ndarray:
    """The image scaled to `height` with element and section quads and tokens drawn."""
    scale = height / image.shape[0]
    out = cv2.resize(image, (max(1, round(image.shape[1] * scale)), height), interpolation=cv2.INTER_AREA)
    for el in meta.get("elements", []):
        if el.get("quad"):
            _poly(out, el["quad"], scale, (150, 150, 150), 1)
    by_xpath = {e["xpath"]: e for e in meta.get("elements", [])}
    for i, sec in enumerate(meta.get("sections", [])):
        el = by_xpath.get(sec.get("xpath"))
        colour = PALETTE[i % len(PALETTE)]
        if el and el.get("quad"):
            _poly(out, el["quad"], scale, colour, 2)
        if sec.get("box"):
            x, y = int(sec["box"][0] * scale) + 3, int(sec["box"][1] * scale) + 12
            cv2.putText(out, sec["token"][:40], (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
    cv2.putText(out, meta.get("__key__", ""), (4, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1)
    return out


def _pick(out: str | Path, split: str, n: int, seed: int) -> tuple[list, dict]:
    """Choose `n` augmented keys from the raw stream, then decode only those and their
    sources: holding every decoded image of a large split would not fit in memory."""
    keys = [raw["__key__"] for raw in make_pipeline(out, split, shuffle_buffer=0, decode=False)
            if not raw["__key__"].endswith("_v00")]
    chosen = set(random.Random(seed).sample(keys, min(n, len(keys))))
    wanted = chosen | {k.rsplit("_v", 1)[0] + "_v00" for k in chosen}
    samples, sources = [], {}
    for raw in make_pipeline(out, split, shuffle_buffer=0, decode=False):
        if raw["__key__"] in wanted:
            image, meta = decode_sample(raw)
            if meta["variant"] == 0:
                sources[meta["source"]] = (image, meta)
            if raw["__key__"] in chosen:
                samples.append((image, meta))
    return samples, sources


def _tile(cells: list[np.ndarray]) -> np.ndarray:
    width = max(c.shape[1] for c in cells)
    padded = [np.pad(c, ((0, 0), (0, width - c.shape[1]), (0, 0)), constant_values=255) for c in cells]
    while len(padded) % COLS:
        padded.append(np.full_like(padded[0], 255))
    rows = [np.hstack(padded[i:i + COLS]) for i in range(0, len(padded), COLS)]
    return np.vstack(rows)


def contact_sheet(out: str | Path, split: str = "train", n: int = 16, dest: str | Path | None = None,
                  seed: int = 0) -> Path:
    """Write a PNG contact sheet of `n` augmented samples beside their sources."""
    samples, sources = _pick(out, split, n, seed)
    if not samples:
        raise ValueError(f"{out}: split {split!r} has no augmented samples to show")
    cells = []
    for image, meta in samples:
        pair = [draw_sample(image, meta)]
        if meta["source"] in sources:
            pair.insert(0, draw_sample(*sources[meta["source"]]))
        gap = np.full((CELL_H, 8, 3), 255, np.uint8)
        cells.append(np.hstack([pair[0], gap, *pair[1:], gap]))
    sheet = _tile(cells)
    dest = Path(dest) if dest else Path(out) / "contact_sheet.png"
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    atomic.write_bytes(dest, buf.tobytes())
    return dest

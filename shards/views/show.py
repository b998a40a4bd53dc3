"""`shards show`: a contact sheet to check by eye that boxes and pixels agree.

One row per chosen sample: its source (variant 00) and the augmented sample side by side,
then a legend. Real pages are tall (1280 x 4000 is common), and a page squeezed into a
fixed row height is a 130-px-wide sliver; so each page is scaled to a fixed `width` and
cut into balanced column strips of at most `strip_height`, laid side by side (a 4000-px
page at 480 px wide becomes two 750-px columns). Over the pixels: at most `max_outlines`
element outlines (the largest, thin grey; a real page has thousands), and every section
outlined in a colour of its token with its number on a filled tag; the legend gives each
number its full token, in the same colour, and marks sections without a box.
"""
from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..storage import atomic
from ..storage.reader import ShardReadError, decode_sample, make_pipeline

STRIP_WIDTH = 480
STRIP_HEIGHT = 900
MAX_OUTLINES = 120
GAP = 10
TITLE_H = 26
LEGEND_W = 440
LINE_H = 18
FONT = cv2.FONT_HERSHEY_SIMPLEX
PALETTE = [(230, 25, 75), (60, 160, 75), (0, 110, 200), (235, 120, 30), (145, 30, 180), (0, 150, 150),
           (220, 40, 200), (120, 120, 0), (0, 0, 140), (150, 90, 30), (100, 100, 100), (200, 0, 0)]
OUTLINE = (150, 150, 150)
WHITE = (255, 255, 255)


def token_colour(token: str) -> tuple[int, int, int]:
    """One colour per token, the same in every image and on every run."""
    return PALETTE[int(hashlib.sha256(token.encode("utf-8")).hexdigest(), 16) % len(PALETTE)]


def strip_layout(height: int, strip_height: int = STRIP_HEIGHT) -> list[tuple[int, int]]:
    """(top, bottom) of each column of a scaled page `height` px tall: balanced, each at most `strip_height`."""
    n = max(1, -(-height // strip_height))
    step = -(-height // n)
    return [(top, min(height, top + step)) for top in range(0, height, step)] or [(0, 0)]


def largest_elements(elements: list[dict], limit: int) -> list[dict]:
    """The `limit` located elements with the largest boxes (ties: document order)."""
    located = [(i, e) for i, e in enumerate(elements) if e.get("quad") and e.get("box")]
    located.sort(key=lambda ie: (-ie[1]["box"][2] * ie[1]["box"][3], ie[0]))
    return [e for _, e in located[:limit]]


def _poly(img: np.ndarray, quad: Any, scale: float, colour: tuple, thick: int) -> None:
    pts = (np.asarray(quad, dtype=np.float64) * scale).round().astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], True, colour, thick, cv2.LINE_AA)


def _tag(img: np.ndarray, text: str, x: int, y: int, colour: tuple) -> None:
    """`text` in white on a filled `colour` box with its top-left at (x, y), kept inside the image."""
    (tw, th), base = cv2.getTextSize(text, FONT, 0.45, 1)
    x = int(min(max(x, 0), img.shape[1] - tw - 6))
    y = int(min(max(y, 0), img.shape[0] - th - base - 4))
    cv2.rectangle(img, (x, y), (x + tw + 6, y + th + base + 4), colour, -1)
    cv2.putText(img, text, (x + 3, y + th + 2), FONT, 0.45, WHITE, 1, cv2.LINE_AA)


def draw_sample(image: np.ndarray, meta: dict, width: int = STRIP_WIDTH,
                max_outlines: int = MAX_OUTLINES) -> np.ndarray:
    """The image scaled to `width` (never enlarged), with the largest element outlines and numbered sections."""
    width = min(width, image.shape[1])
    scale = width / image.shape[1]
    out = cv2.resize(image, (width, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    for el in largest_elements(meta.get("elements", []), max_outlines):
        _poly(out, el["quad"], scale, OUTLINE, 1)
    by_xpath = {e["xpath"]: e for e in meta.get("elements", [])}
    tags = []
    for i, sec in enumerate(meta.get("sections", []), 1):
        colour = token_colour(sec["token"])
        el = by_xpath.get(sec.get("xpath"))
        if el and el.get("quad"):
            _poly(out, el["quad"], scale, colour, 2)
        if sec.get("box"):
            tags.append((str(i), int(sec["box"][0] * scale) + 2, int(sec["box"][1] * scale) + 2, colour))
    for text, x, y, colour in tags:  # after every outline, so no line crosses a number
        _tag(out, text, x, y, colour)
    return out


def to_strips(img: np.ndarray, strip_height: int = STRIP_HEIGHT) -> np.ndarray:
    """A tall image cut into side-by-side columns (white gaps between them)."""
    cols = [img[top:bottom] for top, bottom in strip_layout(img.shape[0], strip_height)]
    h = max(c.shape[0] for c in cols)
    parts = []
    for c in cols:
        parts += [np.pad(c, ((0, h - c.shape[0]), (0, 0), (0, 0)), constant_values=255),
                  np.full((h, GAP // 2, 3), 255, np.uint8), np.full((h, 1, 3), 190, np.uint8),
                  np.full((h, GAP // 2, 3), 255, np.uint8)]
    return np.hstack(parts[:-3])


def legend_lines(meta: dict, label: str) -> list[tuple[str, tuple[int, int, int]]]:
    """(text, colour) lines listing one image's sections by number."""
    lines = [(f"{label}: {len(meta.get('sections', []))} sections", (0, 0, 0))]
    for i, sec in enumerate(meta.get("sections", []), 1):
        mark = "" if sec.get("box") else "  (no box)"
        lines.append((f"{i:2d} {sec['token'][:44]}{mark}", token_colour(sec["token"])))
    return lines


def _legend(lines: list[tuple[str, tuple]], height: int) -> np.ndarray:
    img = np.full((max(height, LINE_H * len(lines) + 8), LEGEND_W, 3), 255, np.uint8)
    for j, (text, colour) in enumerate(lines):
        y = 16 + j * LINE_H
        if colour != (0, 0, 0):
            cv2.rectangle(img, (4, y - 11), (14, y - 1), colour, -1)
        cv2.putText(img, text, (20 if colour != (0, 0, 0) else 4, y), FONT, 0.45, colour, 1, cv2.LINE_AA)
    return img


def draw_cell(sample: tuple[np.ndarray, dict], source: tuple[np.ndarray, dict] | None, width: int = STRIP_WIDTH,
              strip_height: int = STRIP_HEIGHT, max_outlines: int = MAX_OUTLINES) -> np.ndarray:
    """One row of the sheet: title, source strips | augmented strips | legend."""
    image, meta = sample
    panels, lines = [], []
    for pair, label in ((source, "source v00"), (sample, f"augmented v{meta['variant']:02d}")):
        if pair is None:
            continue
        panels.append(to_strips(draw_sample(pair[0], pair[1], width, max_outlines), strip_height))
        lines += legend_lines(pair[1], label) + [("", (0, 0, 0))]
    legend = _legend(lines, max(p.shape[0] for p in panels))
    h = legend.shape[0]
    gap = np.full((h, 3 * GAP, 3), 255, np.uint8)
    parts = []
    for p in panels:
        parts += [np.pad(p, ((0, h - p.shape[0]), (0, 0), (0, 0)), constant_values=255), gap]
    body = np.hstack(parts + [legend])
    title = np.full((TITLE_H, body.shape[1], 3), 235, np.uint8)
    ops = ", ".join(o.get("op", "?") for o in meta.get("ops", [])) or "none"
    text = (f"{meta.get('__key__', meta['source'])}  {meta['size'][0]}x{meta['size'][1]}  "
            f"{len(meta.get('elements', []))} elements  ops: {ops}")
    cv2.putText(title, text[:160], (6, 18), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([title, body, np.full((GAP, body.shape[1], 3), 255, np.uint8)])


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


def contact_sheet(out: str | Path, split: str = "train", n: int = 8, dest: str | Path | None = None,
                  seed: int = 0, width: int = STRIP_WIDTH, strip_height: int = STRIP_HEIGHT,
                  max_outlines: int = MAX_OUTLINES) -> Path:
    """Write a PNG contact sheet of `n` augmented samples beside their sources (one per row)."""
    samples, sources = _pick(out, split, n, seed)
    if not samples:
        raise ShardReadError(f"{out}: split {split!r} has no augmented samples to show (only variant 00, or none)")
    cells = [draw_cell(s, sources.get(s[1]["source"]), width, strip_height, max_outlines) for s in samples]
    w = max(c.shape[1] for c in cells)
    sheet = np.vstack([np.pad(c, ((0, 0), (0, w - c.shape[1]), (0, 0)), constant_values=255) for c in cells])
    dest = Path(dest) if dest else Path(out) / "contact_sheet.png"
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    atomic.write_bytes(dest, buf.tobytes())
    return dest

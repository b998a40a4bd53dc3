"""The painter of the synthetic screenshots: every boxed node of a laid-out tree drawn in
document order, by its `paint` kind (one `PAINTERS` entry each), onto a white RGB canvas.

Each painter draws inside its node's box only (text into a copy of the box region), so the
pixels never leave the boxes `augment.synth.layout` emits with the HTML.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np

from .layout import FONT, Box, Color, Node, line_height, text_width, thickness, walk


def _draw_text(img: np.ndarray, box: Box, lines: Sequence[str], scale: float, ink: Color,
               center: bool = False, pad_x: int = 0) -> None:
    """Glyph lines drawn into a copy of the box region, so nothing spills outside the box."""
    x, y, w, h = box
    patch = img[y:y + h, x:x + w].copy()
    lh, th = line_height(scale), thickness(scale)
    for i, s in enumerate(lines):
        (tw, tht), base = cv2.getTextSize(s, FONT, scale, th)
        top = (h - lh * len(lines)) // 2 + i * lh
        org = ((w - tw) // 2 if center else pad_x, top + (lh - tht - base) // 2 + tht)
        cv2.putText(patch, s, org, FONT, scale, tuple(int(c) for c in ink), th, cv2.LINE_AA)
    img[y:y + h, x:x + w] = patch


def _fill(img: np.ndarray, x: int, y: int, w: int, h: int, color: Color) -> None:
    """Solid rectangle; cv2 fills far faster than numpy broadcasting a colour triple."""
    if w > 0 and h > 0:
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), tuple(int(c) for c in color), -1)


def _paint_bars(img: np.ndarray, n: Node) -> None:
    x, y, w, _ = n.box
    lh = line_height(n.scale)
    for i, s in enumerate(n.lines):
        bw = min(w, text_width(s, n.scale))
        _fill(img, x + (w - bw) // 2 * n.center, y + i * lh + lh // 4, bw, lh - 2 * (lh // 4), n.ink)


def _paint_button(img: np.ndarray, n: Node) -> None:
    x, y, w, h = n.box
    r = max(1, min(6, h // 4, w // 4))
    _fill(img, x, y + r, w, h - 2 * r, n.color)
    _fill(img, x + r, y, w - 2 * r, h, n.color)
    patch = img[y:y + h, x:x + w].copy()
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(patch, (cx, cy), r, tuple(int(c) for c in n.color), -1)
    img[y:y + h, x:x + w] = patch
    _draw_text(img, n.box, n.lines, n.scale, n.ink, center=True)


def _paint_image(img: np.ndarray, n: Node) -> None:
    """A two-colour diagonal gradient with a placeholder cross: clearly not background."""
    x, y, w, h = n.box
    c0, c1 = np.array(n.color, np.float32), np.array(n.ink, np.float32)
    corners = np.stack([np.stack([c0, c0 * 0.4 + c1 * 0.6]), np.stack([c0 * 0.6 + c1 * 0.4, c1])])
    patch = cv2.resize(corners.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    mark = tuple(int(v) for v in np.clip(c0 * 0.8 + 40, 0, 255))
    cv2.line(patch, (0, 0), (w - 1, h - 1), mark, 1)
    cv2.line(patch, (0, h - 1), (w - 1, 0), mark, 1)
    img[y:y + h, x:x + w] = patch


def _paint_frame(img: np.ndarray, n: Node, fill: bool) -> None:
    x, y, w, h = n.box
    if fill:
        _fill(img, x, y, w, h, n.color)
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), tuple(int(c) for c in n.ink), 1)


def _paint_cell(img: np.ndarray, n: Node) -> None:
    x, y, w, h = n.box
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), tuple(int(c) for c in n.color), 1)
    _draw_text(img, n.box, n.lines, n.scale, n.ink, pad_x=8)


def _paint_input(img: np.ndarray, n: Node) -> None:
    _paint_frame(img, n, True)
    if n.lines:
        _draw_text(img, n.box, n.lines, 0.5, (160, 164, 168), pad_x=12)


def _paint_quote(img: np.ndarray, n: Node) -> None:
    x, y, w, h = n.box
    _fill(img, x, y, min(4, w), h, n.color)


PAINTERS: dict[str, Callable[[np.ndarray, Node], None]] = {
    "bg": lambda img, n: _fill(img, *n.box, n.color),
    "card": lambda img, n: _paint_frame(img, n, True),
    "border": lambda img, n: _paint_frame(img, n, False),
    "input": _paint_input,
    "image": _paint_image,
    "button": _paint_button,
    "bars": _paint_bars,
    "glyphs": lambda img, n: _draw_text(img, n.box, n.lines, n.scale, n.ink, n.center),
    "quote": _paint_quote,
    "cell": _paint_cell,
}


def rasterize(root: Node, width: int, height: int) -> np.ndarray:
    """Paint every boxed node in document order onto a white RGB canvas."""
    img = np.full((height, width, 3), 255, np.uint8)
    for n in walk(root):
        if n.box is not None and n.box[2] > 0 and n.box[3] > 0 and n.paint:
            PAINTERS[n.paint](img, n)
    return img

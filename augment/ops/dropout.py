"""Element dropout: a few small elements leave the page, from the HTML and the screenshot.

Targets:
- tree: each chosen element is removed with its subtree (`drop_tree`, which keeps the
  element's tail text by attaching it to the previous sibling or the parent), so its
  descendants' rows leave the tree too; their rows stay in the arrays, unused.
- pixels: the element's box (its quad's integer bounds) is filled with one colour, the
  per-channel median of a thin ring just outside the box, i.e. the background it sat on.
  A flat fill is a deliberate choice over `cv2.inpaint`: inpainting costs seconds on a
  1280 x 4000 page, and web backgrounds around small elements are mostly flat anyway.
- quads: untouched (no other element moves).

Targets are "leaf-ish" content elements (salient tags such as p, a, img, button preferred,
or elements without element children): located, visible, smaller than `max_area` of the
page, never a section, never containing one, never nested in another chosen one, and not
overlapping any located element outside their own subtree and ancestors, so the erased
rectangle hides nothing that stays in the HTML. Dropout runs at source resolution, before
the spatial op (see `ops.ORDER`), where boxes are axis-aligned.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shards.tokens import NON_CONTENT_TAGS, SALIENT_TAGS, find_section_elements

from ..page import Page, quad_xyxy
from ._tree import (Element, ancestor_rows, elements_at, nested_with, subtree_rows,
                    weighted_order)

NAME = "dropout"
NEEDS_BOXES = True
DEFAULTS: dict[str, Any] = {
    "p": 0.3,
    "max_k": 3,  # elements dropped per page: uniform in 1..max_k
    "max_area": 0.05,  # largest element area, as a fraction of the page area
    "min_side": 4,  # px; thinner elements are not worth erasing
    "ring": 3,  # px of background sampled around the box
    "salient_weight": 4.0,  # salient tags are this many times likelier to be chosen
    "max_tries": 200,  # candidates examined at most (bounds the cost on huge pages)
}


def _rects(page: Page) -> np.ndarray:
    """n x 4 integer [x0, y0, x1, y1] covering each box (outward rounding), clipped to the image."""
    b = quad_xyxy(page.quads)
    w, h = page.size
    out = np.zeros(b.shape, dtype=np.int64)
    ok = np.isfinite(b).all(axis=1)
    out[ok] = np.concatenate([np.floor(b[ok, :2]), np.ceil(b[ok, 2:])], axis=1).astype(np.int64)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
    return out


def _candidates(page: Page, cfg: dict) -> tuple[list[Element], np.ndarray]:
    """Located leaf-ish non-section elements small enough to drop, with their draw weights."""
    sections = find_section_elements(page.body)
    protected = set(sections) | {a for s in sections for a in s.iterancestors()}
    b = quad_xyxy(page.quads)
    w, h = page.size
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    small = page.located() & (area <= cfg["max_area"] * w * h)
    small &= np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) >= cfg["min_side"]
    els, weights = [], []
    for el in page.elements():
        if el in protected or el.tag in NON_CONTENT_TAGS or not small[page.row(el)]:
            continue
        salient = el.tag in SALIENT_TAGS
        if salient or not any(isinstance(c.tag, str) for c in el):
            els.append(el)
            weights.append(cfg["salient_weight"] if salient else 1.0)
    return els, np.asarray(weights, dtype=np.float64)


def _erases_cleanly(page: Page, el: Element, rect: np.ndarray, b: np.ndarray) -> bool:
    """Whether erasing `rect` removes exactly `el`'s subtree from the screenshot: its located
    descendants lie inside the rect (no overflow left behind), and no located element that
    stays in the HTML (other than its ancestors) overlaps it by more than 1 px both ways."""
    located = page.located()
    mine = np.zeros(len(b), dtype=bool)
    mine[subtree_rows(el)] = True
    sub = b[mine & located]
    if ((sub[:, :2] < rect[:2] - 1).any() or (sub[:, 2:] > rect[2:] + 1).any()):
        return False
    mine[ancestor_rows(el)] = True
    ix = np.minimum(b[:, 2], rect[2]) - np.maximum(b[:, 0], rect[0])
    iy = np.minimum(b[:, 3], rect[3]) - np.maximum(b[:, 1], rect[1])
    return not bool((located & ~mine & (ix > 1.0) & (iy > 1.0)).any())


def ring_colour(image: np.ndarray, rect: np.ndarray | list[int], ring: int) -> list[int]:
    """Per-channel median of the `ring`-px band just outside rect [x0, y0, x1, y1]."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in rect)
    X0, Y0, X1, Y1 = max(0, x0 - ring), max(0, y0 - ring), min(w, x1 + ring), min(h, y1 + ring)
    strips = [image[Y0:y0, X0:X1], image[y1:Y1, X0:X1], image[y0:y1, X0:x0], image[y0:y1, x1:X1]]
    pixels = np.concatenate([s.reshape(-1, image.shape[2]) for s in strips])
    if len(pixels) == 0:  # the box fills the image: nothing around it to sample
        pixels = image.reshape(-1, image.shape[2])
    return [int(v) for v in np.median(pixels, axis=0)]


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    k = int(rng.integers(1, int(cfg["max_k"]) + 1))
    els, weights = _candidates(page, cfg)
    order = weighted_order(rng, weights)[: int(cfg["max_tries"])]
    rects, b = _rects(page), quad_xyxy(page.quads)
    chosen: list[Element] = []
    for i in order:
        el = els[int(i)]
        if len(chosen) == k:
            break
        rect = rects[page.row(el)]
        if nested_with(el, chosen) or not _erases_cleanly(page, el, rect, b):
            continue
        chosen.append(el)
    if not chosen:
        return None
    chosen.sort(key=page.row)
    rows = [page.row(el) for el in chosen]
    return {
        "rows": rows,
        "xpaths": [page.source_xpaths[r] for r in rows],
        "rects": [[int(v) for v in rects[r]] for r in rows],
        "colours": [ring_colour(page.image, rects[r], int(cfg["ring"])) for r in rows],
    }


def apply(page: Page, params: dict[str, Any]) -> None:
    for el in elements_at(page, params["rows"]):
        el.drop_tree()
    if not page.image.flags.writeable:  # e.g. a decoded buffer shared with the caller
        page.image = page.image.copy()
    for (x0, y0, x1, y1), colour in zip(params["rects"], params["colours"]):
        page.image[y0:y1, x0:x1] = np.asarray(colour, dtype=page.image.dtype)


def difficulty(params: dict[str, Any]) -> tuple[float, ...]:
    """0.05 per dropped element, counting at most 3."""
    return (0.05 * min(3, len(params.get("rows", []))),)

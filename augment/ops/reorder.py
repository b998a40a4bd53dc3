"""Section reordering: two sibling sections trade places, in the HTML and in the screenshot.

The page is cut into five horizontal strips by the two sections' bands A = [a0, a1) and
B = [b0, b1) (A above B):

    [0, a0) [a0, a1) [a1, b0) [b0, b1) [b1, H)  ->  [0, a0) [b0, b1) [a1, b0) [a0, a1) [b1, H)

Targets:
- pixels: the strips are permuted as above (a pure row copy, pixel-exact);
- quads: every located element moves by the vertical shift of its strip: A's subtree by
  b1 - a1, B's subtree by a0 - b0, the strip between them by (b1 - b0) - (a1 - a0), the
  rest stays; containers spanning both bands ([a0, b1) as a whole) keep their box, since
  the permutation maps that range onto itself;
- tree: A and B swap positions in their common parent; the whitespace/text that followed
  each position stays at that position.

Only pairs that make this exact are drawn: both sections located, sharing a parent, each
at least `min_width` of the page wide (a band holds only its section), bands not
overlapping, and no located element straddling a strip edge (each lies within one strip,
up to `tolerance` px, or spans both bands). Reordering runs at source resolution, before
the spatial op, where section boxes are axis-aligned bands.
"""
from __future__ import annotations

from typing import Any

import lxml.html
import numpy as np

from shards.tokens import find_section_elements

from ..page import Page, quad_xyxy
from ._tree import Element, elements_at, subtree_rows

NAME = "reorder"
NEEDS_BOXES = True
DEFAULTS: dict[str, Any] = {
    "p": 0.2,
    "min_width": 0.8,  # each section spans at least this fraction of the page width
    "min_height": 8,  # px; thinner bands are not sections worth moving
    "tolerance": 0.5,  # px an element may stick out of its strip (sub-pixel boxes)
}


def strip_plan(bands: list[list[int]], height: int) -> tuple[np.ndarray, np.ndarray]:
    """Strip edges (6 values) and the vertical shift of each of the 5 strips."""
    (a0, a1), (b0, b1) = bands
    edges = np.array([0, a0, a1, b0, b1, height], dtype=np.float64)
    shifts = np.array([0, b1 - a1, (b1 - b0) - (a1 - a0), a0 - b0, 0], dtype=np.float64)
    return edges, shifts


def row_shifts(page: Page, rows_a: np.ndarray, rows_b: np.ndarray, bands: list[list[int]],
               tol: float, ys: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, bool]:
    """Per-row vertical shift (0 for unlocated rows) and whether every located row fits.

    `rows_a` / `rows_b` are the rows of the two sections' subtrees; `ys` the rows' top and
    bottom edges when the caller has them already (drawing tries many pairs on one page).
    """
    edges, shifts = strip_plan(bands, page.size[1])
    y0, y1 = ys if ys is not None else (quad_xyxy(page.quads)[:, 1], quad_xyxy(page.quads)[:, 3])
    strip = np.searchsorted(edges[1:-1], (y0 + y1) / 2, side="right")  # strip holding the centre
    inner = np.zeros(len(y0), dtype=bool)
    for rows, s in ((rows_a, 1), (rows_b, 3)):  # a section's subtree moves with its band
        strip[rows], inner[rows] = s, True
    strip = np.clip(strip, 0, 4)
    fits = (y0 >= edges[strip] - tol) & (y1 <= edges[strip + 1] + tol)
    spans = ~inner & (y0 <= edges[1] + tol) & (y1 >= edges[4] - tol)
    located = ~np.isnan(y0)
    ok = bool((fits | spans | ~located).all())
    return np.where(located & fits, shifts[strip], 0.0), ok


def _band(box: np.ndarray, width: int, cfg: dict) -> list[int] | None:
    """Integer [top, bottom) of a section box that is a wide enough, tall enough band."""
    if not np.isfinite(box).all() or box[2] - box[0] < cfg["min_width"] * width:
        return None
    top, bottom = int(round(box[1])), int(round(box[3]))
    return [top, bottom] if bottom - top >= cfg["min_height"] else None


def _pairs(page: Page, cfg: dict) -> list[tuple[Element, Element, list[list[int]]]]:
    """Every valid (upper, lower, bands) pair of sibling sections, in document order."""
    b = quad_xyxy(page.quads)
    ys = (b[:, 1], b[:, 3])
    sections = [(s, _band(b[page.row(s)], page.size[0], cfg)) for s in find_section_elements(page.body)]
    sections = [(s, band, subtree_rows(s)) for s, band in sections if band is not None]
    out = []
    for i, (s, sb, srows) in enumerate(sections):
        for t, tb, trows in sections[i + 1:]:
            if s.getparent() is not t.getparent():
                continue
            (up, ub, urows), (lo, lb, lrows) = sorted([(s, sb, srows), (t, tb, trows)], key=lambda x: x[1][0])
            if ub[1] > lb[0]:
                continue  # bands overlap in y
            if row_shifts(page, urows, lrows, [ub, lb], cfg["tolerance"], ys)[1]:
                out.append((up, lo, [ub, lb]))
    return out


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    pairs = _pairs(page, cfg)
    if not pairs:
        return None
    up, lo, bands = pairs[int(rng.integers(len(pairs)))]
    rows = [page.row(up), page.row(lo)]
    return {"rows": rows, "xpaths": [page.source_xpaths[r] for r in rows], "bands": bands,
            "tolerance": float(cfg["tolerance"])}


def swap_siblings(a: Element, b: Element) -> None:
    """Swap two children of one parent; the tail text stays with the position."""
    parent = a.getparent()
    a.tail, b.tail = b.tail, a.tail  # lxml moves an element together with its tail
    slot = lxml.html.Element("s2s-slot")  # placeholder swap: no index arithmetic within one parent
    parent.replace(a, slot)
    parent.replace(b, a)
    parent.replace(slot, b)


def permute_strips(image: np.ndarray, bands: list[list[int]]) -> np.ndarray:
    """`image` with band A and band B swapped and the strip between them moved (in place
    when the array is writable: only rows a0..b1 are copied once)."""
    (a0, a1), (b0, b1) = bands
    out = image if image.flags.writeable else image.copy()
    out[a0:b1] = np.concatenate([image[b0:b1], image[a1:b0], image[a0:a1]])
    return out


def apply(page: Page, params: dict[str, Any]) -> None:
    a, b = elements_at(page, params["rows"])
    bands = [[int(v) for v in band] for band in params["bands"]]
    shift, _ = row_shifts(page, subtree_rows(a), subtree_rows(b), bands, float(params["tolerance"]))
    page.quads = page.quads.copy()
    page.quads[:, :, 1] += shift[:, None]
    page.image = permute_strips(page.image, bands)
    swap_siblings(a, b)


def difficulty(params: dict[str, Any]) -> tuple[float, ...]:
    """Two sections swapped: 0.1."""
    return (0.1,)

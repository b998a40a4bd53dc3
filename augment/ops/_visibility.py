"""Removing elements that a spatial op pushed (mostly) out of the image.

An element leaves the HTML, with its subtree, when neither it nor anything inside it is
at least `min_visible` visible. Containers that are only partly in view (a page-wide
wrapper after a crop) therefore stay as long as some content inside them is shown;
unlocated elements follow their ancestors.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..page import ROW_ATTR, Page


def visible_rows(page: Page, min_visible: float, prior: np.ndarray | None = None) -> np.ndarray:
    """Boolean per row: located and at least `min_visible` of its area inside the image.

    `prior` is the share of each element still present before this step (e.g. after a
    crop); the visible fraction is relative to the element's whole area.
    """
    _, frac = F.clip_quads(page.quads, page.size)
    if prior is not None:
        frac = frac * prior
    return page.located() & (frac >= min_visible)


def drop_invisible(page: Page, min_visible: float, prior: np.ndarray | None = None,
                   located: np.ndarray | None = None) -> int:
    """Remove invisible elements (see module docstring); return how many subtrees left.

    `located`: which rows had a box before the op (default: which have one now); an
    element a crop cut off entirely has none left, yet it was on the page and is gone.
    """
    visible = visible_rows(page, min_visible, prior)
    located = page.located() if located is None else located
    shown: dict[int, bool] = {}  # row -> anything visible in its subtree
    has_box: dict[int, bool] = {}  # row -> anything located in its subtree
    els = list(page.elements())
    for el in reversed(els):  # children come after parents in document order
        row = page.row(el)
        kids = [page.row(c) for c in el if isinstance(c.tag, str)]
        shown[row] = bool(visible[row]) or any(shown[k] for k in kids)
        has_box[row] = bool(located[row]) or any(has_box[k] for k in kids)
    gone: set[int] = set()
    dropped = 0
    for el in els:
        row, parent_row = page.row(el), el.getparent().get(ROW_ATTR)
        if parent_row is not None and int(parent_row) in gone:
            gone.add(row)  # left with its ancestor's subtree
        elif has_box[row] and not shown[row]:
            gone.add(row)
            el.drop_tree()
            dropped += 1
    return dropped

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
    frac = F.visible_fraction(page.quads, page.size)
    if prior is not None:
        frac = frac * prior
    return page.located() & (frac >= min_visible)


def drop_invisible(page: Page, min_visible: float, prior: np.ndarray | None = None,
                   located: np.ndarray | None = None) -> int:
    """Remove invisible elements (see module docstring); return how many subtrees left.

    `located`: which rows had a box before the op (default: which have one now); an
    element a crop cut off entirely has none left, yet it was on the page and is gone.
    """
    visible = visible_rows(page, min_visible, prior).tolist()
    located = (page.located() if located is None else located).tolist()
    # one pass up the tree on plain lists (rows and parents by position): a dict per row and
    # a child list per element cost ~1 ms a variant (benchmarks/augment_throughput)
    els = list(page.elements())
    rows = [int(el.get(ROW_ATTR)) for el in els]
    position = {el: i for i, el in enumerate(els)}  # lxml proxies are unique while alive
    parents = [position.get(el.getparent()) for el in els]  # None: a child of <body>
    shown = [visible[r] for r in rows]  # anything visible in the subtree
    has_box = [located[r] for r in rows]  # anything located in the subtree
    for i in range(len(els) - 1, -1, -1):  # children come after parents in document order
        p = parents[i]
        if p is not None:
            shown[p] = shown[p] or shown[i]
            has_box[p] = has_box[p] or has_box[i]
    gone = [False] * len(els)
    dropped = 0
    for i, el in enumerate(els):
        p = parents[i]
        if p is not None and gone[p]:
            gone[i] = True  # left with its ancestor's subtree
        elif has_box[i] and not shown[i]:
            gone[i] = True
            el.drop_tree()
            dropped += 1
    return dropped

"""The page being augmented: pixels, HTML tree and element geometry, kept in step.

Every element of the source page gets a row: its corners (`quads`, n x 4 x 2, current
pixels, NaN when the element has no box) and its source xpath. The row index rides on the
element itself as the attribute `ROW_ATTR`, so it survives reordering, wrapping and
flattening of the tree; it is stripped when the page is serialized. All geometry lives in
one array so a spatial op moves every element in one vectorized step.
"""
from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

import lxml.html
import numpy as np

from shards.tokens.htmlparse import to_html

ROW_ATTR = "data-s2s-row"


@dataclass
class Page:
    """One page in flight. Ops mutate it in place and append to `ops`."""

    source_id: str
    image: np.ndarray  # H x W x 3 uint8 RGB
    root: lxml.html.HtmlElement
    quads: np.ndarray  # n x 4 x 2 float64, corners tl, tr, br, bl; NaN rows are unlocated
    source_xpaths: list[str | None]
    homography: np.ndarray = field(default_factory=lambda: np.eye(3))
    ops: list[dict[str, Any]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the current image."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def body(self) -> lxml.html.HtmlElement:
        return self.root.find("body")

    def elements(self) -> Iterator[lxml.html.HtmlElement]:
        """Elements under <body> (body excluded) in document order."""
        for el in self.body.iterdescendants():
            if isinstance(el.tag, str):
                yield el

    def row(self, el: lxml.html.HtmlElement) -> int:
        return int(el.get(ROW_ATTR))

    def located(self) -> np.ndarray:
        """Boolean mask of rows that have a box."""
        return ~np.isnan(self.quads[:, 0, 0])

    def has_boxes(self) -> bool:
        return bool(self.located().any())

    def add_row(self, el: lxml.html.HtmlElement, quad: np.ndarray, source_xpath: str | None) -> int:
        """Register a new element (e.g. an injected wrapper) and return its row."""
        self.quads = np.concatenate([self.quads, quad.reshape(1, 4, 2)])
        self.source_xpaths.append(source_xpath)
        el.set(ROW_ATTR, str(len(self.source_xpaths) - 1))
        return len(self.source_xpaths) - 1

    def copy(self, share_pixels: bool = False) -> "Page":
        """A deep copy, so one source page serves every variant untouched.

        ``share_pixels``: the copy's image is a read-only view of this one's. Copying a
        1280 x 4000 screenshot for every variant cost ~4 ms of a ~55 ms variant
        (benchmarks/augment_throughput) and is rarely needed: the spatial op always makes a
        new image, and the ops that paint (dropout, reorder) copy a read-only image first.
        """
        root = copy.deepcopy(self.root)
        if share_pixels:
            pixels = self.image.view()
            pixels.flags.writeable = False
        else:
            pixels = self.image.copy()
        return Page(self.source_id, pixels, root, self.quads.copy(), list(self.source_xpaths),
                    self.homography.copy(), [dict(o) for o in self.ops], Counter(self.skipped))

    def html(self) -> str:
        """The page's HTML with the row attributes stripped."""
        root = copy.deepcopy(self.root)
        for el in root.iter():
            if isinstance(el.tag, str) and ROW_ATTR in el.attrib:
                del el.attrib[ROW_ATTR]
        return to_html(root)


def box_to_quad(box: np.ndarray) -> np.ndarray:
    """n x 4 [x, y, w, h] boxes -> n x 4 x 2 corners (tl, tr, br, bl)."""
    x, y, w, h = (box[:, i] for i in range(4))
    return np.stack([np.stack([x, y], 1), np.stack([x + w, y], 1),
                     np.stack([x + w, y + h], 1), np.stack([x, y + h], 1)], 1)


def quad_xyxy(quads: np.ndarray) -> np.ndarray:
    """n x 4 x 2 corners -> n x 4 [x0, y0, x1, y1] axis-aligned bounds (NaN rows stay NaN).

    The ops need the far edges themselves, and going through [x, y, w, h] and back is not
    exact in floating point. (A sample's `box` is another thing: the bounds of the quad's
    visible part, from `functional.clip_quads`.)
    """
    return np.concatenate([quads.min(axis=1), quads.max(axis=1)], axis=1)

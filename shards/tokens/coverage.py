"""How well a page's sections tile it: the share of its visible content inside a located section.

The *content* of a page is what it draws of its own: every located element (a box of
positive area) that holds text of its own or is a replaced element (img, svg, input,
button...); an empty box (a backdrop, a spacer) is no content. Its area is the union of those boxes,
measured on a grid of `CELL` px cells (a 1280 x 4000 page is 160 x 500 cells). Coverage is
the share of that area inside the union of the section boxes: 1.0 when every visible part
belongs to a section. Used by ``python -m benchmarks.label_coverage`` on the real-page
corpus, per kind of page, beside the share of sections typed ``other`` and sections per page.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import lxml.html
import numpy as np

from .vocab import NON_CONTENT_TAGS

CELL = 8  # px per grid cell: an 8-px error is below a text line's height
REPLACED_TAGS = frozenset({"img", "svg", "canvas", "video", "iframe", "object", "embed", "input", "button",
                           "select", "textarea", "picture", "hr"})
Box = Sequence[float]


@dataclass(frozen=True)
class Coverage:
    """One page's measures: content share inside sections, sections typed `other`, and count."""

    coverage: float
    sections: int
    other: int


def _own_text(el: lxml.html.HtmlElement) -> bool:
    return bool((el.text or "").strip()) or any((c.tail or "").strip() for c in el)


def draws(el: lxml.html.HtmlElement) -> bool:
    """Whether the element draws content of its own: text, or an image or a control."""
    return el.tag in REPLACED_TAGS or _own_text(el)


def has_content(el: lxml.html.HtmlElement, drawn: Callable[[lxml.html.HtmlElement], bool]) -> bool:
    """Whether `el` or an element under it is drawn and draws content of its own (`draws`): an
    empty overlay or spacer (a backdrop, a hidden modal's frame) has none. A drawn element
    none of whose descendants has a box (boxes measured for wrappers only) has content when
    it holds text or an image."""
    inside = [d for d in el.iter() if isinstance(d.tag, str) and d.tag not in NON_CONTENT_TAGS]
    if any(draws(d) and drawn(d) for d in inside):
        return True
    return drawn(el) and not any(drawn(d) for d in inside[1:]) and (
        bool(el.text_content().strip()) or any(d.tag in REPLACED_TAGS for d in inside))


def content_boxes(body: lxml.html.HtmlElement, box_of: Mapping[lxml.html.HtmlElement, Box]) -> list[Box]:
    """The boxes of the drawn elements that draw something of their own (module docstring)."""
    out = []
    for el in body.iterdescendants():
        if not isinstance(el.tag, str) or el.tag in NON_CONTENT_TAGS or any(
                a.tag in NON_CONTENT_TAGS for a in el.iterancestors()):
            continue
        box = box_of.get(el)
        if box is not None and box[2] > 0 and box[3] > 0 and draws(el):
            out.append(box)
    return out


def _mask(boxes: Sequence[Box], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for x, y, w, h in boxes:
        x0, y0 = max(int(x // CELL), 0), max(int(y // CELL), 0)
        x1, y1 = min(int(np.ceil((x + w) / CELL)), shape[1]), min(int(np.ceil((y + h) / CELL)), shape[0])
        if x1 > x0 and y1 > y0:
            mask[y0:y1, x0:x1] = True
    return mask


def content_coverage(content: Sequence[Box], sections: Sequence[Box], page_size: tuple[float, float]) -> float:
    """Share of the content's area (union of `content`) inside the union of `sections`; 1.0
    for a page with no content."""
    shape = (max(int(np.ceil(page_size[1] / CELL)), 1), max(int(np.ceil(page_size[0] / CELL)), 1))
    drawn = _mask(content, shape)
    total = int(drawn.sum())
    return float((drawn & _mask(sections, shape)).sum()) / total if total else 1.0


def page_coverage(root: lxml.html.HtmlElement, table: Mapping[str, Box], page_size: tuple[float, float],
                  sections: Sequence[dict]) -> Coverage:
    """The measures of one page: its parsed HTML, element boxes by xpath (as `derive_sections`
    takes them) and the section records derived from them."""
    tree = root.getroottree()
    body = root.find("body")
    box_of = {el: table[xp] for el in body.iter() if isinstance(el.tag, str)
              for xp in (tree.getpath(el),) if xp in table}
    boxes = [s["box"] for s in sections if s.get("box") is not None]
    return Coverage(content_coverage(content_boxes(body, box_of), boxes, page_size), len(sections),
                    sum(s["type"] == "other" for s in sections))

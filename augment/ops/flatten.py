"""Flattening of single-child wrappers: a plain ``div`` whose only content is one element
is removed and that element takes its place.

The mirror image of wrapper injection: the same page can be written with more or fewer
layout divs. Targets: the tree only (the wrapper leaves, its child moves up one level and
takes over the wrapper's tail text). Pixels and quads are untouched; the wrapper's row
simply stays in the arrays, unused. Its box usually equals its child's, and an unstyled
div renders nothing, so the screenshot still describes the page.

A wrapper qualifies when it is a plain ``div`` (`shards.tokens.section_kind` is
"wrapper" and no semantic class: neither a section nor a container, no landmark role)
without an id (an id can name a section's type), exactly one element child, no text of its
own (only whitespace around the child) and the child's box (a wrapper laid out larger than
its child draws padding or a background). Removing a level
of plain wrappers can only change section tokens through the section walk's depth limit,
so a wrapper is only drawn when nothing in its subtree was cut off by that limit (see
`_tree.depth_safe`).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shards.tokens import section_kind, section_walk, semantic_class

from ..page import Page
from ._tree import Element, depth_safe, elements_at

NAME = "flatten"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 0.3,
    "rate": 0.5,  # probability per qualifying wrapper
}


def _is_plain_wrapper(el: Element) -> bool:
    kids = [c for c in el if isinstance(c.tag, str)]
    if (section_kind(el) != "wrapper" or semantic_class(el) is not None or el.get("id") is not None
            or len(kids) != 1 or len(el) != 1):
        return False  # len(el) counts comments too: they would be lost; an id may name a type
    return not (el.text or "").strip() and not (kids[0].tail or "").strip()


def _draws_nothing(page: Page, el: Element) -> bool:
    """Whether the wrapper's box is its child's (or neither has one): a wrapper laid out
    larger than its child (padding, a background band) is drawn, and may be a section of
    a div-only page (`shards.tokens.blocks`)."""
    a, b = page.quads[page.row(el)], page.quads[page.row(next(c for c in el if isinstance(c.tag, str)))]
    return bool(np.isnan(a).all() and np.isnan(b).all()) or bool(np.allclose(a, b, atol=1.0))


def candidates(page: Page) -> list[Element]:
    """Plain single-child wrappers that may be flattened, in document order."""
    walk = section_walk(page.body)
    return [el for el in page.elements()
            if _is_plain_wrapper(el) and _draws_nothing(page, el) and depth_safe(el, walk, -1)]


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    els = candidates(page)
    keep = rng.random(len(els)) < cfg["rate"]
    rows = [page.row(el) for el, k in zip(els, keep) if k]
    return {"rows": rows} if rows else None


def unwrap(div: Element) -> Element:
    """Replace `div` by its only element child, which takes over the div's tail text."""
    child = next(c for c in div if isinstance(c.tag, str))
    child.tail = div.tail
    div.getparent().replace(div, child)
    return child


def apply(page: Page, params: dict[str, Any]) -> None:
    for div in elements_at(page, params["rows"]):
        unwrap(div)

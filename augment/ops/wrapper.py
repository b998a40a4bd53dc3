"""Wrapper injection: a few elements get wrapped in a new plain ``<div>``.

Real pages nest content in arbitrary layout divs; injecting extra ones teaches the model
that nesting depth is noise. Targets: the tree (the new div takes the element's place, the
element becomes its only child, the element's tail text follows the wrapper) and the
geometry (the wrapper gets a new row whose quad is its child's quad, source xpath None).
Pixels are untouched: a div without styling renders nothing.

The wrapper has no class at all, so `shards.tokens` treats it as a transparent wrapper:
it is not salient, not a section, and the section walk looks through it. The only way a
wrapper can change tokens is the walk's depth limit (MAX_WRAPPER_DEPTH), so an element is
only drawn when the extra level keeps every section it leads to within reach (see
`_tree.depth_safe`). Elements are chosen only where a div is valid HTML, i.e. flow content
inside a flow container (never a ``li`` in a ``ul``, a ``td`` in a ``tr`` or anything in a
``p``), so the page re-parses to the same tree. Chosen elements are never nested.
"""
from __future__ import annotations

from typing import Any

import lxml.html
import numpy as np

from shards.tokens import section_walk

from ..page import Page
from ._tree import Element, depth_safe, elements_at, nested_with

NAME = "wrapper"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 0.3,
    "max_k": 3,  # elements wrapped per page: uniform in 1..max_k
}
# Flow content that a div may wrap, and flow containers a div may sit in (HTML content model).
WRAPPABLE = frozenset({
    "div", "section", "article", "aside", "header", "footer", "nav", "main", "form", "ul", "ol",
    "dl", "table", "figure", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "p", "img", "a",
    "button", "input", "textarea", "select", "video", "iframe", "pre", "hr", "address",
})
FLOW_PARENTS = frozenset({
    "body", "div", "section", "article", "aside", "header", "footer", "nav", "main", "form",
    "li", "dd", "td", "th", "figure", "blockquote",
})


def candidates(page: Page) -> list[Element]:
    """Elements that may be wrapped, in document order."""
    walk = section_walk(page.body)
    return [el for el in page.elements()
            if el.tag in WRAPPABLE and el.getparent().tag in FLOW_PARENTS and depth_safe(el, walk, +1)]


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    k = int(rng.integers(1, int(cfg["max_k"]) + 1))
    els = candidates(page)
    chosen: list[Element] = []
    for i in rng.permutation(len(els)):
        if len(chosen) == k:
            break
        el = els[int(i)]
        if not nested_with(el, chosen):
            chosen.append(el)
    if not chosen:
        return None
    return {"rows": sorted(page.row(el) for el in chosen)}


def wrap(el: Element) -> Element:
    """Put `el` inside a new plain div at its place; the div takes over `el`'s tail text."""
    div = lxml.html.Element("div")
    div.tail, el.tail = el.tail, None
    el.addprevious(div)
    div.append(el)
    return div


def apply(page: Page, params: dict[str, Any]) -> None:
    for el in elements_at(page, params["rows"]):
        div = wrap(el)
        page.add_row(div, page.quads[page.row(el)].copy(), None)

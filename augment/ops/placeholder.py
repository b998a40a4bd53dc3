"""Text-to-placeholder: the words of some elements become placeholder text.

Section layout does not depend on what a page says, so the model should not learn from
the words in the HTML. Targets: the tree only, the text nodes an element owns (its leading
text and the tails after its child elements; whitespace-only nodes are kept). Each is
replaced, keeping its surrounding whitespace, by either
- ``"lorem"``: Lorem-ipsum text of exactly the same length (so lengths, and with them the
  rough shape of the text, match the screenshot), or
- ``"mask"``: the fixed token ``[TEXT]``.
Pixels and quads are untouched: this changes what the HTML says, not what was rendered,
and text never enters a section token.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shards.tokens import NON_CONTENT_TAGS

from ..page import Page
from ._tree import Element, elements_at

NAME = "placeholder"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 0.2,
    "rate": 0.3,  # probability per text-bearing element
    "mask_share": 0.2,  # of the chosen elements, the share that gets "[TEXT]" instead of lorem
}
MODES = ("lorem", "mask")
MASK = "[TEXT]"
_NOT_XML_SPACE = {c: " " for c in (0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x1F)}
LOREM = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt "
         "ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco "
         "laboris nisi ut aliquip ex ea commodo consequat ")


def _own_texts(el: Element) -> list[str]:
    """The element's own text nodes: leading text, then the tail of each child element."""
    return [el.text or ""] + [c.tail or "" for c in el]


def _has_text(el: Element) -> bool:
    return el.tag not in NON_CONTENT_TAGS and any(t.strip() for t in _own_texts(el))


def lorem(n: int) -> str:
    """Lorem-ipsum text of exactly `n` characters, capitalised, never ending in a space."""
    body = (LOREM * (n // len(LOREM) + 1))[:n]
    body = body[:1].upper() + body[1:]
    return body[:-1] + "." if body.endswith(" ") else body


def placeholder(text: str, mode: str) -> str:
    """`text` with its non-blank core replaced, surrounding whitespace kept."""
    core = text.strip()
    if not core:
        return text.translate(_NOT_XML_SPACE)
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()):]
    # str.strip() counts \v, \f and \x1c-\x1f as whitespace, but lxml refuses them in text it is given
    lead, trail = lead.translate(_NOT_XML_SPACE), trail.translate(_NOT_XML_SPACE)
    if mode == "mask":
        new = MASK
    elif mode == "lorem":
        new = lorem(len(core))
    else:
        raise ValueError(f"unknown placeholder mode {mode!r}; known: {', '.join(MODES)}")
    return lead + new + trail


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    els = [el for el in page.elements() if _has_text(el)]
    chosen = rng.random(len(els)) < cfg["rate"]
    masked = rng.random(len(els)) < cfg["mask_share"]
    rows = [page.row(el) for el, c in zip(els, chosen) if c]
    modes = [MODES[int(m)] for c, m in zip(chosen, masked) if c]
    return {"rows": rows, "modes": modes} if rows else None


def apply(page: Page, params: dict[str, Any]) -> None:
    for el, mode in zip(elements_at(page, params["rows"]), params["modes"]):
        if el.text:
            el.text = placeholder(el.text, mode)
        for child in el:
            if child.tail:
                child.tail = placeholder(child.tail, mode)

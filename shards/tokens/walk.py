"""The section walk: which elements of a page are its semantic sections, and their type.

Walking down from ``<body>``: an element with tag header, nav, section, footer, aside or
article is a section; so is a ``div`` with a section class (`vocab.SECTION_CLASSES` after
synonym mapping, e.g. ``div.jumbotron``) or a landmark role other than main. A plain
``div`` is a transparent wrapper: the walk looks through it. ``main``, ``role=main`` and a
``div`` with a container or main class (``container``, ``content``...) are transparent
when they hold sections and a section themselves when they do not. Looking through stops
at depth `MAX_WRAPPER_DEPTH`; sections never nest.

`section_walk` is the one walk: it reports every element it visits with its kind and
depth, `find_section_elements` reads the sections off it, and augment's structure ops
check with it that adding or removing a wrapper level cannot change what it finds.
"""
from __future__ import annotations

import re

import lxml.html

from .vocab import (CLASS_SYNONYMS, LANDMARK_TYPES, MAYBE_CLASSES, SECTION_CLASSES, SECTION_TAGS,
                    TAG_TYPES, TYPE_CLASSES)

Element = lxml.html.HtmlElement
MAX_WRAPPER_DEPTH = 8
_ID_PARTS = re.compile(r"[-_\s]+")


def semantic_class(el: Element) -> str | None:
    """The element's first known semantic class (attribute order), in canonical form."""
    for c in (el.get("class") or "").split():
        canon = CLASS_SYNONYMS.get(c.lower())
        if canon is not None:
            return canon
    return None


def landmark(el: Element) -> str | None:
    """The section type of the element's ARIA landmark role, if it has one."""
    return LANDMARK_TYPES.get((el.get("role") or "").strip().lower())


def elements(parent: Element) -> list[Element]:
    """Element children (no comments or processing instructions)."""
    return [c for c in parent if isinstance(c.tag, str)]


def section_kind(el: Element) -> str:
    """'section', 'maybe' (a section only if it holds none), 'wrapper' or 'other'."""
    cls, role = semantic_class(el), landmark(el)
    if el.tag in SECTION_TAGS:
        return "section"
    if el.tag == "div" and (cls in SECTION_CLASSES or role not in (None, "main")):
        return "section"
    if el.tag == "main" or (el.tag == "div" and (cls in MAYBE_CLASSES or role == "main")):
        return "maybe"
    return "wrapper" if el.tag == "div" else "other"


def section_walk(body: Element) -> dict[Element, tuple[str, int]]:
    """el -> (kind, depth) for every element the walk visits, in document order.

    Body children have depth 0; sections and "other" elements end the walk; wrappers and
    maybe-sections are looked through while their depth is below MAX_WRAPPER_DEPTH.
    """
    seen: dict[Element, tuple[str, int]] = {}
    stack = [(c, 0) for c in reversed(elements(body))]
    while stack:
        el, depth = stack.pop()
        kind = section_kind(el)
        seen[el] = (kind, depth)
        if kind in ("wrapper", "maybe") and depth < MAX_WRAPPER_DEPTH:
            stack.extend((c, depth + 1) for c in reversed(elements(el)))
    return seen


def find_section_elements(body: Element) -> list[Element]:
    """Section elements under `body` in document order, read off `section_walk`."""
    walk = section_walk(body)

    def collect(el: Element) -> list[Element]:
        kind, depth = walk[el]
        if kind == "section":
            return [el]
        if kind == "other" or depth >= MAX_WRAPPER_DEPTH:
            return []
        inner = [s for c in elements(el) for s in collect(c)]
        return [el] if kind == "maybe" and not inner else inner

    return [s for c in elements(body) for s in collect(c)]


def type_from_id(el: Element) -> str | None:
    """A section type named by the element's id: the whole id or any run of its words
    (``pricing``, ``site-footer``, ``call-to-action-section``, ``main_content``), longest
    run first."""
    words = [w for w in _ID_PARTS.split((el.get("id") or "").strip().lower()) if w]
    for n in range(len(words), 0, -1):
        for i in range(len(words) - n + 1):
            canon = CLASS_SYNONYMS.get("-".join(words[i:i + n]))
            if canon in TYPE_CLASSES:
                return canon
    return None


def section_type(chain: list[Element], default: str = "other") -> str:
    """The type of a section, read from its markup: the first of a type class, an ARIA
    landmark role, a type named by the id, a landmark tag (nav, header, main, aside,
    footer), each looked for along `chain` (the element, then the single children it wraps,
    outermost first), else `default`."""
    for read in (_class_type, landmark, type_from_id, lambda e: TAG_TYPES.get(e.tag)):
        for el in chain:
            found = read(el)
            if found is not None:
                return found
    return default


def _class_type(el: Element) -> str | None:
    for c in (el.get("class") or "").split():
        canon = CLASS_SYNONYMS.get(c.lower())
        if canon in TYPE_CLASSES:
            return canon
    return None

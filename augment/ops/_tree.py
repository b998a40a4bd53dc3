"""Tree helpers shared by the structure-aware ops: finding elements by row, subtree rows,
and the depth checks against the section walk of `shards.tokens` (`section_walk`, the one
walk, which the ops import from there).

The section walk matters because several ops must leave the section tokens unchanged:
`shards.tokens.section_walk` looks through plain wrapper ``div``s only down to
``MAX_WRAPPER_DEPTH``, so adding or removing a wrapper level can make a section appear or
vanish near that limit. The walk reports every element it visits with its depth and kind,
and `depth_safe` checks with it, before an op draws a target, that one level more
(wrapper injection) or less (flattening) stays invisible.
"""
from __future__ import annotations

from typing import Iterable

import lxml.html
import numpy as np

from shards.tokens import MAX_WRAPPER_DEPTH

from ..page import ROW_ATTR, Page

Element = lxml.html.HtmlElement


def by_row(page: Page) -> dict[int, Element]:
    """Row -> element for every element currently in the tree (one pass)."""
    out: dict[int, Element] = {}
    for el in page.root.iter():
        if isinstance(el.tag, str) and el.get(ROW_ATTR) is not None:
            out[int(el.get(ROW_ATTR))] = el
    return out


def elements_at(page: Page, rows: Iterable[int]) -> list[Element]:
    """The elements for `rows`; KeyError names a row that is not in the tree (bad params)."""
    index = by_row(page)
    try:
        return [index[int(r)] for r in rows]
    except KeyError as e:
        raise KeyError(f"row {e.args[0]} is not in the page's tree (params recorded for another page?)") from None


def subtree_rows(el: Element) -> np.ndarray:
    """Rows of `el` and all its descendants (those that have a row)."""
    rows = [int(e.get(ROW_ATTR)) for e in el.iter() if isinstance(e.tag, str) and e.get(ROW_ATTR) is not None]
    return np.asarray(rows, dtype=np.int64)


def ancestor_rows(el: Element) -> list[int]:
    """Rows of `el`'s ancestors that have one (body and html have none)."""
    return [int(a.get(ROW_ATTR)) for a in el.iterancestors() if a.get(ROW_ATTR) is not None]


def is_inside(el: Element, others: Iterable[Element]) -> bool:
    """Whether `el` is one of `others` or lies inside one of them."""
    targets = set(others)  # lxml proxies hash by identity, and stay unique while alive
    return el in targets or any(a in targets for a in el.iterancestors())


def nested_with(el: Element, others: list[Element]) -> bool:
    """Whether `el` is one of `others`, lies inside one, or contains one."""
    return is_inside(el, others) or any(is_inside(o, [el]) for o in others)


def walk_in_subtree(el: Element, walk: dict[Element, tuple[str, int]]) -> list[tuple[str, int]]:
    """(kind, depth) of the walked elements in `el`'s subtree, `el` included."""
    return [walk[e] for e in el.iter() if e in walk]


def depth_safe(el: Element, walk: dict[Element, tuple[str, int]], shift: int) -> bool:
    """Whether moving `el`'s subtree `shift` levels deeper (+1: a wrapper put above `el`) or
    shallower (-1: `el`, a plain wrapper, removed) leaves `find_section_elements` unchanged.

    The walk finds a section up to depth MAX_WRAPPER_DEPTH and looks into wrappers and
    main/containers above that depth only. One level deeper, a section at the limit would
    be lost and a main/container at MAX_WRAPPER_DEPTH - 1 or more would be cut off instead
    of looked into (or counted as a section); plain wrappers decide nothing, their walked
    children are checked themselves. One level shallower, a wrapper or main/container the
    walk stopped at would be looked into and could reveal a section (or become one);
    sections, and everything the walk looked into, keep their fate.
    """
    if shift not in (1, -1):
        raise ValueError(f"depth_safe: shift must be 1 or -1, found {shift!r}")
    for kind, depth in walk_in_subtree(el, walk):
        if shift == 1 and kind == "section" and depth + 1 > MAX_WRAPPER_DEPTH:
            return False
        if shift == 1 and kind == "maybe" and depth + 1 >= MAX_WRAPPER_DEPTH:
            return False
        if shift == -1 and kind in ("wrapper", "maybe") and depth >= MAX_WRAPPER_DEPTH:
            return False
    return True


def weighted_order(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """A random order of indices where heavier ones tend to come first (Efraimidis-Spirakis)."""
    keys = rng.random(len(weights)) ** (1.0 / np.maximum(weights, 1e-9))
    return np.argsort(-keys, kind="stable")

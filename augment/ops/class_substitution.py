"""Class substitution: semantic class names are swapped for synonyms (``jumbotron`` for
``hero``, ``button`` for ``btn``), from the documented table `shards.tokens.SYNONYM_GROUPS`.

Targets: the tree only (one class name in the ``class`` attribute of chosen elements).
Pixels and quads are untouched: the screenshot was rendered already, and a class name is
not visible. By construction the section tokens do not change either, because token
derivation maps every member of a group to the group's canonical name; so the model learns
that the vocabulary of class names varies while the sections stay the same.

Each element with at least one synonym-table class is chosen with probability `rate`; one
of its table classes (uniformly) is replaced by another member of the same group that the
element does not already carry. Recorded as ``changes``: ``[{"row", "old", "new"}, ...]``
(objects, not mixed-type lists, so Arrow-based readers can load the sample JSON).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from shards.tokens import CLASS_SYNONYMS, SYNONYM_GROUPS

from ..page import Page
from ._tree import elements_at

NAME = "class_substitution"
NEEDS_BOXES = False
DEFAULTS: dict[str, Any] = {
    "p": 0.5,
    "rate": 0.5,  # probability per element that carries a synonym-table class
}


def _alternatives(cls: str, present: set[str]) -> list[str]:
    """Other members of `cls`'s group the element does not already carry (in table order)."""
    group = SYNONYM_GROUPS[CLASS_SYNONYMS[cls.lower()]]
    return [g for g in group if g != cls.lower() and g not in present]


def draw(rng: np.random.Generator, page: Page, cfg: dict) -> dict[str, Any] | None:
    cfg = {**DEFAULTS, **cfg}
    changes: list[dict[str, Any]] = []
    for el in page.elements():
        classes = (el.get("class") or "").split()
        present = {c.lower() for c in classes}
        options = [(c, alts) for c in classes if c.lower() in CLASS_SYNONYMS
                   for alts in [_alternatives(c, present)] if alts]
        if not options or rng.random() >= cfg["rate"]:
            continue
        old, alts = options[int(rng.integers(len(options)))]
        changes.append({"row": page.row(el), "old": old, "new": alts[int(rng.integers(len(alts)))]})
    return {"changes": changes} if changes else None


def replace_class(value: str, old: str, new: str) -> str:
    """`value` (a class attribute) with the first `old` replaced by `new`, order kept."""
    classes = value.split()
    classes[classes.index(old)] = new
    return " ".join(classes)


def apply(page: Page, params: dict[str, Any]) -> None:
    changes = params["changes"]
    for el, change in zip(elements_at(page, [c["row"] for c in changes]), changes):
        el.set("class", replace_class(el.get("class") or "", change["old"], change["new"]))

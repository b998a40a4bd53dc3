"""The registry of synchronized operations, and the one function that dispatches to them.

Each op is a small module exposing:

- ``NAME``: its key in the config (``[ops.<NAME>]``) and in the recorded ``ops`` list;
- ``NEEDS_BOXES``: whether it must know where elements are on screen (skipped and
  counted on pages without boxes);
- ``draw(rng, page, cfg) -> dict | None``: draws every parameter once from `rng`
  (``None``: nothing to do on this page); the dict is JSON-ready and is exactly what
  gets recorded, so replay needs nothing else;
- ``apply(page, params) -> None``: applies those parameters to every target (pixels,
  quads, tree) in place, deterministically;
- optionally ``difficulty(params) -> tuple[float, ...]``: what this op adds to a
  sample's difficulty (0..1, phase 2's curriculum), from its recorded params alone; the
  terms are added one by one to the running total, in the order the ops were applied
  (`pipeline.difficulty`). An op without it adds nothing (the structure-only ops).

Adding an op: its module, one entry in ``OPS`` below and its ``[ops.<NAME>]`` table in
``augment/default.toml`` (a test keeps that file equal to the DEFAULTS).

``ORDER`` fixes the order: ops that need source geometry (reordering bands, erasing
dropped elements) run at source resolution on cheap slices first; the spatial op then
makes the single warp to output resolution; photometric ops run on output pixels; the
structure-only ops come last and never touch pixels. With `rerender` (``STRUCTURE`` below)
the structure ops come first and the browser draws their result.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

from ..page import Page
from . import class_substitution, dropout, flatten, photometric, placeholder, reorder, spatial, wrapper

OPS: dict[str, ModuleType] = {
    m.NAME: m
    for m in (reorder, dropout, spatial, photometric, class_substitution, wrapper, flatten, placeholder)
}
ORDER: tuple[str, ...] = tuple(OPS)
# The ops that edit the page's structure (the HTML tree). With `rerender` they run first, on
# the source page, and Chromium renders the edited page (`augment.render.rerender`) before
# the others (spatial, photometric) run on what it drew.
STRUCTURE: tuple[str, ...] = ("reorder", "dropout", "class_substitution", "wrapper", "flatten", "placeholder")


def apply_op(page: Page, name: str, params: dict[str, Any]) -> None:
    """Apply the registered op `name` with recorded `params` and record it on the page."""
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; registered ops: {', '.join(ORDER)}")
    OPS[name].apply(page, params)
    page.ops.append({"op": name, **params})

"""What the painter drew for each section: its painted signature.

The label ceiling (`benchmarks.label_ceiling`) asks how much of a section's label is
decided by its pixels. The generator knows exactly what it painted, so a perfect reader of
the pixels is simulated by a description of the painting alone, with no markup in it:
the section's painted primitives in document (= reading) order, each described by what
a viewer sees, distinct ones kept in order of first appearance:

- text: its size class (``xl`` >= 1.2 scale, ``l`` >= 0.95, ``m`` >= 0.6, else ``s``) and
  its tone (``muted``, ``accent`` when in a primary colour, else ``ink``); glyph and bar
  renderings of text are one thing;
- ``button``; ``input``/``textarea`` (by height); ``card`` (a framed panel), ``frame``
  (a bordered block), ``quote`` (the quote bar), ``cell`` (a table cell);
- ``image`` with its size class (``icon`` <= 64 px tall, ``avatar`` <= 128, ``photo``),
  marked ``+`` when there are three or more (a grid of pictures and one picture are told
  apart at a glance).

Markup choices that paint the same pixels (the tag, class names, a link wrapped around an
image) give the same signature by construction.
"""
from __future__ import annotations

from .kit import MUTED, PRIMARIES
from .layout import Node, node_paths, walk
from .page import SynthLayout

MUTED_TONES = frozenset({MUTED, (173, 181, 189), (235, 235, 240)})
ACCENTS = frozenset(PRIMARIES)


def _size(scale: float) -> str:
    return "xl" if scale >= 1.2 else "l" if scale >= 0.95 else "m" if scale >= 0.6 else "s"


def describe(n: Node) -> str | None:
    """What a viewer sees of one painted node (None: nothing of its own)."""
    if n.box is None or n.box[2] <= 0 or n.box[3] <= 0 or not n.paint or n.paint == "bg":
        return None
    if n.paint in ("glyphs", "bars"):
        tone = "muted" if n.ink in MUTED_TONES else "accent" if n.ink in ACCENTS else "ink"
        return f"text:{_size(n.scale)}:{tone}"
    if n.paint == "image":
        h = n.box[3]
        return "image:" + ("icon" if h <= 64 else "avatar" if h <= 128 else "photo")
    if n.paint == "input":
        return "textarea" if n.box[3] > 60 else "input"
    return {"border": "frame"}.get(n.paint, n.paint)


def painted_signature(section: Node) -> tuple[str, ...]:
    """The distinct painted descriptions of a section node, in order of first appearance."""
    out: list[str] = []
    counts: dict[str, int] = {}
    for n in walk(section):
        d = describe(n)
        if d is not None:
            counts[d] = counts.get(d, 0) + 1
            if d not in out:
                out.append(d)
    return tuple(d + "+" if d.startswith("image") and counts[d] >= 3 else d for d in out)


def section_signatures(layout: SynthLayout) -> dict[str, tuple[str, tuple[str, ...]]]:
    """xpath -> (the type the generator painted, painted signature) for every section."""
    paths = {id(n): p for n, p in node_paths(layout.root)}
    return {paths[id(node)]: (kind, painted_signature(node)) for kind, node in layout.sections}

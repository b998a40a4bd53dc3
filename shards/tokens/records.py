"""What the label rule returns: a page's regions, the sections inside them, and their records.

`Section` and `Region` are the two levels of issue 35 (`shards.tokens.levels` derives them);
`record()` is how a sample's JSON stores each (schema 3). `Flat` is one section of the
one-level rule (`rule._flat_sections`) with the elements it is made of, the input of
`levels`. The box geometry both levels share (union, intersection, a box minus another) is
here too, so `levels` and its tests read one definition.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

from .vocab import MAX_CHILDREN

Box = list[float]  # [x, y, w, h] in page pixels
MIN_SIDE = 4.0  # px: what a cut leaves thinner than this is nothing
WIDGET_MAX = 48  # px: a part narrower than this is a floating widget or a toggle rail, no region or section


@dataclass(frozen=True)
class Section:
    """One located page section and its labels (`shards.tokens.rule`'s docstring); ``region``
    is the index of the region it lies in."""

    type: str
    children: tuple[str, ...]
    token: str
    raw_token: str
    tag: str
    box: Box
    xpath: str
    region: int = 0

    def record(self) -> dict[str, Any]:
        """The section as a sample's JSON stores it (schema 3)."""
        return {"type": self.type, "children": list(self.children), "token": self.token,
                "raw_token": self.raw_token, "tag": self.tag, "box": self.box, "xpath": self.xpath,
                "region": self.region}

    def with_(self, **changes: Any) -> "Section":
        out = replace(self, **changes)
        return replace(out, token=make_token(out.type, out.children))


@dataclass(frozen=True)
class Region:
    """One region of a page: its type (`vocab.REGION_TYPES`) and box; ``xpath`` is the element
    of its largest part (for reference, as a section's)."""

    type: str
    box: Box
    xpath: str

    def record(self) -> dict[str, Any]:
        return {"type": self.type, "box": self.box, "xpath": self.xpath}


@dataclass(frozen=True)
class Labels:
    """A page's two levels: regions (page order) and sections (region by region)."""

    regions: list[Region]
    sections: list[Section]


@dataclass(frozen=True)
class Flat:
    """A one-level section and the elements it is made of (one, or a run of flow siblings)."""

    section: Section
    elements: tuple


def make_token(type_: str, children: Sequence[str]) -> str:
    """``type@role@role...``."""
    return "@".join([type_, *children])


def union(boxes: Sequence[Box]) -> Box:
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return [x0, y0, x1 - x0, y1 - y0]


def inter_area(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def area(b: Box) -> float:
    return max(b[2], 0.0) * max(b[3], 0.0)


def minus(a: Box, b: Box) -> Box | None:
    """The largest of the four rectangles of `a` outside `b` (above, below, left, right of it),
    `a` itself when they do not overlap, None when `b` covers `a`. Layouts are bands and
    columns, so one cut along one side is what a page means (a column cut below a top bar)."""
    if inter_area(a, b) == 0.0:
        return a
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    pieces = [[a[0], a[1], a[2], b[1] - a[1]], [a[0], by1, a[2], ay1 - by1],
              [a[0], a[1], b[0] - a[0], a[3]], [bx1, a[1], ax1 - bx1, a[3]]]
    best = max(pieces, key=area)
    return best if area(best) > 0 else None


def cut(box: Box, others: Sequence[Box]) -> Box | None:
    """`box` less each of `others` in turn (`minus`); None when less than `MIN_SIDE` is left."""
    for o in others:
        if box is None:
            return None
        box = minus(box, o)
    if box is None or box[2] < MIN_SIDE or box[3] < MIN_SIDE:
        return None
    return box


def merge_roles(*lists: Sequence[str]) -> tuple[str, ...]:
    """The roles of several sections joined, in order, each once, at most `MAX_CHILDREN`."""
    out: list[str] = []
    for roles in lists:
        out += [r for r in roles if r not in out]
    return tuple(out[:MAX_CHILDREN])


def largest(flats: Sequence[Flat]) -> Flat:
    """The flat of largest area."""
    return max(flats, key=lambda f: area(f.section.box))

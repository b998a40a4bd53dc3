"""Layout tree and HTML emitter behind the synthetic source pairs (the painter: `raster`).

A page is described once as a tree of `Factory` objects; laying it out yields `Node`s with
absolute integer boxes, and both the screenshot pixels and the HTML/boxes are emitted from
that one tree. Nothing is measured after the fact, so image, markup and boxes can never
disagree. Layout is pure (no randomness), which lets the page assembler re-place sections.
"""
from __future__ import annotations

import html as _html
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import cv2

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]
FONT = cv2.FONT_HERSHEY_SIMPLEX
VOID_TAGS = frozenset({"img", "input", "br", "hr", "meta"})
RAW_TEXT_TAGS = frozenset({"script", "style"})


@dataclass
class Node:
    """One laid-out element: markup (tag, classes, attrs, text) plus how it is painted."""

    tag: str
    classes: list[str] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list["Node"] = field(default_factory=list)
    box: Box | None = None  # None: present in the HTML but never measured (sr-only, script)
    paint: str = ""
    color: Color = (255, 255, 255)
    ink: Color = (33, 37, 41)
    lines: list[str] = field(default_factory=list)
    scale: float = 0.55
    center: bool = False  # text centred in its box (set by a centring container)


class Factory:
    """A node-to-be: built with its randomness already drawn, placed later at (x, y, w).

    `nw` is the natural width of inline things (buttons, links, logos); None means the
    element takes whatever width its container gives it.
    """

    def __init__(self, fn: Callable[[int, int, int], Node], nw: int | None = None):
        self.fn, self.nw = fn, nw

    def __call__(self, x: int, y: int, w: int) -> Node:
        return self.fn(x, y, w)


def thickness(scale: float) -> int:
    return 2 if scale >= 0.8 else 1


def line_height(scale: float) -> int:
    return int(round(scale * 40))


def text_width(s: str, scale: float) -> int:
    return cv2.getTextSize(s, FONT, scale, thickness(scale))[0][0]


def wrap(text: str, scale: float, width: int) -> list[str]:
    """Greedy word wrap with the real glyph metrics, so bars and glyphs fill alike."""
    lines: list[str] = []
    cur = ""
    for word in text.split():
        cand = f"{cur} {word}" if cur else word
        if cur and text_width(cand, scale) > width:
            lines.append(cur)
            cur = word
        else:
            cur = cand
    return lines + [cur] if cur else lines or [""]


def _bottom(node: Node) -> int:
    return node.box[1] + node.box[3] if node.box else 0


# ---------------------------------------------------------------- factories (leaves)

def text(tag: str, words: str, *, scale: float, ink: Color, cls: Sequence[str] = (),
         glyphs: bool = True, inline: bool = False, attrs: dict | None = None,
         kids: Sequence[Factory] = (), cell: int = 0) -> Factory:
    """A text element; `inline` ones (links, labels) are one line at their natural width.

    `cell` > 0 makes a bordered table cell with that much padding around the text.
    """
    nw = text_width(words, scale) + 2 + 2 * cell if inline else None
    paint = "cell" if cell else "glyphs" if glyphs else "bars"

    def make(x: int, y: int, w: int) -> Node:
        ww = min(nw, w) if nw else w
        lines = [words] if inline else wrap(words, scale, ww - 2 * cell)
        return Node(tag, list(cls), dict(attrs or {}), words, [k(x, y, 0) for k in kids],
                    (x, y, ww, line_height(scale) * len(lines) + 2 * cell),
                    paint, (222, 226, 230), ink, lines, scale)
    return Factory(make, nw)


def button(tag: str, label: str, *, color: Color, ink: Color, cls: Sequence[str] = (),
           attrs: dict | None = None, h: int = 40, scale: float = 0.55,
           kids: Sequence[Factory] = ()) -> Factory:
    """A filled button (or button-styled link) sized to its label."""
    nw = text_width(label, scale) + 40

    def make(x: int, y: int, w: int) -> Node:
        return Node(tag, list(cls), dict(attrs or {}), label, [k(x, y, 0) for k in kids],
                    (x, y, min(nw, w), h), "button", color, ink, [label], scale)
    return Factory(make, nw)


def block(tag: str, h: int, *, paint: str = "", color: Color = (255, 255, 255),
          ink: Color = (0, 0, 0), cls: Sequence[str] = (), attrs: dict | None = None,
          width: int | None = None, label: str = "", text_: str = "") -> Factory:
    """A fixed-height box: image, input, textarea, spacer."""
    def make(x: int, y: int, w: int) -> Node:
        return Node(tag, list(cls), dict(attrs or {}), text_, [], (x, y, min(width or w, w), h),
                    paint, color, ink, [label] if label else [], 0.5)
    return Factory(make, width)


def hidden(tag: str, words: str = "", cls: Sequence[str] = (), attrs: dict | None = None) -> Factory:
    """An element that is in the HTML but has no box (screen-reader text, scripts)."""
    return Factory(lambda x, y, w: Node(tag, list(cls), dict(attrs or {}), words), 0)


# ---------------------------------------------------------------- factories (containers)

def stack(tag: str, items: Sequence[Factory], *, cls: Sequence[str] = (), gap: int = 0,
          pad: tuple[int, int, int, int] = (0, 0, 0, 0), align: str = "left",
          max_w: int | None = None, paint: str = "", color: Color = (255, 255, 255),
          ink: Color = (222, 226, 230), attrs: dict | None = None) -> Factory:
    """Children one under another (block flow); `max_w` centres a container in its parent."""
    t, r, b, left = pad
    nws = [it.nw for it in items if it.nw != 0]
    nw = max(nws) + left + r if nws and all(nws) else None

    def make(x: int, y: int, w: int) -> Node:
        ww = min(w, max_w) if max_w else w
        x0 = x + (w - ww) // 2
        cx, cw, cy = x0 + left, ww - left - r, y + t
        kids = []
        for it in items:
            iw = min(it.nw, cw) if it.nw and align == "center" else cw
            kid = it(cx + (cw - iw) // 2, cy, iw)
            kid.center = align == "center"
            kids.append(kid)
            cy = _bottom(kid) + gap if kid.box else cy
        end = cy - gap if any(k.box for k in kids) else cy
        return Node(tag, list(cls), dict(attrs or {}), "", kids, (x0, y, ww, end - y + b),
                    paint, color, ink)
    return Factory(make, nw)


def inline(tag: str, items: Sequence[Factory], *, cls: Sequence[str] = (), gap: int = 16,
           justify: str = "start", attrs: dict | None = None) -> Factory:
    """Children side by side at natural widths, vertically centred (flex row)."""
    fixed = sum(it.nw or 0 for it in items) + gap * max(0, len(items) - 1)
    flex = [it for it in items if not it.nw]
    nw = None if flex else fixed

    def sizes(w: int) -> list[int]:
        """Natural widths, flexible items sharing the rest; on overflow the widest gives way."""
        fw = max(0, (w - fixed) // len(flex)) if flex else 0
        ws = [it.nw or fw for it in items]
        over = sum(ws) + gap * max(0, len(items) - 1) - w
        if over > 0:
            j = ws.index(max(ws))
            ws[j] = max(0, ws[j] - over)
        return ws

    def place(x: int, y: int, w: int, heights: list[int] | None) -> list[Node]:
        ws = sizes(w)
        slack = max(0, w - sum(ws) - gap * max(0, len(items) - 1))
        spread = justify == "between" and not flex and len(items) > 1
        g = gap + slack // (len(items) - 1) if spread else gap
        cx = x + slack // 2 if justify == "center" else x
        top = max(heights) if heights else 0
        kids = []
        for i, it in enumerate(items):
            kids.append(it(cx, y + (top - heights[i]) // 2 if heights else y, ws[i]))
            cx += ws[i] + g
        return kids

    def make(x: int, y: int, w: int) -> Node:
        heights = [k.box[3] if k.box else 0 for k in place(x, y, w, None)]
        kids = place(x, y, w, heights)
        return Node(tag, list(cls), dict(attrs or {}), "", kids, (x, y, w, max(heights, default=0)))
    return Factory(make, nw)


def columns(tag: str, items: Sequence[Factory], *, cols: int, cls: Sequence[str] = (),
            gap: int = 24, attrs: dict | None = None) -> Factory:
    """Equal-width grid cells, wrapping into rows whose height is the tallest cell."""
    def make(x: int, y: int, w: int) -> Node:
        cw = (w - gap * (cols - 1)) // cols
        kids: list[Node] = []
        cy = y
        for r0 in range(0, len(items), cols):
            row = [it(x + i * (cw + gap), cy, cw) for i, it in enumerate(items[r0:r0 + cols])]
            kids += row
            cy = max(_bottom(k) for k in row) + gap
        h = cy - gap - y if kids else 0
        return Node(tag, list(cls), dict(attrs or {}), "", kids, (x, y, w, h))
    return Factory(make)


# ---------------------------------------------------------------- tree walking / emission

def walk(node: Node) -> Iterator[Node]:
    """Pre-order: parents before children, which is also the paint order."""
    yield node
    for c in node.children:
        yield from walk(c)


def node_paths(node: Node, path: str = "/html") -> Iterator[tuple[Node, str]]:
    """(node, lxml `getpath` xpath) pairs, pre-order (an index only where a tag repeats)."""
    yield node, path
    counts = Counter(c.tag for c in node.children)
    seen: Counter = Counter()
    for c in node.children:
        seen[c.tag] += 1
        yield from node_paths(c, f"{path}/{c.tag}" + (f"[{seen[c.tag]}]" if counts[c.tag] > 1 else ""))


def collect_boxes(node: Node, path: str = "/html") -> list[dict]:
    """Boxes keyed by lxml `getpath` xpaths, for every node that has one."""
    return [{"xpath": p, "box": list(n.box)} for n, p in node_paths(node, path) if n.box is not None]


def emit_html(node: Node, out: list[str]) -> None:
    """Serialize a node; block children go on their own lines (whitespace never changes paths)."""
    attrs = ([("class", " ".join(node.classes))] if node.classes else []) + list(node.attrs.items())
    out.append(f"<{node.tag}" + "".join(f' {k}="{_html.escape(v)}"' for k, v in attrs) + ">")
    if node.tag in VOID_TAGS:
        return
    out.append(node.text if node.tag in RAW_TEXT_TAGS else _html.escape(node.text, quote=False))
    for c in node.children:
        if c.children:
            out.append("\n")
        emit_html(c, out)
    out.append(f"</{node.tag}>")

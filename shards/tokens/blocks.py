"""Visual blocks: the sections of a page whose markup names too few (div-only layouts).

Documentation sites, dashboards and old templates are built of ``div``s, so the section
walk (`walk`) finds nothing there. Their sections are still plain to see: bands stacked
down the page, a sidebar beside a content column. `_Finder` finds them from the boxes
alone; `shards.tokens.fill` uses it for whatever the semantic sections leave out
(`visual_blocks` applies it to a whole page). The rule, with its constants:

1. Only drawn elements take part: a box of positive area (hidden ones have none);
   script, style and the like never.
2. Starting at ``<body>``, a container is *looked into* when it is the body, or when all
   its drawn children are block containers (`BLOCK_TAGS`: div, section, main...) or
   headings (`TITLE_TAGS`), with no text of its own, and it either has one drawn child (a
   wrapper), or lays its children out as a sidebar row (3), or is tall (at least `TALL_SHARE` of the page
   height) and stacks some children alone in their row (a page or column wrapper; one
   row of columns or a grid of cards is one block), and is not narrower than
   `SIDEBAR_MAX_SHARE` of the page (a sidebar). Otherwise it is one block. Looking in
   stops at depth `MAX_BLOCK_DEPTH`.
3. A looked-into container's drawn children are grouped into rows (children whose
   vertical extents overlap by more than half the shorter one). A row of one child is a
   band if it spans `BAND_WIDTH_SHARE` of the container's width; a row of several is a
   *sidebar row* when the container spans `PAGE_ROW_SHARE` of the page width, one child
   is narrower than `SIDEBAR_MAX_SHARE` of the container and at least
   `SIDEBAR_MIN_HEIGHT` of the row tall, and the widest is at least `MAIN_MIN_SHARE`
   wide: the narrow ones are sidebars, the widest the main column. Other children of
   several-child rows are blocks of their own, ``cards`` when they are of about one
   width (`CARD_WIDTH_SPREAD`).
4. Every candidate lower than `MIN_HEIGHT_SHARE` of the page width (16 px at 1280) is
   dropped; each remaining one is looked into (2) or kept as a block.
5. A block's type comes from its markup (`walk.section_type`: type class, ARIA landmark,
   id, landmark tag), read along the chain of single children it wraps; else ``sidebar``
   or ``main`` for the members of a sidebar row, else ``other``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .vocab import NON_CONTENT_TAGS
from .walk import Element, elements

MIN_HEIGHT_SHARE = 0.0125
BAND_WIDTH_SHARE = 0.6
SIDEBAR_MAX_SHARE = 0.35
SIDEBAR_MIN_HEIGHT = 0.5
MAIN_MIN_SHARE = 0.45
TALL_SHARE = 0.5
CARD_WIDTH_SPREAD = 0.3  # widest / narrowest - 1 of a row of cards (tabler's 400-px cards: 0.0)
PAGE_ROW_SHARE = 0.85  # a dashboard content column is 0.80 of the page, a centred docs layout 0.86-1.0
MAX_BLOCK_DEPTH = 6
# headings between the rows of a dashboard's content ("Info boxes", "Cards") do not keep it
# whole: each becomes a title band of its own
TITLE_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
BLOCK_TAGS = frozenset({"div", "section", "article", "header", "footer", "nav", "aside", "main", "form",
                        "center", "span"})

Box = list[float]


@dataclass
class Block:
    """One visual block: its element chain (the block, then the single children it wraps)
    and the type its position gives when its markup names none."""

    chain: list[Element]
    default: str = "other"
    members: list[Element] = field(default_factory=list)  # a run of flow siblings shown as one block

    @property
    def element(self) -> Element:
        return self.chain[0]


class _Finder:
    def __init__(self, box_of: Callable[[Element], Box | None], page_w: float, page_h: float):
        self.box_of, self.page_w, self.page_h = box_of, page_w, page_h
        self.min_h = MIN_HEIGHT_SHARE * page_w

    def drawn(self, el: Element) -> list[Element]:
        out = []
        for c in elements(el):
            box = self.box_of(c)
            if c.tag not in NON_CONTENT_TAGS and box is not None and box[2] > 0 and box[3] > 0:
                out.append(c)
        return out

    def chain(self, el: Element) -> list[Element]:
        chain = [el]
        while len(chain) <= MAX_BLOCK_DEPTH:
            kids = self.drawn(chain[-1])
            if len(kids) != 1:
                break
            chain.append(kids[0])
        return chain

    def rows(self, kids: list[Element]) -> list[list[Element]]:
        order = sorted(range(len(kids)), key=lambda i: (self.box_of(kids[i])[1], i))
        rows: list[list[int]] = []
        top = bottom = 0.0
        for i in order:
            _, y, _, h = self.box_of(kids[i])
            if rows and min(bottom, y + h) - max(top, y) > 0.5 * min(h, bottom - top):
                rows[-1].append(i)
                top, bottom = min(top, y), max(bottom, y + h)
            else:
                rows.append([i])
                top, bottom = y, y + h
        return [[kids[i] for i in sorted(r)] for r in rows]

    def similar(self, row: list[Element]) -> bool:
        """Two or more blocks side by side of about one width (within `CARD_WIDTH_SPREAD`): a
        row of cards, each of which is then typed ``cards``."""
        widths = [self.box_of(k)[2] for k in row]
        return len(row) >= 2 and min(widths) > 0 and max(widths) <= (1 + CARD_WIDTH_SPREAD) * min(widths)

    def sidebar_row(self, row: list[Element], width: float) -> bool:
        # only a page-wide row is a sidebar layout: inside a content column, a narrow panel
        # beside a wide one (Bootstrap's col-7 + col-5) is two panels, not a sidebar
        if len(row) < 2 or width < PAGE_ROW_SHARE * self.page_w:
            return False
        boxes = [self.box_of(k) for k in row]
        height = max(b[1] + b[3] for b in boxes) - min(b[1] for b in boxes)
        narrow = [b for b in boxes if b[2] < SIDEBAR_MAX_SHARE * width and b[3] >= SIDEBAR_MIN_HEIGHT * height]
        return bool(narrow) and max(b[2] for b in boxes) >= MAIN_MIN_SHARE * width

    def candidates(self, el: Element, kids: list[Element]) -> list[Block]:
        box = self.box_of(el)
        width = box[2] if box is not None else self.page_w
        out = []
        for row in self.rows(kids):
            if self.sidebar_row(row, width):
                widest = max(row, key=lambda k: self.box_of(k)[2])
                for k in row:
                    narrow = self.box_of(k)[2] < SIDEBAR_MAX_SHARE * width
                    out.append(Block([k], "main" if k is widest else "sidebar" if narrow else "other"))
            elif len(row) > 1 or self.box_of(row[0])[2] >= BAND_WIDTH_SHARE * width:
                default = "cards" if self.similar(row) else "other"
                out += [Block([k], default) for k in row]
        return [b for b in out if self.box_of(b.element)[3] >= self.min_h]

    def look_into(self, el: Element, kids: list[Element], depth: int) -> bool:
        if el.tag == "body":
            return True
        if depth >= MAX_BLOCK_DEPTH or not kids or any(k.tag not in BLOCK_TAGS | TITLE_TAGS for k in kids):
            return False
        if (el.text or "").strip() or any((k.tail or "").strip() for k in elements(el)):
            return False
        if len(kids) == 1:
            return True
        box = self.box_of(el)
        if box is None:
            return False
        if box[2] < SIDEBAR_MAX_SHARE * self.page_w:
            return False  # a narrow column is a sidebar, one block however tall (its menu items are no sections)
        rows = self.rows(kids)
        if any(self.sidebar_row(r, box[2]) for r in rows):
            return True
        # a tall container is looked into when it stacks its children (a page or column wrapper),
        # not when it lays them out side by side: one row of columns, or a grid of cards (rows of
        # two or more), is one block, the way a dashboard's row of panels is
        return box[3] >= TALL_SHARE * self.page_h and any(len(r) == 1 for r in rows)

    def split(self, el: Element, depth: int) -> list[Block] | None:
        """The blocks `el` is made of, or None when it is one block itself."""
        kids = self.drawn(el)
        if not self.look_into(el, kids, depth):
            return None
        if len(kids) == 1 and el.tag != "body":
            return self.split(kids[0], depth + 1)
        out = []
        for block in self.candidates(el, kids):
            inner = self.split(block.element, depth + 1)
            out += [Block(self.chain(block.element), block.default)] if inner is None else inner
        return out


def visual_blocks(body: Element, box_of: Callable[[Element], Box | None], page_size: tuple[float, float]
                  ) -> list[Block]:
    """The page's visual blocks in document order (see the module docstring)."""
    return _Finder(box_of, *page_size).split(body, 0) or []

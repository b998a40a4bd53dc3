"""Filling a page with sections: what the semantic walk leaves out becomes visual blocks, typed.

Real pages (dashboards, documentation) name only some of their sections in markup: a
``nav`` top bar and an ``aside`` sidebar, while the content column, its rows of cards and
panels, or a page-title band are plain ``div``s. On 126 rendered real pages the semantic
walk alone left 27 pages with less than half of their content inside a section (issue 26).
The rule, applied after the semantic walk (`shards.tokens.derive_sections`):

1. **Gaps.** Walking down from ``<body>``, an element that neither is, holds nor lies in a
   semantic section is a *gap root* (the largest such subtrees; an element holding a
   section is looked through). Gap roots that draw nothing, or are lower than
   `blocks.MIN_HEIGHT_SHARE` of the page width, are dropped.
2. **Blocks.** Each gap root is cut into its visual blocks (`blocks.split_element`: rows
   stacked down a tall container, sidebars beside a column); one that does not split is one
   block.
3. **Split.** A semantic section typed ``main`` or ``other`` (a content column, not a named
   section such as ``pricing``) that is at least `blocks.TALL_SHARE` of the page high and
   splits into two or more visual blocks is replaced by them: a dashboard's
   ``section.content`` becomes its rows of cards.
4. **Type** of a block whose markup names none (`block_type`), first that applies: a
   sidebar-row member is ``sidebar``/``main``, a member of a row of blocks of about one
   width ``cards``; a band touching the page top, at most `TOP_BAR_MAX` px high, is
   ``navbar`` when it holds a link, else ``header``; a band ending at the page bottom, in
   its lower half and at most `FOOTER_MAX` px high, is ``footer``; a block mostly filled by
   tables (`TABLE_SHARE`) is ``table``; one whose children form rows of blocks of about one
   width, or that is or holds ``card``-class elements, is ``cards``; one led by a heading
   (within `LEAD_GAP` px of its top) is ``header`` up to `TITLE_MAX` px high (a page-title
   band) and ``main`` above it when pictures fill at most `PICTURE_SHARE` of it (a part of
   a text column); else ``other``. A bare semantic section (``section`` with no type class)
   is typed the same way (`unnamed_type`).
5. **Runs.** Text drawn straight in a page's body (old documentation: ``h1``, ``p``,
   ``pre`` as body children) is one ``main`` block per run of adjacent flow elements
   (`FLOW_TAGS`), its box their union, its children their roles.

Synthetic pages are all sections (every drawn element lies in one) and never untyped,
so none of this changes their labels (checked on 1,000 generated pages: identical
section records before and after; `benchmarks.label_ceiling` stays 1.0). On 126 rendered
real pages of 10 sites the share of content inside a section went from a median of 0.98
with 27 pages under one half to 1.0 with none, and ``other`` from 31% to 14%.
"""
from __future__ import annotations

from collections.abc import Callable

from .blocks import SIDEBAR_MAX_SHARE, TALL_SHARE, Block, Box, _Finder
from .coverage import has_content
from .vocab import NON_CONTENT_TAGS
from .walk import Element, elements, semantic_class

TOP_BAR_MAX = 160  # px: a top bar is one line of links and a logo; the tallest seen (sneat, 62 px) fits twice
FOOTER_MAX = 300  # px: a footer of several link columns
TITLE_MAX = 200  # px: a page-title band (h1 + breadcrumb); admin-lte's is 73 px
TABLE_SHARE = 0.5  # share of a block's area a table fills for the block to be a table
PICTURE_TAGS = ("img", "svg", "canvas", "video", "iframe", "form", "picture", "object")
PICTURE_SHARE = 0.1  # a text band may hold a small figure; a panel whose chart fills it is no text
LEAD_GAP = 40  # px from a block's top to its first heading for the heading to lead it
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# elements of a text flow: drawn straight in a page's body, a run of them is one block
FLOW_TAGS = HEADINGS | frozenset({"p", "ul", "ol", "dl", "pre", "table", "blockquote", "hr", "address", "figure",
                                  "img", "a", "span", "b", "i", "em", "strong", "code", "br", "font", "center",
                                  "small", "tt", "details"})


def gap_groups(body: Element, sections: set[Element], drawn: Callable[[Element], bool]
               ) -> list[tuple[Element, list[Element]]]:
    """(parent, its gap roots): the largest subtrees that neither are, hold nor lie in a
    section, grouped by parent (siblings are laid out together), in document order."""
    holding = {a for s in sections for a in s.iterancestors()}
    out = []

    def visit(el: Element) -> None:
        gaps = []
        for c in elements(el):
            if c in sections:
                continue
            if c in holding:
                visit(c)
            elif has_content(c, drawn):
                gaps.append(c)
        if gaps:
            out.append((el, gaps))

    visit(body)
    return out


def _drawn_area(finder: _Finder, el: Element, *tags: str) -> float:
    return sum(b[2] * b[3] for d in el.iter(*tags) for b in (finder.box_of(d),) if b is not None)


def block_type(block: Block, finder: _Finder) -> str:
    """The type of a visual block whose markup names none (module docstring, step 4)."""
    if block.default != "other":
        return block.default
    el = block.element
    x, y, w, h = finder.box_of(el)
    if y <= 2 and h <= TOP_BAR_MAX:
        return "navbar" if any(True for _ in el.iter("a")) else "header"
    if y + h >= finder.page_h - 2 and y >= finder.page_h / 2 and h <= FOOTER_MAX:
        return "footer"
    if _drawn_area(finder, el, "table") >= TABLE_SHARE * w * h:
        return "table"
    inner = block.chain[-1]
    kids = finder.drawn(inner)
    rows = finder.rows(kids) if kids else []
    if rows and all(finder.similar(r) for r in rows):
        return "cards"
    if any(semantic_class(d) == "card" for d in block.chain) or sum(
            semantic_class(d) == "card" for d in el.iterdescendants()) >= 2:
        return "cards"
    if el.tag in HEADINGS:
        return "header"  # a title between a content column's rows ("Info boxes")
    heading = next((d for d in el.iterdescendants() if d.tag in HEADINGS and finder.box_of(d) is not None), None)
    if heading is not None and finder.box_of(heading)[1] - y <= LEAD_GAP:
        if h <= TITLE_MAX:
            return "header"  # a page-title band (h1 + breadcrumb)
        if _drawn_area(finder, el, *PICTURE_TAGS) <= PICTURE_SHARE * w * h:
            return "main"  # a part of a text column: a heading and its text, lists, code
    return "other"


def _runs(finder: _Finder, parent: Element, gaps: list[Element]) -> list[list[Element]]:
    """The gaps in groups: each run of two or more adjacent flow elements (text, headings,
    lists, code drawn straight in the parent, as old documentation pages do) is one group,
    every other gap its own."""
    gap_set, out, run = set(gaps), [], []
    for c in elements(parent):
        if c in gap_set and c.tag in FLOW_TAGS:
            run.append(c)
        elif c in gap_set or (finder.box_of(c) is not None and c.tag not in NON_CONTENT_TAGS):
            # another gap, a section or an element holding one ends a run; an undrawn one does not
            if run:
                out.append(run)
                run = []
            if c in gap_set:
                out.append([c])
    if run:
        out.append(run)
    return out


def _row_blocks(finder: _Finder, parent: Element, gaps: list[Element]) -> list[Block]:
    """Sibling gap roots as blocks: runs of flow elements one block each, sidebar rows typed
    by position, the rest one block each (narrow ones too: every visible part belongs to a
    section); each cut further where it splits."""
    box = finder.box_of(parent)
    width = box[2] if box is not None and parent.tag != "body" else finder.page_w
    out, singles = [], []
    for group in _runs(finder, parent, gaps):
        if len(group) > 1:
            boxes = [finder.box_of(g) for g in group if finder.box_of(g) is not None]
            if boxes and max(b[1] + b[3] for b in boxes) - min(b[1] for b in boxes) >= finder.min_h:
                out.append(Block([group[0]], "main", members=group))
        elif finder.box_of(group[0]) is not None and finder.box_of(group[0])[2] > 0:
            singles.append(group[0])
    for row in finder.rows(singles):
        widest = max(row, key=lambda k: finder.box_of(k)[2])
        side = finder.sidebar_row(row, width)
        for k in row:
            if finder.box_of(k)[3] < finder.min_h:
                continue
            default = ("main" if k is widest else "sidebar" if finder.box_of(k)[2] < SIDEBAR_MAX_SHARE * width
                       else "other") if side else "cards" if finder.similar(row) else "other"
            inner = finder.split(k, 1)
            out += inner if inner else [Block(finder.chain(k), default)]
    return out


def fill_blocks(body: Element, sections: set[Element], box_of: Callable[[Element], Box | None],
                page_size: tuple[float, float]) -> list[tuple[Block, str]]:
    """(block, type) for the gaps the semantic sections leave (steps 1, 2 and 4)."""
    finder = _Finder(box_of, *page_size)
    drawn = lambda el: (b := box_of(el)) is not None and b[2] > 0 and b[3] > 0  # noqa: E731
    return [(b, block_type(b, finder)) for parent, gaps in gap_groups(body, sections, drawn)
            for b in _row_blocks(finder, parent, gaps)]


def unnamed_type(el: Element, box_of: Callable[[Element], Box | None], page_size: tuple[float, float]) -> str:
    """The type a semantic section that no markup types (a bare ``section``) gets: `block_type`'s."""
    return block_type(Block([el]), _Finder(box_of, *page_size))


def split_section(el: Element, box_of: Callable[[Element], Box | None], page_size: tuple[float, float]
                  ) -> list[tuple[Block, str]] | None:
    """The visual blocks of a tall content-column section (step 3), or None when it stays whole."""
    finder = _Finder(box_of, *page_size)
    box = box_of(el)
    if box is None or box[3] < TALL_SHARE * finder.page_h:
        return None
    inner = finder.split(el, 1)
    if not inner or len(inner) < 2:
        return None
    return [(b, block_type(b, finder)) for b in inner]

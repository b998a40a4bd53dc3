"""Section labels: the one rule both stages use to turn (HTML, boxes) into regions and sections.

`derive_labels(html, boxes, page_size)` returns the page's two levels (issue 35,
`shards.tokens.levels`): its **regions** (`REGION_TYPES`: the page's furniture, navbar,
header, sidebar, main, footer, banner; never overlapping) and the **sections** inside them
(a tiling of each region; ``Section.region`` indexes its region); `derive_sections` the
sections alone, top to bottom. Each section has a ``type`` from the closed set
`SECTION_TYPES`, up to `MAX_CHILDREN` ``children`` roles from the closed set `ROLES`, and
``token = "@".join([type, *children])``, e.g. ``hero@heading@text@btn``: the "@
concatenation" the model predicts. ``raw_token`` (``section.hero@h1@p@a.btn``, schema 1's
token: tag, class and salient tags) is kept for reference only. Only what is drawn is a
label: a section needs a box of positive area inside the page, a child a box too (when the
boxes were measured inside the section).

The two levels are cut from the one-level sections this module finds first
(`_flat_sections`, below); `shards.tokens.levels` says how.

**Which elements are sections** (`shards.tokens.walk`): header, nav, section, footer,
aside and article elements, ``div``s with a section class (``div.jumbotron``) or an ARIA
landmark role, and ``main``/container divs that hold no other section; plain divs are
looked through (depth <= 8); a ``main``/container div smaller than a column
(`_small_column`: a code listing's ``div.content``) is none. Then every visible part of
the page belongs to a section (`shards.tokens.fill`, issue 26): what no semantic section
holds is cut into **visual blocks** (`shards.tokens.blocks`: bands stacked down the page,
sidebars beside a content column, rows of cards), a tall untyped section (a dashboard's
``section.content``) is replaced by its rows, and a block or section no markup types gets
its type from its place and content (top bar, page title, footer, cards, table, text
column). Measured on real pages by ``python -m benchmarks.label_coverage``; on synthetic
pages (all sections) nothing changes.

**Type**: the first type class in the element's classes (synonyms mapped:
``jumbotron`` -> hero), else its ARIA landmark (banner -> header, navigation -> navbar,
main, complementary -> sidebar, contentinfo -> footer), else a type named by its id
(``id="pricing-section"``), else its landmark tag (nav, header, main, aside -> sidebar,
footer), else ``sidebar``/``main`` for the members of a visual sidebar row, else the
type its place and content give (`shards.tokens.fill.block_type`), else ``other``.
The section tag itself (``section`` or ``div``...) has no pixel trace and is not part of
the token.

**Children roles** (`shards.tokens.roles`): the section's building blocks in document
order, first appearance, at most 4, never looking inside a block. Elements drawn alike
share a role. The merges come from a confusion study of the painter's crops,
``python -m benchmarks.role_confusion`` (300 synthetic pages; a 1-nearest-neighbour
reader of 16x16 crops plus box size, fitted on half the pages, scored on the other half;
two kinds are drawn alike from a symmetric confusion of 0.15, twice the largest between
kinds drawn differently on purpose). It reads raw kinds right 84% of the time, roles 98%:

- ``btn``: ``a.btn`` ~ ``button`` (confused 0.34), a ``bg-*`` + padding link ~ ``a.btn``
  (0.39) and ~ ``button`` (0.16); so button, ``input[type=submit|button|reset|image]``,
  ``role=button`` and any button-styled link (a btn class or synonym, or a ``bg-*``
  background with a ``p-*``/``px-*``/``py-*`` padding);
- ``heading``: h1-h6. h3 ~ h4 (0.26); h1 and h2 the painter draws larger, but a site's
  CSS, not the level, sets a heading's size, so the level is no label;
- ``image``: ``a>img`` ~ ``img`` (0.17); so img, picture, svg, canvas, video, iframe,
  object, embed, and a link or list that only wraps images (a logo strip in a ``ul`` or a
  bare ``div``, a gallery of ``a>img`` or ``img``);
- ``text``: ``blockquote`` ~ ``p`` (0.16): a quote is text with a thin bar; so p,
  blockquote, figcaption, pre, address, and text outside any element of its own;
- ``link``: a link that holds words (with an icon or logo or not), and a list whose items
  are only links (a nav's ``ul`` and a row of bare ``a`` look alike);
- kept apart (confused < 0.07 with everything): ``form`` (its inputs and button belong
  to it), ``input`` (input, textarea, select outside a form), ``table``, ``list``
  (ul/ol/dl of text lines);
- looked through, not a block of their own: ``figure`` (a testimonial ``figure`` is its
  quote and caption; a gallery ``figure`` its image and caption), a link that wraps a
  whole card, a list whose items hold blocks (an FAQ ``ul`` of h4 + p items).

**Measured** (``python -m benchmarks.label_ceiling``, 2,000 synthetic pages): with a
perfect reader of what is painted, the canonical token is right 100% of the time (the
raw token 33%); 68 distinct tokens, 47 cover 90% of sections (raw: 477 and 255).

Class synonyms never change a token (augment's class substitution swaps within the
groups of `SYNONYM_GROUPS`); nor does adding or removing a plain wrapper div.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import lxml.html

from .blocks import MAIN_MIN_SHARE, SIDEBAR_MAX_SHARE
from .fill import fill_blocks, split_section, unnamed_type
from .htmlparse import parse_html
from .levels import split_levels
from .records import Flat, Labels, Region, Section, make_token, union
from .roles import Seen, child_roles, component, raw_token, role_of, run_roles, salient_components
from .vocab import (CLASS_SYNONYMS, MAX_CHILDREN, NON_CONTENT_TAGS, REGION_TYPES, ROLES, SALIENT_TAGS,
                    SECTION_CLASSES, SECTION_TAGS, SECTION_TYPES, SYNONYM_GROUPS, TYPE_CLASSES)
from .walk import (MAX_WRAPPER_DEPTH, find_section_elements, section_kind, section_type,
                   section_walk, semantic_class)

__all__ = [
    "CLASS_SYNONYMS", "COLUMN_MIN_HEIGHT", "MAX_CHILDREN", "MAX_WRAPPER_DEPTH", "NON_CONTENT_TAGS", "REGION_TYPES",
    "ROLES", "SALIENT_TAGS", "SECTION_CLASSES", "SECTION_TAGS", "SECTION_TYPES", "SYNONYM_GROUPS", "Labels",
    "Region", "Section", "TYPE_CLASSES", "child_roles", "component", "derive_labels", "derive_sections",
    "find_section_elements", "make_token", "raw_token", "role_of", "salient_components", "section_kind",
    "section_type", "section_walk", "semantic_class",
]
COLUMN_MIN_HEIGHT = 0.25  # share of the page height a main column spans at least (see _small_column)


def _clip(box: Sequence[float], page: tuple[float, float] | None) -> list[float] | None:
    """[x, y, w, h] as floats, cut to the page; None when it lies outside (or is malformed)."""
    x, y, w, h = (float(v) for v in box)
    if page is not None:
        x0, y0, x1, y1 = max(x, 0.0), max(y, 0.0), min(x + w, page[0]), min(y + h, page[1])
        x, y, w, h = x0, y0, x1 - x0, y1 - y0
    return [x, y, w, h] if w >= 0 and h >= 0 else None


def _page_size(located: dict, page_size: Sequence[float] | None) -> tuple[float, float]:
    if page_size is not None:
        return float(page_size[0]), float(page_size[1])
    right = max((b[0] + b[2] for b in located.values()), default=0.0)
    bottom = max((b[1] + b[3] for b in located.values()), default=0.0)
    return right, bottom


def _small_column(el: lxml.html.HtmlElement, box: list[float], page: tuple[float, float]) -> bool:
    """A "maybe" section (a ``main``/``content``/``container`` element that holds no section)
    is a content column only when it is column-sized: at least `MAIN_MIN_SHARE` of the page
    wide and `COLUMN_MIN_HEIGHT` of it high (capped at 400 px). Documentation pages use
    ``div.content`` for every code listing (asciidoc: 20+ per page); those are no sections."""
    if section_kind(el) != "maybe":
        return False
    return box[2] < MAIN_MIN_SHARE * page[0] or box[3] < min(COLUMN_MIN_HEIGHT * page[1], 400.0)


def derive_sections(
    html: str | bytes | lxml.html.HtmlElement,
    boxes: Mapping[str, Sequence[float] | None] | None = None,
    page_size: Sequence[float] | None = None,
) -> list[Section]:
    """The page's sections, region by region, each region's top to bottom (see the module
    docstring): `derive_labels`'s sections."""
    return derive_labels(html, boxes, page_size).sections


def derive_labels(
    html: str | bytes | lxml.html.HtmlElement,
    boxes: Mapping[str, Sequence[float] | None] | None = None,
    page_size: Sequence[float] | None = None,
) -> Labels:
    """The page's two levels: its regions and the sections inside them (`shards.tokens.levels`).

    `boxes` maps an element's xpath (lxml `getpath` form, e.g. ``/html/body/section[2]``)
    to its [x, y, w, h] box in screenshot pixels; `page_size` is the screenshot's (w, h)
    (default: the extent of the boxes). Boxes are cut to the page.
    """
    root = parse_html(html) if isinstance(html, (str, bytes)) else html
    body = root.find("body") if root.tag != "body" else root
    if body is None or not boxes:
        return Labels([], [])
    tree = root.getroottree()
    order: dict = {}
    raw: dict = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            order[el] = len(order)
            box = boxes.get(tree.getpath(el))
            if box is not None:
                raw[el] = box
    page = (float(page_size[0]), float(page_size[1])) if page_size is not None else None
    located = {el: b for el, b in ((el, _clip(box, page)) for el, box in raw.items()) if b is not None}
    page = _page_size(located, page_size)
    flat = _flat_sections(body, located, order, page)
    return split_levels(flat, body, located, page)


def _flat_sections(body: lxml.html.HtmlElement, located: dict, order: dict, page: tuple[float, float]
                   ) -> list[Flat]:
    """The one-level sections (issue 26's rule: the semantic walk, then visual blocks fill the
    rest), top to bottom, each with the elements it is made of; `levels` makes two levels of them."""
    tree = body.getroottree()
    drawn = lambda el: el in located and located[el][2] > 0 and located[el][3] > 0  # noqa: E731
    chosen: list[tuple[list, str, list]] = []
    for el in find_section_elements(body):
        if not drawn(el) or _small_column(el, located[el], page):
            continue
        untyped = section_type([el]) in ("main", "other")
        parts = split_section(el, located.get, page) if untyped else None
        if parts is None:  # an untyped section gets the type its place and content give (fill.block_type)
            default = unnamed_type(el, located.get, page) if section_type([el]) == "other" else "other"
            chosen.append(([el], default, []))
        else:
            chosen += [(b.chain, t, b.members) for b, t in parts]
    semantic = {c[0][0] for c in chosen}
    chosen += [(b.chain, t, b.members) for b, t in fill_blocks(body, semantic, located.get, page)]
    sections = []
    for chain, default, members in chosen:
        el = chain[0]
        seen = Seen(located.get, any(d in located for d in el.iterdescendants()))
        type_ = section_type(chain, default)
        if type_ == "navbar" and _upright(located[el], page):
            type_ = "sidebar"  # a nav drawn as a column beside the content is a sidebar, not a top bar
        if members:  # a run of flow elements: their union, their roles in order
            boxes = [located[m] for m in members if m in located]
            box = union(boxes)
            children = tuple(run_roles(members, Seen(located.get, True)))
        else:
            box, children = located[el], tuple(child_roles(el, seen))
        section = Section(type_, children, make_token(type_, children), raw_token(el), str(el.tag), box,
                          tree.getpath(el))
        sections.append((box[1], order[el], Flat(section, tuple(members) if members else (el,))))
    return [f for _, _, f in sorted(sections, key=lambda t: (t[0], t[1]))]


def _upright(box: list[float], page: tuple[float, float]) -> bool:
    """A column: narrower than `blocks.SIDEBAR_MAX_SHARE` of the page, taller than 1.5 times its
    width and at least 200 px (documentation themes' ``nav`` sidebars; top bars are wide)."""
    return box[2] < SIDEBAR_MAX_SHARE * page[0] and box[3] > 1.5 * box[2] and box[3] >= 200

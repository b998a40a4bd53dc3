"""The sections of a main region (issue 35): its one-level sections made a tiling of it, or
a text cut at its headings. `shards.tokens.levels` finds the regions and calls `main_sections`.

A main region holds its one-level sections, made a tiling: cut to the region; one inside
another (>= `NESTED` of its area) is part of it (its roles join the outer one's); partial
overlaps cut the smaller; a **text flow** (`text_flow`: documentation, an article; a heading
in it) is split by its headings instead (`heading_parts`); strips
join a neighbour: a heading with at most text, links or a list (a breadcrumb) under it, at
most `TITLE_MAX` px high, joins the section below it (a "SERVICES" title over its cards), and a part lower
than `STRIP_MAX` px, or only an image at most `IMAGE_STRIP_MAX` px high, or drawing no
roles at all joins the one above it (else below); finally each row of sections is
stretched to the region's width (a row of one) and the rows to meet halfway between
them, so the sections of a region cover it. A part typed ``other`` or ``main`` (typed by no
markup) gets the type of what it holds where that tells (`held_type`): a form or an input
makes it ``form``, a blockquote ``testimonials``, three or more pictures filling `GALLERY_SHARE` of
it ``gallery``, and the region's first band, at least `HERO_MIN` px high and `HERO_WIDTH` of the page wide,
under an h1 or h2 or with a button, ``hero``; a part typed ``other`` that holds a heading, text and a picture is a
feature band, ``features``. A part narrower than `records.WIDGET_MAX` px (a floating widget) is none.

**Documentation by its headings** (`heading_parts`): the drawn h1-h6 inside the region; the
title is the first heading when it alone has the highest level present; the level used is
the first below the title that cuts the region into 2 to 12 parts (`DOC_PARTS`); a part
runs from its heading to the next one of that level, the first part from the region's top
(an intro with text before the first heading is a part of its own, a title alone is not);
none: the region is one part. Each part is typed ``table`` when it holds a drawn table (what
it holds, not how large a theme draws it: by area, 5 of 36 themes typed the sample guide's
table parts otherwise), else ``main``.
"""
from __future__ import annotations

from collections.abc import Callable

from .fill import TITLE_MAX
from .records import MIN_SIDE, WIDGET_MAX, Box, Flat, Section, area, cut, inter_area, largest, merge_roles, union
from .roles import Seen, run_roles
from .walk import Element

NESTED = 0.8  # share of a section's area inside another for it to be part of that one
STRIP_MAX = 32  # px: a part lower than two text lines is a strip, never a section of its own
IMAGE_STRIP_MAX = 96  # px: an image-only part up to this high is a separator or a logo strip
TEXT_TYPES = frozenset({"main", "other", "header", "table"})  # parts a strip may join
# named sections that are no part of a text flow (a post the markup names stays one section)
VISUAL_TYPES = frozenset({"hero", "features", "cards", "pricing", "testimonials", "gallery", "cta", "contact",
                          "signup", "stats", "team", "logos", "blog"})
PICTURE_TAGS = ("img", "svg", "canvas", "video", "iframe", "picture", "object", "embed", "input", "button",
                "select", "textarea")
TEXT_TAGS = ("p", "li", "pre", "td", "th", "dd", "dt", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6")
FLOW_PICTURE_SHARE = 0.2
FLOW_VISUAL_SHARE = 0.25
FLOW_DOMINANT = 0.6
FLOW_PART_MIN = 0.1
CONTROL_ROLES = frozenset({"btn", "form", "input"})
GALLERY_SHARE = 0.4  # share of a part's area pictures fill for three or more to be a gallery
HERO_MIN = 300  # px: the first band of a main region at least this high, led by an h1 or h2, is a hero
HERO_WIDTH = 0.9  # share of the page width a hero spans (a dashboard's content column beside its sidebar is none)
LEAD_GAP = 8  # px: a part this close to its region's top is its first
# parts a text flow is made of: text, its breadcrumb or prev/next bars, a list of posts or questions
FLOW_TYPES = TEXT_TYPES | {"navbar", "footer", "sidebar", "faq"}
DOC_PARTS = (2, 12)
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
INTRO_TAGS = ("p", "pre", "table", "blockquote", "dl", "figure", "img")

BoxOf = Callable[[Element], Box | None]


def _tidy(region: Box, flats: list[Flat]) -> list[Flat]:
    """Cut to the region; nested parts join their outer one; partial overlaps cut the smaller."""
    kept: list[Flat] = []
    for f in sorted(flats, key=lambda f: -area(f.section.box)):
        box = cut(f.section.box, [])
        box = _intersect(box, region) if box is not None else None
        if box is None:
            continue
        outer = next((k for k in kept if inter_area(box, k.section.box) >= NESTED * area(box)), None)
        if outer is not None:
            kept[kept.index(outer)] = _join(outer, f, outer.section.box)
            continue
        box = cut(box, [k.section.box for k in kept])
        if box is not None:
            kept.append(Flat(f.section.with_(box=box), f.elements))
    return sorted(kept, key=lambda f: (f.section.box[1], f.section.box[0]))


def _intersect(a: Box, b: Box) -> Box | None:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return [x0, y0, x1 - x0, y1 - y0] if x1 - x0 >= MIN_SIDE and y1 - y0 >= MIN_SIDE else None


def _join(keep: Flat, other: Flat, box: Box) -> Flat:
    """`other` becomes part of `keep` (its type stays, the roles join in page order)."""
    first, second = sorted((keep, other), key=lambda f: f.section.box[1])
    children = merge_roles(first.section.children, second.section.children)
    return Flat(keep.section.with_(children=children, box=box), keep.elements + other.elements)


def main_sections(region: Box, flats: list[Flat], body: Element, box_of: BoxOf, seen: Seen,
                  page_w: float) -> list[Section]:
    """The sections of one main region, a tiling of it (module docstring)."""
    parts = _tidy(region, flats)
    if parts and text_flow(region, parts, body, box_of):
        split = heading_parts(region, body, box_of, seen, largest(parts).section)
        if split is not None:
            return split
    parts = _join_strips(parts)
    parts = _tidy(region, parts)  # a joined strip's union may reach over a neighbour
    named = [f.section.with_(type=held_type(f, box_of, region, page_w)) if f.section.type in ("other", "main")
             else f.section for f in parts]
    return _cover(region, named)


def held_type(f: Flat, box_of: BoxOf, region: Box, page_w: float) -> str:
    """The type of a part no markup names (typed ``other``, or ``main`` for heading-led text by
    `fill.block_type`), from what it holds (module docstring); its own type where nothing tells."""
    drawn = [d for el in f.elements for d in el.iter() if isinstance(d.tag, str)
             and (b := box_of(d)) is not None and b[2] > 0 and b[3] > 0]
    tags = {d.tag for d in drawn}
    box = f.section.box
    if tags & {"form", "input", "textarea", "select"}:
        return "form"
    if "blockquote" in tags:
        return "testimonials"
    pictures = sum(area(box_of(d)) for d in drawn if d.tag in ("img", "picture", "svg", "video"))
    if pictures >= GALLERY_SHARE * area(box) and sum(d.tag in ("img", "picture") for d in drawn) >= 3:
        return "gallery"
    lead = any(d.tag in ("h1", "h2") for d in drawn) or "btn" in f.section.children
    if box[1] - region[1] <= LEAD_GAP and box[3] >= HERO_MIN and box[2] >= HERO_WIDTH * page_w and lead:
        return "hero"  # the first band of the content, tall, under a large heading or with a call to act
    if f.section.type == "other" and {"heading", "text", "image"} <= set(f.section.children):
        return "features"  # a heading, its text and a picture: a landing page's feature band ("featurette")
    return f.section.type


def text_flow(region: Box, parts: list[Flat], body: Element, box_of: BoxOf) -> bool:
    """Whether a main region reads as a text (documentation, an article): named visual sections
    (`VISUAL_TYPES`) fill at most `FLOW_VISUAL_SHARE` of it; one part fills `FLOW_DOMINANT` of it
    (the article) or its parts of `FLOW_PART_MIN` of it or more are all of `FLOW_TYPES` with no
    button, form or input (`CONTROL_ROLES`: a landing page's bands hold them); and pictures and
    controls fill at most `FLOW_PICTURE_SHARE` of what it draws."""
    visual = sum(area(f.section.box) for f in parts if f.section.type in VISUAL_TYPES)
    if visual > FLOW_VISUAL_SHARE * area(region):
        return False  # a landing page's named sections; a docs page's prev/next cards are a small part
    big = [f for f in parts if area(f.section.box) >= FLOW_PART_MIN * area(region)]
    one_text = max(area(f.section.box) for f in parts) >= FLOW_DOMINANT * area(region)
    if not one_text and not all(f.section.type in FLOW_TYPES and not CONTROL_ROLES & set(f.section.children)
                                for f in big):
        return False  # a landing page's bands: no one article, and buttons or forms in its parts
    inside = lambda b: (b is not None and b[2] > 0 and b[3] > 0 and inter_area(b, region) >= 0.5 * area(b))  # noqa: E731
    pictures = sum(area(b) for el in body.iter(*PICTURE_TAGS) for b in (box_of(el),) if inside(b))
    text = sum(area(b) for el in body.iter(*TEXT_TAGS) for b in (box_of(el),) if inside(b))
    return text > 0 and pictures <= FLOW_PICTURE_SHARE * (text + pictures)


def _heading_strip(s: Section) -> bool:
    return (s.type in TEXT_TYPES and bool(s.children) and s.children[0] == "heading"
            and set(s.children) <= {"heading", "text", "link", "list"} and s.box[3] <= TITLE_MAX)


def _strip(s: Section) -> bool:
    return s.type in TEXT_TYPES and (s.box[3] < STRIP_MAX or not s.children or (
        s.children == ("image",) and s.box[3] <= IMAGE_STRIP_MAX))


def _x_overlap(a: Box, b: Box) -> bool:
    return min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > 0.5 * min(a[2], b[2])


def _join_strips(parts: list[Flat]) -> list[Flat]:
    """Heading strips join the section below them; thin, empty and image-only strips the one above;
    specks (narrower than `records.WIDGET_MAX` px: a floating settings button) are no part of their own."""
    parts = [f for f in parts if f.section.box[2] >= WIDGET_MAX] or parts
    changed = True
    while changed and len(parts) > 1:
        changed = False
        for i, f in enumerate(parts):
            s = f.section
            below = [k for k in parts[i + 1:] if _x_overlap(s.box, k.section.box)]
            above = [k for k in parts[:i] if _x_overlap(s.box, k.section.box)]
            if _heading_strip(s) and below:
                target = below[0]
            elif _strip(s) and (above or below):
                target = above[-1] if above else below[0]
            else:
                continue
            joined = _join(target, f, union([target.section.box, s.box]))
            parts = [joined if k is target else k for k in parts if k is not f]
            changed = True
            break
    return parts


def _cover(region: Box, sections: list[Section]) -> list[Section]:
    """Stretch the sections to cover the region: a row of one spans its width, and rows meet
    halfway between them (the first from the region's top, the last to its bottom)."""
    if not sections:
        return []
    rows: list[list[int]] = []
    spans: list[list[float]] = []
    for i, s in sorted(enumerate(sections), key=lambda t: (t[1].box[1], t[1].box[0])):
        y0, y1 = s.box[1], s.box[1] + s.box[3]
        if spans and y0 < spans[-1][1] - 0.5 * min(s.box[3], spans[-1][1] - spans[-1][0]):
            rows[-1].append(i)
            spans[-1] = [min(spans[-1][0], y0), max(spans[-1][1], y1)]
        else:
            rows.append([i])
            spans.append([y0, y1])
    # rows meet halfway between them; a row that overlaps the next one keeps its own extent there
    top, bottom = region[1], region[1] + region[3]
    ends = [top] + [(spans[k][1] + spans[k + 1][0]) / 2 if spans[k][1] <= spans[k + 1][0] else None
                    for k in range(len(spans) - 1)] + [bottom]
    out = list(sections)
    for k, row in enumerate(rows):
        y0 = spans[k][0] if ends[k] is None else min(ends[k], spans[k][0])
        y1 = spans[k][1] if ends[k + 1] is None else max(ends[k + 1], spans[k][1])
        for i in row:
            b = out[i].box
            new = [region[0], y0, region[2], y1 - y0] if len(row) == 1 else b
            if new is not b and not any(j != i and inter_area(new, out[j].box) > 0 for j in range(len(out))):
                out[i] = out[i].with_(box=new)
    return [s for s in out if s.box[2] >= MIN_SIDE and s.box[3] >= MIN_SIDE]


def _level(el: Element) -> int:
    return int(el.tag[1])


def heading_parts(region: Box, body: Element, box_of: BoxOf, seen: Seen, base: Section) -> list[Section] | None:
    """A text flow's parts under its headings (module docstring), or None when it has no
    drawn heading (the flow is then tidied as any other region)."""
    inside = lambda b: (b is not None and b[2] > 0 and b[3] > 0  # noqa: E731
                        and region[0] <= b[0] + b[2] / 2 <= region[0] + region[2]
                        and region[1] <= b[1] + b[3] / 2 <= region[1] + region[3])
    heads = [el for el in body.iter(*HEADING_TAGS) if inside(box_of(el))]
    if not heads:
        return None
    levels = sorted({_level(h) for h in heads})
    title = heads[0] if sum(_level(h) == levels[0] for h in heads) == 1 and _level(heads[0]) == levels[0] else None
    top, bottom = region[1], region[1] + region[3]
    starts = [top]
    for level in [v for v in levels if title is None or v > _level(title)]:
        at = [box_of(h)[1] for h in heads if _level(h) == level and h is not title]
        if not at:
            continue
        intro = any(inside(b) and b[1] >= top and b[1] + b[3] <= at[0]
                    for el in body.iter(*INTRO_TAGS) for b in (box_of(el),) if b is not None)
        candidate = [top] + [y for y in (at if intro else at[1:]) if top < y < bottom]
        if DOC_PARTS[0] <= len(candidate) <= DOC_PARTS[1]:
            starts = candidate
            break
    edges = sorted(set(starts)) + [bottom]
    parts = []
    for y0, y1 in zip(edges[:-1], edges[1:]):
        box = [region[0], y0, region[2], y1 - y0]
        members = _members(body, box, box_of)
        # what a part holds, not how large a theme draws it: a drawn table makes it a table part
        tables = any(b is not None and b[2] > 0 and b[3] > 0 for el in members for t in el.iter("table")
                     for b in (box_of(t),))
        type_ = "table" if tables else "main"
        children = tuple(run_roles(members, seen))
        parts.append(base.with_(type=type_, children=children, box=box,
                                xpath=members[0].getroottree().getpath(members[0]) if members else base.xpath))
    return parts


def _members(body: Element, box: Box, box_of: BoxOf) -> list[Element]:
    """The largest drawn elements lying inside `box` (their centre in it), in document order."""
    def within(b: Box | None) -> bool:
        return (b is not None and b[2] > 0 and b[3] > 0 and box[0] <= b[0] + b[2] / 2 <= box[0] + box[2]
                and box[1] <= b[1] + b[3] / 2 < box[1] + box[3] and b[3] <= box[3] + 2)

    out: list[Element] = []

    def visit(el: Element) -> None:
        for c in el:
            if not isinstance(c.tag, str):
                continue
            b = box_of(c)
            if within(b):
                out.append(c)
            elif b is None or inter_area(b, box) > 0:
                visit(c)

    visit(body)
    return out

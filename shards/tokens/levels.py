"""Two levels of labels: a page's regions, and the sections inside each (issue 35).

One flat list of sections mixed two granularities: a documentation page came out as 17-24
strips, nested cards overlapped their section, and the same sample text got 3 to 17 sections
across themes. People agree on a page's furniture and disagree on its granularity
(Webis-WebSeg-20), so the labels have two levels, each a tiling:

- **Regions** (`vocab.REGION_TYPES`): the page's furniture. Read off the one-level sections
  (`rule._flat_sections`): the rows at the top of the page that are top bars or headers
  (``navbar`` if a row holds a navbar, or is a short bar at the very top; ``header`` for a
  wide header row above every sidebar; ``banner`` for a bar at most `BANNER_MAX` px high
  above the navbar), the rows at the bottom typed ``footer`` (in the page's lower half), and
  the side columns (``sidebar``: narrower than `blocks.SIDEBAR_MAX_SHARE` of the page and at
  least `COLUMN_MIN` px high; side by side ones of one column merge). A region's box is the
  union of its parts; where two overlap, the later in `PRIORITY` keeps the largest part of
  its box outside the earlier (a column starts below a top bar). Everything else is
  ``main``: runs of what is left, top to bottom, as long as their union overlaps no other
  region (a band under a sidebar layout is a main region of its own).
- **Sections**: a region other than main is one section (``navbar``, ``sidebar``, ``footer``,
  ``other`` for a banner; a header region the named type of its largest part, e.g. ``hero``,
  else ``header``). A main region holds its one-level sections, made a tiling: cut to the
  region; one inside another (>= `NESTED` of its area) is part of it (its roles join the
  outer one's); partial overlaps cut the smaller; a **text flow** (every part typed one of
  `TEXT_TYPES`, a heading in it) is split by its headings instead (`heading_parts`); strips
  join a neighbour: a heading with at most text and links under it, at most `TITLE_MAX` px
  high, joins the section below it (a "SERVICES" title over its cards), and a part lower
  than `STRIP_MAX` px, or only an image at most `IMAGE_STRIP_MAX` px high, or drawing no
  roles at all joins the one above it (else below); finally each row of sections is
  stretched to the region's width (a row of one) and the rows to meet halfway between
  them, so the sections of a region cover it.

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

from collections.abc import Callable, Sequence

from .blocks import MAIN_MIN_SHARE, SIDEBAR_MAX_SHARE
from .fill import TITLE_MAX, TOP_BAR_MAX
from .records import Box, Flat, Labels, Region, Section, area, inter_area, minus, union
from .roles import Seen, run_roles
from .vocab import MAX_CHILDREN
from .walk import Element

BAND_SHARE = 0.6  # share of the page width a top bar, header or footer spans at least
BANNER_MAX = 64  # px: a notice bar above the navbar
BAND_GAP = 48  # px: a top band starts at most this far below the one above it (or the page top)
COLUMN_MIN_WIDTH = 48  # px: a narrower column is a toggle or a scroll rail, not a sidebar
COLUMN_MIN = 200  # px: a side column at least this high is a sidebar region
PRIORITY = ("banner", "navbar", "header", "footer", "sidebar")
NESTED = 0.8  # share of a section's area inside another for it to be part of that one
STRIP_MAX = 32  # px: a part lower than two text lines is a strip, never a section of its own
IMAGE_STRIP_MAX = 96  # px: an image-only part up to this high is a separator or a logo strip
MIN_SIDE = 4.0  # px: what a cut leaves thinner than this is nothing
TEXT_TYPES = frozenset({"main", "other", "header", "table"})  # parts a strip may join
# named sections that are no part of a text flow
VISUAL_TYPES = frozenset({"hero", "features", "cards", "pricing", "testimonials", "gallery", "cta", "contact",
                          "signup", "stats", "team", "logos"})
PICTURE_TAGS = ("img", "svg", "canvas", "video", "iframe", "picture", "object", "embed", "input", "button",
                "select", "textarea")
TEXT_TAGS = ("p", "li", "pre", "td", "th", "dd", "dt", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6")
FLOW_PICTURE_SHARE = 0.2
FLOW_VISUAL_SHARE = 0.25
DOC_PARTS = (2, 12)
HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
INTRO_TAGS = ("p", "pre", "table", "blockquote", "dl", "figure", "img")
# section types a header region is named by when its largest part has one (a landing page's masthead)
NAMED_HEADER = frozenset({"hero", "cta", "signup", "contact", "features", "stats"})

BoxOf = Callable[[Element], Box | None]


def _rows(flats: list[Flat]) -> list[list[Flat]]:
    """Flats in rows, top down: side by side (vertical extents overlapping by more than half the
    shorter one) and of about one height (within 2x: a top bar is no row with the content it
    floats over)."""
    rows: list[list[Flat]] = []
    top = bottom = 0.0
    for f in sorted(flats, key=lambda f: (f.section.box[1], f.section.box[0])):
        _, y, _, h = f.section.box
        height = bottom - top
        if rows and min(bottom, y + h) - max(top, y) > 0.5 * min(h, height) and 0.5 * height <= h <= 2 * height:
            rows[-1].append(f)
            top, bottom = min(top, y), max(bottom, y + h)
        else:
            rows.append([f])
            top, bottom = y, y + h
    return rows


def _row_box(row: list[Flat]) -> Box:
    return union([f.section.box for f in row])


def _typed_column(f: Flat, page: tuple[float, float]) -> bool:
    b = f.section.box
    return (f.section.type == "sidebar" and COLUMN_MIN_WIDTH <= b[2] < SIDEBAR_MAX_SHARE * page[0]
            and b[3] >= COLUMN_MIN)


def _top_bands(rows: list[list[Flat]], page: tuple[float, float], column_top: float
               ) -> tuple[list[tuple[str, list[Flat]]], list[int]]:
    """The rows at the top that are top bars, headers or a banner over the top bar, and the
    indices of the rows used."""
    out: list[tuple[str, list[Flat]]] = []
    used: list[int] = []
    reach = 0.0  # where the next band may start at most (BAND_GAP below the last one)
    for i, row in enumerate(rows):
        box = _row_box(row)
        if box[2] < BAND_SHARE * page[0]:
            continue  # a narrow row (a search box over a side column) is no band; the columns take it
        if box[1] > reach + BAND_GAP:
            break
        wide = {f.section.type for f in row if f.section.box[2] >= BAND_SHARE * page[0]}
        bar = (box[1] <= 2 and box[3] <= TOP_BAR_MAX and not out and i + 1 < len(rows)
               and all(f.section.type in ("other", "header") for f in row))  # an untyped bar over the page
        if "navbar" in wide or bar:
            links = any({"link", "btn"} & set(f.section.children) for f in row)
            kind = "navbar" if "navbar" in wide or links else "header"
        elif "header" in wide and box[1] + box[3] <= column_top + 2:
            kind = "header"
        else:
            break
        if out and out[-1][0] == kind:
            out[-1][1].extend(row)
        else:
            out.append((kind, list(row)))
        used.append(i)
        reach = max(reach, box[1] + box[3])
    if len(out) >= 2 and out[1][0] == "navbar":  # a thin bar no markup types, over the top bar, is a banner
        first = _row_box(out[0][1])
        if first[1] <= 2 and first[3] <= BANNER_MAX and all(f.section.type == "other" for f in out[0][1]):
            out[0] = ("banner", out[0][1])
    return out, used


def _footer(rows: list[list[Flat]], page: tuple[float, float]) -> tuple[list[Flat], list[int]]:
    """The rows at the bottom typed footer: in the lower half of what the page draws, at least `BAND_SHARE` of the page
    wide and 0.8 of the lowest footer row's width (a content column's prev/next bar over a page-wide
    footer is part of the content)."""
    footer: list[Flat] = []
    used: list[int] = []
    end = max((_row_box(r)[1] + _row_box(r)[3] for r in rows), default=page[1])
    for i in range(len(rows) - 1, -1, -1):
        box = _row_box(rows[i])
        if box[2] < BAND_SHARE * page[0]:
            continue
        wide = not footer or box[2] >= 0.8 * _row_box(footer)[2]
        if not any(f.section.type == "footer" for f in rows[i]) or box[1] < end / 2 or not wide:
            break
        footer = rows[i] + footer
        used.append(i)
    return footer, used


def _side_flats(flats: list[Flat], page: tuple[float, float]) -> list[Flat]:
    """Flats beside the content: narrower than `blocks.SIDEBAR_MAX_SHARE` of the page, wholly left
    or right of the union of the flats at least `blocks.MAIN_MIN_SHARE` of the page wide, and
    level with it."""
    wide = [f.section.box for f in flats if f.section.box[2] >= MAIN_MIN_SHARE * page[0]]
    if not wide:
        return []
    c = union(wide)
    out = []
    for f in flats:
        b = f.section.box
        beside = b[0] + b[2] <= c[0] + MIN_SIDE or b[0] >= c[0] + c[2] - MIN_SIDE
        level = min(b[1] + b[3], c[1] + c[3]) - max(b[1], c[1]) > 0
        if beside and level and COLUMN_MIN_WIDTH <= b[2] < SIDEBAR_MAX_SHARE * page[0]:
            out.append(f)
    return out


def _furniture(flats: list[Flat], page: tuple[float, float]) -> list[tuple[str, list[Flat]]]:
    """(region type, its flats) for the banner, top bars, headers, footers and side columns."""
    typed = [f for f in flats if _typed_column(f, page)]
    rows = _rows([f for f in flats if not _typed_column(f, page)])
    column_top = min((f.section.box[1] for f in typed), default=page[1])
    out, used = _top_bands(rows, page, column_top)
    footer, _ = _footer([r for i, r in enumerate(rows) if i not in used], page)
    taken = {id(f) for _, fs in out for f in fs} | {id(f) for f in footer}
    rest = [f for f in flats if id(f) not in taken and not _typed_column(f, page)]
    side = typed + _side_flats(rest, page)
    if footer:
        out.append(("footer", footer))
    for col in _columns(side):
        out.append(("sidebar", col))
    return out


def _columns(columns: list[Flat]) -> list[list[Flat]]:
    """Side-column flats grouped into columns: horizontal extents overlapping by half the narrower."""
    groups: list[list[Flat]] = []
    for f in sorted(columns, key=lambda f: (f.section.box[0], f.section.box[1])):
        b = f.section.box
        for g in groups:
            u = union([x.section.box for x in g])
            if min(u[0] + u[2], b[0] + b[2]) - max(u[0], b[0]) > 0.5 * min(u[2], b[2]):
                g.append(f)
                break
        else:
            groups.append([f])
    return groups


def _cut(box: Box, others: Sequence[Box]) -> Box | None:
    for o in others:
        if box is None:
            return None
        box = minus(box, o)
    if box is None or box[2] < MIN_SIDE or box[3] < MIN_SIDE:
        return None
    return box


def _merge_roles(*lists: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for roles in lists:
        out += [r for r in roles if r not in out]
    return tuple(out[:MAX_CHILDREN])


def _largest(flats: Sequence[Flat]) -> Flat:
    return max(flats, key=lambda f: area(f.section.box))


def _furniture_section(kind: str, box: Box, flats: list[Flat]) -> Section:
    big = _largest(flats).section
    if kind == "header":
        type_ = big.type if big.type in NAMED_HEADER else "header"
    else:
        type_ = {"banner": "other"}.get(kind, kind)
    ordered = sorted(flats, key=lambda f: (f.section.box[1], f.section.box[0]))
    children = _merge_roles(*(f.section.children for f in ordered))
    return big.with_(type=type_, children=children, box=box)


def split_levels(flat: list[Flat], body: Element, located: dict, page: tuple[float, float]) -> Labels:
    """The regions and sections of a page from its one-level sections (module docstring)."""
    if not flat:
        return Labels([], [])
    furniture = _furniture(flat, page)
    taken = {id(f) for _, fs in furniture for f in fs}
    placed: list[tuple[str, Box, list[Flat]]] = []
    for kind in PRIORITY:
        for k, fs in furniture:
            if k == kind:
                box = _cut(union([f.section.box for f in fs]), [b for _, b, _ in placed])
                if box is not None:
                    placed.append((k, box, fs))
    fixed = [b for _, b, _ in placed]
    rest = []
    for f in flat:
        if id(f) in taken:
            continue
        box = _cut(f.section.box, fixed)
        if box is not None:
            rest.append(Flat(f.section.with_(box=box), f.elements))
    for run in _main_runs(rest, fixed):
        box = _cut(union([f.section.box for f in run]), [b for _, b, _ in placed])
        if box is not None:
            placed.append(("main", box, run))
    placed.sort(key=lambda t: (t[1][1], t[1][0]))
    regions, sections = [], []
    seen = Seen(located.get, True)
    for index, (kind, box, fs) in enumerate(placed):
        regions.append(Region(kind, box, _largest(fs).section.xpath))
        parts = ([_furniture_section(kind, box, fs)] if kind != "main"
                 else main_sections(box, fs, body, located.get, seen))
        sections += [s.with_(region=index) for s in parts]
    sections.sort(key=lambda s: (s.box[1], s.box[0]))
    return Labels(regions, sections)


def _main_runs(rest: list[Flat], fixed: list[Box]) -> list[list[Flat]]:
    """What is left, top to bottom, in runs whose union overlaps no furniture region."""
    runs: list[list[Flat]] = []
    for f in sorted(rest, key=lambda f: (f.section.box[1], f.section.box[0])):
        if runs:
            u = union([x.section.box for x in runs[-1]] + [f.section.box])
            if not any(inter_area(u, b) > 0 for b in fixed):
                runs[-1].append(f)
                continue
        runs.append([f])
    return runs


def _tidy(region: Box, flats: list[Flat]) -> list[Flat]:
    """Cut to the region; nested parts join their outer one; partial overlaps cut the smaller."""
    kept: list[Flat] = []
    for f in sorted(flats, key=lambda f: -area(f.section.box)):
        box = _cut(f.section.box, [])
        box = _intersect(box, region) if box is not None else None
        if box is None:
            continue
        outer = next((k for k in kept if inter_area(box, k.section.box) >= NESTED * area(box)), None)
        if outer is not None:
            kept[kept.index(outer)] = _join(outer, f, outer.section.box)
            continue
        box = _cut(box, [k.section.box for k in kept])
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
    children = _merge_roles(first.section.children, second.section.children)
    return Flat(keep.section.with_(children=children, box=box), keep.elements + other.elements)


def main_sections(region: Box, flats: list[Flat], body: Element, box_of: BoxOf, seen: Seen) -> list[Section]:
    """The sections of one main region, a tiling of it (module docstring)."""
    parts = _tidy(region, flats)
    if parts and text_flow(region, parts, body, box_of):
        split = heading_parts(region, body, box_of, seen, _largest(parts).section)
        if split is not None:
            return split
    parts = _join_strips(parts)
    parts = _tidy(region, parts)  # a joined strip's union may reach over a neighbour
    return _cover(region, [f.section for f in parts])


def text_flow(region: Box, parts: list[Flat], body: Element, box_of: BoxOf) -> bool:
    """Whether a main region reads as a text (documentation, an article): named visual sections
    (`VISUAL_TYPES`) fill at most `FLOW_VISUAL_SHARE` of it and pictures and controls at most
    `FLOW_PICTURE_SHARE` of what it draws."""
    visual = sum(area(f.section.box) for f in parts if f.section.type in VISUAL_TYPES)
    if visual > FLOW_VISUAL_SHARE * area(region):
        return False  # a landing page's named sections; a docs page's prev/next cards are a small part
    inside = lambda b: (b is not None and b[2] > 0 and b[3] > 0 and inter_area(b, region) >= 0.5 * area(b))  # noqa: E731
    pictures = sum(area(b) for el in body.iter(*PICTURE_TAGS) for b in (box_of(el),) if inside(b))
    text = sum(area(b) for el in body.iter(*TEXT_TAGS) for b in (box_of(el),) if inside(b))
    return text > 0 and pictures <= FLOW_PICTURE_SHARE * (text + pictures)


def _heading_strip(s: Section) -> bool:
    return (s.type in TEXT_TYPES and bool(s.children) and s.children[0] == "heading"
            and set(s.children) <= {"heading", "text", "link"} and s.box[3] <= TITLE_MAX)


def _strip(s: Section) -> bool:
    return s.type in TEXT_TYPES and (s.box[3] < STRIP_MAX or not s.children or (
        s.children == ("image",) and s.box[3] <= IMAGE_STRIP_MAX))


def _x_overlap(a: Box, b: Box) -> bool:
    return min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > 0.5 * min(a[2], b[2])


def _join_strips(parts: list[Flat]) -> list[Flat]:
    """Heading strips join the section below them; thin, empty and image-only strips the one above."""
    parts = list(parts)
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

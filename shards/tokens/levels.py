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
  else ``header``); a main region's sections are `shards.tokens.parts`'s.
"""
from __future__ import annotations

from .blocks import MAIN_MIN_SHARE, SIDEBAR_MAX_SHARE
from .fill import TOP_BAR_MAX
from .parts import main_sections
from .records import (MIN_SIDE, WIDGET_MAX, Box, Flat, Labels, Region, Section, cut, inter_area, largest, merge_roles,
                      union)
from .roles import Seen
from .walk import Element

BAND_SHARE = 0.6  # share of the page width a top bar or header spans at least
FULL_SHARE = 0.9  # share of the page width a band spans to be page-wide
BANNER_MAX = 64  # px: a notice bar above the navbar
BAND_GAP = 48  # px: a top band starts at most this far below the one above it (or the page top)
COLUMN_MIN = 200  # px: a side column at least this high is a sidebar region
PRIORITY = ("banner", "navbar", "header", "footer", "sidebar")
# section types a header region is named by when its largest part has one (a landing page's masthead)
NAMED_HEADER = frozenset({"hero", "cta", "signup", "contact", "features", "stats"})


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
    return (f.section.type == "sidebar" and WIDGET_MAX <= b[2] < SIDEBAR_MAX_SHARE * page[0]
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
            links = any({"link", "btn", "input", "form"} & set(f.section.children) for f in row)
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
    """The rows at the bottom typed footer: in the lower half of what the page draws, at least
    `blocks.MAIN_MIN_SHARE` of the page wide (a content column's footer) and 0.8 of the lowest
    footer row's width (a content column's prev/next bar over a page-wide footer is part of the
    content)."""
    footer: list[Flat] = []
    used: list[int] = []
    end = max((_row_box(r)[1] + _row_box(r)[3] for r in rows), default=page[1])
    for i in range(len(rows) - 1, -1, -1):
        box = _row_box(rows[i])
        if box[2] < MAIN_MIN_SHARE * page[0]:
            continue
        wide = not footer or box[2] >= 0.8 * _row_box(footer)[2]
        if not any(f.section.type == "footer" for f in rows[i]) or box[1] < end / 2 or not wide:
            break
        footer = rows[i] + footer
        used.append(i)
    return footer, used


def _side_flats(flats: list[Flat], page: tuple[float, float]) -> list[Flat]:
    """Flats beside the content: narrower than `blocks.SIDEBAR_MAX_SHARE` of the page, wholly left
    or right of the union of the flats at least `blocks.MAIN_MIN_SHARE` of the page wide (and
    narrower than `FULL_SHARE` of it where there are such: a page-wide title band is no content
    column), and level with it."""
    wide = [f.section.box for f in flats if f.section.box[2] >= MAIN_MIN_SHARE * page[0]]
    column = [b for b in wide if b[2] < FULL_SHARE * page[0]]  # a page-wide title band is no content column
    wide = column or wide
    if not wide:
        return []
    c = union(wide)
    out = []
    for f in flats:
        b = f.section.box
        beside = b[0] + b[2] <= c[0] + MIN_SIDE or b[0] >= c[0] + c[2] - MIN_SIDE
        level = min(b[1] + b[3], c[1] + c[3]) - max(b[1], c[1]) > 0
        if beside and level and WIDGET_MAX <= b[2] < SIDEBAR_MAX_SHARE * page[0]:
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


def _furniture_section(kind: str, box: Box, flats: list[Flat]) -> Section:
    big = largest(flats).section
    if kind == "header":
        type_ = big.type if big.type in NAMED_HEADER else "header"
    else:
        type_ = {"banner": "other"}.get(kind, kind)
    ordered = sorted(flats, key=lambda f: (f.section.box[1], f.section.box[0]))
    children = merge_roles(*(f.section.children for f in ordered))
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
                box = cut(union([f.section.box for f in fs]), [b for _, b, _ in placed])
                if box is not None:
                    placed.append((k, box, fs))
    fixed = [b for _, b, _ in placed]
    rest = []
    for f in flat:
        if id(f) in taken or f.section.box[2] < WIDGET_MAX:
            continue  # a floating widget or a toggle rail is no part of the page's layout
        box = cut(f.section.box, fixed)
        if box is not None:
            rest.append(Flat(f.section.with_(box=box), f.elements))
    for run in _main_runs(rest, fixed):
        box = cut(union([f.section.box for f in run]), [b for _, b, _ in placed])
        if box is not None:
            placed.append(("main", box, run))
    placed.sort(key=lambda t: (t[1][1], t[1][0]))
    regions, sections = [], []
    seen = Seen(located.get, True)
    for index, (kind, box, fs) in enumerate(placed):
        regions.append(Region(kind, box, largest(fs).section.xpath))
        parts = ([_furniture_section(kind, box, fs)] if kind != "main"
                 else main_sections(box, fs, body, located.get, seen, page[0]))
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



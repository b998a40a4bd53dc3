"""Sections and their "@ concatenation" tokens: the one rule both stages use.

`derive_sections(html, boxes)` returns the page's sections ordered top to bottom, each with
a token such as ``section.hero@h1@p@a.btn``. The rule:

1. **Which elements are sections.** Walking down from ``<body>``: an element with tag
   header, nav, section, footer, aside or article is a section; so is a ``div`` with a
   section class (``SECTION_CLASSES`` after synonym mapping, e.g. ``div.hero``). A plain
   ``div`` (no section class) is a transparent wrapper: we look through it for sections.
   ``main`` and a ``div`` with a container class (``container``, ``wrapper``...) are
   transparent when they hold sections and are a section themselves when they do not.
   Looking through wrappers stops at depth ``MAX_WRAPPER_DEPTH``; sections never nest.
2. **Which children are salient.** The section's descendants in document order whose tag
   is in ``SALIENT_TAGS`` (headings, p, a, button, img, form, input, lists, table, ...).
   We do not look inside a salient element (a form's inputs belong to the form), so a
   token describes the section's visible building blocks, not every leaf.
3. **How many components.** The section itself plus at most ``MAX_CHILDREN`` (4) distinct
   child components, in order of first appearance: a feature grid of three cards with
   h3/p/a each gives ``section.features@h2@h3@p@a``, however many cards there are.
4. **How classes are chosen.** A component is ``tag`` or ``tag.class``. The class is the
   first of the element's classes (in attribute order, lower-cased) that is a known
   semantic name, mapped through ``CLASS_SYNONYMS`` to its canonical form (``button`` ->
   ``btn``, ``jumbotron`` -> ``hero``). Utility classes (``px-4``, ``col-md-4``) never
   appear, and a synonym swap (augment's class substitution) never changes a token.
5. **Order.** Sections sort by the top edge of their box; an unlocated section keeps its
   document position (it sorts right after the section before it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import lxml.html

from .htmlparse import parse_html

SECTION_TAGS = frozenset({"header", "nav", "section", "footer", "aside", "article"})
SALIENT_TAGS = frozenset({
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "a", "button", "img", "form", "input",
    "textarea", "select", "ul", "ol", "table", "blockquote", "figure", "video", "iframe",
})
MAX_CHILDREN = 4
MAX_WRAPPER_DEPTH = 8

# canonical name -> synonyms that mean the same thing on a page. Augment's class
# substitution swaps within a group; token derivation maps every member to the canonical.
SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {
    "hero": ("hero", "jumbotron", "banner", "masthead"),
    "navbar": ("navbar", "topbar", "nav-bar", "menu-bar"),
    "header": ("header", "site-header"),
    "footer": ("footer", "site-footer", "page-footer"),
    "features": ("features", "feature-grid", "benefits"),
    "cards": ("cards", "card-row", "card-deck"),
    "pricing": ("pricing", "plans", "price-table"),
    "testimonials": ("testimonials", "reviews", "quotes"),
    "gallery": ("gallery", "portfolio", "showcase"),
    "cta": ("cta", "call-to-action", "promo"),
    "contact": ("contact", "contact-form", "get-in-touch"),
    "signup": ("signup", "register", "newsletter"),
    "stats": ("stats", "metrics", "numbers"),
    "team": ("team", "people", "staff"),
    "faq": ("faq", "questions", "help"),
    "logos": ("logos", "clients", "partners"),
    "container": ("container", "wrapper", "page-wrapper"),
    "btn": ("btn", "button"),
    "card": ("card", "tile", "panel"),
    "logo": ("logo", "brand", "navbar-brand"),
    "avatar": ("avatar", "profile-pic"),
    "price": ("price", "amount"),
}
CLASS_SYNONYMS: dict[str, str] = {a: canon for canon, group in SYNONYM_GROUPS.items() for a in group}
CONTAINER_CLASSES = frozenset({"container"})
SECTION_CLASSES = frozenset({
    "hero", "navbar", "header", "footer", "features", "cards", "pricing", "testimonials",
    "gallery", "cta", "contact", "signup", "stats", "team", "faq", "logos",
})


@dataclass(frozen=True)
class Section:
    """One page section: its token, its box [x, y, w, h] (None if unlocated), its xpath."""

    token: str
    box: list[float] | None
    xpath: str


def semantic_class(el: lxml.html.HtmlElement) -> str | None:
    """The element's first known semantic class, in canonical form (rule 4)."""
    for c in (el.get("class") or "").split():
        canon = CLASS_SYNONYMS.get(c.lower())
        if canon is not None:
            return canon
    return None


def component(el: lxml.html.HtmlElement) -> str:
    """`tag` or `tag.class` for one element (rule 4)."""
    cls = semantic_class(el)
    return f"{el.tag}.{cls}" if cls else str(el.tag)


def _elements(parent: lxml.html.HtmlElement):
    return [c for c in parent if isinstance(c.tag, str)]


def section_kind(el: lxml.html.HtmlElement) -> str:
    """'section', 'maybe' (main/container: a section only if it holds none) or 'wrapper'."""
    cls = semantic_class(el)
    if el.tag in SECTION_TAGS or (el.tag == "div" and cls in SECTION_CLASSES):
        return "section"
    if el.tag == "main" or (el.tag == "div" and cls in CONTAINER_CLASSES):
        return "maybe"
    return "wrapper" if el.tag == "div" else "other"


def find_section_elements(body: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Section elements under `body` in document order (rule 1)."""
    found: list[lxml.html.HtmlElement] = []
    for child in _elements(body):
        found += _collect(child, 0)
    return found


def _collect(el: lxml.html.HtmlElement, depth: int) -> list[lxml.html.HtmlElement]:
    kind = section_kind(el)
    if kind == "section":
        return [el]
    if kind == "other" or depth >= MAX_WRAPPER_DEPTH:
        return []
    inner = [s for c in _elements(el) for s in _collect(c, depth + 1)]
    if kind == "maybe" and not inner:
        return [el]
    return inner


def salient_components(section: lxml.html.HtmlElement, limit: int = MAX_CHILDREN) -> list[str]:
    """Distinct salient child components in document order of first appearance (rules 2-3)."""
    seen: list[str] = []
    stack = list(reversed(_elements(section)))
    while stack and len(seen) < limit:
        el = stack.pop()
        if el.tag in SALIENT_TAGS:
            comp = component(el)
            if comp not in seen:
                seen.append(comp)
            continue
        stack.extend(reversed(_elements(el)))
    return seen


def section_token(section: lxml.html.HtmlElement) -> str:
    """The "@ concatenation" token of one section element."""
    return "@".join([component(section), *salient_components(section)])


def _order(sections: Sequence[Section]) -> list[Section]:
    keyed, last_top = [], float("-inf")
    for i, s in enumerate(sections):
        if s.box is not None:
            last_top = float(s.box[1])
        keyed.append(((last_top, i), s))
    return [s for _, s in sorted(keyed, key=lambda kv: kv[0])]


def derive_sections(
    html: str | bytes | lxml.html.HtmlElement,
    boxes: Mapping[str, Sequence[float] | None] | None = None,
) -> list[Section]:
    """The page's sections, top to bottom, with tokens and boxes (see module docstring).

    `boxes` maps an element's xpath (lxml `getpath` form, e.g. ``/html/body/section[2]``)
    to its [x, y, w, h] box in screenshot pixels; sections it lacks are unlocated.
    """
    root = parse_html(html) if isinstance(html, (str, bytes)) else html
    body = root.find("body") if root.tag != "body" else root
    if body is None:
        return []
    tree = root.getroottree()
    boxes = boxes or {}
    sections = []
    for el in find_section_elements(body):
        xpath = tree.getpath(el)
        box = boxes.get(xpath)
        sections.append(Section(section_token(el), None if box is None else [float(v) for v in box], xpath))
    return _order(sections)

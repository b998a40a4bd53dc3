"""The closed vocabularies of section labels: section types, child roles, class synonyms.

One table per idea, read by every stage: token derivation (`shards.tokens`), augment's
class substitution (swaps within `SYNONYM_GROUPS`) and the synthetic generator (draws a
section's class names from `TYPE_CLASSES`). The reasons for each merge are in
`shards.tokens`'s docstring, with the command that measured them.
"""
from __future__ import annotations

# Section types, in a fixed order (the trainer's class indices follow it). The section
# classes of landing pages, the page landmarks (navbar, header, sidebar, main, footer),
# `form` for a part no markup types that holds a form or inputs (a sign-in card, a profile
# editor: issue 35) and `other` for a located block that nothing in its markup types.
SECTION_TYPES: tuple[str, ...] = (
    "navbar", "header", "hero", "features", "cards", "pricing", "testimonials", "gallery", "cta",
    "contact", "signup", "stats", "team", "faq", "logos", "blog", "table", "form", "sidebar", "main",
    "footer", "other",
)

# Regions (issue 35): the page's furniture, the coarse level of the two. Every drawn part of
# a page lies in exactly one region and regions never overlap; the sections are the parts of a
# region (a region of one part is one section). ``banner``: a thin announcement or notice bar
# that stands apart from the rest (above a navbar, or fixed at the bottom of the viewport).
REGION_TYPES: tuple[str, ...] = ("navbar", "header", "sidebar", "main", "footer", "banner")

# Child roles: what a section's visible building blocks are drawn as (see shards.tokens).
ROLES: tuple[str, ...] = (
    "heading", "text", "btn", "link", "image", "form", "input", "list", "table",
)
MAX_CHILDREN = 4

# type -> class names that mean it (first = the name the generator prefers). A class is
# read case-insensitively; "table" is not a member of its own group because Bootstrap's
# `table` class styles <table> elements, not sections.
TYPE_CLASSES: dict[str, tuple[str, ...]] = {
    "navbar": ("navbar", "topbar", "nav-bar", "menu-bar"),
    "header": ("header", "site-header"),
    "hero": ("hero", "jumbotron", "banner", "masthead"),
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
    "blog": ("blog", "posts", "post", "news"),
    "table": ("data-table", "comparison", "specs"),
    "sidebar": ("sidebar", "side-nav", "sidenav"),
    "main": ("main", "main-content", "content"),
    "footer": ("footer", "site-footer", "page-footer"),
}
# canonical name -> synonyms for classes that are not section types.
OTHER_CLASSES: dict[str, tuple[str, ...]] = {
    "container": ("container", "wrapper", "page-wrapper"),
    "btn": ("btn", "button"),
    "card": ("card", "tile", "panel"),
    "logo": ("logo", "brand", "navbar-brand"),
    "avatar": ("avatar", "profile-pic"),
    "price": ("price", "amount"),
}
# Augment's class substitution swaps within a group; token derivation maps every member
# of a group to its canonical name.
SYNONYM_GROUPS: dict[str, tuple[str, ...]] = {**TYPE_CLASSES, **OTHER_CLASSES}
CLASS_SYNONYMS: dict[str, str] = {a: canon for canon, group in SYNONYM_GROUPS.items() for a in group}

# A div with one of these classes is a section; with a "maybe" class it is a section only
# when it holds none (a page container, a main column).
SECTION_CLASSES = frozenset(TYPE_CLASSES) - {"main"}
MAYBE_CLASSES = frozenset({"container", "main"})
SECTION_TAGS = frozenset({"header", "nav", "section", "footer", "aside", "article"})

# ARIA landmarks (the `role` attribute) and the elements that carry them implicitly.
LANDMARK_TYPES: dict[str, str] = {
    "banner": "header", "navigation": "navbar", "main": "main", "complementary": "sidebar",
    "contentinfo": "footer",
}
TAG_TYPES: dict[str, str] = {
    "header": "header", "nav": "navbar", "main": "main", "aside": "sidebar", "footer": "footer",
}

# The salient tags of the raw (schema 1) token: the children it lists.
SALIENT_TAGS = frozenset({
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "a", "button", "img", "form", "input",
    "textarea", "select", "ul", "ol", "table", "blockquote", "figure", "video", "iframe",
})
# Elements that draw nothing of their own: never a section, a block or a child.
NON_CONTENT_TAGS = frozenset({
    "script", "style", "noscript", "template", "meta", "link", "base", "title", "head",
})

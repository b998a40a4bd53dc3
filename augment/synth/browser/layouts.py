"""The page grammar: one builder per layout the web uses, each a tree of regions holding sections.

`LAYOUTS` maps a layout name to its builder; a builder takes the page's `parts.Ctx` and
returns the ``body`` element with every region and section marked (`markup.region`,
`markup.section`). Regions are landmark elements (``nav``, ``header``, ``aside``, ``main``,
``footer``) that tile the page without overlapping: stacked, or side by side as columns of
the framework's grid. A region of one part is one section of its own type (the navbar region
holds one ``navbar`` section: the same element); the parts of ``main`` are the sections of
`parts.PARTS`, or, on a documentation page, the parts under its ``h2`` headings (wrapped in a
``section`` or ``div.section`` as documentation generators write them, typed ``main``).
"""
from __future__ import annotations

from collections.abc import Callable

from . import theme
from . import words as w
from .markup import El, el, region, section
from .parts import PARTS, Ctx, sec

LANDING_OPTIONAL = ("features", "stats", "pricing", "testimonials", "logos", "team", "gallery", "faq", "blog",
                    "signup", "contact", "cards")


def navbar(c: Ctx) -> El:
    brand = el("a", c.kit.brand, w.words(c.rng, 1, 1)[0].capitalize(), href="#")
    end = (c.kit.button(w.label(c.rng)) if c.chance(0.6)
           else el("input", c.kit.input, type="search", placeholder=w.label(c.rng, 1, 1)))
    return el("nav", c.kit.nav, *c.kit.navbar(brand, [w.label(c.rng, 1, 1) for _ in range(c.n(3, 6))], end).kids,
              **({"aria_label": "main"} if c.chance(0.5) else {}))


def footer(c: Ctx) -> El:
    cols = [el("div", "", el("h5", "", w.label(c.rng, 1, 1)),
               el("ul", "footer-links", *[el("li", "", el("a", "", w.label(c.rng), href="#"))
                                          for _ in range(c.n(2, 4))])) for _ in range(c.n(2, 4))]
    kids = [c.kit.grid(cols)] if c.chance(0.7) else []
    return el("footer", "site-foot" if c.chance(0.5) else "footer site-foot",
              el("div", c.kit.container, *kids, el("p", "", w.sentence(c.rng))))


def masthead(c: Ctx) -> El:
    return el("header", "site-header", el("div", c.kit.container, c.kit.heading(1, w.title(c.rng, 1, 3)),
                                          el("p", "", w.sentence(c.rng))))


def top(c: Ctx, body: El) -> None:
    """The top of a page: sometimes a masthead (header region), then the navbar region."""
    if c.chance(0.2):
        body.add(solo_region(masthead(c), "header"))
    body.add(solo_region(navbar(c), "navbar"))


def solo_region(node: El, type_: str) -> El:
    """Mark `node` as a region and as that region's one section (`markup` writes both from one mark)."""
    return region(node, type_, f"solo:{type_}")


def landing(c: Ctx) -> El:
    body = el("body", "")
    top(c, body)
    main = region(el("main", ""), "main", "main")
    order = list(c.rng.permutation(LANDING_OPTIONAL))[: c.n(3, 6)]
    for type_ in ["hero", *order] + (["cta"] if c.chance(0.6) else []):
        main.add(section(PARTS[type_](c), type_, "main"))
    body.add(main)
    body.add(solo_region(footer(c), "footer"))
    return body


def _doc_part(c: Ctx, level: int = 2) -> El:
    kids: list[El | None] = [el(f"h{level}", "", w.title(c.rng, 2, 5))]
    for _ in range(c.n(1, 3)):
        kids.append(el("p", "", w.paragraph(c.rng)))
        r = c.rng.random()
        if r < 0.25:
            kids.append(el("pre", "", el("code", "", "\n".join(w.label(c.rng, 2, 4).lower() for _ in range(3)))))
        elif r < 0.45:
            kids.append(el("ul", "", *[el("li", "", w.sentence(c.rng)) for _ in range(c.n(2, 4))]))
        elif r < 0.55:
            kids.append(c.kit.data_table([w.label(c.rng, 1, 1) for _ in range(3)],
                                         [[w.label(c.rng, 1, 2) for _ in range(3)] for _ in range(c.n(2, 4))]))
    if level == 2 and c.chance(0.4):
        kids += [_doc_part(c, 3) for _ in range(c.n(1, 2))]
    return el("section", "", *kids) if c.chance(0.5) else el("div", "section", *kids)


def docs(c: Ctx) -> El:
    body = el("body", "")
    body.add(solo_region(navbar(c), "navbar"))
    nav = el("aside", "side-pane", *c.kit.side_menu(
        [(w.label(c.rng, 1, 2), [w.label(c.rng, 1, 3) for _ in range(c.n(2, 5))]) for _ in range(c.n(2, 4))],
        active=c.n(0, 3)))
    main = region(el("main", ""), "main", "main")
    intro = el("section", "", c.kit.heading(1, w.title(c.rng, 2, 5)), el("p", "", w.paragraph(c.rng)))
    main.add(section(intro, "main", "main"))
    parts = [_doc_part(c) for _ in range(c.n(2, 5))]
    for part in parts:
        main.add(section(part, "main", "main"))
    columns = [solo_region(nav, "sidebar"), main]
    spans = [3, 9]
    if c.chance(0.7):
        toc = el("aside", "side-pane toc", el("p", "menu-caption", w.label(c.rng, 1, 2)),
                 el("ul", "", *[el("li", "", el("a", "", _heading_text(p), href="#")) for p in parts]))
        columns.append(solo_region(toc, "sidebar"))
        spans = [3, 7, 2] if c.chance(0.5) else [2, 8, 2]
    solo_keys(columns)
    body.add(el("div", f"{c.kit.container} doc-body", c.kit.split(spans, columns)))
    if c.chance(0.7):
        body.add(solo_region(footer(c), "footer"))
    return body


def _heading_text(part: El) -> str:
    head = part.kids[0]
    return head.kids[0] if isinstance(head, El) and head.kids and isinstance(head.kids[0], str) else ""


def solo_keys(nodes: list[El]) -> None:
    """Give each solo region among `nodes` a key of its own (two sidebars are two regions)."""
    for i, node in enumerate(nodes):
        if node.mark is not None and node.mark.key.startswith("solo:"):
            node.mark.key = f"{node.mark.key}:{i}"


def dashboard(c: Ctx) -> El:
    body = el("body", "")
    side = el("aside", "side-pane dash-side", el("p", "", el("strong", "", w.name(c.rng))), *c.kit.side_menu(
        [(w.label(c.rng, 1, 1), [w.label(c.rng, 1, 2) for _ in range(c.n(3, 6))]) for _ in range(c.n(1, 3))]))
    main = region(el("main", "dash-main"), "main", "main")
    # a page title leads the first section: a heading with a line under it is no section of its own
    # (issue 35's labels join such a strip to the section below it)
    title = [c.kit.heading(2, w.title(c.rng, 1, 3)), el("p", "", w.sentence(c.rng))] if c.chance(0.5) else []
    stats = PARTS["stats"](c)
    stats.kids[:0] = title
    main.add(section(stats, "stats", "main"))
    charts = [c.kit.card(theme.chart(c.rng, c.theme), title=w.title(c.rng, 1, 3)) for _ in range(c.n(1, 2))]
    main.add(section(sec(c, "cards", c.kit.grid(charts)), "cards", "main"))
    main.add(section(PARTS["table"](c), "table", "main"))
    column = el("div", "dash-col", solo_region(navbar(c), "navbar"), main)
    spans = [2, 10] if c.chance(0.5) else [3, 9]
    body.add(el("div", "dash-frame", c.kit.split(spans, [solo_region(side, "sidebar"), column])))
    return body


def _sidebar_widgets(c: Ctx) -> El:
    return el("aside", "side-pane", el("form", "", c.kit.form_field(w.label(c.rng, 1, 1), "search")),
              *c.kit.side_menu([(w.label(c.rng, 1, 2), [w.label(c.rng, 1, 3) for _ in range(c.n(3, 6))])]),
              el("p", "", w.paragraph(c.rng, 1, 2)))


def blog_page(c: Ctx) -> El:
    body = el("body", "")
    top(c, body)
    main = region(el("main", ""), "main", "main")
    if c.chance(0.5):
        posts = [el("article", "", c.kit.heading(2, w.title(c.rng, 3, 7)),
                    el("p", "", c.kit.badge_el(w.label(c.rng, 1, 1)), " ", w.label(c.rng, 1, 2)),
                    el("p", "", w.paragraph(c.rng)), el("a", "", w.label(c.rng), href="#")) for _ in range(c.n(2, 4))]
        main.add(section(sec(c, "blog", *posts), "blog", "main"))
    else:
        article = el("article", "post", c.kit.heading(1, w.title(c.rng, 3, 7)), theme.picture(c.rng, c.theme, 800, 320),
                     *[el("p", "", w.paragraph(c.rng, 2, 5)) for _ in range(c.n(3, 6))])
        main.add(section(article, "blog", "main"))
    if c.chance(0.4):
        main.add(section(PARTS["signup"](c), "signup", "main"))
    columns = [main, solo_region(_sidebar_widgets(c), "sidebar")]
    solo_keys(columns)
    body.add(el("div", c.kit.container, c.kit.split([8, 4], columns)))
    body.add(solo_region(footer(c), "footer"))
    return body


def shop(c: Ctx) -> El:
    body = el("body", "")
    top(c, body)
    filters = el("aside", "side-pane filters", c.kit.heading(4, w.label(c.rng, 1, 1)),
                 *[el("div", "filter", el("label", "", el("input", "", type="checkbox"), " ", w.label(c.rng, 1, 2)))
                   for _ in range(c.n(3, 6))], c.kit.form_field(w.label(c.rng, 1, 1), "number", "0"))
    main = region(el("main", ""), "main", "main")
    m = c.n(2, 4)
    products = [c.kit.card(theme.picture(c.rng, c.theme, 300, 300), el("p", "price", f"${c.n(3, 400)}"),
                           c.kit.button(w.label(c.rng, 1, 1)), title=w.name(c.rng)) for _ in range(m * c.n(1, 3))]
    main.add(section(sec(c, "cards", c.kit.heading(2, w.title(c.rng, 1, 3)), c.kit.grid(products, m)), "cards", "main"))
    if c.chance(0.4):
        main.add(section(PARTS["cta"](c), "cta", "main"))
    columns = [solo_region(filters, "sidebar"), main]
    solo_keys(columns)
    body.add(el("div", c.kit.container, c.kit.split([3, 9], columns)))
    body.add(solo_region(footer(c), "footer"))
    return body


def signin(c: Ctx) -> El:
    body = el("body", "")
    if c.chance(0.6):
        body.add(solo_region(navbar(c), "navbar"))
    form = el("form", "", c.kit.form_field(w.label(c.rng, 1, 1), "email", "name@example.com"),
              c.kit.form_field(w.label(c.rng, 1, 1), "password"), c.kit.button(w.label(c.rng)),
              el("p", "", el("a", "", w.label(c.rng, 2, 3), href="#")))
    box = el("div", "center-box", c.kit.card(form, title=w.title(c.rng, 1, 3)))
    main = region(el("main", ""), "main", "main")
    main.add(section(sec(c, "signup", box), "signup", "main"))
    body.add(main)
    body.add(solo_region(footer(c), "footer"))
    return body


def error_page(c: Ctx) -> El:
    body = el("body", "")
    body.add(solo_region(navbar(c), "navbar"))
    main = region(el("main", ""), "main", "main")
    main.add(section(sec(c, "hero", el("div", "center-box", c.kit.heading(1, str(c.rng.choice(["404", "500", "403"]))),
                                       el("p", "", w.sentence(c.rng)), c.kit.button(w.label(c.rng)))), "hero", "main"))
    body.add(main)
    body.add(solo_region(footer(c), "footer"))
    return body


LAYOUTS: dict[str, Callable[[Ctx], El]] = {
    "landing": landing, "docs": docs, "dashboard": dashboard, "blog": blog_page, "shop": shop, "signin": signin,
    "error": error_page,
}

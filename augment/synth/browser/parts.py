"""The named parts of a page, one builder per section type: what goes inside a hero, a pricing table...

`PARTS` maps a section type of `shards.tokens.SECTION_TYPES` to its builder; each returns the
``section`` element, with a class of `shards.tokens.TYPE_CLASSES` naming its type (one of the
type's synonyms, drawn), holding the framework's components (`kits.Kit`). The layouts
(`layouts.py`) mark it as a section of its region. Every choice is the page's RNG's.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from shards.tokens.vocab import TYPE_CLASSES

from . import theme
from . import words as w
from .kits import Kit
from .markup import El, el


@dataclass
class Ctx:
    """What every builder draws with: the page's RNG, framework kit, theme and icon set."""

    rng: np.random.Generator
    kit: Kit
    theme: dict

    def icon(self) -> El:
        return theme.ICONS[self.theme["icons"]](int(self.rng.integers(18)))

    def n(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


def type_class(c: Ctx, type_: str) -> str:
    """A class naming `type_`: its preferred name mostly, else one of its synonyms."""
    names = TYPE_CLASSES[type_]
    return names[0] if c.chance(0.6) else names[int(c.rng.integers(len(names)))]


def sec(c: Ctx, type_: str, *kids: El | None, tag: str = "section") -> El:
    """A section of `type_`: its type class, its container, its kids."""
    return el(tag, type_class(c, type_), el("div", c.kit.container, *kids))


def head(c: Ctx, level: int = 2, lead: bool = True) -> list[El | None]:
    return [c.kit.heading(level, w.title(c.rng)), el("p", c.kit.subtitle, w.sentence(c.rng)) if lead else None]


def hero(c: Ctx) -> El:
    text = [c.kit.heading(1, w.title(c.rng, 3, 6)), el("p", "lead " + c.kit.subtitle, w.paragraph(c.rng, 1, 2)),
            el("div", "hero-actions", c.kit.button(w.label(c.rng), icon=c.icon() if c.chance(0.4) else None), " ",
               c.kit.button(w.label(c.rng), alt=True))]
    if c.chance(0.5):
        return sec(c, "hero", c.kit.grid([el("div", "", *text), theme.picture(c.rng, c.theme)]))
    return sec(c, "hero", el("div", "center-box", *text))


def features(c: Ctx) -> El:
    m = c.n(2, 4)
    tiles = [el("div", "", el("div", "icon-tile", c.icon()), c.kit.heading(3, w.title(c.rng, 1, 3)),
                el("p", "", w.sentence(c.rng))) for _ in range(m * c.n(1, 2))]
    return sec(c, "features", *head(c), c.kit.grid(tiles, m))


def pricing(c: Ctx) -> El:
    m = c.n(2, 4)
    cards = []
    for i in range(m):
        items = el("ul", "", *[el("li", "", w.label(c.rng, 2, 3)) for _ in range(c.n(3, 5))])
        cards.append(c.kit.card(el("p", "price", f"${5 + 10 * i * c.n(1, 3)}"), items,
                                c.kit.button(w.label(c.rng), alt=i != m // 2), title=w.label(c.rng, 1, 1)))
    return sec(c, "pricing", *head(c), c.kit.grid(cards, m))


def testimonials(c: Ctx) -> El:
    m = c.n(2, 3)
    quotes = [c.kit.card(el("blockquote", "", w.sentence(c.rng)), theme.avatar(c.rng),
                         el("p", "", el("strong", "", w.name(c.rng)))) for _ in range(m)]
    return sec(c, "testimonials", *head(c, lead=False), c.kit.grid(quotes, m))


def cta(c: Ctx) -> El:
    return sec(c, "cta", el("div", "center-box", c.kit.heading(2, w.title(c.rng, 3, 6)), el("p", "", w.sentence(c.rng)),
                            c.kit.button(w.label(c.rng), icon=c.icon() if c.chance(0.5) else None)))


def stats(c: Ctx) -> El:
    m = c.n(3, 4)
    tiles = [c.kit.card(el("p", "stat-value", f"{c.n(2, 990)}{c.rng.choice(['', 'k', '%', '+'])}"),
                        el("p", "", w.label(c.rng, 1, 3))) for _ in range(m)]
    return sec(c, "stats", c.kit.grid(tiles, m))


def logos(c: Ctx) -> El:
    row = el("div", "logo-row", *[theme.logo_mark(c.rng, c.theme, w.words(c.rng, 1, 1)[0].capitalize())
                                  for _ in range(c.n(4, 6))])
    return sec(c, "logos", el("p", "center-box", w.sentence(c.rng)), row)


def team(c: Ctx) -> El:
    m = c.n(3, 4)
    people = [el("div", "", theme.avatar(c.rng), c.kit.heading(4, w.name(c.rng)), el("p", "", w.label(c.rng, 1, 2)))
              for _ in range(m)]
    return sec(c, "team", *head(c), c.kit.grid(people, m))


def gallery(c: Ctx) -> El:
    m = c.n(2, 4)
    return sec(c, "gallery", *head(c, lead=False),
               c.kit.grid([theme.picture(c.rng, c.theme, 400, 300) for _ in range(m * c.n(1, 2))], m))


def faq(c: Ctx) -> El:
    items = []
    for _ in range(c.n(3, 5)):
        items += [c.kit.heading(4, w.title(c.rng, 3, 7) + "?"), el("p", "", w.paragraph(c.rng, 1, 2))]
    return sec(c, "faq", c.kit.heading(2, w.title(c.rng)), *items)


def blog(c: Ctx) -> El:
    m = c.n(2, 3)
    posts = [c.kit.card(theme.picture(c.rng, c.theme, 400, 220), c.kit.badge_el(w.label(c.rng, 1, 1)),
                        el("p", "", w.sentence(c.rng)), el("a", "", w.label(c.rng), href="#"),
                        title=w.title(c.rng, 3, 6)) for _ in range(m)]
    return sec(c, "blog", *head(c, lead=False), c.kit.grid(posts, m))


def signup(c: Ctx) -> El:
    form = el("form", "", c.kit.form_field(w.label(c.rng, 1, 1), "email", "name@example.com"),
              c.kit.button(w.label(c.rng)))
    return sec(c, "signup", el("div", "center-box", c.kit.heading(2, w.title(c.rng)), el("p", "", w.sentence(c.rng)),
                               form))


def contact(c: Ctx) -> El:
    form = el("form", "", c.kit.form_field(w.label(c.rng, 1, 1)), c.kit.form_field(w.label(c.rng, 1, 1), "email"),
              c.kit.form_field(w.label(c.rng, 1, 1), "textarea"), c.kit.button(w.label(c.rng)))
    return sec(c, "contact", c.kit.grid([el("div", "", *head(c)), form]))


def table(c: Ctx) -> El:
    cols = [w.label(c.rng, 1, 1) for _ in range(c.n(3, 5))]
    rows = [[w.name(c.rng)] + [_cell(c) for _ in cols[1:]] for _ in range(c.n(4, 9))]
    return sec(c, "table", c.kit.heading(3, w.title(c.rng)), c.kit.data_table(cols, rows))


def _cell(c: Ctx) -> str | El:
    r = c.rng.random()
    if r < 0.2:
        return c.kit.badge_el(w.label(c.rng, 1, 1))
    return f"{c.n(1, 9999):,}" if r < 0.6 else w.label(c.rng, 1, 2)


def cards(c: Ctx) -> El:
    m = c.n(2, 4)
    items = [c.kit.card(el("p", "", w.sentence(c.rng)), c.kit.button(w.label(c.rng), alt=True),
                        title=w.title(c.rng, 1, 3)) for _ in range(m)]
    return sec(c, "cards", *head(c, lead=False), c.kit.grid(items, m))


PARTS: dict[str, Callable[[Ctx], El]] = {
    "hero": hero, "features": features, "pricing": pricing, "testimonials": testimonials, "cta": cta,
    "stats": stats, "logos": logos, "team": team, "gallery": gallery, "faq": faq, "blog": blog, "signup": signup,
    "contact": contact, "table": table, "cards": cards,
}

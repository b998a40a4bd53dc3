"""Section builders for the synthetic pages: one function per section kind, and their parts.

Each `b_<kind>` turns a `Ctx` (the page's class vocabulary plus this section's colours and
RNG) into the factories of one section's content; small factories (H, P, A, BTN, IMG, ...)
build the recurring elements. They live apart from `augment.synth.page` so that the page
assembler stays about choosing and placing sections, and this module about what one
section looks like. Builders draw from `c.rng` in a fixed order: same seed, same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .kit import BORDER, HEAD_SCALE, HREF, KIT, MUTED, PRIMARIES, WHITE, WORDS
from .layout import Color, Factory, block, button, columns, hidden, inline, stack, text

@dataclass
class Ctx:
    """What a section builder needs: the page's vocabulary and this section's colours."""

    rng: np.random.Generator
    kit: str
    btn_cls: str
    bars: bool
    tag: str = "section"
    bg: Color = WHITE
    ink: Color = (33, 37, 41)
    muted: Color = MUTED
    btn: Color = PRIMARIES[0]
    btn_ink: Color = WHITE

    def k(self, key: str, n: int = 3) -> list[str]:
        """Kit classes for a role, e.g. ``col-md-4`` or ``flex flex-col``."""
        value = self.btn_cls if key == "btn" else KIT[self.kit][key].format(n=n)
        return value.split()

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


# ---------------------------------------------------------------- small element helpers

def words(c: Ctx, lo: int, hi: int) -> str:
    s = " ".join(c.pick(WORDS) for _ in range(int(c.rng.integers(lo, hi + 1))))
    return s[:1].upper() + s[1:]


def title(c: Ctx, lo: int, hi: int) -> str:
    return " ".join(w.capitalize() for w in words(c, lo, hi).split())


def H(c: Ctx, tag: str, lo: int = 2, hi: int = 5) -> Factory:
    return text(tag, title(c, lo, hi), scale=HEAD_SCALE[tag], ink=c.ink, cls=c.k("head"))


def P(c: Ctx, lo: int = 10, hi: int = 28, cls: tuple = (), small: bool = False) -> Factory:
    return text("p", words(c, lo, hi), scale=0.45 if small else 0.5, ink=c.muted,
                glyphs=small or not c.bars, cls=cls)


def A(c: Ctx, label: str | None = None, scale: float = 0.5, cls: tuple = (), kids=()) -> Factory:
    return text("a", label or title(c, 1, 2), scale=scale, ink=c.ink, cls=cls, inline=True,
                attrs=HREF, kids=kids)


def BTN(c: Ctx, label: str | None = None, tag: str = "a") -> Factory:
    attrs = HREF if tag == "a" else {"type": "submit" if c.chance(0.5) else "button"}
    kids = [hidden("span", "(opens form)", ["sr-only"])] if c.chance(0.08) else ()
    return button(tag, label or title(c, 1, 2), color=c.btn, ink=c.btn_ink, cls=c.k("btn"),
                  attrs=attrs, kids=kids)


def IMG(c: Ctx, h: int, width: int | None = None, cls: tuple = ()) -> Factory:
    c0 = tuple(int(v) for v in c.rng.integers(70, 230, 3))
    c1 = tuple(255 - v for v in c0)
    name = c.pick(WORDS)
    return block("img", h, paint="image", color=c0, ink=c1, cls=cls, width=width,
                 attrs={"src": f"img/{name}.jpg", "alt": name})


def INPUT(c: Ctx, placeholder: str, width: int | None = None, tag: str = "input", h: int = 40) -> Factory:
    attrs = {"type": "email" if "mail" in placeholder.lower() else "text", "placeholder": placeholder}
    if tag == "textarea":
        attrs = {"rows": "4", "placeholder": placeholder}
    return block(tag, h, paint="input", color=WHITE, ink=(206, 212, 218), cls=c.k("input"),
                 attrs=attrs, width=width, label=placeholder)


def UL(c: Ctx, n: int, links: bool = False, gap: int = 6) -> Factory:
    items = [stack("li", [A(c)]) if links else text("li", words(c, 2, 6), scale=0.5, ink=c.muted)
             for _ in range(n)]
    return stack("ul", items, cls=c.k("list"), gap=gap)


def row(c: Ctx, cells: list[Factory], cols: int, gap: int = 32) -> Factory:
    """A grid row; the Bootstrap kit wraps each cell in its own ``col-md-N`` div."""
    if c.kit == "bs":
        cells = [stack("div", [cell], cls=c.k("col", 12 // cols)) for cell in cells]
    return columns("div", cells, cols=cols, cls=c.k("row", cols), gap=gap)


def card(c: Ctx, parts: list[Factory], top: list[Factory] = (), pad: int = 20) -> Factory:
    body = stack("div", parts, cls=c.k("body"), pad=(pad,) * 4, gap=12)
    return stack("div", [*top, body], cls=c.k("card"), paint="card", color=WHITE, ink=BORDER)


def center(c: Ctx, items: list[Factory], gap: int = 20) -> Factory:
    return stack("div", items, cls=c.k("center"), align="center", gap=gap)


def email_form(c: Ctx, width: int = 300) -> Factory:
    return inline("form", [INPUT(c, "Email address", width=width), BTN(c, "Subscribe", "button")],
                  gap=8, attrs={"action": "#"})


def table(c: Ctx, ncols: int, nrows: int) -> Factory:
    def tr(tag: str, first: str) -> Factory:
        cells = [text(tag, first if i == 0 else title(c, 1, 2), scale=0.5, ink=c.ink, cell=8)
                 for i in range(ncols)]
        return columns("tr", cells, cols=ncols, gap=0)
    head = stack("thead", [tr("th", "Plan")])
    body = stack("tbody", [tr("td", title(c, 1, 2)) for _ in range(nrows)])
    return stack("table", [head, body], cls=c.k("table"), paint="border", ink=BORDER)


# ---------------------------------------------------------------- section builders

def b_nav(c: Ctx) -> list[Factory]:
    brand = A(c, title(c, 1, 2), 0.8, ("navbar-brand",)) if c.chance(0.6) else IMG(c, 36, 120, ("logo",))
    sr = [hidden("span", "(current)", ["sr-only"])] if c.chance(0.3) else ()
    links = [stack("li", [A(c, cls=tuple(c.k("navlink")), kids=sr if i == 0 else ())], cls=c.k("navli"))
             for i in range(int(c.rng.integers(3, 7)))]
    items = [brand, inline("ul", links, cls=c.k("navul"), gap=28)]
    extra = c.pick(("btn", "button", "form", "none", "btn"))
    if extra in ("btn", "button"):
        label = c.pick(("Sign up", "Get started", "Log in"))
        items.append(BTN(c, label, "a" if extra == "btn" else "button"))
    elif extra == "form":
        items.append(inline("form", [INPUT(c, "Search", 180), BTN(c, "Go", "button")], gap=8))
    if c.tag == "header" and c.chance(0.5):
        return [inline("nav", items, cls=["navbar"] + c.k("nav")[1:], justify="between")]
    return [inline("div", items, cls=c.k("nav")[1:], justify="between")]


def b_hero(c: Ctx) -> list[Factory]:
    head = [P(c, 2, 4, small=True)] if c.chance(0.2) else []
    head += [H(c, "h1", 3, 7), P(c, 15, 35, tuple(c.k("lead")))]
    act = c.pick(("two", "one", "form", "none", "two"))
    if act == "two":
        head.append(inline("div", [BTN(c), BTN(c)], gap=12))
    elif act == "one":
        head.append(BTN(c, tag=c.pick(("a", "a", "button"))))
    elif act == "form":
        head.append(email_form(c))
    if c.chance(0.45):
        text_col = stack("div", head, cls=c.k("col", 6), gap=20)
        return [columns("div", [text_col, stack("div", [IMG(c, 340)], cls=c.k("col", 6))],
                        cols=2, cls=c.k("row", 2), gap=48)]
    return [center(c, head)]


def b_features(c: Ctx) -> list[Factory]:
    n = c.pick((3, 4, 6))
    # every feature has its icon: without one a feature grid paints what an FAQ paints
    link, htag = c.chance(0.35), c.pick(("h3", "h4"))
    cells = [stack("div", [IMG(c, 56, 56, ("icon",)), H(c, htag, 2, 4), P(c, 10, 22)]
                   + ([A(c, "Learn more")] if link else []), gap=12) for _ in range(n)]
    head = [H(c, "h2")] + ([P(c, 10, 25)] if c.chance(0.6) else [])
    return head + [row(c, cells, 4 if n == 4 else 3)]


def b_cards(c: Ctx) -> list[Factory]:
    n, img, act = c.pick((3, 3, 4, 6)), c.chance(0.75), c.pick(("btn", "link", "none"))
    htag = c.pick(("h3", "h4"))

    def one() -> Factory:
        parts = [H(c, htag, 2, 4), P(c, 10, 20)]
        parts += [BTN(c, "Read more")] if act == "btn" else [A(c, "Read more")] if act == "link" else []
        return card(c, parts, [IMG(c, 180)] if img else [])
    head = [H(c, "h2")] if c.chance(0.8) else []
    return head + [row(c, [one() for _ in range(n)], 4 if n == 4 else 3, gap=24)]


def b_pricing(c: Ctx) -> list[Factory]:
    head = [H(c, "h2", 2, 4)] + ([P(c, 8, 16)] if c.chance(0.5) else [])
    if c.chance(0.3):
        return head + [table(c, 4, int(c.rng.integers(4, 8))), BTN(c, "Choose a plan")]
    # the price is painted large, so it is a heading (a `p` drawn large would be text that
    # looks like a heading: a label with no pixel trace)
    price_tag, btn_tag, n = c.pick(("h3", "h4", "h2")), c.pick(("a", "button")), c.pick((2, 3, 3, 4))

    def plan() -> Factory:
        price = text(price_tag, f"${int(c.rng.integers(5, 99))}/mo", scale=HEAD_SCALE[price_tag],
                     ink=c.btn if c.bg != c.btn else c.ink, cls=("price",))  # in the accent colour
        features = UL(c, int(c.rng.integers(3, 7)))
        return card(c, [H(c, "h3", 1, 2), price, features, BTN(c, tag=btn_tag)], pad=24)
    return head + [row(c, [plan() for _ in range(n)], n, gap=24)]


def b_testimonials(c: Ctx) -> list[Factory]:
    variant, n = c.pick(("quote", "figure", "card")), c.pick((2, 3))

    def one() -> Factory:
        quote = stack("blockquote", [P(c, 15, 30)], paint="quote", color=c.btn, pad=(0, 0, 0, 16))
        name = text("p", title(c, 2, 2), scale=0.5, ink=c.ink, cls=("author",))
        if variant == "quote":
            return stack("div", [quote, name], gap=10)
        if variant == "figure":
            return stack("figure", [quote, text("figcaption", title(c, 2, 2), scale=0.5, ink=c.ink)], gap=10)
        return card(c, [IMG(c, 64, 64, ("avatar", "rounded-circle")), P(c, 15, 30), H(c, "h4", 2, 2)])
    head = [H(c, "h2", 2, 4)] if c.chance(0.85) else []
    return head + [row(c, [one() for _ in range(n)], n)]


def b_gallery(c: Ctx) -> list[Factory]:
    n, variant = c.pick((4, 6, 8)), c.pick(("figure", "img", "link"))
    cols, h = (4 if n in (4, 8) else 3), c.pick((160, 200, 240))

    def one() -> Factory:
        if variant == "figure":
            caption = text("figcaption", title(c, 1, 3), scale=0.45, ink=c.muted)
            return stack("figure", [IMG(c, h), caption], gap=6)
        return IMG(c, h) if variant == "img" else stack("a", [IMG(c, h)], attrs=HREF)
    head = ([H(c, "h2")] if c.chance(0.7) else []) + ([P(c, 8, 18)] if c.chance(0.4) else [])
    return head + [row(c, [one() for _ in range(n)], cols, gap=16)]


def b_cta(c: Ctx) -> list[Factory]:
    items = [H(c, c.pick(("h2", "h3")), 3, 6)] + ([P(c, 10, 20)] if c.chance(0.6) else [])
    # buttons only: an email form would paint a signup section
    items.append(BTN(c) if c.chance(0.5) else inline("div", [BTN(c), BTN(c)], gap=12))
    return [center(c, items)] if c.chance(0.6) else items


def b_contact(c: Ctx) -> list[Factory]:
    labels = c.chance(0.5)

    def field(ph: str, tag: str = "input", h: int = 40) -> Factory:
        box = INPUT(c, ph, tag=tag, h=h)
        return stack("div", [text("label", ph, scale=0.45, ink=c.ink, inline=True), box],
                     cls=c.k("group"), gap=6) if labels else box
    fields = [field("Your name"), field("Email address")] + ([field("Company")] if c.chance(0.4) else [])
    fields += [field("Message", "textarea", 120), BTN(c, "Send message", "button")]
    form = stack("form", fields, gap=14, attrs={"action": "#", "method": "post"})
    if c.chance(0.5):
        side = stack("div", [H(c, "h4", 1, 3), P(c, 6, 14), UL(c, 3)], gap=12)
        main = stack("div", [H(c, "h2", 2, 4), P(c, 10, 20), form], gap=16)
        return [columns("div", [main, side], cols=2, cls=c.k("row", 2), gap=48)]
    return [H(c, "h2", 2, 4), P(c, 10, 20), stack("div", [form], max_w=640)]


def b_signup(c: Ctx) -> list[Factory]:
    items = [H(c, c.pick(("h2", "h3")), 2, 5)] + ([P(c, 8, 18)] if c.chance(0.7) else [])
    items.append(email_form(c, 320))
    return [center(c, items, 16)] if c.chance(0.5) else items


def b_stats(c: Ctx) -> list[Factory]:
    tag = c.pick(("h2", "h3"))
    ink = c.btn if c.bg != c.btn else c.ink
    figures = [c.pick(("12k", "99%", "4.9", "250+", "24/7", "3x", "1M")) for _ in range(4)]
    cells = [stack("div", [text(tag, f, scale=HEAD_SCALE[tag], ink=ink), P(c, 2, 5, small=True)], gap=6)
             for f in figures]
    return ([H(c, "h2")] if c.chance(0.4) else []) + [row(c, cells, 4)]


def b_team(c: Ctx) -> list[Factory]:
    avatar, social, n = c.chance(0.5), c.chance(0.3), c.pick((3, 4))

    def one() -> Factory:
        img = IMG(c, 96, 96, ("avatar", "rounded-circle")) if avatar else IMG(c, 220)
        parts = [img, H(c, "h4", 2, 2), text("p", title(c, 1, 2), scale=0.45, ink=c.muted)]
        return stack("div", parts + ([UL(c, 3, links=True)] if social else []), gap=8)
    head = [H(c, "h2", 2, 4)] + ([P(c, 10, 20)] if c.chance(0.5) else [])
    return head + [row(c, [one() for _ in range(n)], n)]


def b_faq(c: Ctx) -> list[Factory]:
    n, variant = int(c.rng.integers(3, 7)), c.pick(("pairs", "list", "two"))
    if variant == "list":
        items = [stack("li", [H(c, "h4", 3, 6), P(c, 10, 25)], gap=6) for _ in range(n)]
        return [H(c, "h2", 2, 4), stack("ul", items, cls=c.k("list"), gap=18)]
    pairs = [stack("div", [H(c, c.pick(("h3", "h4")), 3, 6), P(c, 10, 25)], gap=6) for _ in range(n)]
    body = columns("div", pairs, cols=2, gap=32) if variant == "two" else stack("div", pairs, gap=18)
    return [H(c, "h2", 2, 4), body]


def b_logos(c: Ctx) -> list[Factory]:
    n = int(c.rng.integers(4, 7))
    logos = [IMG(c, 48, 130, ("logo",)) for _ in range(n)]
    strip = (inline("ul", [stack("li", [lg]) for lg in logos], justify="between", cls=c.k("list"))
             if c.chance(0.4) else inline("div", logos, justify="between"))
    return ([P(c, 3, 6, small=True)] if c.chance(0.7) else []) + [strip]


def b_footer(c: Ctx) -> list[Factory]:
    variant = c.pick(("cols", "simple", "brand"))
    copy = text("p", f"(c) 2024 {title(c, 1, 2)}. All rights reserved.", scale=0.45, ink=c.muted,
                inline=variant == "simple")
    if variant == "simple":
        return [inline("div", [copy, inline("ul", [stack("li", [A(c)]) for _ in range(4)], gap=20)],
                       justify="between")]
    cols = [stack("div", [H(c, c.pick(("h4", "h4", "h3")), 1, 2), UL(c, int(c.rng.integers(3, 6)), True)],
                  gap=12) for _ in range(c.pick((2, 3)))]
    if variant == "brand":
        cols = [stack("div", [A(c, title(c, 1, 2), 0.8), P(c, 8, 16)], gap=12)] + cols
        cols.append(stack("div", [H(c, "h4", 1, 2), email_form(c, 200)], gap=12))
    return [row(c, cols, len(cols)), copy]


def b_blog(c: Ctx) -> list[Factory]:
    parts = [H(c, "h2", 3, 7), P(c, 4, 8, small=True)]
    if c.chance(0.7):
        parts.append(IMG(c, c.pick((280, 360))))
    parts += [P(c, 30, 60) for _ in range(int(c.rng.integers(1, 4)))]
    return parts + ([A(c, "Continue reading")] if c.chance(0.4) else [])


def b_table(c: Ctx) -> list[Factory]:
    intro = [H(c, "h2", 2, 4)] + ([P(c, 10, 22)] if c.chance(0.6) else [])
    return intro + [table(c, int(c.rng.integers(3, 6)), int(c.rng.integers(3, 8)))]


BUILDERS: dict[str, Callable[[Ctx], list[Factory]]] = {
    "navbar": b_nav, "hero": b_hero, "features": b_features, "cards": b_cards, "pricing": b_pricing,
    "testimonials": b_testimonials, "gallery": b_gallery, "cta": b_cta, "contact": b_contact,
    "signup": b_signup, "stats": b_stats, "team": b_team, "faq": b_faq, "logos": b_logos,
    "footer": b_footer, "blog": b_blog, "table": b_table,
}

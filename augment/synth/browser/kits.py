"""Each CSS framework's own component markup: the classes its navbars, grids, cards, buttons, forms,
tables, badges and side menus are written with.

`KITS` maps a framework name of `frameworks.toml` to its `Kit`; the layouts (`parts`,
`layouts`) build every component through one, so the same page grammar comes out as
Bootstrap, Bulma, Foundation, UIkit, Pico, Spectre or Pure markup. Where a framework has no
such component (Pico's badge, Pure's card) the kit uses plain elements the framework's base
styles still draw, plus the page's own small stylesheet (`theme.py`).
"""
from __future__ import annotations

from dataclasses import dataclass

from .markup import El, el

UIKIT_WIDTHS = {2: "1-6", 3: "1-4", 4: "1-3", 5: "1-3", 6: "1-2", 7: "2-3", 8: "2-3", 9: "3-4", 10: "5-6", 12: "1-1"}


@dataclass(frozen=True)
class Kit:
    """Class names of one framework's components ({n}: columns of 12; {k}/{m}: a fraction)."""

    name: str
    container: str
    row: str
    col: str  # one column of a row of `m` equal columns: {n} = 12 // m, {m}
    span: str  # a column `n` twelfths wide
    btn: str
    btn_alt: str
    card_cls: str
    card_body: str
    card_title: str
    table: str
    badge: str
    field: str
    label: str
    input: str
    nav: str
    brand: str
    nav_list: str
    nav_item: str
    nav_link: str
    side: str
    side_item: str
    side_link: str
    title: str = ""  # a page or section heading (Bulma resets h1-h6 and styles `.title`)
    subtitle: str = ""
    primary: str = ".btn-primary"  # CSS selector of the primary button (the theme recolours it)
    row_style: str = ""  # inline style a row needs (a framework with no grid: Pico)

    def _fill(self, template: str, n: int) -> str:
        return template.replace("{n}", str(n)).replace("{p}", str(2 * n)).replace("{u}", UIKIT_WIDTHS.get(n, "1-2"))

    def _row(self, m: int, columns: str) -> El:
        style = {"style": self.row_style.replace("{cols}", columns)} if self.row_style else {}
        return el("div", self.row.replace("{m}", str(m)), **style)

    def grid(self, kids: list[El], m: int | None = None) -> El:
        """A row of equal columns, `m` to a row on wide screens (default: one row of all `kids`)."""
        m = m or len(kids)
        row = self._row(m, f"repeat({m},minmax(0,1fr))")
        cls = self._fill(self.col, 12 // m)
        for kid in kids:
            row.add(el("div", cls, kid))
        return row

    def split(self, spans: list[int], kids: list[El]) -> El:
        """A row of columns `spans` twelfths wide (1-column on phones); each kid IS its column
        (its class gets the column's), so a landmark kid is the column's own box."""
        row = self._row(len(spans), " ".join(f"minmax(0,{n}fr)" for n in spans))
        # no negative margins (the columns stay off the regions around), no stretched column content (UIkit's match)
        row.cls = f"{row.cls.replace('uk-grid-match', '')} page-cols".replace("  ", " ")
        for n, kid in zip(spans, kids):
            kid.cls = f"{self._fill(self.span, n)} {kid.cls}".strip()
            row.add(kid)
        return row

    def button(self, text: str, alt: bool = False, icon: El | None = None) -> El:
        cls = self.btn_alt if alt else self.btn
        if self.name == "pico":
            return el("a", cls, icon, " " if icon else "", text, href="#", role="button")
        return el("a", cls, icon, " " if icon else "", text, href="#")

    def heading(self, level: int, text: str, sub: bool = False) -> El:
        cls = self.subtitle if sub else self.title
        if cls and "{s}" in cls:
            cls = cls.replace("{s}", str(min(level + 1, 6)))
        return el(f"h{level}", cls, text)

    def card(self, *kids: El | str | None, title: str | None = None, header: El | None = None) -> El:
        head = el("h5" if self.name != "uikit" else "h3", self.card_title, title) if title else None
        if self.name == "pico":
            return el("article", self.card_cls, header, head, *kids)
        body = el("div", self.card_body, head, *kids) if self.card_body else None
        if body is None:
            return el("div", self.card_cls, header, head, *kids)
        return el("div", self.card_cls, header, body)

    def badge_el(self, text: str) -> El:
        return el("mark" if self.name == "pico" else "span", self.badge, text)

    def form_field(self, label: str, kind: str = "text", placeholder: str = "") -> El:
        control = (el("textarea", self.input.replace("input", "textarea") if self.name == "bulma" else self.input,
                      placeholder=placeholder, rows="3") if kind == "textarea"
                   else el("input", self.input, type=kind, placeholder=placeholder))
        if self.name == "bulma":
            return el("div", self.field, el("label", self.label, label), el("div", "control", control))
        return el("div", self.field, el("label", self.label, label), control)

    def data_table(self, head: list[str], rows: list[list[str | El]]) -> El:
        table = el("table", self.table, el("thead", "", el("tr", "", *[el("th", "", h) for h in head])),
                   el("tbody", "", *[el("tr", "", *[el("td", "", c) for c in r]) for r in rows]))
        return el("div", "table-wrap", table)

    def navbar(self, brand: El, links: list[str], end: El | None = None) -> El:
        """The framework's top navigation bar (a ``nav`` element: the navbar region)."""
        items = [el("li", self.nav_item, el("a", self.nav_link, t, href="#")) for t in links]
        if self.name == "pico":
            inner = el("div", "container", el("nav", "", el("ul", "", el("li", "", brand)),
                                              el("ul", "", *items, el("li", "", end) if end else None)))
            return el("nav", "navbar", inner)
        if self.name == "bulma":
            menu = el("div", "navbar-menu is-active", el("div", "navbar-start",
                                                          *[el("a", "navbar-item", t, href="#") for t in links]),
                      el("div", "navbar-end", el("div", "navbar-item", end) if end else None))
            return el("nav", self.nav, el("div", "container", el("div", "navbar-brand", brand), menu))
        bar = el("div", f"{self.container} nav-inner", brand, el("ul", self.nav_list, *items),
                 el("div", "nav-end", end) if end else None)
        return el("nav", self.nav, bar)

    def side_menu(self, groups: list[tuple[str, list[str]]], active: int = 0) -> list[El]:
        """A vertical menu under group captions (the contents of a sidebar)."""
        out: list[El] = []
        n = 0
        for caption, links in groups:
            out.append(el("p", "menu-caption", caption))
            items = []
            for t in links:
                cls = self.side_link + (" active is-active uk-active" if n == active else "")
                items.append(el("li", self.side_item, el("a", cls, t, href="#")))
                n += 1
            out.append(el("ul", self.side, *items))
        return out


KITS: dict[str, Kit] = {
    "bootstrap": Kit("bootstrap", "container", "row g-4", "col-12 col-md-{n}", "col-12 col-md-{n}",
                     "btn btn-primary", "btn btn-outline-secondary", "card h-100", "card-body", "card-title",
                     "table table-striped", "badge text-bg-primary", "mb-3", "form-label", "form-control",
                     "navbar navbar-expand bg-body-tertiary", "navbar-brand", "navbar-nav me-auto", "nav-item",
                     "nav-link", "nav flex-column", "nav-item", "nav-link", title="", subtitle="text-body-secondary"),
    "bulma": Kit("bulma", "container", "columns is-multiline", "column is-{n}-tablet", "column is-{n}-tablet",
                 "button is-primary", "button is-light", "card", "card-content", "title is-5",
                 "table is-striped is-fullwidth", "tag is-info", "field", "label", "input",
                 "navbar", "navbar-item has-text-weight-bold", "", "", "", "menu-list", "", "",
                 title="title is-{s}", subtitle="subtitle", primary=".button.is-primary"),
    "foundation": Kit("foundation", "grid-container", "grid-x grid-margin-x", "cell small-12 medium-{n}",
                      "cell small-12 medium-{n}", "button", "button hollow", "card", "card-section", "",
                      "hover", "label primary", "", "", "", "top-bar", "menu-text", "menu", "", "",
                      "vertical menu", "", "", primary=".button:not(.hollow)"),
    "uikit": Kit("uikit", "uk-container", "uk-grid uk-grid-match uk-child-width-1-{m}@m", "", "uk-width-{u}@m",
                 "uk-button uk-button-primary", "uk-button uk-button-default", "uk-card uk-card-default",
                 "uk-card-body", "uk-card-title", "uk-table uk-table-divider uk-table-striped", "uk-label",
                 "uk-margin", "uk-form-label", "uk-input", "uk-navbar-container", "uk-logo", "uk-navbar-nav", "",
                 "", "uk-nav uk-nav-default", "", "", primary=".uk-button-primary"),
    "pico": Kit("pico", "container", "grid-row", "", "", "", "secondary outline", "", "", "", "striped", "",
                "", "", "", "", "", "", "", "", "side-list", "", "", primary="[role=button]:not(.outline)",
                row_style="--cols:{cols}"),
    "spectre": Kit("spectre", "container grid-xl", "columns", "column col-{n} col-md-12", "column col-{n} col-md-12",
                   "btn btn-primary", "btn", "card", "card-body", "card-title h5", "table table-striped",
                   "label label-primary", "form-group", "form-label", "form-input", "navbar", "navbar-brand",
                   "navbar-section", "", "btn btn-link", "nav", "nav-item", "", primary=".btn-primary"),
    "pure": Kit("pure", "wrap", "pure-g", "pure-u-1 pure-u-md-{p}-24 cell", "pure-u-1 pure-u-md-{p}-24 cell",
                "pure-button pure-button-primary", "pure-button", "card", "", "", "pure-table pure-table-striped",
                "badge", "field", "", "pure-input-1", "pure-menu pure-menu-horizontal", "pure-menu-heading",
                "pure-menu-list", "pure-menu-item", "pure-menu-link", "pure-menu-list", "pure-menu-item",
                "pure-menu-link", primary=".pure-button-primary"),
}

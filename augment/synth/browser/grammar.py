"""One page of the grammar: the seeded choices (layout, framework, width, theme) and the HTML they give.

`page_spec(seed, i, ...)` is a pure function of (seed, i) and the options: the page's numpy
Generator is ``default_rng([seed, i])``, passed explicitly to every choice, so the same
seed gives the same bytes and any page can be made again alone. It returns the page's
HTML (linking the staged framework, icon and font stylesheets by paths relative to the
stage, `assets.stage_assets`) and its truth by construction (`markup.render_body`), with the
grammar's choices under ``"page"``.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

import numpy as np

from . import words as w
from .assets import Assets
from .kits import KITS
from .layouts import LAYOUTS
from .markup import render_body
from .parts import Ctx
from .theme import ICONS, choose_theme, page_css

WIDTH = 1280
# phone to wide desktop: what `--width phone-wide` (or a range A-B) draws from
WIDTHS = (390, 414, 768, 1024, 1280, 1366, 1440, 1600)


@dataclass(frozen=True)
class PageSpec:
    """A page to render: its id, HTML, truth and group (framework-layout)."""

    source_id: str
    html: str
    truth: dict
    width: int
    group: str


def families(assets: Assets) -> dict[str, str]:
    """Font name -> its CSS font-family value with its generic fallback."""
    return {p.name: f"'{p.family}',{p.generic}" for p in assets.packages if p.role == "font"}


def _layout(rng: np.random.Generator, layouts: tuple[str, ...]) -> str:
    return str(rng.choice(list(layouts)))  # the page's first draw (layout_of repeats it)


def layout_of(seed: int, i: int, layouts: tuple[str, ...]) -> str:
    """The layout page `i` of `seed` gets, without making the page."""
    return _layout(np.random.default_rng([seed, i]), layouts)


def page_spec(seed: int, i: int, assets: Assets, layouts: tuple[str, ...], widths: tuple[int, ...],
              prefix: str = "web") -> PageSpec:
    """Page `i` of `seed` (see the module docstring)."""
    rng = np.random.default_rng([seed, i])
    layout = _layout(rng, layouts)
    framework = str(rng.choice(assets.names("framework")))
    width = int(rng.choice(list(widths)))
    icon_sets = [n for n in assets.names("icons") if n in ICONS]
    theme = choose_theme(rng, assets.names("font"), icon_sets)
    kit = KITS[framework]
    body, truth = render_body(LAYOUTS[layout](Ctx(rng, kit, theme)))
    links = [*assets.hrefs[framework], *assets.hrefs[theme["icons"]], "assets/fonts.css"]
    head = "".join(f'<link rel="stylesheet" href="../{h}">' for h in links)
    title = escape(w.title(rng, 1, 4))
    doc = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>{head}'
           f"<style>{page_css(theme, kit, families(assets))}</style></head>{body}</html>\n")
    truth["page"] = {"layout": layout, "framework": framework, "width": width, "theme": theme, "seed": seed,
                     "index": i}
    return PageSpec(f"{prefix}-{i:05d}", doc, truth, width, f"{framework}-{layout}")


def parse_widths(text: str) -> tuple[int, ...]:
    """``1280``, ``390,1280,1600``, ``390-1600`` (its ends and the `WIDTHS` between) or ``all`` (every one of
    `WIDTHS`) -> the widths a page draws from; ValueError naming the problem."""
    text = text.strip()
    if text == "all":
        return WIDTHS
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            if lo > hi:
                raise ValueError(f"the range runs from {lo} down to {hi}")
            return tuple(sorted({lo, hi, *(x for x in WIDTHS if lo <= x <= hi)}))
        return tuple(int(x) for x in text.split(","))
    except ValueError as e:
        raise ValueError(str(e) if "range" in str(e) else "not a whole number of pixels") from None

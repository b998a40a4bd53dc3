"""Synthetic source pairs: (screenshot, HTML, boxes) triples with exact ground truth.

Real crawled pairs are scarce and their boxes are only as good as the crawler; synthetic
pages let tests, demos and benchmarks run with no data at all, and their boxes are exact
because the screenshot is painted from the same layout tree that the HTML is written from
(see `augment.synth.layout`). Pages are section-based landing pages in one of two class
vocabularies (Bootstrap-like or Tailwind-like), varied enough to give a realistic spread
of section tokens. Everything is drawn from the RNG passed in: same seed, same bytes.

This module holds the generator's entry points (`synth_page`, `write_synth`, exported by
`augment.synth`), page assembly (the look, which sections, their colours and wrappers,
fitting the height) and file writing; what goes inside each section is built in
`augment.synth.sections`.

**Groups.** A page's *family* is three of its look's draws: the class kit (bs | tw), the
primary colour (8) and the second light background of alternating sections (grey | tint |
white): 48 families, named like `bs-blue-tint`, about 10 pages each in 500 (4-21 at seed
0, median 10). Pages of a family share their class vocabulary and grid markup, the colour
of every button, price, icon and primary-coloured band, and the background rhythm of their
sections; they differ in text style (bars or glyphs), the dark shade, button classes and
the sections drawn (which sections a page has is drawn independently of its look, so a
family shares no section-order tendency). `write_synth` writes each page's family to
`groups.json` (`augment.groups`); the family is read from draws the page makes anyway, so
the pages' bytes do not depend on it.

**Looks that mean different things** (`shared_looks`, `augment synth --shared-looks`). At 0,
the default, every section type is painted by its own builder in every group. At S > 0 a
group (family) draws, from its name and the seed alone, round(S x 14) of the middle types and
paints them in a cycle of each other's looks: in one group `pricing` is painted with the
features builder and `features` with the gallery's, in another `pricing` looks like a team
grid. The markup still names the true type (the label); only pixels move. A page alone then
no longer says which type a look is; the group's other pages do (few-shot,
`benchmarks.label_ceiling --few-shot`). Within a group the mapping is one to one.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from shards.storage.atomic import dumps_json, write_bytes
from shards.tokens import TYPE_CLASSES

from ..groups import write_groups
from .kit import KIT, PRIMARIES, PRIMARY_NAMES, WHITE, WORDS
from .layout import Color, Factory, Node, block, collect_boxes, emit_html, stack
from .raster import rasterize
from .sections import BUILDERS, Ctx

WIDTH = 1280
MAX_HEIGHT = 4000
MIN_HEIGHT = 1800
# Fixed encoder settings, so the same pixels give the same bytes. The SUB filter (OpenCV
# >= 4.11) is ~2.5x faster than adaptive filtering on these flat-colour pages.
PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3] + (
    [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB] if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])
DARKS = ((33, 37, 41), (17, 24, 39), (30, 41, 59))
LIGHT_NAMES = ("grey", "tint", "white")  # the second light of `new_look`, in draw order
TW_BUTTONS = ("btn px-4 py-2 rounded text-white", "button inline-block px-6 py-3 rounded-lg",
              "inline-flex px-5 py-3 rounded-md bg-blue-600 text-white")
SECTION_TAGS = {  # type -> candidate tags; any tag the same pixels (the tag is not in the token)
    "navbar": ("header", "nav", "div"), "hero": ("section", "header", "div"), "footer": ("footer", "div"),
    "cta": ("section", "div", "aside"), "signup": ("section", "div", "aside"),
    "testimonials": ("section", "div", "aside"), "blog": ("article", "section", "div"),
    "table": ("div", "section"), "faq": ("section", "div", "article"),
}
ID_P = 0.2  # share of non-div sections whose type is written as an id instead of a class
MIDDLE = ("features", "cards", "pricing", "testimonials", "gallery", "cta", "contact", "signup",
          "stats", "team", "faq", "logos", "blog", "table")
MIDDLE_P = np.array([12, 10, 8, 8, 7, 9, 6, 5, 6, 6, 6, 6, 5, 4], float) / 98


# ---------------------------------------------------------------- sections and pages

@dataclass
class Look:
    """Page-wide choices: vocabulary, palette, background scheme; `family` names the page's
    group (kit-primary-light, see the module docstring)."""

    kit: str
    btn_cls: str
    bars: bool
    primary: Color
    dark: Color
    lights: tuple[Color, Color]
    family: str
    painted_as: dict[str, str] = field(default_factory=dict)  # type -> the builder painting it (shared looks)


def new_look(rng: np.random.Generator) -> Look:
    kit = "bs" if rng.random() < 0.5 else "tw"
    p = int(rng.integers(len(PRIMARIES)))
    primary = PRIMARIES[p]
    tint = tuple(int(255 - (255 - v) * 0.08) for v in primary)
    light = int(rng.integers(3))
    second = ((248, 249, 250), tint, WHITE)[light]
    btn_cls = KIT["bs"]["btn"] if kit == "bs" else TW_BUTTONS[int(rng.integers(len(TW_BUTTONS)))]
    return Look(kit, btn_cls, bool(rng.random() < 0.7), primary, DARKS[int(rng.integers(len(DARKS)))],
                (WHITE, second), f"{kit}-{PRIMARY_NAMES[p]}-{LIGHT_NAMES[light]}")


def group_looks(family: str, shared: float, seed: int) -> dict[str, str]:
    """type -> the middle type whose builder paints it in group `family` (see the module docstring);
    empty at `shared` 0. Drawn from (seed, family) alone, so every page of a group agrees."""
    if not 0.0 <= shared <= 1.0:
        raise ValueError(f"shared_looks {shared}: must be in 0..1 (0 = every type painted alike everywhere)")
    n = int(round(shared * len(MIDDLE)))
    if n < 2:
        return {}
    rng = np.random.default_rng([seed, 0x100, zlib.crc32(family.encode("utf-8"))])
    cycle = [MIDDLE[int(i)] for i in rng.permutation(len(MIDDLE))[:n]]
    return {kind: cycle[(i + 1) % n] for i, kind in enumerate(cycle)}


def section_ctx(rng: np.random.Generator, look: Look, kind: str, index: int) -> Ctx:
    """Colours per section: alternating lights, dark footers/heroes, primary-coloured CTAs."""
    c = Ctx(rng, look.kit, look.btn_cls, look.bars, btn=look.primary)
    c.tag = c.pick(SECTION_TAGS.get(kind, ("section", "section", "section", "div")))
    mood = c.pick(("dark", "primary", "light")) if kind in ("cta", "footer", "hero") else "light"
    if mood == "primary" and kind != "footer":
        c.bg, c.ink, c.muted, c.btn, c.btn_ink = look.primary, WHITE, (235, 235, 240), WHITE, look.primary
    elif mood in ("dark", "primary"):
        c.bg, c.ink, c.muted = look.dark, (248, 249, 250), (173, 181, 189)
    else:
        c.bg = look.lights[index % 2]
    return c


def type_markup(c: Ctx, kind: str) -> tuple[list[str], dict[str, str]]:
    """(classes, attrs) that record the section's type: a class name of its group in
    `shards.tokens.TYPE_CLASSES` (always on a div, which is a section only through it),
    else sometimes an id naming it. Which name and where is invisible: never in the token."""
    name = c.pick(TYPE_CLASSES[kind])
    if c.tag != "div" and c.chance(ID_P):
        return [], {"id": c.pick((name, f"{name}-section", f"section-{name}"))}
    return [name], {}


def build_section(rng: np.random.Generator, look: Look, kind: str, index: int) -> Factory:
    c = section_ctx(rng, look, kind, index)
    sem, attrs = type_markup(c, kind)
    items = BUILDERS[look.painted_as.get(kind, kind)](c)
    if c.chance(0.1):
        items.append(block("div", 0, cls=("clearfix",)))  # real pages carry zero-height boxes
    pad_y = int(c.rng.integers(12, 21)) if kind == "navbar" else int(c.rng.integers(5, 13)) * 8
    gap = 16 if kind == "navbar" else int(c.rng.integers(2, 5)) * 8
    if c.chance(0.75):
        inner = [stack("div", items, cls=c.k("container"), gap=gap, max_w=1140, pad=(0, 16, 0, 16))]
        return stack(c.tag, inner, cls=sem + c.k("pad"), pad=(pad_y, 0, pad_y, 0), paint="bg", color=c.bg,
                     attrs=attrs)
    return stack(c.tag, items, cls=sem + c.k("pad"), pad=(pad_y, 70, pad_y, 70), gap=gap,
                 paint="bg", color=c.bg, attrs=attrs)


def choose_kinds(rng: np.random.Generator) -> list[str]:
    n = int(rng.integers(3, 11))
    head = ["navbar"] if rng.random() < 0.88 else []
    tail = ["footer"] if rng.random() < 0.88 else []
    hero = ["hero"] if rng.random() < 0.75 else []
    m = max(0, n - len(head) - len(tail) - len(hero))
    if not hero and m == 0:
        m = 1
    rest = rng.choice(len(MIDDLE), size=m, replace=False, p=MIDDLE_P)
    return head + hero + [MIDDLE[int(i)] for i in rest] + tail


def lay_out(sections: list[Factory]) -> list[Node]:
    nodes, y = [], 0
    for f in sections:
        nodes.append(f(0, y, WIDTH))
        y += nodes[-1].box[3]
    return nodes


def fit_height(rng: np.random.Generator, look: Look, kinds: list[str], secs: list[Factory]) -> list[Node]:
    """Drop middle sections past MAX_HEIGHT, add some below MIN_HEIGHT (3..10 sections)."""
    nodes = lay_out(secs)
    while sum(n.box[3] for n in nodes) > MAX_HEIGHT and len(secs) > 3:
        i = len(secs) - (2 if kinds[-1] == "footer" else 1)
        del secs[i], kinds[i]
        nodes = lay_out(secs)
    while sum(n.box[3] for n in nodes) < MIN_HEIGHT and len(secs) < 10:
        unused = [k for k in MIDDLE if k not in kinds]
        i = len(secs) - (1 if kinds[-1] == "footer" else 0)
        kind = unused[int(rng.integers(len(unused)))]
        kinds.insert(i, kind)
        secs.insert(i, build_section(rng, look, kind, i))
        nodes = lay_out(secs)
    return nodes


def assemble(rng: np.random.Generator, kinds: list[str], nodes: list[Node], page_title: str) -> Node:
    """Body children: sections, sometimes the middle ones inside <main>, then a script."""
    height = nodes[-1].box[1] + nodes[-1].box[3]
    lo = 1 if kinds[0] == "navbar" else 0
    hi = len(nodes) - (1 if kinds[-1] == "footer" else 0)
    kids = list(nodes)
    if hi - lo >= 2 and rng.random() < 0.3:
        top, bottom = nodes[lo].box[1], nodes[hi - 1].box[1] + nodes[hi - 1].box[3]
        main = Node("main", children=nodes[lo:hi], box=(0, top, WIDTH, bottom - top))
        kids = nodes[:lo] + [main] + nodes[hi:]
    kids.append(Node("script", text="window.dataLayer = window.dataLayer || [];"))
    head = Node("head", children=[Node("meta", attrs={"charset": "utf-8"}), Node("title", text=page_title)])
    body = Node("body", children=kids, box=(0, 0, WIDTH, height))
    return Node("html", attrs={"lang": "en"}, children=[head, body], box=(0, 0, WIDTH, height))


@dataclass
class SynthLayout:
    """One laid-out page before painting: the tree, its sections as (type, node), its look."""

    root: Node
    sections: list[tuple[str, Node]]
    look: Look

    @property
    def size(self) -> tuple[int, int]:
        return WIDTH, self.root.box[3]


def synth_layout(source_id: str, rng: np.random.Generator, shared_looks: float = 0.0, seed: int = 0) -> SynthLayout:
    """The layout tree of one synthetic page (what `synth_page` paints and writes); `shared_looks`
    and `seed` draw its group's looks (module docstring; 0 = today's pages, seed unused)."""
    look = new_look(rng)
    look.painted_as = group_looks(look.family, shared_looks, seed)
    kinds = choose_kinds(rng)
    secs = [build_section(rng, look, k, i) for i, k in enumerate(kinds)]
    nodes = fit_height(rng, look, kinds, secs)
    page_title = " ".join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), 3)).title()
    root = assemble(rng, kinds, nodes, f"{page_title} | {source_id}")
    return SynthLayout(root, list(zip(kinds, nodes)), look)


def layout_html(layout: SynthLayout) -> str:
    parts: list[str] = ["<!DOCTYPE html>\n"]
    emit_html(layout.root, parts)
    return "".join(parts) + "\n"


def synth_page(source_id: str, rng: np.random.Generator) -> tuple[np.ndarray, str, dict]:
    """One synthetic page: (RGB uint8 screenshot, HTML document, boxes dict).

    The boxes dict has the source-pair layout ({"viewport": [w, h], "elements": [...]});
    every boxed element's xpath is what lxml's `getpath` gives for the returned HTML.
    """
    return _paint(synth_layout(source_id, rng))


def _paint(layout: SynthLayout) -> tuple[np.ndarray, str, dict]:
    width, height = layout.size
    boxes = {"viewport": [width, height], "elements": collect_boxes(layout.root)}
    return rasterize(layout.root, width, height), layout_html(layout), boxes


def write_synth(out: str | Path, count: int, seed: int, progress: bool = True,
                shared_looks: float = 0.0) -> list[Path]:
    """Write `count` source pairs (page-00000.png/.html/.boxes.json, ...) into `out`, and
    each page's family into `out/groups.json` (merged over one already there). `shared_looks`:
    how many of a group's types are painted in another type's look (module docstring).

    Page i depends only on (seed, i), so any subset can be regenerated identically. Each
    file is written atomically; the PNG goes last so a complete pair is never half there,
    and groups.json after every page. Returns the PNG paths, one per page, in order.
    """
    group_looks("", shared_looks, seed)  # a bad value is said before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, families = [], {}
    for i in tqdm(range(count), desc="synth", disable=not progress):
        sid = f"page-{i:05d}"
        layout = synth_layout(sid, np.random.default_rng([seed, i]), shared_looks, seed)
        img, html, boxes = _paint(layout)
        families[sid] = layout.look.family
        ok, png = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), PNG_PARAMS)
        if not ok:
            raise RuntimeError(f"PNG encoding failed for {sid}")
        write_bytes(out / f"{sid}.boxes.json", dumps_json(boxes).encode("utf-8"))
        write_bytes(out / f"{sid}.html", html.encode("utf-8"))
        write_bytes(out / f"{sid}.png", png.tobytes())
        written.append(out / f"{sid}.png")
    write_groups(out, families)
    return written

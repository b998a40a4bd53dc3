"""The look of one page beyond its framework: theme variables, the page's own stylesheet, icons and
images drawn locally.

`choose_theme` draws the per-page variables (accent colour, radius, spacing, font, base size,
hero style) that multiply each framework's looks; `page_css` turns them into the page's
``<style>`` (the framework's primary button recoloured, radii and spacing set, and the few
layout rules a framework lacks). Images are SVG written here and inlined as ``data:`` URIs:
gradients with shapes for pictures, initials-free avatars, logo marks, bar and line charts.
`ICONS` maps an icon font of the manifest to its markup; nothing is fetched at render time.
"""
from __future__ import annotations

import base64
import colorsys

import numpy as np

from .kits import Kit
from .markup import El, el

ICON_NAMES = {  # the same icons in both sets, in the same order
    "bootstrap-icons": ("lightning", "shield-check", "graph-up", "cloud", "people", "gear", "star", "heart",
                        "chat", "bell", "lock", "globe", "speedometer2", "box", "cart", "search", "house",
                        "envelope"),
    "fontawesome": ("bolt", "shield-halved", "chart-line", "cloud", "users", "gear", "star", "heart", "comment",
                    "bell", "lock", "globe", "gauge", "box", "cart-shopping", "magnifying-glass", "house",
                    "envelope"),
}
ICONS = {
    "bootstrap-icons": lambda i: el("i", f"bi bi-{ICON_NAMES['bootstrap-icons'][i % 18]}"),
    "fontawesome": lambda i: el("i", f"fa-solid fa-{ICON_NAMES['fontawesome'][i % 18]}"),
}


def _hex(h: float, s: float, v: float) -> str:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def choose_theme(rng: np.random.Generator, fonts: list[str], icons: list[str]) -> dict:
    """The page's theme variables (recorded under the truth's "page")."""
    hue = float(rng.random())
    return {"accent": _hex(hue, 0.55 + 0.35 * rng.random(), 0.55 + 0.35 * rng.random()),
            "accent2": _hex(hue + 0.08 + 0.3 * rng.random(), 0.5, 0.85),
            "radius": int(rng.choice([0, 2, 4, 6, 8, 12, 16])), "space": float(rng.choice([0.75, 1.0, 1.25, 1.5])),
            "font": str(rng.choice(fonts)), "heading_font": str(rng.choice(fonts)),
            "size": int(rng.choice([14, 15, 16, 17])), "hero": str(rng.choice(["plain", "gradient", "dark"])),
            "icons": str(rng.choice(icons)), "tint": _hex(hue, 0.04 + 0.04 * rng.random(), 0.99)}


def page_css(t: dict, kit: Kit, families: dict[str, str]) -> str:
    """The page's own stylesheet: theme variables over the framework, and layout rules it lacks."""
    font, head = families[t["font"]], families[t["heading_font"]]
    hero = {"plain": "background:var(--tint)",
            "gradient": f"background:linear-gradient(135deg,{t['accent']},{t['accent2']});color:#fff",
            "dark": "background:#1d2330;color:#f3f4f6"}[t["hero"]]
    return f""":root{{--accent:{t['accent']};--accent2:{t['accent2']};--radius:{t['radius']}px;--space:{t['space']}rem;
--tint:{t['tint']};--bs-body-font-family:{font};--pico-font-family:{font};--bulma-family-primary:{font}}}
html{{font-size:{t['size']}px}}
body{{font-family:{font};margin:0;overflow-wrap:anywhere}}
h1,h2,h3,h4,h5,.title{{font-family:{head}}}
img{{max-width:100%;height:auto;display:block}}
{kit.primary}{{background:var(--accent)!important;border-color:var(--accent)!important;color:#fff!important}}
a:not([class]){{color:var(--accent)}}
.card,.uk-card,article,input,textarea,.btn,.button,.uk-button,.pure-button,[role=button]{{border-radius:var(--radius)}}
main>section,.page-part{{padding:calc(var(--space)*2.5) 0}}
.hero{{{hero};padding:calc(var(--space)*4) 0!important}}
.hero h1,.hero p,.hero .title,.hero .subtitle{{color:inherit}}
.cta{{background:var(--tint)}}
.table-wrap{{overflow-x:auto;max-width:100%}}
.nav-inner{{display:flex;align-items:center;gap:1rem;flex-wrap:wrap;padding-top:.5rem;padding-bottom:.5rem}}
.nav-inner>ul{{display:flex;gap:.75rem;list-style:none;margin:0;padding:0;flex-wrap:wrap}}
.nav-inner>ul>li{{list-style:none}}
.nav-end{{margin-left:auto}}
.wrap{{max-width:1140px;margin:0 auto;padding:0 1rem}}
.page-cols{{margin:0!important}}
.grid-row{{display:grid;gap:1.5rem;grid-template-columns:minmax(0,1fr)}}
@media (min-width:768px){{.grid-row{{grid-template-columns:var(--cols)}}}}
.pure-g>.cell{{box-sizing:border-box;padding:.75rem}}
.card:not([class*=" "]){{border:1px solid #d0d4da;padding:1rem;background:#fff}}
.badge:not([class*=" "]){{display:inline-block;padding:.1rem .5rem;background:var(--accent);color:#fff;font-size:.8em}}
.side-pane{{padding:calc(var(--space)*1.5) 1rem;box-sizing:border-box}}
.side-pane ul{{list-style:none;padding-left:0}}
.menu-caption{{font-size:.75rem;text-transform:uppercase;letter-spacing:.05em;opacity:.7;margin:1rem 0 .25rem}}
.icon-tile{{font-size:1.75rem;color:var(--accent);margin-bottom:.5rem}}
.stat-value{{font-size:2rem;font-weight:700;margin:0}}
.price{{font-size:2.25rem;font-weight:700;color:var(--accent)}}
.avatar{{width:64px;height:64px;border-radius:50%}}
.logo-row{{display:flex;flex-wrap:wrap;gap:2rem;align-items:center;justify-content:center}}
.dash-side{{background:#1f2937;color:#e5e7eb;min-height:100vh}}
.dash-side a,.dash-side strong,.dash-side p{{color:#e5e7eb}}
.site-foot{{background:#f3f4f6;padding:calc(var(--space)*2) 0;margin-top:0}}
.center-box{{max-width:28rem;margin:0 auto}}
pre{{background:#f5f6f8;padding:.75rem;overflow-x:auto}}
"""


def _svg_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def picture(rng: np.random.Generator, t: dict, w: int = 640, h: int = 400) -> El:
    """A picture: a gradient with a few shapes, as an ``img``."""
    shapes = []
    for _ in range(int(rng.integers(2, 6))):
        x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(h // 10, h // 3)
        op = 0.15 + 0.5 * rng.random()
        shapes.append(f'<circle cx="{x}" cy="{y}" r="{r}" fill="#fff" fill-opacity="{op:.2f}"/>'
                      if rng.random() < 0.6 else
                      f'<rect x="{x}" y="{y}" width="{2 * r}" height="{r}" rx="{r // 6}" fill="#000" '
                      f'fill-opacity="{op / 3:.2f}"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
           f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{t["accent"]}"/>'
           f'<stop offset="1" stop-color="{t["accent2"]}"/></linearGradient></defs>'
           f'<rect width="{w}" height="{h}" fill="url(#g)"/>{"".join(shapes)}</svg>')
    return el("img", "", src=_svg_uri(svg), alt="", width=str(w), height=str(h))


def avatar(rng: np.random.Generator) -> El:
    a, b = _hex(float(rng.random()), 0.4, 0.8), _hex(float(rng.random()), 0.5, 0.6)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" '
           f'fill="{a}"/><circle cx="32" cy="26" r="12" fill="{b}"/><ellipse cx="32" cy="60" rx="22" ry="16" '
           f'fill="{b}"/></svg>')
    return el("img", "avatar", src=_svg_uri(svg), alt="", width="64", height="64")


def logo_mark(rng: np.random.Generator, t: dict, word: str) -> El:
    """A client logo: a shape and a word, grey."""
    shape = ('<circle cx="14" cy="16" r="10"/>' if rng.random() < 0.5 else '<rect x="4" y="6" width="20" '
             'height="20" rx="4"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="140" height="32"><g fill="#8a8f98">{shape}'
           f'<text x="32" y="22" font-family="sans-serif" font-size="16" font-weight="700">{word[:10]}</text>'
           f'</g></svg>')
    return el("img", "", src=_svg_uri(svg), alt=word, width="140", height="32")


def chart(rng: np.random.Generator, t: dict, w: int = 560, h: int = 240) -> El:
    """A bar or line chart with axes and grid lines, as an ``img``."""
    n = int(rng.integers(6, 14))
    vals = np.cumsum(rng.normal(0, 1, n)) + 6
    vals = (vals - vals.min() + 1) / (vals.max() - vals.min() + 1)
    parts = [f'<line x1="40" y1="{y}" x2="{w - 10}" y2="{y}" stroke="#e5e7eb"/>' for y in range(20, h - 20, 40)]
    step = (w - 60) / n
    if rng.random() < 0.5:
        parts += [f'<rect x="{44 + i * step:.1f}" y="{h - 24 - v * (h - 50):.1f}" width="{step * 0.6:.1f}" '
                  f'height="{v * (h - 50):.1f}" fill="{t["accent"]}"/>' for i, v in enumerate(vals)]
    else:
        pts = " ".join(f"{44 + i * step:.1f},{h - 24 - v * (h - 50):.1f}" for i, v in enumerate(vals))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{t["accent"]}" stroke-width="3"/>')
    parts.append(f'<line x1="40" y1="{h - 20}" x2="{w - 10}" y2="{h - 20}" stroke="#9ca3af"/>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"><rect width="{w}" height="{h}" '
           f'fill="#fff"/>{"".join(parts)}</svg>')
    return el("img", "", src=_svg_uri(svg), alt="", width=str(w), height=str(h))

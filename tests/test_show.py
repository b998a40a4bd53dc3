"""Contact sheets for real pages: column strips for tall pages, numbered sections, a legend, capped outlines."""
from __future__ import annotations

import numpy as np

from shards.views.show import (GAP, MAX_OUTLINES, STRIP_HEIGHT, TITLE_H, draw_cell, draw_sample, largest_elements,
                               legend_lines, strip_layout, to_strips, token_colour)


def _page(h: int = 4000, n_elements: int = 600) -> tuple[np.ndarray, dict]:
    """A 1280 x h page with `n_elements` small elements and three sections (one without a box)."""
    image = np.full((h, 1280, 3), 250, np.uint8)
    image[:200] = (40, 40, 40)  # a dark header band
    els = []
    for i in range(n_elements):
        x, y, w, hh = (i * 37) % 1200, 220 + (i * 53) % (h - 300), 20 + i % 50, 10 + i % 20
        els.append({"xpath": f"/html/body/div/p[{i + 1}]", "box": [x, y, w, hh],
                    "quad": [[x, y], [x + w, y], [x + w, y + hh], [x, y + hh]]})
    els.append({"xpath": "/html/body/header", "box": [0, 0, 1280, 200],
                "quad": [[0, 0], [1280, 0], [1280, 200], [0, 200]]})
    sections = [{"token": "header@a.logo@nav", "box": [0, 0, 1280, 200], "xpath": "/html/body/header"},
                {"token": "section.features@h2@h3@p", "box": [0, 1500, 1280, 900], "xpath": "/html/body/section"},
                {"token": "footer@p", "box": None, "xpath": "/html/body/footer"}]
    return image, {"source": "tall", "variant": 0, "size": [1280, h], "elements": els, "sections": sections,
                   "ops": [], "__key__": "tall_v00"}


def test_strip_layout_balances_columns_under_the_limit():
    assert strip_layout(300, 900) == [(0, 300)]
    assert strip_layout(1500, 900) == [(0, 750), (750, 1500)]
    cols = strip_layout(2701, 900)
    assert len(cols) == 4 and cols[0][0] == 0 and cols[-1][1] == 2701
    assert all(b - a <= 900 for a, b in cols) and all(cols[i][1] == cols[i + 1][0] for i in range(3))


def test_a_tall_page_becomes_readable_columns_not_a_thumbnail():
    image, meta = _page(4000)
    drawn = draw_sample(image, meta, width=480)
    assert drawn.shape[:2] == (1500, 480)  # scaled by width, not squeezed into a row height
    strips = to_strips(drawn, STRIP_HEIGHT)
    assert strips.shape[0] == 750 and strips.shape[1] == 2 * 480 + GAP + 1
    cell = draw_cell((image, {**meta, "variant": 3}), (image, meta))
    assert cell.shape[0] == TITLE_H + 750 + GAP


def test_small_images_are_not_enlarged():
    image, meta = _page(600, 5)
    assert draw_sample(image[:, :300], meta, width=480).shape[1] == 300


def test_outlines_are_capped_to_the_largest_elements():
    _, meta = _page(4000, 600)
    chosen = largest_elements(meta["elements"], MAX_OUTLINES)
    assert len(chosen) == MAX_OUTLINES and chosen[0]["xpath"] == "/html/body/header"
    areas = [e["box"][2] * e["box"][3] for e in chosen]
    rest = [e["box"][2] * e["box"][3] for e in meta["elements"] if e not in chosen]
    assert areas == sorted(areas, reverse=True) and min(areas) >= max(rest)


def test_sections_get_numbered_tags_in_their_colour_and_a_legend():
    image, meta = _page(4000, 0)
    drawn = draw_sample(image, meta, width=480)
    colour = token_colour("section.features@h2@h3@p")
    y = round(1500 * 480 / 1280)
    tag = drawn[y + 2: y + 20, 2:20].reshape(-1, 3)
    assert (tag == colour).all(axis=1).sum() > 50  # the filled tag of section 2
    lines = legend_lines(meta, "source v00")
    assert [t for t, _ in lines] == ["source v00: 3 sections", " 1 header@a.logo@nav",
                                     " 2 section.features@h2@h3@p", " 3 footer@p  (no box)"]
    assert lines[2][1] == colour and token_colour("footer@p") == token_colour("footer@p")

"""The two levels of labels (issue 35): regions tile the page, sections tile their region, docs
are cut at their headings. Checked on every committed real page and on hand-made ones."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from shards.pairs.files import read_members
from shards.pairs.folder import discover
from shards.pairs.pages import true_labels
from shards.tokens import REGION_TYPES, SECTION_TYPES, derive_labels
from shards.tokens.htmlparse import parse_html
from shards.tokens.records import inter_area

REAL = Path(__file__).parent / "data" / "real"


def _labels(pair):
    image, html, boxes = read_members(pair, 1 << 31)
    root = parse_html(html, pair.source_id)
    _, regions, sections = true_labels(root, boxes, (int(image.shape[1]), int(image.shape[0])))
    return regions, sections, (int(image.shape[1]), int(image.shape[0]))


def _inside(inner: list[float], outer: list[float], tol: float = 0.5) -> bool:
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol
            and inner[0] + inner[2] <= outer[0] + outer[2] + tol and inner[1] + inner[3] <= outer[1] + outer[3] + tol)


def test_no_overlap_within_a_level_on_every_committed_real_page():
    pairs, _ = discover(REAL)
    assert len(pairs) >= 30
    for pair in pairs:
        regions, sections, size = _labels(pair)
        assert regions and sections, pair.source_id
        assert all(r["type"] in REGION_TYPES for r in regions)
        assert all(s["type"] in SECTION_TYPES for s in sections)
        for a, b in combinations(regions, 2):
            assert inter_area(a["box"], b["box"]) < 1.0, (pair.source_id, a, b)
        for i, r in enumerate(regions):
            mine = [s for s in sections if s["region"] == i]
            assert mine, (pair.source_id, "a region without a section", r)
            for s in mine:
                assert _inside(s["box"], r["box"]), (pair.source_id, s, r)
            for a, b in combinations(mine, 2):
                assert inter_area(a["box"], b["box"]) < 1.0, (pair.source_id, a, b)
            if r["type"] != "main":
                assert len(mine) == 1, (pair.source_id, "a furniture region is one section", mine)


def _doc(headings: list[tuple[str, int]], intro: bool = False) -> tuple[str, dict[str, list[float]]]:
    """A docs page: a top bar, a left nav and an article with `headings` (tag, px of text under it;
    0: none)."""
    body, boxes, y = [], {}, 80.0
    paths = {"/html/body/header": [0, 0, 1280, 60], "/html/body/nav": [0, 60, 280, 1500],
             "/html/body/main": [300, 60, 960, 0]}
    counts: dict[str, int] = {}
    html_main = []
    p_count = 0
    if intro:
        p_count += 1
        html_main.append("<p>Intro text of the page.</p>")
        boxes[f"/html/body/main/p[{p_count}]"] = [300, y, 900, 60]
        y += 80
    for tag, text in headings:
        counts[tag] = counts.get(tag, 0) + 1
        boxes[f"/html/body/main/{tag}[{counts[tag]}]"] = [300, y, 900, 36]
        if text:
            html_main.append(f"<{tag}>Heading</{tag}><p>Some text under it.</p>")
            p_count += 1
            boxes[f"/html/body/main/p[{p_count}]"] = [300, y + 46, 900, text]
        else:
            html_main.append(f"<{tag}>Heading</{tag}>")
        y += 46 + text + 24
    paths["/html/body/main"] = [300, 60, 960, y - 60]
    boxes.update(paths)
    body.append("<header><a href='/'>Home</a><a href='/docs'>Docs</a></header>")
    body.append("<nav><a href='#a'>A</a><a href='#b'>B</a></nav>")
    body.append("<main>" + "".join(html_main) + "</main>")
    return "<html><body>" + "".join(body) + "</body></html>", boxes


def _main_parts(html: str, boxes: dict) -> list:
    labels = derive_labels(html, boxes, (1280, max(b[1] + b[3] for b in boxes.values())))
    main = [i for i, r in enumerate(labels.regions) if r.type == "main"]
    assert len(main) == 1, labels.regions
    return [s for s in labels.sections if s.region == main[0]]


def test_docs_are_cut_at_their_h2s_each_part_holding_its_heading():
    html, boxes = _doc([("h1", 0), ("h2", 200), ("h3", 80), ("h2", 150), ("h2", 300)])
    parts = _main_parts(html, boxes)
    h2_tops = [boxes[f"/html/body/main/h2[{i}]"][1] for i in (1, 2, 3)]
    assert len(parts) == 3  # the title joins the first h2's part: no title strip
    assert [p.box[1] for p in parts[1:]] == h2_tops[1:]
    assert all(p.type == "main" and p.children[0] == "heading" for p in parts)
    for a, b in zip(parts, parts[1:]):
        assert a.box[1] + a.box[3] == pytest.approx(b.box[1])  # the parts tile the region


def test_docs_without_h2_are_cut_at_their_h3s_and_an_intro_is_a_part():
    html, boxes = _doc([("h1", 30), ("h3", 120), ("h3", 120), ("h3", 120)], intro=True)
    parts = _main_parts(html, boxes)
    assert len(parts) == 4  # the intro with text (title, paragraph), then one part per h3
    assert [p.box[1] for p in parts[1:]] == [boxes[f"/html/body/main/h3[{i}]"][1] for i in (1, 2, 3)]


def test_docs_with_no_heading_level_of_2_to_12_parts_are_one_part():
    html, boxes = _doc([("h1", 400)])
    assert len(_main_parts(html, boxes)) == 1
    html, boxes = _doc([("h1", 20)] + [("h2", 20)] * 14)  # 14 parts: too fine, and no deeper level
    assert len(_main_parts(html, boxes)) == 1


def test_theme_agreement_counts_pairs_of_themes_and_types_in_page_order():
    from benchmarks.label_agreement import theme_agreement

    r = theme_agreement({"faq": {"a": ["main", "table"], "b": ["main", "table"], "c": ["main"]},
                         "index": {"a": ["main", "main"], "b": ["main", "table"]}})
    assert r["theme_pairs"] == 4
    assert r["count_agreement"] == 0.5  # faq: a-b of 3 pairs; index: its one pair
    assert r["type_agreement"] == 0.75  # faq a-b: 2 of 2; index: 1 of 2
    assert r["pages"]["faq"]["counts"] == {"1": 1, "2": 2}


def test_truth_agreement_on_a_page_whose_truth_is_known(tmp_path):
    import json

    import cv2
    import numpy as np

    from benchmarks.label_agreement import painter_agreement, truth_agreement

    html, boxes = _doc([("h1", 0), ("h2", 200), ("h2", 150)])
    height = int(max(b[1] + b[3] for b in boxes.values()))
    cv2.imwrite(str(tmp_path / "docs.png"), np.full((height, 1280, 3), 255, np.uint8))
    (tmp_path / "docs.html").write_text(html)
    (tmp_path / "docs.boxes.json").write_text(json.dumps(
        {"viewport": [1280, height], "elements": [{"xpath": xp, "box": b} for xp, b in boxes.items()]}))
    main = boxes["/html/body/main"]
    cut = boxes["/html/body/main/h2[2]"][1]
    truth = {"regions": [{"type": "navbar", "xpath": "/html/body/header"},
                         {"type": "sidebar", "xpath": "/html/body/nav"},
                         {"type": "main", "xpath": "/html/body/main"}],
             "sections": [{"type": "navbar", "xpath": "/html/body/header", "region": 0},
                          {"type": "sidebar", "xpath": "/html/body/nav", "region": 1},
                          {"type": "main", "box": [main[0], main[1], main[2], cut - main[1]], "region": 2},
                          {"type": "main", "box": [main[0], cut, main[2], main[1] + main[3] - cut], "region": 2}]}
    (tmp_path / "docs.truth.json").write_text(json.dumps(truth))
    r = truth_agreement(tmp_path)
    assert r["pages"] == 1
    for level in ("regions", "sections"):
        assert r[level]["count"] == 1.0 and r[level]["type"] == 1.0 and r[level]["iou"] > 0.95, (level, r)
    truth["sections"][2]["type"] = "faq"  # a truth the rule does not give is seen
    (tmp_path / "docs.truth.json").write_text(json.dumps(truth))
    assert truth_agreement(tmp_path)["sections"]["type"] == 0.75
    painter = painter_agreement(4, 0)
    assert painter["regions"]["type"] == painter["sections"]["type"] == 1.0


def test_a_part_no_markup_types_is_named_by_what_it_holds():
    html = ("<html><body><nav><a href='/'>Home</a></nav>"
            "<div class='x'><h1>Big claim</h1><p>Lead text</p></div>"
            "<div class='y'><h2>Write to us</h2><form><textarea></textarea></form></div>"
            "<div class='z'><p>Just words</p><p>and more</p></div>"
            "<footer><p>(c)</p></footer></body></html>")
    boxes = {"/html/body/nav": [0, 0, 1280, 60], "/html/body/nav/a": [20, 20, 60, 20],
             "/html/body/div[1]": [0, 60, 1280, 500], "/html/body/div[1]/h1": [100, 100, 600, 60],
             "/html/body/div[1]/p": [100, 180, 600, 30],
             "/html/body/div[2]": [0, 560, 1280, 300], "/html/body/div[2]/h2": [100, 580, 400, 40],
             "/html/body/div[2]/form": [100, 640, 600, 200], "/html/body/div[2]/form/textarea": [100, 640, 600, 150],
             "/html/body/div[3]": [0, 860, 1280, 200], "/html/body/div[3]/p[1]": [100, 880, 600, 30],
             "/html/body/div[3]/p[2]": [100, 920, 600, 30],
             "/html/body/footer": [0, 1060, 1280, 100], "/html/body/footer/p": [100, 1080, 100, 20]}
    labels = derive_labels(html, boxes, (1280, 1160))
    assert [r.type for r in labels.regions] == ["navbar", "main", "footer"]
    assert [s.type for s in labels.sections] == ["navbar", "hero", "form", "other", "footer"]


def test_sections_of_one_region_type_that_touch_make_a_predicted_region():
    import torch

    from train.evaluation.levels import group_regions

    boxes = torch.tensor([[0.5, 0.05, 1.0, 0.1],  # navbar
                          [0.5, 0.3, 1.0, 0.4], [0.5, 0.7, 1.0, 0.4],  # two main sections, touching
                          [0.5, 0.95, 1.0, 0.1]])  # footer
    regions, types = group_regions(boxes, [0, 3, 3, 4])
    assert types == [0, 3, 4]
    assert regions[1].tolist() == pytest.approx([0.5, 0.5, 1.0, 0.8])
    # two main sections far apart are two main regions; a section of another type between them is its own
    _, types = group_regions(torch.tensor([[0.5, 0.1, 1.0, 0.1], [0.5, 0.5, 1.0, 0.1], [0.5, 0.9, 1.0, 0.1]]),
                             [3, 2, 3])
    assert types == [3, 2, 3]

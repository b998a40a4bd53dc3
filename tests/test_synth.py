"""Synthetic source pairs: deterministic bytes, exact boxes, pixels that match the boxes."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import cv2
import lxml.html
import numpy as np
import pytest

from augment.synth import MAX_HEIGHT, WIDTH, synth_page, write_synth
from augment.synth.layout import collect_boxes
from augment.synth.page import layout_html, synth_layout
from augment.synth.signature import section_signatures
from shards.tokens import SECTION_TYPES, derive_sections

N_PAGES = 24
UNBOXED = {"script", "head", "meta", "title"}


def _page(i: int, seed: int = 0):
    return synth_page(f"page-{i:05d}", np.random.default_rng([seed, i]))


@pytest.fixture(scope="module")
def pages():
    return [_page(i) for i in range(N_PAGES)]


def _tree(html: str):
    root = lxml.html.document_fromstring(html)
    return root, root.getroottree()


def _boxes(boxes: dict) -> dict[str, list[int]]:
    return {e["xpath"]: e["box"] for e in boxes["elements"]}


def _section_bg(img: np.ndarray, box: list[int]) -> np.ndarray:
    """The section's background: its top padding strip, which nothing is drawn over."""
    x, y, w, _ = box
    strip = img[y:y + 4, x:x + w].reshape(-1, 3)
    assert (strip == strip[0]).all(), f"section top strip at {box} is not uniform"
    return strip[0]


def test_same_seed_same_bytes_and_different_seed_differs(tmp_path):
    a = write_synth(tmp_path / "a", 3, seed=11, progress=False)
    b = write_synth(tmp_path / "b", 3, seed=11, progress=False)
    c = write_synth(tmp_path / "c", 3, seed=12, progress=False)
    assert [p.name for p in a] == ["page-00000.png", "page-00001.png", "page-00002.png"]
    for pa, pb, pc in zip(a, b, c):
        for suffix in (".png", ".html", ".boxes.json"):
            name = pa.name.replace(".png", suffix)
            assert (pa.parent / name).read_bytes() == (pb.parent / name).read_bytes()
            assert (pa.parent / name).read_bytes() != (pc.parent / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        [f"page-0000{i}{s}" for i in range(3) for s in (".png", ".html", ".boxes.json")] + ["groups.json"])
    assert (tmp_path / "a" / "groups.json").read_bytes() == (tmp_path / "b" / "groups.json").read_bytes()


def test_written_files_agree(tmp_path):
    (png,) = write_synth(tmp_path / "nested" / "out", 1, seed=3, progress=False)
    img = cv2.imread(str(png), cv2.IMREAD_COLOR)
    boxes = json.loads(png.with_name("page-00000.boxes.json").read_text())
    expect, html, expect_boxes = _page(0, seed=3)
    assert boxes == expect_boxes
    assert np.array_equal(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), expect)
    assert png.with_name("page-00000.html").read_text(encoding="utf-8") == html


def test_geometry_and_sizes(pages):
    for img, html, boxes in pages:
        h, w = img.shape[:2]
        assert img.dtype == np.uint8 and img.shape[2] == 3
        assert boxes["viewport"] == [w, h] and w == WIDTH and 1500 <= h <= MAX_HEIGHT
        assert html.startswith("<!DOCTYPE html>") and "<title>" in html
        for e in boxes["elements"]:
            x, y, bw, bh = e["box"]
            assert all(isinstance(v, int) for v in e["box"])
            assert 0 <= x and 0 <= y and bw >= 0 and bh >= 0 and x + bw <= w and y + bh <= h, e


def test_boxes_nest_inside_their_parents(pages):
    for _, _, boxes in pages:
        bx = _boxes(boxes)
        for xp, (x, y, w, h) in bx.items():
            parent = xp.rsplit("/", 1)[0]
            while parent and parent not in bx:
                parent = parent.rsplit("/", 1)[0]
            if parent:
                px, py, pw, ph = bx[parent]
                assert px <= x and py <= y and x + w <= px + pw and y + h <= py + ph, (xp, parent)


def test_xpaths_resolve_and_every_visible_element_is_boxed(pages):
    zero = 0
    for _, html, boxes in pages:
        root, tree = _tree(html)
        bx = _boxes(boxes)
        assert len(bx) == len(boxes["elements"]), "duplicate xpaths"
        for xp in bx:
            found = root.getroottree().xpath(xp)
            assert len(found) == 1 and tree.getpath(found[0]) == xp, xp
            assert found[0].tag == xp.rsplit("/", 1)[-1].split("[")[0]
        for el in root.iter():
            path = tree.getpath(el)
            sr_only = "sr-only" in (el.get("class") or "").split()
            assert (path in bx) != (el.tag in UNBOXED or sr_only), path
        zero += sum(1 for b in bx.values() if b[2] == 0 or b[3] == 0)
    assert zero > 0, "some pages should carry zero-size boxes"
    assert any('class="sr-only"' in html for _, html, _ in pages)


def test_section_count_and_order(pages):
    for _, html, boxes in pages:
        sections = derive_sections(html, _boxes(boxes))
        assert 3 <= len(sections) <= 10
        assert all(s.box is not None for s in sections)
        tops = [s.box[1] for s in sections]
        assert tops == sorted(tops)
        # sections tile the page from top to bottom
        assert tops[0] == 0 and sections[-1].box[1] + sections[-1].box[3] == boxes["viewport"][1]


def test_pixels_match_boxes(pages):
    for img, html, boxes in pages:
        root, tree = _tree(html)
        bx = _boxes(boxes)
        for sec in derive_sections(html, bx):
            bg = _section_bg(img, bx[sec.xpath])
            for el in tree.xpath(sec.xpath)[0].iter():
                x, y, w, h = bx.get(tree.getpath(el), (0, 0, 0, 0))
                if w < 4 or h < 4:
                    continue
                region = img[y:y + h, x:x + w]
                classes = (el.get("class") or "").split()
                if el.tag == "button" or (el.tag == "a" and {"btn", "button"} & set(classes)):
                    assert not (img[y + h // 2, x + 2] == bg).all(), "button fill equals section bg"
                if el.tag == "img" or (el.tag in ("h1", "h2", "h3", "h4", "p", "li") and len(el) == 0):
                    assert region.reshape(-1, 3).std(axis=0).max() > 0, f"{el.tag} box at {x, y} is blank"


def test_distinct_tokens_over_200_pages():
    tokens = set()
    for i in range(200):
        _, html, boxes = _page(i, seed=1)
        tokens.update(s.token for s in derive_sections(html, _boxes(boxes)))
    assert len(tokens) >= 30, sorted(tokens)


def test_both_vocabularies_and_main_wrapper_occur(pages):
    htmls = [html for _, html, _ in pages]
    assert any("col-md-" in h for h in htmls) and any("px-4" in h for h in htmls)
    assert any("<main>" in h for h in htmls)


def _layouts(n: int, seed: int = 0):
    for i in range(n):
        layout = synth_layout(f"page-{i:05d}", np.random.default_rng([seed, i]))
        boxes = {e["xpath"]: e["box"] for e in collect_boxes(layout.root)}
        yield layout, derive_sections(layout_html(layout), boxes, layout.size)


def test_every_painted_section_is_found_as_a_band_with_its_type():
    kinds = set()
    for layout, sections in _layouts(60):
        painted = section_signatures(layout)
        assert {s.xpath: s.type for s in sections} == {xp: kind for xp, (kind, _) in painted.items()}
        assert all(s.box[0] == 0 and s.box[2] == WIDTH for s in sections)  # the band, not an inner container
        kinds |= {s.type for s in sections}
    assert {"table", "blog", "navbar", "footer", "hero"} <= kinds and kinds <= set(SECTION_TYPES)


def test_what_is_painted_decides_the_label():
    """Markup choices with no pixel trace (tag, class or id, a.btn or button, ul or div...)
    never enter the canonical token: one painted signature, one token."""
    tokens: dict[tuple, set[str]] = defaultdict(set)
    raw: dict[tuple, set[str]] = defaultdict(set)
    for layout, sections in _layouts(150, seed=3):
        painted = section_signatures(layout)
        for s in sections:
            tokens[painted[s.xpath]].add(s.token)
            raw[painted[s.xpath]].add(s.raw_token)
    assert {sig: t for sig, t in tokens.items() if len(t) > 1} == {}
    assert sum(len(t) > 1 for t in raw.values()) > 10  # while schema 1's token varies with the markup


def test_the_generator_reads_the_type_tables_of_shards_tokens():
    from augment.synth import page

    src = Path(page.__file__).read_text()
    assert "TYPE_CLASSES" in src and '"jumbotron"' not in src and '"call-to-action"' not in src


def test_shared_looks_paint_a_groups_types_in_each_others_looks_and_keep_the_labels():
    from augment.synth.page import MIDDLE, group_looks

    assert group_looks("bs-blue-tint", 0.0, 0) == {}  # today's generator: every type in its own look
    one = group_looks("bs-blue-tint", 1.0, 0)
    assert sorted(one) == sorted(MIDDLE) and sorted(one.values()) == sorted(MIDDLE)  # one to one
    assert all(kind != look for kind, look in one.items())
    assert one != group_looks("tw-red-grey", 1.0, 0) and one != group_looks("bs-blue-tint", 1.0, 1)
    assert len(group_looks("bs-blue-tint", 0.5, 0)) == 7
    with pytest.raises(ValueError, match="shared_looks"):
        group_looks("bs-blue-tint", 1.5, 0)
    by_group: dict[str, dict] = {}
    for i in range(30):
        layout = synth_layout(f"page-{i:05d}", np.random.default_rng([3, i]), 1.0, 3)
        assert by_group.setdefault(layout.look.family, layout.look.painted_as) == layout.look.painted_as
        html = layout_html(layout)
        boxes = {e["xpath"]: e["box"] for e in collect_boxes(layout.root)}
        painted = section_signatures(layout)
        for s in derive_sections(html, boxes, layout.size):  # the markup still names the true type
            assert painted[s.xpath][0] == s.type
    # and a section's pixels follow the look: the same signature as its builder's own type's
    plain = synth_layout("page-00000", np.random.default_rng([3, 0]), 0.0, 3)
    assert plain.look.painted_as == {}


def test_shared_looks_zero_writes_todays_bytes_and_the_cli_refuses_a_bad_share(tmp_path):
    from augment.cli import main

    write_synth(tmp_path / "a", 3, seed=5, progress=False)
    write_synth(tmp_path / "b", 3, seed=5, progress=False, shared_looks=0.0)
    assert all((tmp_path / "a" / p.name).read_bytes() == p.read_bytes() for p in (tmp_path / "b").iterdir())
    assert main(["synth", "--out", str(tmp_path / "c"), "--count", "2", "--shared-looks", "1.5"]) != 0
    assert not (tmp_path / "c").exists()

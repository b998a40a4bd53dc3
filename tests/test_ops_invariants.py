"""One invariant checker, run over every registered op on random draws of synthetic pages.

For each draw (with each preset's op settings): the output parses, every element in the tree has a row whose quad is
either finite or unlocated, applying the same params twice gives the same bytes, and each
surviving element's recorded box matches the box obtained by pushing a mask of that
element through the op with the same parameters (IoU >= 0.9).
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from augment import functional as F
from augment.config import load_config
from augment.ops import OPS, ORDER, apply_op
from augment.page import Page
from augment.pipeline import difficulty, element_records
from augment.presets import PRESETS
from augment.sources import page_from_arrays
from augment.synth import synth_page
from shards.htmlparse import parse_html
from test_ops_image import xywh

MIN_SIDE = 12  # px: below this, one pixel of interpolation moves IoU by more than 0.1
DRAWS_PER_PAGE = 3


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    out = []
    for i in range(3):
        img, html, boxes = synth_page(f"p{i}", np.random.default_rng([11, i]))
        out.append(page_from_arrays(f"p{i}", img, html, {e["xpath"]: e["box"] for e in boxes["elements"]}))
    return out


def draws(name: str, pages: list[Page], preset: str = "seed"):
    """(page, params) of every draw of op `name` that applied, with the preset's op settings."""
    cfg = load_config(None, preset=preset).ops[name]
    for pi, page in enumerate(pages):
        for seed in range(DRAWS_PER_PAGE):
            params = OPS[name].draw(np.random.default_rng([seed, pi, 7]), page, cfg)
            if params is not None:
                yield page, params


def iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def mask_boxes(page: Page, name: str, params: dict, rows: list[int]) -> dict[int, list | None]:
    """Paint each row's source box into one channel of a black page, apply the op, re-measure."""
    # colours an op paints with (warp border, dropout fill) are the mask's background here
    p = dict(params)
    if "border" in p:
        p["border"] = [0, 0, 0]
    if "colours" in p:
        p["colours"] = [[0, 0, 0] for _ in p["colours"]]
    result = {}
    for start in range(0, len(rows), 3):
        m = page.copy()
        m.image = np.zeros_like(page.image)
        batch = rows[start:start + 3]
        for c, r in enumerate(batch):
            x, y, w, h = np.round(xywh(page.quads[r:r + 1])[0]).astype(int)
            m.image[y:y + h, x:x + w, c] = 255
        OPS[name].apply(m, p)
        for c, r in enumerate(batch):
            ys, xs = np.nonzero(m.image[..., c] > 127)
            result[r] = None if len(xs) == 0 else [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
    return result


def _erased(params: dict) -> np.ndarray:
    return np.asarray(params.get("rects", []), dtype=float).reshape(-1, 4)


def _rows_to_check(src: Page, out: Page, records: list[dict], params: dict) -> dict[int, list]:
    """Surviving source rows with a sizeable recorded box, not touched by an erased region."""
    rows = {out.row(el): rec["box"] for el, rec in zip(out.elements(), records)}
    erased = _erased(params)
    picked = {}
    for r, box in rows.items():
        if r >= len(src.source_xpaths) or box is None or min(box[2], box[3]) < MIN_SIDE:
            continue
        sb = xywh(src.quads[r:r + 1])[0]
        if len(erased) and any(iou(sb, e) > 0 or _overlaps(sb, e) for e in erased):
            continue
        picked[r] = box
    return dict(list(picked.items())[:: max(1, len(picked) // 12)][:12])


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def check_invariants(name: str, src: Page, params: dict) -> None:
    out = src.copy()
    apply_op(out, name, params)
    again = src.copy()
    OPS[name].apply(again, params)
    assert np.array_equal(out.image, again.image) and out.html() == again.html(), f"{name}: not deterministic"
    assert out.image.dtype == np.uint8 and out.image.ndim == 3 and out.image.shape[2] == 3
    parse_html(out.html(), name)
    records, _ = element_records(out)
    assert len(records) == len(list(out.elements()))
    q = out.quads
    assert (np.isnan(q).all(axis=(1, 2)) | np.isfinite(q).all(axis=(1, 2))).all(), f"{name}: half-located quad"
    checks = _rows_to_check(src, out, records, params)
    measured = mask_boxes(src, name, params, list(checks))
    for r, box in checks.items():
        assert measured[r] is not None, f"{name}: row {r} ({src.source_xpaths[r]}) has a box but no pixels"
        assert iou(box, measured[r]) >= 0.9, f"{name}: row {r} recorded {box} vs mask {measured[r]}"


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("name", ORDER)
def test_every_op_keeps_pixels_boxes_and_html_in_agreement(name, preset, pages):
    n = 0
    for page, params in draws(name, pages, preset):
        check_invariants(name, page, params)
        n += 1
    assert n >= 2, f"{name}: fewer than 2 of {3 * DRAWS_PER_PAGE} draws applied; the checker saw too little"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_spatial_homography_maps_source_quads_to_recorded_quads(preset, pages):
    for page, params in draws("spatial", pages, preset):
        out = page.copy()
        apply_op(out, "spatial", params)
        x, y, cw, ch = params["crop"]
        b = xywh(page.quads)
        inside = (b[:, 0] >= x) & (b[:, 1] >= y) & (b[:, 0] + b[:, 2] <= x + cw) & (b[:, 1] + b[:, 3] <= y + ch)
        rows = [out.row(el) for el in out.elements() if inside[out.row(el)]]
        assert rows
        expected = F.transform_points(page.quads[rows], out.homography)
        assert np.allclose(expected, out.quads[rows], equal_nan=True)


def test_clip_quads_matches_a_rasterized_polygon():
    rng = np.random.default_rng(0)
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    quads = rng.uniform(-40, 140, (50, 1, 2)) + rng.uniform(5, 60, (50, 1, 1)) * unit
    h = F.rotation_scale(20, 1.0, (50, 50))
    quads = F.transform_points(quads, h)
    bounds, frac = F.clip_quads(quads, (100, 100))
    import cv2

    for q, b, f in zip(quads, bounds, frac):
        big = np.zeros((1000, 1000), np.uint8)
        cv2.fillPoly(big, [((q + 300) * 2).round().astype(np.int32)], 1)
        full = big.sum() / 4
        inside = big[600:800, 600:800].sum() / 4
        assert abs(f - inside / full) < 0.05
        if inside > 20:
            ys, xs = np.nonzero(big[600:800, 600:800])
            assert abs(xs.min() / 2 - b[0]) <= 1 and abs(ys.min() / 2 - b[1]) <= 1


@pytest.mark.parametrize("name", [n for n in ORDER if hasattr(OPS[n], "difficulty")])
def test_difficulty_hooks_read_recorded_params_only(name, pages):
    seen = 0
    for page, params in draws(name, pages):
        out = page.copy()
        apply_op(out, name, params)
        terms = OPS[name].difficulty(json.loads(json.dumps(out.ops[-1])))  # what a sample records
        assert all(isinstance(t, float) and 0.0 <= t <= 1.0 for t in terms) and 0.0 < sum(terms) <= 1.0
        seen += 1
    assert seen


def test_sample_difficulty_is_unchanged_since_the_ops_own_their_terms():
    """Pinned: the values `pipeline.difficulty` gave when it read every op's params itself
    (commit f4715d8); structure-only ops (here wrapper) add nothing."""
    ops = [{"op": "reorder", "rows": [1, 2]}, {"op": "dropout", "rows": [1, 2, 3, 4]},
           {"op": "spatial", "angle": -7.3, "scale": 1.07, "perspective": [[0, 0], [0.5, 0], [0, 0], [0, 0]],
            "crop": [0, 0, 1100, 2900], "source_size": [1280, 4000]},
           {"op": "photometric", "seed": 1}, {"op": "wrapper", "rows": [3]}]
    got = [difficulty(SimpleNamespace(ops=o), n) for o, n in ((ops, 7), (ops[2:3], 3), ([], 12), (ops, 12))]
    assert got == [0.7144, 0.3244, 0.1, 0.7444]

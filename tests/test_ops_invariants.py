"""One invariant checker, run over every registered op on random draws of synthetic pages.

For each draw (with each preset's op settings): the output parses, every element in the tree has a row whose quad is
either finite or unlocated, applying the same params twice gives the same bytes, and each
surviving element's recorded geometry agrees with a mask of that element pushed through the
op with the same parameters: each edge of the mask's box within `EDGE_TOL` px of the recorded
box (`edge_problems`: the promise in pixels, the same at every size).
"""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from augment import functional as F
from augment.config import load_config
from augment.ops import OPS, ORDER, apply_op
from augment.page import Page, quad_xyxy
from augment.pipeline import difficulty, element_records
from augment.presets import PRESETS
from augment.sources import page_from_arrays
from augment.synth import synth_page
from shards.tokens.htmlparse import parse_html
from test_ops_image import xywh

DRAWS_PER_PAGE = 3
# How far an element's pixels may stray from its recorded geometry, in output pixels; a bound
# (each term is the most one step can move an edge), not a fit:
#   0.5  the checker paints a source box at whole source pixels (edges rounded; synthetic boxes
#        are whole, so 0 here) and no op here enlarges (spatial's scale is 0.10-0.99 on these pages);
#   0.5  the output is read back at whole pixels: a pixel counts when it passes half intensity,
#        i.e. about when its centre is inside;
#   1.0  the area resize then the bilinear warp each blend an edge pixel with its neighbour, and
#        JPEG's 4:2:0 chroma (photometric) halves the resolution of a one-channel mask.
# Measured (issue 24): each box's smallest passing tolerance, stepped by 1/8 px, over boxes of
# every size: spatial 1.125 px (seed) and 0.625 (web), photometric without blur 1.0 (30 draws of
# 6 pages, 2,124-2,160 boxes per op and preset); the other ops 0, whole-pixel moves (10 draws of
# 3 pages, 240-360 boxes). A 500 px element is held to 2 px a side, where the IoU >= 0.9 this
# replaces allowed ~25 (and failed a 13.8 px one over half a pixel of rounding a side).
EDGE_TOL = 2.0


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
            # the edges rounded (not x and w apiece): each at most half a source pixel off
            x0, y0, x1, y1 = np.round(quad_xyxy(page.quads[r:r + 1])[0]).astype(int)
            m.image[y0:y1, x0:x1, c] = 255
        OPS[name].apply(m, p)
        for c, r in enumerate(batch):
            ys, xs = np.nonzero(m.image[..., c] > 127)
            result[r] = None if len(xs) == 0 else [int(v) for v in (xs.min(), ys.min(), xs.max() + 1 - xs.min(),
                                                                      ys.max() + 1 - ys.min())]
    return result


def eroded_bounds(quad: np.ndarray, size: tuple[int, int], tol: float) -> np.ndarray | None:
    """[x0, y0, x1, y1] bounds of the points of the convex `quad` (4 x 2) inside the `size`
    image that lie more than `tol` px inside both (where pixels must show the element); None
    where there are none. The erosion of an intersection is the intersection of the erosions:
    each quad edge moves `tol` inwards (new corners where neighbours meet), the image shrinks
    by `tol` on every side (`functional.clip_bounds` then clips one to the other)."""
    p = np.asarray(quad, dtype=np.float64)
    d = np.roll(p, -1, axis=0) - p  # edge i runs p[i] -> p[i + 1]
    twice_area = float(np.sum(p[:, 0] * np.roll(p[:, 1], -1) - np.roll(p[:, 0], -1) * p[:, 1]))
    n = np.stack([-d[:, 1], d[:, 0]], axis=1) * np.sign(twice_area)  # left normals point inwards when the area is > 0
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    c = np.sum(n * p, axis=1) + tol  # edge i's eroded half-plane: n_i . x >= c_i
    corners = np.array([np.linalg.solve(np.stack([n[i - 1], n[i]]), [c[i - 1], c[i]]) for i in range(4)])
    if not (corners @ n.T >= c - 1e-9).all():  # an edge eroded away: thinner than 2 tol somewhere
        return None
    w, h = size
    b = F.clip_bounds(corners[None] - tol, (w - 2 * tol, h - 2 * tol))[0]
    return None if np.isnan(b).any() else np.array([b[0] + tol, b[1] + tol, b[0] + b[2] + tol, b[1] + b[3] + tol])


def edge_problems(box, quad: np.ndarray, size: tuple[int, int], mask, tol: float) -> list[str]:
    """Each edge of the `mask`'s box ([x, y, w, h], whole pixels) against the recorded `box`
    (the visible bounds of `quad` in a `size` image): no further out than `tol` past the recorded
    edge, no further in than the edge of the quad eroded by `tol`. For an axis-aligned box that
    is each edge within +-tol; a thin sliver (a rotated box clipped by the image border leaves a
    wedge under a pixel thick) or a rotated corner is only required where it is `tol` thick."""
    rec = (box[0], box[1], box[0] + box[2], box[1] + box[3])
    got = (mask[0], mask[1], mask[0] + mask[2], mask[1] + mask[3])
    inner = eroded_bounds(quad, size, tol)
    out = []
    for i, edge in enumerate(("left", "top", "right", "bottom")):
        near = i < 2  # left/top: the mask's edge may not be left/above rec - tol, nor right/below inner
        lo = rec[i] - tol if near else (inner[i] if inner is not None else -np.inf)
        hi = (inner[i] if inner is not None else np.inf) if near else rec[i] + tol
        if not lo <= got[i] <= hi:
            out.append(f"{edge} edge {got[i]} px, recorded {rec[i]:.3f}, allowed {lo:.3f}..{hi:.3f}")
    return out


def _erased(params: dict) -> np.ndarray:
    return np.asarray(params.get("rects", []), dtype=float).reshape(-1, 4)


def _rows_to_check(src: Page, out: Page, records: list[dict], params: dict) -> dict[int, list]:
    """Surviving source rows with a recorded box (any size), not touched by an erased region."""
    rows = {out.row(el): rec["box"] for el, rec in zip(out.elements(), records)}
    erased = _erased(params)
    picked = {}
    for r, box in rows.items():
        if r >= len(src.source_xpaths) or box is None:
            continue
        sb = xywh(src.quads[r:r + 1])[0]
        if len(erased) and any(_overlaps(sb, e) for e in erased):
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
    tol = EDGE_TOL + blur_spread(params)
    for r, box in checks.items():
        where = f"{name}: row {r} ({src.source_xpaths[r]}) recorded {box}, mask {measured[r]}"
        if measured[r] is None:  # no pixels: right only where the element is nowhere 2 tol thick
            assert eroded_bounds(out.quads[r], out.size, tol) is None, f"{where}: a box but no pixels"
            continue
        assert not (bad := edge_problems(box, out.quads[r], out.size, measured[r], tol)), f"{where}: {bad}"


def blur_spread(params: dict) -> float:
    """How far the photometric op's motion blur can move a mask's half-intensity edge: half its
    largest kernel, (k - 1) / 2 px (albumentations may shift the kernel's line off-centre, so all
    of it can lie on one side; measured 2.0 px at k <= 7, over 240 boxes)."""
    blur = params.get("transforms", {}).get("blur")
    return 0.0 if blur is None else (max(blur["limit"]) - 1) / 2


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("name", ORDER)
def test_every_op_keeps_pixels_boxes_and_html_in_agreement(name, preset, pages):
    n = 0
    for page, params in draws(name, pages, preset):
        check_invariants(name, page, params)
        n += 1
    assert n >= 2, f"{name}: fewer than 2 of {3 * DRAWS_PER_PAGE} draws applied; the checker saw too little"


def _axis_aligned(box):
    return np.array([[box[0], box[1]], [box[0] + box[2], box[1]], [box[0] + box[2], box[1] + box[3]],
                     [box[0], box[1] + box[3]]], dtype=np.float64)


def test_edge_checker_holds_each_edge_to_the_tolerance_at_any_size():
    """The checker can fail: any one edge of the mask 3 px or more from the recorded one, in or
    out, is caught on a 13.8 px box (the issue's element) and on a 500 px one; within 2 px
    passes, and so does the issue's own mask (where IoU said 0.89)."""
    for box in ([52.533, 58.63, 13.781, 13.764], [40.2, 30.0, 500.0, 500.7]):
        quad, size = _axis_aligned(box), (800, 800)
        rec = (box[0], box[1], box[0] + box[2], box[1] + box[3])
        as_box = lambda e: [e[0], e[1], e[2] - e[0], e[3] - e[1]]  # noqa: E731
        for i, edge in enumerate(("left", "top", "right", "bottom")):
            for shift, caught in ((-3, True), (3, True), (-2, False), (2, False)):
                # edge i to whole pixels rounded away from the recorded edge when caught (>= 3 px off),
                # towards it when not (<= 2 px off); the other edges to the nearest
                to_pixel = math.ceil if (shift > 0) == caught else math.floor
                moved = [to_pixel(v + shift) if j == i else round(v) for j, v in enumerate(rec)]
                bad = edge_problems(box, quad, size, as_box(moved), EDGE_TOL)
                assert (len(bad) == 1 and bad[0].startswith(f"{edge} edge")) if caught else bad == [], (box, i, bad)
    assert edge_problems([52.533, 58.63, 13.781, 13.764], _axis_aligned([52.533, 58.63, 13.781, 13.764]),
                         (800, 800), [53, 59, 13, 13], EDGE_TOL) == []


def test_edge_checker_asks_pixels_only_where_the_element_is_thick_enough():
    """A rotated header clipped by the top border (seed preset, row 0 of a measured draw)
    reaches x = 122.865 as a wedge under half a pixel thick, which no pixel shows: the mask
    starts at 125, allowed; but no mask pixel may lie more than 2 px outside the recorded box."""
    quad = np.array([[96.99, -17.66], [376.53, 27.83], [374.4, 40.93], [94.85, -4.56]])  # to 0.01 px
    size = (351, 784)
    box = F.clip_bounds(quad[None], size)[0].tolist()
    assert np.allclose(box, [122.865, 0.0, 228.135, 37.12], atol=0.01)  # what that draw recorded
    assert edge_problems(box, quad, size, [125, 0, 226, 37], EDGE_TOL) == []
    assert edge_problems(box, quad, size, [119, 0, 232, 37], EDGE_TOL)[0].startswith("left edge 119 px")
    assert edge_problems(box, quad, size, [125, 0, 226, 30], EDGE_TOL)[0].startswith("bottom edge 30 px")
    assert eroded_bounds(np.array([[0, 0], [3, 0], [3, 3], [0, 3]]), size, EDGE_TOL) is None  # 3 px < 2 tol


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


def _clip_polygon(points: list[tuple[float, float]], w: float, h: float) -> list[tuple[float, float]]:
    """The part of a convex polygon inside [0, w] x [0, h], clipped one rectangle side at a time
    (Sutherland-Hodgman): another algorithm than `functional.clip_quads`' candidate points."""
    poly = list(points)
    for axis, bound, sign in ((0, 0.0, 1), (0, w, -1), (1, 0.0, 1), (1, h, -1)):
        out = []
        for a, b in zip(poly, poly[1:] + poly[:1]):
            da, db = sign * (a[axis] - bound), sign * (b[axis] - bound)  # >= 0: on the inner side
            if da >= 0:
                out.append(a)
            if (da >= 0) != (db >= 0):
                t = da / (da - db)
                out.append((a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])))
        poly = out
    return poly


def _area(poly: list[tuple[float, float]]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(poly, poly[1:] + poly[:1]))) / 2


def test_clip_quads_matches_an_independent_polygon_clip():
    """Bounds and visible fraction of rotated squares inside, across and outside a 100 px image
    against Sutherland-Hodgman in plain floats: the same polygon, so equal to 1e-9. (It was a
    comparison with a 2x raster, within 0.05 and 1 px: a rule no one had stated, 0.81 px used.)"""
    rng = np.random.default_rng(0)
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]])
    quads = rng.uniform(-40, 140, (50, 1, 2)) + rng.uniform(5, 60, (50, 1, 1)) * unit
    quads = np.concatenate([F.transform_points(quads, F.rotation_scale(20, 1.0, (50, 50))), np.full((1, 4, 2), np.nan)])
    bounds, frac = F.clip_quads(quads, (100, 100))
    seen = {"inside": 0, "across": 0, "outside": 0}
    for q, b, f in zip(quads[:-1], bounds, frac):
        poly = _clip_polygon([tuple(p) for p in q], 100.0, 100.0)
        if not poly:
            assert f == 0 and np.isnan(b).all(), (q, b, f)
            seen["outside"] += 1
            continue
        xs, ys = [p[0] for p in poly], [p[1] for p in poly]
        assert np.allclose(b, [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)], rtol=0, atol=1e-9), (q, b)
        assert abs(f - _area(poly) / _area([tuple(p) for p in q])) < 1e-9
        seen["inside" if f == 1 else "across"] += 1
    assert min(seen.values()) >= 4, seen  # the 50 squares exercise every case (4, 21, 25)
    assert np.isnan(bounds[-1]).all() and frac[-1] == 0  # an unlocated row stays unlocated


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

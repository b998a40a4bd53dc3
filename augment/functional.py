"""Pure geometry for synchronized spatial transforms: 3x3 homographies, quads, clipping.

Coordinates are continuous pixel *edges*: a box [x, y, w, h] covers the pixels x..x+w-1
and its corners are (x, y) and (x+w, y+h). OpenCV's warps sample at pixel *centres*, so
`warp_image` shifts by half a pixel on each side; `cv2.resize` already maps edges
linearly. Every function is vectorized over rows (pages carry thousands of elements) and
NaN rows (unlocated elements) pass through as NaN.
"""
from __future__ import annotations

import cv2
import numpy as np

_HALF = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
_MINUS_HALF = np.array([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def scaling(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0], [0.0, 0.0, 1.0]])


def rotation_scale(angle_deg: float, scale: float, center: tuple[float, float]) -> np.ndarray:
    """Rotate by `angle_deg` (counter-clockwise on screen) and scale about `center`."""
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(angle_deg), float(scale))
    return np.vstack([m, [0.0, 0.0, 1.0]])


def perspective(size: tuple[int, int], offsets: np.ndarray) -> np.ndarray:
    """The homography moving the corners of a w x h canvas (tl, tr, br, bl) by `offsets`."""
    w, h = size
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    dst = (src + np.asarray(offsets, dtype=np.float32).reshape(4, 2)).astype(np.float32)
    return cv2.getPerspectiveTransform(src, dst).astype(np.float64)


def transform_points(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Map ... x 2 points through the 3x3 homography `h` (NaN in, NaN out)."""
    flat = points.reshape(-1, 2)
    homog = flat @ h[:, :2].T + h[:, 2]
    return (homog[:, :2] / homog[:, 2:3]).reshape(points.shape)


def warp_image(image: np.ndarray, h: np.ndarray, size: tuple[int, int],
               border: tuple[int, int, int]) -> np.ndarray:
    """Warp `image` by the edge-coordinate homography `h` onto a `size` (w, h) canvas."""
    centred = _MINUS_HALF @ h @ _HALF
    return cv2.warpPerspective(image, centred, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(int(c) for c in border))


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to `size` (w, h); large downscales halve with `cv2.pyrDown` first.

    INTER_AREA over a 4x+ fractional downscale of a 1280x4000 page costs ~30 ms here;
    Gaussian halving down to within 3x of the target, then INTER_AREA, gives the same
    picture (mean abs difference < 1 grey level) in about half the time.
    """
    w, h = int(size[0]), int(size[1])
    while image.shape[0] >= 3 * h and image.shape[1] >= 3 * w:
        image = cv2.pyrDown(image)
    interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[..., 0] - o[..., 0]) * (b[..., 1] - o[..., 1]) - (a[..., 1] - o[..., 1]) * (b[..., 0] - o[..., 0])


def _inside_convex(points: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """n x k points inside the n convex quads (either winding), boundary included."""
    eps = 1e-9
    pos = neg = None
    for i in range(4):  # an explicit & over the 4 edges: `np.all` over a 4-long axis is slower
        s = _cross(quads[:, i][:, None], quads[:, (i + 1) % 4][:, None], points)
        pos = (s >= -eps) if pos is None else pos & (s >= -eps)
        neg = (s <= eps) if neg is None else neg & (s <= eps)
    return pos | neg


def _edge_hits(quads: np.ndarray, w: float, h: float) -> np.ndarray:
    """Points where quad edges cross the rectangle's four edge lines, n x 16 x 2 (NaN if none),
    grouped by line (x = 0, x = w, y = 0, y = h), four edges each."""
    p = quads
    d = np.concatenate([quads[:, 1:], quads[:, :1]], axis=1) - p  # edge vectors q - p
    px, py, dx, dy = p[..., 0], p[..., 1], d[..., 0], d[..., 1]
    # the four lines at once, element for element the arithmetic of one line at a time
    num = np.stack([0.0 - px, w - px, 0.0 - py, h - py], axis=1)  # n x 4 lines x 4 edges
    den = np.stack([dx, dx, dy, dy], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = num / den
    pt = p[:, None] + t[..., None] * d[:, None]
    ok = (t >= 0) & (t <= 1) & (den != 0)
    return np.where(ok[..., None], pt, np.nan).reshape(len(quads), 16, 2)


def _polygon_area(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Area of the convex hull of each row's valid points (they are the polygon's vertices).

    Sorted by angle about their mean, then the shoelace sum. Written out (no `nanmean`,
    `take_along_axis`, `roll`), with the very same arithmetic as those, in the same order:
    `clip_quads` runs three times per variant and their overhead was half its cost.
    """
    n = len(points)
    zeroed = np.where(valid[..., None], points, 0.0)
    # nanmean over the valid points: their sum (invalid ones add 0.0) over their count
    count = valid.sum(axis=1, dtype=np.intp)[:, None, None]
    centre = np.divide(zeroed.sum(axis=1, keepdims=True), count)
    angle = np.arctan2(zeroed[..., 1] - centre[..., 1], zeroed[..., 0] - centre[..., 0])
    angle = np.where(valid, angle, np.inf)
    order = np.argsort(angle, axis=1)
    rows = np.arange(n)[:, None]
    pts, vmask = zeroed[rows, order], valid[rows, order]
    # invalid points sort last: replace them by the first point so they add zero area
    pts = np.where(vmask[..., None], pts, pts[:, :1])
    nxt = np.concatenate([pts[:, 1:], pts[:, :1]], axis=1)
    return 0.5 * np.abs((pts[..., 0] * nxt[..., 1] - nxt[..., 0] * pts[..., 1]).sum(axis=1))


def clip_quads(quads: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Clip convex quads to the image rectangle: (bounds n x 4 [x, y, w, h], visible fraction n).

    The intersection of two convex polygons is convex and its vertices are the quad's
    corners inside the rectangle, the rectangle's corners inside the quad, and the edge
    crossings; we take those candidate points and their hull, all rows at once. Rows with
    no intersection get NaN bounds and fraction 0; NaN rows stay NaN with fraction 0.
    `clip_bounds` and `visible_fraction` compute either half alone (the same numbers).
    """
    if len(quads) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    # NaN rows (unlocated elements) make numpy warn on every reduction; they are expected
    with np.errstate(invalid="ignore", divide="ignore"):
        cand, valid = _candidates(quads, float(size[0]), float(size[1]))
        return _bounds(cand, valid), _fraction(quads, cand, valid)


def clip_bounds(quads: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The bounds of `clip_quads` alone, without the areas (a sample's element boxes)."""
    if len(quads) == 0:
        return np.zeros((0, 4))
    with np.errstate(invalid="ignore", divide="ignore"):
        return _bounds(*_candidates(quads, float(size[0]), float(size[1])))


def visible_fraction(quads: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The visible fractions of `clip_quads` alone, without the bounds (visibility checks)."""
    if len(quads) == 0:
        return np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _fraction(quads, *_candidates(quads, float(size[0]), float(size[1])))


def _candidates(quads: np.ndarray, w: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The candidate vertices of each row's clipped polygon (n x 24 x 2: the quad's corners,
    the rectangle's, the 16 edge crossings) and which of them are real (n x 24)."""
    n = len(quads)
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    corners = np.broadcast_to(rect, (n, 4, 2))
    cand = np.concatenate([quads, corners, _edge_hits(quads, w, h)], axis=1)
    x, y = cand[..., 0], cand[..., 1]
    # inside the rectangle (NaN compares false: NaN points are never valid)
    valid = (x >= -1e-9) & (x <= w + 1e-9) & (y >= -1e-9) & (y <= h + 1e-9)
    valid[:, 4:8] = _inside_convex(corners, quads)
    nan_rows = np.isnan(quads.reshape(n, 8)).any(axis=1)
    valid[nan_rows] = False
    return cand, valid


def _bounds(cand: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """n x 4 [x, y, w, h] bounds of the valid candidates (NaN for a row without any).
    `np.fmin.reduce` is what `np.nanmin` computes, without its checks and warning; on
    purpose the very same reduction: numpy resolves a tie of 0.0 and -0.0 differently
    in other loops, and the sign shows in the sample JSON."""
    masked = np.where(valid[..., None], cand, np.nan)
    lo, hi = np.fmin.reduce(masked, axis=1), np.fmax.reduce(masked, axis=1)
    return np.where(valid.any(axis=1)[:, None], np.concatenate([lo, hi - lo], axis=1), np.nan)


def _fraction(quads: np.ndarray, cand: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The share of each quad's area inside the rectangle, 0..1 (0 for NaN rows)."""
    full = _polygon_area(quads, ~(np.isnan(quads[..., 0]) | np.isnan(quads[..., 1])))
    part = np.where(valid.any(axis=1), _polygon_area(cand, valid), 0.0)
    frac = np.where(full > 0, part / full, 0.0)
    return np.clip(np.nan_to_num(frac), 0.0, 1.0)

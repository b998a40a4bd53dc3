"""Pure geometry for synchronized spatial transforms: 3x3 homographies, quads, clipping.

Coordinates are continuous pixel *edges*: a box [x, y, w, h] covers the pixels x..x+w-1
and its corners are (x, y) and (x+w, y+h). OpenCV's warps sample at pixel *centres*, so
`warp_image` shifts by half a pixel on each side; `cv2.resize` already maps edges
linearly. Every function is vectorized over rows (pages carry thousands of elements) and
NaN rows (unlocated elements) pass through as NaN.
"""
from __future__ import annotations

import warnings

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
    signs = []
    for i in range(4):
        a, b = quads[:, i][:, None], quads[:, (i + 1) % 4][:, None]
        signs.append(_cross(a, b, points))
    s = np.stack(signs, -1)
    eps = 1e-9
    return (s >= -eps).all(-1) | (s <= eps).all(-1)


def _edge_hits(quads: np.ndarray, w: float, h: float) -> np.ndarray:
    """Points where quad edges cross the rectangle's four edge lines, n x 16 x 2 (NaN if none)."""
    p, q = quads, np.roll(quads, -1, axis=1)
    hits = []
    for axis, value in ((0, 0.0), (0, w), (1, 0.0), (1, h)):
        d = q[..., axis] - p[..., axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (value - p[..., axis]) / d
        pt = p + t[..., None] * (q - p)
        ok = (t >= 0) & (t <= 1) & (d != 0)
        hits.append(np.where(ok[..., None], pt, np.nan))
    return np.concatenate(hits, axis=1)


def _polygon_area(points: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Area of the convex hull of each row's valid points (they are the polygon's vertices)."""
    filled = np.where(valid[..., None], points, np.nan)
    centre = np.nanmean(filled, axis=1, keepdims=True)
    angle = np.arctan2(filled[..., 1] - centre[..., 1], filled[..., 0] - centre[..., 0])
    angle = np.where(valid, angle, np.inf)
    order = np.argsort(angle, axis=1)
    pts = np.take_along_axis(np.where(valid[..., None], points, 0.0), order[..., None], axis=1)
    vmask = np.take_along_axis(valid, order, axis=1)
    # invalid points sort last: replace them by the first point so they add zero area
    pts = np.where(vmask[..., None], pts, pts[:, :1])
    nxt = np.roll(pts, -1, axis=1)
    return 0.5 * np.abs((pts[..., 0] * nxt[..., 1] - nxt[..., 0] * pts[..., 1]).sum(axis=1))


def clip_quads(quads: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Clip convex quads to the image rectangle: (bounds n x 4 [x, y, w, h], visible fraction n).

    The intersection of two convex polygons is convex and its vertices are the quad's
    corners inside the rectangle, the rectangle's corners inside the quad, and the edge
    crossings; we take those candidate points and their hull, all rows at once. Rows with
    no intersection get NaN bounds and fraction 0; NaN rows stay NaN with fraction 0.
    """
    if len(quads) == 0:
        return np.zeros((0, 4)), np.zeros(0)
    # NaN rows (unlocated elements) make numpy warn on every reduction; they are expected
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return _clip(quads, float(size[0]), float(size[1]))


def _clip(quads: np.ndarray, w: float, h: float) -> tuple[np.ndarray, np.ndarray]:
    n = len(quads)
    rect = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    inside_rect = lambda p: ((p[..., 0] >= -1e-9) & (p[..., 0] <= w + 1e-9)  # noqa: E731
                             & (p[..., 1] >= -1e-9) & (p[..., 1] <= h + 1e-9))
    corners = np.broadcast_to(rect, (n, 4, 2))
    hits = _edge_hits(quads, w, h)
    cand = np.concatenate([quads, corners, hits], axis=1)
    valid = np.concatenate([inside_rect(quads), _inside_convex(corners, quads), inside_rect(hits)], axis=1)
    valid &= ~np.isnan(cand).any(-1)
    valid[np.isnan(quads).any(axis=(1, 2))] = False
    any_valid = valid.any(axis=1)
    masked = np.where(valid[..., None], cand, np.nan)
    lo, hi = np.nanmin(masked, axis=1), np.nanmax(masked, axis=1)
    bounds = np.where(any_valid[:, None], np.concatenate([lo, hi - lo], axis=1), np.nan)
    full = _polygon_area(quads, ~np.isnan(quads).any(-1))
    part = np.where(any_valid, _polygon_area(cand, valid), 0.0)
    frac = np.where(full > 0, part / full, 0.0)
    return bounds, np.clip(np.nan_to_num(frac), 0.0, 1.0)

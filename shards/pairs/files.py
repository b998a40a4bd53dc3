"""One source pair's files, read safely: the image, the HTML and the element boxes.

Every file's size is checked before it is read (`check_size`); images go through
`shards.storage.images` (size and pixel limits before decoding; grey, RGBA and 16-bit images
are converted to 8-bit RGB). Element boxes come from the boxes file or `data-bbox`
attributes, matched to elements by xpath and clipped to the image (`element_boxes`).
Whatever else goes wrong while reading one source (a boxes file nested 100,000 deep, a number
too large for a float, an unreadable file, a bug) is a `Reject` (`guarded`): one bad source
never stops a job.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import lxml.html
import numpy as np

from ..storage import images
from ..tokens.htmlparse import MAX_HTML_BYTES
from .folder import Reject, SourcePair, pair_file

MAX_BOXES_BYTES = 64_000_000  # a page with 100,000 elements writes ~10 MB of boxes
T = TypeVar("T")


def read_image(path: Path, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`shards.storage.images.read_image` (size and pixel limits before decoding), failures as Reject."""
    try:
        return images.read_image(path, max_pixels)
    except images.ImageError as e:
        raise Reject(e.reason, str(e)) from None


def _box(value: Any) -> np.ndarray | None:
    if isinstance(value, str):
        value = value.split(",")
    try:
        box = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        return None
    return box if box.shape == (4,) and np.isfinite(box).all() else None


def read_boxes(path: Path, image_size: tuple[int, int]) -> dict[str, Any]:
    """Parse and check a boxes file; the viewport must equal the image size."""
    check_size(path, MAX_BOXES_BYTES, "bad_boxes", "the boxes file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        viewport = [int(v) for v in data["viewport"]]
        elements = data["elements"]
        assert isinstance(elements, list) and len(viewport) == 2
    # RecursionError: JSON nested 100,000 deep; OverflowError: a viewport of 1e400 (float inf)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError, RecursionError,
            OverflowError) as e:
        raise Reject("bad_boxes", f"{path}: not a boxes file ({type(e).__name__}: {str(e)[:200]}); expected "
                                  '{"viewport": [w, h], "elements": [{"xpath": ..., "box": [x, y, w, h]}]}',
                     type(e).__name__) from None
    if tuple(viewport) != image_size:
        raise Reject("viewport_mismatch", f"{path}: viewport {viewport[0]}x{viewport[1]} differs from the image "
                                          f"{image_size[0]}x{image_size[1]}: the boxes belong to another rendering")
    return {str(e.get("xpath")): e.get("box") for e in elements if isinstance(e, dict)}


def _locate(boxes: np.ndarray, size: tuple[int, int], stats: Counter) -> np.ndarray:
    """Clip boxes to the image; wholly outside or empty boxes become unlocated (NaN)."""
    w, h = size
    x0, y0 = np.clip(boxes[:, 0], 0, w), np.clip(boxes[:, 1], 0, h)
    with np.errstate(over="ignore"):  # absurd (finite) boxes overflow to inf, then clip
        x1, y1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, w), np.clip(boxes[:, 1] + boxes[:, 3], 0, h)
    out = np.stack([x0, y0, x1 - x0, y1 - y0], 1)
    known = ~np.isnan(boxes[:, 0])
    empty = known & ((boxes[:, 2] <= 0) | (boxes[:, 3] <= 0))
    outside = known & ~empty & ((out[:, 2] <= 0) | (out[:, 3] <= 0))
    with np.errstate(over="ignore"):
        crossing = ((boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 0] + boxes[:, 2] > w)
                    | (boxes[:, 1] + boxes[:, 3] > h))
    clipped = known & ~empty & ~outside & crossing
    stats["boxes_empty"] += int(empty.sum())
    stats["boxes_outside"] += int(outside.sum())
    stats["boxes_clipped"] += int(clipped.sum())
    # boxes inside keep their exact values: (x + w) - x is not always w in floating point
    out = np.where(clipped[:, None], out, boxes)
    out[empty | outside] = np.nan
    return out


def element_boxes(root: lxml.html.HtmlElement, boxes: dict[str, Any] | None, size: tuple[int, int],
                  stats: Counter) -> tuple[list[lxml.html.HtmlElement], list[str], np.ndarray]:
    """(elements under <body> in document order, their xpaths, n x 4 [x, y, w, h] boxes clipped
    to the image, NaN where unlocated). Without `boxes`, `data-bbox` attributes are used. Boxes
    whose xpath matches no element are counted in `stats["boxes_unmatched"]`."""
    tree = root.getroottree()
    els = [el for el in root.find("body").iterdescendants() if isinstance(el.tag, str)]
    xpaths = [tree.getpath(el) for el in els]
    raw = np.full((len(els), 4), np.nan)
    if boxes is not None:
        index = {xp: i for i, xp in enumerate(xpaths)}
        outer = {tree.getpath(root), tree.getpath(root.find("body"))}  # valid, but not rows
        for xp, value in boxes.items():
            if xp in outer:
                continue
            i, b = index.get(xp), _box(value)
            if i is None or b is None:
                stats["boxes_unmatched" if i is None else "boxes_invalid"] += 1
            else:
                raw[i] = b
    else:
        for i, el in enumerate(els):
            if el.get("data-bbox") is not None:
                b = _box(el.get("data-bbox"))
                raw[i] = b if b is not None else np.nan
    return els, xpaths, _locate(raw, size, stats)


def check_size(path: Path, limit: int, reason: str, label: str) -> None:
    """Refuse a file over `limit` bytes from its size alone, before reading any of it."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise Reject(reason, f"{path}: cannot read ({type(e).__name__}: {e.strerror})", type(e).__name__) from None
    if size > limit:
        raise Reject(reason, f"{path}: {label} is {size} bytes, above the limit of {limit}; not read")


def read_members(pair: SourcePair, max_pixels: int) -> tuple[np.ndarray, bytes, dict[str, Any] | None]:
    """(RGB image, HTML bytes, boxes by xpath or None) of one pair, every file checked before
    it is read; a missing partner, a file too large or malformed is a Reject."""
    if pair.image is None or pair.html is None:
        have = pair.image or pair.html or pair.boxes
        missing = "image (.png/.jpg/.webp)" if pair.image is None else ".html"
        raise Reject("missing_partner", f"{have}: no {missing} partner for id {pair.source_id}")
    check_size(pair.html, MAX_HTML_BYTES, "bad_html", f"{pair.source_id}: HTML")
    image = read_image(pair.image, max_pixels)
    size = (int(image.shape[1]), int(image.shape[0]))
    boxes = read_boxes(pair.boxes, size) if pair.boxes else None
    try:
        html = pair.html.read_bytes()
    except OSError as e:
        raise Reject("bad_html", f"{pair.html}: cannot read ({type(e).__name__}: {e.strerror})",
                     type(e).__name__) from None
    return image, html, boxes


def guarded(pair: SourcePair, read: Callable[..., T], *args: Any) -> T:
    """`read(*args)`, with any exception but a Reject turned into a Reject `load_failed` naming
    the pair's file and the exception's class, so that one source never stops a job."""
    try:
        return read(*args)
    except Reject:
        raise
    except Exception as e:  # noqa: BLE001 - the class of failures "one bad source": see the docstring
        raise Reject("load_failed", f"{pair_file(pair)}: {type(e).__name__} while reading source {pair.source_id}: "
                                    f"{str(e)[:300]}", type(e).__name__) from None

"""One variant of one source page: draw the ops, apply them, build the sample.

A variant's randomness comes only from (job seed, source id, variant): every op gets its
own generator seeded from those plus the op's name, so adding an op to the registry never
changes what the others draw. Variant 0 is the untouched source.

With a `rerender` callable (`augment run --rerender`: `augment.render.rerender.rerender_page`
bound to the page's snapshot) the structure ops (`ops.STRUCTURE`) run first, then, when one
of them changed the page, the browser renders the edited HTML and replaces the pixels and
boxes they painted, then the spatial and photometric ops run on that.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from shards.schema import SCHEMA_VERSION, Sample, make_key
from shards.storage.hashing import hash64
from shards.tokens import derive_labels

from . import functional as F
from .config import AugmentConfig
from .ops import OPS, ORDER, STRUCTURE, apply_op
from .page import ROW_ATTR, Page

_ENCODE = {
    # the SUB filter encodes our flat-colour and noisy pages ~1.5x faster than adaptive
    "png": lambda q: (".png", [cv2.IMWRITE_PNG_COMPRESSION, 3, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_SUB]),
    "jpg": lambda q: (".jpg", [cv2.IMWRITE_JPEG_QUALITY, q]),
    "webp": lambda q: (".webp", [cv2.IMWRITE_WEBP_QUALITY, q]),
}


def op_rng(seed: int, source_id: str, variant: int, op: str) -> np.random.Generator:
    """The generator of one op in one variant: a function of its inputs alone."""
    return np.random.default_rng([seed & 0xFFFFFFFF, hash64(source_id), variant, hash64(op)])


def sample_seed(seed: int, source_id: str, variant: int) -> int:
    """The seed recorded in a sample: identifies its random stream."""
    return hash64(f"{seed}:{source_id}:{variant}") & 0x7FFFFFFF


@contextmanager
def _timed(timings: dict[str, float] | None, key: str) -> Iterator[None]:
    """Add the block's seconds to `timings[key]` (the benchmarks' per-stage breakdown)."""
    if timings is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0


def augment_page(source: Page, variant: int, cfg: AugmentConfig,
                 timings: dict[str, float] | None = None, rerender: Callable[[Page], None] | None = None) -> Page:
    """Apply a fresh draw of every enabled op to a copy of `source`.

    `timings`, when given, accumulates seconds per op name (drawing included), under "copy"
    for the copy of the source and under "rerender" for the browser; `rerender` see above.
    """
    with _timed(timings, "copy"):
        page = source.copy(share_pixels=True)
    if variant == 0:
        return page
    if rerender is None:
        _draw_and_apply(page, source.source_id, variant, cfg, ORDER, timings)
        return page
    _draw_and_apply(page, source.source_id, variant, cfg, STRUCTURE, timings)
    if page.ops:
        with _timed(timings, "rerender"):
            rerender(page)
    _draw_and_apply(page, source.source_id, variant, cfg, tuple(n for n in ORDER if n not in STRUCTURE), timings)
    return page


def _draw_and_apply(page: Page, source_id: str, variant: int, cfg: AugmentConfig, names: tuple[str, ...],
                    timings: dict[str, float] | None) -> None:
    """Draw each op of `names` (in that order) from its own generator and apply it when drawn."""
    for name in names:
        op, opcfg = OPS[name], cfg.ops[name]
        with _timed(timings, name):
            rng = op_rng(cfg.seed, source_id, variant, name)
            if rng.random() >= float(opcfg["p"]):
                continue
            if op.NEEDS_BOXES and not page.has_boxes():
                page.skipped[name] += 1
                continue
            params = op.draw(rng, page, opcfg)
            if params is not None:
                apply_op(page, name, params)


def replay_page(source: Page, ops: list[dict[str, Any]], rerender: Callable[[Page], None] | None = None) -> Page:
    """Re-apply recorded ops (from a sample's `ops`) to a copy of `source`; a recorded
    re-render calls `rerender` (ValueError without one)."""
    page = source.copy()
    for record in ops:
        if record["op"] == "rerender":
            if rerender is None:
                raise ValueError(f"{source.source_id}: the sample was re-rendered from its snapshot, and no "
                                 "snapshot was given to replay it with")
            rerender(page)
            continue
        params = {k: v for k, v in record.items() if k != "op"}
        apply_op(page, record["op"], params)
    return page


def _nan_to_none(values: np.ndarray) -> list:
    """Rows of `values` as lists, None for a row holding any NaN (one mask, not one per row)."""
    missing = np.isnan(values).reshape(len(values), -1).any(axis=1).tolist()
    return [None if m else r for r, m in zip(values.tolist(), missing)]


def element_records(page: Page) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """The `elements` of the sample JSON, plus xpath -> box for token derivation.

    One pass over the tree; the boxes from `functional.clip_bounds` (the bounds of
    `clip_quads` without the areas). 1.9 -> 0.5 ms per variant
    (benchmarks/augment_throughput's structure stage).
    """
    els = list(page.elements())
    tree = page.root.getroottree()
    rows = np.fromiter((int(el.get(ROW_ATTR)) for el in els), dtype=np.int64, count=len(els))
    quads = page.quads[rows] if len(rows) else np.zeros((0, 4, 2))
    quad_list = _nan_to_none(np.round(quads, 3))
    box_list = _nan_to_none(np.round(F.clip_bounds(quads, page.size), 3))
    index = {el: i for i, el in enumerate(els)}  # lxml proxies are unique while alive (els holds them)
    xpaths = page.source_xpaths
    records, boxes = [], {}
    for i, el in enumerate(els):
        xpath, box = tree.getpath(el), box_list[i]
        records.append({
            "id": i, "xpath": xpath, "source_xpath": xpaths[rows[i]], "tag": el.tag,
            "classes": (el.get("class") or "").split(), "quad": quad_list[i], "box": box,
            "parent": index.get(el.getparent()),
        })
        if box is not None:
            boxes[xpath] = box
    return records, boxes


def difficulty(page: Page, n_sections: int) -> float:
    """A 0..1 heuristic of how hard a sample is, for phase 2's curriculum.

    Page complexity (0.1 at 10 sections or more) plus what each applied op says it adds
    (its optional `difficulty` hook, see `augment.ops`), term by term in the order the ops
    were applied, capped at 1 and rounded to 4 decimals.
    """
    d = 0.1 * min(1.0, n_sections / 10)
    for rec in page.ops:
        hook = getattr(OPS.get(rec["op"]), "difficulty", None)  # the re-render record is no op: it adds nothing
        for term in hook(rec) if hook is not None else ():
            d += term
    return float(round(min(1.0, d), 4))


def encode_image(image: np.ndarray, fmt: str, quality: int) -> bytes:
    ext, params = _ENCODE[fmt](int(quality))
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"cv2 could not encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def build_sample(page: Page, variant: int, cfg: AugmentConfig, split: str, fold: int | None,
                 timings: dict[str, float] | None = None, group: str | None = None) -> Sample:
    """Serialize an augmented page into a Sample of the current schema (`timings`: seconds under
    "records" for the metadata and HTML, "encode" for the image; `group`: the page's group,
    `augment.groups`, by default its own source id)."""
    with _timed(timings, "records"):
        elements, boxes = element_records(page)
        labels = derive_labels(page.root, boxes, page.size)
        html = page.html()
    meta = {
        "schema": SCHEMA_VERSION, "source": page.source_id, "group": page.source_id if group is None else group,
        "variant": variant,
        "seed": sample_seed(cfg.seed, page.source_id, variant), "split": split, "fold": fold,
        "size": list(page.size), "homography": np.round(page.homography, 9).tolist(),
        "ops": page.ops, "elements": elements,
        "regions": [r.record() for r in labels.regions],
        "sections": [s.record() for s in labels.sections],
        "difficulty": difficulty(page, len(labels.sections)),
    }
    with _timed(timings, "encode"):
        image = encode_image(page.image, cfg.image_format, cfg.quality)
    return Sample(make_key(page.source_id, variant), image, cfg.image_format, html, meta)

"""Loading source pairs into augment's Page; every bad input becomes a `Reject` with a reason.

What a source pair is, how a folder of them is found (`discover`, `nested_pair_folders`), how
each file is checked and read (`read_members`: sizes, images, boxes files) and how element
boxes are matched and clipped (`element_boxes`) is `shards.pairs`, shared with `train
evaluate --pairs`; this module builds a `Page` on them and keeps augment's own checks
(`require_boxes`, the `sources_without_boxes` count). Its names are re-exported here.

Which group (site or template) each pair belongs to is `shards.pairs.groups`'s rule (a
`groups.json` beside the pairs, else the id prefix before `__`, else the id).

Whatever goes wrong while reading one source is a `Reject` naming the file, the reason and
the exception's class: one bad source never stops a job.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from shards.pairs.files import MAX_BOXES_BYTES, check_size, element_boxes, guarded, read_boxes, read_image, read_members
from shards.pairs.folder import (IMAGE_SUFFIXES, NESTED_SCAN_LIMIT, Reject, SourcePair, discover, nested_pair_folders,
                                 pair_stem, source_id_for)
from shards.tokens.htmlparse import HtmlError, parse_html

from .config import AugmentConfig
from .page import ROW_ATTR, Page, box_to_quad

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "MAX_BOXES_BYTES", "NESTED_SCAN_LIMIT", "Reject", "SourcePair",
           "check_size", "discover", "load_pair", "nested_pair_folders", "page_from_arrays", "pair_stem",
           "read_boxes", "read_image", "source_id_for"]
DEFAULT_MAX_PIXELS = AugmentConfig.max_pixels  # the job's default, for callers without a config


def page_from_arrays(source_id: str, image: np.ndarray, html: str | bytes,
                     boxes: dict[str, Any] | None = None, stats: Counter | None = None) -> Page:
    """Build a Page: one row per element under <body>, boxes matched by xpath.

    Without `boxes`, `data-bbox` attributes are used. Boxes whose xpath matches no element
    are counted in `stats["boxes_unmatched"]` (`shards.pairs.files.element_boxes`).
    """
    stats = stats if stats is not None else Counter()
    root = parse_html(html, source_id)
    size = (int(image.shape[1]), int(image.shape[0]))
    els, xpaths, located = element_boxes(root, boxes, size, stats)
    for i, el in enumerate(els):
        el.set(ROW_ATTR, str(i))
    return Page(source_id, image, root, box_to_quad(located), list(xpaths))


def load_pair(pair: SourcePair, max_pixels: int = DEFAULT_MAX_PIXELS,
              stats: Counter | None = None, require_boxes: bool = False) -> Page:
    """Load one source pair into a Page, or raise Reject naming the file and the reason.

    A page on which no element is located (no boxes file and no `data-bbox`, or none of
    them usable) is counted in `stats["sources_without_boxes"]`, and refused
    (`no_boxes`) when `require_boxes`. Any other exception while reading the pair becomes a
    Reject `load_failed` naming its class (`shards.pairs.files.guarded`), so that one source never
    stops a job.
    """
    return guarded(pair, _load_pair, pair, max_pixels, stats, require_boxes)


def _load_pair(pair: SourcePair, max_pixels: int, stats: Counter | None, require_boxes: bool) -> Page:
    image, html, boxes = read_members(pair, max_pixels)
    stats = stats if stats is not None else Counter()
    try:
        page = page_from_arrays(pair.source_id, image, html, boxes, stats)
    except HtmlError as e:
        raise Reject("bad_html", f"{pair.html}: {e}") from None
    stats["sources_without_boxes"] += int(not page.has_boxes())  # 0 is recorded too: "none" is an answer
    if not page.has_boxes():
        if require_boxes:
            why = (f"none of the {len(boxes)} boxes in {pair.boxes.name} is usable" if boxes is not None
                   else f"no {pair.source_id}.boxes.json and no data-bbox attributes")
            raise Reject("no_boxes", f"{pair.html}: no element has a box ({why}), so no section would have one; "
                                     f"render the page to get boxes: python -m augment render --html DIR --out PAIRS")
    return page

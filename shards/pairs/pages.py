"""Folders of source pairs: finding them, reading their files, and their true sections.

A source pair is `<id>.png|jpg|jpeg|webp` + `<id>.html`, optionally `<id>.boxes.json`
(`{"viewport": [w, h], "elements": [{"xpath": ..., "box": [x, y, w, h]}]}`) or, instead,
`data-bbox="x,y,w,h"` attributes in the HTML. Grey, RGBA and 16-bit images are accepted
and converted to 8-bit RGB. File names that are not valid sample keys (spaces, dots,
unicode) get a sanitized id with a short hash of the original stem, so ids stay unique.

One owner for both stages: `augment run` reads its input through `discover`, `read_members`
and `element_boxes` (augment.sources builds its Page on them), and `train evaluate --pairs` /
`train predict --context` read a user's folder through `read_pairs`, which gives each pair the
sections its untouched variant 00 would have in shards (`shards.tokens.derive_sections` over
the same located element boxes, rounded as a sample's are) and its group (`shards.groups`).
A pair with no box at all (no boxes file, no `data-bbox`) has no true sections: it can be
predicted on, not scored, nor used as context.

Only the top level of the input folder is read; `nested_pair_folders` names subfolders that
hold pair-like files, so the job can say so. A symbolic link that points outside the folder
is refused (`symlink_outside`) unless `follow_symlinks`. Every file's size is checked before
it is read. Whatever else goes wrong while reading one source (a boxes file nested 100,000
deep, a number too large for a float, an unreadable file, a bug) is a `Reject` naming the file,
the reason and the exception's class: one bad source never stops a job.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import lxml.html
import numpy as np

from ..schema import SOURCE_ID_RE, make_key
from ..storage import images
from ..tokens import derive_sections
from ..tokens.htmlparse import MAX_HTML_BYTES, HtmlError, parse_html
from .groups import assign_groups

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
MAX_BOXES_BYTES = 64_000_000  # a page with 100,000 elements writes ~10 MB of boxes
NESTED_SCAN_LIMIT = 10_000  # entries looked at in subfolders before giving up the search
BOX_DECIMALS = 3  # a sample's element boxes are rounded so (augment.pipeline.element_records)
T = TypeVar("T")


class Reject(Exception):
    """A source pair that cannot be used: `reason` is a short code, the message says why,
    `error` is the class name of the exception behind it (None when there was none)."""

    def __init__(self, reason: str, message: str, error: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.error = error


class PairsError(ValueError):
    """A folder of pairs that cannot be used as a whole (missing, or no usable pair)."""


@dataclass(frozen=True)
class SourcePair:
    """Paths of one source pair; `image` or `html` is None when the partner is missing."""

    source_id: str
    image: Path | None
    html: Path | None
    boxes: Path | None


def source_id_for(stem: str) -> str:
    """A key-safe id for a file stem (sanitized + short hash when the stem is not one)."""
    if SOURCE_ID_RE.match(stem):
        return stem
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")[:40] or "page"
    return f"{safe}-{hashlib.sha256(stem.encode('utf-8')).hexdigest()[:8]}"


def pair_stem(pair: SourcePair) -> str:
    """The file stem the pair was found under (its id, unless the stem is not a valid id)."""
    found = next(f for f in (pair.image, pair.html, pair.boxes) if f is not None)
    return _stem_and_kind(found)[0]


def pair_file(pair: SourcePair) -> Path:
    """The file a message about the pair names: its HTML, else its image, else its boxes."""
    return next(f for f in (pair.html, pair.image, pair.boxes) if f is not None)


def _stem_and_kind(p: Path) -> tuple[str, str] | None:
    name = p.name
    if name.endswith(".boxes.json"):
        return name[: -len(".boxes.json")], "boxes"
    if name.endswith(".html"):
        return name[: -len(".html")], "html"
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return p.name[: -len(p.suffix)], "image"
    return None


def link_outside(p: Path, root: Path) -> Path | None:
    """The target of the link `p` when it lies outside `root` (resolved; else None): `discover`'s, `render`'s rule."""
    if not p.is_symlink():
        return None
    target = p.resolve()
    return None if target.is_relative_to(root) else target


def symlink_outside(link: Path, target: Path) -> Reject:
    """The reject of a link out of the input folder (`link_outside`), saying how to read it anyway."""
    return Reject("symlink_outside", f"{link}: a symbolic link to {target}, outside the input folder; not read "
                                     "(pass --follow-symlinks to read it)")


def discover(input_dir: str | Path, follow_symlinks: bool = False) -> tuple[list[SourcePair], list[tuple[str, Reject]]]:
    """All pairs directly in `input_dir`, sorted by id, plus rejects found from names alone."""
    root = Path(input_dir).resolve()
    groups: dict[str, dict[str, list[Path]]] = {}
    outside: dict[str, tuple[Path, Path]] = {}
    for p in sorted(Path(input_dir).iterdir()):
        sk = _stem_and_kind(p) if p.is_file() else None
        if sk:
            groups.setdefault(sk[0], {}).setdefault(sk[1], []).append(p)
            target = None if follow_symlinks else link_outside(p, root)
            if target is not None:
                outside.setdefault(sk[0], (p, target))
    pairs, rejects, seen_ids = [], [], set()
    for stem, kinds in sorted(groups.items()):
        sid = source_id_for(stem)
        if stem in outside:
            rejects.append((sid, symlink_outside(*outside[stem])))
            continue
        if len(kinds.get("image", [])) > 1:
            names = ", ".join(p.name for p in kinds["image"])
            rejects.append((sid, Reject("duplicate_id", f"{stem}: several images for one id ({names})")))
            continue
        if sid in seen_ids:
            rejects.append((sid, Reject("duplicate_id", f"{stem}: id {sid} already used by another pair")))
            continue
        seen_ids.add(sid)
        image, html, boxes = (kinds[k][0] if k in kinds else None for k in ("image", "html", "boxes"))
        pairs.append(SourcePair(sid, image, html, boxes))
    return pairs, rejects


def nested_pair_folders(input_dir: str | Path, limit: int = NESTED_SCAN_LIMIT) -> list[str]:
    """Subfolders of `input_dir` (relative, sorted) holding files named like pair members, which
    `discover` does not read; the search stops after `limit` entries (links are not followed)."""
    found, seen = set(), 0
    root = Path(input_dir)
    for top in sorted(d for d in root.iterdir() if d.is_dir() and not d.is_symlink()):
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            seen += len(files) + len(dirs)
            if any(_stem_and_kind(Path(f)) for f in files):
                found.add(str(Path(folder).relative_to(root)))
            if seen > limit:
                return sorted(found)
    return sorted(found)


def read_image(path: Path, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> np.ndarray:
    """`shards.images.read_image` (size and pixel limits before decoding), failures as Reject."""
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


@dataclass(frozen=True)
class PairPage:
    """One pair read for scoring or as context: its image and the true sections of its
    variant 00 (`shards.tokens.Section.record` dicts, top to bottom). `located` counts its
    elements with a box; 0: no true sections, so it is predicted on but not scored."""

    source_id: str
    group: str
    image: np.ndarray
    sections: list[dict[str, Any]]
    located: int
    file: Path

    @property
    def scorable(self) -> bool:
        return self.located > 0

    def meta(self) -> dict[str, Any]:
        """The page as a sample's metadata (what train's encoding reads), keyed as variant 00."""
        return {"__key__": make_key(self.source_id, 0), "source": self.source_id, "group": self.group,
                "variant": 0, "size": [int(self.image.shape[1]), int(self.image.shape[0])],
                "sections": self.sections}


def _read_pair(pair: SourcePair, group: str, max_pixels: int) -> PairPage:
    image, html, boxes = read_members(pair, max_pixels)
    try:
        root = parse_html(html, pair.source_id)
    except HtmlError as e:
        raise Reject("bad_html", f"{pair.html}: {e}") from None
    size = (int(image.shape[1]), int(image.shape[0]))
    _, xpaths, located = element_boxes(root, boxes, size, Counter())
    known = ~np.isnan(located[:, 0])
    rounded = np.round(located, BOX_DECIMALS)
    table = {xp: rounded[i].tolist() for i, xp in enumerate(xpaths) if known[i]}
    sections = [s.record() for s in derive_sections(root, table, size)]
    return PairPage(pair.source_id, group, image, sections, int(known.sum()), pair_file(pair))


def read_pair(pair: SourcePair, group: str | None = None, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> PairPage:
    """One pair's image and true sections (module docstring), or a Reject naming the file;
    `group` defaults to the pair's own id."""
    return guarded(pair, _read_pair, pair, pair.source_id if group is None else group, max_pixels)


def read_pairs(folder: str | Path, max_pixels: int = images.DEFAULT_MAX_PIXELS
               ) -> tuple[list[PairPage], list[dict[str, Any]], list[str]]:
    """(pages sorted by id, rejects, warnings) of every pair directly in `folder`, grouped by
    `shards.groups`. A bad pair is a reject (`reject_record`); a missing folder is a PairsError
    and a bad groups.json a GroupsError, both naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PairsError(f"{folder}: no such folder; give a folder of <id>.png + <id>.html "
                         "[+ <id>.boxes.json] pairs (the input of `augment run`)")
    pairs, name_rejects = discover(folder)
    groups, warnings = assign_groups(((p.source_id, pair_stem(p)) for p in pairs), folder)
    pages: list[PairPage] = []
    rejects = [reject_record(sid, None, r) for sid, r in name_rejects]
    for pair in pairs:
        try:
            pages.append(read_pair(pair, groups[pair.source_id], max_pixels))
        except Reject as r:
            rejects.append(reject_record(pair.source_id, pair_file(pair), r))
    return pages, rejects, warnings


def reject_record(source_id: str, file: Path | None, reject: Reject) -> dict[str, Any]:
    """A reject as `train evaluate --pairs` lists it: id, file (None when only the message
    names it), reason, message."""
    return {"id": source_id, "file": None if file is None else str(file), "reason": reject.reason,
            "message": str(reject)}

"""Folders of source pairs: which files make a pair, their ids, and which files are not read.

A source pair is `<id>.png|jpg|jpeg|webp` + `<id>.html`, optionally `<id>.boxes.json`
(`{"viewport": [w, h], "elements": [{"xpath": ..., "box": [x, y, w, h]}]}`) or, instead,
`data-bbox="x,y,w,h"` attributes in the HTML. File names that are not valid sample keys
(spaces, dots, unicode) get a sanitized id with a short hash of the original stem
(`source_id_for`), so ids stay unique.

Only the top level of the input folder is read (`discover`); `nested_pair_folders` names
subfolders that hold pair-like files, so the job can say so. A symbolic link that points
outside the folder is refused (`symlink_outside`) unless `follow_symlinks`. A pair that
cannot be used is a `Reject` naming the file, the reason and the exception's class: one bad
source never stops a job.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..schema import SOURCE_ID_RE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
NESTED_SCAN_LIMIT = 10_000  # entries looked at in subfolders before giving up the search


class Reject(Exception):
    """A source pair that cannot be used: `reason` is a short code, the message says why,
    `error` is the class name of the exception behind it (None when there was none)."""

    def __init__(self, reason: str, message: str, error: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.error = error


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

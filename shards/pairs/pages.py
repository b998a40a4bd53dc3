"""Source pairs read as pages with their true sections, for scoring and as context.

One owner for both stages: `augment run` reads its input through `discover` and
`read_members` (`shards.pairs.folder`, `shards.pairs.files`; augment.sources builds its Page
on them), and `train evaluate --pairs` / `train predict --context` read a user's folder
through `read_pairs`, which gives each pair the sections its untouched variant 00 would have
in shards (`shards.tokens.derive_sections` over the same located element boxes, rounded as a
sample's are) and its group (`shards.pairs.groups`). A pair with no box at all (no boxes
file, no `data-bbox`) has no true sections: it can be predicted on, not scored, nor used as
context.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lxml.html
import numpy as np

from ..schema import make_key
from ..storage import images
from ..tokens import derive_labels
from ..tokens.htmlparse import HtmlError, parse_html
from .files import element_boxes, guarded, read_members
from .folder import Reject, SourcePair, discover, pair_file, pair_stem
from .groups import assign_groups

BOX_DECIMALS = 3  # a sample's element boxes are rounded so (augment.pipeline.element_records)


class PairsError(ValueError):
    """A folder of pairs that cannot be used as a whole (missing, or no usable pair)."""


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
    regions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def scorable(self) -> bool:
        return self.located > 0

    def meta(self) -> dict[str, Any]:
        """The page as a sample's metadata (what train's encoding reads), keyed as variant 00."""
        return {"__key__": make_key(self.source_id, 0), "source": self.source_id, "group": self.group,
                "variant": 0, "size": [int(self.image.shape[1]), int(self.image.shape[0])],
                "regions": self.regions, "sections": self.sections}


def true_sections(root: lxml.html.HtmlElement, boxes: dict[str, Any] | None, size: tuple[int, int]
                  ) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """(located element boxes by xpath, rounded as a sample's are; the page's section records):
    what `augment run` derives for the untouched variant 00 of a pair."""
    table, _, sections = true_labels(root, boxes, size)
    return table, sections


def true_labels(root: lxml.html.HtmlElement, boxes: dict[str, Any] | None, size: tuple[int, int]
                ) -> tuple[dict[str, list[float]], list[dict[str, Any]], list[dict[str, Any]]]:
    """`true_sections` with the regions too: (boxes by xpath, region records, section records)."""
    _, xpaths, located = element_boxes(root, boxes, size, Counter())
    known = ~np.isnan(located[:, 0])
    rounded = np.round(located, BOX_DECIMALS)
    table = {xp: rounded[i].tolist() for i, xp in enumerate(xpaths) if known[i]}
    labels = derive_labels(root, table, size)
    return table, [r.record() for r in labels.regions], [s.record() for s in labels.sections]


def _read_pair(pair: SourcePair, group: str, max_pixels: int) -> PairPage:
    image, html, boxes = read_members(pair, max_pixels)
    try:
        root = parse_html(html, pair.source_id)
    except HtmlError as e:
        raise Reject("bad_html", f"{pair.html}: {e}") from None
    table, regions, sections = true_labels(root, boxes, (int(image.shape[1]), int(image.shape[0])))
    return PairPage(pair.source_id, group, image, sections, len(table), pair_file(pair), regions)


def read_pair(pair: SourcePair, group: str | None = None, max_pixels: int = images.DEFAULT_MAX_PIXELS) -> PairPage:
    """One pair's image and true sections (module docstring), or a Reject naming the file;
    `group` defaults to the pair's own id."""
    return guarded(pair, _read_pair, pair, pair.source_id if group is None else group, max_pixels)


def read_pairs(folder: str | Path, max_pixels: int = images.DEFAULT_MAX_PIXELS
               ) -> tuple[list[PairPage], list[dict[str, Any]], list[str]]:
    """(pages sorted by id, rejects, warnings) of every pair directly in `folder`, grouped by
    `shards.pairs.groups`. A bad pair is a reject (`reject_record`); a missing folder is a PairsError
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

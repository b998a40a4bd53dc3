"""From what the browser gave to a source pair: keep the boxes whose xpath the project can use.

collect.js writes xpaths the way lxml's `getpath` does, but lxml's HTML parser (libxml2
2.14, HTML4 rules) does not always build the tree Chromium built: it closes a <p> at a
<div> a script put inside it, an <a> at a nested <a>, a <b> at a <p>; every later sibling
of the same tag then has another index. (Its other difference, HTML5's void elements,
collect.js avoids by writing them `<source />`.) So every xpath is looked up among the
getpaths of the project's own parse of the saved DOM (`shards.tokens.htmlparse.parse_html`, the
parse `augment run` makes) and kept only when it names an element with the same tag, id
and class; the others are dropped and counted (`dropped` in the boxes file's `render`
record). On the project's page set none is dropped.

The lookup walks the xpath's steps, naming each parent's children the way libxml2's
getpath does (tag, and [i] among same-tag siblings when there are several), once per parent
it passes. Calling getpath on every element instead costs O(siblings) each: a 40,000-row
table took 64 s to check (loaded 2-core machine); walking, well under a second.
"""
from __future__ import annotations

import json
import struct
from collections import Counter
from dataclasses import dataclass
from typing import Any

from shards.tokens.htmlparse import parse_html


@dataclass
class Checked:
    """The elements kept for the boxes file and how many collect.js found in all."""

    elements: list[dict[str, Any]]
    found: int

    @property
    def dropped(self) -> int:
        return self.found - len(self.elements)


def _num(v: float) -> float | int:
    """Integral values as ints, so a box reads [0, 64, 1280, 48] and not [0.0, ...]."""
    return int(v) if float(v).is_integer() else float(v)


def check_elements(html: str, found: list[list[Any]], name: str) -> Checked:
    """Keep the collect.js rows `[xpath, tag, id, class, x, y, w, h]` whose xpath resolves.

    Raises `shards.tokens.htmlparse.HtmlError` when the saved DOM does not parse.
    """
    kept = [{"xpath": row[0], "tag": row[1], "box": [_num(v) for v in row[4:8]]}
            for _, row in match_elements(parse_html(html, name), found)]
    return Checked(kept, len(found))


def match_elements(root: Any, found: list[list[Any]]) -> list[tuple[Any, list[Any]]]:
    """(element of `root`, its collect.js row) for every row whose xpath names an element of
    `root` with the same tag, id and class (the rule above), in the rows' order."""
    steps: dict[str, dict[str, Any]] = {}  # xpath of a parent -> {step of a child: the child}
    out = []
    for row in found:
        xpath, tag, el_id, el_class = row[:4]
        el = _lookup(root, xpath, steps)
        if el is not None and el.tag == tag and el.get("id") == el_id and el.get("class") == el_class:
            out.append((el, row))
    return out


def _children(el: Any) -> dict[str, Any]:
    """`el`'s element children by their last getpath step: `tag`, or `tag[i]` when several share it."""
    kids = [c for c in el if isinstance(c.tag, str)]
    total = Counter(c.tag for c in kids)
    seen: Counter = Counter()
    out = {}
    for c in kids:
        seen[c.tag] += 1
        out[f"{c.tag}[{seen[c.tag]}]" if total[c.tag] > 1 else c.tag] = c
    return out


def _lookup(root: Any, xpath: str, steps: dict[str, dict[str, Any]]) -> Any:
    """The element whose getpath is `xpath`, or None; `steps` caches each parent's children."""
    parts = xpath.split("/")
    if len(parts) < 2 or parts[0] != "" or parts[1] != root.tag:
        return None
    el, path = root, "/" + root.tag
    for step in parts[2:]:
        if path not in steps:
            steps[path] = _children(el)
        el = steps[path].get(step)
        if el is None:
            return None
        path += "/" + step
    return el


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("the browser's screenshot is not a PNG")
    w, h = struct.unpack(">II", png[16:24])
    return int(w), int(h)


def boxes_json(viewport: tuple[int, int], elements: list[dict[str, Any]], render: dict[str, Any]) -> bytes:
    """The `<id>.boxes.json` bytes: the format `augment run` reads, one element per line.

    Keys are sorted and numbers written the same way every time, so the same page gives
    the same bytes.
    """
    head = (f'{{"viewport": {json.dumps(list(viewport))},\n'
            f' "render": {json.dumps(render, sort_keys=True, ensure_ascii=False)},\n'
            ' "elements": [')
    rows = ",\n  ".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in elements)
    return (head + ("\n  " + rows + "\n ]" if rows else "]") + "}\n").encode("utf-8")

"""A small element tree the layouts build, serialised to HTML with the xpaths of its marked parts.

A layout builds `El` nodes; the ones that are a region or a section carry a `Mark` (their
type, and for a section the region it belongs to). `render_body` writes the HTML and
returns the truth: each marked element's xpath in the form lxml's ``getpath`` gives for the
page the browser saves (``/html/body/main/section[2]``: a tag, and ``[i]`` among same-tag
siblings when there are several). Marks never reach the HTML: what the label rule reads is
only the markup a real page would have. The markup is written so the browser's DOM keeps the
same tree (tables with their ``tbody``, no block element inside a ``p``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from html import escape

SOLO = "solo:"  # the key prefix of a region that is its own one section
VOID = frozenset({"img", "input", "br", "hr", "meta", "link", "source"})


@dataclass
class Mark:
    """What a marked element is: a region (`region` None) or a section of the region named `region`."""

    kind: str  # "region" | "section"
    type: str
    key: str = ""  # a region's key, which its sections name
    region: str | None = None


@dataclass
class El:
    """One element: tag, class, other attributes, children (elements or text) and an optional mark."""

    tag: str
    cls: str = ""
    kids: list["El | str"] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    mark: Mark | None = None

    def add(self, *kids: "El | str | None") -> "El":
        self.kids.extend(k for k in kids if k is not None and k != "")
        return self


def el(tag: str, cls: str = "", *kids: "El | str | None", **attrs: str) -> El:
    """`El(tag, cls)` with `kids`; attribute names with ``_`` are written with ``-`` (``aria_label``)."""
    return El(tag, " ".join(cls.split()), [k for k in kids if k is not None and k != ""],
              {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()})


def region(node: El, type_: str, key: str) -> El:
    node.mark = Mark("region", type_, key)
    return node


def section(node: El, type_: str, region_key: str) -> El:
    node.mark = Mark("section", type_, region=region_key)
    return node


def _open(node: El) -> str:
    attrs = ([f' class="{escape(node.cls)}"'] if node.cls else []) + [
        f' {k}="{escape(v)}"' for k, v in node.attrs.items()]
    return f"<{node.tag}{''.join(attrs)}>"


def _write(node: El, path: str, out: list[str], marks: list[tuple[Mark, str]]) -> None:
    if node.mark is not None:
        marks.append((node.mark, path))
    out.append(_open(node))
    if node.tag in VOID:
        return
    tags = Counter(k.tag for k in node.kids if isinstance(k, El))
    seen: Counter = Counter()
    for kid in node.kids:
        if isinstance(kid, str):
            out.append(escape(kid, quote=False))
            continue
        seen[kid.tag] += 1
        step = f"{kid.tag}[{seen[kid.tag]}]" if tags[kid.tag] > 1 else kid.tag
        _write(kid, f"{path}/{step}", out, marks)
    out.append(f"</{node.tag}>")


def render_body(body: El) -> tuple[str, dict]:
    """(the body's HTML, truth {"regions": [...], "sections": [...]}) of a tree whose root is ``body``."""
    out: list[str] = []
    marks: list[tuple[Mark, str]] = []
    _write(body, "/html/body", out, marks)
    regions = [(m, p) for m, p in marks if m.kind == "region"]
    index = {m.key: i for i, (m, _) in enumerate(regions)}
    sections = []
    for m, p in marks:
        if m.kind == "region" and m.key.startswith(SOLO):  # a region of one part: also its one section
            sections.append({"type": m.type, "xpath": p, "region": index[m.key]})
        elif m.kind == "section":
            if m.region not in index:
                raise ValueError(f"section {m.type} at {p} names region {m.region!r}, which is not marked")
            sections.append({"type": m.type, "xpath": p, "region": index[m.region]})
    truth = {"regions": [{"type": m.type, "xpath": p} for m, p in regions], "sections": sections}
    return "".join(out), truth

"""Child roles: what a section's visible building blocks are drawn as.

`child_roles(section, seen)` walks the section's subtree in document order and names each
building block by its role (`vocab.ROLES`); it does not look inside a block (a form's
inputs belong to the form) and keeps the first `MAX_CHILDREN` distinct roles. Elements
that draw nothing are skipped with their subtree (`Seen`: no box when the page's boxes were
measured inside the section). The merges (why ``a.btn``, ``button`` and a padded
``bg-*`` link are all ``btn``, why a list of logos is ``image``...) are documented in
`shards.tokens`.

The raw token of schema 1 (``section.hero@h1@p@a.btn``) is kept beside the canonical one
for reference: `raw_token` derives it exactly as schema 1 did.
"""
from __future__ import annotations

import re
from typing import Callable

from .vocab import MAX_CHILDREN, NON_CONTENT_TAGS, SALIENT_TAGS
from .walk import Element, elements, semantic_class

TAG_ROLES: dict[str, str] = {
    **{f"h{i}": "heading" for i in range(1, 7)},
    "p": "text", "figcaption": "text", "pre": "text", "address": "text", "blockquote": "text",
    "button": "btn", "form": "form", "textarea": "input", "select": "input",
    "img": "image", "picture": "image", "svg": "image", "canvas": "image", "video": "image",
    "iframe": "image", "object": "image", "embed": "image",
    "table": "table", "dl": "list",
}
BUTTON_INPUTS = frozenset({"submit", "button", "reset", "image"})
_BG = re.compile(r"^bg-")
_PAD = re.compile(r"^p[xy]?-\d")


class Seen:
    """Which elements are drawn. With boxes measured inside a section, a block (an element
    with a role) or a bare text's element needs a box of positive area: what is hidden
    (display:none, an empty image) has none. Other elements are always looked into, boxed
    or not (a crawler may box only some wrappers). With no box measured inside the section
    (a boxes dict of sections only), everything counts."""

    def __init__(self, box_of: Callable[[Element], list[float] | None], measured: bool):
        self.box_of, self.measured = box_of, measured

    def drawn(self, el: Element) -> bool:
        if not self.measured:
            return True
        box = self.box_of(el)
        return box is not None and box[2] > 0 and box[3] > 0


ALL_SEEN = Seen(lambda el: None, measured=False)


def button_styled(el: Element) -> bool:
    """A btn class (or synonym), ``role=button``, or a utility-styled pill: a ``bg-*``
    background together with a ``p-*``/``px-*``/``py-*`` padding (Tailwind's buttons)."""
    if semantic_class(el) == "btn" or (el.get("role") or "").strip().lower() == "button":
        return True
    classes = (el.get("class") or "").split()
    return any(_BG.match(c) for c in classes) and any(_PAD.match(c) for c in classes)


def _link_role(el: Element, seen: Seen) -> str | None:
    """btn if button-styled; image if it only wraps images; link if it holds words (with
    an icon or logo or not); None (look through it) if it wraps blocks such as a card."""
    if button_styled(el):
        return "btn"
    inner = set(child_roles(el, seen, None))
    if inner == {"image"} and not (el.text or "").strip():
        return "image"
    return "link" if inner <= {"image", "text"} else None  # words, with an icon or logo or not


def _item_roles(li: Element, seen: Seen) -> set[str]:
    roles = set(child_roles(li, seen, None))
    if (li.text or "").strip() and seen.drawn(li):
        roles.add("text")
    return roles


def _list_role(el: Element, seen: Seen) -> str | None:
    """image / link / btn when every drawn item is just that; list when the items are
    text lines (links among them or not); None (look through) when items hold blocks or
    nothing is drawn."""
    items = [r for li in elements(el) if li.tag not in NON_CONTENT_TAGS for r in [_item_roles(li, seen)] if r]
    if not items:
        return None
    for only in ("image", "link", "btn"):
        if all(i == {only} for i in items):
            return only
    return "list" if all(i <= {"text", "link"} for i in items) else None


def role_of(el: Element, seen: Seen = ALL_SEEN) -> str | None:
    """The role `el` is drawn as, or None when it is no block of its own (look inside)."""
    tag = el.tag
    if tag in TAG_ROLES:
        return TAG_ROLES[tag]
    if tag == "input":
        return "btn" if (el.get("type") or "").strip().lower() in BUTTON_INPUTS else "input"
    if tag == "a":
        return _link_role(el, seen)
    if tag in ("ul", "ol"):
        return _list_role(el, seen)
    if (el.get("role") or "").strip().lower() == "button":
        return "btn"
    return None


def _push(stack: list, parent: Element, seen: Seen) -> None:
    """Push `parent`'s children, each followed by a text marker where its tail is text."""
    drawn = None
    for c in reversed(elements(parent)):
        if (c.tail or "").strip():
            drawn = seen.drawn(parent) if drawn is None else drawn
            if drawn:
                stack.append("text")
        stack.append(c)


def child_roles(section: Element, seen: Seen = ALL_SEEN, limit: int | None = MAX_CHILDREN) -> list[str]:
    """Distinct roles of the drawn blocks under `section`, in order of first appearance.

    Text drawn outside any block (a bare text node in the section, a div or a span)
    counts as ``text`` where it appears.
    """
    out: list[str] = []
    stack: list = []
    _push(stack, section, seen)
    if (section.text or "").strip() and seen.drawn(section):
        stack.append("text")
    while stack and (limit is None or len(out) < limit):
        el = stack.pop()
        if isinstance(el, str):
            role = el
        elif el.tag in NON_CONTENT_TAGS:
            continue
        else:
            role = role_of(el, seen)
            if role is None:
                _push(stack, el, seen)
                if (el.text or "").strip() and seen.drawn(el):
                    stack.append("text")
                continue
            if not seen.drawn(el):
                continue
        if role not in out:
            out.append(role)
    return out


# ---------------------------------------------------------------- the raw (schema 1) token

def component(el: Element) -> str:
    """`tag` or `tag.class` (first semantic class in canonical form)."""
    cls = semantic_class(el)
    return f"{el.tag}.{cls}" if cls else str(el.tag)


def salient_components(section: Element, limit: int = MAX_CHILDREN) -> list[str]:
    """Distinct salient child components in document order of first appearance, not
    looking inside a salient element (schema 1's rule, kept for `raw_token`)."""
    seen: list[str] = []
    stack = list(reversed(elements(section)))
    while stack and len(seen) < limit:
        el = stack.pop()
        if el.tag in SALIENT_TAGS:
            comp = component(el)
            if comp not in seen:
                seen.append(comp)
            continue
        stack.extend(reversed(elements(el)))
    return seen


def raw_token(section: Element) -> str:
    """Schema 1's token, e.g. ``section.hero@h1@p@a.btn``."""
    return "@".join([component(section), *salient_components(section)])


def run_roles(members: list[Element], seen: Seen) -> list[str]:
    """The roles of a run of elements, as if they were the children of one section."""
    out: list[str] = []
    for m in members:
        role = role_of(m, seen)
        for r in [role] if role is not None else child_roles(m, seen):
            if r not in out and len(out) < MAX_CHILDREN:
                out.append(r)
    return out

"""Safe HTML parsing shared by both stages.

Source HTML comes from crawls nobody checked, so the parser never touches the network;
libxml2's HTML parser loads no DTD and expands no external entities (XXE), only HTML's
named character references; lxml's `huge_tree` stays off
so its built-in limits on depth and text size hold (billion-laughs, 10,000-level nesting).
A page that hits one of those limits is refused (HtmlError), never silently truncated.
"""
from __future__ import annotations

import lxml.etree
import lxml.html

MAX_HTML_BYTES = 20_000_000
MAX_DEPTH = 256  # libxml2's element nesting limit without huge_tree


class HtmlError(ValueError):
    """HTML that cannot be used; the message says why."""


def _parser() -> lxml.html.HTMLParser:
    return lxml.html.HTMLParser(
        no_network=True, huge_tree=False, remove_comments=True, remove_pis=True,
        default_doctype=False, encoding="utf-8",
    )


def parse_html(data: str | bytes, name: str = "<html>") -> lxml.html.HtmlElement:
    """Parse a page into its <html> root element, or raise HtmlError naming `name`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_HTML_BYTES:
        raise HtmlError(f"{name}: HTML is {len(data)} bytes, above the limit of {MAX_HTML_BYTES}")
    if not data.strip():
        raise HtmlError(f"{name}: HTML is empty")
    if b"\x00" in data[:4096]:
        raise HtmlError(f"{name}: HTML contains NUL bytes (binary file?)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HtmlError(f"{name}: HTML is not UTF-8 ({e.reason} at byte {e.start})") from None
    parser = _parser()
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as e:
        raise HtmlError(f"{name}: HTML does not parse ({e})") from None
    # libxml2 stops at its limits (nesting depth 256, 10 MB text node) with a FATAL error
    # but still returns the tree parsed so far: refuse it rather than keep a truncated page.
    fatal = [e for e in parser.error_log if e.level == lxml.etree.ErrorLevels.FATAL]
    if fatal:
        raise HtmlError(f"{name}: HTML exceeds the parser's limits (nesting depth {MAX_DEPTH}, "
                        f"text node 10 MB) and would be truncated: {fatal[0].message.strip()} "
                        f"(line {fatal[0].line})")
    if root is None or root.find("body") is None:
        raise HtmlError(f"{name}: HTML has no <body>")
    return root


def to_html(root: lxml.html.HtmlElement) -> str:
    """Serialize a parsed page deterministically (same tree, same text)."""
    return lxml.html.tostring(root, encoding="unicode", doctype="<!DOCTYPE html>")

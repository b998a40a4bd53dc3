"""What one page's render gives (`RawPage`), what the page asked for on the way (`Traffic`: the
router's counts, its requests in flight, its own navigations) and how a page fails
(`PageFailure`, whose reason is the reject code). Shared by the render (browser.py) and the
re-render (rerender.py).
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .environment import QUIET_S


class PageFailure(Exception):
    """One page could not be rendered: `reason` is the reject code."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class RawPage:
    """What the browser gives for one page, before any check on the Python side."""

    png: bytes
    html: str
    elements: list[list[Any]]  # [xpath, tag, id, class, x, y, w, h] from collect.js, clipped to the capture
    blocked: list[str] = field(default_factory=list)
    blocked_files: int = 0  # of `blocked`, the file: requests (outside the asset root, or not a file)
    cut: int = 0  # elements with a box wholly outside the captured area: not listed
    clipped: int = 0  # elements listed with the part of their box inside the captured area
    snapshot: bytes | None = None  # the page's canonical MHTML (snapshot.py), when the browser was asked for one
    snapshot_error: str | None = None  # why there is none although one was asked for


@dataclass
class Traffic:
    """What one page asked for and did not get, seen by the router."""

    blocked: list[str] = field(default_factory=list)
    files: int = 0
    navigations: list[str] = field(default_factory=list)  # the page's own navigations after its first
    page: Any = None
    started: bool = False
    loaded: list[tuple[str, str]] = field(default_factory=list)  # (url, resource type) let through: for snapshots
    archive: Any = None  # what a re-render serves (rerender.py); None for a page loaded from the asset root
    inflight: int = 0  # requests of the page not yet finished or failed
    moved: float = 0.0  # when (loop time) a request last started or ended

    def count(self, change: int) -> None:
        self.inflight += change
        self.moved = asyncio.get_running_loop().time()

    async def quiet(self, limit: float) -> None:
        """Return once no request has been in flight for QUIET_S, or after `limit` seconds."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while loop.time() < end and (self.inflight > 0 or loop.time() - self.moved < QUIET_S):
            await asyncio.sleep(QUIET_S / 3)

    def navigated(self, url: str) -> PageFailure:
        return PageFailure("navigated", f"{url}: the page navigated to {self.navigations[0]} (meta refresh, script "
                                        "or form); not rendered, since the capture would no longer be this page")

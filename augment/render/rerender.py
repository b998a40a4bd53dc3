"""Re-rendering an edited page in Chromium from its snapshot: what `augment run --rerender` does.

The structure ops edit a page's HTML tree (`augment.ops`); here Chromium renders that edited
HTML again, so the screenshot and the element boxes come from the browser instead of being
painted. The page is loaded at its original URL with every request answered by the router
from the page's snapshot (`snapshot.py`; a page whose URL has a scheme Chromium would not
request, the corpus's `corpus://SITE/...`, at an http URL of the same shape, `served`): the
document is the edited HTML, every other
request the archive's part for that URL, and whatever the archive lacks is refused and
counted (nothing is read from disk or network; the browser is started offline as in
`augment render`). The document is served with `Content-Security-Policy: script-src 'none'`:
the HTML is the DOM after the page's scripts ran, so running them again would apply them
twice; scripting stays on for the parser, so `<noscript>` stays hidden as in the first render.
Everything else is the render stage's: `Browser.render` with its window (from the snapshot),
fixed clock, seeded `Math.random`, animations ended, collect.js's walk, every call bounded by
the timeout, a dead browser restarted and the page tried once more.

One browser per process (`renderer()`), started on first use and reused for every page the
process re-renders (a joblib or Dask worker keeps it between shards); it runs on an event
loop thread of its own, so synchronous work units call `rerender_page`.
"""
from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urldefrag, urlsplit, urlunsplit

import cv2
import numpy as np

from shards.pairs.folder import Reject

from ..page import ROW_ATTR, Page, box_to_quad
from .browser import Browser, BrowserGone, PageFailure, RawPage, Traffic, _frame_of, _playwright, find_browser
from .extract import match_elements
from .guard import INLINE_SCHEMES, NETWORK, OUTSIDE
from .snapshot import Snapshot, SnapshotError, read_snapshot, snapshot_path

TIMEOUT = 30.0  # seconds per page, `augment render`'s default
MAX_ELEMENTS = 20_000  # `augment render`'s default
NO_SCRIPTS = "script-src 'none'"
SERVED_SCHEMES = ("http", "https", "file")  # the router answers these; another scheme's page is served over http
SERVED_HOST = ".s2s-snapshot.invalid"  # corpus://site/a.html is served as http://corpus.s2s-snapshot.invalid/site/a.html
_SERVING: contextvars.ContextVar[tuple[Snapshot, bytes] | None] = contextvars.ContextVar("serving", default=None)


def served(url: str) -> str:
    """The URL a snapshot's `url` is loaded under: itself, or for a scheme Chromium would not
    request (the corpus's `corpus://SITE/...`) an http URL keeping the path's shape."""
    parts = urlsplit(url)
    if parts.scheme.lower() in SERVED_SCHEMES:
        return url
    return urlunsplit(("http", parts.scheme.lower() + SERVED_HOST, f"/{parts.netloc}{parts.path}", parts.query, ""))


def original(url: str) -> str:
    """The inverse of `served`: the archive's URL of a request."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not (parts.hostname or "").endswith(SERVED_HOST):
        return url
    netloc, _, path = parts.path[1:].partition("/")
    return urlunsplit((parts.hostname[: -len(SERVED_HOST)], netloc, "/" + path, parts.query, ""))


class RerenderError(RuntimeError):
    """One page could not be rendered again: `reason` is the browser's reject code (timeout, ...)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class ArchiveGuard:
    """The asset rule of a re-render: the page's own document (in the task re-rendering it),
    data: and blob: load; everything else only from the archive (the router serves it)."""

    root = "the page's snapshot"
    allow_network = False
    follow_symlinks = False

    def refuses(self, url: str) -> str | None:
        scheme = urlsplit(url).scheme.lower()
        if scheme in INLINE_SCHEMES:
            return None
        serving = _SERVING.get()
        if serving is not None and urldefrag(url)[0] == urldefrag(served(serving[0].url))[0]:
            return None
        return OUTSIDE if scheme == "file" else NETWORK


class SnapshotBrowser(Browser):
    """`Browser` whose pages come from a snapshot: the router serves the archive (see above)."""

    def __init__(self, executable: str):
        super().__init__(executable, ArchiveGuard(), javascript=True)

    async def rerender(self, snapshot: Snapshot, html: bytes, timeout: float, max_elements: int) -> RawPage:
        """Render `html` as the page of `snapshot`; a dead browser raises BrowserGone (as `render`)."""
        token = _SERVING.set((snapshot, html))
        try:
            return await self.render(served(snapshot.url), snapshot.width, snapshot.height, snapshot.max_height,
                                     timeout, max_elements)
        finally:
            _SERVING.reset(token)

    async def _open(self, context, traffic: Traffic, *args: Any) -> RawPage:
        traffic.archive = _SERVING.get()  # the route handlers run in Playwright's task, not this one
        return await super()._open(context, traffic, *args)

    async def _route(self, route, traffic: Traffic) -> None:
        snapshot, html = traffic.archive
        request = route.request
        url = urldefrag(original(request.url))[0]
        navigation = traffic.page is not None and _frame_of(request) == traffic.page.main_frame \
            and request.is_navigation_request()
        if navigation and not traffic.started and url == urldefrag(snapshot.url)[0]:
            traffic.started = True
            await route.fulfill(status=200, body=html, headers={
                "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": NO_SCRIPTS})
            return
        found = None if navigation else snapshot.lookup(url)
        if found is None:  # the page's own navigation rule, then the guard: refused and counted
            await super()._route(route, traffic)
            return
        ctype, body = found
        headers = {"Content-Type": ctype, "Access-Control-Allow-Origin": "*"}  # fonts from another origin need CORS
        if request.resource_type == "document":
            headers["Content-Security-Policy"] = NO_SCRIPTS  # a frame's scripts ran already too
        await route.fulfill(status=200, body=body, headers=headers)


class Renderer:
    """A SnapshotBrowser on an event loop thread of its own; `render` is called from any thread."""

    def __init__(self, executable: str, timeout: float):
        self.timeout, self.pid = timeout, os.getpid()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="s2s-rerender", daemon=True)
        self.thread.start()
        self.browser = SnapshotBrowser(executable)
        try:
            self._call(self.browser.__aenter__(), 120)
        except BaseException:
            self.loop.call_soon_threadsafe(self.loop.stop)
            raise

    def _call(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def render(self, snapshot: Snapshot, html: bytes, max_elements: int = MAX_ELEMENTS) -> RawPage:
        """The re-rendered page, or RerenderError; a browser that dies twice on the page is `browser_crash`."""
        for attempt in range(2):
            try:  # render() bounds every browser call by the timeout; this bound is only a backstop
                return self._call(self.browser.rerender(snapshot, html, self.timeout, max_elements),
                                  4 * self.timeout + 60)
            except BrowserGone as gone:
                self._call(self.browser.restart(gone.generation), 120)
                if attempt:
                    raise RerenderError("browser_crash", f"{snapshot.path}: the browser died twice while "
                                                         f"re-rendering this page ({gone})") from None
            except PageFailure as f:
                raise RerenderError(f.reason, f"{snapshot.path}: {f}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        try:
            self._call(self.browser.__aexit__(None, None, None), 60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


_RENDERERS: dict[tuple[str | None, float], Renderer] = {}
_LOCK = threading.Lock()


def renderer(browser: str | None = None, timeout: float = TIMEOUT) -> Renderer:
    """This process's renderer for (`browser`, `timeout`), started on first use (one browser per worker)."""
    key = (browser, timeout)
    with _LOCK:
        found = _RENDERERS.get(key)
        if found is None or found.pid != os.getpid():  # a forked child never shares its parent's browser
            found = _RENDERERS[key] = Renderer(find_browser(browser), timeout)
        return found


@atexit.register
def close_renderers() -> None:
    """Close this process's renderers (at exit, or when a caller wants its browsers gone now)."""
    for r in list(_RENDERERS.values()):
        if r.pid == os.getpid():
            try:
                r.close()
            except Exception:  # noqa: BLE001 - at exit: the driver may be gone already; the browser dies with it
                pass
    _RENDERERS.clear()


def check_browser(browser: str | None = None) -> str:
    """The Chromium executable a re-render would start; BrowserError (saying how to get one) without it."""
    _playwright()
    return find_browser(browser)


def rerender_page(page: Page, snapshot: Snapshot, browser: str | None = None, timeout: float = TIMEOUT) -> None:
    """Replace `page`'s pixels and boxes with Chromium's rendering of its current HTML (in place).

    Every row gets the box collect.js found for its element (matched by xpath, tag, id and
    class in the page's own tree), NaN where the browser shows none; the op is recorded as
    `{"op": "rerender", "snapshot": <digest>, "blocked": <requests the archive could not answer>}`.
    """
    raw = renderer(browser, timeout).render(snapshot, page.html().encode("utf-8"))
    image = cv2.imdecode(np.frombuffer(raw.png, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise RerenderError("bad_screenshot", f"{snapshot.path}: the browser's screenshot does not decode")
    quads = np.full((len(page.source_xpaths), 4, 2), np.nan)
    for el, row in match_elements(page.root, raw.elements):
        if el.get(ROW_ATTR) is not None:
            quads[int(el.get(ROW_ATTR))] = box_to_quad(np.asarray([row[4:8]], dtype=np.float64))[0]
    page.image, page.quads = cv2.cvtColor(image, cv2.COLOR_BGR2RGB), quads
    page.ops.append({"op": "rerender", "snapshot": snapshot.digest, "blocked": len(raw.blocked)})


def rerender_hook(snapshot: Snapshot | None) -> Callable[[Page], None] | None:
    """The pipeline's `rerender` hook for a page with `snapshot` (None: painted); the browser starts on first use."""
    return None if snapshot is None else partial(rerender_page, snapshot=snapshot)


def pair_snapshot(html: Path, counts: Counter) -> Snapshot | None:
    """The snapshot beside the pair whose HTML is `html`, for `rerender`: None when it has none
    (counted: `sources_painted_no_snapshot`), a `Reject` (`bad_snapshot`) when it cannot be read."""
    path = snapshot_path(html)
    if not path.is_file():
        counts["sources_painted_no_snapshot"] += 1
        return None
    try:
        snapshot = read_snapshot(path)
    except SnapshotError as e:
        raise Reject("bad_snapshot", str(e)) from None
    counts["sources_rerendered"] += 1
    return snapshot

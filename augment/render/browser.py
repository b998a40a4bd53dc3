"""Headless Chromium through Playwright: find the browser, start it, render one page.

Only a browser already on the machine is used (Debian's `chromium`, found on PATH, or
`--browser PATH`); nothing is downloaded (`playwright install` is never run). Each page
gets a fresh browser context, so no cache, cookie or storage carries from one page to the
next, with everything that changes pixels fixed: viewport and device scale 1, light
colour scheme, reduced motion, CSS animations ended, en-US, UTC, seeded `Math.random`,
`crypto.getRandomValues` and `crypto.randomUUID`, and the page's clock (Date,
performance.now, timers, animation frames) fake and paused: after load the page's timers
run in order for a fixed stretch of virtual time (`settle`), so what a page's scripts do
after load no longer races the capture (same bytes from two renders of a page).
Every request of the page, its frames and pop-ups goes through one router that asks
`guard.AssetRoot` (file: only under the asset root; offline by default): a refused request
is aborted and counted. Service workers are blocked, WebSockets closed, pop-ups refused
(Chromium's pop-up blocker), downloads cancelled, and the host resolver resolves nothing,
so a request that slipped past the router would still not leave. A navigation of the page
itself after its first (meta refresh, script, form, a download link to another file) is
aborted and the page is a reject (`navigated`): what would be captured is no longer the
page asked for. The browser runs in its own sandbox where the platform allows
(`sandbox.py`).
"""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from shards.tokens.htmlparse import MAX_HTML_BYTES

from .environment import (CHROMIUM_ARGS, FIXED_TIME, FRAME_KEY, IGNORED_DEFAULTS, INIT_JS, OFFLINE_ARGS, QUIET_MAX_S,
                          SETTLE_MS, SETTLE_ROUNDS)
from .guard import NETWORK, AssetRoot
from .outcome import PageFailure, RawPage, Traffic
from .sandbox import Launch, launches, private_folder
from .snapshot import MAX_SNAPSHOT_BYTES, capture

COLLECT_JS = (Path(__file__).with_name("collect.js")).read_text(encoding="utf-8")
# Debian's /usr/bin/chromium is a launcher script that adds flags from /etc/chromium.d
# (extensions, GPU rasterization); the binary it runs is started directly instead.
BROWSER_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser",
                      "google-chrome-stable", "google-chrome")
INSTALL_HINT = "install it with `apt-get install -y chromium` or pass --browser PATH"


class BrowserError(RuntimeError):
    """No usable browser or Playwright; the message says how to get one."""


def find_browser(path: str | None = None) -> str:
    """The Chromium executable to start: `path` if given, else the first candidate found."""
    if path:
        found = shutil.which(path) or (path if Path(path).is_file() else None)
        if not found:
            raise BrowserError(f"--browser {path}: no such executable; {INSTALL_HINT}")
        return found
    for name in BROWSER_CANDIDATES:
        found = shutil.which(name) or (name if name.startswith("/") and Path(name).is_file() else None)
        if found:
            return found
    raise BrowserError(f"no Chromium found (looked for {', '.join(BROWSER_CANDIDATES)}); {INSTALL_HINT}")


def _playwright():
    """(async_playwright, Playwright's TimeoutError), or BrowserError saying how to install it."""
    try:
        from playwright.async_api import TimeoutError as PlaywrightTimeout
        from playwright.async_api import async_playwright
    except ImportError:
        raise BrowserError("`augment render` needs Playwright, in the render extra: "
                           "pip install -e '.[render]' (the browser itself comes from the system)") from None
    return async_playwright, PlaywrightTimeout


class Browser:
    """One Chromium process, restarted when it dies (`restarts` counts how often).

    `guard` decides every request; `javascript` False runs no script of the page (collect.js
    still runs, from outside the page). `sandbox` says how the browser was started.
    """

    def __init__(self, executable: str, guard: AssetRoot, javascript: bool = True, snapshot: bool = False):
        self.executable, self.guard, self.javascript = executable, guard, javascript
        self.snapshot = snapshot  # also capture each page's self-contained archive (snapshot.py)
        self.restarts = 0
        self.sandbox = ""
        self._pw_cm = self._pw = self._browser = self._timeout_error = None
        self._launch_as: Launch | None = None
        self._folder: Path | None = None
        self._generation = 0
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> "Browser":
        start, self._timeout_error = _playwright()
        self._folder = private_folder()
        try:
            self._pw_cm = start()
            self._pw = await self._pw_cm.__aenter__()
            await self._launch()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self._browser is not None and self._browser.is_connected():
                await asyncio.wait_for(self._browser.close(), 30)
        finally:
            try:
                if self._pw_cm is not None:
                    await self._pw_cm.__aexit__(*exc)
            finally:
                shutil.rmtree(self._folder, ignore_errors=True)

    async def _launch(self) -> None:
        """Start the browser the first way that works (sandbox.launches), then always that way."""
        args = CHROMIUM_ARGS + ([] if self.guard.allow_network else OFFLINE_ARGS)
        failed = []
        for way in [self._launch_as] if self._launch_as else launches(self.executable, self._folder):
            try:
                self._browser = await self._pw.chromium.launch(executable_path=way.executable, args=args,
                                                               chromium_sandbox=way.sandbox,
                                                               ignore_default_args=IGNORED_DEFAULTS)
            except Exception as e:  # noqa: BLE001 - Playwright wraps every launch failure in its own Error
                failed.append(f"{'sandboxed' if way.sandbox else 'without sandbox'}: {_first_line(e)}")
                continue
            self._launch_as = way
            self.sandbox = way.says + (f" [start {failed[0]}]" if failed else "")
            self._generation += 1
            return
        raise BrowserError(f"{self.executable}: Chromium did not start ({'; '.join(failed)}); {INSTALL_HINT}")

    @property
    def connected(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    async def restart(self, generation: int) -> None:
        """Start a new browser unless another task already replaced generation `generation`."""
        async with self._lock:
            if generation != self._generation:
                return
            if self._browser is not None:
                try:
                    await asyncio.wait_for(self._browser.close(), 10)
                except Exception:  # noqa: BLE001 - the old process may be gone or hung; it is replaced either way
                    pass
            self.restarts += 1
            await self._launch()

    async def render(self, url: str, width: int, height: int, max_height: int, timeout: float,
                     max_elements: int) -> RawPage:
        """Load `url` and return its screenshot, DOM and element list, or raise PageFailure.

        A dead browser raises `BrowserGone` (the caller restarts it and tries once more).
        """
        if why := self.guard.refuses(url):  # inputs.py refuses these first; here so that no caller can skip it
            raise PageFailure(why, f"{url}: refused by the asset root {self.guard.root} ({why})")
        generation = self._generation
        # every call to the browser is bounded: a browser killed at the wrong moment (seen once in
        # the crash test, its pipe held open) otherwise left a call pending, and the job hung
        try:
            context = await asyncio.wait_for(self._browser.new_context(
                viewport={"width": width, "height": height}, device_scale_factor=1, reduced_motion="reduce",
                color_scheme="light", locale="en-US", timezone_id="UTC", service_workers="block",
                accept_downloads=False, java_script_enabled=self.javascript), timeout)
        except Exception as e:  # noqa: BLE001 - a dead or hung browser: replaced by the caller
            raise BrowserGone(generation, _first_line(e) or f"no new page context within {timeout:g} s") from None
        traffic = Traffic()
        crashed = []
        try:
            raw = await asyncio.wait_for(self._open(context, traffic, crashed, url, width, max_height, timeout,
                                                    max_elements), timeout)
            if traffic.navigations:
                raise traffic.navigated(url)
            raw.blocked, raw.blocked_files = sorted(traffic.blocked), traffic.files
            return raw
        except (asyncio.TimeoutError, TimeoutError, self._timeout_error):
            if not self.connected:
                raise BrowserGone(generation, "the browser went away during the page") from None
            raise PageFailure("timeout", f"{url}: not rendered within {timeout:g} s (--timeout)") from None
        except PageFailure:
            raise
        except Exception as e:  # noqa: BLE001 - Playwright raises its own Error for every page-side failure
            first = _first_line(e)
            if "closed" in first.lower() or "crash" in first.lower():
                # the error can arrive a few ms before the disconnect or crash event that explains it
                for _ in range(25):
                    if crashed or not self.connected:
                        break
                    await asyncio.sleep(0.02)
            if not self.connected:
                raise BrowserGone(generation, first) from None
            if traffic.navigations:  # the aborted navigation destroyed the context collect.js ran in
                raise traffic.navigated(url) from None
            if crashed:
                raise PageFailure("page_crash", f"{url}: the page's renderer crashed") from None
            raise PageFailure("navigation_error", f"{url}: {first}") from None
        finally:
            try:
                await asyncio.wait_for(context.close(), 10)
            except Exception:  # noqa: BLE001 - a hung or dead context: the next page gets a new one
                pass

    async def _open(self, context, traffic: Traffic, crashed: list, url: str, width: int, max_height: int,
                    timeout: float, max_elements: int) -> RawPage:
        """Set the context up (fixed clock, routes), open its page and load ``url``."""
        await context.add_init_script(INIT_JS)  # before the clock's own script: it keeps the native frames
        if self.javascript:  # the fake clock is a script of the page's; with scripts off there is no timer to run
            # pause_at alone installs it paused: Date at FIXED_TIME, performance.now 0. After an install(),
            # the clock ran in real time until the pause, and the 12-39 ms between the two calls moved
            # performance.now and the phase of animation frames (an animated icon drew another frame)
            await context.clock.pause_at(FIXED_TIME)
        await context.route("**/*", lambda route: self._route(route, traffic))
        if not self.guard.allow_network:
            await context.route_web_socket("**/*", lambda ws: _block_ws(ws, traffic))
        page = traffic.page = await context.new_page()
        page.on("crash", lambda _: crashed.append(True))
        page.on("request", lambda _: traffic.count(1))
        page.on("requestfinished", lambda _: traffic.count(-1))
        page.on("requestfailed", lambda _: traffic.count(-1))
        return await self._load(page, traffic, url, width, max_height, timeout, max_elements)

    async def _snapshot(self, page, raw: RawPage, traffic: Traffic, window: tuple[int, int, int]) -> None:
        """Attach the page's snapshot to `raw`; a page whose snapshot fails is still rendered, without one."""
        try:
            raw.snapshot = await capture(page, traffic.loaded, self.guard, window)
        except Exception as e:  # noqa: BLE001 - CDP and the MHTML parser fail in their own ways; counted, not fatal
            raw.snapshot_error = f"capture_failed: {_first_line(e)}"
            return
        if len(raw.snapshot) > MAX_SNAPSHOT_BYTES:
            raw.snapshot, raw.snapshot_error = None, f"too_large: {len(raw.snapshot)} bytes > {MAX_SNAPSHOT_BYTES}"

    async def settle(self, page, traffic: Traffic, timeout: float) -> None:
        """Let the loaded page finish what its scripts do after load, the same way every time:
        wait for its requests to end, run its timers and frames SETTLE_MS of virtual time, again."""
        limit = min(QUIET_MAX_S, timeout / 4)
        for _ in range(SETTLE_ROUNDS if self.javascript else 0):
            await traffic.quiet(limit)
            try:
                await page.clock.run_for(SETTLE_MS)
            except self._timeout_error:
                raise
            except Exception:  # noqa: BLE001 - Playwright's Error
                # a timer of the page threw (a map page's `google` undefined): the clock ran every due timer,
                # then raised the first error; in a browser the page would go on, so it does. A closed page
                # or a gone browser is the caller's to classify, at once or at its next call
                if page.is_closed() or not self.connected:
                    raise
        await traffic.quiet(limit)

    async def _load(self, page, traffic: Traffic, url: str, width: int, max_height: int, timeout: float,
                    max_elements: int) -> RawPage:
        response = await page.goto(url, wait_until="load", timeout=timeout * 1000)
        if response is not None and response.status >= 400:
            raise PageFailure("http_error", f"{url}: HTTP {response.status}")
        await self.settle(page, traffic, timeout)  # a page that never goes quiet is rendered as it is
        found = await page.evaluate(COLLECT_JS, {"width": width, "maxHeight": max_height, "maxElements": max_elements,
                                                 "maxHtml": MAX_HTML_BYTES, "frames": 2 if self.javascript else 0,
                                                 "frameKey": FRAME_KEY})
        if found["over"]:
            raise PageFailure("too_many_elements", f"{url}: more than {max_elements} elements in the captured "
                                                   "area (--max-elements); nothing written for this page")
        if found["html"] is None:
            raise PageFailure("bad_html", f"{url}: the DOM after load is {found['htmlChars']} characters, above "
                                          f"the limit of {MAX_HTML_BYTES} bytes `augment run` reads")
        raw = RawPage(b"", found["html"], found["elements"], cut=found["cut"], clipped=found["clipped"])
        if self.snapshot:  # before the screenshot: a full-page screenshot grows the page's viewport for a
            # moment, and the resize and scroll handlers that wakes (a theme's sidebar width, a header's
            # scroll state) ran before the snapshot in one render and after it in the next
            await self._snapshot(page, raw, traffic, (width, page.viewport_size["height"], max_height))
        clip = {"x": 0, "y": 0, "width": width, "height": min(int(found["height"]), max_height)}
        raw.png = await page.screenshot(full_page=True, clip=clip, animations="disabled", caret="hide",
                                        timeout=timeout * 1000)
        return raw

    async def _route(self, route, traffic: Traffic) -> None:
        request = route.request
        if _browser_icon(request):  # never drawn into the page; refused and not recorded (see below)
            await route.abort("blockedbyclient")
            return
        main = traffic.page is not None and _frame_of(request) == traffic.page.main_frame
        if main and request.is_navigation_request():
            if traffic.started:
                traffic.navigations.append(request.url)
                await route.abort("blockedbyclient")
                return
            traffic.started = True
        why = self.guard.refuses(request.url)
        if why is None:
            traffic.loaded.append((request.url, request.resource_type))
            await route.continue_()
            return
        traffic.blocked.append(request.url)
        traffic.files += why != NETWORK
        await route.abort("blockedbyclient")


def _browser_icon(request) -> bool:
    """Whether `request` is Chromium's own fetch of the page's icon (type "other", asking for an image).

    The browser asks for it after load, at a time of its own: on a loaded machine it came before
    the capture in one render and after it in the next, so a page's boxes file listed it once and
    not the next time (CI, 1 of 12 pages). The icon is never drawn into the screenshot.
    """
    return request.resource_type == "other" and request.headers.get("accept", "").startswith("image/")


def _frame_of(request) -> Any:
    try:
        return request.frame
    except Exception:  # noqa: BLE001 - a service worker's request has no frame (and service workers are blocked)
        return None


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


class BrowserGone(Exception):
    """The browser process died (or stopped answering) while rendering a page."""

    def __init__(self, generation: int, message: str):
        super().__init__(message)
        self.generation = generation


async def _block_ws(ws, traffic: Traffic) -> None:
    traffic.blocked.append(ws.url)  # never connected to the server: the page sees the socket close
    await ws.close()

"""The fixed surroundings every page is rendered in: Chromium's flags, the script that runs
before the page's own (seeded randomness, animations ended at once, the native frame kept for
collect.js) and how long the page's fake clock runs after load (`Browser.settle`).

Kept apart from the browser's mechanics (browser.py) so that what makes two renders of a page
the same bytes can be read in one place; the render and the re-render (rerender.py) both use it.
"""
from __future__ import annotations

FIXED_TIME = "2024-01-01T00:00:00Z"
# After load, with no request in flight for QUIET_S, the page's timers and animation frames run
# SETTLE_MS of virtual time, SETTLE_ROUNDS times (a timer may start requests, whose answers
# may start timers). On the corpus pages that differed from one render to the next, what
# raced the capture started within a second of load: progress bars and chart animations
# (~1 s), a banner shown 320 ms after its fetch, a page loader's timers. A page that never
# goes quiet is settled anyway after QUIET_MAX_S a round (the --timeout still bounds it all).
SETTLE_ROUNDS, SETTLE_MS, QUIET_S, QUIET_MAX_S = 3, 2000, 0.15, 5.0
# The page's native requestAnimationFrame, kept for collect.js (the fake clock's frames only run
# when the clock is advanced), under a key the page cannot overwrite.
FRAME_KEY = "screen2section.frame"
# Run in every page before its own scripts (and before the fake clock's). Math.random and
# crypto.getRandomValues / randomUUID from fixed xorshift32 seeds, so pages that shuffle or
# make ids draw the same (getRandomValues still checks its argument the browser's way first).
# CSS animations and transitions end at once (a 1 ms single run): a 2-s fade-in finished by
# collect.js still left its text a few pixel values off in 1 of 90 renders. The sheet is
# adopted, so it is in no serialized DOM.
INIT_JS = """(() => {
  const xorshift = (s) => () => { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; return s >>> 0; };
  const draw = xorshift(0x2545f491), bytes = xorshift(0x9e3779b9);
  Math.random = () => draw() / 4294967296;
  const check = Crypto.prototype.getRandomValues;
  const fill = (a) => { const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < b.length; i++) b[i] = bytes() & 255; return a; };
  Crypto.prototype.getRandomValues = function (a) { check.call(this, a); return fill(a); };
  Crypto.prototype.randomUUID = function () {
    const b = fill(new Uint8Array(16)); b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`; };
  Object.defineProperty(window, Symbol.for("FRAME_KEY"), {value: window.requestAnimationFrame.bind(window)});
  const still = new CSSStyleSheet();
  still.replaceSync("*, *::before, *::after { animation-duration: 1ms !important; animation-delay: 0s !important;"
    + " animation-iteration-count: 1 !important; transition-duration: 0s !important;"
    + " transition-delay: 0s !important; }");
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, still]; })();""".replace("FRAME_KEY", FRAME_KEY)
# --no-sandbox only where sandbox.py finds no sandbox; never --allow-file-access-from-files. Playwright's default
# --disable-popup-blocking is left out (IGNORED_DEFAULTS): with Chromium's pop-up blocker on, window.open without a
# user's click opens nothing; without it, a page's 50 window.open calls took 18 s instead of 3 (loaded machine).
IGNORED_DEFAULTS = ["--disable-popup-blocking"]
CHROMIUM_ARGS = [
    "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps",
    "--disable-domain-reliability", "--force-color-profile=srgb", "--font-render-hinting=none",
    "--hide-scrollbars",
    # each frame drawn only once every compositor stage ran, images decoded before they are drawn, tiles
    # rasterized whole: without them 1 of 4 renders of a docs page had 4 corner pixels of rounded <code>
    # backgrounds 1 value off (and 2 of ~60 corpus pages so differed); with them 0 of 4
    "--run-all-compositor-stages-before-draw", "--disable-checker-imaging", "--disable-partial-raster",
]
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND"]

"""Two renders of a page give the same bytes, whatever its scripts do after load.

A hand-made page races the capture the ways real ones did in the corpus (a banner shown by a
timer after a fetch, a progress bar, an animation-frame loop, ids from crypto.randomUUID,
performance.now written into the DOM, a timer that throws, an icon the browser asks for when it
likes), and pages of the committed real-page slice (tests/data/real) are rendered twice.
Skipped, with the reason, where Playwright or the system Chromium is missing.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from augment.render import RenderOptions, render_pages
from augment.render.environment import SETTLE_MS, SETTLE_ROUNDS
from shards.pairs.groups import read_groups
from test_render import _why_skip


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=f"no browser to render with: {_why_skip()}")

REAL = Path(__file__).parent / "data" / "real"
OPTS = RenderOptions(progress=False, timeout=30, jobs=1)
RACING = """<!DOCTYPE html><html><head><link rel="icon" href="https://example.com/icon.png">
<style>body { margin: 0; font: 16px sans-serif }</style></head><body>
<div id="banner" style="height: 0px; overflow: hidden; background: #cde">announcement</div>
<div id="bar" style="height: 12px; width: 0; background: #3a6"></div>
<canvas id="spin" width="120" height="120"></canvas>
<p id="ids"></p><p id="late">waiting</p><p id="ticks"></p>
<script>
const ids = document.getElementById("ids");
ids.textContent = [crypto.randomUUID(), crypto.getRandomValues(new Uint32Array(2)).join(","),
                   Math.random().toFixed(6), performance.now(), new Date().toISOString()].join(" ");
fetch("missing.json").catch(() => null).then(() => setTimeout(() => {
  document.getElementById("banner").style.height = "auto"; }, 320));
setTimeout(() => { google.maps.load(); }, 10);  // a timer that throws, as a map page's did offline
setTimeout(() => { document.getElementById("bar").style.width = "60%"; }, 900);
setTimeout(() => { document.getElementById("late").textContent = "shown at " + performance.now(); }, 1500);
let n = 0; setInterval(() => { document.getElementById("ticks").textContent = "tick " + (++n); }, 70);
const ctx = document.getElementById("spin").getContext("2d");
(function draw(t) {
  ctx.clearRect(0, 0, 120, 120); ctx.save(); ctx.translate(60, 60); ctx.rotate(Date.now() / 300);
  ctx.fillStyle = "#c33"; ctx.fillRect(-40, -8, 80, 16); ctx.restore(); requestAnimationFrame(draw);
})();
</script></body></html>
"""


def _same_bytes(a: Path, b: Path) -> list[str]:
    names = sorted(p.name for p in a.iterdir() if p.suffix in (".png", ".html", ".json") and p.name != "groups.json")
    assert names and names == sorted(p.name for p in b.iterdir() if p.suffix in (".png", ".html", ".json")
                                     and p.name != "groups.json")
    return [n for n in names if (a / n).read_bytes() != (b / n).read_bytes()]


def test_a_page_whose_scripts_race_the_capture_renders_the_same_twice(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "racing.html").write_text(RACING, encoding="utf-8")
    render_pages(tmp_path / "a", html_dir=pages, opts=OPTS)
    render_pages(tmp_path / "b", html_dir=pages, opts=OPTS)
    assert _same_bytes(tmp_path / "a", tmp_path / "b") == []
    html = next((tmp_path / "a").glob("*.html")).read_text(encoding="utf-8")
    # the page's timers ran before the capture (in virtual time), from a fixed clock and seeds
    assert '<div id="banner" style="height: auto;' in html and "width: 60%" in html
    assert "shown at 1500" in html and " 0 2024-01-01T00:00:00.000Z" in html  # performance.now, Date at load
    assert f"tick {SETTLE_ROUNDS * SETTLE_MS // 70}<" in html  # the virtual time settled, at 70 ms a tick
    render = json.loads(next((tmp_path / "a").glob("*.boxes.json")).read_text(encoding="utf-8"))["render"]
    assert render["blocked"] == []  # the icon (a refused URL) is never drawn, so not recorded


@pytest.mark.slow  # ~30-60 s on 2 loaded cores: 12 real pages rendered twice
def test_pages_of_the_committed_slice_render_the_same_twice(tmp_path):
    groups = read_groups(REAL / "groups.json")
    one_per_site = sorted({site: page for page, site in sorted(groups.items())}.values())[:12]
    pages = tmp_path / "pages"
    pages.mkdir()
    for page in one_per_site:
        shutil.copy(REAL / f"{page}.html", pages / f"{page}.html")
    a = render_pages(tmp_path / "a", html_dir=pages, opts=OPTS)
    render_pages(tmp_path / "b", html_dir=pages, opts=OPTS)
    assert a.rendered == len(one_per_site) >= 8
    assert _same_bytes(tmp_path / "a", tmp_path / "b") == []

"""`augment render` with the real headless Chromium: the page set, determinism, offline, rejects, reruns.

Skipped, with the reason, where Playwright or the system Chromium is missing (`make setup`
says how to add them; `.ci/run` installs the browser).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.render import REJECTS_NAME, BrowserError, RenderOptions, render_pages
from augment.render.rerender import check_browser
from shards import load_manifest
from shards.tokens.htmlparse import parse_html


def _why_skip() -> str | None:
    """Why the render tests cannot run here (no Playwright, no Chromium), or None; the other
    browser test files use it too."""
    try:
        check_browser()
    except BrowserError as e:
        return str(e)
    return None


pytestmark = pytest.mark.skipif(_why_skip() is not None, reason=f"no browser to render with: {_why_skip()}")

PAGES = Path(__file__).parent / "data" / "pages"
FAST = RenderOptions(progress=False, timeout=20)


def _opts(**kw) -> RenderOptions:
    return RenderOptions(**{**FAST.__dict__, **kw})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    return out, render_pages(out, html_dir=PAGES, opts=_opts(jobs=2))


def _boxes(out: Path, sid: str) -> dict:
    return json.loads((out / f"{sid}.boxes.json").read_text())


def test_page_set_renders_and_xpaths_resolve_in_the_projects_parse(rendered):
    out, summary = rendered
    ids = sorted(p.stem for p in PAGES.glob("*.html"))
    assert summary.rendered == len(ids) and not summary.rejects
    assert summary.xpath_rate >= 0.99, summary.text()
    for sid in ids:
        doc = _boxes(out, sid)
        image = cv2.imread(str(out / f"{sid}.png"))
        assert doc["viewport"] == [image.shape[1], image.shape[0]] and image.shape[1] == 1280
        root = parse_html((out / f"{sid}.html").read_bytes(), sid)
        tree = root.getroottree()
        index = {tree.getpath(el): el.tag for el in root.iter() if isinstance(el.tag, str)}
        resolved = sum(index.get(e["xpath"]) == e["tag"] for e in doc["elements"])
        assert resolved == len(doc["elements"]) > 50, sid
        assert all(e["box"][2] > 0 and e["box"][3] > 0 for e in doc["elements"])
    assert _boxes(out, "docs-manual")["viewport"][1] > 800  # taller than the viewport: the full page


def test_hidden_and_empty_elements_have_no_box(rendered):
    out, _ = rendered
    root = parse_html((out / "blog-index.html").read_bytes())
    tree = root.getroottree()
    xpaths = {e["xpath"] for e in _boxes(out, "blog-index")["elements"]}
    mobile_nav = tree.getpath(root.get_element_by_id("mobile-nav"))
    pixel = tree.getpath(root.find_class("tracking-pixel")[0])
    assert mobile_nav not in xpaths and not any(x.startswith(mobile_nav + "/") for x in xpaths)
    assert pixel not in xpaths
    assert tree.getpath(root.find_class("main-nav")[0]) in xpaths


def test_boxes_agree_with_the_pixels(rendered):
    out, _ = rendered
    image = cv2.cvtColor(cv2.imread(str(out / "landing-startup.png")), cv2.COLOR_BGR2RGB)
    root = parse_html((out / "landing-startup.html").read_bytes())
    tree = root.getroottree()
    boxes = {e["xpath"]: e["box"] for e in _boxes(out, "landing-startup")["elements"]}
    for cls, rgb in (("stats", (33, 37, 41)), ("newsletter", (232, 89, 12)), ("footer", (33, 37, 41))):
        x, y, w, h = boxes[tree.getpath(root.find_class(cls)[0])]
        for px, py in ((x + 3, y + 3), (x + w - 4, y + h - 4)):
            assert tuple(int(v) for v in image[int(py), int(px)]) == rgb, (cls, px, py)


def test_rendered_pairs_feed_augment_run(rendered, tmp_path):
    out, _ = rendered
    summary = run_job(out, tmp_path / "shards", load_config(None, factor=2), RunOptions(progress=False))
    m = load_manifest(tmp_path / "shards")
    assert summary.sources["accepted"] == len(list(PAGES.glob("*.html"))) and not summary.rejects
    assert m["stats"].get("sources_without_boxes", 0) == 0 and m["stats"].get("boxes_unmatched", 0) == 0
    assert "warning" not in summary.text()


@pytest.mark.slow  # ~6 s: a second browser start
def test_rendering_twice_gives_identical_bytes(rendered, tmp_path):
    out, _ = rendered
    again = tmp_path / "again"
    render_pages(again, html_dir=PAGES, opts=_opts(jobs=1))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_html5_void_elements_do_not_swallow_the_rest_of_the_page(tmp_path):
    # libxml2 knows only HTML4's void elements: a bare <embed> or <source> would hold the rest
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "media.html").write_text(
        '<!DOCTYPE html><html><body><div class="top"><p>long&shy;word<wbr>break</p>'
        '<picture><source srcset="a.png"><img src="data:image/gif;base64,R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAAL'
        'AAAAAABAAEAAAICRAEAOw==" width="20" height="20"></picture>'
        '<video width="80" height="40"><source src="a.mp4"><track src="a.vtt"></video>'
        '<embed src="x.swf" width="30" height="30"></div><div class="after"><h2>after</h2></div></body></html>')
    summary = render_pages(tmp_path / "out", html_dir=pages, opts=_opts())
    root = parse_html((tmp_path / "out" / "media.html").read_bytes())
    assert [c.get("class") for c in root.find("body")] == ["top", "after"]
    assert summary.xpath_rate == 1.0 and summary.elements_kept >= 8


def test_network_requests_are_blocked_and_counted(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "remote.html").write_text(
        '<html><head><link rel="stylesheet" href="https://example.com/site.css"></head><body>'
        '<h1>Remote parts</h1><img src="http://example.com/x.png" width="40" height="30">'
        '<script>fetch("http://example.com/api").catch(() => {});</script></body></html>')
    summary = render_pages(tmp_path / "out", html_dir=pages, opts=_opts())
    doc = _boxes(tmp_path / "out", "remote")
    assert summary.rendered == 1 and summary.blocked == doc["render"]["blocked_requests"] == 3
    assert doc["render"]["blocked"] == ["http://example.com/api", "http://example.com/x.png",
                                        "https://example.com/site.css"]
    assert any(e["tag"] == "img" for e in doc["elements"])  # the page is rendered all the same


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving `tmp_path/site`, recording every path asked for."""
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    site, asked = tmp_path / "site", []
    site.mkdir()
    (site / "style.css").write_text("body { background: rgb(10, 200, 30); }")
    (site / "page.html").write_text('<html><head><link rel="stylesheet" href="style.css"></head>'
                                    '<body><h1>served</h1></body></html>')

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            asked.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()


def test_offline_means_not_even_a_server_that_is_up_is_asked(local_server, tmp_path):
    base, asked = local_server
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "p.html").write_text(f'<html><head><link rel="stylesheet" href="{base}/style.css"></head>'
                                  f'<body><h1>x</h1><img src="{base}/x.png" width="9" height="9"></body></html>')
    summary = render_pages(tmp_path / "out", html_dir=pages, opts=_opts())
    assert summary.blocked == 2 and asked == []
    image = cv2.imread(str(tmp_path / "out" / "p.png"))
    assert tuple(int(v) for v in image[-1, -1]) == (255, 255, 255)  # the stylesheet's green never applied


def test_allow_network_renders_urls(local_server, tmp_path):
    base, asked = local_server
    urls = tmp_path / "urls.txt"
    urls.write_text(f"# one page\n{base}/page.html\n")
    summary = render_pages(tmp_path / "out", urls=urls, opts=_opts(allow_network=True))
    assert summary.rendered == 1 and summary.blocked == 0 and "/style.css" in asked
    (png,) = (tmp_path / "out").glob("*.png")
    assert tuple(int(v) for v in cv2.imread(str(png))[-1, -1]) == (30, 200, 10)  # BGR of the served CSS
    assert json.loads((tmp_path / "out" / "groups.json").read_text()) == {png.stem: "127.0.0.1"}  # the host
    assert "groups.json: 1 pages in 1 groups" in summary.text()


@pytest.mark.slow  # ~6-10 s: a second browser start and a page that runs into --timeout
def test_failing_pages_become_rejects_and_the_job_goes_on(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "good.html").write_text("<html><body><h1>fine</h1></body></html>")
    (pages / "hang.html").write_text("<html><body><p>forever</p><script>while (true) {}</script></body></html>")
    (pages / "empty.html").write_bytes(b"")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "augment", "render", "--html", str(pages), "--out", str(out),
                          "--timeout", "3", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "rendered 1" in run.stdout and "rejected 2 (no_elements=1, timeout=1)" in run.stdout
    rows = {r["source"]: r for r in map(json.loads, (out / REJECTS_NAME).read_text().splitlines())}
    assert rows["hang"]["reason"] == "timeout" and "3 s (--timeout)" in rows["hang"]["message"]
    assert rows["empty"]["reason"] == "no_elements" and str(pages / "empty.html") in rows["empty"]["message"]
    assert sorted(p.name for p in out.glob("*.*") if p.name != REJECTS_NAME) == [
        "good.boxes.json", "good.html", "good.mhtml", "good.png"]
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{(pages / 'good.html').as_uri()}\n{(tmp_path / 'nonexistent.html').as_uri()}\n")
    summary = render_pages(tmp_path / "out2", urls=urls, opts=_opts())
    assert summary.rendered == 1 and dict(summary.rejects) == {"navigation_error": 1}


def test_rerun_renders_only_what_is_missing(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    for name in ("a", "b", "c"):
        (pages / f"{name}.html").write_text(f"<html><body><h1>{name}</h1><p>text</p></body></html>")
    out = tmp_path / "out"
    assert render_pages(out, html_dir=pages, opts=_opts()).rendered == 3
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != REJECTS_NAME}
    (out / "b.boxes.json").unlink()  # as if killed before its last file
    (out / ".tmp-c.png.x1234567.s2s").write_bytes(b"half")  # a killed writer's leftover
    summary = render_pages(out, html_dir=pages, opts=_opts())
    assert (summary.rendered, summary.kept) == (1, 2)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != REJECTS_NAME}
    assert set(after) == set(before)
    assert all(after[n] == before[n] for n in after if not n.startswith("b."))
    assert render_pages(out, html_dir=pages, opts=_opts()).rendered == 0
    assert _browser_pids() == []  # every job closes its browser


def _browser_pids() -> list[int]:
    """Main Chromium processes started under this test process (Playwright's fresh profile dir)."""
    mine, found = os.getpid(), []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
            pid, ppid = int(d.name), int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        # a sandboxed child (zygote, renderer) rewrites its command line into one string: "--type=" is inside it
        if any(b"playwright_chromiumdev_profile" in c for c in cmd) and not any(b" --type=" in c or c.startswith(
                b"--type=") for c in cmd):
            while ppid > 1 and ppid != mine:
                try:
                    ppid = int((Path("/proc") / str(ppid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError):
                    break
            if ppid == mine:
                found.append(pid)
    return found


@pytest.mark.slow  # ~6 s: a page busy for seconds, a killed browser and a new one
def test_browser_is_restarted_after_a_crash_and_the_page_retried(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text("<html><body><h1>first</h1></body></html>")
    # busy for a fixed amount of work (1-3 s), not until a time: the page's clock is fake and paused
    (pages / "b-slow.html").write_text("<html><body><h1>slow</h1><script>let x = 0; "
                                       "for (let i = 0; i < 2e9; i++) { x = (x + i) % 1000003; }"
                                       "</script></body></html>")
    (pages / "c.html").write_text("<html><body><h1>last</h1></body></html>")
    out = tmp_path / "out"
    killed = []

    def crash_during_the_slow_page() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out / "a.boxes.json").exists():
            time.sleep(0.02)
        time.sleep(0.3)
        for pid in _browser_pids():
            os.kill(pid, 9)
            killed.append(pid)

    t = threading.Thread(target=crash_during_the_slow_page)
    t.start()
    summary = render_pages(out, html_dir=pages, opts=_opts(jobs=1))
    t.join()
    assert killed, "no browser process found to kill"
    assert summary.restarts == 1 and summary.rendered == 3 and not summary.rejects, summary.text()
    assert _browser_pids() == []  # the replacement browser is closed too

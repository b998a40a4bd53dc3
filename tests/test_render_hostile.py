"""Issue 25: hostile pages through the real Chromium. Nothing outside the asset root reaches an output.

One table of pages, rendered in one job (offline, the defaults): every way a page can name a
`file:` outside its folder (absolute, `../`, `<base>`, CSS `url()` and `@import`, stylesheet
link, font, iframe, object, embed, img, srcset, poster, SVG `<image>`, cursor, border, mask,
`content`, a symlinked asset or folder, a file: URL with a host, `/etc/passwd`; and the
loads Chromium refuses itself: fetch, worker, text track, SVG `<use>` and filter, XSLT),
pages that navigate away (meta refresh, script, form, a download link to a private file), a
symlinked page, a FIFO asset (without the guard the page never finishes loading), a
40,000-row table, a page past `--max-elements`, 50 pop-ups, two downloads. A leak is looked
for in the pixels too: the file-route pages are rendered again with the private folder gone,
and every output byte must be the same. A second job (a URL list, `--allow-network`,
`--no-javascript`) has the list's asset root and the guard with the network open; a third,
an endless script and a page that never finishes loading. Shared jobs keep the browser
starts to five; the 40,000-row table dominates the time (Chromium's screenshot of a
900,000-px page).
"""
from __future__ import annotations

import json
import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_render import _why_skip

from augment.render import REJECTS_NAME, RenderOptions, render_pages

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_why_skip() is not None, reason=f"no browser to render with: {_why_skip()}")]

# A timeout no page of these jobs should reach, even on a shared machine: the 40,000-row table took 20-27 s under a
# load average of 12 on 2 cores, and over 90 s under 15 (most of it Chromium's screenshot of a 900,000-px page).
OPTS = RenderOptions(progress=False, timeout=300, max_elements=3000)
MAGENTA, RED = (255, 0, 255), (255, 0, 0)  # the private image's colour, the private stylesheet's background


def _png(path: Path, rgb: tuple[int, int, int], size: int = 300) -> None:
    cv2.imwrite(str(path), np.full((size, size, 3), rgb[::-1], np.uint8))


def _private(root: Path) -> Path:
    """A folder outside every asset root, with content that would show in a screenshot."""
    d = root / "private"
    d.mkdir()
    _png(d / "secret.png", MAGENTA)
    (d / "secret.html").write_text('<html><body style="background: rgb(255, 0, 0)"><h1 style="font-size: 80px">'
                                   "PRIVATE</h1></body></html>")
    (d / "secret.css").write_text("body { background: rgb(255, 0, 0) !important; }")
    (d / "secret.txt").write_text("PRIVATE TEXT\n")
    (d / "secret.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300">'
                                  '<filter id="f"><feFlood flood-color="rgb(255,0,0)"/></filter>'
                                  '<rect id="r" width="300" height="300" fill="rgb(255,0,255)"/></svg>')
    (d / "secret.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:59.000\nPRIVATE\n")
    (d / "secret.js").write_text('postMessage("PRIVATE");\n')
    (d / "secret.xsl").write_text('<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
                                  '<xsl:template match="/"><html><body style="background: rgb(255, 0, 0)">PRIVATE'
                                  "</body></html></xsl:template></xsl:stylesheet>")
    fonts = sorted(Path("/usr/share/fonts").rglob("*Mono*.ttf")) or sorted(Path("/usr/share/fonts").rglob("*.ttf"))
    (d / "secret.ttf").write_bytes(fonts[0].read_bytes() if fonts else b"not a font")  # a real font changes glyphs
    return d


def _file_routes(p: str) -> dict[str, str]:
    """Pages that name the private folder `p` (absolute file: URL) from the pages folder, one way each."""
    rel = "../../private"
    return {
        "abs-iframe": f'<iframe src="{p}/secret.html" width="600" height="300"></iframe>',
        "rel-iframe": f'<iframe src="{rel}/secret.html" width="600" height="300"></iframe>',
        "etc-passwd": '<iframe src="file:///etc/passwd" width="600" height="300"></iframe>',
        "base-href": f'<base href="{p}/"><img src="secret.png"><iframe src="secret.html"></iframe>',
        "css-url": f'<div style="width: 300px; height: 300px; background: url({p}/secret.png)"></div>',
        "css-import": f'<style>@import url("{rel}/secret.css");</style><p>styled</p>',
        "stylesheet": f'<link rel="stylesheet" href="{p}/secret.css"><p>styled</p>',
        "font": f'<style>@font-face {{ font-family: Leak; src: url("{p}/secret.ttf"); }} '
                'p { font: 40px Leak, serif; }</style><p>Font glyphs iiii WWWW</p>',
        "object": f'<object data="{p}/secret.html" width="600" height="300"></object>',
        "embed": f'<embed src="{p}/secret.png" width="300" height="300">',
        "img": f'<img src="{p}/secret.png">',
        "srcset": f'<img srcset="{rel}/secret.png 1x" width="300" height="300">',
        "poster": f'<video poster="{p}/secret.png" width="300" height="300"></video>',
        "svg-image": f'<svg width="300" height="300"><image href="{p}/secret.png" width="300" height="300"/>'
                     f'<use href="{p}/secret.svg#r"/></svg>',
        "linked-asset": '<img src="assets/linked.png"><link rel="stylesheet" href="assets/linked.css">',
        "linked-folder": '<img src="assets/privdir/secret.png">',
        "file-host": '<img src="file://otherhost/private/secret.png" width="300" height="300">',
        "css-more": f'<style>div {{ width: 300px; height: 60px; }} .a {{ cursor: url({p}/secret.png), auto; }} '
                    f'.b {{ border: 20px solid; border-image: url({p}/secret.png) 20; }} '
                    f'.c {{ mask-image: url({p}/secret.png); background: blue; }} '
                    f'.d {{ background-image: image-set(url({p}/secret.png) 1x); }} '
                    f'.e::before {{ content: url({p}/secret.png); }} ul {{ list-style-image: url({p}/secret.png); }}'
                    '</style><div class="a"></div><div class="b"></div><div class="c"></div><div class="d"></div>'
                    '<div class="e"></div><ul><li>item</li></ul>',
    }


def _refused_by_chromium(p: str) -> dict[str, str]:
    """Loads Chromium itself refuses across file: origins (each file: URL is its own origin, and
    --allow-file-access-from-files is never passed): they never reach the router, so nothing is
    counted, but the pixels must not change either."""
    return {
        "same-origin-only": f'<video width="300" height="150"><track kind="captions" src="{p}/secret.vtt" default>'
                            f'</video><svg width="300" height="100"><rect width="300" height="100" '
                            f'filter="url({p}/secret.svg#f)"/><use href="{p}/secret.svg#r"/></svg>'
                            '<iframe src="assets/doc.xml" width="300" height="100"></iframe>'
                            f'<script>fetch("{p}/secret.txt").then(r => r.text()).then(t => document.body.append(t))'
                            f'.catch(() => {{}}); try {{ new Worker("{p}/secret.js"); }} catch (e) {{}}</script>',
    }


NAVIGATING = {  # each ends as a `navigated` reject: the capture would be another document
    "meta-refresh": '<meta http-equiv="refresh" content="0; url={p}/secret.html">',
    "js-location": '<script>location.href = "{p}/secret.html";</script>',
    "form-submit": '<form action="{p}/secret.html"></form><script>document.forms[0].submit();</script>',
    # `download` is ignored across origins (each file: is its own): Chromium navigates to the file instead
    "download-file": '<a id="b" href="{p}/secret.txt" download>b</a><script>document.getElementById("b").click();'
                     "</script>",
}


def _page(name: str, body: str) -> str:
    return f"<!DOCTYPE html><html><head><title>{name}</title></head><body><h1>{name}</h1>{body}</body></html>"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(tmp, pages, private, summary of the first job) after rendering the table into tmp/out."""
    tmp = tmp_path_factory.mktemp("hostile")
    private = _private(tmp)
    pages = tmp / "site" / "pages"
    (pages / "assets").mkdir(parents=True)
    p = private.as_uri()
    for name, body in _file_routes(p).items():
        (pages / f"{name}.html").write_text(_page(name, body))
    for name, body in _refused_by_chromium(p).items():
        (pages / f"{name}.html").write_text(_page(name, body))
    for name, body in NAVIGATING.items():
        (pages / f"{name}.html").write_text(_page(name, body.format(p=p)))
    assets = pages / "assets"
    (assets / "doc.xml").write_text(f'<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="{p}/secret.xsl"?>'
                                    "<a/>")  # in the root, its XSLT outside: Chromium refuses it
    (assets / "linked.png").symlink_to(private / "secret.png")
    (assets / "linked.css").symlink_to(private / "secret.css")
    (assets / "privdir").symlink_to(private, target_is_directory=True)
    (pages / "linked-page.html").symlink_to(private / "secret.html")
    os.mkfifo(assets / "fifo")
    _png(assets / "own.png", (0, 128, 0), 40)
    (assets / "own.css").write_text("body { background: rgb(10, 20, 200); }")
    extra = {
        "own-assets": '<link rel="stylesheet" href="assets/own.css"><img src="assets/own.png">',
        "fifo": '<img src="assets/fifo" width="40" height="40">',
        "network": '<img src="http://example.com/x.png" width="40" height="40">',
        "huge-dom": "<table>" + "".join(f"<tr><td>row {i}</td><td>{i * 7}</td></tr>" for i in range(40_000))
                    + "</table>",
        "too-many": "".join('<i style="display: inline-block; width: 8px; height: 8px"></i>' for _ in range(4000)),
        "popups": "<script>for (let i = 0; i < 50; i++) window.open('" + p + "/secret.html?' + i);"
                  "for (let i = 0; i < 50; i++) window.open('own-assets.html');</script>",
        "downloads": '<a id="a" href="data:application/octet-stream,AAAA" download="x.bin">a</a><a id="b">b</a>'
                     "<script>const b = document.getElementById('b'); b.download = 'y.bin';"
                     "b.href = URL.createObjectURL(new Blob(['BBBB'])); b.click();"
                     "document.getElementById('a').click();</script>",
    }
    for name, body in extra.items():
        (pages / f"{name}.html").write_text(_page(name, body))
    summary = render_pages(tmp / "out", html_dir=pages, opts=OPTS)
    return tmp, pages, private, summary


def _record(out: Path, sid: str) -> dict:
    return json.loads((out / f"{sid}.boxes.json").read_text())


def _rejects(out: Path) -> dict[str, dict]:
    return {r["source"]: r for r in map(json.loads, (out / REJECTS_NAME).read_text().splitlines())}


def test_every_file_route_out_of_the_folder_is_blocked_and_counted(hostile):
    tmp, pages, private, summary = hostile
    out = tmp / "out"
    for name in _file_routes(private.as_uri()):
        render = _record(out, name)["render"]
        assert render["blocked_files"] >= 1 and render["blocked_requests"] >= render["blocked_files"], (name, render)
    assert _record(out, "base-href")["render"]["blocked_files"] == 2  # the img and the iframe
    assert _record(out, "linked-asset")["render"]["blocked_files"] == 2  # links resolved before the check
    assert summary.blocked_files >= len(_file_routes(""))
    assert f"({summary.blocked_files} of them file: outside the asset root or not a file)" in summary.text()
    for name in [*_file_routes(""), *_refused_by_chromium("")]:  # no private byte: no red/magenta pixel, no text
        image = cv2.cvtColor(cv2.imread(str(out / f"{name}.png")), cv2.COLOR_BGR2RGB)
        assert not np.all(image == MAGENTA, axis=-1).any() and not np.all(image == RED, axis=-1).any(), name
        assert "PRIVATE" not in (out / f"{name}.html").read_text(), name


def test_the_pages_own_assets_still_load(hostile):
    tmp, _, _, _ = hostile
    image = cv2.cvtColor(cv2.imread(str(tmp / "out" / "own-assets.png")), cv2.COLOR_BGR2RGB)
    assert tuple(int(v) for v in image[-1, -1]) == (10, 20, 200)  # its stylesheet
    assert np.all(image == (0, 128, 0), axis=-1).sum() == 40 * 40  # its image
    assert _record(tmp / "out", "own-assets")["render"]["blocked_requests"] == 0


def test_hostile_pages_end_as_their_row_of_the_table(hostile):
    tmp, pages, private, summary = hostile
    out, rows = tmp / "out", _rejects(tmp / "out")
    expected = {**{n: "navigated" for n in NAVIGATING}, "linked-page": "symlink_outside",
                "too-many": "too_many_elements"}
    assert {s: r["reason"] for s, r in rows.items()} == expected, summary.text()
    assert f"navigated to {private.as_uri()}/secret.html" in rows["meta-refresh"]["message"]
    assert "--follow-symlinks" in rows["linked-page"]["message"] and "--max-elements" in rows["too-many"]["message"]
    assert not list(out.glob("linked-page.*")) and not list(out.glob("meta-refresh.*"))
    assert _record(out, "fifo")["render"]["blocked_files"] == 1  # not a regular file: never opened
    assert _record(out, "network")["render"]["blocked_files"] == 0
    assert _record(out, "network")["render"]["blocked"] == ["http://example.com/x.png"]
    for name in ("popups", "downloads"):  # rendered, in time, nothing saved
        assert (out / f"{name}.png").is_file(), name
    assert sorted({p.suffix for p in out.iterdir()}) == [".html", ".json", ".jsonl", ".mhtml", ".png"]
    assert summary.rendered + sum(summary.rejects.values()) == summary.inputs == len(list(pages.glob("*.html")))
    assert summary.sandbox and f"browser sandbox {summary.sandbox}" in summary.text()


def test_a_huge_dom_writes_only_what_the_capture_shows(hostile):
    tmp, _, _, _ = hostile
    doc = _record(tmp / "out", "huge-dom")
    width, height = doc["viewport"]
    assert height == OPTS.max_height and (tmp / "out" / "huge-dom.boxes.json").stat().st_size < 100_000  # was 6.8 MB
    assert doc["render"]["cut"] > 100_000 and doc["render"]["clipped"] >= 1  # 3 per row of 40,000 rows, minus shown
    assert all(x >= 0 and y >= 0 and x + w <= width + 1e-9 and y + h <= height + 1e-9 for x, y, w, h in
               (e["box"] for e in doc["elements"]))  # 1e-9: 79.88 + 3920.12 is 4000.0000000000005 in floats


def test_without_the_private_files_every_output_byte_is_the_same(hostile):
    # render the file-route pages again with the private folder gone: a leak of content, or even of
    # whether a file exists, would show as different pixels, DOM or record
    tmp, pages, private, _ = hostile
    names = list(_file_routes(private.as_uri())) + list(_refused_by_chromium(private.as_uri()))
    held = tmp / "held"
    held.mkdir()
    others = [p.name for p in pages.glob("*.html") if p.stem not in names]
    for name in others:
        (pages / name).rename(held / name)
    private.rename(tmp / "private-gone")
    try:
        summary = render_pages(tmp / "again", html_dir=pages, opts=OPTS)
    finally:  # the module's other tests see the folders as they were
        (tmp / "private-gone").rename(private)
        for name in others:
            (held / name).rename(pages / name)
    assert summary.rendered == len(names) and not summary.rejects
    for name in names:
        for ext in (".png", ".html", ".boxes.json", ".mhtml"):  # the snapshot holds no byte of a private file either
            assert (tmp / "out" / f"{name}{ext}").read_bytes() == (tmp / "again" / f"{name}{ext}").read_bytes(), \
                f"{name}{ext}"


@pytest.fixture
def stalled_server():
    """An HTTP server on 127.0.0.1 whose /stall never answers (released at the end)."""
    release = threading.Event()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            release.wait(30)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory="/nonexistent"))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()


def test_a_url_list_with_the_network_open_and_javascript_off(tmp_path):
    private = _private(tmp_path)
    site = tmp_path / "site"
    (site / "pages").mkdir(parents=True)
    (site / "shared").mkdir()
    (site / "shared" / "look.css").write_text("body { background: rgb(10, 20, 200); }")
    pages = {
        "beside": '<link rel="stylesheet" href="../shared/look.css">',  # the list's folder is the root
        "iframe": f'<iframe src="{private.as_uri()}/secret.html" width="600" height="300"></iframe>',
        "script": f'<script>document.querySelector("h1").textContent = "ran"; '
                  f'location.href = "{private.as_uri()}/secret.html";</script>',
    }
    for name, body in pages.items():
        (site / "pages" / f"{name}.html").write_text(_page(name, body))
    urls = site / "urls.txt"
    urls.write_text("".join(f"{(site / 'pages' / f'{n}.html').as_uri()}\n" for n in pages)
                    + f"{private.as_uri()}/secret.html\n")
    out = tmp_path / "out"
    opts = RenderOptions(progress=False, timeout=OPTS.timeout, allow_network=True, javascript=False)
    summary = render_pages(out, urls=urls, opts=opts)
    assert {r["input"]: r["reason"] for r in _rejects(out).values()} == {
        f"{private.as_uri()}/secret.html": "outside_asset_root"}
    by_page = {json.loads(p.read_text())["render"]["url"].rsplit("/", 1)[1]: p.name[:-len(".boxes.json")]
               for p in out.glob("*.boxes.json")}
    assert sorted(by_page) == ["beside.html", "iframe.html", "script.html"]
    beside = cv2.imread(str(out / f"{by_page['beside.html']}.png"))
    assert tuple(int(v) for v in beside[-1, -1]) == (200, 20, 10)  # BGR: the stylesheet beside the pages' folder
    assert _record(out, by_page["iframe.html"])["render"]["blocked_files"] == 1  # network open, files not
    assert "<h1>script</h1>" in (out / f"{by_page['script.html']}.html").read_text()  # no script ran, no redirect
    assert summary.rendered == 3 and "JavaScript off" in summary.text()


def test_an_endless_script_and_a_page_that_never_finishes_loading_time_out(tmp_path, stalled_server):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "endless.html").write_text(_page("endless", "<script>while (true) {}</script>"))
    urls = tmp_path / "urls.txt"
    urls.write_text(f"{(pages / 'endless.html').as_uri()}\n{stalled_server}/stall\n")
    summary = render_pages(tmp_path / "out", urls=urls, opts=RenderOptions(progress=False, timeout=3,
                                                                           allow_network=True))
    rows = _rejects(tmp_path / "out")
    assert sorted((r["input"], r["reason"]) for r in rows.values()) == sorted(
        [((pages / "endless.html").as_uri(), "timeout"), (f"{stalled_server}/stall", "timeout")])
    assert all("within 3 s (--timeout)" in r["message"] for r in rows.values()) and summary.restarts == 0


def test_the_browser_runs_in_its_own_sandbox(tmp_path):
    import asyncio

    from augment.render.browser import Browser, find_browser
    from augment.render.guard import AssetRoot

    async def status() -> tuple[str, str]:
        async with Browser(find_browser(), AssetRoot(tmp_path)) as browser:
            page = await browser._browser.new_page()  # chrome://sandbox: the renderer's own report
            await page.goto("chrome://sandbox")
            return browser.sandbox, await page.evaluate("document.body.innerText")

    says, report = asyncio.run(status())
    if not says.startswith("on"):
        pytest.skip(f"no sandbox on this machine: {says}")
    assert "You are adequately sandboxed." in report and "Seccomp-BPF sandbox\tYes" in report, report


def test_where_the_sandbox_cannot_start_the_summary_says_so(tmp_path, monkeypatch):
    from augment.render import browser, sandbox

    def failing_first(executable: str, folder: Path) -> list[sandbox.Launch]:  # a sandboxed start that fails
        return [sandbox.Launch("/bin/false", True, "on"), sandbox.launches(executable, folder)[-1]]

    monkeypatch.setattr(browser, "launches", failing_first)
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text(_page("a", "<p>plain</p>"))
    summary = render_pages(tmp_path / "out", html_dir=pages, opts=RenderOptions(progress=False, timeout=OPTS.timeout))
    assert summary.rendered == 1 and summary.sandbox.startswith("off (--no-sandbox: ")
    assert "[start sandboxed: " in summary.sandbox and f"browser sandbox {summary.sandbox}" in summary.text()

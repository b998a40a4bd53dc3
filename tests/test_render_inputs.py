"""`augment render` without a browser: inputs and ids, xpath checking, the boxes file, errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from augment.render import BrowserError, RenderError, RenderOptions, find_browser, render_pages
from augment.render.extract import boxes_json, check_elements, png_size
from augment.render.guard import NETWORK, NOT_A_FILE, OUTSIDE, AssetRoot
from augment.render.inputs import asset_root, from_html_dir, from_url_file, url_id
from augment.sources import read_boxes, source_id_for

PAGES = Path(__file__).parent / "data" / "pages"


def test_html_dir_lists_top_level_pages_with_the_ids_augment_gives(tmp_path):
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "inner.html").write_text("<p>asset folder, not a page</p>")
    for name in ("b.html", "a page.htm", "a page.html", "notes.txt"):
        (tmp_path / name).write_text("<p>x</p>")
    items, rejects = from_html_dir(tmp_path)
    assert [i.source_id for i in items] == [source_id_for("a page"), "b"]
    assert items[1].url == (tmp_path / "b.html").resolve().as_uri()
    assert [(r.reason, Path(r.given).name) for r in rejects] == [("duplicate_id", "a page.html")]
    assert "already used by" in rejects[0].message


def test_the_page_set_has_every_shape():
    ids = [i.source_id for i in from_html_dir(PAGES)[0]]
    for shape in ("docs", "blog", "dashboard", "landing"):
        assert any(i.startswith(shape) for i in ids), (shape, ids)


def test_url_list_ids_comments_bad_schemes_and_duplicates(tmp_path):
    f = tmp_path / "urls.txt"
    local = (tmp_path / "page.html").as_uri()
    f.write_text("# docs\n\nhttps://example.org/docs/intro.html\nftp://example.org/x\n"
                 f"https://example.org/docs/intro.html\n{local}\nfile:///srv/page.html\n")
    items, rejects = from_url_file(f, allow_network=True)
    assert [i.url for i in items] == ["https://example.org/docs/intro.html", local]
    assert items[0].source_id == url_id("https://example.org/docs/intro.html") != url_id("https://example.org/docs/intro")
    assert sorted(r.reason for r in rejects) == ["bad_url", "duplicate_id", "outside_asset_root"]
    assert f"{f}:4" in next(r.message for r in rejects if r.reason == "bad_url")
    outside = next(r.message for r in rejects if r.reason == "outside_asset_root")  # the list's folder is the root
    assert f"{f}:7: file:///srv/page.html is not under the asset root {tmp_path}" in outside
    assert "--asset-root" in outside


def test_offline_url_list_is_refused_naming_the_lines(tmp_path):
    f = tmp_path / "urls.txt"
    f.write_text("https://example.org/a\nfile:///srv/b.html\nhttp://example.org/c\n")
    with pytest.raises(RenderError, match=r"2 http\(s\) URL\(s\) \(line .*urls.txt:1, .*urls.txt:3\).*--allow-network"):
        render_pages(tmp_path / "out", urls=f, opts=RenderOptions(progress=False))


def test_bad_settings_are_all_reported_at_once(tmp_path):
    with pytest.raises(RenderError) as e:
        render_pages(tmp_path, html_dir=tmp_path, opts=RenderOptions(width=10, jobs=0, timeout=0, max_elements=0))
    for fragment in ("--width 10", "--jobs 0", "--timeout 0", "--max-elements 0",
                     "the rendered <id>.html would replace the sources"):
        assert fragment in str(e.value)
    with pytest.raises(RenderError, match="exactly one of --html DIR and --urls FILE"):
        render_pages(tmp_path / "o", opts=RenderOptions())


def test_missing_browser_says_how_to_install_it():
    with pytest.raises(BrowserError, match="apt-get install -y chromium"):
        find_browser("/nonexistent/chromium")


def test_cli_errors_exit_2_with_the_message(tmp_path):
    out = subprocess.run([sys.executable, "-m", "augment", "render", "--html", str(tmp_path / "nope"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert out.returncode == 2 and "--html" in out.stderr and "not a directory" in out.stderr


@pytest.fixture
def site(tmp_path):
    """site/pages (the asset root) with an asset, a link to a file outside, a link to a folder outside,
    a link inside, a FIFO; site/private outside it."""
    pages, private = tmp_path / "site" / "pages", tmp_path / "site" / "private"
    (pages / "css").mkdir(parents=True)
    private.mkdir()
    (private / "secret.png").write_bytes(b"x")
    (pages / "css" / "a.css").write_text("p {}")
    (pages / "css" / "out.css").symlink_to(private / "secret.png")
    (pages / "css" / "in.css").symlink_to(pages / "css" / "a.css")
    (pages / "privdir").symlink_to(private, target_is_directory=True)
    os.mkfifo(pages / "fifo")
    return pages, private


def test_the_asset_root_decides_every_url(site):
    pages, private = site
    guard, u = AssetRoot(pages), pages.as_uri()
    allowed = [f"{u}/css/a.css", f"{u}/css/in.css", f"{u}/css/a.css?v=1#x", f"{u}/missing.png", f"{u}/css/",
               f"file://localhost{pages}/css/a.css", "data:text/css,p{}", "blob:null/1234"]
    assert [u_ for u_ in allowed if guard.refuses(u_)] == []
    refused = {f"{private.as_uri()}/secret.png": OUTSIDE, f"{u}/../private/secret.png": OUTSIDE,
               f"{u}/css/%2e%2e/%2e%2e/private/secret.png": OUTSIDE, f"{u}/css/out.css": OUTSIDE,
               f"{u}/privdir/secret.png": OUTSIDE, "file:///etc/passwd": OUTSIDE,
               f"file://host{pages}/css/a.css": OUTSIDE, f"{u}/fifo": NOT_A_FILE, "http://example.com/x.png": NETWORK,
               "chrome://settings": NETWORK, "view-source:file:///etc/passwd": NETWORK}
    assert {u_: guard.refuses(u_) for u_ in refused} == refused
    assert AssetRoot(pages, allow_network=True).refuses("https://example.com/") is None
    followed = AssetRoot(pages, follow_symlinks=True)  # links inside the root go where they point
    assert followed.refuses(f"{u}/css/out.css") is None and followed.refuses(f"{u}/privdir/secret.png") is None
    assert followed.refuses(f"{private.as_uri()}/secret.png") == OUTSIDE == followed.refuses(f"{u}/../private/x")


def test_asset_root_defaults_and_checks(site, tmp_path):
    pages, _ = site
    urls = tmp_path / "list" / "urls.txt"
    assert asset_root(pages, None, None).root == pages.resolve()
    assert asset_root(None, urls, None).root == urls.parent.resolve()
    assert asset_root(pages, None, pages.parent).root == pages.parent.resolve()  # widened to hold ../shared
    with pytest.raises(RenderError, match="--asset-root .*: not a directory"):
        asset_root(pages, None, tmp_path / "nope")
    with pytest.raises(RenderError, match="does not hold --html"):
        asset_root(pages, None, pages / "css")


def test_a_page_linked_from_outside_the_html_folder_is_refused_unless_followed(tmp_path):
    pages, elsewhere = tmp_path / "pages", tmp_path / "elsewhere"
    pages.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.html").write_text("<p>private</p>")
    (pages / "a.html").write_text("<p>a</p>")
    (pages / "b.html").symlink_to(pages / "a.html")  # inside: rendered
    (pages / "c.html").symlink_to(elsewhere / "secret.html")
    items, rejects = from_html_dir(pages)
    assert [i.source_id for i in items] == ["a", "b"]
    assert [(r.source_id, r.reason) for r in rejects] == [("c", "symlink_outside")]
    assert str(elsewhere / "secret.html") in rejects[0].message and "--follow-symlinks" in rejects[0].message
    items, rejects = from_html_dir(pages, follow_symlinks=True)
    assert [(i.source_id, i.url) for i in items][2] == ("c", (pages.resolve() / "c.html").as_uri()) and not rejects


def test_the_browser_is_started_sandboxed_first_and_unsandboxed_only_as_the_fallback(tmp_path, monkeypatch):
    from augment.render import sandbox

    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 1000)
    user = sandbox.launches("/opt/chromium", tmp_path)
    assert [(w.executable, w.sandbox) for w in user] == [("/opt/chromium", True), ("/opt/chromium", False)]
    monkeypatch.setattr(sandbox.os, "geteuid", lambda: 0)
    root = sandbox.launches("/opt/my chromium", tmp_path)
    script = Path(root[0].executable).read_text()
    assert root[0].sandbox and "--user --map-user=65534" in script and "'/opt/my chromium' \"$@\"" in script
    assert not root[1].sandbox and "no user namespace could be made" in root[1].says
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    (alone,) = sandbox.launches("/opt/chromium", tmp_path)
    assert not alone.sandbox and "running as root" in alone.says and "no `unshare`" in alone.says


HTML = """<!DOCTYPE html><html><head></head><body><div id="a" class="x"><p>one</p><p>two</p></div>
<table><tbody><tr><td>c</td></tr></tbody></table></body></html>"""


def test_xpaths_are_kept_only_when_the_projects_parse_has_the_same_element():
    found = [
        ["/html/body/div", "div", "a", "x", 0, 0, 100, 40],
        ["/html/body/div/p[2]", "p", None, None, 0, 20, 100, 20.5],
        ["/html/body/table/tbody/tr/td", "td", None, None, 0, 40, 10, 10],
        ["/html/body/div/p", "p", None, None, 0, 0, 1, 1],        # two <p>: lxml writes p[1]
        ["/html/body/div", "div", "b", "x", 0, 0, 100, 40],       # another element under that path
        ["/html/body/table/tr/td", "td", None, None, 0, 0, 1, 1],  # no tbody: not in this tree
    ]
    checked = check_elements(HTML, found, "t.html")
    assert [e["xpath"] for e in checked.elements] == [
        "/html/body/div", "/html/body/div/p[2]", "/html/body/table/tbody/tr/td"]
    assert checked.found == 6 and checked.dropped == 3
    assert checked.elements[1]["box"] == [0, 20, 100, 20.5]
    assert all(isinstance(v, int) for v in checked.elements[0]["box"])


def test_boxes_file_is_canonical_and_what_augment_reads(tmp_path):
    png = cv2.imencode(".png", np.zeros((90, 120, 3), np.uint8))[1].tobytes()
    assert png_size(png) == (120, 90)
    els = [{"xpath": "/html/body/div", "tag": "div", "box": [0, 0, 120, 40.25]}]
    data = boxes_json(png_size(png), els, {"url": "file:///p.html", "blocked_requests": 0})
    assert data == boxes_json((120, 90), [dict(e) for e in els], {"blocked_requests": 0, "url": "file:///p.html"})
    (tmp_path / "p.boxes.json").write_bytes(data)
    assert json.loads(data)["elements"] == els
    assert read_boxes(tmp_path / "p.boxes.json", (120, 90)) == {"/html/body/div": [0, 0, 120, 40.25]}
    assert json.loads(boxes_json((1, 1), [], {}))["elements"] == []


def test_every_page_of_the_set_parses_and_has_the_realistic_parts():
    from shards.tokens.htmlparse import parse_html

    kinds = Counter()
    for p in sorted(PAGES.glob("*.html")):
        root = parse_html(p.read_bytes(), p.name)
        css = [el.get("href") for el in root.iter("link") if el.get("rel") == "stylesheet"]
        assert any(h.startswith("css/") and (PAGES / h).is_file() for h in css), p.name
        text = p.read_text() + "".join((PAGES / h).read_text() for h in css if h.startswith("css/"))
        kinds["display_none"] += "display: none" in text
        kinds["role"] += "role=" in text
        landmarks = ("header", "nav", "section", "footer", "main", "aside", "article")
        kinds["div_only"] += next(root.iter(*landmarks), None) is None
    assert kinds["display_none"] >= 5 and kinds["role"] >= 3 and kinds["div_only"] >= 2, kinds

"""Snapshots and `augment run --rerender`: canonical archives, the job's plumbing, and real re-renders.

The tests marked slow start the system Chromium (skipped, with the reason, where Playwright or
the browser is missing): a dropped element's neighbours move up, a reorder's boxes follow
the new order, the same job gives the same bytes twice and with 1 or 2 workers, a snapshot
that will not load is a reject. The others need no browser.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from augment.config import load_config
from augment.job import run_job
from augment.ops import apply_op
from augment.ops.dropout import ring_colour
from augment.page import quad_xyxy
from augment.render import RenderOptions, render_pages
from augment.render.rerender import RerenderError, close_renderers, rerender_page
from augment.render.snapshot import SnapshotError, canonical, read_snapshot, snapshot_path
from augment.run_options import RunOptions
from augment.sources import discover, load_pair
from augment.synth import write_synth
from shards import load_manifest
from test_render import _why_skip

QUIET = RunOptions(progress=False)


@pytest.fixture(scope="module", autouse=True)
def _browsers_closed():
    """The browsers are closed after this module: the in-process renderer's (jobs=1 runs here) and
    those of joblib's reusable loky workers (jobs=2), whose exit closes their renderers."""
    yield
    close_renderers()
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


browser = pytest.mark.skipif(_why_skip() is not None, reason=f"no browser to render with: {_why_skip()}")


def _chromium_like(boundary: str, frame: str, date: str, url: str = "file:///site/a.html") -> bytes:
    """An MHTML archive as Chromium writes one: its boundary, date and frame ids differ per call."""
    parts = [("text/html", f"<frame-{frame}@mhtml.blink>", url,
              f'<html><body><iframe src=3D"cid:frame-{frame[::-1]}@mhtml.blink"></iframe><p>hi</p>'
              # a frame the archive holds no part for: its id is random too, and the page names it
              f'<iframe src=3D"cid:fram=\r\ne-{frame[1:]}0@mhtml.blink"></iframe></body></html>'),
             ("text/html", f"<frame-{frame[::-1]}@mhtml.blink>", "file:///site/f.html", "<p>frame</p>"),
             ("text/css", None, "file:///site/s.css", "p { color: red; }")]
    out = [f'From: <Saved by Blink>\r\nSnapshot-Content-Location: {url}\r\nSubject: A\r\nDate: {date}\r\n'
           f'MIME-Version: 1.0\r\nContent-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="{boundary}"'
           "\r\n\r\n"]
    for ctype, cid, loc, body in parts:
        out.append(f"\r\n--{boundary}\r\nContent-Type: {ctype}\r\n" + (f"Content-ID: {cid}\r\n" if cid else "")
                   + f"Content-Transfer-Encoding: quoted-printable\r\nContent-Location: {loc}\r\n\r\n{body}\r\n")
    return ("".join(out) + f"--{boundary}--\r\n").encode()


def test_snapshots_are_canonical_whatever_chromium_randomised(tmp_path):
    first = _chromium_like("----MultipartBoundary--AAAA----", "1F2E3D4C5B6A7988", "Sat, 05 Dec 2026 18:12:36 GMT")
    second = _chromium_like("----MultipartBoundary--zzzz----", "99887766554433AA", "Sun, 06 Dec 2026 01:00:00 GMT")
    a = canonical(first, (1280, 800, 4000))
    b = canonical(second, (1280, 800, 4000), extra=[("file:///site/font.woff2", "font/woff2", b"\x00font")])
    assert a != b  # the collected font is a part of b only
    c = canonical(second, (1280, 800, 4000))
    assert a == c and b"frame-0@mhtml.blink" in a and b"cid:frame-1@mhtml.blink" in a
    assert b"cid:frame-2@mhtml.blink" in a.replace(b"=\r\n", b"")  # the partless frame's id numbered too
    (tmp_path / "a.mhtml").write_bytes(b)
    snap = read_snapshot(tmp_path / "a.mhtml")
    assert (snap.url, snap.width, snap.height, snap.max_height) == ("file:///site/a.html", 1280, 800, 4000)
    assert snap.lookup("file:///site/font.woff2") == ("font/woff2", b"\x00font")
    assert snap.lookup("file:///site/s.css#x")[1].strip() == b"p { color: red; }"


def test_a_snapshot_that_cannot_be_read_names_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "x.mhtml"
    bad.write_bytes(b"\x00\xffnot an archive")
    with pytest.raises(SnapshotError, match=r"x\.mhtml: .*Snapshot-Content-Location.*augment render"):
        read_snapshot(bad)
    chromium_own = tmp_path / "c.mhtml"  # Chromium's own archive: no window recorded
    chromium_own.write_bytes(_chromium_like("b", "1F2E3D4C5B6A7988", "x"))
    with pytest.raises(SnapshotError, match="X-S2S-Window"):
        read_snapshot(chromium_own)


@pytest.fixture(scope="module")
def synth_pairs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    write_synth(d, 3, seed=2, progress=False)
    return d


def test_failed_rerenders_drop_their_variant_and_pairs_without_snapshot_are_painted(synth_pairs, tmp_path,
                                                                                      monkeypatch):
    pairs = tmp_path / "pairs"
    shutil.copytree(synth_pairs, pairs)
    ids = sorted(p.source_id for p in discover(pairs)[0])
    snap = canonical(_chromium_like("b", "1F2E3D4C5B6A7988", "x"), (1280, 800, 4000))
    (pairs / f"{ids[0]}.mhtml").write_bytes(snap)  # the others have none
    (pairs / f"{ids[1]}.mhtml").write_bytes(b"garbage")

    def fail(page, snapshot):
        raise RerenderError("timeout", f"{snapshot.path}: not rendered within 30 s")

    monkeypatch.setattr("augment.render.rerender.rerender_page", fail)
    cfg = load_config(None, factor=3, val_fraction=0, rerender=True, sets=[{"ops": {"class_substitution": {"p": 1.0},
                                                                                    "placeholder": {"p": 1.0}}}])
    summary = run_job(pairs, tmp_path / "out", cfg, QUIET)
    rows = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert {(r["source"], r["reason"]) for r in rows} == {(ids[1], "bad_snapshot")} | {
        (ids[0], "rerender_failed")}
    assert all(r["error"] == "timeout" and r["variant"] > 0 for r in rows if r["reason"] == "rerender_failed")
    stats = load_manifest(tmp_path / "out")["stats"]
    assert stats["sources_painted_no_snapshot"] == 1 and stats["variants_failed"] == 2
    assert "sources without a snapshot, painted: 1" in summary.text()


# -- with the real browser ---------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html><head><link rel="stylesheet" href="css/s.css"></head><body>
<header class="header"><h1>Field notes</h1></header>
<main>
<section class="hero"><h2>Hero</h2><p id="a">Alpha paragraph.</p><p id="b">Beta paragraph, to be dropped.</p>
<p id="c">Gamma paragraph.</p></section>
<section class="features"><h2>Features</h2><p>One.</p><p>Two.</p><p>Three.</p></section>
</main>
<footer class="footer"><p>Footer</p></footer>
</body></html>
"""
CSS = """body { margin: 0; font: 16px/1.5 sans-serif; }
header, footer { background: #223; color: #fff; padding: 12px 24px; }
section { padding: 16px 24px; } .hero { background: #fde; } .features { background: #def; }
#b { font-size: 40px; margin: 30px 0; }
"""


@pytest.fixture(scope="module")
def page_pairs(tmp_path_factory) -> Path:
    if _why_skip():
        pytest.skip(_why_skip())
    site = tmp_path_factory.mktemp("site")
    (site / "css").mkdir()
    (site / "css" / "s.css").write_text(CSS)
    (site / "notes.html").write_text(PAGE)
    (site / "other.html").write_text(PAGE.replace("Field notes", "Other notes").replace("<p>Three.</p>", ""))
    out = tmp_path_factory.mktemp("pairs")
    summary = render_pages(out, html_dir=site, opts=RenderOptions(progress=False, timeout=20, jobs=1))
    assert summary.snapshots == 2 and not summary.rejects, summary.text()
    return out


def _loaded(pairs: Path, sid: str = "notes"):
    pair = next(p for p in discover(pairs)[0] if p.source_id == sid)
    return load_pair(pair), read_snapshot(snapshot_path(pair.html))


def _box(page, css_id: str | None = None, cls: str | None = None) -> np.ndarray:
    el = next(e for e in page.elements() if (css_id and e.get("id") == css_id) or (cls and e.get("class") == cls))
    return quad_xyxy(page.quads[[page.row(el)]])[0]


@browser
@pytest.mark.slow  # ~5-15 s: a browser start and two renders
def test_a_dropped_elements_neighbours_move_up_in_the_rerendered_boxes(page_pairs):
    source, snap = _loaded(page_pairs)
    page = source.copy()
    el = next(e for e in page.elements() if e.get("id") == "b")
    row = page.row(el)
    rect = [int(v) for v in np.concatenate([np.floor(quad_xyxy(page.quads[[row]])[0, :2]),
                                            np.ceil(quad_xyxy(page.quads[[row]])[0, 2:])])]
    apply_op(page, "dropout", {"rows": [row], "xpaths": [page.source_xpaths[row]], "rects": [rect],
                               "colours": [ring_colour(page.image, rect, 3)]})
    painted = page.copy()
    rerender_page(page, snap)
    assert page.ops[-1]["op"] == "rerender" and page.ops[-1]["blocked"] == 0  # the stylesheet came from the archive
    dropped = _box(source, "b")
    for css_id, cls in (("c", None), (None, "features"), (None, "footer")):
        before, after = _box(source, css_id, cls), _box(page, css_id, cls)
        assert np.allclose(_box(painted, css_id, cls), before)  # painting leaves a hole
        assert after[1] < before[1] - (dropped[3] - dropped[1]) + 1, (css_id, cls, before, after)
    assert _box(page, "a")[1] == _box(source, "a")[1]  # what came before stays
    assert np.isnan(page.quads[row]).all()  # the dropped element has no box any more


@browser
@pytest.mark.slow  # ~5-15 s
def test_a_reorders_boxes_follow_the_new_order(page_pairs):
    source, snap = _loaded(page_pairs)
    page = source.copy()
    hero, features = (next(e for e in page.elements() if e.get("class") == c) for c in ("hero", "features"))
    bands = [[int(round(_box(page, cls=c)[1])), int(round(_box(page, cls=c)[3]))] for c in ("hero", "features")]
    rows = [page.row(hero), page.row(features)]
    apply_op(page, "reorder", {"rows": rows, "xpaths": [page.source_xpaths[r] for r in rows], "bands": bands,
                               "tolerance": 0.5})
    rerender_page(page, snap)
    assert _box(page, cls="features")[1] == _box(source, cls="hero")[1]  # features now where hero was
    assert _box(page, cls="hero")[1] > _box(page, cls="features")[3] - 1
    assert _box(page, "a")[1] > _box(page, cls="features")[3] - 1  # the hero's children went with it
    assert np.allclose(_box(page, cls="footer"), _box(source, cls="footer"))  # same total height


def _hashes(out: Path) -> dict[str, str]:
    return {s["shard"]: s["sha256"] for s in load_manifest(out)["shards"]}


@browser
@pytest.mark.slow  # ~1-3 min on 2 loaded cores: three jobs, two of them with a browser per worker
def test_same_job_twice_and_with_one_or_two_workers_gives_identical_bytes(page_pairs, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(page_pairs, pairs)
    for suffix in (".png", ".html", ".boxes.json"):  # a pair without a snapshot: painted, counted
        shutil.copy(page_pairs / f"other{suffix}", pairs / f"plain{suffix}")
    cfg = load_config(None, factor=3, val_fraction=0, samples_per_shard=4, rerender=True,
                      sets=[{"ops": {"dropout": {"p": 1.0}, "class_substitution": {"p": 0.0}}}])
    one = run_job(pairs, tmp_path / "one", cfg, QUIET)
    again = run_job(pairs, tmp_path / "again", cfg, QUIET)
    two = run_job(pairs, tmp_path / "two", cfg, RunOptions(progress=False, jobs=2))
    assert _hashes(tmp_path / "one") == _hashes(tmp_path / "again") == _hashes(tmp_path / "two")
    stats = load_manifest(tmp_path / "one")["stats"]
    assert stats["sources_rerendered"] == 2 and stats["sources_painted_no_snapshot"] == 1
    assert stats["variants_rerendered"] == 4 and not one.rejects and not again.rejects and not two.rejects


@browser
@pytest.mark.slow  # ~5 s
def test_a_snapshot_that_will_not_load_is_a_reject_and_the_job_goes_on(page_pairs, tmp_path):
    pairs = tmp_path / "pairs"
    shutil.copytree(page_pairs, pairs)
    text = (pairs / "other.mhtml").read_bytes()
    (pairs / "other.mhtml").write_bytes(text[: len(text) // 3])  # cut short: no closing boundary, parts lost
    summary = run_job(pairs, tmp_path / "out", load_config(None, factor=2, val_fraction=0, rerender=True), QUIET)
    rows = [json.loads(line) for line in (tmp_path / "out" / "rejects.jsonl").read_text().splitlines()]
    assert summary.sources["accepted"] == 1 and [(r["source"], r["reason"]) for r in rows] == [
        ("other", "bad_snapshot")]


@browser
@pytest.mark.slow  # ~5 s
def test_a_relocated_snapshot_renders_the_same_page(page_pairs, tmp_path):
    """The corpus renames a site's folder `corpus://SITE` (`relocate`), a scheme no browser requests:
    the page is served at an http URL of the same shape, every resource still from the archive."""
    from augment.render.snapshot import relocate

    source, snap = _loaded(page_pairs)
    folder = snap.url.rsplit("/", 1)[0]
    moved = tmp_path / "notes.mhtml"
    moved.write_bytes(relocate(snap.path.read_bytes(), folder, "corpus://site"))
    assert folder.encode() not in moved.read_bytes()
    page = source.copy()
    rerender_page(page, read_snapshot(moved))
    assert page.ops[-1]["blocked"] == 0 and np.array_equal(page.image, source.image)
    assert np.array_equal(np.isnan(page.quads), np.isnan(source.quads))
    assert np.allclose(page.quads[~np.isnan(page.quads)], source.quads[~np.isnan(source.quads)])

"""The real-page corpus: its manifest checked, the build (offline, from a cache) deterministic,
and the committed slice of rendered pages (tests/data/real) usable as source pairs."""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from augment.corpus import CORPUS_NAME, KINDS, CorpusError, build_corpus, load_manifest
from augment.corpus.builders import front_matter, posts
from augment.corpus.lock import Pin, key, write_lock
from augment.render import find_browser
from augment.render.browser import BrowserError
from shards.pairs.groups import read_groups
from shards.pairs.pages import read_pairs

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "data" / "real"
PAGES = ROOT / "tests" / "data" / "pages"


def _manifest(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "corpus.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[[site]]
name = "demo"
source = "npm"
package = "demo-site"
version = "1.0.0"
license = "MIT"
home = "https://example.org/demo"
kind = "landing"
files = ["*.html"]
page_kinds = { "dashboard.html" = "dashboard", "docs-*.html" = "docs", "blog-*.html" = "blog" }
"""


def test_a_manifest_names_every_problem_with_its_file_site_and_key(tmp_path):
    path = _manifest(tmp_path, """
[[site]]
name = "a"
source = "npm"
package = "a-pkg"
kind = "landing"
home = "https://example.org"
files = ["*.html"]

[[site]]
name = "b"
source = "ftp"
package = "b"
version = "^2.0"
license = "MIT"
home = "https://example.org"
kind = "magazine"
colour = "red"

[[site]]
name = "c"
source = "pypi"
package = "c"
version = "1.0"
license = "MIT"
home = "https://example.org"
kind = "docs"
wheels = ["d>=2"]
""")
    with pytest.raises(CorpusError) as e:
        load_manifest(path)
    text = str(e.value)
    for needle in (f"{path}: site[0] (a): key 'version' is missing", f"{path}: site[0] (a): key 'license' is missing",
                   "site[1] (b): source 'ftp' is unknown", "site[1] (b): kind 'magazine' is unknown",
                   "site[1] (b): version '^2.0' is a range", "site[1] (b): unknown key 'colour'",
                   "site[2] (c): a pypi site is built locally: set build", "site[2] (c): a pypi site needs 'theme'",
                   "site[2] (c): wheel 'd>=2' must be pinned"):
        assert needle in text
    assert text.startswith("9 problems in the corpus manifest")


def test_the_committed_manifest_is_valid_and_large_enough():
    m = load_manifest(ROOT / "corpus.toml")
    assert len(m.sites) >= 60 and len({s.name for s in m.sites}) == len(m.sites)
    assert {s.source for s in m.sites} == {"npm", "pypi", "deb"}
    kinds = {s.kind for s in m.sites} | {k for s in m.sites for k in s.page_kinds.values()}
    assert kinds == set(KINDS)
    assert all(s.license and s.home and s.version for s in m.sites)


def test_the_sample_text_has_docs_pages_and_dated_posts():
    assert len(posts()) == 4
    meta, body = front_matter("---\ntitle: T\ndate: 2024-01-02\n---\nbody\n")
    assert meta == {"title": "T", "date": "2024-01-02"} and body == "body\n"


def test_offline_names_every_missing_archive_before_any_work(tmp_path):
    path = _manifest(tmp_path, GOOD + GOOD.replace('"demo"', '"demo2"').replace("demo-site", "other-site"))
    with pytest.raises(CorpusError) as e:
        build_corpus(path, tmp_path / "out", tmp_path / "cache", offline=True, progress=False, allow_unpinned=True)
    assert "2 archive(s) missing" in str(e.value)
    assert "npm package demo-site 1.0.0 is not in the cache" in str(e.value)
    assert "npm pack other-site@1.0.0" in str(e.value)
    assert not (tmp_path / "out").exists()


def _fake_npm_cache(cache: Path) -> None:
    """The project's own page set packed as npm packs a package: package/... in a .tgz, and
    its digest pinned in the lock beside the manifest."""
    (cache / "npm").mkdir(parents=True)
    archive = cache / "npm" / "demo-site-1.0.0.tgz"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as raw:
        for p in sorted(PAGES.rglob("*")):
            info = raw.gettarinfo(p, arcname=f"package/{p.relative_to(PAGES).as_posix()}")
            info.mtime = 0
            raw.addfile(info, p.open("rb") if p.is_file() else None)
    archive.write_bytes(gzip.compress(archive.read_bytes(), mtime=0))  # the same bytes for both caches
    digest = base64.b64encode(hashlib.sha512(archive.read_bytes()).digest()).decode()
    write_lock(cache.parent / "corpus.lock", {key("npm", "demo-site", "1.0.0"): Pin(archive.name,
                                                                                    integrity=f"sha512-{digest}")})


def _chromium() -> None:
    try:
        find_browser()
    except BrowserError:
        pytest.skip("no Chromium on this machine (apt-get install -y chromium)")


@pytest.mark.slow
def test_a_build_from_the_cache_is_deterministic_and_says_where_pages_come_from(tmp_path):
    _chromium()
    pytest.importorskip("playwright")
    path = _manifest(tmp_path, GOOD)
    _fake_npm_cache(tmp_path / "cache")
    _fake_npm_cache(tmp_path / "cache2")  # a second cache: unpacked and rendered afresh, elsewhere
    a = build_corpus(path, tmp_path / "a", tmp_path / "cache", offline=True, progress=False)
    b = build_corpus(path, tmp_path / "b", tmp_path / "cache2", offline=True, progress=False)
    assert not a.site_rejects and len(a.pages) == len(b.pages) == 7
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:  # the same bytes, rendering included
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert set(read_groups(tmp_path / "a" / "groups.json").values()) == {"demo"}
    record = json.loads((tmp_path / "a" / CORPUS_NAME).read_text())
    assert record["pages"]["demo__dashboard"]["kind"] == "dashboard" and record["kinds"]["landing"] == 2
    attribution = (tmp_path / "a" / "ATTRIBUTION").read_text()
    assert "demo | demo-site | 1.0.0 | npm | MIT | https://example.org/demo | 7" in attribution
    boxes = (tmp_path / "a" / "demo__landing.boxes.json").read_text()
    assert '"url": "corpus://demo/landing.html"' in boxes and str(tmp_path) not in boxes
    pages, rejects, _ = read_pairs(tmp_path / "a")
    assert not rejects and all(p.sections for p in pages)


def test_the_committed_slice_is_small_attributed_and_readable():
    pngs = sorted(REAL.glob("*.jpg"))
    groups = read_groups(REAL / "groups.json")
    assert len(pngs) >= 24 and len(set(groups.values())) >= 8
    assert sum(p.stat().st_size for p in REAL.iterdir()) < 10_000_000
    attribution = (REAL / "ATTRIBUTION").read_text()
    assert all(f"\n{site} |" in attribution for site in set(groups.values()))
    kinds = {v["kind"] for v in json.loads((REAL / CORPUS_NAME).read_text())["pages"].values()}
    assert len(kinds) >= 4
    pages, rejects, _ = read_pairs(REAL)
    assert not rejects and len(pages) == len(pngs) and all(p.sections for p in pages)

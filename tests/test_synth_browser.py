"""Issue 37: synthetic pages the browser draws (`augment synth --engine browser`).

Offline throughout: the frameworks come from a hand-made fixture (tests/data/synth_fixture,
a few CSS rules per "framework", packed here as npm archives into a temporary cache). The
grammar's pages are pure functions of (seed, i); every layout's truth names landmark regions
that do not nest and sections inside their region, in the HTML; rendered twice they give
the same bytes, and after rendering every truth xpath has a box, regions do not overlap and
every section lies in its region. A missing archive or font file is an error naming the
package; the CLI refuses bad counts and widths (exit 2). The tests that launch Chromium are
marked slow; the one that needs the real pinned packages skips when the cache lacks them.
"""
from __future__ import annotations

import json
import tarfile
import tomllib
from pathlib import Path

import pytest

from augment.cli import main
from augment.synth.browser import LAYOUTS, MANIFEST, BrowserSynthOptions, SynthError, write_browser_synth
from augment.synth.browser.assets import fetch_assets, load_manifest, stage_assets
from augment.synth.browser.grammar import layout_of, page_spec, parse_widths
from augment.synth.browser.words import _bank
from shards.tokens.htmlparse import parse_html
from shards.tokens.vocab import REGION_TYPES, SECTION_TYPES, TYPE_CLASSES
from test_render import _why_skip

FIXTURE = Path(__file__).parent / "data" / "synth_fixture"
LANDMARKS = {"nav", "header", "aside", "main", "footer"}
REAL_CACHE = Path(__file__).resolve().parents[1] / ".synth-cache"


def pack_fixture(cache: Path, skip: str = "") -> Path:
    """The fixture's packages as npm archives in `cache` (all but the one named `skip`); returns the manifest."""
    (cache / "npm").mkdir(parents=True, exist_ok=True)
    for entry in tomllib.loads((FIXTURE / "frameworks.toml").read_text(encoding="utf-8"))["package"]:
        if entry["name"] == skip:
            continue
        with tarfile.open(cache / "npm" / f"{entry['package']}-{entry['version']}.tgz", "w:gz") as tar:
            tar.add(FIXTURE / entry["name"], arcname="package")
    return FIXTURE / "frameworks.toml"


@pytest.fixture
def fixture_cache(tmp_path: Path) -> Path:
    pack_fixture(tmp_path / "cache")
    return tmp_path / "cache"


def _opts(cache: Path, **kw) -> BrowserSynthOptions:
    return BrowserSynthOptions(cache=str(cache), manifest=str(FIXTURE / "frameworks.toml"), progress=False,
                               jobs=2, **kw)


def _seed_covering(layouts: tuple[str, ...]) -> int:
    """A seed whose first len(layouts) pages draw every layout once."""
    for seed in range(100_000):
        if {layout_of(seed, i, layouts) for i in range(len(layouts))} == set(layouts):
            return seed
    raise AssertionError("no seed covers every layout")


def test_the_same_seed_gives_the_same_page(fixture_cache, tmp_path):
    assets = stage_assets(tmp_path / "stage", fixture_cache, FIXTURE / "frameworks.toml")
    a = page_spec(3, 5, assets, tuple(LAYOUTS), (1280,))
    b = page_spec(3, 5, assets, tuple(LAYOUTS), (1280,))
    assert a == b
    assert page_spec(4, 5, assets, tuple(LAYOUTS), (1280,)).html != a.html
    assert set(a.truth["page"]) >= {"layout", "framework", "width", "theme"}
    assert "lorem" not in a.html.lower() and "ipsum" not in a.html.lower()


def test_every_layouts_truth_names_landmark_regions_and_sections_inside_them(fixture_cache, tmp_path):
    assets = stage_assets(tmp_path / "stage", fixture_cache, FIXTURE / "frameworks.toml")
    for layout in LAYOUTS:
        for seed in range(4):
            spec = page_spec(seed, 0, assets, (layout,), (1280,))
            root, truth = parse_html(spec.html), spec.truth
            regions = []
            for r in truth["regions"]:
                found = root.xpath(r["xpath"])
                assert len(found) == 1, (layout, seed, r)
                assert r["type"] in REGION_TYPES and found[0].tag in LANDMARKS, (layout, r)
                regions.append(found[0])
            for a in regions:  # regions never nest
                assert not any(b is not a and a in b.iterancestors() for b in regions), layout
            assert truth["sections"], layout
            for s in truth["sections"]:
                (node,) = root.xpath(s["xpath"])
                region = regions[s["region"]]
                assert node is region or region in node.iterancestors(), (layout, s)
                assert s["type"] in SECTION_TYPES
                if node is region:  # a region of one part: one section of its own type
                    assert s["type"] == truth["regions"][s["region"]]["type"]
                elif s["type"] == "main":  # a documentation part: under its heading
                    assert node.tag in ("section", "div") and node[0].tag in ("h1", "h2")
                elif node.tag == "section" and layout != "blog":
                    assert set(node.get("class", "").split()) & set(TYPE_CLASSES[s["type"]]), (layout, s)


def test_a_missing_framework_archive_is_an_error_naming_the_package(tmp_path):
    manifest = pack_fixture(tmp_path / "cache", skip="pico")
    with pytest.raises(SynthError, match=r"fixture-pico 0\.0\.1 is not in the cache.*synth-assets"):
        write_browser_synth(tmp_path / "out", _opts(tmp_path / "cache", count=1))
    with pytest.raises(SynthError, match="fixture-pico"):
        fetch_assets(tmp_path / "cache", manifest, offline=True)


def test_a_missing_font_file_is_an_error_naming_the_package_and_file(tmp_path):
    pack_fixture(tmp_path / "cache")
    text = (FIXTURE / "frameworks.toml").read_text(encoding="utf-8").replace(
        "fixture-sans-latin-700-normal.woff2", "fixture-sans-latin-800-normal.woff2")
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    with pytest.raises(SynthError, match=r"font fixture-sans: npm package fixture-font .*latin-800-normal\.woff2"):
        stage_assets(tmp_path / "stage", tmp_path / "cache", tmp_path / "m.toml")


@pytest.mark.parametrize("flags, says", [
    (["--count", "0"], "--count 0: must be at least 1"),
    (["--width", "100"], "--width 100: every width must be in 320..2560"),
    (["--width", "wide"], "--width wide: not a whole number"),
    (["--width", "1600-390"], "the range runs from 1600 down to 390"),
    (["--layouts", "landing,portal"], "--layouts portal: choose from"),
])
def test_the_cli_refuses_bad_counts_and_widths(tmp_path, capsys, flags, says):
    assert main(["synth", "--engine", "browser", "--out", str(tmp_path / "o"), *flags]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_widths_and_the_pinned_manifest():
    assert parse_widths("1280") == (1280,) and parse_widths("390,1600") == (390, 1600)
    assert parse_widths("390-1024") == (390, 414, 768, 1024)
    packages = load_manifest(MANIFEST)
    frameworks = [p for p in packages if p.role == "framework"]
    assert len(frameworks) >= 6 and all(p.version and p.license for p in packages)
    assert {p.name for p in packages if p.role == "icons"} == {"bootstrap-icons", "fontawesome"}
    assert len(_bank()[0]) > 300  # sentences of the standard library's docstrings


def test_no_held_out_source_is_named_in_the_generator():
    held_out = ("start bootstrap", "startbootstrap", "html5 boilerplate", "html5-boilerplate", "postgresql",
                "debian-reference", "debian-handbook", "httpd")
    for path in sorted(MANIFEST.parent.iterdir()):
        if path.is_file():
            text = path.read_text(encoding="utf-8").lower()
            assert not [h for h in held_out if h in text], path


def _boxes(folder: Path, sid: str) -> dict:
    return {e["xpath"]: e["box"] for e in
            json.loads((folder / f"{sid}.boxes.json").read_text(encoding="utf-8"))["elements"]}


def _inside(inner: list, outer: list, slack: float = 1.0) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[0] + inner[2] <= outer[0] + outer[2] + slack
            and inner[1] + inner[3] <= outer[1] + outer[3] + slack)


def _overlap(a: list, b: list, slack: float = 1.0) -> bool:
    return (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > slack
            and min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) > slack)


LAYOUT_SET = tuple(LAYOUTS)
CHROMIUM = pytest.mark.skipif(_why_skip() is not None, reason=f"no browser to render with: {_why_skip()}")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, Path, int]:
    """(the fixture cache, OUT, seed): one page per layout rendered at 900 px, once for the module."""
    root = tmp_path_factory.mktemp("synth-browser")
    cache = root / "cache"
    pack_fixture(cache)
    seed = _seed_covering(LAYOUT_SET)
    summary = write_browser_synth(root / "out", _opts(cache, count=len(LAYOUT_SET), seed=seed, widths=(900,)))
    assert summary.rendered == len(LAYOUT_SET) and summary.lost == 0, summary.text()
    return cache, root / "out", seed


@pytest.mark.slow  # ~10-30 s (the module's rendered set): 7 small pages, one per layout, in one browser
@CHROMIUM
def test_every_layouts_truth_holds_after_rendering(rendered):
    _, out, _ = rendered
    seen = set()
    for sid in sorted(p.name[: -len(".truth.json")] for p in out.glob("*.truth.json")):
        truth = json.loads((out / f"{sid}.truth.json").read_text(encoding="utf-8"))
        seen.add(truth["page"]["layout"])
        box, root = _boxes(out, sid), parse_html((out / f"{sid}.html").read_bytes())
        for item in truth["regions"] + truth["sections"]:
            assert root.xpath(item["xpath"]) and item["xpath"] in box, (sid, item)
        regions = [box[r["xpath"]] for r in truth["regions"]]
        for i, a in enumerate(regions):
            for b in regions[i + 1:]:
                assert not _overlap(a, b), (sid, truth["page"]["layout"], a, b)
        for s in truth["sections"]:
            assert _inside(box[s["xpath"]], regions[s["region"]]), (sid, s, regions[s["region"]])
    assert seen == set(LAYOUT_SET)
    assert json.loads((out / "groups.json").read_text(encoding="utf-8"))


@pytest.mark.slow  # ~5-15 s: 2 pages of the rendered set, rendered again
@CHROMIUM
def test_the_grammars_pages_render_the_same_bytes_twice(rendered, tmp_path):
    cache, out, seed = rendered
    write_browser_synth(tmp_path, _opts(cache, count=2, seed=seed, widths=(900,)))
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("web-"))
    assert len(names) == 8  # 2 pages x png, html, boxes, truth
    assert [n for n in names if (tmp_path / n).read_bytes() != (out / n).read_bytes()] == []


@pytest.mark.slow  # ~5-15 s: 2 pages with the real frameworks
@CHROMIUM
def test_pages_with_the_real_pinned_frameworks(tmp_path):
    try:
        fetch_assets(REAL_CACHE, MANIFEST, offline=True)
    except SynthError as e:
        pytest.skip(f"the pinned packages are not in {REAL_CACHE} (run `python -m augment synth-assets`): {e}")
    summary = write_browser_synth(tmp_path, BrowserSynthOptions(count=2, seed=1, cache=str(REAL_CACHE),
                                                                progress=False))
    assert summary.rendered == 2 and summary.lost == 0
    boxes = json.loads(next(tmp_path.glob("*.boxes.json")).read_text(encoding="utf-8"))
    assert boxes["render"]["blocked_requests"] == 0  # every stylesheet and font loaded from the stage

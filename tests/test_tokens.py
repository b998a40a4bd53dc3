"""Section labels on hand-written pages: types, children roles, the merges, visual blocks."""
from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest

from shards.tokens import (MAX_CHILDREN, ROLES, SECTION_TYPES, derive_sections, find_section_elements,
                           section_walk)
from shards.tokens.htmlparse import parse_html

DATA = Path(__file__).parent / "data" / "sections"

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<nav class="navbar navbar-expand px-4"><a class="navbar-brand" href="#">Acme</a>
  <ul class="nav"><li><a href="#">Docs</a></li><li><a href="#">Blog</a></li></ul></nav>
<div class="jumbotron text-center"><h1>Build</h1><p>Fast</p>
  <a class="btn btn-primary">Start</a><img src="x.png"></div>
<main>
 <section class="features py-16"><div class="container"><h2>Why</h2>
   <div class="row"><div class="col-md-4 card"><h3>A</h3><p>a</p><a>more</a></div>
   <div class="col-md-4 card"><h4>B</h4><p>b</p><a>more</a></div></div></div></section>
 <section id="contact-us"><h2>Write</h2><form><input name="e"><button>Send</button></form></section>
</main>
<footer class="site-footer"><p>(c)</p><ul><li><a>x</a></li></ul></footer>
<script>var x = 1;</script>
</body></html>"""

BOXES = {
    "/html/body/nav": [0, 0, 1280, 60],
    "/html/body/div": [0, 60, 1280, 500],
    "/html/body/main/section[1]": [0, 560, 1280, 400],
    "/html/body/main/section[2]": [0, 960, 1280, 300],
    "/html/body/footer": [0, 1260, 1280, 100],
}


def sections(html, boxes=BOXES, page_size=None):
    return derive_sections(html, boxes, page_size)


def tokens(html, boxes=BOXES, page_size=None):
    return [s.token for s in sections(html, boxes, page_size)]


def data_page(name: str) -> tuple[str, dict[str, list[float]]]:
    """A page of tests/data/sections and its hand-written boxes (data-bbox attributes)."""
    html = (DATA / f"{name}.html").read_text(encoding="utf-8")
    root = lxml.html.document_fromstring(html)
    tree = root.getroottree()
    return html, {tree.getpath(el): [float(v) for v in el.get("data-bbox").split(",")]
                  for el in root.iter() if isinstance(el.tag, str) and el.get("data-bbox")}


def test_types_children_tokens_and_raw_tokens():
    got = sections(PAGE)
    assert [s.token for s in got] == [
        "navbar@link",                      # brand and nav links are all links
        "hero@heading@text@btn@image",      # jumbotron -> hero; a.btn -> btn
        "features@heading@text@link",       # h3 and h4 are both headings; the cards are looked through
        "contact@heading@form",             # typed by its id; the form's input and button are the form's
        "footer@text@link",                 # site-footer -> footer; a list of links is a link
    ]
    assert [s.raw_token for s in got] == ["nav.navbar@a.logo@ul", "div.hero@h1@p@a.btn@img",
                                          "section.features@h2@h3@p@a", "section@h2@form", "footer.footer@p@ul"]
    assert [s.type for s in got] == ["navbar", "hero", "features", "contact", "footer"]
    assert [s.tag for s in got] == ["nav", "div", "section", "section", "footer"]
    assert all(s.token == "@".join([s.type, *s.children]) and len(s.children) <= MAX_CHILDREN for s in got)
    assert all(s.type in SECTION_TYPES and set(s.children) <= set(ROLES) for s in got)


def test_children_in_order_of_first_appearance_at_most_four():
    html = ("<html><body><section class='cards'><h2>a</h2><div><img><h3>b</h3><p>c</p>"
            "<a class='btn'>d</a><table></table></div></section></body></html>")
    assert tokens(html, {"/html/body/section": [0, 0, 100, 100]}) == ["cards@heading@image@text@btn"]


def test_sections_sort_top_to_bottom_by_box():
    swapped = dict(BOXES)
    swapped["/html/body/main/section[1]"] = [0, 960, 1280, 60]
    swapped["/html/body/main/section[2]"] = [0, 560, 1280, 60]
    types = [s.type for s in sections(PAGE, swapped)]
    assert types.index("contact") < types.index("features")


def test_only_located_sections_inside_the_page_are_labels():
    boxes = {**BOXES, "/html/body/div": [0, 0, 0, 0]}  # a zero box (display:none): not drawn
    del boxes["/html/body/nav"]  # no box at all: hidden
    got = sections(PAGE, boxes, page_size=(1280, 1300))
    assert [s.type for s in got] == ["features", "contact", "footer"]
    assert got[-1].box == [0.0, 1260.0, 1280.0, 40.0]  # cut to the page
    assert all(s.box is not None and s.box[2] > 0 and s.box[3] > 0 for s in got)
    assert sections(PAGE, {**BOXES, "/html/body/footer": [0, 1400, 1280, 100]}, (1280, 1300))[-1].type == "contact"
    assert sections(PAGE, {}) == [] and sections(PAGE, None) == []


def test_hidden_children_are_not_children_when_boxes_were_measured_inside():
    html = ("<html><body><header class='navbar'><a href='#'>Home</a>"
            "<ul class='mobile'><li><a>x</a></li></ul><button class='btn'>Menu</button></header></body></html>")
    boxes = {"/html/body/header": [0, 0, 100, 40], "/html/body/header/a": [0, 0, 40, 20],
             "/html/body/header/button": [60, 0, 30, 20]}  # the ul is display:none
    assert tokens(html, boxes) == ["navbar@link@btn"]
    assert tokens(html, {"/html/body/header": [0, 0, 100, 40]}) == ["navbar@link@btn"]  # nothing measured inside


@pytest.mark.parametrize("markup,role", [
    ("<a class='btn btn-primary' href='#'>Go</a>", "btn"),
    ("<a class='button' href='#'>Go</a>", "btn"),
    ("<button type='submit'>Go</button>", "btn"),
    ("<input type='submit' value='Go'>", "btn"),
    ("<a class='inline-flex px-5 py-3 rounded-md bg-blue-600 text-white' href='#'>Go</a>", "btn"),
    ("<span role='button'>Go</span>", "btn"),
    ("<a href='#'>Go</a>", "link"),
    ("<a href='#'><img src='x'></a>", "image"),
    ("<ul><li><img src='a'></li><li><a href='#'><img src='b'></a></li></ul>", "image"),
    ("<div><img src='a'><img src='b'></div>", "image"),
    ("<ul><li><a href='#'>a</a></li><li><a href='#'>b</a></li></ul>", "link"),
    ("<ul><li>one</li><li><span>two</span></li></ul>", "list"),
    ("<h4>Q</h4>", "heading"),
    ("<blockquote><p>q</p></blockquote>", "text"),
    ("<table><tr><td>1</td></tr></table>", "table"),
    ("<video src='v'></video>", "image"),
    ("<textarea></textarea>", "input"),
    ("<figcaption>x</figcaption>", "text"),
    ("<div>bare text</div>", "text"),
])
def test_roles_merge_what_is_drawn_alike(markup, role):
    html = f"<html><body><section>{markup}</section></body></html>"
    assert sections(html, {"/html/body/section": [0, 0, 10, 10]})[0].children == (role,)


def test_looked_through_figure_card_link_and_block_lists():
    box = {"/html/body/section": [0, 0, 10, 10]}
    quote = "<div><blockquote><p>q</p></blockquote><p class='author'>A</p></div>"
    figure = "<figure><blockquote><p>q</p></blockquote><figcaption>A</figcaption></figure>"
    children = lambda inner: sections(f"<html><body><section>{inner}</section></body></html>", box)[0].children  # noqa: E731
    assert children(quote) == children(figure) == ("text",)  # a blockquote is drawn as text
    assert children("<figure><img src='x'><figcaption>c</figcaption></figure>") == ("image", "text")
    assert children("<a href='#'><img src='x'><h3>t</h3><p>p</p></a>") == ("image", "heading", "text")
    assert children("<ul><li><h4>Q</h4><p>A</p></li><li><h4>Q</h4><p>A</p></li></ul>") == ("heading", "text")


def test_synonyms_ids_and_landmarks_type_a_section():
    a = tokens(PAGE)
    b = tokens(PAGE.replace('class="jumbotron', 'class="banner').replace("btn btn-primary", "button")
               .replace('id="contact-us"', 'class="get-in-touch"'))
    assert a == b
    html = ("<html><body><div role='banner'><h1>x</h1></div><div role='navigation'><a>y</a></div>"
            "<div id='pricing-section'>z</div><aside><p>w</p></aside><div role='contentinfo'><p>v</p></div>"
            "</body></html>")
    boxes = {"/html/body/div[1]": [0, 0, 1280, 50], "/html/body/div[2]": [0, 50, 1280, 50],
             "/html/body/aside": [0, 100, 1280, 50], "/html/body/div[4]": [0, 150, 1280, 50]}
    # div#pricing-section is no section (an id types, it does not make one): a plain wrapper
    assert [s.type for s in sections(html, boxes)] == ["header", "navbar", "sidebar", "footer"]


def test_wrappers_are_transparent_and_main_without_sections_is_one():
    html = ("<html><body><div id=root><div class='app'><header><h1>x</h1></header>"
            "<div class='container'><section><p>y</p></section></div></div></div>"
            "<main><h2>z</h2><p>w</p></main></body></html>")
    boxes = {"/html/body/div/div/header": [0, 0, 1280, 100], "/html/body/div/div/div/section": [0, 100, 1280, 100],
             "/html/body/main": [0, 200, 1280, 100]}
    assert tokens(html, boxes) == ["header@heading", "other@text", "main@heading@text"]


def test_section_walk_is_the_one_walk():
    body = parse_html(PAGE).find("body")
    walk = section_walk(body)
    assert [el for el, (kind, _) in walk.items() if kind == "section"] == find_section_elements(body)
    assert {kind for kind, _ in walk.values()} == {"section", "maybe", "other"}
    assert all(depth == 0 for el, (_, depth) in walk.items() if el.getparent() is body)


# ---------------------------------------------------------------- pages with too few semantic sections

# Since issue 26 every drawn part outside a semantic section is a block (shards.tokens.fill), and a
# block no markup types gets its type from its place and content: the blog's closing band is a
# footer, the dashboard's table panel a table, the landing page's heading-led text band part of the
# main column. Since issue 35 a region other than main is one section of its region's type: the top
# bars (a header with links at the page top) are navbars, the docs page's text is cut at its h2s, and
# the landing page's first tall band under a heading is its hero, its quote band testimonials.
SHAPES = {
    "docs": ["navbar@link@input", "sidebar@heading@link", "main@heading@text", "main@heading@text", "footer@text"],
    "blog": ["navbar@heading@link", "sidebar@heading@link", "blog@heading@text@image@link", "blog@heading@text",
             "footer@text"],
    "dashboard": ["sidebar@image@link", "navbar@heading@input@image", "stats@text@heading", "other@heading@image",
                  "table@heading@table"],
    "landing": ["navbar@image@link@btn", "hero@heading@text@btn", "main@heading@image@text", "testimonials@text",
                "signup@heading@form", "footer@text"],
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_page_shape_gets_located_sections(name):
    html, boxes = data_page(name)
    got = derive_sections(html, boxes, (1280, max(b[1] + b[3] for b in boxes.values())))
    assert [s.token for s in got] == SHAPES[name]
    assert all(s.box is not None and s.box[2] > 0 and s.box[3] > 0 for s in got)
    assert all(s.xpath in boxes for s in got)
    tops = [s.box[1] for s in got]
    assert tops == sorted(tops)


def test_blocks_need_size_and_hidden_elements_are_never_sections():
    html, boxes = data_page("landing")
    got = derive_sections(html, boxes)
    assert "/html/body/nav" not in {s.xpath for s in got}  # the hidden mobile navbar
    thin = {**boxes, "/html/body/div/div[4]": [0, 1380, 1280, 10]}  # under 16 px: a rule, not a block
    assert len(derive_sections(html, thin)) == len(got) - 1


def test_what_no_semantic_section_holds_becomes_a_block():
    # before issue 26 the strip was left out while the sections covered half the page height;
    # now every drawn part belongs to a section, whatever share the semantic ones cover
    html = ("<html><body><div class='promo-strip'><p>x</p></div><section class='hero'><h1>a</h1></section>"
            "<section class='cta'><a class='btn'>b</a></section><div class='spacer'></div></body></html>")
    boxes = {"/html/body/div[1]": [0, 0, 100, 20], "/html/body/section[1]": [0, 20, 100, 60],
             "/html/body/section[2]": [0, 80, 100, 20], "/html/body/div[2]": [0, 100, 100, 20]}
    # the strip touches the page top and holds no link: a header; the empty spacer draws nothing
    assert tokens(html, boxes) == ["header@text", "hero@heading", "cta@btn"]


DASHBOARD = """<html><body><div class="wrapper">
<nav class="main-header"><a href="#">Home</a><a href="#">Reports</a></nav>
<aside class="main-sidebar"><a href="#">Dashboard</a><a href="#">Users</a></aside>
<div class="content-wrapper">
  <div class="content-header"><h1>Dashboard</h1><ol><li>Home</li></ol></div>
  <section class="content"><div class="container-fluid">
    <div class="row"><div class="col"><div class="card"><p>150 orders</p></div></div>
                     <div class="col"><div class="card"><p>53% bounce</p></div></div>
                     <div class="col"><div class="card"><p>44 users</p></div></div></div>
    <div class="row"><div class="col-wide"><div class="card"><h3>Sales</h3><canvas></canvas></div></div></div>
    <div class="row"><div class="col-wide"><table><tr><td>a</td></tr></table></div></div>
  </div></section>
</div>
<footer class="main-footer"><p>(c) 2024</p></footer>
</div></body></html>"""


def _dashboard_boxes() -> dict[str, list[float]]:
    """Boxes as a browser would draw the page: a 1280 x 1200 admin layout."""
    top, content = "/html/body/div", "/html/body/div/div/section/div"
    boxes = {f"{top}/nav": [250, 0, 1030, 57], f"{top}/aside": [0, 0, 250, 1200], f"{top}/div": [250, 57, 1030, 1070],
             f"{top}/div/div": [250, 57, 1030, 70], f"{top}/div/div/h1": [258, 65, 300, 40],
             f"{top}/div/section": [250, 127, 1030, 1000], content: [258, 127, 1014, 1000],
             f"{content}/div[1]": [258, 127, 1014, 150], f"{content}/div[2]": [258, 277, 1014, 450],
             f"{content}/div[2]/div": [258, 277, 1014, 450], f"{content}/div[2]/div/div": [266, 277, 998, 440],
             f"{content}/div[2]/div/div/h3": [266, 285, 300, 30],
             f"{content}/div[2]/div/div/canvas": [266, 320, 990, 390], f"{content}/div[3]": [258, 727, 1014, 400],
             f"{content}/div[3]/div": [258, 727, 1014, 400], f"{content}/div[3]/div/table": [266, 735, 990, 380],
             f"{top}/footer": [250, 1127, 1030, 73]}
    for i in range(3):  # a row of three stat cards
        col = f"{content}/div[1]/div[{i + 1}]"
        boxes.update({col: [258 + 338 * i, 127, 338, 150], f"{col}/div": [266 + 338 * i, 135, 322, 134],
                      f"{col}/div/p": [274 + 338 * i, 143, 300, 20]})
    return boxes


def test_a_dashboard_is_tiled_top_bar_sidebar_title_each_row_and_footer():
    from shards.tokens.htmlparse import parse_html as parse
    from shards.tokens.coverage import page_coverage

    boxes = _dashboard_boxes()
    got = derive_sections(DASHBOARD, boxes, (1280, 1200))
    # the page title band (a heading strip) is part of the row below it (issue 35); a tie in height
    # is read left to right
    assert [s.type for s in got] == ["sidebar", "navbar", "cards", "cards", "table", "footer"]
    root = parse(DASHBOARD)
    records = [s.record() for s in got]
    assert page_coverage(root, boxes, (1280, 1200), records).coverage == 1.0
    # the semantic sections alone (top bar, sidebar, footer) leave the content column out
    semantic = [r for r in records if r["type"] in ("navbar", "sidebar", "footer")]
    assert page_coverage(root, boxes, (1280, 1200), semantic).coverage < 0.3


def test_the_coverage_measure_counts_content_area_inside_sections():
    from shards.tokens.coverage import content_coverage

    content = [[0, 0, 160, 160], [0, 320, 160, 160]]  # two squares of text (on the 8-px grid)
    assert content_coverage(content, [[0, 0, 160, 160]], (160, 480)) == 0.5
    assert content_coverage(content, [[0, 0, 160, 480]], (160, 480)) == 1.0
    assert content_coverage(content, [[0, 0, 80, 160]], (160, 480)) == 0.25
    assert content_coverage(content, [[0, 0, 100, 100]], (160, 480)) == pytest.approx(0.2, abs=0.03)
    assert content_coverage([], [], (160, 480)) == 1.0

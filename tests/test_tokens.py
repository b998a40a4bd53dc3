"""The section-token rule on hand-written pages."""
from shards.tokens import derive_sections

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body>
<nav class="navbar navbar-expand px-4"><a class="navbar-brand" href="#">Acme</a>
  <ul class="nav"><li><a href="#">Docs</a></li><li><a href="#">Blog</a></li></ul></nav>
<div class="jumbotron text-center"><h1>Build</h1><p>Fast</p>
  <a class="btn btn-primary">Start</a><img src="x.png"></div>
<main>
 <section class="features py-16"><div class="container"><h2>Why</h2>
   <div class="row"><div class="col-md-4 card"><h3>A</h3><p>a</p><a>more</a></div>
   <div class="col-md-4 card"><h3>B</h3><p>b</p><a>more</a></div></div></div></section>
 <section class="contact"><h2>Write</h2><form><input name="e"><button>Send</button></form></section>
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


def tokens(html, boxes=BOXES):
    return [s.token for s in derive_sections(html, boxes)]


def test_tokens_on_a_hand_written_page():
    assert tokens(PAGE) == [
        "nav.navbar@a.logo@ul",          # navbar-brand -> logo; we do not look inside ul
        "div.hero@h1@p@a.btn@img",        # jumbotron -> hero; btn-primary is not semantic
        "section.features@h2@h3@p@a",     # distinct components, first appearance, max 4
        "section.contact@h2@form",        # the form's input and button belong to the form
        "footer.footer@p@ul",             # site-footer -> footer
    ]


def test_sections_sort_top_to_bottom_by_box():
    swapped = dict(BOXES)
    swapped["/html/body/main/section[1]"], swapped["/html/body/main/section[2]"] = [0, 960, 1, 1], [0, 560, 1, 1]
    got = tokens(PAGE, swapped)
    assert got.index("section.contact@h2@form") < got.index("section.features@h2@h3@p@a")


def test_unlocated_sections_keep_document_position_and_have_no_box():
    secs = derive_sections(PAGE, {"/html/body/footer": [0, 10, 5, 5]})
    assert [s.box for s in secs[:-1]] == [None] * 4
    assert secs[-1].token.startswith("footer")
    assert secs[-1].box == [0.0, 10.0, 5.0, 5.0]


def test_synonyms_never_change_a_token():
    a = tokens(PAGE)
    b = tokens(PAGE.replace('class="jumbotron', 'class="banner').replace("btn btn-primary", "button"))
    assert a == b


def test_wrappers_are_transparent_and_main_without_sections_is_one():
    html = ("<html><body><div id=root><div class='app'><header><h1>x</h1></header>"
            "<div class='container'><section><p>y</p></section></div></div></div>"
            "<main><h2>z</h2><p>w</p></main></body></html>")
    assert tokens(html, {}) == ["header@h1", "section@p", "main@h2@p"]


def test_at_most_four_children_and_utility_classes_ignored():
    html = ("<html><body><section class='py-8 bg-white'><h2 class='text-lg'>a</h2><p>b</p><img>"
            "<ul><li>c</li></ul><table></table><blockquote></blockquote></section></body></html>")
    assert tokens(html, {}) == ["section@h2@p@img@ul"]


def test_page_without_sections_gives_none():
    assert tokens("<html><body><p>just text</p></body></html>", {}) == []

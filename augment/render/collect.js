// The in-page half of `augment render`: settle the page, then list every element under
// <body> whose display is not none and whose box is not empty, with its CSS-pixel box in
// page coordinates and its xpath written the way lxml's getpath writes it.
//
// Evaluated by Playwright as a function expression (browser.py, COLLECT_JS). The Python
// side (extract.py) checks every xpath against its own lxml parse of the saved DOM.
async () => {
  await document.fonts.ready;
  // Animations (CSS ones already end at once, see INIT_JS in browser.py; these are the ones
  // scripts start): finite ones jump to their end state, infinite ones are cancelled.
  for (const a of document.getAnimations()) {
    const end = a.effect ? a.effect.getComputedTiming().endTime : Infinity;
    try {
      if (Number.isFinite(end)) a.finish(); else a.cancel();
    } catch (e) {
      a.cancel();
    }
  }
  window.scrollTo(0, 0);
  // Two frames, so the compositor drops the layers those animations had: text painted on an
  // animated layer can differ by a few pixel values from run to run.
  for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(r));
  const root = document.documentElement;
  const round = (v) => Math.round(v * 100) / 100;
  const elements = [];

  // lxml (libxml2's xmlGetNodePath) names a step by its lower-cased tag and adds [i], the
  // 1-based position among same-tag siblings, only when there is more than one of them.
  function childSteps(parent) {
    const kids = Array.from(parent.children);
    const total = new Map();
    for (const k of kids) {
      const t = k.localName.toLowerCase();
      total.set(t, (total.get(t) || 0) + 1);
    }
    const seen = new Map();
    return kids.map((k) => {
      const t = k.localName.toLowerCase();
      const i = (seen.get(t) || 0) + 1;
      seen.set(t, i);
      return [k, t, total.get(t) > 1 ? `${t}[${i}]` : t];
    });
  }

  function walk(parent, path) {
    for (const [el, tag, step] of childSteps(parent)) {
      const xpath = `${path}/${step}`;
      const style = getComputedStyle(el);
      if (style.display === "none") continue; // nothing inside is laid out either
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.height > 0) {
        elements.push([xpath, tag, el.getAttribute("id"), el.getAttribute("class"),
                       round(r.left + window.scrollX), round(r.top + window.scrollY),
                       round(r.width), round(r.height)]);
      }
      walk(el, xpath);
    }
  }

  const body = document.body;
  if (body && body.parentElement === root) {
    const bodyStep = childSteps(root).find(([el]) => el === body)[2];
    walk(body, `/${root.localName.toLowerCase()}/${bodyStep}`);
  }
  const height = Math.max(root.scrollHeight, body ? body.scrollHeight : 0, window.innerHeight);
  return {elements, height: Math.ceil(height), html: serialize()};

  // The DOM as HTML, by the HTML5 serialization rules except that void elements are written
  // `<source ... />`: libxml2's HTML parser does not know HTML5's new void elements (source,
  // track, wbr, embed, keygen) and, given `<embed>`, nests the rest of the page inside it,
  // while it closes any element written with `/>`.
  function serialize() {
    const VOID = new Set(["area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img",
                          "input", "keygen", "link", "meta", "param", "source", "track", "wbr"]);
    const RAW = new Set(["style", "script", "xmp", "iframe", "noembed", "noframes", "plaintext", "noscript"]);
    const HTML_NS = "http://www.w3.org/1999/xhtml";
    const text = (s) => s.replace(/&/g, "&amp;").replace(/\u00a0/g, "&nbsp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    const attr = (s) => s.replace(/&/g, "&amp;").replace(/\u00a0/g, "&nbsp;").replace(/"/g, "&quot;");
    const out = [];
    function children(node) {
      const from = node.localName === "template" && node.content ? node.content : node;
      const raw = node.nodeType === 1 && node.namespaceURI === HTML_NS && RAW.has(node.localName);
      for (const c of from.childNodes) {
        if (c.nodeType === 1) {
          const tag = c.namespaceURI === HTML_NS ? c.localName : c.tagName;
          out.push("<", tag);
          for (const a of c.attributes) out.push(" ", a.name, '="', attr(a.value), '"');
          if (c.namespaceURI === HTML_NS && VOID.has(tag)) {
            out.push(" />");
            continue;
          }
          out.push(">");
          children(c);
          out.push("</", tag, ">");
        } else if (c.nodeType === 3) {
          out.push(raw ? c.data : text(c.data));
        } else if (c.nodeType === 8) {
          out.push("<!--", c.data, "-->");
        }
      }
    }
    if (document.doctype) out.push(`<!DOCTYPE ${document.doctype.name}>\n`);
    out.push("<", root.localName);
    for (const a of root.attributes) out.push(" ", a.name, '="', attr(a.value), '"');
    out.push(">");
    children(root);
    out.push("</", root.localName, ">\n");
    return out.join("");
  }
}

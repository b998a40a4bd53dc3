// The in-page half of `augment render`: settle the page, then list every element under
// <body> whose display is not none and whose box is not empty and meets the captured area
// (x 0..width, y 0..min(page height, maxHeight)), with its CSS-pixel box in page coordinates,
// clipped to that area, and its xpath written the way lxml's getpath writes it. Elements
// wholly outside are counted (`cut`), not listed: a 40,000-row table cut at 4000 px wrote
// 6.8 MB of boxes below the picture. Past `maxElements` listed the walk stops (`over`), and
// a DOM serializing to more than `maxHtml` characters is not sent back (`html` null).
//
// Evaluated by Playwright as a function expression (browser.py, COLLECT_JS). The Python
// side (extract.py) checks every xpath against its own lxml parse of the saved DOM.
async ({width, maxHeight, maxElements, maxHtml, frames, frameKey}) => {
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
  // animated layer can differ by a few pixel values from run to run. None with JavaScript off
  // (`frames` 0): no callback of the page's event loop runs then, requestAnimationFrame's neither.
  // The browser's own frames (kept by browser.py's INIT_JS): the page's are the paused fake clock's.
  const frame = window[Symbol.for(frameKey)] || requestAnimationFrame;
  for (let i = 0; i < frames; i++) await new Promise((r) => frame(r));
  const root = document.documentElement;
  const round = (v) => Math.round(v * 100) / 100;
  const elements = [];
  const body = document.body;
  const height = Math.ceil(Math.max(root.scrollHeight, body ? body.scrollHeight : 0, window.innerHeight));
  const bottom = Math.min(height, maxHeight);
  let cut = 0, clipped = 0;
  const OVER = {};

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
        const x = r.left + window.scrollX, y = r.top + window.scrollY;
        const x0 = Math.max(x, 0), y0 = Math.max(y, 0);
        const x1 = Math.min(x + r.width, width), y1 = Math.min(y + r.height, bottom);
        const row = [xpath, tag, el.getAttribute("id"), el.getAttribute("class")];
        if (x1 <= x0 || y1 <= y0) {
          cut++;
        } else if (x0 === x && y0 === y && x1 === x + r.width && y1 === y + r.height) {
          elements.push([...row, round(x), round(y), round(r.width), round(r.height)]);
        } else {
          clipped++;  // edges rounded, then the size from them: the box ends at the capture's edge, not 0.01 past it
          const c = [x0, y0, x1, y1].map((v) => Math.round(v * 100));
          elements.push([...row, c[0] / 100, c[1] / 100, (c[2] - c[0]) / 100, (c[3] - c[1]) / 100]);
        }
        if (elements.length > maxElements) throw OVER;
      }
      walk(el, xpath);
    }
  }

  if (body && body.parentElement === root) {
    const bodyStep = childSteps(root).find(([el]) => el === body)[2];
    try {
      walk(body, `/${root.localName.toLowerCase()}/${bodyStep}`);
    } catch (e) {
      if (e !== OVER) throw e;
      return {elements: [], height, html: null, htmlChars: 0, cut, clipped, over: true};
    }
  }
  const html = serialize();
  const fits = html.length <= maxHtml;
  return {elements, height, html: fits ? html : null, htmlChars: html.length, cut, clipped, over: false};

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

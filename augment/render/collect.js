// The in-page half of `augment render`: settle the page, then list every element under
// <body> whose display is not none and whose box is not empty, with its CSS-pixel box in
// page coordinates and its xpath written the way lxml's getpath writes it.
//
// Evaluated by Playwright as a function expression (browser.py, COLLECT_JS). The Python
// side (extract.py) checks every xpath against its own lxml parse of the saved DOM.
() => {
  // Animations: finite ones jump to their end state, infinite ones are cancelled, so boxes
  // and pixels come from one still frame (Playwright's screenshot does the same).
  for (const a of document.getAnimations()) {
    const end = a.effect ? a.effect.getComputedTiming().endTime : Infinity;
    try {
      if (Number.isFinite(end)) a.finish(); else a.cancel();
    } catch (e) {
      a.cancel();
    }
  }
  window.scrollTo(0, 0);
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
  return {elements, height: Math.ceil(height)};
}

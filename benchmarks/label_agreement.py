"""Label agreement: do the labels mean the same on every site? Two measures (issue 35).

`python -m benchmarks.label_agreement [--pairs CORPUS] [--truth PAIRS] [--painter N] [--json OUT]`

1. **Across themes.** The corpus's documentation themes (manifest sites built by Sphinx or
   MkDocs, `corpus.toml`) render one shared sample text (`augment/corpus/sample/docs/`), so
   a sample page's main region should be cut the same way by every theme. For each sample
   page (the page id after ``SITE__``), over every pair of themes that rendered it: **count**,
   the share of pairs whose main regions hold equally many sections; **type**, over those
   pairs, the share of sections (matched in page order) of one type. Targets: both >= 0.9.
2. **Against a known truth.** Pairs that come with ``<id>.truth.json`` (the browser-drawn
   generator writes one: ``{"regions": [{"type", "xpath"}], "sections": [{"type", "xpath",
   "region"}]}``, boxes from the pair's own ``boxes.json``, or an entry's own ``box``): the rule's regions and sections
   matched one to one to the truth's by IoU (scipy's assignment); **type** agreement and
   **IoU** over the matched (IoU >= 0.5) ones, and the share of pages whose **count** is
   equal, per level. Targets: type >= 0.95, IoU >= 0.9, count equal on >= 95% of pages.
   The painter engine's pages (`augment synth`, ``--painter N`` pages drawn in memory) are
   checked the same way: their truth is what the painter painted (`augment.synth.signature`),
   the top bar its navbar region, the footer its footer region, the rest one main region.

The main region of a page is its largest region of type main.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from shards.pairs.files import guarded, read_members
from shards.pairs.folder import Reject, discover
from shards.pairs.pages import true_labels
from shards.storage import atomic
from shards.tokens.htmlparse import parse_html
from shards.tokens.records import area, inter_area, union

from . import common

TARGETS = {"theme_count": 0.9, "theme_type": 0.9, "truth_type": 0.95, "truth_iou": 0.9, "truth_count": 0.95}
SAMPLE_BUILDS = ("sphinx", "mkdocs")
MATCH_IOU = 0.5


def _labels(pair) -> tuple[list[dict], list[dict], dict[str, list[float]]]:
    image, html, boxes = read_members(pair, 1 << 31)
    root = parse_html(html, pair.source_id)
    table, regions, sections = true_labels(root, boxes, (int(image.shape[1]), int(image.shape[0])))
    return regions, sections, table


def main_types(regions: list[dict], sections: list[dict]) -> list[str]:
    """The types of the sections of the page's largest main region, top to bottom."""
    mains = [i for i, r in enumerate(regions) if r["type"] == "main"]
    if not mains:
        return []
    main = max(mains, key=lambda i: area(regions[i]["box"]))
    return [s["type"] for s in sorted(sections, key=lambda s: (s["box"][1], s["box"][0])) if s["region"] == main]


def theme_agreement(per_page: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """{sample page: {site: main-region types}} -> count and type agreement over theme pairs."""
    rows, pairs, equal, compared, same = {}, 0, 0, 0, 0
    for page, sites in sorted(per_page.items()):
        p = e = c = t = 0
        for a, b in combinations(sorted(sites), 2):
            p += 1
            if len(sites[a]) == len(sites[b]):
                e += 1
                c += len(sites[a])
                t += sum(x == y for x, y in zip(sites[a], sites[b]))
        counts = [len(v) for v in sites.values()]
        rows[page] = {"themes": len(sites), "count_agreement": round(e / p, 3) if p else None,
                      "type_agreement": round(t / c, 3) if c else None,
                      "counts": {str(n): counts.count(n) for n in sorted(set(counts))}}
        pairs, equal, compared, same = pairs + p, equal + e, compared + c, same + t
    return {"pages": rows, "count_agreement": round(equal / pairs, 3) if pairs else None,
            "type_agreement": round(same / compared, 3) if compared else None, "theme_pairs": pairs}


def _iou(a: list[float], b: list[float]) -> float:
    i = inter_area(a, b)
    return i / (area(a) + area(b) - i) if i > 0 else 0.0


def match(truth: list[dict], found: list[dict]) -> list[tuple[dict, dict, float]]:
    """One-to-one matches (truth, found, IoU) with IoU >= `MATCH_IOU` (the assignment of largest IoU)."""
    from scipy.optimize import linear_sum_assignment

    if not truth or not found:
        return []
    iou = np.array([[_iou(t["box"], f["box"]) for f in found] for t in truth])
    rows, cols = linear_sum_assignment(-iou)
    return [(truth[r], found[c], float(iou[r, c])) for r, c in zip(rows, cols) if iou[r, c] >= MATCH_IOU]


def truth_boxes(truth: dict[str, Any], table: dict[str, list[float]]) -> tuple[list[dict], list[dict]]:
    """The truth's regions and sections with their boxes: an entry's own ``box``, else its
    element's in the pair's boxes (by ``xpath``); an xpath with no box is left out (not drawn)."""
    def located(entries: list[dict]) -> list[dict]:
        return [{**e, "box": e.get("box") or table[e["xpath"]]} for e in entries
                if e.get("box") or e.get("xpath") in table]

    return located(truth.get("regions", [])), located(truth.get("sections", []))


def _agree(levels: dict[str, dict[str, list]], truth: tuple[list[dict], list[dict]],
           found: tuple[list[dict], list[dict]]) -> None:
    for level, t, f in (("regions", truth[0], found[0]), ("sections", truth[1], found[1])):
        m = match(t, f)
        levels[level]["count"].append(len(t) == len(f))
        levels[level]["type"] += [a["type"] == b["type"] for a, b, _ in m]
        levels[level]["iou"] += [iou for _, _, iou in m]
        levels[level]["matched"].append(len(m) / max(len(t), 1))


def _summary(levels: dict[str, dict[str, list]], pages: int) -> dict[str, Any]:
    out: dict[str, Any] = {"pages": pages}
    for level, v in levels.items():
        out[level] = {k: round(float(np.mean(x)), 3) if x else None for k, x in v.items()}
    return out


def truth_agreement(pairs: Path) -> dict[str, Any]:
    """The rule against each pair's ``<id>.truth.json``, per level (module docstring)."""
    found, _ = discover(pairs)
    levels: dict[str, dict[str, list]] = {lv: defaultdict(list) for lv in ("regions", "sections")}
    pages = 0
    for pair in found:
        path = pairs / f"{pair.source_id}.truth.json"
        if not path.is_file():
            continue
        try:
            regions, sections, table = guarded(pair, _labels, pair)
        except Reject:
            continue
        truth = json.loads(path.read_text(encoding="utf-8"))
        pages += 1
        _agree(levels, truth_boxes(truth, table), (regions, sections))
    return _summary(levels, pages)


def painter_truth(layout: Any) -> tuple[list[dict], list[dict], dict[str, list[float]]]:
    """(regions, sections, boxes by xpath) of a painter page, as the painter drew it."""
    from augment.synth.layout import collect_boxes
    from augment.synth.signature import section_signatures

    boxes = {e["xpath"]: e["box"] for e in collect_boxes(layout.root)}
    painted = sorted(((xp, kind) for xp, (kind, _) in section_signatures(layout).items() if xp in boxes),
                     key=lambda t: boxes[t[0]][1])
    regions: list[dict] = []
    sections: list[dict] = []
    for i, (xp, kind) in enumerate(painted):
        place = kind if kind == "footer" and i == len(painted) - 1 else kind if kind == "navbar" and i == 0 else "main"
        if not regions or regions[-1]["type"] != place or place != "main":
            regions.append({"type": place, "boxes": []})
        regions[-1]["boxes"].append(boxes[xp])
        sections.append({"type": kind, "box": boxes[xp], "region": len(regions) - 1})
    return [{"type": r["type"], "box": union(r["boxes"])} for r in regions], sections, boxes


def painter_agreement(pages: int, seed: int) -> dict[str, Any]:
    """The rule against what the painter drew, on `pages` pages of seed `seed` (module docstring)."""
    from augment.synth.page import layout_html, synth_layout
    from shards.tokens import derive_labels

    levels: dict[str, dict[str, list]] = {lv: defaultdict(list) for lv in ("regions", "sections")}
    for i in range(pages):
        layout = synth_layout(f"page-{i:05d}", np.random.default_rng([seed, i]))
        regions, sections, boxes = painter_truth(layout)
        labels = derive_labels(layout_html(layout), boxes, layout.size)
        _agree(levels, (regions, sections), ([r.record() for r in labels.regions],
                                             [s.record() for s in labels.sections]))
    return _summary(levels, pages)


def themes(pairs: Path, manifest: Any) -> dict[str, Any]:
    """The theme agreement of the corpus at `pairs` (module docstring, 1)."""
    sites = {s.name for s in manifest.sites if s.build in SAMPLE_BUILDS}
    found, _ = discover(pairs)
    per_page: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for pair in found:
        site, _, page = pair.source_id.partition("__")
        if site not in sites or not page:
            continue
        try:
            regions, sections, _ = guarded(pair, _labels, pair)
        except Reject:
            continue
        per_page[page][site] = main_types(regions, sections)
    return theme_agreement(per_page)


def measure(pairs: Path | None, manifest: Path, truth: Path | None, painter: int = 0, seed: int = 0
            ) -> dict[str, Any]:
    """Every measure asked for (module docstring) and the targets."""
    from augment.corpus import load_manifest

    r: dict[str, Any] = {"pairs": None if pairs is None else str(pairs)}
    if pairs is not None:
        r["themes"] = themes(pairs, load_manifest(manifest))
    if truth is not None:
        r["truth"] = truth_agreement(truth)
    if painter:
        r["painter"] = painter_agreement(painter, seed)
    r["targets"] = _targets(r)
    return r


def _met(measured: float | None, target: float) -> dict[str, Any]:
    return {"measured": measured, "target": target, "met": measured is not None and measured >= target}


def _targets(r: dict[str, Any]) -> dict[str, dict]:
    out = {}
    if "themes" in r:
        out["theme_count"] = _met(r["themes"]["count_agreement"], TARGETS["theme_count"])
        out["theme_type"] = _met(r["themes"]["type_agreement"], TARGETS["theme_type"])
    for engine in ("truth", "painter"):
        for level in ("regions", "sections") if engine in r else ():
            t = r[engine][level]
            out[f"{engine}_{level}_type"] = _met(t.get("type"), TARGETS["truth_type"])
            out[f"{engine}_{level}_iou"] = _met(t.get("iou"), TARGETS["truth_iou"])
            out[f"{engine}_{level}_count"] = _met(t.get("count"), TARGETS["truth_count"])
    return out


def report(r: dict[str, Any]) -> str:
    text = ""
    if "themes" in r:
        th = r["themes"]
        rows = [[page, v["themes"], v["count_agreement"], v["type_agreement"],
                 ", ".join(f"{n}: {k}" for n, k in v["counts"].items())] for page, v in th["pages"].items()]
        rows.append(["all", th["theme_pairs"], th["count_agreement"], th["type_agreement"], ""])
        text += common.table(["sample page", "themes (all: pairs)", "count agreement", "type agreement",
                              "sections: themes"], rows) + "\n"
    rows = [[engine, lv, t["pages"], t[lv]["count"], t[lv]["type"], t[lv]["iou"], t[lv]["matched"]]
            for engine in ("truth", "painter") if engine in r for t in (r[engine],) for lv in ("regions", "sections")]
    if rows:
        text += "\n" + common.table(["truth of", "level", "pages", "count equal", "type", "IoU", "matched"], rows)
    for name, t in r["targets"].items():
        text += f"\ntarget {name}: {t['measured']} vs {t['target']} ({'met' if t['met'] else 'NOT met'})"
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.label_agreement", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--pairs", type=Path, help="the corpus's rendered pairs (augment corpus build; default: none)")
    p.add_argument("--manifest", type=Path, default=Path("corpus.toml"),
                   help="the corpus manifest: which sites render the shared sample text (default: corpus.toml)")
    p.add_argument("--truth", type=Path, help="a folder of pairs with <id>.truth.json (default: none)")
    p.add_argument("--painter", type=int, default=0, metavar="N",
                   help="also check the rule on N painter pages drawn in memory (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="the painter pages' seed (default: 0)")
    p.add_argument("--json", type=Path, help="also write the measures here (default: not written)")
    args = p.parse_args(argv)
    if args.pairs is None and args.truth is None and not args.painter:
        p.error("nothing to measure: give --pairs, --truth or --painter")
    r = measure(args.pairs, args.manifest, args.truth, args.painter, args.seed)
    print(report(r))
    if args.json:
        atomic.write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())

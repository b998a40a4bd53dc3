"""Label coverage: do the regions and sections of real pages tile them? Measured per kind and level.

`python -m benchmarks.label_coverage --pairs PAIRS [--json OUT] [--worst N]` reads a folder
of rendered source pairs (the real-page corpus, `augment corpus build`; its ``corpus.json``
gives each page's kind, otherwise every page is of kind ``all``), derives each page's
sections with the project's rule (`shards.tokens.derive_sections`, exactly as `augment run`
does for variant 00) and prints per kind:

- **coverage**: the share of the page's content area inside a located section
  (`shards.tokens.coverage`), median and 10th percentile over pages, and the pages below
  one half;
- **other**: the share of sections typed ``other``;
- **sections per page**: median and largest;
- **overlaps**: pages where two boxes of one level overlap (two regions, or two sections of
  one region), and regions per page.

Targets (issue 35): no page with an overlap at either level; coverage median >= 0.95 in every
kind; ``other`` <= 15% of sections in every kind; sections per page median <= 12, none above 30.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from shards.pairs.files import guarded, read_members
from shards.pairs.folder import Reject, discover
from shards.pairs.pages import true_labels
from shards.storage import atomic
from shards.tokens.coverage import page_coverage
from shards.tokens.htmlparse import parse_html
from shards.tokens.records import inter_area

from . import common

TARGETS = {"kind_median_coverage": 0.95, "kind_other_share": 0.15, "kind_sections_median": 12,
           "max_sections": 30, "overlap_pages": 0}
OVERLAP_PX = 1.0  # px^2: boxes that share more than this overlap (touching edges do not)


def _quad(box: list[float]) -> list[list[float]]:
    x, y, w, h = box
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def _read(pair) -> tuple[np.ndarray, list[dict], Any, dict, tuple[int, int], list[dict]]:
    """The pair's image, sections, parsed HTML, boxes, size and regions, as `augment run`
    derives them for variant 00."""
    image, html, boxes = read_members(pair, 1 << 31)
    root = parse_html(html, pair.source_id)
    size = (int(image.shape[1]), int(image.shape[0]))
    table, regions, sections = true_labels(root, boxes, size)
    return image, sections, root, table, size, regions


def _overlaps(boxes: list[list[float]]) -> int:
    return sum(inter_area(a, b) > OVERLAP_PX for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _page(pair) -> dict[str, Any]:
    _, sections, root, table, size, regions = _read(pair)
    c = page_coverage(root, table, size, sections)
    section_overlaps = sum(_overlaps([s["box"] for s in sections if s["region"] == i]) for i in range(len(regions)))
    return {"coverage": round(c.coverage, 4), "sections": c.sections, "other": c.other,
            "types": [s["type"] for s in sections], "regions": [r["type"] for r in regions],
            "region_overlaps": _overlaps([r["box"] for r in regions]), "section_overlaps": section_overlaps}


def measure(pairs: Path) -> dict[str, Any]:
    """Every page's measures and the per-kind summary."""
    meta = pairs / "corpus.json"
    kinds = {k: v["kind"] for k, v in json.loads(meta.read_text())["pages"].items()} if meta.is_file() else {}
    found, _ = discover(pairs)
    pages, rejects = {}, []
    for pair in found:
        try:
            pages[pair.source_id] = {"kind": kinds.get(pair.source_id, "all"), **guarded(pair, _page, pair)}
        except Reject as r:
            rejects.append({"id": pair.source_id, "reason": r.reason, "message": str(r)})
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for p in pages.values():
        by_kind[p["kind"]].append(p)
    summary = {k: _summary(v) for k, v in sorted(by_kind.items())}
    summary["all"] = _summary(list(pages.values()))
    types = Counter(t for p in pages.values() for t in p["types"])
    regions = Counter(t for p in pages.values() for t in p["regions"])
    return {"pairs": str(pairs), "pages": pages, "rejects": rejects, "summary": summary,
            "types": dict(types.most_common()), "region_types": dict(regions.most_common()),
            "targets": _targets(summary)}


def _summary(rows: list[dict]) -> dict[str, Any]:
    cov = [r["coverage"] for r in rows]
    n_sections = sum(r["sections"] for r in rows)
    return {"pages": len(rows), "coverage_median": round(statistics.median(cov), 3),
            "coverage_p10": round(float(np.percentile(cov, 10)), 3),
            "under_half": sum(c < 0.5 for c in cov), "sections": n_sections,
            "other_share": round(sum(r["other"] for r in rows) / max(n_sections, 1), 3),
            "sections_per_page": statistics.median(r["sections"] for r in rows),
            "sections_max": max(r["sections"] for r in rows),
            "regions_per_page": statistics.median(len(r["regions"]) for r in rows),
            "overlap_pages": sum(r["region_overlaps"] + r["section_overlaps"] > 0 for r in rows)}


def _targets(summary: dict[str, dict]) -> dict[str, dict]:
    kinds = [k for k in summary if k != "all"] or ["all"]
    rows = {"kind_median_coverage": (min(summary[k]["coverage_median"] for k in kinds),
                                     TARGETS["kind_median_coverage"], ">="),
            "kind_other_share": (max(summary[k]["other_share"] for k in kinds), TARGETS["kind_other_share"], "<="),
            "kind_sections_median": (max(summary[k]["sections_per_page"] for k in kinds),
                                     TARGETS["kind_sections_median"], "<="),
            "max_sections": (summary["all"]["sections_max"], TARGETS["max_sections"], "<="),
            "overlap_pages": (summary["all"]["overlap_pages"], TARGETS["overlap_pages"], "<=")}
    return {name: {"measured": m, "target": t, "met": m >= t if op == ">=" else m <= t}
            for name, (m, t, op) in rows.items()}


def report(r: dict[str, Any]) -> str:
    head = ["kind", "pages", "coverage median", "p10", "pages < 0.5", "sections", "other", "sections/page",
            "most", "regions/page", "pages with overlaps"]
    rows = [[k, s["pages"], s["coverage_median"], s["coverage_p10"], s["under_half"], s["sections"],
             s["other_share"], s["sections_per_page"], s["sections_max"], s["regions_per_page"], s["overlap_pages"]]
            for k, s in r["summary"].items()]
    text = common.table(head, rows)
    for name, t in r["targets"].items():
        text += f"\ntarget {name}: {t['measured']} vs {t['target']} ({'met' if t['met'] else 'NOT met'})"
    if r["rejects"]:
        text += f"\n{len(r['rejects'])} pairs not read: " + ", ".join(x["id"] for x in r["rejects"][:10])
    return text


def draw_sheets(pairs: Path, r: dict[str, Any], dest: Path, per_sheet: int) -> list[Path]:
    """Per kind, sheets of `per_sheet` pages (`shards.views.show`'s drawing: numbered sections in their
    token's colour, a legend), the pages in id order; returns the files written."""
    import cv2

    from shards.views.show import draw_cell

    dest.mkdir(parents=True, exist_ok=True)
    found = {p.source_id: p for p in discover(pairs)[0]}
    written = []
    by_kind: dict[str, list[str]] = defaultdict(list)
    for sid, page in sorted(r["pages"].items()):
        by_kind[page["kind"]].append(sid)
    for kind, ids in by_kind.items():
        for n in range(0, len(ids), per_sheet):
            rows = []
            for sid in ids[n:n + per_sheet]:
                image, sections, *_, regions = _read(found[sid])
                # sections: numbered, thick, in their token's colour; regions: thin outlines (the elements' style)
                keyed = [{**s, "xpath": f"section-{i}"} for i, s in enumerate(sections)]
                elements = [{"xpath": s["xpath"], "quad": _quad(s["box"])} for s in keyed]
                elements += [{"xpath": f"region-{i}", "quad": _quad(g["box"]), "box": g["box"]}
                             for i, g in enumerate(regions)]
                meta = {"__key__": f"{sid} coverage {r['pages'][sid]['coverage']:.2f} regions "
                                   + " ".join(g["type"] for g in regions), "source": sid, "variant": 0,
                        "size": [image.shape[1], image.shape[0]], "sections": keyed, "ops": [], "elements": elements}
                rows.append(draw_cell((image, meta), None, width=360, strip_height=1100, max_outlines=len(regions)))
            width = max(x.shape[1] for x in rows)
            sheet = np.vstack([np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=255) for x in rows])
            path = dest / f"{kind}-{n // per_sheet:02d}.png"
            ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
            atomic.write_bytes(path, buf.tobytes())
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.label_coverage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--pairs", type=Path, required=True, help="folder of rendered pairs (with corpus.json for kinds)")
    p.add_argument("--json", type=Path, help="also write every page's measures here (default: not written)")
    p.add_argument("--worst", type=int, default=0, help="list the N pages with the lowest coverage (default 0)")
    p.add_argument("--sheets", type=Path, help="draw per-kind contact sheets into this folder (default: none)")
    p.add_argument("--per-sheet", type=int, default=4, help="pages per contact sheet")
    args = p.parse_args(argv)
    r = measure(args.pairs)
    print(report(r))
    for sid, page in sorted(r["pages"].items(), key=lambda kv: kv[1]["coverage"])[:args.worst]:
        print(f"  {page['coverage']:.2f} {page['kind']:<9} {page['sections']:>3} sections  {sid}")
    if args.json:
        atomic.write_json(args.json, r)
    if args.sheets:
        print(f"{len(draw_sheets(args.pairs, r, args.sheets, args.per_sheet))} sheets in {args.sheets}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

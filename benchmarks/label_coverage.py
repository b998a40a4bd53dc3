"""Label coverage: do the sections of real pages tile them? Measured per kind of page.

`python -m benchmarks.label_coverage --pairs PAIRS [--json OUT] [--worst N]` reads a folder
of rendered source pairs (the real-page corpus, `augment corpus build`; its ``corpus.json``
gives each page's kind, otherwise every page is of kind ``all``), derives each page's
sections with the project's rule (`shards.tokens.derive_sections`, exactly as `augment run`
does for variant 00) and prints per kind:

- **coverage**: the share of the page's content area inside a located section
  (`shards.tokens.coverage`), median and 10th percentile over pages, and the pages below
  one half;
- **other**: the share of sections typed ``other``;
- **sections per page**: median.

Targets (issue 26): median coverage >= 0.9 overall, no kind below 0.8; ``other`` <= 25%.
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
from shards.pairs.pages import true_sections
from shards.storage import atomic
from shards.tokens.coverage import page_coverage
from shards.tokens.htmlparse import parse_html

from . import common

TARGETS = {"median_coverage": 0.9, "kind_median_coverage": 0.8, "other_share": 0.25}


def _quad(box: list[float]) -> list[list[float]]:
    x, y, w, h = box
    return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]


def _read(pair) -> tuple[np.ndarray, list[dict], Any, dict, tuple[int, int]]:
    """The pair's image and its sections, as `augment run` derives them for variant 00."""
    image, html, boxes = read_members(pair, 1 << 31)
    root = parse_html(html, pair.source_id)
    size = (int(image.shape[1]), int(image.shape[0]))
    table, sections = true_sections(root, boxes, size)
    return image, sections, root, table, size


def _page(pair) -> dict[str, Any]:
    _, sections, root, table, size = _read(pair)
    c = page_coverage(root, table, size, sections)
    return {"coverage": round(c.coverage, 4), "sections": c.sections, "other": c.other,
            "types": [s["type"] for s in sections]}


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
    return {"pairs": str(pairs), "pages": pages, "rejects": rejects, "summary": summary,
            "types": dict(types.most_common()), "targets": _targets(summary)}


def _summary(rows: list[dict]) -> dict[str, Any]:
    cov = [r["coverage"] for r in rows]
    n_sections = sum(r["sections"] for r in rows)
    return {"pages": len(rows), "coverage_median": round(statistics.median(cov), 3),
            "coverage_p10": round(float(np.percentile(cov, 10)), 3),
            "under_half": sum(c < 0.5 for c in cov), "sections": n_sections,
            "other_share": round(sum(r["other"] for r in rows) / max(n_sections, 1), 3),
            "sections_per_page": statistics.median(r["sections"] for r in rows)}


def _targets(summary: dict[str, dict]) -> dict[str, dict]:
    kinds = [k for k in summary if k != "all"]
    worst = min((summary[k]["coverage_median"] for k in kinds), default=summary["all"]["coverage_median"])
    rows = {"median_coverage": (summary["all"]["coverage_median"], TARGETS["median_coverage"], ">="),
            "kind_median_coverage": (worst, TARGETS["kind_median_coverage"], ">="),
            "other_share": (summary["all"]["other_share"], TARGETS["other_share"], "<=")}
    return {name: {"measured": m, "target": t, "met": m >= t if op == ">=" else m <= t}
            for name, (m, t, op) in rows.items()}


def report(r: dict[str, Any]) -> str:
    head = ["kind", "pages", "coverage median", "p10", "pages < 0.5", "sections", "other", "sections/page"]
    rows = [[k, s["pages"], s["coverage_median"], s["coverage_p10"], s["under_half"], s["sections"],
             s["other_share"], s["sections_per_page"]] for k, s in r["summary"].items()]
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
                image, sections, *_ = _read(found[sid])
                meta = {"__key__": f"{sid} coverage {r['pages'][sid]['coverage']:.2f}", "source": sid, "variant": 0,
                        "size": [image.shape[1], image.shape[0]], "sections": sections, "ops": [],
                        "elements": [{"xpath": s["xpath"], "quad": _quad(s["box"])} for s in sections]}
                rows.append(draw_cell((image, meta), None, width=360, strip_height=1100, max_outlines=0))
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

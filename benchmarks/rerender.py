"""Painting against re-rendering: how far the structure ops' painted screenshots are from the browser's.

On rendered pages with snapshots (`augment render` writes `<id>.mhtml`), each structure op
(`augment.ops.STRUCTURE`) is drawn on each page as `augment run` draws it, applied twice to
the same source: once painted (the op's own `apply`, as without `--rerender`), once
re-rendered (the same params, then Chromium draws the edited page from the snapshot,
`augment.render.rerender`). Per op:

- `exact`: share of variants whose painted screenshot equals the re-rendered one, pixel for pixel;
- `NCC`: median normalized cross-correlation (grey levels) of the two screenshots over the
  changed region: the bounding box of the pixels where either differs from the source (the
  shorter one padded with black, so a wrong page height counts against it);
- `box IoU`: mean IoU of each element's painted box with its re-rendered box (elements with
  a box in both), and `moved`: the share with IoU < 0.5;
- `sections differ`: share of variants whose section labels (`shards.tokens`, in page order)
  differ between the two;
- `paint/s`, `re-render/s`: variants per second producing the page each way (copy, draw
  excluded, apply, the browser), in this process, this run; `failed`: re-renders that timed out
  or failed (`--timeout`), left out of the other columns.

A first row, `identity`, re-renders the untouched page: what re-rendering changes by itself.
`--html DIR` (repeatable) names folders of pages to render (cached in `--work`, the folder
above each as its asset root); default the
project's page set (tests/data/pages). Chromium is CPU-heavy: keep `--pages` small on a shared machine.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from augment.config import AugmentConfig
from augment.ops import OPS, STRUCTURE, apply_op
from augment.page import Page, quad_xyxy
from augment.pipeline import element_records, op_rng
from augment.render import RenderOptions, render_pages
from augment.render.rerender import RerenderError, rerender_page
from augment.render.snapshot import read_snapshot, snapshot_path
from augment.sources import discover, load_pair
from shards.tokens import derive_sections

from . import common

NAME = "rerender"
PAGE_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "pages"
QUICK = {"pages": 4, "variants": 1}
FULL = {"pages": 30, "variants": 1}


def rendered_pairs(work: Path, html_dirs: list[Path]) -> list[Path]:
    """One folder of rendered pairs (with snapshots) per `html_dirs` entry, rendered once into `work`."""
    out = []
    for i, d in enumerate(html_dirs):
        dest = work / f"rerender-pairs-{i}-{d.resolve().parent.name}-{d.name}"
        # the folder above as the asset root: template packages keep pages in examples/ beside assets/
        render_pages(dest, html_dir=d, opts=RenderOptions(jobs=1, progress=False, timeout=60,
                                                          asset_root=str(d.resolve().parent)))
        out.append(dest)
    return out


def _grey(image: np.ndarray, height: int) -> np.ndarray:
    g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return np.pad(g, ((0, height - g.shape[0]), (0, 0)))


def pixel_agreement(source: np.ndarray, painted: np.ndarray, rendered: np.ndarray) -> tuple[bool, float | None]:
    """(painted == rendered exactly, NCC over the changed region; None when neither changed anything)."""
    if painted.shape == rendered.shape and np.array_equal(painted, rendered):
        return True, 1.0
    h = max(source.shape[0], painted.shape[0], rendered.shape[0])
    s, p, r = (_grey(x, h) for x in (source, painted, rendered))
    ys, xs = np.nonzero((p != s) | (r != s))
    if len(ys) == 0:
        return False, None
    p, r = (x[ys.min():ys.max() + 1, xs.min():xs.max() + 1].ravel() for x in (p, r))
    p, r = p - p.mean(), r - r.mean()
    denom = float(np.sqrt((p * p).sum() * (r * r).sum()))
    return False, float((p * r).sum() / denom) if denom else 0.0


def box_agreement(painted: Page, rendered: Page) -> list[float]:
    """IoU of each element's painted and re-rendered box, for the elements with one in both."""
    rows = [rendered.row(el) for el in rendered.elements()]
    a, b = quad_xyxy(painted.quads[rows]), quad_xyxy(rendered.quads[rows])
    ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
    a, b = a[ok], b[ok]
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return (inter / np.maximum(union, 1e-9)).tolist()


def labels(page: Page) -> list[str]:
    _, boxes = element_records(page)
    return [s.token for s in derive_sections(page.root, boxes, page.size)]


def _variant(source: Page, snapshot: Any, name: str | None, params: dict | None, timeout: float) -> dict[str, Any]:
    """One variant painted and re-rendered, compared; {"failed": reason} when the browser failed."""
    t0 = time.perf_counter()
    painted = source.copy()
    if name is not None:
        apply_op(painted, name, params)
    t1 = time.perf_counter()
    rendered = source.copy()
    if name is not None:
        apply_op(rendered, name, params)
    try:
        rerender_page(rendered, snapshot, timeout=timeout)
    except RerenderError as e:
        return {"failed": e.reason}
    t2 = time.perf_counter()
    exact, ncc = pixel_agreement(source.image, painted.image, rendered.image)
    ious = box_agreement(painted, rendered)
    return {"exact": exact, "ncc": ncc, "ious": ious, "differ": labels(painted) != labels(rendered),
            "paint_s": t1 - t0, "rerender_s": t2 - t1, "blocked": rendered.ops[-1]["blocked"]}


def _summary(all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for r in all_rows if "failed" not in r]
    nccs = [r["ncc"] for r in rows if r["ncc"] is not None]
    ious = [v for r in rows for v in r["ious"]]
    paint, rerender = sum(r["paint_s"] for r in rows), sum(r["rerender_s"] for r in rows)
    return {
        "variants": len(rows),
        "exact": round(float(np.mean([r["exact"] for r in rows])), 3),
        "ncc_median": round(float(np.median(nccs)), 4) if nccs else None,
        "box_iou": round(float(np.mean(ious)), 4) if ious else None,
        "moved": round(float(np.mean(np.asarray(ious) < 0.5)), 4) if ious else None,
        "sections_differ": round(float(np.mean([r["differ"] for r in rows])), 3),
        "paint_per_s": round(len(rows) / paint, 2) if paint else None,
        "rerender_per_s": round(len(rows) / rerender, 3) if rerender else None,
        "blocked_requests": int(sum(r["blocked"] for r in rows)),
        "failed": len(all_rows) - len(rows),
    }


def measure(pages: int, variants: int, work: Path, seed: int, html: list[Path] | None = None,
            timeout: float = 60.0) -> dict[str, Any]:
    dirs = html or [PAGE_SET]
    folders = rendered_pairs(work, dirs)
    pairs = [p for f in folders for p in discover(f)[0] if snapshot_path(p.html).is_file()]
    step = max(1, len(pairs) // pages)  # spread over the folders rather than the first one's pages
    pairs = pairs[::step][:pages]
    cfg = AugmentConfig(seed=seed)
    per_op: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pair in pairs:
        source, snapshot = load_pair(pair, cfg.max_pixels), read_snapshot(snapshot_path(pair.html))
        per_op["identity"].append(_variant(source, snapshot, None, None, timeout))
        for name in STRUCTURE:
            for v in range(1, variants + 1):
                params = OPS[name].draw(op_rng(seed, source.source_id, v, name), source.copy(), cfg.ops[name])
                if params is not None:
                    per_op[name].append(_variant(source, snapshot, name, params, timeout))
    return {"settings": {"pages": len(pairs), "variants": variants, "seed": seed, "timeout": timeout,
                         "html": [str(d) for d in dirs]},
            "pages": [p.source_id for p in pairs],
            "ops": {name: _summary(per_op[name]) for name in ["identity", *STRUCTURE] if per_op[name]}}


def report(r: dict[str, Any]) -> str:
    cols = ["variants", "exact", "ncc_median", "box_iou", "moved", "sections_differ", "paint_per_s",
            "rerender_per_s", "blocked_requests", "failed"]
    rows = [[name] + [v.get(c) for c in cols] for name, v in r["ops"].items()]
    head = ["op", "variants", "painted = re-rendered", "NCC (changed region)", "box IoU", "boxes moved",
            "sections differ", "paint/s", "re-render/s", "unserved requests", "failed"]
    return (common.table(head, rows) + f"\n\n{r['settings']['pages']} pages, {r['settings']['variants']} draw(s) per "
            "op and page (ops that found nothing to do on a page are not counted)")


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    p.add_argument("--pages", type=int, help=f"pages (default {FULL['pages']}, quick {QUICK['pages']})")
    p.add_argument("--variants", type=int,
                   help=f"draws per op and page (default {FULL['variants']}, quick {QUICK['variants']})")
    p.add_argument("--html", type=Path, action="append",
                   help=f"folder of HTML pages to render and measure, repeatable (default: {PAGE_SET})")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds per re-render before it counts as failed (a busy machine needs more than 30)")
    args = p.parse_args(argv)
    return common.run_sized(NAME, args, QUICK, FULL, measure, report, html=args.html, timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())

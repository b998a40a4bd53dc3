"""Role confusion: which building blocks of a section the painter draws alike.

The study behind the child roles of `shards.tokens`. Every salient element of every
section of synthetic pages (300 by default) is cropped from the screenshot at its box and
named by its *raw kind* (schema 1's component with what it wraps: ``a.btn``, ``button``,
``a>img``, ``ul>a``, ``h3``...). A 1-nearest-neighbour reader of the crops (16x16 grey
pixels, normalised, plus the log width and height of the box) is fitted on the first half
of the pages and scored on the other half. Two kinds read as each other often are drawn
alike, so no reader can tell them apart: they share a role. The JSON lists every kind's
count and accuracy, the symmetric confusion of each pair (mean of a->b and b->a), the
pairs above `ALIKE` and, for the role table of `shards.tokens`, the reader's accuracy on
raw kinds against its accuracy on roles.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from typing import Any

import cv2
import numpy as np

from augment.synth import synth_page
from shards.tokens import SALIENT_TAGS, derive_sections, semantic_class
from shards.tokens.htmlparse import parse_html
from shards.tokens.roles import button_styled, role_of

from . import common

NAME = "role_confusion"
QUICK = dict(pages=60, per_kind=120)
FULL = dict(pages=300, per_kind=400)
# Symmetric confusion from which two kinds count as drawn alike: twice the largest
# confusion between kinds drawn differently on purpose (a list of links vs a list of text
# lines, 0.07 at 300 pages); kinds drawn identically would be confused at 0.5.
ALIKE = 0.15
SIDE = 16


def raw_kind(el) -> str:
    """Schema 1's component of a salient element, with what a link or list wraps."""
    tag = str(el.tag)
    inner = {str(d.tag) for d in el.iterdescendants() if isinstance(d.tag, str)}
    if tag == "a":
        return "a.btn" if semantic_class(el) == "btn" else "a(bg+pad)" if button_styled(el) else \
            "a>img" if inner == {"img"} else "a"
    if tag in ("ul", "ol"):
        return f"{tag}>" + ("img" if "img" in inner else "h" if inner & {"h3", "h4"} else "a" if "a" in inner else "li")
    if tag == "figure":
        return "figure>blockquote" if "blockquote" in inner else "figure>img"
    return tag


def crops(pages: int, seed: int) -> list[tuple[int, str, str, np.ndarray]]:
    """(page, raw kind, role, feature vector) of every drawn salient element in a section."""
    out = []
    for i in range(pages):
        img, html, boxes = synth_page(f"page-{i:05d}", np.random.default_rng([seed, i]))
        bx = {e["xpath"]: e["box"] for e in boxes["elements"]}
        root = parse_html(html)
        tree = root.getroottree()
        grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        for s in derive_sections(root, bx, boxes["viewport"]):
            stack = list(tree.xpath(s.xpath)[0])
            while stack:
                el = stack.pop()
                if not isinstance(el.tag, str):
                    continue
                if el.tag not in SALIENT_TAGS:
                    stack.extend(el)
                    continue
                box, role = bx.get(tree.getpath(el)), role_of(el) or "(looked through)"
                if box is None or box[2] < 2 or box[3] < 2:
                    continue
                x, y, w, h = box
                patch = cv2.resize(grey[y:y + h, x:x + w], (SIDE, SIDE), interpolation=cv2.INTER_AREA)
                patch = patch.astype(np.float32)
                patch = (patch - patch.mean()) / (patch.std() + 1e-3)
                out.append((i, raw_kind(el), role, np.concatenate([patch.ravel(), [np.log(w), np.log(h)]])))
    return out


def nearest(fit: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Index of each score row's nearest fit row (squared Euclidean), in chunks."""
    out = []
    f2 = (fit ** 2).sum(1)
    for start in range(0, len(score), 512):
        s = score[start:start + 512]
        out.append(np.argmin(f2[None, :] - 2 * s @ fit.T, axis=1))
    return np.concatenate(out) if out else np.zeros(0, int)


def measure(pages: int, per_kind: int, seed: int = 0, **_: Any) -> dict[str, Any]:
    rows = crops(pages, seed)
    rng = np.random.default_rng(seed)
    half = pages // 2
    sets = {}
    for name, keep in (("fit", lambda p: p < half), ("score", lambda p: p >= half)):
        by_kind = defaultdict(list)
        for r in rows:
            if keep(r[0]):
                by_kind[r[1]].append(r)
        chosen = [r for k in sorted(by_kind) for r in
                  [by_kind[k][j] for j in sorted(rng.permutation(len(by_kind[k]))[:per_kind])]]
        sets[name] = chosen
    fit, score = sets["fit"], sets["score"]
    x_fit = np.stack([r[3] for r in fit]) * np.r_[np.ones(SIDE * SIDE), [4.0, 4.0]]
    x_score = np.stack([r[3] for r in score]) * np.r_[np.ones(SIDE * SIDE), [4.0, 4.0]]
    guess = [fit[j] for j in nearest(x_fit, x_score)]
    table: dict[str, Counter] = defaultdict(Counter)
    for r, g in zip(score, guess):
        table[r[1]][g[1]] += 1
    rate = {(a, b): table[a][b] / sum(table[a].values()) for a in table for b in table}
    kinds = sorted(table)
    pairs = sorted(((round((rate[(a, b)] + rate[(b, a)]) / 2, 3), a, b) for i, a in enumerate(kinds)
                    for b in kinds[i + 1:]), reverse=True)
    role = {r[1]: r[2] for r in rows}
    return {
        "settings": {"pages": pages, "per_kind": per_kind, "seed": seed, "side": SIDE},
        "kinds": {k: {"role": role[k], "crops": sum(r[1] == k for r in rows),
                      "accuracy": round(rate[(k, k)], 3)} for k in kinds},
        "pairs": [[a, b, c] for c, a, b in pairs if c > 0][:40],
        "alike": [[a, b, c] for c, a, b in pairs if c >= ALIKE],
        "raw_kind_accuracy": round(float(np.mean([r[1] == g[1] for r, g in zip(score, guess)])), 3),
        "role_accuracy": round(float(np.mean([r[2] == g[2] for r, g in zip(score, guess)])), 3),
    }


def report(r: dict[str, Any]) -> str:
    rows = [[k, v["role"], v["crops"], v["accuracy"]] for k, v in r["kinds"].items()]
    text = common.table(["raw kind", "role", "crops", "read as itself"], rows)
    text += "\n\n" + common.table(["kind", "kind", "confusion"], r["pairs"][:15])
    text += (f"\n\ndrawn alike (confusion >= {ALIKE}): "
             + ", ".join(f"{a} ~ {b} ({c})" for a, b, c in r["alike"]))
    text += f"\n1-NN accuracy: raw kinds {r['raw_kind_accuracy']}, roles {r['role_accuracy']}"
    return text


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    p.add_argument("--pages", type=int, help=f"synthetic pages (default {FULL['pages']}, quick {QUICK['pages']})")
    p.add_argument("--per-kind", dest="per_kind", type=int,
                   help=f"crops per raw kind and half (default {FULL['per_kind']}, quick {QUICK['per_kind']})")
    return common.run_sized(NAME, p.parse_args(argv), QUICK, FULL, measure, report)


if __name__ == "__main__":
    sys.exit(main())

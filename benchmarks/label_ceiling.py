"""Label ceiling: how much of a section's label the pixels decide, and how long its tail is.

On synthetic pages (2,000 by default), for each derived section:

- **ceiling**: the share of labels a perfect reader of the pixels could give. The reader
  is an oracle over the section's *painted signature* (`augment.synth.signature`: what
  the painter drew, with no markup in it): fitted on the first half of the pages (each
  signature -> its most frequent label), scored on the other half; a signature never
  seen in the first half counts as a miss (its share is reported as ``unseen``). Reported
  for the canonical ``token``, its ``type`` and ``children`` parts, and schema 1's
  ``raw_token`` (the "before").
- **vocabulary**: distinct labels, how many of the most frequent cover 50 / 80 / 90% of
  sections, and the share of the scored half's labels never seen in the first half.
- **recorded**: the share of painted sections that are found with the type the
  generator painted (every section type is recorded).
- **augmented**: per augmentation preset, the share of sections of augmented variants
  (matched to their source section through the elements' source xpaths) whose label
  differs from the source's, and the share of source sections a variant loses.

Targets: ceiling >= 0.95 for the token and 90% coverage with <= 60 tokens.
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from augment.config import load_config
from augment.pipeline import augment_page, element_records
from augment.presets import PRESETS
from augment.sources import page_from_arrays
from augment.synth.layout import collect_boxes
from augment.synth.raster import rasterize
from augment.synth.page import layout_html, synth_layout
from augment.synth.signature import section_signatures
from shards.tokens import derive_sections

from . import common

NAME = "label_ceiling"
QUICK = dict(pages=200, augment_pages=10, variants=3)
FULL = dict(pages=2000, augment_pages=100, variants=5)
TARGETS = {"ceiling": 0.95, "coverage_90_tokens": 60}
FACTORS = ("token", "type", "children", "raw_token")
SHARES = (0.5, 0.8, 0.9)


def page_sections(i: int, seed: int, with_pixels: bool = False) -> tuple[list[dict], Any]:
    """Rows (one per derived section) of synthetic page i, and the source page if asked."""
    layout = synth_layout(f"page-{i:05d}", np.random.default_rng([seed, i]))
    html = layout_html(layout)
    boxes = {e["xpath"]: e["box"] for e in collect_boxes(layout.root)}
    painted = section_signatures(layout)
    rows = []
    for s in derive_sections(html, boxes, layout.size):
        kind, sig = painted.get(s.xpath, (None, None))
        rows.append({"page": i, "painted": kind, "signature": sig, "token": s.token, "type": s.type,
                     "children": "@".join(s.children), "raw_token": s.raw_token})
    page = None
    if with_pixels:
        page = page_from_arrays(f"page-{i:05d}", rasterize(layout.root, *layout.size), html, boxes)
    return rows, (page, len(painted))


def oracle(fit: list[dict], score: list[dict], factor: str) -> tuple[float, float]:
    """(share of `score` rows whose `factor` the signature oracle names, share unseen)."""
    table: dict[tuple, Counter] = defaultdict(Counter)
    for r in fit:
        table[r["signature"]][r[factor]] += 1
    best = {sig: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for sig, c in table.items()}
    hits = sum(best.get(r["signature"]) == r[factor] for r in score)
    unseen = sum(r["signature"] not in best for r in score)
    return hits / max(1, len(score)), unseen / max(1, len(score))


def coverage(counts: Counter, share: float) -> int:
    """How many of the most frequent labels cover `share` of all occurrences."""
    total, run = sum(counts.values()), 0
    for n, (_, c) in enumerate(counts.most_common(), 1):
        run += c
        if run >= share * total:
            return n
    return len(counts)


def confusions(fit: list[dict], score: list[dict], factor: str, top: int = 8) -> list[list]:
    """The most frequent (true, oracle) disagreements: where the pixels do not decide."""
    table: dict[tuple, Counter] = defaultdict(Counter)
    for r in fit:
        table[r["signature"]][r[factor]] += 1
    miss: Counter = Counter()
    for r in score:
        if r["signature"] in table:
            guess = min(table[r["signature"]].items(), key=lambda kv: (-kv[1], kv[0]))[0]
            if guess != r[factor]:
                miss[(r[factor], guess)] += 1
    return [[t, g, n] for (t, g), n in miss.most_common(top)]


def augmented_changes(pages: list, variants: int, seed: int) -> dict[str, dict[str, float]]:
    """Per preset: share of matched sections whose token / raw token differ from the source's."""
    out = {}
    for preset in sorted(PRESETS):
        cfg = load_config(None, preset=preset, seed=seed)
        changed, matched, lost, total = Counter(), 0, 0, 0
        for page in pages:
            source = {s.xpath: s for s in derive_sections(page.root, element_records(page)[1], page.size)}
            for v in range(1, variants + 1):
                aug = augment_page(page, v, cfg)
                records, boxes = element_records(aug)
                to_source = {r["xpath"]: r["source_xpath"] for r in records}
                found = set()
                for s in derive_sections(aug.root, boxes, aug.size):
                    src = source.get(to_source.get(s.xpath))
                    if src is None:
                        continue
                    found.add(src.xpath)
                    matched += 1
                    changed["token"] += s.token != src.token
                    changed["raw_token"] += s.raw_token != src.raw_token
                lost += len(source) - len(found)
                total += len(source)
        out[preset] = {"changed_token": round(changed["token"] / max(1, matched), 4),
                       "changed_raw_token": round(changed["raw_token"] / max(1, matched), 4),
                       "lost_sections": round(lost / max(1, total), 4), "matched": matched}
    return out


def measure(pages: int, augment_pages: int, variants: int, seed: int = 0, **_: Any) -> dict[str, Any]:
    rows, sources, painted = [], [], 0
    for i in range(pages):
        r, (page, n_painted) = page_sections(i, seed, with_pixels=i < augment_pages)
        rows += r
        painted += n_painted
        if page is not None:
            sources.append(page)
    half = pages // 2
    fit, score = [r for r in rows if r["page"] < half], [r for r in rows if r["page"] >= half]
    result: dict[str, Any] = {"settings": {"pages": pages, "augment_pages": augment_pages, "variants": variants,
                                           "seed": seed},
                              "sections": len(rows), "painted_sections": painted,
                              "recorded": round(sum(r["type"] == r["painted"] for r in rows) / max(1, painted), 4)}
    for f in FACTORS:
        ceiling, unseen = oracle(fit, score, f)
        counts = Counter(r[f] for r in rows)
        fit_vocab = {r[f] for r in fit}
        unseen_labels = sum(r[f] not in fit_vocab for r in score) / max(1, len(score))
        result[f] = {"ceiling": round(ceiling, 4), "unseen_signatures": round(unseen, 4),
                     "vocabulary": len(counts), **{f"coverage_{int(s * 100)}": coverage(counts, s) for s in SHARES},
                     "heldout_unseen_labels": round(unseen_labels, 4),
                     "confusions": confusions(fit, score, f)}
    result["augmented"] = augmented_changes(sources, variants, seed)
    tok = result["token"]
    result["targets"] = {
        "ceiling": {"target": TARGETS["ceiling"], "measured": tok["ceiling"],
                    "met": tok["ceiling"] >= TARGETS["ceiling"]},
        "coverage_90_tokens": {"target": TARGETS["coverage_90_tokens"], "measured": tok["coverage_90"],
                               "met": tok["coverage_90"] <= TARGETS["coverage_90_tokens"]},
    }
    return result


def report(r: dict[str, Any]) -> str:
    rows = [[f, r[f]["ceiling"], r[f]["unseen_signatures"], r[f]["vocabulary"], r[f]["coverage_50"],
             r[f]["coverage_80"], r[f]["coverage_90"], r[f]["heldout_unseen_labels"]] for f in FACTORS]
    text = common.table(["label", "ceiling", "unseen sig.", "vocabulary", "50%", "80%", "90%", "held-out unseen"], rows)
    aug = [[p, a["changed_token"], a["changed_raw_token"], a["lost_sections"], a["matched"]]
           for p, a in r["augmented"].items()]
    text += "\n\n" + common.table(["preset", "token changed", "raw token changed", "sections lost", "matched"], aug)
    text += f"\n\n{r['sections']} sections on {r['settings']['pages']} pages; type recorded: {r['recorded']}"
    for name, t in r["targets"].items():
        text += f"\ntarget {name}: {t['measured']} vs {t['target']} ({'met' if t['met'] else 'NOT met'})"
    return text


def main(argv: list[str] | None = None) -> int:
    p = common.base_parser(NAME, __doc__)
    for flag, what in (("pages", "synthetic pages"), ("augment_pages", "pages augmented per preset"),
                       ("variants", "variants per augmented page")):
        p.add_argument(f"--{flag.replace('_', '-')}", dest=flag, type=int,
                       help=f"{what} (default {FULL[flag]}, quick {QUICK[flag]})")
    args = p.parse_args(argv)
    return common.run_sized(NAME, args, QUICK, FULL, measure, report)


if __name__ == "__main__":
    sys.exit(main())

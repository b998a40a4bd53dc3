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

With ``--few-shot``: the gap few-shot can close. Pages are drawn with each group painting
some of its section types in other types' looks (``augment synth --shared-looks``; the
benchmark's setting `common.FEW_SHOT_LOOKS`, and 0, today's pages). Groups are split in two:
the page-alone oracle is fitted on one half's pages; each page of the other half is read by
it alone (k = 0) and by an oracle that also sees k labelled pages of its own group (k = 1, 4:
a look found in them takes their most frequent type, any other the page-alone one); its
token is right when its type is and the signature oracle reads its children. The key
here is the section's *look* (the builder that painted it, which a viewer tells apart: the
signature oracle above names the type of 99.9% of sections at setting 0), not its exact
signature, which varies between two sections of the same look (a third card, a second line).
"""
from __future__ import annotations

import random
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
FEW_SHOT_KS = (0, 1, 4)


def page_sections(i: int, seed: int, with_pixels: bool = False, shared_looks: float = 0.0) -> tuple[list[dict], Any]:
    """Rows (one per derived section) of synthetic page i, and the source page if asked."""
    layout = synth_layout(f"page-{i:05d}", np.random.default_rng([seed, i]), shared_looks, seed)
    html = layout_html(layout)
    boxes = {e["xpath"]: e["box"] for e in collect_boxes(layout.root)}
    painted = section_signatures(layout)
    rows = []
    for s in derive_sections(html, boxes, layout.size):
        kind, sig = painted.get(s.xpath, (None, None))
        look = layout.look.painted_as.get(kind, kind) if kind else sig  # the builder that painted it
        rows.append({"page": i, "group": layout.look.family, "painted": kind, "look": look, "signature": sig,
                     "token": s.token,
                     "type": s.type, "children": "@".join(s.children), "raw_token": s.raw_token})
    page = None
    if with_pixels:
        page = page_from_arrays(f"page-{i:05d}", rasterize(layout.root, *layout.size), html, boxes)
    return rows, (page, len(painted))


def oracle(fit: list[dict], score: list[dict], factor: str) -> tuple[float, float]:
    """(share of `score` rows whose `factor` the signature oracle names, share unseen)."""
    best = _best_of(_table(fit, factor, "signature"))
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
    best = _best_of(_table(fit, factor, "signature"))
    miss: Counter = Counter()
    for r in score:
        if r["signature"] in best:
            guess = best[r["signature"]]
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


def few_shot_ceiling(pages: int, seed: int, shared_looks: float, ks: tuple[int, ...] = FEW_SHOT_KS) -> dict[str, Any]:
    """Type and token ceilings of a page read alone (k = 0) and with k labelled pages of its group."""
    rows = [r for i in range(pages) for r in page_sections(i, seed, shared_looks=shared_looks)[0]]
    groups = sorted({r["group"] for r in rows})
    held = set(groups[1::2])
    fit = [r for r in rows if r["group"] not in held]
    by_page: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        if r["group"] in held:
            by_page[r["page"]].append(r)
    pages_of: dict[str, list[int]] = defaultdict(list)
    for page, rs in sorted(by_page.items()):
        pages_of[rs[0]["group"]].append(page)
    out: dict[str, Any] = {"shared_looks": shared_looks, "fit_groups": len(groups) - len(held),
                           "held_out_groups": len(held), "held_out_sections": sum(map(len, by_page.values()))}
    alone = _best_of(_table(fit, "type"))
    children = _best_of(_table(fit, "children", "signature"))  # what the page shows: read from it alone
    for k in ks:
        hits = Counter()
        for page, rs in sorted(by_page.items()):
            others = [p for p in pages_of[rs[0]["group"]] if p != page]
            chosen = random.Random(f"{seed}:{page}").sample(others, min(k, len(others)))
            seen = _best_of(_table([r for p in chosen for r in by_page[p]], "type"))
            for r in rs:
                typed = seen.get(r["look"], alone.get(r["look"])) == r["type"]
                hits["type"] += typed
                hits["token"] += typed and children.get(r["signature"]) == r["children"]
                hits["found"] += r["look"] in seen
        for f in ("type", "token", "found"):
            out[f"{f}_k{k}"] = round(hits[f] / max(1, out["held_out_sections"]), 4)
    return out


def _table(rows: list[dict], factor: str, key: str = "look") -> dict[Any, Counter]:
    """look (or `key`) -> Counter of its labels."""
    table: dict[Any, Counter] = defaultdict(Counter)
    for r in rows:
        table[r[key]][r[factor]] += 1
    return table


def _best_of(table: dict[Any, Counter]) -> dict[Any, str]:
    """look -> its most frequent label (ties: the first in sorted order)."""
    return {sig: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for sig, c in table.items()}


def measure(pages: int, augment_pages: int, variants: int, seed: int = 0, few_shot: bool = False,
            **_: Any) -> dict[str, Any]:
    if few_shot:
        return {"settings": {"pages": pages, "seed": seed, "ks": list(FEW_SHOT_KS)},
                "few_shot": [few_shot_ceiling(pages, seed, s) for s in (0.0, common.FEW_SHOT_LOOKS)]}
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
    if "few_shot" in r:
        ks = r["settings"]["ks"]
        rows = [[row["shared_looks"], *(row[f"{f}_k{k}"] for f in ("type", "token") for k in ks),
                 *(row[f"found_k{k}"] for k in ks[1:])] for row in r["few_shot"]]
        return common.table(["shared looks", *(f"{f} k={k}" for f in ("type", "token") for k in ks),
                             *(f"in context k={k}" for k in ks[1:])], rows) + (
            f"\n\n{r['few_shot'][0]['held_out_sections']} sections of {r['few_shot'][0]['held_out_groups']} "
            f"held-out groups read; the page-alone oracle fitted on the other {r['few_shot'][0]['fit_groups']}")
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
    p.add_argument("--few-shot", action="store_true",
                   help=f"instead: type and token ceilings of a page alone and with k = {FEW_SHOT_KS[1:]} labelled "
                        f"pages of its group, at shared looks 0 and {common.FEW_SHOT_LOOKS}")
    args = p.parse_args(argv)
    name = NAME + ("_few_shot" if args.few_shot else "")  # recorded apart from the ceiling's own table
    return common.run_sized(name, args, QUICK, FULL, measure, report, few_shot=args.few_shot)


if __name__ == "__main__":
    sys.exit(main())

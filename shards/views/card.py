"""The dataset card of an export: a README.md built from a shard directory's manifest alone.

It says what the data is (how many sources, samples and shards per split), how it was made
(the job's output-shaping settings, the config hash and input fingerprint, so two exports
can be told apart), what a sample holds, the section-token vocabulary, what was rejected,
and how to load the export. For the HuggingFace export, a YAML header lists the splits'
files, so `datasets.load_dataset(DIR)` finds them.
"""
from __future__ import annotations

from typing import Any

HF_SPLITS = {"train": "train", "val": "validation"}  # our split -> HuggingFace's conventional name


def _vocab_lines(vocab: dict[str, Any], head: int = 10) -> list[str]:
    if vocab and all(isinstance(v, int) for v in vocab.values()):
        top = sorted(vocab.items(), key=lambda kv: (-kv[1], kv[0]))[:head]
        return [f"{len(vocab)} distinct section tokens; the {len(top)} most frequent:", "",
                "| token | sections |", "|---|---|"] + [f"| `{t}` | {n} |" for t, n in top]
    # a vocabulary per factor (type, roles...): its size each
    return [f"- `{name}`: {len(v) if isinstance(v, (dict, list)) else v} entries" for name, v in vocab.items()]


def _yaml_header(splits: list[str]) -> list[str]:
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {HF_SPLITS.get(split, split)}", f"    path: data/{split}-*.parquet"]
    return lines + ["task_categories:", "- object-detection", "tags:", "- web-pages", "- screenshots",
                    "- layout", "---", ""]


LOAD_HF = '''```python
from datasets import load_dataset

ds = load_dataset("{dest}")          # DatasetDict with {names}
row = ds["{first}"][0]
row["image"]                         # PIL image (the augmented screenshot)
row["sections"]                      # [{{"token": ..., "box": [x, y, w, h] or None}}, ...] in image pixels
import json; meta = json.loads(row["meta"])   # the full sample JSON (ops, elements, homography, ...)
```'''

LOAD_COCO = '''```python
import json

coco = json.load(open("{dest}/annotations/instances_{first}.json"))
# images/{first}/<key>.<ext>; one annotation per section box; categories = section tokens
# e.g. torchvision.datasets.CocoDetection("{dest}/images/{first}", "{dest}/annotations/instances_{first}.json")
```'''


def dataset_card(manifest: dict[str, Any], fmt: str, dest: str, exported: dict[str, dict[str, int]]) -> str:
    """The README.md of an export in format `fmt` ("hf" or "coco") at `dest`; `exported` holds
    per split what was written (samples, sections, sections without a box)."""
    splits = [s for s in exported if exported[s]["samples"]]
    cfg, src = manifest.get("config", {}), manifest.get("sources", {})
    lines = _yaml_header(splits) if fmt == "hf" else []
    lines += [f"# {dest.rstrip('/').rsplit('/', 1)[-1]}: augmented web-page screenshots with section boxes", "",
              "Written by `python -m shards export` from a shard directory of screen2section's `augment run` "
              f"(manifest v{manifest.get('version')}, sample schema {manifest.get('schema')}). Every sample is one "
              "variant of a source page: the screenshot, its HTML and its sections (a token and a box in image "
              "pixels), all transformed together. Variant 00 is the untouched source. Splits are per "
              + ("group of pages (site or template): no page of a validation group is in the training split."
                 if cfg.get("split_by") == "group" else
                 "source page: no variant of a validation page is in the training split."), "",
              "## Splits", "", "| split | sources | samples | shards | sections | without a box |",
              "|---|---|---|---|---|---|"]
    for split in exported:
        t = manifest.get("splits", {}).get(split, {})
        e = exported[split]
        lines.append(f"| {HF_SPLITS.get(split, split) if fmt == 'hf' else split} | {t.get('sources', 0)} | "
                     f"{e['samples']} | {t.get('shards', 0)} | {e['sections']} | {e['unboxed']} |")
    lines += ["", f"Sources read {src.get('total', 0)}: accepted {src.get('accepted', 0)}, rejected "
                  f"{src.get('rejected', 0)}" + (" (" + ", ".join(f"{r}={n}" for r, n in manifest.get("rejects", {})
                                                                 .items()) + ")" if manifest.get("rejects") else "")
              + ".", "", "## How it was made", "",
              "| setting | value |", "|---|---|"]
    for key in ("factor", "seed", "val_fraction", "folds", "split_by", "image_format", "quality", "max_pixels"):
        if key in cfg:
            lines.append(f"| {key} | {cfg[key]} |")
    for name, table in cfg.get("ops", {}).items():
        lines.append(f"| ops.{name}.p | {table.get('p')} |")
    lines += ["", f"Config hash `{manifest.get('config_hash', '')}`, input fingerprint "
                  f"`{manifest.get('input_fingerprint', '')[:16]}`: equal values mean the same inputs and settings.",
              "", "## Section tokens", ""] + _vocab_lines(manifest.get("vocab", {}))
    lines += ["", "## Load it", ""]
    first = splits[0] if splits else "train"
    if fmt == "hf":
        names = " and ".join(f'"{HF_SPLITS.get(s, s)}"' for s in splits)
        lines.append(LOAD_HF.format(dest=dest, names=names or "no split", first=HF_SPLITS.get(first, first)))
        lines += ["", "Columns: `key`, `source`, `group`, `variant`, `split`, `fold`, `width`, `height`, `image`, "
                      "`html`, `sections`, `meta` (the sample's JSON as stored in the shard)."]
    else:
        lines.append(LOAD_COCO.format(dest=dest, first=first))
        lines += ["", "Each COCO image carries its sample `key`, `source` and `variant`; a category's "
                      "`supercategory` is the token's first part (before `@`)."]
    return "\n".join(lines) + "\n"

"""`shards export OUT DEST --to hf|coco`: a shard directory in the formats other tools read.

- `hf`: a HuggingFace dataset folder: `data/<shard>.parquet` (one per shard, same names)
  and a README.md dataset card whose YAML header lists the splits, so
  `datasets.load_dataset(DEST)` loads it (train and validation splits). Columns: `key`,
  `source`, `group`, `variant`, `split`, `fold`, `width`, `height`, `image` (the encoded bytes,
  decoded to PIL by `datasets`), `html`, `sections` (token and [x, y, w, h] box, null when the
  section has none) and `meta`: the sample's JSON text as the shard stores it.
  Why not `load_dataset("webdataset", data_files=...)` on the tars directly: that builder
  infers one Arrow type per JSON field from the first samples, and ours vary by sample
  (`fold` is null in val and an int in train; each op records its own parameters), so it
  fails with "Couldn't cast array of type int64 to null". Typed columns plus the JSON as
  text load everywhere, whatever the ops record. Needs pyarrow (`pip install -e .[hf]`);
  with `datasets` installed the files also carry its feature types (`image` as an Image).
- `coco`: `images/<split>/<key>.<ext>` (the bytes as stored) and
  `annotations/instances_<split>.json` in COCO detection format: one annotation per section
  box (`bbox` [x, y, w, h] in image pixels), one category per section token (ids by sorted
  token), sections without a box left out and counted in the card.

Every file is written atomically; samples are read through the shard reader's checks
(`tario`), so a corrupt shard stops the export naming it.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schema import IMAGE_EXTS, SPLITS, sample_group
from ..storage import atomic
from ..storage.manifest import load_manifest, shard_paths
from ..storage.tario import iter_tar_samples
from .card import HF_SPLITS, dataset_card

HF_INSTALL = "pip install -e .[hf]"
BATCH = 64  # rows per Parquet write: bounds memory on shards of large screenshots


class ExportError(ValueError):
    """An export that cannot be written; the message names the folder or what to install."""


@dataclass
class ExportSummary:
    dest: Path
    fmt: str
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)

    def text(self) -> str:
        parts = ", ".join(f"{s} {c['samples']} samples ({c['sections']} sections, {c['unboxed']} without a box)"
                          for s, c in self.per_split.items())
        return f"exported {parts or 'nothing'} as {self.fmt} to {self.dest} (dataset card: {self.dest / 'README.md'})"


def _samples(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """One dict per sample of the shards `paths`, in order: key, image bytes and ext, html, json, meta."""
    for path in paths:
        with open(path, "rb") as fh:
            for key, members in iter_tar_samples(fh, path.name):
                ext = next((e for e in IMAGE_EXTS if e in members), None)
                if ext is None or "json" not in members or "html" not in members:
                    raise ExportError(f"{path.name}: sample {key} lacks members (run `python -m shards verify`)")
                yield {"key": key, "ext": ext, "image": members[ext], "html": members["html"],
                       "json": members["json"], "meta": json.loads(members["json"])}


def _sections(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"token": s.get("token"), "box": [float(v) for v in s["box"]] if s.get("box") else None}
            for s in meta.get("sections", []) if isinstance(s, dict)]


def _count(counts: Counter, sections: list[dict[str, Any]]) -> None:
    counts["samples"] += 1
    counts["sections"] += len(sections)
    counts["unboxed"] += sum(s["box"] is None for s in sections)


def hf_schema() -> Any:
    """The Arrow schema of the HuggingFace export; with `datasets` installed, its feature types too."""
    import pyarrow as pa

    try:
        import datasets
    except ImportError:
        datasets = None
    if datasets is not None and hasattr(datasets, "List"):
        v = datasets.Value
        return datasets.Features({
            "key": v("string"), "source": v("string"), "group": v("string"), "variant": v("int32"),
            "split": v("string"),
            "fold": v("int32"), "width": v("int32"), "height": v("int32"), "image": datasets.Image(),
            "html": v("string"),
            "sections": datasets.List({"token": v("string"), "box": datasets.List(v("float64"))}),
            "meta": v("string"),
        }).arrow_schema
    return pa.schema([("key", pa.string()), ("source", pa.string()), ("group", pa.string()), ("variant", pa.int32()),
                      ("split", pa.string()),
                      ("fold", pa.int32()), ("width", pa.int32()), ("height", pa.int32()),
                      ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), ("html", pa.string()),
                      ("sections", pa.list_(pa.struct([("token", pa.string()), ("box", pa.list_(pa.float64()))]))),
                      ("meta", pa.string())])


def _hf_row(r: dict[str, Any]) -> dict[str, Any]:
    m = r["meta"]
    return {"key": r["key"], "source": m.get("source"), "group": sample_group(m), "variant": m.get("variant"),
            "split": m.get("split"),
            "fold": m.get("fold"), "width": m["size"][0], "height": m["size"][1],
            "image": {"bytes": r["image"], "path": f"{r['key']}.{r['ext']}"}, "html": r["html"].decode("utf-8"),
            "sections": _sections(m), "meta": r["json"].decode("utf-8")}


def export_hf(out: Path, dest: Path, manifest: dict[str, Any], splits: list[str]) -> dict[str, Counter]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError(f"--to hf needs pyarrow; install it with `{HF_INSTALL}`") from None
    schema, counts = hf_schema(), {s: Counter() for s in splits}
    for split in splits:
        for path in shard_paths(out, manifest, split):
            rows: list[dict[str, Any]] = []
            with atomic.atomic_open(dest / "data" / f"{Path(path.name).stem}.parquet") as fh:
                with pq.ParquetWriter(fh, schema) as writer:
                    for r in _samples([path]):
                        rows.append(_hf_row(r))
                        _count(counts[split], rows[-1]["sections"])
                        if len(rows) == BATCH:
                            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                            rows = []
                    if rows:
                        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return counts


def export_coco(out: Path, dest: Path, manifest: dict[str, Any], splits: list[str]) -> dict[str, Counter]:
    counts = {s: Counter() for s in splits}
    for split in splits:
        images, boxes, tokens = [], [], set()
        for r in _samples(shard_paths(out, manifest, split)):
            m = r["meta"]
            atomic.write_bytes(dest / "images" / split / f"{r['key']}.{r['ext']}", r["image"])
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": f"{r['key']}.{r['ext']}", "width": m["size"][0],
                           "height": m["size"][1], "key": r["key"], "source": m.get("source"),
                           "variant": m.get("variant")})
            sections = _sections(m)
            _count(counts[split], sections)
            for s in sections:
                if s["box"] is not None and s["token"]:
                    tokens.add(s["token"])
                    boxes.append((image_id, s["token"], s["box"]))
        ids = {t: i for i, t in enumerate(sorted(tokens), 1)}
        doc = {"info": {"description": f"screen2section sections, split {split}",
                        "config_hash": manifest.get("config_hash", "")},
               "images": images,
               "annotations": [{"id": i, "image_id": img, "category_id": ids[tok], "bbox": box,
                                "area": box[2] * box[3], "iscrowd": 0} for i, (img, tok, box) in enumerate(boxes, 1)],
               "categories": [{"id": i, "name": t, "supercategory": t.split("@", 1)[0]} for t, i in ids.items()]}
        atomic.write_json(dest / "annotations" / f"instances_{split}.json", doc)
    return counts


EXPORTERS: dict[str, Callable[[Path, Path, dict[str, Any], list[str]], dict[str, Counter]]] = {
    "hf": export_hf,
    "coco": export_coco,
}


def export(out: str | Path, dest: str | Path, fmt: str, overwrite: bool = False) -> ExportSummary:
    """Export the shard directory `out` into `dest` as `fmt` (a key of EXPORTERS), with a card."""
    if fmt not in EXPORTERS:
        raise ExportError(f"--to {fmt!r}: known formats are {', '.join(EXPORTERS)}")
    out, dest = Path(out).resolve(), Path(dest).resolve()
    manifest = load_manifest(out)
    if dest == out or out in dest.parents:
        raise ExportError(f"{dest}: inside the shard directory {out}; export to a folder of its own")
    if dest.exists() and any(dest.iterdir()) and not overwrite:
        raise ExportError(f"{dest}: not empty; pass --overwrite to write into it (files of the same names are "
                          "replaced) or choose another folder")
    splits = [s for s in SPLITS if shard_paths(out, manifest, s)]
    counts = EXPORTERS[fmt](out, dest, manifest, splits)
    per_split = {s: {k: int(counts[s][k]) for k in ("samples", "sections", "unboxed")} for s in splits}
    atomic.write_bytes(dest / "README.md", dataset_card(manifest, fmt, str(dest), per_split).encode("utf-8"))
    return ExportSummary(dest, fmt, per_split)


__all__ = ["EXPORTERS", "ExportError", "ExportSummary", "HF_SPLITS", "export"]

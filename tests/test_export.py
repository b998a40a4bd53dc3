"""Issue 18, item 2: `shards export` into the formats other tools read, with a dataset card.

The HuggingFace export must load with `datasets.load_dataset(DIR)` (offline) into train and
validation splits whose rows equal the shards' samples: same keys, the image decoding to the
recorded size, the sections' tokens and boxes, the sample JSON byte for byte. The COCO export
must hold one annotation per located section with its box, and the images as stored.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from shards.cli import main as shards_main
from shards.storage.manifest import load_manifest
from shards.storage.reader import make_pipeline
from shards.views.export import ExportError, export


def _stored(shards: Path, split: str) -> dict[str, dict]:
    rows = {}
    for raw in make_pipeline(shards, split, shuffle_buffer=0, decode=False):
        ext = next(e for e in ("png", "jpg", "webp") if e in raw)
        rows[raw["__key__"]] = {"json": raw["json"].decode(), "meta": json.loads(raw["json"]), "image": raw[ext],
                                "html": raw["html"].decode()}
    return rows


@pytest.fixture(scope="module")
def hf(shards, tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("export") / "hf"
    assert shards_main(["export", str(shards), str(dest), "--to", "hf", "-q"]) == 0
    return dest


def test_hf_export_writes_one_parquet_per_shard_and_a_card(shards, hf):
    m = load_manifest(shards)
    assert sorted(p.name for p in (hf / "data").iterdir()) == sorted(
        s["shard"].replace(".tar", ".parquet") for s in m["shards"])
    card = (hf / "README.md").read_text()
    assert card.startswith("---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n")
    assert "  - split: validation\n    path: data/val-*.parquet\n" in card
    for split, name in (("train", "train"), ("val", "validation")):
        t = m["splits"][split]
        assert f"| {name} | {t['sources']} | {t['samples']} | {t['shards']} |" in card
    assert m["config_hash"] in card and "| factor | 3 |" in card


def test_hf_export_loads_with_datasets_into_the_same_samples(shards, hf, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    datasets = pytest.importorskip("datasets", reason="the hf extra is not installed (pip install -e .[hf])")
    ds = datasets.load_dataset(str(hf), cache_dir=str(tmp_path / "cache"))
    assert sorted(ds) == ["train", "validation"]
    for split, name in (("train", "train"), ("val", "validation")):
        stored = _stored(shards, split)
        rows = ds[name]
        assert sorted(rows["key"]) == sorted(stored) and len(rows) == load_manifest(shards)["splits"][split]["samples"]
        for row in rows:
            want = stored[row["key"]]
            assert row["meta"] == want["json"] and row["html"] == want["html"]
            assert row["image"].size == tuple(want["meta"]["size"])
            decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(want["image"], np.uint8), cv2.IMREAD_COLOR),
                                   cv2.COLOR_BGR2RGB)
            assert np.array_equal(np.asarray(row["image"].convert("RGB")), decoded)
            assert row["sections"] == [{"token": s["token"], "box": s["box"]} for s in want["meta"]["sections"]]
            assert (row["source"], row["variant"], row["fold"]) == (want["meta"]["source"], want["meta"]["variant"],
                                                                    want["meta"]["fold"])


def test_coco_export_holds_every_located_section(shards, tmp_path):
    dest = tmp_path / "coco"
    summary = export(shards, dest, "coco")
    for split in ("train", "val"):
        stored = _stored(shards, split)
        doc = json.loads((dest / "annotations" / f"instances_{split}.json").read_text())
        assert sorted(i["key"] for i in doc["images"]) == sorted(stored)
        names = {c["id"]: c["name"] for c in doc["categories"]}
        assert list(names.values()) == sorted(names.values())
        by_image: dict[int, list] = {}
        for a in doc["annotations"]:
            by_image.setdefault(a["image_id"], []).append((names[a["category_id"]], a["bbox"]))
        for image in doc["images"]:
            want = stored[image["key"]]
            located = [(s["token"], s["box"]) for s in want["meta"]["sections"] if s["box"]]
            assert by_image.get(image["id"], []) == located
            assert (dest / "images" / split / image["file_name"]).read_bytes() == want["image"]
            assert [image["width"], image["height"]] == want["meta"]["size"]
        assert summary.per_split[split]["samples"] == len(stored)
    assert "instances_train.json" in (dest / "README.md").read_text()


def test_export_refuses_a_folder_in_use_or_inside_the_shards(shards, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep")
    with pytest.raises(ExportError, match="not empty; pass --overwrite"):
        export(shards, tmp_path / "busy", "hf")
    with pytest.raises(ExportError, match="inside the shard directory"):
        export(shards, shards / "hf", "coco")
    with pytest.raises(ExportError, match="known formats are hf, coco"):
        export(shards, tmp_path / "x", "tfrecord")
    assert (tmp_path / "busy" / "mine.txt").read_text() == "keep"

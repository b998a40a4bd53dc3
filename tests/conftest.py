"""Shared fixtures: tiny valid samples and shard directories built from them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.synth import write_synth
from shards import SCHEMA_VERSION, Sample, build_manifest, make_key, write_manifest, write_shard
from shards.storage.writer import shard_name

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


def make_sample(source: str, variant: int, split: str = "train", w: int = 48, h: int = 32) -> Sample:
    """A small valid sample whose pixels encode (source, variant) so decoding can be checked."""
    rng = np.random.default_rng(abs(hash((source, variant))) % 2**32)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", img)
    assert ok
    meta = {
        "schema": SCHEMA_VERSION, "source": source, "variant": variant, "seed": 0, "split": split,
        "fold": 0 if split == "train" else None, "size": [w, h], "homography": IDENTITY,
        "ops": [], "difficulty": 0.0,
        "elements": [{"id": 0, "xpath": "/html/body/section", "source_xpath": "/html/body/section",
                      "tag": "section", "classes": ["hero"], "quad": [[0, 0], [w, 0], [w, h], [0, h]],
                      "box": [0, 0, w, h], "parent": None}],
        "regions": [{"type": "main", "box": [0, 0, w, h], "xpath": "/html/body/section"}],
        "sections": [{"type": "hero", "children": ["heading"], "token": "hero@heading",
                      "raw_token": "section.hero@h1", "tag": "section", "box": [0, 0, w, h],
                      "xpath": "/html/body/section", "region": 0}],
    }
    html = "<html><body><section class='hero'><h1>x</h1></section></body></html>"
    return Sample(make_key(source, variant), png.tobytes(), "png", html, meta)


def build_dir(out: Path, n_shards: int = 3, per_shard: int = 5) -> dict:
    """Write `n_shards` train shards of `per_shard` samples each plus a manifest."""
    sidecars = []
    for i in range(n_shards):
        samples = [make_sample(f"page-{i}-{j}", v) for j in range(per_shard // 2 + 1) for v in range(2)][:per_shard]
        sidecars.append(write_shard(out / shard_name("train", i), samples, "cfg", "train"))
    manifest = build_manifest(sidecars, sources={"total": n_shards * 3, "accepted": n_shards * 3,
                                                  "rejected": 0, "train": n_shards * 3, "val": 0})
    write_manifest(out, manifest)
    return manifest


@pytest.fixture
def shard_dir(tmp_path: Path) -> Path:
    build_dir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """Real shards from 8 synthetic pages (factor 3, a val split, 2 folds, 6 samples per
    shard): what the trainer tests train on."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("shards")
    write_synth(src, 8, seed=2, progress=False)
    # the web preset at a third of its width: train tests decode every sample (128-px canvases)
    run_job(src, out, load_config(None, factor=3, val_fraction=0.25, folds=2, samples_per_shard=6,
                                  sets=[{"ops": {"spatial": {"width": [256, 384]}}}]), RunOptions(progress=False))
    return out


"""Shards load with HuggingFace `datasets` (its "webdataset" builder, offline).

`datasets` builds Arrow tables, and Arrow refuses a list holding values of different
types (schema 1's class-substitution ``changes``, ``[[row, old, new], ...]``, raised
ArrowInvalid). So every list in a sample's JSON holds one type of value, and a small
output loads with its section labels intact.
"""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.synth import write_synth


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("hf-src"), tmp_path_factory.mktemp("hf-out")
    write_synth(src, 3, seed=4, progress=False)
    run_job(src, out, load_config(None, preset="seed", factor=8, val_fraction=0.0, samples_per_shard=12),
            RunOptions(progress=False))
    return out


def _metas(out: Path) -> dict[str, dict]:
    metas = {}
    for path in sorted(out.glob("*.tar")):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.name.endswith(".json"):
                    metas[m.name[: -len(".json")]] = json.loads(tar.extractfile(m).read())
    return metas


def _kind(v) -> str:
    return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__


def _mixed_lists(value, where: str = "") -> list[str]:
    """Paths of lists whose items are of more than one JSON type (null aside)."""
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _mixed_lists(v, f"{where}.{k}")
    elif isinstance(value, list):
        if len({_kind(v) for v in value if v is not None}) > 1:
            found.append(where)
        for i, v in enumerate(value):
            found += _mixed_lists(v, f"{where}[{i}]")
    return found


def test_every_list_in_the_sample_json_holds_one_type(output):
    metas = _metas(output)
    ops = {o["op"] for m in metas.values() for o in m["ops"]}
    assert {"class_substitution", "spatial", "photometric"} <= ops, ops
    assert all(isinstance(c, dict) and set(c) == {"row", "old", "new"}
               for m in metas.values() for o in m["ops"] if o["op"] == "class_substitution" for c in o["changes"])
    assert [p for key, m in metas.items() for p in _mixed_lists(m, key)] == []


def test_datasets_loads_an_output_with_its_labels(output, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    files = [str(p) for p in sorted(output.glob("*.tar"))]
    ds = datasets.load_dataset("webdataset", data_files={"train": files}, split="train", cache_dir=str(tmp_path))
    metas = _metas(output)
    assert len(ds) == len(metas) == 24
    for row in ds:
        meta = metas[row["__key__"]]
        assert row["json"]["sections"] == meta["sections"]
        assert [o["op"] for o in row["json"]["ops"]] == [o["op"] for o in meta["ops"]]
        assert row["html"] and row["png"] is not None

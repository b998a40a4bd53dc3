"""Sources whose HTML has no located element: counted, said in the summary and `inspect`, refused by --strict."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.sources import Reject
from augment.synth import write_synth
from shards import load_manifest
from shards.cli import inspect_text


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Three synthetic pairs; one has lost its boxes file, so nothing on it is located."""
    d = tmp_path_factory.mktemp("mixed")
    write_synth(d, 3, seed=4, progress=False)
    (d / "page-00001.boxes.json").unlink()
    return d


def test_summary_manifest_and_inspect_say_how_many_have_no_boxes(mixed, tmp_path):
    out = tmp_path / "out"
    summary = run_job(mixed, out, load_config(None, factor=2), RunOptions(progress=False))
    assert summary.sources["accepted"] == 3 and not summary.rejects
    assert load_manifest(out)["stats"]["sources_without_boxes"] == 1
    for text in (summary.text(), inspect_text(out)):
        assert "warning: 1 of 3 accepted sources have no element with a box" in text
        assert "python -m augment render" in text


def test_a_run_where_every_page_has_boxes_says_nothing(tmp_path):
    write_synth(tmp_path / "src", 2, seed=4, progress=False)
    summary = run_job(tmp_path / "src", tmp_path / "out", load_config(None, factor=1), RunOptions(progress=False))
    assert "warning" not in summary.text() and "warning" not in inspect_text(tmp_path / "out")
    assert load_manifest(tmp_path / "out")["stats"].get("sources_without_boxes", 0) == 0


def test_strict_refuses_a_page_without_boxes(mixed, tmp_path):
    with pytest.raises(Reject, match=r"page-00001.html: no element has a box \(no page-00001.boxes.json and no "
                                     r"data-bbox attributes\).*python -m augment render") as e:
        run_job(mixed, tmp_path / "out", load_config(None, factor=1), RunOptions(progress=False, strict=True))
    assert e.value.reason == "no_boxes"


def test_strict_on_the_cli_exits_2_naming_the_page(mixed, tmp_path):
    out = subprocess.run([sys.executable, "-m", "augment", "run", "--input", str(mixed), "--out", str(tmp_path),
                          "--factor", "1", "--strict", "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 2 and "page-00001.html: no element has a box" in out.stderr


def test_a_boxes_file_that_matches_nothing_counts_as_no_boxes(tmp_path):
    import json
    from collections import Counter

    from augment.sources import discover, load_pair

    write_synth(tmp_path, 1, seed=4, progress=False)
    boxes = tmp_path / "page-00000.boxes.json"
    doc = json.loads(boxes.read_text())
    doc["elements"] = [{"xpath": "/html/body/section[99]", "box": [0, 0, 10, 10]}]
    boxes.write_text(json.dumps(doc))
    (pair,), _ = discover(tmp_path)
    stats = Counter()
    assert not load_pair(pair, stats=stats).has_boxes() and stats["sources_without_boxes"] == 1
    with pytest.raises(Reject, match=r"none of the 1 boxes in page-00000.boxes.json is usable"):
        load_pair(pair, require_boxes=True)

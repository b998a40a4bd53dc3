"""Issue 18, item 7: running benchmarks never dirties the checkout; recording is deliberate.

Runs write to `benchmarks/results/latest/` (ignored by git). `python -m benchmarks --record`
copies those results into the tracked `benchmarks/results/` and regenerates the README's
marked blocks from them with each benchmark's own report, leaving the prose around them.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from benchmarks import augment_throughput, common, record, scaling, shard_io, train_input
from benchmarks.__main__ import RECORDED

ROOT = Path(__file__).resolve().parents[1]
MODULES = {m.NAME: m for m in (augment_throughput, shard_io, train_input, scaling)}


def test_results_go_to_a_folder_git_ignores():
    assert common.RESULTS_DIR == ROOT / "benchmarks" / "results" / "latest"
    done = subprocess.run(["git", "check-ignore", "-q", str(common.RESULTS_DIR / "scaling.json")], cwd=ROOT)
    assert done.returncode == 0, "benchmarks/results/latest/ is not ignored by git"


def test_record_copies_the_latest_results_and_regenerates_only_the_marked_blocks(tmp_path):
    latest, recorded = tmp_path / "latest", tmp_path / "recorded"
    latest.mkdir()
    recorded.mkdir()
    data = json.loads((common.RECORD_DIR / "scaling.json").read_text())
    data["rows"][0]["seconds"] = 12345.6
    (latest / "scaling.json").write_text(json.dumps(data))
    readme = tmp_path / "README.md"
    readme.write_text("prose before\n<!-- bench:scaling -->\nold table\n<!-- /bench:scaling -->\nprose after\n")
    assert record.copy_latest(latest, recorded) == [recorded / "scaling.json"]
    assert record.update_readme(MODULES, recorded, readme) == ["scaling"]
    text = readme.read_text()
    assert text.startswith("prose before\n<!-- bench:scaling -->\nRecorded ") and text.endswith(
        "<!-- /bench:scaling -->\nprose after\n")
    assert "old table" not in text and "12,346" in text and scaling.report(data) in text


def test_the_shipped_readme_is_what_the_recorded_results_give(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copyfile(record.README, readme)
    names = record.update_readme(RECORDED, common.RECORD_DIR, readme)
    assert set(names) == {"augment_throughput", "shard_io", "train_input", "train_input_phase4", "train_input_memory",
                          "scaling", "model_quality", "rerender", "label_ceiling_few_shot", "model_quality_few_shot",
                          "model_quality_real", "synth_browser"}
    assert readme.read_text() == record.README.read_text()

"""The sim-to-real benchmark's inputs: the corpus it reads, never one it downloads."""
from __future__ import annotations

import json

import pytest

from benchmarks import model_quality
from benchmarks.sim_to_real import kinds_of


def test_a_missing_corpus_says_make_corpus_builds_it(tmp_path):
    with pytest.raises(SystemExit, match="make corpus"):
        kinds_of(tmp_path / "nowhere")
    with pytest.raises(SystemExit, match=str(tmp_path / "nowhere")):  # before any training starts
        model_quality.main(["--real", "--real-pairs", str(tmp_path / "nowhere"), "--work", str(tmp_path / "w"),
                            "--results", str(tmp_path / "r")])
    assert not (tmp_path / "w").exists()


def test_kinds_come_from_the_corpus_record(tmp_path):
    (tmp_path / "corpus.json").write_text(json.dumps({"pages": {"a__x": {"site": "a", "kind": "docs"},
                                                                "b__y": {"site": "b", "kind": "blog"}}}))
    assert kinds_of(tmp_path) == {"a__x": "docs", "b__y": "blog"}

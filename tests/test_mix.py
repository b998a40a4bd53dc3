"""Training on several shard sets: a seeded mix of their streams, shared vocabularies, the phase
from their total sources, and each set's held-out split scored on its own."""
from __future__ import annotations

import itertools

import pytest
from torch.utils.data import IterableDataset

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from shards.storage.manifest import load_manifest
from test_train import tiny
from train.cli import build_parser, resolve_config
from train.cli import main as train_main
from train.config import TrainConfigError
from train.data.stream import MixedStream
from train.runlog import read_log
from train.trainer import Trainer, factors_of, fit

REAL = __import__("pathlib").Path(__file__).parent / "data" / "real"


class Endless(IterableDataset):
    def __init__(self, name: str):
        self.name = name

    def __iter__(self):
        return (f"{self.name}{i}" for i in itertools.count())


def test_the_mix_draws_each_stream_at_its_share_and_repeats_with_its_seed():
    mix = MixedStream([Endless("a"), Endless("b")], [0.7, 0.3], seed=5)
    first = list(itertools.islice(iter(mix), 2000))
    assert first == list(itertools.islice(iter(MixedStream([Endless("a"), Endless("b")], [0.7, 0.3], 5)), 2000))
    assert first != list(itertools.islice(iter(MixedStream([Endless("a"), Endless("b")], [0.7, 0.3], 6)), 2000))
    share = sum(x.startswith("a") for x in first) / len(first)
    assert 0.67 < share < 0.73
    # each stream keeps its own order: a0, a1, ... and b0, b1, ...
    assert [x for x in first if x.startswith("b")][:3] == ["b0", "b1", "b2"]


@pytest.fixture(scope="module")
def real_shards(tmp_path_factory):
    """Shards from the committed real-page slice (tests/data/real), split by site."""
    out = tmp_path_factory.mktemp("real_shards")
    run_job(REAL, out, load_config(None, factor=2, val_fraction=0.3, split_by="group", samples_per_shard=8,
                                   sets=[{"ops": {"spatial": {"width": [256, 384]}}}]), RunOptions(progress=False))
    return out


def test_training_on_two_shard_sets_with_a_mix(shards, real_shards, tmp_path):
    cfg = tiny(1, mix=[0.7, 0.3], eval_sources=0)  # every held-out source: the real set has only a few
    trainer = Trainer([shards, real_shards], tmp_path, cfg, progress=False)
    both = [load_manifest(shards), load_manifest(real_shards)]
    assert trainer.factors.to_dict() == factors_of(both).to_dict()  # vocabularies from both manifests
    assert len(trainer.factors.to_dict()["raw"]) > len(factors_of(both[0]).to_dict()["raw"])
    result = trainer.fit()
    assert result["step"] == 4
    val = [r for r in read_log(tmp_path) if r["kind"] == "val"]
    assert [r["step"] for r in val] == [2, 4]
    sets = val[-1]["sets"]
    assert set(sets) == {str(shards), str(real_shards)}  # each set's held-out split scored on its own
    assert all(s["pages"]["model"]["sources"] > 0 for s in sets.values())
    assert sets[str(real_shards)]["samples"] != sets[str(shards)]["samples"]
    scores = [s["score"] for s in sets.values()]
    assert val[-1]["score"] == pytest.approx(sum(scores) / 2)


def test_mix_must_name_one_share_per_set_and_phase_counts_every_source(shards, real_shards, tmp_path, capsys):
    with pytest.raises(TrainConfigError, match="3 shares for 2 --shards sets"):
        fit([shards, real_shards], tmp_path, tiny(1, mix=[0.5, 0.3, 0.2]), progress=False)
    assert train_main(["fit", "--shards", str(shards), "--shards", str(real_shards), "--mix", "0.7,x",
                       "--run", str(tmp_path / "r")]) == 2
    assert "--mix '0.7,x'" in capsys.readouterr().err
    total = sum(load_manifest(s)["sources"]["accepted"] for s in (shards, real_shards))
    args = build_parser().parse_args(["fit", "--shards", str(shards), "--shards", str(real_shards), "--mix", "0.7,0.3",
                                      "--run", str(tmp_path / "r")])
    cfg, reason = resolve_config(args)  # the phase from the sets' total sources
    assert reason.startswith(f"{total} source pairs") and cfg.mix == [0.7, 0.3]

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


def test_a_run_on_the_mix_can_start_from_a_synthetic_run(shards, real_shards, tmp_path):
    """`--init-from`: the synthetic run's weights carry over by name, the raw-token head's rows by
    token (the mix's raw vocabulary is larger and ordered otherwise); step and optimizer start afresh."""
    import torch

    from train import checkpoint as ckpt

    fit(shards, tmp_path / "syn", tiny(1, eval_every=100), progress=False)
    old = ckpt.load(tmp_path / "syn" / ckpt.LAST)
    tuned = Trainer([shards, real_shards], tmp_path / "tuned", tiny(1, mix=[0.3, 0.7], eval_every=100,
                                                                      init_from=str(tmp_path / "syn" / ckpt.LAST)),
                    progress=False)
    model, warm = tuned.obj.model.state_dict(), tuned.warm
    assert tuned.step == 0 and warm["from_step"] == 4 and warm["fresh"] == []
    for name, value in old["objective"].items():
        if name.startswith("model.") and name[6:] not in ckpt.RAW_ROWS:
            assert torch.equal(model[name[6:]], value), name
    old_raw, new_raw = old["factors"]["raw"], tuned.factors.raw
    assert len(new_raw) > len(old_raw) and warm["raw_tokens_taken"] == len(old_raw)
    token = old_raw[-1]  # its row moved with it
    assert torch.equal(model["reader.raw_head.weight"][new_raw.index(token)],
                       old["objective"]["model.reader.raw_head.weight"][old_raw.index(token)])
    assert tuned.fit()["step"] == 4
    assert [r for r in read_log(tmp_path / "tuned") if r["kind"] == "init"][0]["taken"] == warm["taken"]


def test_init_from_a_checkpoint_of_another_model_is_refused_by_name(shards, tmp_path):
    fit(shards, tmp_path / "syn", tiny(1, eval_every=100), progress=False)
    other = tiny(1, model={"d_model": 48, "stem_channels": 8}, init_from=str(tmp_path / "syn" / "last.pt"))
    with pytest.raises(RuntimeError, match=r"syn/last.pt: --init-from holds under half the weights"):
        Trainer(shards, tmp_path / "b", other, progress=False)
    with pytest.raises(RuntimeError, match="nope.pt: no checkpoint"):
        Trainer(shards, tmp_path / "c", tiny(1, init_from=str(tmp_path / "nope.pt")), progress=False)

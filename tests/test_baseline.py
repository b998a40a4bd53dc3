"""The layout prior that evaluations are read against: fitted by hand-checkable rules."""
from __future__ import annotations

import pytest
import torch

from conftest import make_sample
from shards import build_manifest, write_manifest, write_shard
from shards.writer import shard_name
from train.baseline import fit_prior
from train.data import EpochFilter
from train.metrics import evaluate_batch
from train.vocab import PAD, Vocab

W = H = 40
PAGES = {  # source -> (fold, sections as (token, box xywh))
    "a": (0, [("nav", [0, 0, 40, 10]), ("hero", [0, 10, 40, 20])]),
    "b": (0, [("nav", [0, 0, 40, 20]), ("cards", [0, 20, 40, 20])]),
    "c": (1, [("nav", [0, 0, 40, 10]), ("hero", [0, 10, 40, 10]), ("cards", [0, 20, 40, 20])]),
}


def _shards(tmp_path):
    samples = []
    for src, (fold, secs) in PAGES.items():
        s = make_sample(src, 0, w=W, h=H)
        s.meta["fold"] = fold
        s.meta["sections"] = [{"token": t, "box": b} for t, b in secs]
        samples.append(s)
    sidecar = write_shard(tmp_path / shard_name("train", 0), samples, "cfg", "train")
    write_manifest(tmp_path, build_manifest([sidecar], sources={"total": 3, "accepted": 3, "rejected": 0,
                                                                 "train": 3, "val": 0}))
    return tmp_path


def test_prior_is_the_median_count_and_the_slot_majorities(tmp_path):
    vocab = Vocab.from_counts({"nav": 3, "hero": 2, "cards": 2}, min_count=1)
    prior = fit_prior(_shards(tmp_path), vocab, image_size=40, max_slots=4)
    # counts 2, 2, 3 -> median 2; slot 0: nav x3; slot 1: hero x2 beats cards x1
    assert prior.tokens.tolist() == [vocab.id_of("nav"), vocab.id_of("hero"), PAD, PAD]
    # slot 0 boxes (cx, cy, w, h)/40: (.5,.125,1,.25), (.5,.25,1,.5), (.5,.125,1,.25)
    assert prior.boxes[0].tolist() == pytest.approx([0.5, 0.5 / 3, 1.0, 1 / 3])
    assert prior.boxes[2:].abs().sum() == 0
    pred = prior.predict(2)
    assert pred["tokens"].shape == (2, 4) and pred["boxes"].shape == (2, 4, 4)


def test_prior_sees_only_the_training_folds(tmp_path):
    vocab = Vocab.from_counts({"nav": 3, "hero": 2, "cards": 2}, min_count=1)
    prior = fit_prior(_shards(tmp_path), vocab, image_size=40, max_slots=4, keep=EpochFilter(fold_out=0))
    assert vocab.decode(prior.tokens) == ["nav", "hero", "cards"]  # page c alone


def test_prior_scores_through_the_same_metrics(tmp_path):
    vocab = Vocab.from_counts({"nav": 3, "hero": 2, "cards": 2}, min_count=1)
    prior = fit_prior(_shards(tmp_path), vocab, image_size=40, max_slots=4)
    target = {"tokens": torch.tensor([[vocab.id_of("nav"), vocab.id_of("cards"), PAD, PAD]]),
              "boxes": torch.zeros(1, 4, 4), "box_mask": torch.zeros(1, 4, dtype=torch.bool)}
    m = evaluate_batch(prior.predict(1), target)
    assert m["token_accuracy"] == 0.5 and m["count_accuracy"] == 1.0


def test_prior_with_nothing_to_fit_on_names_the_shards(tmp_path):
    vocab = Vocab.from_counts({"nav": 1}, min_count=1)
    with pytest.raises(ValueError, match="no 'train' samples to fit"):
        fit_prior(_shards(tmp_path), vocab, image_size=40, max_slots=4, keep=EpochFilter(fold_in=7))

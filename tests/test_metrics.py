"""Held-out scores: page metrics by hand, intervals over sources, the prior, loader independence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_sample
from model_helpers import tiny_model
from shards import build_manifest, write_manifest, write_shard
from shards.storage.writer import shard_name
from train.config import SamplingConfig
from train.data.inputs import InputSpec
from train.data.stream import EpochFilter
from train.data.vocab import Factors
from train.evaluation.evaluate import EvalSettings, evaluate, format_table, summarize
from train.evaluation.metrics import METRICS, add_stats, maximum_iou, page_stats
from train.evaluation.prior import LayoutPrior, fit_prior

B = torch.tensor


def test_page_stats_by_hand():
    true = B([[0.5, 0.1, 1.0, 0.2], [0.5, 0.5, 1.0, 0.6]])
    pred = B([[0.5, 0.5, 1.0, 0.6], [0.5, 0.12, 1.0, 0.2], [0.5, 0.95, 1.0, 0.1]])
    s = page_stats(pred, [3, 1, 2], [("heading",), ("text",), ()], [5, 7, 0],
                   true, [1, 3], [("heading",), ("heading",)], [7, 5])
    assert s["count"] == (0.0, 1)  # three predicted, two true
    iou_top = (0.2 - 0.02) / (0.2 + 0.02)  # the top band, shifted by 0.02
    assert s["miou"][0] == pytest.approx(iou_top + 1.0) and s["miou"][1] == 2
    assert s["type"] == (2.0, 2) and s["raw_token"] == (2.0, 2)
    assert s["children"] == (1.0, 2) and s["token"] == (1.0, 2)  # the top band's children differ
    assert s["max_iou"][0] == pytest.approx((iou_top + 1.0) / 3)


def test_a_match_under_half_iou_names_nothing():
    true = B([[0.5, 0.1, 1.0, 0.2]])
    s = page_stats(B([[0.5, 0.3, 1.0, 0.2]]), [1], [()], [0], true, [1], [()], [0])
    assert s["type"] == (0.0, 1) and s["count"] == (1.0, 1)
    assert maximum_iou(np.array([]), B([]).view(0, 4), np.array([]), B([]).view(0, 4)) == 1.0


def test_scores_are_sums_over_sources_with_a_bootstrap_interval():
    per_source: dict = {}
    for i, (num, den) in enumerate([(1, 2), (2, 2), (0, 2), (2, 2)] * 5):
        add_stats(per_source.setdefault(f"s{i}", {}), {k: (num, den) for k in METRICS})
    out = summarize(per_source, 500, seed=0)
    assert out["value"]["type"] == pytest.approx(25 / 40) and out["sources"] == 20
    lo, hi = out["ci"]["type"]
    assert lo < 25 / 40 < hi and hi - lo < 0.5
    assert summarize({"one": {k: [1.0, 2.0] for k in METRICS}}, 100, 0)["ci"]["type"] is None  # one source: no interval


def _prior_shards(tmp_path):
    pages = {"a": [[0, 0, 48, 8], [0, 8, 48, 24]], "b": [[0, 0, 48, 16], [0, 16, 48, 16]], "c": [[0, 0, 48, 8]]}
    samples = []
    for src, boxes in pages.items():
        s = make_sample(src, 0)
        s.meta["sections"] = [{"type": t, "children": ["heading"], "token": f"{t}@heading", "raw_token": f"{t}.x",
                               "tag": "div", "box": b, "xpath": f"/html/body/div[{i + 1}]"}
                              for i, (t, b) in enumerate(zip(("navbar", "hero"), boxes))]
        samples.append(s)
    sidecar = write_shard(tmp_path / shard_name("train", 0), samples, "cfg", "train")
    write_manifest(tmp_path, build_manifest([sidecar], sources={"total": 3, "accepted": 3, "rejected": 0,
                                                                 "train": 3, "val": 0}))
    return tmp_path


def test_the_prior_is_the_median_count_and_per_position_mean_box_and_commonest_labels(tmp_path):
    f = Factors.build({"navbar.x": 3, "hero.x": 2}, min_count=1)
    prior = fit_prior(_prior_shards(tmp_path), InputSpec(f, 64, 256, 4), keep=EpochFilter())
    assert len(prior.types) == 2  # counts 2, 2, 1: median 2
    assert [f.types[t] for t in prior.types] == ["navbar", "hero"]
    assert prior.boxes[0].tolist() == pytest.approx([0.5, (4 + 8 + 4) / 3 / 32, 1.0, (8 + 16 + 8) / 3 / 32])
    # the thinnest sections set the dense decoder's scale: 8 of a 48 x 32 page's 32 rows, on a
    # 64-px canvas where the page is 43 whole rows tall
    assert prior.thinnest == pytest.approx(8 / 32 * 43)
    back = LayoutPrior.from_dict(prior.to_dict())  # a checkpoint carries it as plain data
    assert torch.equal(back.boxes, prior.boxes) and (back.types, back.children, back.raw, back.thinnest) == (
        prior.types, prior.children, prior.raw, prior.thinnest)


def test_evaluation_is_the_same_with_0_and_2_loader_workers(shards):
    from train.trainer import factors_of
    from shards.storage.manifest import load_manifest

    model = tiny_model().eval()
    spec = InputSpec.of(model.cfg, factors_of(load_manifest(shards)))
    prior = fit_prior(shards, spec)
    runs = [evaluate(model, shards, "val", spec, EvalSettings(sampling=SamplingConfig(steps=2, threshold=0.3),
                                                              batch_size=3, num_workers=w, variants=2, resamples=200),
                     prior=prior) for w in (0, 2)]
    assert runs[0]["pages"] == runs[1]["pages"] and runs[0]["variants"] == runs[1]["variants"]
    n_val = load_manifest(shards)["splits"]["val"]["sources"]
    assert n_val >= 2 and runs[0]["samples"] == n_val * 3  # the val sources x (variant 00 + 2 augmented)
    assert runs[0]["pages"]["model"]["sources"] == n_val and "prior" in runs[0]["pages"]
    table = format_table(runs[0])
    assert "variant 00" in table and "prior" in table and "token" in table

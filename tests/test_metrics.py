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
from train.evaluation.bcubed import pixel_bcubed
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


def _cxcywh(*xyxy_boxes) -> torch.Tensor:
    b = torch.tensor(xyxy_boxes, dtype=torch.float64).view(-1, 4)
    return torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def _bcubed_by_pixel(pred: list, true: list, w: int, h: int) -> tuple[float, float]:
    """Extended BCubed counted pixel by pixel (integer xyxy boxes): the definition, slowly."""
    def members(boxes):
        m = np.zeros((h * w, len(boxes)), dtype=np.int64)
        for j, (x0, y0, x1, y1) in enumerate(boxes):
            grid = np.zeros((h, w), dtype=bool)
            grid[y0:y1, x0:x1] = True
            m[:, j] = grid.ravel()
        return m
    p, t = members(pred), members(true)
    sp, st = p @ p.T, t @ t.T

    def side(s_by, s_other, by):
        rows = by.any(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mult = np.where(s_by > 0, np.minimum(s_by, s_other) / s_by, np.nan)
        return float(np.nanmean(np.nanmean(mult[rows], 1)))
    return side(sp, st, p), side(st, sp, t)


def test_pixel_bcubed_by_hand():
    page = _cxcywh([0, 0, 2, 1])
    halves = _cxcywh([0, 0, 1, 1], [1, 0, 2, 1])
    nested = _cxcywh([0, 0, 2, 1], [0, 0, 1, 1])
    assert pixel_bcubed(nested, nested) == pytest.approx((1, 1, 1))  # identical, overlapping segments
    assert pixel_bcubed(halves, page) == pytest.approx((1, 0.5, 2 / 3))  # split: precise, half the recall
    assert pixel_bcubed(page, halves) == pytest.approx((0.5, 1, 2 / 3))  # merged: the other way round
    # the left half is in both true segments, the predicted page holds it once: recall (0.75 + 1) / 2
    assert pixel_bcubed(page, nested) == pytest.approx((1, 0.875, 2 * 0.875 / 1.875))
    # half the page in no predicted segment: precision 1, recall (0.5 + 0) / 2
    assert pixel_bcubed(_cxcywh([0, 0, 1, 1]), page) == pytest.approx((1, 0.25, 0.4))
    assert pixel_bcubed(B([]).view(0, 4), B([]).view(0, 4)) == (1.0, 1.0, 1.0)
    assert pixel_bcubed(B([]).view(0, 4), page)[2] == 0.0 and pixel_bcubed(page, B([]).view(0, 4))[2] == 0.0
    assert pixel_bcubed(page * 37.5, halves * 37.5) == pytest.approx((0.5, 1, 2 / 3))  # units do not matter


def test_pixel_bcubed_agrees_with_counting_pixels():
    rng = np.random.default_rng(0)
    for _ in range(20):
        boxes = []
        for n in (rng.integers(1, 5), rng.integers(1, 5)):
            xy = np.sort(rng.integers(0, 13, size=(n, 2, 2)), axis=2)  # [[x0, x1], [y0, y1]]
            boxes.append([[x[0], y[0], x[1] + 1, y[1] + 1] for x, y in xy])
        pred, true = boxes
        p, r, f1 = pixel_bcubed(_cxcywh(*pred), _cxcywh(*true))
        assert (p, r) == pytest.approx(_bcubed_by_pixel(pred, true, 14, 14))
        assert f1 == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)  # disjoint segmentations: 0


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


def test_scores_per_subset_of_sources_add_up_to_the_whole(shards):
    from shards.storage.manifest import load_manifest
    from shards.schema import parse_key
    from train.evaluation.evaluate import gather
    from train.trainer import factors_of

    model = tiny_model().eval()
    spec = InputSpec.of(model.cfg, factors_of(load_manifest(shards)))
    settings = EvalSettings(sampling=SamplingConfig(steps=2, threshold=0.3), batch_size=3, variants=0, resamples=50)
    sources = sorted({parse_key(it["key"])[0] for it in gather(shards, "val", spec, settings)})
    one = evaluate(model, shards, "val", spec, settings, by={s: "every" for s in sources})
    assert one["by"]["every"]["pages"] == one["pages"]  # one subset holding every source: the same scores
    halves = {s: "first" if s == sources[0] else "rest" for s in sources}
    two = evaluate(model, shards, "val", spec, settings, by=halves)
    assert [two["by"][k]["pages"]["model"]["sources"] for k in ("first", "rest")] == [1, len(sources) - 1]
    assert "by" not in evaluate(model, shards, "val", spec, settings)

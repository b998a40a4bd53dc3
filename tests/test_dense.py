"""The dense proposal head's targets and decoder (train.model.dense, train.model.dense_decode),
and the sampler's starts (``sampling.init``).

The decoder is checked on hand-made maps: the maps a perfect head would give for a known set
of boxes (its own targets, as logits of +-10), so whatever it returns is the decoder's doing.
"""
from __future__ import annotations

import torch

from model_helpers import tiny_batch, tiny_model
from train.config import SamplingConfig
from train.diffusion.sampling import page_generators, sample
from train.geometry import iou_matrix
from train.model.dense import DenseOut, dense_targets
from train.model.dense_decode import DecodeSettings, decode, row_edges, untangle

STRIDE = 4


def _perfect(boxes: list[list[float]], extent=(128, 256), shape=(64, 32)) -> tuple[DenseOut, torch.Tensor]:
    """The maps a perfect head gives for xyxy page-share ``boxes`` on one page."""
    b = torch.tensor(boxes, dtype=torch.float32).view(1, -1, 4)
    cxcywh = torch.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2,
                          b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], -1)
    ext = torch.tensor([extent], dtype=torch.long)
    tg = dense_targets(cxcywh, torch.ones(b.shape[:2], dtype=torch.bool), ext, STRIDE, shape)
    logit = lambda x: (x * 2 - 1) * 10  # noqa: E731
    return DenseOut(logit(tg.inside), tg.ltrb, logit(tg.edge)), ext


def _decoded(boxes, **kw) -> torch.Tensor:
    out, ext = _perfect(boxes, **kw)
    (found, scores), = decode(out, ext, STRIDE)
    assert torch.all(scores > 0.9)
    return found


def _assert_same(found: torch.Tensor, boxes: list[list[float]], iou_at_least: float = 0.98) -> None:
    """The same boxes, each edge to the pixel row (a 0.05-tall band on a 256-px page: IoU 0.985)."""
    b = torch.tensor(boxes)
    true = torch.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
    assert len(found) == len(true), (found, true)
    iou = iou_matrix(found, true)
    assert torch.all(iou.max(1).values > iou_at_least), iou


def test_stacked_bands_decode_to_their_boxes_top_to_bottom():
    bands = [[0, 0, 1, 0.05], [0, 0.05, 1, 0.4], [0, 0.4, 1, 0.55], [0, 0.55, 1, 0.93], [0, 0.93, 1, 1]]
    found = _decoded(bands)
    _assert_same(found, bands)
    assert torch.all(found[1:, 1] > found[:-1, 1])  # top to bottom


def test_a_sidebar_beside_the_content_is_its_own_section():
    page = [[0, 0, 1, 0.1], [0, 0.1, 0.25, 0.9], [0.25, 0.1, 1, 0.9], [0, 0.9, 1, 1]]
    _assert_same(_decoded(page), page)


def test_a_band_thinner_than_a_row_is_found():
    # 74.2-77.8 px of a 256-px page: no cell centre (at 4r + 2 px) lies in it; its edges are 4 px
    # apart, more than the decoder's min_gap (closer peaks are one edge found twice)
    page = [[0, 0, 1, 0.29], [0, 0.29, 1, 0.304], [0, 0.304, 1, 1]]
    out, ext = _perfect(page)
    assert int((out.inside > 0).sum()) == 64 * 32  # every cell names a section, the thin band's row too
    # its edges are whole pixel rows: 74-78 px for 74.24-77.82, IoU 0.9
    _assert_same(_decoded(page), page, iou_at_least=0.85)


def test_an_empty_page_has_no_sections():
    out, ext = _perfect([[0, 0, 1, 0.5]])
    empty = DenseOut(torch.full_like(out.inside, -10.0), out.ltrb, torch.full_like(out.edge, -10.0))
    (found, scores), = decode(empty, ext, STRIDE)
    assert len(found) == 0 and len(scores) == 0


def test_page_padding_is_never_a_section():
    # a page of 128 x 100 canvas px on a 256-row map: the rows below it are padding
    out, ext = _perfect([[0, 0, 1, 0.5], [0, 0.5, 1, 1]], extent=(128, 100))
    assert not bool((out.inside[0, 25:] > 0).any())
    _assert_same(decode(out, ext, STRIDE)[0][0], [[0, 0, 1, 0.5], [0, 0.5, 1, 1]])


def test_proposals_from_t_start_T_are_pure_noise():
    model = tiny_model()
    batch = tiny_batch(model, n=3)
    T = model.cfg.num_timesteps

    def run(init: str, t_start: int) -> list:  # every proposal kept (threshold ~0): the boxes show the start
        return sample(model, batch["image"], batch["extent"],
                      SamplingConfig(init=init, t_start=t_start, steps=3, threshold=1e-4, nms_iou=1.0),
                      page_generators(range(3)))

    noise, from_t = run("noise", 20), run("proposals", T)
    for a, b in zip(noise, from_t):
        assert torch.equal(a.boxes, b.boxes) and torch.equal(a.types, b.types)
    near = run("proposals", 5)
    assert any(len(a) != len(b) or not torch.equal(a.boxes, b.boxes) for a, b in zip(noise, near))


def test_an_edge_found_twice_a_few_rows_apart_is_one_edge():
    # the head sees a boundary at 100 px and again at 104 px (a border under a band), and a peak
    # 2 rows under the page's own top: with the run's min_band of 6 rows (min_gap 5) each is one
    # edge, not a 4-px or 2-px sliver section; at min_gap 1 they are edges of their own
    out, _ = _perfect([[0, 0, 1, 100 / 256], [0, 100 / 256, 1, 1]])
    out.edge[0, 104] = 8.0  # likely, less than the true edge's 10: the true one is kept
    out.edge[0, 2] = 8.0
    assert row_edges(out.edge[0], 256, DecodeSettings(min_gap=5)).tolist() == [0, 100, 256]
    assert row_edges(out.edge[0], 256, DecodeSettings(min_gap=1)).tolist() == [0, 2, 100, 104, 256]


def test_sections_found_twice_or_inside_another_are_untangled():
    boxes = torch.tensor([[0, 0.2, 1, 0.6], [0, 0.45, 1, 0.6], [0, 0.45, 1, 0.6],  # 0.45-0.6 twice, inside 0.2-0.6
                          [0, 0.6, 0.3, 1], [0.3, 0.6, 1, 1]])  # a sidebar beside the content: both stay
    kept, scores = untangle(boxes, torch.arange(5.0), min_height=0.02)
    assert torch.allclose(kept, torch.tensor([[0, 0.2, 1, 0.45], [0, 0.45, 1, 0.6], [0, 0.6, 0.3, 1],
                                              [0.3, 0.6, 1, 1]]))
    assert scores.tolist() == [0, 1, 3, 4]
    # a box left with less than min_height of its own rows is dropped
    kept, _ = untangle(torch.tensor([[0, 0.2, 1, 0.61], [0, 0.2, 1, 0.6]]), torch.ones(2), min_height=0.02)
    assert torch.allclose(kept, torch.tensor([[0, 0.2, 1, 0.6]]))

"""From the dense head's maps (train.model.dense) to a set of section boxes, per page.

1. **Candidates**: every cell on the page whose "inside a section" probability is at least
   ``threshold`` proposes the box its distances draw (FCOS), scored by that probability.
2. **Snapping**: each candidate's top and bottom move onto the nearest peak of the pixel-row
   edge map (a local maximum at least ``threshold``) within ``snap`` fine rows or
   ``snap_share`` of its height, but never past half its height: a cell 40 rows from its
   band's edges guesses them to a row or two, the row profiles see them to the pixel, and the
   cells of one band then draw one box.
3. **Clusters** (``torchvision.ops.nms`` at ``nms_iou``): the likeliest candidate left and
   every candidate that overlaps it by at least ``nms_iou`` are one section; a cluster whose
   summed probability is under ``min_support`` cells is noise and dropped. Its box: each edge
   the weighted mean of its members' edges, weighted by probability and by exp(-d /
   ``reach``), d the member's distance to that edge in rows (columns): cells next to an edge
   see it best (box voting, Gidaris & Komodakis 2015, with a locality weight).
4. **Strays**: clusters are kept best-supported first; one whose box lies ``covered`` or more
   inside boxes already kept, and for which fewer than ``density`` of the cells it spans
   voted, is the vote of cells near a boundary that drew two bands as one, not a section (a
   thin band between two others is covered too, but all its cells voted for it). (Measured
   on a 400-step phase-1 model, 6 held-out pages: without steps 2 and 4, 14-21 boxes per
   page for 6-9 sections.)

Written here, not taken from a library: FCOS decoders (mmdet, detectron2) decode against
anchor points and multi-level strides; this is one level, boxes as page shares, with the
row map that those detectors do not have.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import box_iou, nms

from ..geometry import cxcywh
from .dense import DenseOut, cell_boxes, valid_cells


@dataclass(frozen=True)
class DecodeSettings:
    threshold: float = 0.5  # inside probability of a candidate cell; edge probability of a row peak
    nms_iou: float = 0.5  # candidates overlapping a cluster's head by at least this join it
    min_support: float = 2.0  # summed inside probability a cluster needs (about two cells)
    reach: float = 2.0  # rows (cols) over which a member's vote for an edge falls by a factor e
    snap: float = 1.5  # fine rows within which a top or bottom edge moves onto a row-edge peak ...
    snap_share: float = 0.2  # ... or this share of the candidate's height, if more
    covered: float = 0.7  # a cluster whose box lies this much inside boxes already kept is dropped ...
    density: float = 0.5  # ... when fewer than this share of the cells it spans voted for it


def row_peaks(edge: torch.Tensor, rows: int, threshold: float) -> torch.Tensor:
    """Positions (in pixel rows) of the local maxima of the edge probability ``edge`` [P]
    (logits) over the page's first ``rows`` rows that reach ``threshold``."""
    p = torch.sigmoid(edge[:rows])
    if rows == 0:
        return p.new_zeros(0)
    left = torch.cat([p.new_full((1,), -1.0), p[:-1]])
    right = torch.cat([p[1:], p.new_full((1,), -1.0)])
    peak = (p >= threshold) & (p >= left) & (p > right)
    idx = peak.nonzero(as_tuple=True)[0]
    return idx.float()


def _snap(values: torch.Tensor, peaks: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """``values`` [n] moved onto the nearest of ``peaks`` where it lies within ``radius`` [n]."""
    if len(peaks) == 0:
        return values
    near, j = (values[:, None] - peaks[None]).abs().min(1)
    return torch.where(near <= radius, peaks[j], values)


def decode_page(out: DenseOut, b: int, extent: torch.Tensor, stride: int,
                settings: DecodeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """(cxcywh boxes [k, 4] as page shares, top to bottom; scores [k]) of page ``b``."""
    H, W = out.inside.shape[-2:]
    ext = extent[b].float()
    empty = out.inside.new_zeros((0, 4)), out.inside.new_zeros(0)
    valid = valid_cells(extent[b:b + 1], stride, (H, W))[0]
    prob = torch.sigmoid(out.inside[b])
    cand = valid & (prob >= settings.threshold)
    if not bool(cand.any()):
        return empty
    boxes = cell_boxes(out.ltrb[b:b + 1], extent[b:b + 1], stride)[0][cand].clamp(0, 1)  # [n, 4] xyxy
    score = prob[cand]
    rr, cc = cand.nonzero(as_tuple=True)
    cell_w, cell_h = stride / ext[0], stride / ext[1]
    peaks = row_peaks(out.edge[b], int(torch.ceil(ext[1])), settings.threshold) / ext[1]
    peaks = torch.cat([peaks.new_tensor([0.0, 1.0]), peaks])  # the page's own top and bottom
    # every candidate's top and bottom onto the row edges near them: the cells of one band then
    # draw one box, however far from its edges they sit; never past half its height (a thin
    # band's top must not reach its bottom's edge)
    height = boxes[:, 3] - boxes[:, 1]
    reach = torch.minimum(torch.maximum(settings.snap * cell_h, settings.snap_share * height), height / 2)
    snapped = boxes.clone()
    snapped[:, 1], snapped[:, 3] = _snap(boxes[:, 1], peaks, reach), _snap(boxes[:, 3], peaks, reach)
    # each member's distance to the four edges of its own box, in cells (x by cols, y by rows)
    cx, cy = (cc.float() + 0.5) * cell_w, (rr.float() + 0.5) * cell_h
    dist = torch.stack([(cx - boxes[:, 0]) / cell_w, (cy - boxes[:, 1]) / cell_h,
                        (boxes[:, 2] - cx) / cell_w, (boxes[:, 3] - cy) / cell_h], 1).abs()
    heads = nms(snapped, score, settings.nms_iou)
    iou = box_iou(snapped[heads], snapped)  # [k, n]
    taken = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    clusters = []
    for i, h in enumerate(heads.tolist()):
        members = (iou[i] >= settings.nms_iou) & ~taken
        members[h] = True
        taken |= members
        s = score[members]
        if float(s.sum()) < settings.min_support:
            continue
        w = s[:, None] * torch.exp(-dist[members] / settings.reach)  # [m, 4]
        clusters.append((float(s.sum()), (snapped[members] * w).sum(0) / w.sum(0).clamp_min(1e-12), s.mean()))
    # the best-supported clusters first; one mostly inside boxes already kept is a stray vote
    # (cells near a boundary that drew two bands as one), not a section
    kept_boxes: list[torch.Tensor] = []
    kept_scores: list[torch.Tensor] = []
    for support, box, sc in sorted(clusters, key=lambda c: -c[0]):
        box = box.clamp(0, 1)
        area = float((box[2] - box[0]) * (box[3] - box[1]))
        if area <= 0:
            continue
        cells = area / float(cell_w * cell_h)
        if kept_boxes and support < settings.density * max(cells, 1.0):
            k = torch.stack(kept_boxes)
            iw = (torch.minimum(k[:, 2], box[2]) - torch.maximum(k[:, 0], box[0])).clamp_min(0)
            ih = (torch.minimum(k[:, 3], box[3]) - torch.maximum(k[:, 1], box[1])).clamp_min(0)
            if float((iw * ih).sum()) > settings.covered * area:
                continue
        kept_boxes.append(box)
        kept_scores.append(sc)
    if not kept_boxes:
        return empty
    xyxy, scores = torch.stack(kept_boxes), torch.stack(kept_scores)
    order = torch.argsort(xyxy[:, 1] * 4 + xyxy[:, 0])
    return cxcywh(xyxy[order]), scores[order]


def decode(out: DenseOut, extent: torch.Tensor, stride: int,
           settings: DecodeSettings = DecodeSettings()) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`decode_page` for every page of a batch."""
    return [decode_page(out, b, extent, stride, settings) for b in range(out.inside.shape[0])]

"""From the dense head's maps (train.model.dense) to a set of section boxes, per page.

1. **Candidates**: every cell on the page whose "inside a section" probability is at least
   ``threshold`` proposes the box its distances draw (FCOS), scored by that probability.
2. **Snapping**: each candidate's top and bottom move onto the nearest row edge (a local
   maximum of the pixel-row edge map at least ``threshold``, or the page's own top and
   bottom), and a candidate that holds its cell keeps at least the band between the edges
   around the cell: a cell 40 rows from its band's edges guesses them to a few rows, the row
   profiles see them to the pixel (on a 600-step model, within a pixel of the true edge on
   training pages), and the cells of one band then draw one box.
3. **Clusters** (greedy, likeliest first, as NMS): the likeliest candidate left and every
   candidate that overlaps it by at least ``nms_iou`` *and whose cell lies in it* are one
   section (an FCOS cell draws the box it is in; without that rule a thin band's cells joined
   the band above and the band went missing: 4 of 240 dev pages); a cluster whose summed
   probability is under ``min_support`` cells is noise and dropped. Its box: each edge
   voted by its members, weighted by probability and by exp(-d / ``reach``), d the member's
   distance to that edge in rows (columns): cells next to an edge see it best (box voting,
   Gidaris & Komodakis 2015, with a locality weight); left and right are the weighted mean,
   top and bottom the row edge with the most weight (a mean of two edges is neither).
4. **Strays**: clusters are kept densest first (the share of the cells their box spans that
   voted for it), then best-supported; one whose box lies ``covered`` or more
   inside boxes already kept, and for which fewer than ``density`` of the cells it spans
   voted, is the vote of cells near a boundary that drew two bands as one, not a section (a
   thin band between two others is covered too, but all its cells voted for it). (Measured
   on a 400-step phase-1 model, 6 held-out pages: without steps 2 and 4, 14-21 boxes per
   page for 6-9 sections.)
5. **No overlaps** (:func:`untangle`): sections of a page do not overlap, so a box keeps only
   the rows no thinner box of its column holds.

Row edges closer than ``min_gap`` rows are one edge found twice; a run sets it from the
thinnest sections it trained on (``sampling.min_band``). On dev pages of a fresh generator
seed (never the benchmark's held-out sources), a 600-step phase-1 model: exact count 205/240
with none of the min-gap-5, cell-in-box and no-overlap rules, 220/240 with all three.

Written here, not taken from a library: FCOS decoders (mmdet, detectron2) decode against
anchor points and multi-level strides; this is one level, boxes as page shares, with the
row map that those detectors do not have.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import box_iou

from ..geometry import cxcywh
from .dense import DenseOut, cell_boxes, valid_cells


@dataclass(frozen=True)
class DecodeSettings:
    threshold: float = 0.5  # inside probability of a candidate cell; edge probability of a row peak
    nms_iou: float = 0.5  # candidates overlapping a cluster's head by at least this join it
    min_support: float = 2.0  # summed inside probability a cluster needs (about two cells)
    reach: float = 2.0  # rows (cols) over which a member's vote for an edge falls by a factor e
    # pixel rows within which two row-edge peaks are one edge found twice (the likelier kept); a run
    # sets it from its data (sampling.min_band). On synthetic pages (thinnest sections 6 px), 4-px
    # doubles made a sliver section on 11 of 240 dev pages at 3, none at 5
    min_gap: int = 3
    covered: float = 0.7  # a cluster whose box lies this much inside boxes already kept is dropped ...
    density: float = 0.5  # ... when fewer than this share of the cells it spans voted for it


def row_peaks(edge: torch.Tensor, rows: int, threshold: float, min_gap: int = 0) -> torch.Tensor:
    """Positions (in pixel rows, ascending) of the local maxima of the edge probability
    ``edge`` [P] (logits) over the page's first ``rows`` rows that reach ``threshold``; of
    two within ``min_gap`` rows, the likelier."""
    p = torch.sigmoid(edge[:rows])
    if rows == 0:
        return p.new_zeros(0)
    left = torch.cat([p.new_full((1,), -1.0), p[:-1]])
    right = torch.cat([p[1:], p.new_full((1,), -1.0)])
    peak = (p >= threshold) & (p >= left) & (p > right)
    idx = peak.nonzero(as_tuple=True)[0]
    kept: list[int] = []
    for i in sorted(idx.tolist(), key=lambda i: -float(p[i])):
        if all(abs(i - k) > min_gap for k in kept):
            kept.append(i)
    return p.new_tensor(sorted(kept))


def row_edges(edge: torch.Tensor, rows: int, settings: DecodeSettings) -> torch.Tensor:
    """The section edges of a page ``rows`` pixel rows tall, in rows, sorted: its own top and
    bottom and the peaks of ``edge`` (:func:`row_peaks`); a peak within ``min_gap`` rows of the
    top or bottom is that edge found again."""
    peaks = row_peaks(edge, rows, settings.threshold, settings.min_gap)
    peaks = peaks[(peaks > settings.min_gap) & (peaks < rows - settings.min_gap)]
    return torch.cat([peaks.new_tensor([0.0]), peaks, peaks.new_tensor([float(rows)])])


def snap_to_edges(top: torch.Tensor, bottom: torch.Tensor, centre: torch.Tensor, edges: torch.Tensor,
                  tol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each box's ``top`` and ``bottom`` [n] onto the nearest of the sorted row ``edges`` [e]
    (the page's top and bottom among them; never the same edge for both). A box that holds
    its cell's ``centre`` [n] but would lose it by more than ``tol`` (a pixel: edges are whole
    pixel rows) keeps the band between the two edges around the cell: its cell lies in its
    section."""
    near = lambda v: (v[:, None] - edges[None]).abs().argmin(1)  # noqa: E731
    i0, i1 = near(top), near(bottom)
    i1 = torch.maximum(i1, i0 + 1).clamp(max=len(edges) - 1)
    i0 = torch.minimum(i0, i1 - 1)
    band = (torch.searchsorted(edges, centre.contiguous(), right=True) - 1).clamp(0, len(edges) - 2)
    holds = (top <= centre) & (centre <= bottom)
    lost = holds & ((edges[i0] > centre + tol) | (edges[i1] < centre - tol))
    i0 = torch.where(lost, torch.minimum(i0, band), i0)
    i1 = torch.where(lost, torch.maximum(i1, band + 1), i1)
    return edges[i0], edges[i1]


def untangle(boxes: torch.Tensor, scores: torch.Tensor, min_height: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Sections of a page do not overlap: ``boxes`` [k, 4] (xyxy page shares) placed thinnest
    first, each one loses the rows that boxes already placed in its column hold (x overlap at
    least half the narrower width) and keeps the tallest run of rows left, or is dropped when
    that run is under ``min_height``. A band whose cells voted for the band below too (box
    108-159 px beside a found 142-159) keeps its own rows; a cluster found twice is one.
    (Dev pages of a fresh seed, 600-step model: 6 of 240 pages had such a pair.)"""
    order = torch.argsort(boxes[:, 3] - boxes[:, 1], stable=True).tolist()
    placed: list[int] = []
    out = boxes.clone()
    for i in order:
        x0, y0, x1, y1 = out[i].tolist()
        held = []
        for j in placed:
            a0, b0, a1, b1 = out[j].tolist()
            if min(x1, a1) - max(x0, a0) >= 0.5 * min(x1 - x0, a1 - a0) and min(y1, b1) > max(y0, b0):
                held.append((max(y0, b0), min(y1, b1)))
        if held:
            runs, top = [], y0
            for h0, h1 in sorted(held):
                if h0 > top:
                    runs.append((top, h0))
                top = max(top, h1)
            if y1 > top:
                runs.append((top, y1))
            if not runs:
                continue
            y0, y1 = max(runs, key=lambda r: r[1] - r[0])
            if y1 - y0 < min_height:
                continue
            out[i, 1], out[i, 3] = y0, y1
        placed.append(i)
    keep = torch.tensor(sorted(placed), dtype=torch.long)
    return out[keep], scores[keep]


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
    edges = row_edges(out.edge[b], int(torch.ceil(ext[1])), settings) / ext[1]
    cx, cy = (cc.float() + 0.5) * cell_w, (rr.float() + 0.5) * cell_h
    # every candidate's top and bottom onto the row edges: the cells of one band then draw one
    # box, however far from its edges they sit
    snapped = boxes.clone()
    snapped[:, 1], snapped[:, 3] = snap_to_edges(boxes[:, 1], boxes[:, 3], cy, edges, 1 / float(ext[1]))
    # each member's distance to the four edges of its own box, in cells (x by cols, y by rows)
    dist = torch.stack([(cx - boxes[:, 0]) / cell_w, (cy - boxes[:, 1]) / cell_h,
                        (boxes[:, 2] - cx) / cell_w, (boxes[:, 3] - cy) / cell_h], 1).abs()
    taken = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    clusters = []
    for h in torch.argsort(score, descending=True, stable=True).tolist():
        if taken[h]:
            continue
        # a cell joins the head's section only if it lies in it: FCOS cells draw the box they are in
        hb = snapped[h]
        inside = (cx >= hb[0]) & (cx <= hb[2]) & (cy >= hb[1]) & (cy <= hb[3])
        members = (box_iou(hb[None], snapped)[0] >= settings.nms_iou) & inside & ~taken
        members[h] = True
        taken |= members
        s = score[members]
        if float(s.sum()) < settings.min_support:
            continue
        w = s[:, None] * torch.exp(-dist[members] / settings.reach)  # [m, 4]
        box = (snapped[members] * w).sum(0) / w.sum(0).clamp_min(1e-12)
        for k in (1, 3):  # top and bottom: the row edge most of the cluster's weight snapped to
            edge, which = torch.unique(snapped[members, k], return_inverse=True)
            box[k] = edge[torch.bincount(which, weights=w[:, k]).argmax()]
        clusters.append((float(s.sum()), box, s.mean()))
    # the best-supported clusters first; one mostly inside boxes already kept is a stray vote
    # (cells near a boundary that drew two bands as one), not a section
    kept_boxes: list[torch.Tensor] = []
    kept_scores: list[torch.Tensor] = []
    def density(c: tuple) -> float:  # the share of the cells a cluster's box spans that voted for it
        box = c[1].clamp(0, 1)
        return c[0] / max(float((box[2] - box[0]) * (box[3] - box[1]) / (cell_w * cell_h)), 1.0)

    for support, box, sc in sorted(clusters, key=lambda c: (-min(density(c), 1.0), -c[0])):
        box = box.clamp(0, 1)
        area = float((box[2] - box[0]) * (box[3] - box[1]))
        if area <= 0:
            continue
        if kept_boxes and density((support, box)) < settings.density:
            k = torch.stack(kept_boxes)
            iw = (torch.minimum(k[:, 2], box[2]) - torch.maximum(k[:, 0], box[0])).clamp_min(0)
            ih = (torch.minimum(k[:, 3], box[3]) - torch.maximum(k[:, 1], box[1])).clamp_min(0)
            if float((iw * ih).sum()) > settings.covered * area:
                continue
        kept_boxes.append(box)
        kept_scores.append(sc)
    if not kept_boxes:
        return empty
    xyxy, scores = untangle(torch.stack(kept_boxes), torch.stack(kept_scores), settings.min_gap / float(ext[1]))
    if not len(xyxy):
        return empty
    order = torch.argsort(xyxy[:, 1] * 4 + xyxy[:, 0])
    return cxcywh(xyxy[order]), scores[order]


def decode(out: DenseOut, extent: torch.Tensor, stride: int,
           settings: DecodeSettings = DecodeSettings()) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`decode_page` for every page of a batch."""
    return [decode_page(out, b, extent, stride, settings) for b in range(out.inside.shape[0])]

"""Dense section proposals: where the sections of a page are, said at every cell of the fine map.

A set denoiser started from pure noise has to discover a page's sections by itself, and on a
CPU budget it does not (DiffusionDet trains ~450k iterations on COCO; here 600 steps left
boxes a few percent of the page off and the count below the layout prior). A dense head is
told the answer at every location at every step, so it learns in a few hundred steps. Two
outputs, both from the stride-4 fine map (which carries the page-wide tokens top-down):

- **per cell** (FCOS, Tian et al. 2019): the logit of "this cell's centre lies in a section"
  and the signed distances (left, top, right, bottom) from the cell's centre to the edges of
  the smallest section that holds it, as shares of the page;
- **per pixel row** of the canvas: the logit of "a section's top or bottom edge lies at the
  top of this row", from the row means of the fine map (what the section around it is)
  upsampled to pixel rows, and each pixel row's colour profile (mean, spread and change from
  the row above; train.model.encoders.pixel_row_profile). A page is mostly a stack of bands:
  a boundary is a change between two pixel rows, which a row's mean over the page's width
  sees best. (At stride 4 the row map put a navbar 3 px tall and its neighbour's edge in one
  row: on a 600-step model it merged or lost 1 page in 3's thin bands.)

:func:`dense_targets` builds both targets from the true boxes (train.losses.dense scores
them); train.model.dense_decode turns the outputs into a set of boxes.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import ConvBN


class DenseOut(NamedTuple):
    inside: torch.Tensor  # [B, H, W] logits: the cell's centre lies in a section
    ltrb: torch.Tensor  # [B, 4, H, W] distances from the cell's centre to its section's edges, page shares
    edge: torch.Tensor  # [B, H * stride] logits: a section edge lies at the top of this pixel row


class DenseHead(nn.Module):
    """A 3x3 conv layer on the fine map and a 1x1 cell head; a row head of 1-D convolutions
    over the fine map's row means (upsampled to pixel rows) and the pixel rows' profiles."""

    def __init__(self, fine_channels: int, width: int = 48) -> None:
        super().__init__()
        # one conv: the fine map already holds the page-wide tokens (top-down); a second 64-wide
        # conv cost ~20% of a phase-1 step for no gain seen on the 16-page rung
        self.body = ConvBN(fine_channels, width)
        self.cell = nn.Conv2d(width, 5, 1)
        self.rows = nn.Sequential(nn.Conv1d(width, width, 5, padding=2), nn.GELU(),
                                  nn.Conv1d(width, width, 5, padding=4, dilation=2))
        self.pixels = nn.Conv1d(9, width, 3, padding=1)
        self.edge = nn.Sequential(nn.GELU(), nn.Conv1d(width, width, 5, padding=2), nn.GELU(), nn.Conv1d(width, 1, 1))
        # about one pixel row in fifty holds an edge: start the edge logits near that prior
        nn.init.constant_(self.edge[-1].bias, -4.0)

    def forward(self, fine: torch.Tensor, pixel_rows: torch.Tensor, extent: torch.Tensor, stride: int) -> DenseOut:
        x = self.body(fine)
        B, C, H, W = x.shape
        cols = torch.ceil(extent[:, 0].float() / stride).clamp(1, W)
        col_valid = (torch.arange(W, device=x.device)[None] < cols[:, None]).to(x.dtype)  # [B, W]
        profile = (x * col_valid[:, None, None, :]).sum(3) / cols[:, None, None].to(x.dtype)  # [B, C, H]
        rows = self.rows(profile).repeat_interleave(stride, dim=2)  # [B, C, H * stride]
        edge = self.edge(rows + self.pixels(pixel_rows.to(rows.dtype)))
        cell = self.cell(x)
        return DenseOut(cell[:, 0].float(), cell[:, 1:].float(), edge[:, 0].float())


def cell_centres(extent: torch.Tensor, stride: int, shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Page-normalised centres of the fine cells: (x [B, 1, W], y [B, H, 1]) for pages of
    ``extent`` [B, 2] canvas pixels (cells past the page fall beyond 1)."""
    H, W = shape
    ext = extent.float()
    x = (torch.arange(W, device=extent.device, dtype=torch.float32) + 0.5) * stride / ext[:, 0:1]
    y = (torch.arange(H, device=extent.device, dtype=torch.float32) + 0.5) * stride / ext[:, 1:2]
    return x[:, None, :], y[:, :, None]


def valid_cells(extent: torch.Tensor, stride: int, shape: tuple[int, int]) -> torch.Tensor:
    """[B, H, W] bool: the cells that lie on the page (not the padding beside or below it)."""
    H, W = shape
    rows = torch.ceil(extent[:, 1].float() / stride)
    cols = torch.ceil(extent[:, 0].float() / stride)
    r = torch.arange(H, device=extent.device)[None, :, None] < rows[:, None, None]
    c = torch.arange(W, device=extent.device)[None, None, :] < cols[:, None, None]
    return r & c


class DenseTargets(NamedTuple):
    inside: torch.Tensor  # [B, H, W] float 0/1
    ltrb: torch.Tensor  # [B, 4, H, W] (meaningful where inside)
    valid: torch.Tensor  # [B, H, W] bool
    edge: torch.Tensor  # [B, H * stride] float 0/1, per pixel row
    row_valid: torch.Tensor  # [B, H * stride] bool: the page's pixel rows


def dense_targets(boxes: torch.Tensor, mask: torch.Tensor, extent: torch.Tensor, stride: int,
                  shape: tuple[int, int]) -> DenseTargets:
    """Targets of :class:`DenseHead` for page-normalised cxcywh ``boxes`` [B, M, 4] (``mask``
    [B, M]) on pages of ``extent`` [B, 2] canvas pixels, fine map ``shape`` (H, W).

    A cell belongs to the smallest true box that holds its centre; a box that holds no cell
    centre (a band thinner than a row) gets the cells of the row its centre lies in, within
    its columns, so every section has cells that name it. A box's top and bottom edges are
    marked at the pixel row they round to, but for the page's own top and bottom (the
    decoder knows those)."""
    H, W = shape
    B, M, _ = boxes.shape
    device = boxes.device
    b = boxes.float()
    x0, y0 = b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2
    x1, y1 = b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2
    cx, cy = cell_centres(extent, stride, shape)  # [B,1,W], [B,H,1]
    holds = ((cx[:, None] >= x0[..., None, None]) & (cx[:, None] < x1[..., None, None])
             & (cy[:, None] >= y0[..., None, None]) & (cy[:, None] < y1[..., None, None])
             & mask[..., None, None])  # [B, M, H, W]
    area = torch.where(mask, b[..., 2] * b[..., 3], torch.full_like(b[..., 2], float("inf")))
    big = torch.full_like(holds, float("inf"), dtype=torch.float32)
    owner_area = torch.where(holds, area[..., None, None].expand_as(big), big)
    owner = owner_area.argmin(1)  # [B, H, W]
    inside = holds.any(1)
    # boxes that hold no cell centre (thinner or narrower than a cell): the cells of the row
    # (column) their centre lies in, within their columns (rows), at least the centre's cell
    ext = extent.float()
    rows_c = ((b[..., 1] * ext[:, 1:2]) / stride).floor().long().clamp(0, H - 1)  # [B, M]
    cols_c = ((b[..., 0] * ext[:, 0:1]) / stride).floor().long().clamp(0, W - 1)
    orphan = mask & ~holds.flatten(2).any(2)
    for bi, m in orphan.nonzero().tolist():
        r, c = int(rows_c[bi, m]), int(cols_c[bi, m])
        in_x = (cx[bi, 0] >= x0[bi, m]) & (cx[bi, 0] < x1[bi, m])  # [W]
        in_y = (cy[bi, :, 0] >= y0[bi, m]) & (cy[bi, :, 0] < y1[bi, m])  # [H]
        cells = torch.zeros((H, W), dtype=torch.bool, device=device)
        if bool(in_x.any()):
            cells[r, in_x] = True
        elif bool(in_y.any()):
            cells[in_y, c] = True
        cells[r, c] = True
        owner[bi][cells] = m
        inside[bi][cells] = True
    gather = lambda v: torch.gather(v, 1, owner.flatten(1)).view(B, H, W)  # noqa: E731
    ltrb = torch.stack([cx.expand(B, H, W) - gather(x0), cy.expand(B, H, W) - gather(y0),
                        gather(x1) - cx.expand(B, H, W), gather(y1) - cy.expand(B, H, W)], 1)
    valid = valid_cells(extent, stride, shape)
    # edge rows: each top and bottom edge, at the pixel row it rounds to
    P = H * stride
    n_rows = torch.ceil(ext[:, 1]).long().clamp(1, P)
    row_of = (torch.cat([y0, y1], 1) * ext[:, 1:2]).round().long()  # [B, 2M]
    inner = (row_of > 0) & (row_of < n_rows[:, None]) & torch.cat([mask, mask], 1)  # the page's own edges: given
    hits = F.one_hot(row_of.clamp(0, P - 1), P).float() * inner[..., None].float()  # [B, 2M, P]
    row_valid = torch.arange(P, device=device)[None] < n_rows[:, None]
    edge = (hits.sum(1) > 0).float() * row_valid
    return DenseTargets(inside.float() * valid, ltrb, valid, edge, row_valid)


def cell_boxes(ltrb: torch.Tensor, extent: torch.Tensor, stride: int) -> torch.Tensor:
    """The box each cell predicts, xyxy page shares [B, H, W, 4], from ``ltrb`` [B, 4, H, W]."""
    B, _, H, W = ltrb.shape
    cx, cy = cell_centres(extent, stride, (H, W))
    cx, cy = cx.expand(B, H, W), cy.expand(B, H, W)
    return torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], -1)

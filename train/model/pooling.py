"""Reading the fine feature map at boxes: RoIAlign by bilinear sampling, and box embeddings.

The denoiser, the reader and the few-shot context encoder all pool the stride-4 fine map at
page-normalised boxes; this module is the one place that maps a box onto the map.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..geometry import xyxy
from .encoders import Features


def box_embedding(boxes: torch.Tensor, freqs: int = 16) -> torch.Tensor:
    """Sinusoidal features of normalised boxes [..., 4] -> [..., 4 * 2 * freqs] (the
    positional encoding of coordinates used for DETR's anchor queries)."""
    scales = 2.0 ** torch.arange(freqs, device=boxes.device, dtype=boxes.dtype) * math.pi
    args = boxes[..., None] * scales
    return torch.cat([args.sin(), args.cos()], dim=-1).flatten(-2)


def pool_boxes(feats: Features, boxes: torch.Tensor, batch_idx: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """RoIAlign (He et al. 2017) of the fine map at page-normalised cxcywh ``boxes`` [K,4] of
    samples ``batch_idx`` [K] -> [K, C, rows, cols]: each bin is the bilinear sample at its
    centre (``F.grid_sample``). Not ``torchvision.ops.roi_align``: its backward pass on the CPU
    took 35% of a training step here (290 ms of ~800), grid_sample's a few percent."""
    fine, stride = feats.fine, feats.fine_stride
    B, C, H, W = fine.shape
    rows, cols = size
    K = len(boxes)
    if K == 0:
        return fine.new_zeros((0, C, rows, cols))
    corners = xyxy(boxes.detach().float()).clamp(0, 1) * feats.extent[batch_idx].float().repeat(1, 2) / stride
    frac_y = (torch.arange(rows, device=boxes.device, dtype=torch.float32) + 0.5) / rows
    frac_x = (torch.arange(cols, device=boxes.device, dtype=torch.float32) + 0.5) / cols
    ys = corners[:, 1, None] + frac_y[None] * (corners[:, 3] - corners[:, 1])[:, None]  # [K, rows]
    xs = corners[:, 0, None] + frac_x[None] * (corners[:, 2] - corners[:, 0])[:, None]  # [K, cols]
    grid = torch.stack([(2 * xs / W - 1)[:, None, :].expand(K, rows, cols),
                        (2 * ys / H - 1)[:, :, None].expand(K, rows, cols)], -1)  # [K, rows, cols, 2]
    # one grid per image: its boxes side by side, padded to the most boxes any image has
    counts = torch.bincount(batch_idx, minlength=B)
    order = torch.argsort(batch_idx, stable=True)  # rank of each box among its image's boxes:
    rank = torch.arange(K, device=boxes.device) - (torch.cumsum(counts, 0) - counts)[batch_idx[order]]
    slot = torch.empty_like(rank).scatter_(0, order, rank)
    most = int(counts.max())
    padded = grid.new_zeros((B, most, rows, cols, 2))
    padded[batch_idx, slot] = grid
    sampled = F.grid_sample(fine, padded.view(B, most * rows, cols, 2).to(fine.dtype), mode="bilinear",
                            padding_mode="zeros", align_corners=False)  # [B, C, most*rows, cols]
    sampled = sampled.view(B, C, most, rows, cols).permute(0, 2, 1, 3, 4)
    return sampled[batch_idx, slot]

"""The set denoiser: N noisy section boxes + timestep -> clean boxes and "is a section" scores.

As in DiffusionDet (Chen et al., ICCV 2023), the section boxes of a page are a *set* of N
proposals that start as noise and are refined step by step: each proposal pools the fine
feature map at its current box (``torchvision.ops.roi_align``), adds an embedding of the box
itself, and a stack of transformer blocks lets the proposals see each other (self-attention:
two proposals on one section learn that one of them is a duplicate) and the whole page
(cross-attention to the encoder's tokens). The heads move each *edge* of the input box, from
features pooled around that edge, so a proposal already on a section only has to stay there,
and give a presence logit. (Two standard box forms did not learn here, where a section spans
the page's width and can be a hundredth of its height: offsets in logit space (Deformable
DETR), whose slope vanishes at w = 1, and R-CNN's w * exp(dw), whose gradient scales with the
noisy box's side, near 0 for a thin one; both gave near-true boxes back unrefined.)

Timestep conditioning is AdaLN-Zero (DiT, Peebles & Xie 2023): each block's LayerNorms are
shifted/scaled, and its residual branches gated, by a projection of the timestep embedding
initialised at zero, so every block starts as the identity.

Classifier-free guidance (Ho & Salimans 2022): ``drop`` replaces a sample's image tokens and
pooled box features by learned null embeddings, so the same network is also the
unconditional layout model.

Two-stage divide-and-conquer (TDC, arXiv 2312.13307) routes *inside* this module:
:class:`RoutedDenoiser` holds one copy per SNR group of timesteps and sends each sample to
the copy that owns its timestep; the model around it does not change.
"""
from __future__ import annotations

import copy
import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .context import Context, ContextAttention
from .encoders import Features
from .pooling import box_embedding, pool_boxes
from .recompute import run_block


class Denoised(NamedTuple):
    boxes: torch.Tensor  # [B, N, 4] clean boxes, cxcywh normalised by the page
    presence: torch.Tensor  # [B, N] logits of "this proposal is a section"
    hidden: torch.Tensor  # [B, N, D] the proposals' last hidden state
    stages: torch.Tensor  # [L-1, B, N, 4] the boxes of the earlier refinement stages


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps [B] -> [B, dim] (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return F.pad(torch.cat([torch.cos(args), torch.sin(args)], dim=-1), (0, dim % 2))


SIDES = ("left", "top", "right", "bottom")
REACH = 0.1  # a side window reaches at least this share of the page to each side of its edge


def side_windows(boxes: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The window around each edge of cxcywh ``boxes`` [K,4] (as cxcywh boxes) and each edge's
    reach [K,4] (left, top, right, bottom): half the box's side, at least REACH, either way
    of the edge, so the edge of the section the box is near lies inside the window."""
    cx, cy, w, h = boxes.unbind(-1)
    ax, ay = (w / 2).clamp_min(REACH), (h / 2).clamp_min(REACH)
    x0, x1, y0, y1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    windows = {"left": torch.stack([x0, cy, 2 * ax, h], -1), "top": torch.stack([cx, y0, w, 2 * ay], -1),
               "right": torch.stack([x1, cy, 2 * ax, h], -1), "bottom": torch.stack([cx, y1, w, 2 * ay], -1)}
    return windows, torch.stack([ax, ay, ax, ay], -1)


def apply_deltas(boxes: torch.Tensor, deltas: torch.Tensor, reach: torch.Tensor) -> torch.Tensor:
    """Move the edges (left, top, right, bottom) of cxcywh ``boxes`` [..., 4] by ``deltas`` [..., 4]
    in units of their ``reach``; edges that cross are swapped back into a box."""
    cx, cy, w, h = boxes.unbind(-1)
    x0 = cx - w / 2 + deltas[..., 0] * reach[..., 0]
    y0 = cy - h / 2 + deltas[..., 1] * reach[..., 1]
    x1 = cx + w / 2 + deltas[..., 2] * reach[..., 2]
    y1 = cy + h / 2 + deltas[..., 3] * reach[..., 3]
    lo_x, hi_x = torch.minimum(x0, x1), torch.maximum(x0, x1)
    lo_y, hi_y = torch.minimum(y0, y1), torch.maximum(y0, y1)
    return torch.stack([(lo_x + hi_x) / 2, (lo_y + hi_y) / 2, hi_x - lo_x, hi_y - lo_y], -1)


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DenoiserBlock(nn.Module):
    """Proposal self-attention, cross-attention to the image tokens, MLP; AdaLN-Zero."""

    def __init__(self, d: int, heads: int, ff_mult: int, dropout: float, few_shot: bool = False) -> None:
        super().__init__()
        self.context = ContextAttention(d, heads, dropout) if few_shot else None
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False)
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(d, ff_mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * d, d))
        self.drop = nn.Dropout(dropout)
        self.modulation = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_pad: torch.Tensor,
                temb: torch.Tensor, context: Context | None = None) -> torch.Tensor:
        s1, c1, g1, s2, c2, g2 = self.modulation(F.silu(temb)).unsqueeze(1).chunk(6, dim=-1)
        h = _modulate(self.norm1(x), s1, c1)
        x = x + g1 * self.drop(self.self_attn(h, h, h, need_weights=False)[0])
        h = self.norm2(x)
        x = x + self.drop(self.cross_attn(h, memory, memory, key_padding_mask=memory_pad, need_weights=False)[0])
        if self.context is not None:
            x = self.context(x, context)
        h = _modulate(self.norm3(x), s2, c2)
        return x + g2 * self.drop(self.mlp(h))


class Denoiser(nn.Module):
    """A cascade of refinement stages (DiffusionDet's dynamic head, Sparse R-CNN's iterative
    heads). Stage l pools the fine map inside the current boxes (what the box holds) and in a
    window around each of its four edges (side-aware boundary localization, SABL, Wang et al.
    2020: where that side's boundary is), runs one transformer block, and moves each edge from
    its own window's features and the proposal's state. The boxes of every stage are returned
    for deep supervision (train.losses.geometric)."""

    SIDE_SIZE = {"left": (2, 8), "top": (8, 2), "right": (2, 8), "bottom": (8, 2)}  # (rows, cols) pooled

    def __init__(self, cfg: Any, fine_channels: int, fine_stride: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.roi_size, self.fine_stride = tuple(cfg.roi_size), fine_stride
        rh, rw = self.roi_size
        self.roi_in = nn.Sequential(nn.Linear(fine_channels * rh * rw, d), nn.LayerNorm(d))
        self.side_in = nn.ModuleDict({side: nn.Sequential(nn.Linear(fine_channels * r * c, d), nn.LayerNorm(d))
                                      for side, (r, c) in self.SIDE_SIZE.items()})
        self.box_in = nn.Sequential(nn.Linear(4 * 2 * 16, d), nn.GELU(), nn.Linear(d, d))
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.null_roi = nn.Parameter(torch.randn(d) * 0.02)
        self.null_tokens = nn.Parameter(torch.randn(d) * 0.02)
        self.blocks = nn.ModuleList(DenoiserBlock(d, cfg.num_heads, cfg.ff_mult, cfg.dropout, cfg.few_shot)
                                    for _ in range(cfg.denoiser_layers))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.final_mod = nn.Linear(d, 2 * d)
        nn.init.zeros_(self.final_mod.weight)
        nn.init.zeros_(self.final_mod.bias)
        self.state_norm = nn.LayerNorm(d)
        self.edge_heads = nn.ModuleList(nn.Sequential(nn.Linear(2 * d, d), nn.GELU(), nn.Linear(d, 1))
                                        for _ in range(cfg.denoiser_layers * 4))
        for head in self.edge_heads:  # every stage starts by leaving the edges where they are
            nn.init.zeros_(head[-1].weight)
            nn.init.zeros_(head[-1].bias)
        self.presence_head = nn.Linear(d, 1)
        self.checkpointing = cfg.checkpointing  # the blocks' activations recomputed in backward (train.model.recompute)
        # about one proposal in four is a section: start the presence head at that prior
        nn.init.constant_(self.presence_head.bias, -math.log((1 - 0.25) / 0.25))
        self.d = d

    def _look(self, feats: Features, boxes: torch.Tensor,
              drop: torch.Tensor | None) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """(content features [B,N,D], per-side features 4 x [B,N,D], edge reach [B,N,4])."""
        B, N, _ = boxes.shape
        flat = boxes.reshape(-1, 4)
        idx = torch.arange(B, device=boxes.device).repeat_interleave(N)
        roi = self.roi_in(pool_boxes(feats, flat, idx, self.roi_size).flatten(1)).view(B, N, self.d)
        windows, reach = side_windows(flat)
        sides = [self.side_in[s](pool_boxes(feats, windows[s], idx, self.SIDE_SIZE[s]).flatten(1)).view(B, N, self.d)
                 for s in SIDES]
        if drop is not None:
            dropped = drop[:, None, None]
            null = self.null_roi.to(roi.dtype).expand_as(roi)
            roi = torch.where(dropped, null, roi)
            sides = [torch.where(dropped, null, f) for f in sides]
        return roi + self.box_in(box_embedding(boxes.detach().to(roi.dtype))), sides, reach.view(B, N, 4)

    def forward(self, feats: Features, boxes: torch.Tensor, t: torch.Tensor,
                drop: torch.Tensor | None = None, context: Context | None = None) -> Denoised:
        """``boxes`` [B,N,4]: the noisy proposals as page-normalised cxcywh (clamped to the page),
        ``t`` [B] long, ``drop`` [B] bool: run those samples unconditionally (without context
        too); ``context``: few-shot context tokens (train.model.context)."""
        memory = feats.tokens
        if drop is not None:
            memory = torch.where(drop[:, None, None], self.null_tokens.to(memory.dtype).expand_as(memory), memory)
        temb = self.time_mlp(timestep_embedding(t, self.d).to(memory.dtype))
        current = boxes.detach().float()
        x = 0
        stages = []
        for i, block in enumerate(self.blocks):
            content, sides, reach = self._look(feats, current, drop)
            x = run_block(block, self.checkpointing, x + content + sum(sides), memory, feats.token_pad, temb, context)
            state = self.state_norm(x)
            deltas = torch.cat([self.edge_heads[4 * i + k](torch.cat([state, f], -1)) for k, f in enumerate(sides)], -1)
            refined = apply_deltas(current, deltas.float(), reach)
            stages.append(refined)
            current = refined.detach()
        shift, scale = self.final_mod(F.silu(temb)).unsqueeze(1).chunk(2, dim=-1)
        h = _modulate(self.final_norm(x), shift, scale)
        return Denoised(stages[-1], self.presence_head(h).squeeze(-1).float(), h, torch.stack(stages[:-1]))


def snr_groups(alpha_bar: torch.Tensor, groups: int) -> torch.Tensor:
    """Group id (0..groups-1) of every timestep 0..T: equal widths of log SNR over t = 1..T,
    group 0 the least noisy (t = 0 joins it)."""
    ab = alpha_bar.double()
    log_snr = torch.log(ab / (1 - ab).clamp_min(1e-12))[1:]
    lo, hi = float(log_snr.min()), float(log_snr.max())
    edges = torch.linspace(hi, lo, groups + 1, dtype=torch.float64)[1:-1]
    g = torch.bucketize(-log_snr, -edges, right=True).clamp(0, groups - 1)
    return torch.cat([torch.zeros(1, dtype=torch.long), g.long()])


class RoutedDenoiser(nn.Module):
    """TDC stage 2: one copy of the denoiser per SNR group of timesteps, each sample routed
    to the copy that owns its timestep (same call signature as :class:`Denoiser`)."""

    def __init__(self, base: Denoiser, group_of: torch.Tensor) -> None:
        super().__init__()
        groups = int(group_of.max()) + 1
        self.experts = nn.ModuleList(copy.deepcopy(base) for _ in range(groups))
        self.register_buffer("group_of", group_of.clone())

    def forward(self, feats: Features, boxes: torch.Tensor, t: torch.Tensor,
                drop: torch.Tensor | None = None, context: Context | None = None) -> Denoised:
        group = self.group_of[t.clamp(0, len(self.group_of) - 1)]
        parts: list[tuple[torch.Tensor, Denoised]] = []
        for g, expert in enumerate(self.experts):
            idx = (group == g).nonzero(as_tuple=True)[0]
            if len(idx):
                parts.append((idx, expert(feats.select(idx), boxes[idx], t[idx], None if drop is None else drop[idx],
                                          None if context is None else context.select(idx))))
        order = torch.cat([idx for idx, _ in parts]).argsort()
        return Denoised(*(torch.cat([out[k] for _, out in parts])[order] for k in range(3)),
                        torch.cat([out.stages for _, out in parts], dim=1)[:, order])

"""Few-shot context (FSDM): a handful of pages of the target's group, read as a set of tokens.

Few-Shot Diffusion Models (Giannone, Nielsen & Winther 2022) condition a diffusion model on a
small *context set* of examples of the same kind, turned into a context representation by a
set encoder. Here the examples are k pages of the target page's group (its site or
template) with their true sections, and the representation is one token per context
section: the fine features pooled at its true box (what that section looks like on this
site) plus an embedding of its label (type and roles) and of its box, and one token per
context page (its pooled image tokens). A layer of self-attention over the whole set (no
positions: the order of the pages means nothing) lets the tokens see each other. The
denoiser and the reader attend to these tokens through gated cross-attention (Flamingo,
Alayrac et al. 2022: tanh(gate) * attention, the gate starting at 0); a sample with no
context skips the branch exactly, so k = 0 *is* the model without context.

The set is permutation-invariant: the tokens carry no page or section order, the set layer
is equivariant and the cross-attention pools over it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .pooling import box_embedding, pool_boxes
from .encoders import Features


@dataclass
class Context:
    """The context tokens of a batch: [B, L, D], their padding [B, L] and which samples
    have any context at all [B] (the others skip every context branch)."""

    tokens: torch.Tensor
    pad: torch.Tensor
    present: torch.Tensor

    def select(self, idx: torch.Tensor) -> "Context":
        return Context(self.tokens[idx], self.pad[idx], self.present[idx])

    def repeat(self, n: int) -> "Context":
        return Context(self.tokens.repeat(n, 1, 1), self.pad.repeat(n, 1), self.present.repeat(n))


class ContextEncoder(nn.Module):
    def __init__(self, cfg: Any, fine_channels: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.read_size = (4, 8)
        self.look = nn.Sequential(nn.Linear(fine_channels * 4 * 8, d), nn.LayerNorm(d))
        self.type_emb = nn.Embedding(cfg.num_types, d)
        self.role_emb = nn.Embedding(cfg.num_roles + 2, d)  # roles, the end marker, and "no role here"
        self.box_in = nn.Sequential(nn.Linear(4 * 2 * 16, d), nn.GELU(), nn.Linear(d, d))
        self.page_in = nn.Linear(d, d)
        self.kind = nn.Parameter(torch.randn(2, d) * 0.02)  # section token, page token
        self.set_layer = nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.ff_mult * d, cfg.dropout,
                                                    activation="gelu", batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(d)
        self.num_roles = cfg.num_roles

    def forward(self, feats: Features, targets: dict[str, torch.Tensor], owner: torch.Tensor,
                batch_size: int) -> Context:
        """``feats``: the C context pages' features; ``targets``: their ``boxes`` [C,M,4], ``mask``
        [C,M], ``types`` [C,M], ``children`` [C,M,K]; ``owner`` [C]: the target sample each page
        is context for (0..batch_size-1)."""
        C, M = targets["mask"].shape
        page, slot = targets["mask"].nonzero(as_tuple=True)
        boxes = targets["boxes"][page, slot].to(feats.fine.dtype)
        roles = targets["children"][page, slot].clone()
        roles[roles < 0] = self.num_roles + 1
        sections = (self.look(pool_boxes(feats, boxes, page, self.read_size).flatten(1))
                    + self.type_emb(targets["types"][page, slot]) + self.role_emb(roles).sum(1)
                    + self.box_in(box_embedding(boxes)) + self.kind[0])
        keep = (~feats.token_pad).unsqueeze(-1).to(feats.tokens.dtype)
        pages = self.page_in((feats.tokens * keep).sum(1) / keep.sum(1).clamp_min(1)) + self.kind[1]
        owners = torch.cat([owner[page], owner])
        tokens = torch.cat([sections, pages])
        # one padded set per target sample, in a fixed (page, section) order that nothing reads
        counts = torch.bincount(owners, minlength=batch_size)
        length = max(1, int(counts.max()) if len(counts) else 1)
        order = torch.argsort(owners, stable=True)
        rank = torch.arange(len(owners), device=owners.device) - (torch.cumsum(counts, 0) - counts)[owners[order]]
        out = tokens.new_zeros((batch_size, length, tokens.shape[-1]))
        pad = torch.ones((batch_size, length), dtype=torch.bool, device=tokens.device)
        out[owners[order], rank] = tokens[order]
        pad[owners[order], rank] = False
        present = counts > 0
        pad[~present, 0] = False  # an empty set attends to one zero token; its branch is skipped anyway
        out = self.set_layer(out, src_key_padding_mask=pad)
        return Context(self.norm(out), pad, present)


class ContextAttention(nn.Module):
    """x + tanh(gate) * CrossAttention(x, context), only for the samples that have context."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, context: Context | None) -> torch.Tensor:
        if context is None or not bool(context.present.any()):
            return x
        squeeze = x.dim() == 2  # [K, D] rows of one sample each (the reader): one query per row
        q = x.unsqueeze(1) if squeeze else x
        out = self.attn(self.norm(q), context.tokens, context.tokens, key_padding_mask=context.pad,
                        need_weights=False)[0]
        out = out.squeeze(1) if squeeze else out
        keep = context.present.view(-1, *[1] * (x.dim() - 1)).to(out.dtype)
        return x + torch.tanh(self.gate) * out * keep

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

**Labels by likeness** (`LabelCopy`). Gated attention alone learned to ignore the context
(gates 0.0003 / -0.001 / 0.019 after 600 steps, k = 4 +0.8 points of token): its values mix
a section's look with its label, and nothing pulls a zero gate open. So the reader also reads
the context the way Matching Networks (Vinyals et al. 2016) and prototypical networks (Snell
et al. 2017) classify from a support set: the context's sections are embedded by the
reader itself (the same function as the section being read), and the section's type
distribution is its cosine-softmax attention over them times their one-hot types, added to
its type logits as a log-probability with a learned weight that starts at 1. The embedding
is trained by the type loss through that attention; nothing is zero-started.
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
    have any context at all [B] (the others skip every context branch); and the context's
    sections as the reader embeds them, ``shots`` [B, S, D] with their ``shot_types`` [B, S]
    and padding ``shot_pad`` [B, S] (`LabelCopy`; None where the model has no reader copy)."""

    tokens: torch.Tensor
    pad: torch.Tensor
    present: torch.Tensor
    shots: torch.Tensor | None = None
    shot_types: torch.Tensor | None = None
    shot_pad: torch.Tensor | None = None

    def _map(self, fn) -> "Context":
        return Context(*(None if x is None else fn(x) for x in (self.tokens, self.pad, self.present, self.shots,
                                                                 self.shot_types, self.shot_pad)))

    def select(self, idx: torch.Tensor) -> "Context":
        return self._map(lambda x: x[idx])

    def repeat(self, n: int) -> "Context":
        return self._map(lambda x: x.repeat(n, *[1] * (x.dim() - 1)))

    def without(self, drop: torch.Tensor) -> "Context":
        """The same context, the samples marked in ``drop`` [B] left without any."""
        return Context(self.tokens, self.pad, self.present & ~drop, self.shots, self.shot_types, self.shot_pad)


def pad_sets(values: torch.Tensor, owners: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``values`` [N, ...] of sets, row i in set ``owners[i]`` (0..batch_size-1), as one padded
    tensor [batch_size, L, ...] in a fixed (row) order that nothing reads, and its padding [batch_size, L]."""
    counts = torch.bincount(owners, minlength=batch_size)
    length = max(1, int(counts.max()) if len(counts) else 1)
    order = torch.argsort(owners, stable=True)
    rank = torch.arange(len(owners), device=owners.device) - (torch.cumsum(counts, 0) - counts)[owners[order]]
    out = values.new_zeros((batch_size, length, *values.shape[1:]))
    pad = torch.ones((batch_size, length), dtype=torch.bool, device=values.device)
    out[owners[order], rank] = values[order]
    pad[owners[order], rank] = False
    return out, pad


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
        out, pad = pad_sets(torch.cat([sections, pages]), owners, batch_size)  # one padded set per target sample
        present = torch.bincount(owners, minlength=batch_size) > 0
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


class LabelCopy(nn.Module):
    """Type log-probabilities of K sections from the labelled context sections they resemble
    (module docstring): ``weight * log(sum_j softmax_j(scale * cos(q, s_j)) onehot(type_j) + EPS)``."""

    EPS = 1e-3  # a type no context section has keeps log(EPS): the reader's own logits can still name it

    def __init__(self, d: int, num_types: int, proj: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(d, proj)
        self.scale = nn.Parameter(torch.tensor(10.0).log())  # cosine-softmax temperature, learned (log)
        self.weight = nn.Parameter(torch.ones(()))  # how much the copied distribution counts
        self.num_types = num_types

    def forward(self, h: torch.Tensor, shots: torch.Tensor, shot_types: torch.Tensor,
                shot_pad: torch.Tensor) -> torch.Tensor:
        """``h`` [K, D] the sections read; ``shots`` [K, S, D], ``shot_types`` [K, S], ``shot_pad`` [K, S]:
        each section's context. Returns [K, T] to add to its type logits (0 where it has none)."""
        q = nn.functional.normalize(self.proj(h), dim=-1)
        k = nn.functional.normalize(self.proj(shots), dim=-1)
        sim = torch.einsum("kd,ksd->ks", q, k) * self.scale.exp()
        sim = sim.masked_fill(shot_pad, float("-inf"))
        has = ~shot_pad.all(1)
        attn = torch.softmax(sim.masked_fill(~has.unsqueeze(1), 0.0), dim=1) * (~shot_pad)
        onehot = nn.functional.one_hot(shot_types.clamp_min(0), self.num_types).to(attn.dtype)
        probs = torch.einsum("ks,kst->kt", attn, onehot)
        return self.weight * torch.log(probs + self.EPS) * has.unsqueeze(1).to(probs.dtype)

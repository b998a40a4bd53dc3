"""The reader: what a section is, from the features pooled at its box.

A section's canonical token is its *type* (hero, pricing, footer, ...) and the ordered *roles*
of its visible children (heading, text, btn, ...): both are drawn inside its box, at a scale
finer than the image tokens (a 128-px-wide canvas leaves a section some 17 pixels tall). So
each section is read from the stride-4 fine map pooled at its box
(``torchvision.ops.roi_align``, ``read_size`` rows x cols: a band is wide and short),
through two batch-normalised convolutions (on the same crops a 4-conv CNN with batch norm
read 31% of tokens where a 3-conv one without read 22%), kept as a map, not averaged (the
children are roles *in order of appearance*: a global average keeps what is there and loses
where), plus the box and the page's height (a footer is the last band, a navbar the first).
The heads give, per section, the type logits, the children logits at each of
``max_children`` positions over the roles plus an end marker, and the raw-token logits (the
token before canonicalisation, reported apart).

The reader reads at the denoiser's final boxes when sampling, and in training at the boxes
of matched proposals and at jittered true boxes (train.losses.region), the RoI head of a
two-stage detector (Fast R-CNN, Girshick 2015). A sample whose condition is dropped
(classifier-free guidance) gets learned null logits: the unconditional model sees nothing of
the image.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .context import Context, ContextAttention, LabelCopy
from .pooling import pool_boxes
from .encoders import ConvBN, Features


class Read(NamedTuple):
    type: torch.Tensor  # [K, T] section-type logits
    children: torch.Tensor  # [K, max_children, R + 1] role logits per position, last = end marker
    raw: torch.Tensor  # [K, V] raw-token logits
    region: torch.Tensor  # [K, G] logits of the type of the region the section lies in


class Reader(nn.Module):
    def __init__(self, cfg: Any, fine_channels: int, fine_stride: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.size, self.fine_stride = tuple(cfg.read_size), fine_stride
        self.max_children, self.num_roles = cfg.max_children, cfg.num_roles
        rows, cols = (max(1, (n + 1) // 2) for n in self.size)  # the stride-2 conv's output
        self.conv = nn.Sequential(ConvBN(fine_channels, 64), ConvBN(64, 128, stride=2), nn.Flatten())
        self.geom = nn.Sequential(nn.Linear(5, 32), nn.GELU())
        self.mlp = nn.Sequential(nn.Linear(128 * rows * cols + 32, d), nn.GELU(), nn.Dropout(cfg.dropout))
        # few-shot: a section attends to the labelled sections of its group's context pages
        self.context = ContextAttention(d, cfg.num_heads, cfg.dropout) if cfg.few_shot else None
        self.copy = LabelCopy(d, cfg.num_types) if cfg.few_shot else None  # types of the sections it resembles
        self.type_head = nn.Linear(d, cfg.num_types)
        self.children_head = nn.Linear(d, cfg.max_children * (cfg.num_roles + 1))
        self.raw_head = nn.Linear(d, cfg.num_raw)
        self.region_head = nn.Linear(d, cfg.num_regions)
        self.null_type = nn.Parameter(torch.zeros(cfg.num_types))
        self.null_children = nn.Parameter(torch.zeros(cfg.max_children, cfg.num_roles + 1))
        self.null_raw = nn.Parameter(torch.zeros(cfg.num_raw))
        self.null_region = nn.Parameter(torch.zeros(cfg.num_regions))

    def embed(self, feats: Features, boxes: torch.Tensor, batch_idx: torch.Tensor) -> torch.Tensor:
        """[K, D]: the sections at ``boxes`` as read from the page alone (before any context)."""
        pooled = pool_boxes(feats, boxes, batch_idx, self.size)
        geom = torch.cat([boxes.detach().float(), feats.page_shape(batch_idx)[:, 1:]], 1).to(pooled.dtype)
        return self.mlp(torch.cat([self.conv(pooled), self.geom(geom)], 1))

    def forward(self, feats: Features, boxes: torch.Tensor, batch_idx: torch.Tensor,
                drop: torch.Tensor | None = None, context: Context | None = None) -> Read:
        """Logits for the sections at ``boxes`` [K,4] (normalised cxcywh) of samples
        ``batch_idx`` [K]; ``drop`` [B] bool: those samples get the null logits; ``context``:
        few-shot context tokens of the B samples."""
        K = len(boxes)
        h = seen = self.embed(feats, boxes, batch_idx)
        mine = context.select(batch_idx) if context is not None and K else None  # each section's context
        if self.context is not None and mine is not None:
            h = self.context(h, mine)
        type_logits = self.type_head(h)
        if self.copy is not None and mine is not None and mine.shots is not None:
            type_logits = type_logits + self.copy(seen, mine.shots, mine.shot_types,
                                                  mine.shot_pad | ~mine.present.unsqueeze(1))
        out = Read(type_logits, self.children_head(h).view(K, self.max_children, self.num_roles + 1),
                   self.raw_head(h), self.region_head(h))
        if drop is None:
            return out
        dropped = drop[batch_idx]
        nulls = (self.null_type, self.null_children, self.null_raw, self.null_region)
        return Read(*(torch.where(dropped.view(-1, *[1] * (x.dim() - 1)), n.to(x.dtype).expand_as(x), x)
                      for x, n in zip(out, nulls)))

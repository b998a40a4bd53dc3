"""The diffusion section transformer: screenshot -> the set of its sections (box, type, roles).

Three parts, each in its own module: an image encoder over the aspect-true canvas
(train.model.encoders), the set denoiser that refines N noisy boxes into section boxes with
a presence score (train.model.denoiser) and the reader that names each section from the
features at its box (train.model.reader). The diffusion process and the sampler are in
train.diffusion; the losses in train.losses and train.objective.

Images enter as uint8 canvases and are normalised here (ImageNet statistics, which the
torchvision backbones were trained with), so loaders ship a quarter of the bytes.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .denoiser import Denoised, Denoiser, RoutedDenoiser
from .context import Context, ContextEncoder, pad_sets
from .dense import DenseHead, DenseOut
from .backbones import build_encoder
from .encoders import AxisTokens, Features, pixel_row_profile
from .reader import Read, Reader

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class SectionModel(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder, stride = build_encoder(cfg)
        self.fine_stride = stride
        fine = self.encoder.fine_channels
        self.axis = AxisTokens(fine, cfg.d_model, cfg.canvas_height // stride, cfg.canvas_width // stride)
        self.denoiser: Denoiser | RoutedDenoiser = Denoiser(cfg, fine, stride)
        self.reader = Reader(cfg, fine, stride)
        self.context = ContextEncoder(cfg, fine) if cfg.few_shot else None
        self.edge_head = nn.Conv2d(fine, 1, 1)  # section boundaries on the fine map (train.losses.edges)
        self.dense_head = DenseHead(fine)  # dense section proposals (train.model.dense)
        d, p = cfg.d_model, cfg.proj_dim
        # pooled embeddings of the visual-structural alignment term (train.losses.element)
        self.image_proj = nn.Linear(d, p)
        self.type_emb = nn.Embedding(cfg.num_types, d)
        self.role_emb = nn.Embedding(cfg.num_roles + 1, d)
        self.struct_box = nn.Linear(4, d)
        self.struct_proj = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, p))
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1) * 255, persistent=False)

    def encode(self, images: torch.Tensor, extent: torch.Tensor) -> Features:
        """uint8 canvases [B,3,H,W] whose top-left ``extent`` [B,2] (cols, rows) pixels are the page."""
        x = (images.float() - self.mean) / self.std
        extent = extent.float()
        fine, tokens, pad = self.encoder(x, extent[:, 1])
        axis, axis_pad = self.axis(fine, extent, self.fine_stride)
        return Features(fine, self.fine_stride, torch.cat([tokens, axis], 1), torch.cat([pad, axis_pad], 1), extent,
                        (self.cfg.canvas_width, self.cfg.canvas_height), pixel_row_profile(x, extent))

    def denoise(self, feats: Features, boxes: torch.Tensor, t: torch.Tensor,
                drop: torch.Tensor | None = None, context: Context | None = None) -> Denoised:
        return self.denoiser(feats, boxes, t, drop, _without(context, drop))

    def read(self, feats: Features, boxes: torch.Tensor, batch_idx: torch.Tensor,
             drop: torch.Tensor | None = None, context: Context | None = None) -> Read:
        return self.reader(feats, boxes, batch_idx, drop, _without(context, drop))

    def encode_context(self, images: torch.Tensor, extent: torch.Tensor, targets: dict[str, torch.Tensor],
                       owner: torch.Tensor, batch_size: int) -> Context | None:
        """Few-shot context tokens from C context pages (their canvases, extents and true
        sections), each the context of sample ``owner[c]``; None for a model without context
        layers or an empty context. The pages' image features are not trained through the
        context (no gradient into the encoder from here): the targets train it."""
        if self.context is None or len(owner) == 0:
            return None
        with torch.no_grad():
            feats = self.encode(images, extent)
        context = self.context(feats, targets, owner, batch_size)
        # the context's sections as the reader embeds them, for its label copy (train.model.context)
        page, slot = targets["mask"].nonzero(as_tuple=True)
        shots = self.reader.embed(feats, targets["boxes"][page, slot].to(feats.fine.dtype), page)
        context.shots, context.shot_pad = pad_sets(shots, owner[page], batch_size)
        context.shot_types = pad_sets(targets["types"][page, slot], owner[page], batch_size)[0]
        return context

    def batch_context(self, batch: dict) -> Context | None:
        """The few-shot context tokens of a collated batch (train.data.inputs.collate), or None."""
        if "context" not in batch:
            return None
        c = batch["context"]
        return self.encode_context(c["image"], c["extent"], {k: c[k] for k in ("boxes", "mask", "types", "children")},
                                   batch["context_owner"], len(batch["key"]))

    def edge_logits(self, feats: Features) -> torch.Tensor:
        """Logits [B, H, W] of "a section boundary passes here" on the fine map."""
        return self.edge_head(feats.fine).squeeze(1)

    def dense(self, feats: Features) -> DenseOut:
        """The dense proposal maps of the page (train.model.dense)."""
        return self.dense_head(feats.fine, feats.pixel_rows, feats.extent, feats.fine_stride)

    def start_tdc(self, group_of: torch.Tensor) -> None:
        """Enter TDC stage 2: the denoiser becomes one copy per timestep group."""
        if isinstance(self.denoiser, Denoiser):
            self.denoiser = RoutedDenoiser(self.denoiser, group_of.to(next(self.parameters()).device))

    @property
    def tdc(self) -> bool:
        return isinstance(self.denoiser, RoutedDenoiser)

    def image_embedding(self, feats: Features) -> torch.Tensor:
        """Mean of the page's tokens (padding excluded) -> [B, proj_dim]."""
        keep = (~feats.token_pad).unsqueeze(-1).to(feats.tokens.dtype)
        return self.image_proj((feats.tokens * keep).sum(1) / keep.sum(1).clamp_min(1))

    def structure_embedding(self, types: torch.Tensor, children: torch.Tensor, boxes: torch.Tensor,
                            mask: torch.Tensor) -> torch.Tensor:
        """The true sections (type + roles + box, mean over the page's sections) -> [B, proj_dim]."""
        x = self.type_emb(types) + self.role_emb(children).sum(2) + self.struct_box(boxes * 2 - 1)
        w = mask.unsqueeze(-1).to(x.dtype)
        return self.struct_proj((x * w).sum(1) / w.sum(1).clamp_min(1))


def _without(context: Context | None, drop: torch.Tensor | None) -> Context | None:
    """The context, with the samples whose condition is dropped left without it."""
    if context is None or drop is None:
        return context
    return context.without(drop)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or the model)."""
    return getattr(model, "module", model)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)

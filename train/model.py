"""The diffusion section transformer: screenshot -> ordered section slots (token + box).

An image encoder (:mod:`train.encoders`) turns the letterboxed screenshot into image tokens.
A denoiser — a transformer over the N section slots — reads the corrupted slots (token ids
with some set to MASK, boxes with Gaussian noise, both from :mod:`train.diffusion`), the
timestep, and cross-attends to the image tokens; two heads predict the clean token logits
and the clean boxes (x0 prediction). With a region reader (:mod:`train.regions`, the default)
the token logits come from a crop of the screenshot at each slot's predicted box, and the
denoiser's token head only says whether the slot holds a section (``token_from``).

Timestep conditioning is AdaLN-Zero (DiT, Peebles & Xie 2023): each block's LayerNorms are
shifted/scaled, and its residual branches gated, by a projection of the timestep embedding
initialised at zero, so every block starts as the identity. ``time_conditioning="add"``
instead adds the timestep embedding to the slot embeddings (fewer parameters).

Classifier-free guidance (Ho & Salimans 2022): ``drop_cond`` replaces a sample's image
tokens by one learned null embedding, so the same network is also the unconditional model.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .encoders import build_encoder
from .regions import RegionReader
from .vocab import PAD


@dataclass
class ModelConfig:
    """Sizes and diffusion settings; everything a checkpoint needs to rebuild the model."""

    vocab_size: int
    max_slots: int = 16
    image_size: int = 128
    encoder: str = "patch"  # "patch" | "resnet18" | "vit_b_16"
    weights_path: str | None = None  # local torchvision state dict for a backbone encoder
    patch_size: int = 8
    stem_channels: int = 32
    d_model: int = 128
    encoder_layers: int = 2
    denoiser_layers: int = 2
    num_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    time_conditioning: str = "adaln"  # "adaln" | "add"
    proj_dim: int = 64  # width of the pooled embeddings of the alignment (InfoNCE) term
    num_timesteps: int = 100
    mask_schedule: str = "cosine"  # "cosine" | "linear"
    cond_drop_prob: float = 0.1
    guidance_scale: float = 7.5
    sample_steps: int = 20
    # Side of the crop the region reader takes at each slot's predicted box (train.regions);
    # 0 = no region reader (token logits come from the cross-attended image tokens alone).
    region_size: int = 16
    # With a region reader: "region" = the reader alone names each section and the denoiser's
    # token head gives only the empty-slot (PAD) logit; "both" = their logits are added.
    token_from: str = "region"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# Parameter counts at vocab_size=512 are in the module's report; "micro" is the phase-1 model.
PRESETS: dict[str, dict[str, Any]] = {
    "micro": dict(image_size=128, patch_size=8, stem_channels=16, d_model=128, encoder_layers=2,
                  denoiser_layers=2, num_heads=4, ff_mult=2, proj_dim=64, dropout=0.3),
    "small": dict(image_size=256, patch_size=16, stem_channels=32, d_model=256, encoder_layers=3,
                  denoiser_layers=3, num_heads=8, ff_mult=2, proj_dim=128, dropout=0.2),
    "medium": dict(image_size=256, patch_size=16, stem_channels=32, d_model=384, encoder_layers=4,
                   denoiser_layers=4, num_heads=8, ff_mult=4, proj_dim=128, dropout=0.1),
    "large": dict(image_size=384, patch_size=16, stem_channels=48, d_model=512, encoder_layers=5,
                  denoiser_layers=6, num_heads=8, ff_mult=4, proj_dim=256, dropout=0.1),
}


def model_config(preset: str, vocab_size: int, **overrides: Any) -> ModelConfig:
    """The config of a size preset ("micro", "small", "medium", "large") with overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    return ModelConfig(vocab_size=vocab_size, **{**PRESETS[preset], **overrides})


class ModelOutput(NamedTuple):
    logits: torch.Tensor  # [B, N, V] clean-token logits
    boxes: torch.Tensor  # [B, N, 4] clean boxes, normalised cxcywh in (0, 1)
    memory: torch.Tensor  # [B, L, D] image tokens actually attended to (null where dropped)
    # [B, N, V] the region reader's logits at given (teacher) boxes, when asked for
    region_logits: torch.Tensor | None = None


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps [B] -> [B, dim] (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class DenoiserBlock(nn.Module):
    """Slot self-attention, cross-attention to the image, MLP; AdaLN-Zero modulated."""

    def __init__(self, d: int, heads: int, ff_mult: int, dropout: float, adaln: bool) -> None:
        super().__init__()
        self.adaln = adaln
        self.norm1 = nn.LayerNorm(d, elementwise_affine=not adaln)
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d)
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm3 = nn.LayerNorm(d, elementwise_affine=not adaln)
        self.mlp = nn.Sequential(
            nn.Linear(d, ff_mult * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_mult * d, d)
        )
        self.drop = nn.Dropout(dropout)
        if adaln:
            self.modulation = nn.Linear(d, 6 * d)
            nn.init.zeros_(self.modulation.weight)
            nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        if self.adaln:
            s1, c1, g1, s2, c2, g2 = self.modulation(F.silu(temb)).unsqueeze(1).chunk(6, dim=-1)
        else:
            s1 = c1 = s2 = c2 = x.new_zeros(())
            g1 = g2 = x.new_ones(())
        h = _modulate(self.norm1(x), s1, c1)
        x = x + g1 * self.drop(self.self_attn(h, h, h, need_weights=False)[0])
        h = self.norm2(x)
        x = x + self.drop(self.cross_attn(h, memory, memory, need_weights=False)[0])
        h = _modulate(self.norm3(x), s2, c2)
        return x + g2 * self.drop(self.mlp(h))


class DiffusionSectionTransformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, adaln = cfg.d_model, cfg.time_conditioning == "adaln"
        if cfg.time_conditioning not in ("adaln", "add"):
            raise ValueError(f"unknown time_conditioning {cfg.time_conditioning!r}")
        self.encoder = build_encoder(cfg)
        # --- denoiser ---
        self.token_emb = nn.Embedding(cfg.vocab_size, d)
        self.box_in = nn.Linear(4, d)
        self.slot_pos = nn.Parameter(torch.randn(1, cfg.max_slots, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.null_cond = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.blocks = nn.ModuleList(
            DenoiserBlock(d, cfg.num_heads, cfg.ff_mult, cfg.dropout, adaln)
            for _ in range(cfg.denoiser_layers)
        )
        # --- heads ---
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False)
        self.final_mod = nn.Linear(d, 2 * d)
        nn.init.zeros_(self.final_mod.weight)
        nn.init.zeros_(self.final_mod.bias)
        if cfg.token_from not in ("region", "both"):
            raise ValueError(f"unknown token_from {cfg.token_from!r}; choose 'region' or 'both'")
        self.pad_only = bool(cfg.region_size) and cfg.token_from == "region"
        self.token_head = nn.Linear(d, 1 if self.pad_only else cfg.vocab_size)
        self.box_head = nn.Linear(d, 4)
        self.regions = RegionReader(d, cfg.region_size, cfg.vocab_size) if cfg.region_size else None
        self.image_proj = nn.Linear(d, cfg.proj_dim)
        self.struct_proj = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, cfg.proj_dim))
        nn.init.normal_(self.token_emb.weight, std=0.02)

    # -- conditioning -------------------------------------------------------------------
    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Letterboxed images [B,3,S,S] -> image tokens [B,L,D]."""
        return self.encoder(images)

    def null_memory(self, like: torch.Tensor) -> torch.Tensor:
        """The unconditional "image": the null embedding in every image-token position."""
        return self.null_cond.to(like.dtype).expand_as(like)

    # -- denoising ------------------------------------------------------------------------
    def denoise(
        self,
        memory: torch.Tensor,
        tokens_t: torch.Tensor,
        boxes_t: torch.Tensor,
        t: torch.Tensor,
        drop_cond: torch.Tensor | None = None,
        images: torch.Tensor | None = None,
        teacher_boxes: torch.Tensor | None = None,
    ) -> ModelOutput:
        """Predict clean slots from corrupted ones. ``tokens_t`` [B,N] long, ``boxes_t``
        [B,N,4] in diffusion space, ``t`` [B] long, ``drop_cond`` [B] bool (use null),
        ``images`` [B,3,S,S]: the letterboxed images ``memory`` came from, which the region
        reader crops (required when the model has one). With ``teacher_boxes`` [B,N,4]
        (normalised cxcywh, training only) the output also carries ``region_logits``: the
        region reader's logits at those boxes instead of the predicted ones."""
        if self.regions is not None and images is None:
            raise ValueError("this model reads regions (region_size="
                             f"{self.cfg.region_size}): denoise needs the images as well as their memory")
        if drop_cond is not None:
            memory = torch.where(drop_cond[:, None, None], self.null_memory(memory), memory)
        n = tokens_t.shape[1]
        temb = self.time_mlp(timestep_embedding(t, self.cfg.d_model).to(memory.dtype))
        x = self.token_emb(tokens_t) + self.box_in(boxes_t) + self.slot_pos[:, :n]
        if self.cfg.time_conditioning == "add":
            x = x + temb[:, None]
        for block in self.blocks:
            x = block(x, memory, temb)
        shift, scale = self.final_mod(F.silu(temb)).unsqueeze(1).chunk(2, dim=-1)
        h = _modulate(self.final_norm(x), shift, scale)
        boxes = torch.sigmoid(self.box_head(h))
        if self.regions is None:
            return ModelOutput(self.token_head(h), boxes, memory)
        # The reader's logits are added, not its features, and by default they alone name the
        # section: the denoiser, seeing the whole page, learns to recognise a training page and
        # recall its sections (held-out token accuracy fell to half the reader's alone, on the
        # 185-source synthetic set); it keeps what it is good at, whether a slot holds a section.
        taught = None
        if teacher_boxes is None:
            read = self.regions(images, boxes, drop_cond)
        else:  # one crop + CNN pass over both sets of boxes
            read, taught = self.regions(images, torch.cat([boxes, teacher_boxes.to(boxes.dtype)], 1),
                                        drop_cond).split(n, dim=1)
        z = self.token_head(h)
        if self.pad_only:
            z = F.pad(z, (PAD, self.cfg.vocab_size - 1 - PAD))
        logits = z + read
        return ModelOutput(logits, boxes, memory, taught)

    def forward(
        self,
        images: torch.Tensor,
        tokens_t: torch.Tensor,
        boxes_t: torch.Tensor,
        t: torch.Tensor,
        drop_cond: torch.Tensor | None = None,
    ) -> ModelOutput:
        return self.denoise(self.encode_image(images), tokens_t, boxes_t, t, drop_cond, images)

    def read_regions(self, images: torch.Tensor, boxes: torch.Tensor,
                     drop_cond: torch.Tensor | None = None) -> torch.Tensor | None:
        """The region reader's token logits [B,N,V] at ``boxes`` (normalised cxcywh) when it
        alone names sections (``token_from="region"``), else None."""
        return self.regions(images, boxes, drop_cond) if self.pad_only else None

    # -- pooled embeddings for the visual-structural alignment term -------------------------
    def image_embedding(self, memory: torch.Tensor) -> torch.Tensor:
        """Mean-pooled image tokens -> [B, proj_dim]."""
        return self.image_proj(memory.mean(dim=1))

    def structure_embedding(
        self, tokens: torch.Tensor, boxes: torch.Tensor, slot_mask: torch.Tensor
    ) -> torch.Tensor:
        """The clean structure (token + box per real slot, mean-pooled) -> [B, proj_dim].
        Shares the denoiser's token embedding, so aligning it with the image shapes the
        embedding the denoiser reads."""
        x = self.token_emb(tokens) + self.box_in(boxes * 2 - 1)
        w = slot_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * w).sum(1) / w.sum(1).clamp_min(1)
        return self.struct_proj(pooled)


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel / DataParallel wrapper (or the model)."""
    return getattr(model, "module", model)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_groups(model: DiffusionSectionTransformer) -> dict[str, list[nn.Parameter]]:
    """Named parameter groups from input to output: "stem", "encoder.0", ..., "neck",
    "denoiser", "heads". Every parameter is in exactly one group."""
    groups: dict[str, list[nn.Module | nn.Parameter]] = dict(model.encoder.groups())
    groups["denoiser"] = [model.token_emb, model.box_in, model.slot_pos, model.time_mlp,
                          model.null_cond, model.blocks]
    groups["heads"] = [model.final_norm, model.final_mod, model.token_head, model.box_head,
                       model.image_proj, model.struct_proj]
    if model.regions is not None:
        groups["heads"].append(model.regions)
    out: dict[str, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for name, items in groups.items():
        params = []
        for item in items:
            for p in [item] if isinstance(item, nn.Parameter) else item.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        out[name] = params
    missing = [n for n, p in model.named_parameters() if id(p) not in seen]
    if missing:
        raise RuntimeError(f"parameters outside every layer group: {missing}")
    return out


def parameter_summary(model: DiffusionSectionTransformer) -> str:
    """A printable table of parameters per layer group and in total."""
    lines = [f"{name:<12} {sum(p.numel() for p in ps):>12,}" for name, ps in layer_groups(model).items()]
    lines.append(f"{'total':<12} {count_parameters(model):>12,}")
    return "\n".join(lines)


def build_model(preset: str, vocab_size: int, **overrides: Any) -> DiffusionSectionTransformer:
    return DiffusionSectionTransformer(model_config(preset, vocab_size, **overrides))

"""Image encoders: an aspect-true canvas [B,3,H,W] -> features for the denoiser and the reader.

Every encoder returns :class:`Features`: a *fine* map at stride 4 (what the reader and the
denoiser pool at a box, fine enough that a 17-pixel section still spans four rows) and
*tokens* at stride 16 with a padding mask (what the denoiser cross-attends to). Canvases are
padded below the page to the batch's tallest (train.data.inputs); the padding is masked out
of attention and zeroed after every convolution stage, so a page's features do not depend
on what it was batched with.

- ``conv`` (default): a small CNN with batch norm (stride 2, 4, 8, 16; the stride-1 convs
  residual), learned row and column positions, and a pre-norm transformer over the tokens.
  Convolutions first: at 128 px a text line is 1-2 pixels tall, below any patch size. The
  tokens, which see the whole page, flow back into the fine map (the top-down path of a
  feature pyramid, Lin et al. 2017): a box pooled from the stride-4 map alone sees ~15
  pixels around each point, too little to tell where the section it sits in ends (a
  denoiser reading such features gave back near-true boxes no better than it got them).
- ``resnet18``: torchvision's, ``weights=None`` and, when a path is given, loaded from that
  local file (nothing is downloaded): layer1 is the fine map, layer3 the tokens.
- ``vit_b_16``: torchvision's ViT-B/16 with its position embeddings resampled to the
  canvas grid; the tokens double as the (stride 16) fine map. For GPUs: 86M parameters.
- ``efficientnet_lite0``: timm's, with the ImageNet weights an installed package ships
  (train.model.efficientnet): the pretrained backbone of phase 1, its default.

Besides the grid tokens, every encoder's memory holds *axis tokens* (:class:`AxisTokens`): one
per row of the fine map (its mean over the page's width) and one per column (its mean over the
page's height), each with a learned position. A page is a stack of bands; where one ends is a
change between two rows of stride 4, which the stride-16 grid cannot place and a box's pooled
features cannot see when the box is off. (Grid tokens and pooled boxes alone: a denoiser
given near-true boxes, or the same 16 pages for 300 steps, returned boxes at IoU ~0.77.)

Each encoder exposes ``groups()``: its named layer groups from input to output so a
training strategy can freeze and unfreeze them (train.unfreeze). Which one a model builds is
train.model.backbones (the `ENCODERS` registry).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18, vit_b_16

from .recompute import run_block


@dataclass
class Features:
    fine: torch.Tensor  # [B, C, H/s, W/s] at stride ``fine_stride``
    fine_stride: int
    tokens: torch.Tensor  # [B, L, D]
    token_pad: torch.Tensor  # [B, L] bool, True = padding (masked out of attention)
    extent: torch.Tensor  # [B, 2] float: the page's (width, height) on the canvas, pixels
    canvas: tuple[int, int]  # (width, height) of the full canvas
    pixel_rows: torch.Tensor | None = None  # [B, 9, H] each canvas row's colour profile (pixel_row_profile)

    def select(self, idx: torch.Tensor) -> "Features":
        """The features of the samples ``idx`` (a TDC group, a guidance half)."""
        return Features(self.fine[idx], self.fine_stride, self.tokens[idx], self.token_pad[idx],
                        self.extent[idx], self.canvas, None if self.pixel_rows is None else self.pixel_rows[idx])

    def repeat(self, n: int) -> "Features":
        return Features(self.fine.repeat(n, 1, 1, 1), self.fine_stride, self.tokens.repeat(n, 1, 1),
                        self.token_pad.repeat(n, 1), self.extent.repeat(n, 1), self.canvas,
                        None if self.pixel_rows is None else self.pixel_rows.repeat(n, 1, 1))

    def page_shape(self, batch_idx: torch.Tensor) -> torch.Tensor:
        """[K, 2]: the page's width and height as shares of the canvas, for samples ``batch_idx``."""
        return self.extent[batch_idx] / torch.tensor(self.canvas, dtype=self.extent.dtype, device=self.extent.device)


class AxisTokens(nn.Module):
    """Row and column profiles of the fine map as tokens: [B, rows + cols, D] and their padding."""

    def __init__(self, channels: int, d: int, max_rows: int, max_cols: int) -> None:
        super().__init__()
        self.row_in = nn.Sequential(nn.Linear(channels, d), nn.LayerNorm(d))
        self.col_in = nn.Sequential(nn.Linear(channels, d), nn.LayerNorm(d))
        self.row_pos = nn.Parameter(torch.randn(max_rows, d) * 0.02)
        self.col_pos = nn.Parameter(torch.randn(max_cols, d) * 0.02)

    def forward(self, fine: torch.Tensor, extent: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
        B, C, H, W = fine.shape
        rows = torch.ceil(extent[:, 1] / stride).long().clamp(1, H)
        cols = torch.ceil(extent[:, 0] / stride).long().clamp(1, W)
        row_valid = torch.arange(H, device=fine.device)[None] < rows[:, None]  # [B, H]
        col_valid = torch.arange(W, device=fine.device)[None] < cols[:, None]  # [B, W]
        x = fine.float()
        by_row = (x * col_valid[:, None, None, :]).sum(3) / cols[:, None, None]  # [B, C, H]
        by_col = (x * row_valid[:, None, :, None]).sum(2) / rows[:, None, None]  # [B, C, W]
        tokens = torch.cat([self.row_in(by_row.transpose(1, 2).to(fine.dtype)) + self.row_pos[:H],
                            self.col_in(by_col.transpose(1, 2).to(fine.dtype)) + self.col_pos[:W]], 1)
        return tokens, torch.cat([~row_valid, ~col_valid], 1)


def pixel_row_profile(x: torch.Tensor, extent: torch.Tensor) -> torch.Tensor:
    """[B, 9, H]: per canvas row of the normalised image ``x`` [B, 3, H, W], the mean and the
    standard deviation of each channel over the page's columns, and how much the mean changed
    from the row above. Where one section band ends and the next begins, the background
    changes from one pixel row to the next: the stride-4 map cannot place that to the pixel,
    these profiles can (train.model.dense)."""
    B, _, H, W = x.shape
    cols = extent[:, 0].float().clamp(1, W)
    valid = (torch.arange(W, device=x.device)[None] < cols[:, None]).to(x.dtype)[:, None, None, :]  # [B,1,1,W]
    n = cols.view(B, 1, 1).to(x.dtype)
    mean = (x * valid).sum(3) / n
    std = (((x - mean[..., None]) ** 2 * valid).sum(3) / n).clamp_min(0).sqrt()
    change = torch.cat([torch.zeros_like(mean[..., :1]), (mean[..., 1:] - mean[..., :-1]).abs()], 2)
    return torch.cat([mean, std, change], 1)


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file, unwrapping the usual checkpoint containers."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


def row_mask(valid_rows: torch.Tensor, rows: int) -> torch.Tensor:
    """[B, 1, rows, 1] float: 1 on a page's rows, 0 on the padding below it."""
    r = torch.arange(rows, device=valid_rows.device)
    return (r[None, :] < valid_rows[:, None]).to(torch.float32)[:, None, :, None]


def _mask(x: torch.Tensor, pixel_rows: torch.Tensor, stride: int) -> torch.Tensor:
    rows = torch.ceil(pixel_rows / stride).long()
    return x * row_mask(rows, x.shape[2]).to(x.dtype)


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.GELU())


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = ConvBN(c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class GridPositions(nn.Module):
    """Learned row + column embeddings for a token grid of up to ``rows`` x ``cols``."""

    def __init__(self, rows: int, cols: int, d: int) -> None:
        super().__init__()
        self.row = nn.Parameter(torch.randn(rows, d) * 0.02)
        self.col = nn.Parameter(torch.randn(cols, d) * 0.02)

    def forward(self, h: int, w: int) -> torch.Tensor:
        return (self.row[:h, None, :] + self.col[None, :w, :]).reshape(h * w, -1)


def top_down(proj: nn.Module, tokens: torch.Tensor, grid_shape: torch.Size, fine_shape: torch.Size) -> torch.Tensor:
    """Tokens [B, h*w, D] on their grid, projected and upsampled (nearest) to the fine map."""
    B, _, h, w = grid_shape
    grid = tokens.transpose(1, 2).reshape(B, -1, h, w)
    return F.interpolate(proj(grid), size=fine_shape[-2:], mode="nearest")


def _tokens(x: torch.Tensor, pixel_rows: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A stride-``stride`` map [B,D,h,w] -> tokens [B, h*w, D] and their padding mask."""
    B, _, h, w = x.shape
    rows = torch.ceil(pixel_rows / stride).long().clamp(min=1)
    pad = (torch.arange(h, device=x.device)[None, :] >= rows[:, None])[:, :, None].expand(B, h, w)
    return x.flatten(2).transpose(1, 2), pad.reshape(B, h * w)


class ConvEncoder(nn.Module):
    def __init__(self, cfg: Any) -> None:
        super().__init__()
        c, d = cfg.stem_channels, cfg.d_model
        self.stem = ConvBN(3, c, stride=2)
        self.stage1 = nn.Sequential(ConvBN(c, 2 * c, stride=2), Residual(2 * c))  # stride 4: fine
        self.stage2 = nn.Sequential(ConvBN(2 * c, 4 * c, stride=2), Residual(4 * c))  # stride 8
        self.stage3 = nn.Conv2d(4 * c, d, 3, stride=2, padding=1)  # stride 16: tokens
        self.pos = GridPositions(cfg.canvas_height // 16, cfg.canvas_width // 16, d)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.ff_mult * d, cfg.dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(cfg.encoder_layers))
        self.norm = nn.LayerNorm(d)
        self.top_down = nn.Conv2d(d, 2 * c, 1)
        self.fine_channels = 2 * c
        self.checkpointing = cfg.checkpointing  # the blocks' activations recomputed in backward (train.model.recompute)

    def forward(self, images: torch.Tensor,
                pixel_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = _mask(self.stem(images), pixel_rows, 2)
        fine = _mask(self.stage1(x), pixel_rows, 4)
        x = _mask(self.stage2(fine), pixel_rows, 8)
        x = self.stage3(x)
        tokens, pad = _tokens(x, pixel_rows, 16)
        tokens = tokens + self.pos(x.shape[2], x.shape[3])
        for block in self.blocks:
            tokens = run_block(block, self.checkpointing, tokens, src_key_padding_mask=pad)
        tokens = self.norm(tokens)
        return _mask(fine + top_down(self.top_down, tokens, x.shape, fine.shape), pixel_rows, 4), tokens, pad

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.stem], "encoder.0": [self.stage1],
                                                          "encoder.1": [self.stage2]}
        out.update({f"encoder.{i + 2}": [b] for i, b in enumerate(self.blocks)})
        out["neck"] = [self.stage3, self.pos, self.norm, self.top_down]
        return out


class ResNetEncoder(nn.Module):
    """torchvision resnet18: layer1 (stride 4, 64 channels) is the fine map; layer3
    (stride 16) is projected to ``d_model`` tokens with learned grid positions."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        net = resnet18(weights=None)
        if cfg.weights_path:
            net.load_state_dict(load_state_file(cfg.weights_path))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3])
        self.proj = nn.Conv2d(256, cfg.d_model, 1)
        self.pos = GridPositions(cfg.canvas_height // 16, cfg.canvas_width // 16, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.top_down = nn.Conv2d(cfg.d_model, 64, 1)
        self.fine_channels = 64

    def forward(self, images: torch.Tensor,
                pixel_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = _mask(self.stem(images), pixel_rows, 4)
        fine = x = _mask(self.layers[0](x), pixel_rows, 4)
        x = _mask(self.layers[1](x), pixel_rows, 8)
        x = self.proj(self.layers[2](x))
        tokens, pad = _tokens(x, pixel_rows, 16)
        tokens = self.norm(tokens + self.pos(x.shape[2], x.shape[3]))
        return _mask(fine + top_down(self.top_down, tokens, x.shape, fine.shape), pixel_rows, 4), tokens, pad

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.stem]}
        out.update({f"encoder.{i}": [m] for i, m in enumerate(self.layers)})
        out["neck"] = [self.proj, self.pos, self.norm, self.top_down]
        return out


class ViTEncoder(nn.Module):
    """torchvision vit_b_16 on the canvas grid: its 14x14 position embeddings resampled
    (bicubic) to the grid of each batch, padding tokens masked out of every attention."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        net = vit_b_16(weights=None)
        if cfg.weights_path:
            net.load_state_dict(load_state_file(cfg.weights_path))
        self.conv_proj = net.conv_proj
        self.pos_embedding = nn.Parameter(net.encoder.pos_embedding.detach()[:, 1:].clone())  # class token dropped
        self.layers = net.encoder.layers
        self.ln = net.encoder.ln
        self.proj = nn.Linear(net.hidden_dim, cfg.d_model)
        self.fine_channels = cfg.d_model
        self.checkpointing = cfg.checkpointing

    def forward(self, images: torch.Tensor,
                pixel_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.conv_proj(images)
        B, D, h, w = x.shape
        side = int(self.pos_embedding.shape[1] ** 0.5)
        grid = self.pos_embedding.reshape(1, side, side, D).permute(0, 3, 1, 2)
        pos = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
        tokens, pad = _tokens(x, pixel_rows, 16)
        tokens = tokens + pos
        for layer in self.layers:
            tokens = run_block(_vit_block, self.checkpointing, layer, tokens, pad)
        tokens = self.proj(self.ln(tokens))
        fine = tokens.masked_fill(pad[..., None], 0).transpose(1, 2).reshape(B, -1, h, w)
        return fine, tokens, pad

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.conv_proj, self.pos_embedding]}
        out.update({f"encoder.{i}": [m] for i, m in enumerate(self.layers)})
        out["neck"] = [self.ln, self.proj]
        return out


def _vit_block(layer: nn.Module, tokens: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """torchvision's ViT EncoderBlock, with a padding mask."""
    y = layer.ln_1(tokens)
    y = layer.self_attention(y, y, y, key_padding_mask=pad, need_weights=False)[0]
    tokens = tokens + layer.dropout(y)
    return tokens + layer.mlp(layer.ln_2(tokens))

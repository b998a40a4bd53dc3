"""Image encoders: screenshot [B,3,S,S] -> image tokens [B,L,D] for the denoiser to attend to.

- ``PatchEncoder`` (default): a small convolutional stem that cuts the image into
  ``patch_size`` patches (early convolutions train more stably than a single linear
  patchify, Xiao et al. 2021), learned positions, and a pre-norm transformer.
- ``ResNetEncoder`` / ``ViTEncoder``: torchvision ``resnet18`` / ``vit_b_16`` built with
  ``weights=None`` and, when a path is given, loaded from that local file (nothing is
  downloaded), followed by a new linear "neck" to the model width.

Each encoder exposes ``groups()``: its named layer groups from input to output ("stem",
"encoder.0", ..., "neck") so a training strategy can freeze and unfreeze them. (A frozen
ResNet group should also be put in ``eval()``, so that its BatchNorm statistics stay those of
the weights file.)
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18, vit_b_16
from torchvision.models.vision_transformer import interpolate_embeddings


def load_state_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file, unwrapping the usual checkpoint containers."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    return state


class PatchEncoder(nn.Module):
    def __init__(
        self, image_size: int, patch_size: int, d_model: int, layers: int, heads: int,
        ff_mult: int, dropout: float, stem_channels: int,
    ) -> None:
        super().__init__()
        if patch_size % 4 or image_size % patch_size:
            raise ValueError("patch_size must be a multiple of 4 dividing image_size")
        c = stem_channels
        k = patch_size // 4
        # Two stride-2 3x3 convs then a k x k stride-k conv: total stride = patch_size.
        self.stem = nn.Sequential(
            nn.Conv2d(3, c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * c, d_model, k, stride=k),
        )
        grid = image_size // patch_size
        self.pos = nn.Parameter(torch.randn(1, grid * grid, d_model) * 0.02)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model, heads, ff_mult * d_model, dropout, activation="gelu",
                batch_first=True, norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images).flatten(2).transpose(1, 2) + self.pos
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.stem, self.pos]}
        out.update({f"encoder.{i}": [b] for i, b in enumerate(self.blocks)})
        out["neck"] = [self.norm]
        return out


class ResNetEncoder(nn.Module):
    """torchvision resnet18 up to ``layer4`` (stride 32), then 1x1 conv to ``d_model``."""

    def __init__(self, image_size: int, d_model: int, weights_path: str | None) -> None:
        super().__init__()
        net = resnet18(weights=None)
        if weights_path:
            net.load_state_dict(load_state_file(weights_path))
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layers = nn.ModuleList([net.layer1, net.layer2, net.layer3, net.layer4])
        self.proj = nn.Conv2d(512, d_model, 1)
        grid = -(-image_size // 32)
        # Convolutions only see position at the borders; the denoiser needs to know where.
        self.pos = nn.Parameter(torch.randn(1, grid * grid, d_model) * 0.02)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.stem(images)
        for layer in self.layers:
            x = layer(x)
        x = self.proj(x).flatten(2).transpose(1, 2)
        return self.norm(x + self.pos[:, : x.shape[1]])

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.stem]}
        out.update({f"encoder.{i}": [m] for i, m in enumerate(self.layers)})
        out["neck"] = [self.proj, self.pos, self.norm]
        return out


class ViTEncoder(nn.Module):
    """torchvision vit_b_16 at ``image_size`` (a multiple of 16); all its tokens, class
    token included, projected to ``d_model``. Weights saved for another image size have
    their position embeddings interpolated (torchvision's ``interpolate_embeddings``)."""

    def __init__(self, image_size: int, d_model: int, weights_path: str | None) -> None:
        super().__init__()
        net = vit_b_16(weights=None, image_size=image_size)
        if weights_path:
            state = load_state_file(weights_path)
            state = interpolate_embeddings(image_size, 16, state)
            net.load_state_dict(state)
        self.conv_proj = net.conv_proj
        self.class_token = net.class_token
        self.pos_embedding = net.encoder.pos_embedding
        self.dropout = net.encoder.dropout
        self.layers = net.encoder.layers
        self.ln = net.encoder.ln
        self.proj = nn.Linear(net.hidden_dim, d_model)
        self.image_size, self.patch_size = image_size, 16

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.dropout(x + self.pos_embedding)
        for layer in self.layers:
            x = layer(x)
        return self.proj(self.ln(x))

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        out: dict[str, list[nn.Module | nn.Parameter]] = {
            "stem": [self.conv_proj, self.class_token, self.pos_embedding]
        }
        out.update({f"encoder.{i}": [m] for i, m in enumerate(self.layers)})
        out["neck"] = [self.ln, self.proj]
        return out


def build_encoder(cfg) -> nn.Module:
    """The encoder named by ``cfg.encoder`` ("patch", "resnet18" or "vit_b_16")."""
    if cfg.encoder == "patch":
        return PatchEncoder(
            cfg.image_size, cfg.patch_size, cfg.d_model, cfg.encoder_layers, cfg.num_heads,
            cfg.ff_mult, cfg.dropout, cfg.stem_channels,
        )
    if cfg.encoder == "resnet18":
        return ResNetEncoder(cfg.image_size, cfg.d_model, cfg.weights_path)
    if cfg.encoder == "vit_b_16":
        return ViTEncoder(cfg.image_size, cfg.d_model, cfg.weights_path)
    raise ValueError(f"unknown encoder {cfg.encoder!r}")

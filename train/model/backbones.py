"""The image encoders by name: the `ENCODERS` registry and `build_encoder`, its one dispatch.

Apart from train.model.encoders (the encoders and the pieces they share) so that
train.model.efficientnet, which builds on those pieces, is imported by the registry alone and
only when its encoder is built (it needs timm, an optional extra): no import circle.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import nn

from .encoders import ConvEncoder, ResNetEncoder, ViTEncoder


def efficientnet_lite0(cfg: Any) -> nn.Module:
    """train.model.efficientnet's encoder, imported when built: it needs timm, an optional extra."""
    from .efficientnet import EfficientNetLite0Encoder

    return EfficientNetLite0Encoder(cfg)


ENCODERS: dict[str, tuple[Callable[[Any], nn.Module], int]] = {
    "conv": (ConvEncoder, 4),
    "resnet18": (ResNetEncoder, 4),
    "vit_b_16": (ViTEncoder, 16),
    "efficientnet_lite0": (efficientnet_lite0, 4),
}


def build_encoder(cfg: Any) -> tuple[nn.Module, int]:
    """(encoder named by ``cfg.encoder``, stride of its fine map)."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {cfg.encoder!r}; choose from {sorted(ENCODERS)}")
    build, stride = ENCODERS[cfg.encoder]
    return build(cfg), stride

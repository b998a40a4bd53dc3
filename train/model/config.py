"""The model's configuration and size presets: the one owner of every model setting.

`ModelConfig` is everything a checkpoint needs to rebuild the network. The trainer's config
only names a preset and a table of overrides (`TrainConfig.model`), validated here.

The input is an *aspect-true canvas* (train.data.inputs): a fixed width ``canvas_width`` and
a height of up to ``max_aspect`` widths, so a tall page stays tall; boxes are normalised to
that canvas (x by its width, y by its full height).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ModelConfig:
    """Sizes of the encoder, the set denoiser and the reader, plus the factor vocabularies."""

    num_types: int  # section types (shards.tokens.SECTION_TYPES)
    num_roles: int  # child roles (shards.tokens.ROLES); the children head adds an end marker
    num_raw: int  # raw-token vocabulary (manifest counts, with PAD/MASK/UNK ids)
    max_children: int = 4
    num_regions: int = 6  # region types (shards.tokens.REGION_TYPES): each section's region is read too
    canvas_width: int = 128
    max_aspect: int = 4  # canvas height = max_aspect * canvas_width
    encoder: str = "conv"  # conv | resnet18 | vit_b_16 | efficientnet_lite0 (train.model.backbones.ENCODERS)
    # a local state dict for a backbone encoder; for efficientnet_lite0 model_config() puts the
    # installed ImageNet weights' path here when unset, and "" means none (random initialisation)
    weights_path: str | None = None
    stem_channels: int = 24
    d_model: int = 128
    encoder_layers: int = 2
    denoiser_layers: int = 2
    num_heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    proposals: int = 32  # N section proposals denoised as a set (DiffusionDet)
    roi_size: tuple[int, int] = (4, 8)  # (rows, cols) pooled inside a proposal's box by the denoiser
    read_size: tuple[int, int] = (6, 12)  # (rows, cols) pooled at a section's box by the reader
    num_timesteps: int = 100
    box_scale: float = 2.0  # signal scale of the box diffusion (DiffusionDet's SNR factor)
    cond_drop_prob: float = 0.1  # classifier-free guidance: image condition dropped in training
    proj_dim: int = 64  # width of the pooled embeddings of the alignment (InfoNCE) term
    few_shot: bool = False  # few-shot context layers (train.model.context); off: the model has none
    # activation checkpointing of the encoder's and the denoiser's transformer blocks (train.model.recompute):
    # the same results in less memory for ~1.1-1.3x the step time; on in phases 3-4
    checkpointing: bool = False

    @property
    def canvas_height(self) -> int:
        return self.canvas_width * self.max_aspect

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        for k in ("roi_size", "read_size"):  # JSON gives lists
            if k in kw:
                kw[k] = tuple(kw[k])
        return cls(**kw)


# Parameter counts and step times per preset are in docs/training.md; "micro" is the phase-1 model.
PRESETS: dict[str, dict[str, Any]] = {
    "micro": dict(canvas_width=128, stem_channels=24, d_model=128, encoder_layers=2, denoiser_layers=2,
                  num_heads=4, ff_mult=2, proj_dim=64, dropout=0.3, proposals=32),
    "small": dict(canvas_width=256, stem_channels=32, d_model=192, encoder_layers=3, denoiser_layers=3,
                  num_heads=6, ff_mult=2, proj_dim=128, dropout=0.2, proposals=48),
    "medium": dict(canvas_width=384, stem_channels=48, d_model=256, encoder_layers=4, denoiser_layers=4,
                   num_heads=8, ff_mult=4, proj_dim=128, dropout=0.1, proposals=64),
    "large": dict(canvas_width=512, stem_channels=64, d_model=384, encoder_layers=6, denoiser_layers=6,
                  num_heads=8, ff_mult=4, proj_dim=256, dropout=0.1, proposals=100),
}
# Fields set from the data, never by a user.
FROM_DATA = ("num_types", "num_roles", "num_raw", "max_children", "num_regions")


def model_config(preset: str, *, num_types: int, num_roles: int, num_raw: int, max_children: int = 4,
                 num_regions: int = 6, **overrides: Any) -> ModelConfig:
    """The config of a size preset ("micro", "small", "medium", "large") with overrides."""
    errors = model_config_errors(preset, overrides)
    if errors:
        raise ValueError("; ".join(errors))
    kw = {**PRESETS[preset], **overrides}
    if kw.get("encoder") == "efficientnet_lite0" and kw.get("weights_path") is None:
        from .efficientnet import packaged_weights

        kw["weights_path"] = packaged_weights()  # there: model_config_errors said so
    for k in ("roi_size", "read_size"):
        if k in kw:
            kw[k] = tuple(kw[k])
    return ModelConfig(num_types=num_types, num_roles=num_roles, num_raw=num_raw,
                       max_children=max_children, num_regions=num_regions, **kw)


def model_config_errors(preset: str, overrides: dict[str, Any]) -> list[str]:
    """Every problem with a preset name and a table of overrides, as messages naming them."""
    from .backbones import ENCODERS

    if preset not in PRESETS:
        return [f"config 'preset' must be one of {sorted(PRESETS)}, found {preset!r}"]
    names = {f.name for f in dataclasses.fields(ModelConfig)} - set(FROM_DATA)
    errors = [f"config 'model.{k}' is not a model setting; known: {', '.join(sorted(names))}"
              for k in sorted(set(overrides) - names)]
    v = {**PRESETS[preset], **{k: x for k, x in overrides.items() if k in names}}

    def pos_int(name: str, lo: int = 1) -> None:
        x = v.get(name, getattr(ModelConfig, name, None))
        if not (isinstance(x, int) and not isinstance(x, bool) and x >= lo):
            errors.append(f"config 'model.{name}' must be an integer >= {lo}, found {x!r}")

    for name in ("stem_channels", "d_model", "encoder_layers", "denoiser_layers", "num_heads", "ff_mult",
                 "proposals", "num_timesteps", "proj_dim", "max_aspect"):
        pos_int(name)
    pos_int("canvas_width", 32)
    if isinstance(v.get("canvas_width"), int) and v["canvas_width"] % 16:
        errors.append(f"config 'model.canvas_width' must be a multiple of 16, found {v['canvas_width']}")
    if isinstance(v.get("d_model"), int) and isinstance(v.get("num_heads"), int) and v["num_heads"] > 0 \
            and v["d_model"] % v["num_heads"]:
        errors.append(f"config 'model.d_model' ({v['d_model']}) must be divisible by "
                      f"'model.num_heads' ({v['num_heads']})")
    enc = v.get("encoder", "conv")
    if enc not in ENCODERS:
        errors.append(f"config 'model.encoder' must be one of {sorted(ENCODERS)}, found {enc!r}")
    drop = v.get("dropout", 0.1)
    if not (isinstance(drop, (int, float)) and 0 <= drop < 1):
        errors.append(f"config 'model.dropout' must be in [0, 1), found {drop!r}")
    cdp = v.get("cond_drop_prob", 0.1)
    if not (isinstance(cdp, (int, float)) and 0 <= cdp < 1):
        errors.append(f"config 'model.cond_drop_prob' must be in [0, 1), found {cdp!r}")
    for k in ("roi_size", "read_size"):
        size = v.get(k, (4, 8))
        if not (isinstance(size, (list, tuple)) and len(size) == 2
                and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size)):
            errors.append(f"config 'model.{k}' must be [rows, cols] integers >= 1, found {size!r}")
    scale = v.get("box_scale", 2.0)
    if not (isinstance(scale, (int, float)) and scale > 0):
        errors.append(f"config 'model.box_scale' must be a number > 0, found {scale!r}")
    if not isinstance(v.get("checkpointing", False), bool):
        errors.append(f"config 'model.checkpointing' must be true or false, found {v['checkpointing']!r}")
    wp = v.get("weights_path")
    if wp is not None and not isinstance(wp, str):
        errors.append(f"config 'model.weights_path' must be a file path, found {wp!r}")
    elif wp and not Path(wp).is_file():
        errors.append(f"config 'model.weights_path' must be a file path, found {wp!r}, which is not a file")
    if enc == "efficientnet_lite0":
        from .efficientnet import INSTALL, packaged_weights, timm_available

        if not timm_available():
            errors.append(f"config 'model.encoder' = 'efficientnet_lite0' needs timm, not installed: {INSTALL}")
        if wp is None and packaged_weights() is None:
            errors.append("config 'model.encoder' = 'efficientnet_lite0' needs its ImageNet weights, which are not "
                          f"installed: {INSTALL} (or set 'model.weights_path' to a local EfficientNet-Lite0 state "
                          "dict, or to '' for none)")
    return errors

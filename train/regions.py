"""Region reading: what the screenshot shows inside each slot's box, as token logits per slot.

Why it exists: a section's token is named by the layout *inside* its box (a heading over three
cards, a form beside a paragraph), and that layout lives at a scale finer than the image
tokens the denoiser cross-attends to (an 8-pixel patch of a 128-pixel canvas is ~80 page
pixels; a 1280x3000 page letterboxed into the square leaves a section some 40x15 canvas
pixels). Through cross-attention alone the token head stayed at the layout prior's accuracy
on held-out pages after ~1,000 CPU steps, while boxes and counts were learned; it could
recognise a *training* page from its image tokens and recall that page's sections, which
does not carry to new pages. The reader instead crops each slot's box out of the canvas with
``torchvision.ops.roi_align`` at a fixed ``R x R`` (the RoI pooling of two-stage detectors,
Fast R-CNN, Girshick 2015), encodes the crop with a small CNN and names the section from
that crop and the box alone. By default its logits alone name the section (the denoiser's
token head adds only the empty-slot logit; ``ModelConfig.token_from``).

Which box: in the model, the denoiser's own clean-box prediction for the slot (detached), not
the noisy input box, so the reader looks where the model currently believes the section is,
at every timestep, in training and in sampling alike; the region loss
(:mod:`train.losses.region`) also trains it at the true boxes. Each crop is centred on its
mean colour (the layout, not the palette, names a section) and the mean is given back as
three separate features. A slot whose sample runs unconditionally (classifier-free
guidance) gets learned null logits instead, so the unconditional model sees nothing of the
image.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import box_convert, roi_align


def crop_regions(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crops [B*N, 3, size, size] of ``images`` [B,3,S,S] at ``boxes`` [B,N,4] (normalised
    cxcywh on the canvas), bilinear, in slot order (sample-major)."""
    S = images.shape[-1]
    xyxy = box_convert(boxes.detach().to(images.dtype), "cxcywh", "xyxy").clamp(0, 1) * S
    return roi_align(images, list(xyxy.unbind(0)), output_size=size, sampling_ratio=2, aligned=True)


class RegionReader(nn.Module):
    """Crops at the slots' boxes -> token logits [B, N, V]: a 3-conv CNN over the mean-centred
    crop, concatenated with the crop's mean colour and its box, then an MLP to the vocabulary."""

    def __init__(self, d_model: int, size: int, vocab_size: int, channels: int = 32) -> None:
        super().__init__()
        if size < 4:
            raise ValueError(f"region_size must be at least 4 pixels (or 0 for no region reader), found {size}")
        c = channels
        self.size = size
        self.cnn = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.GELU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(2 * c + 3 + 4, d_model), nn.GELU(), nn.Linear(d_model, vocab_size))
        self.null = nn.Parameter(torch.zeros(1, 1, vocab_size))

    def forward(self, images: torch.Tensor, boxes: torch.Tensor,
                drop_cond: torch.Tensor | None = None) -> torch.Tensor:
        B, N = boxes.shape[:2]
        crops = crop_regions(images, boxes, self.size)
        mean = crops.mean(dim=(2, 3))
        feats = torch.cat([self.cnn(crops - mean[..., None, None]), mean,
                           boxes.detach().reshape(B * N, 4).to(crops.dtype)], dim=1)
        out = self.head(feats).view(B, N, -1)
        if drop_cond is not None:
            out = torch.where(drop_cond[:, None, None], self.null.to(out.dtype).expand_as(out), out)
        return out

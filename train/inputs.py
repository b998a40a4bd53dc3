"""From a decoded sample to model tensors: THE tokenization shared by training and evaluation.

A decoded sample is ``(image, meta)``: an RGB uint8 array H x W x 3 and a dict with
``"size": [w, h]`` and ``"sections": [{"token": str, "box": [x, y, w, h] | None}, ...]``
ordered top to bottom, boxes in image pixels.

- The screenshot is letterboxed to S x S: scaled so its long side is S (aspect kept),
  centred, and padded with the normalisation mean (so padding is 0 after normalising).
- Sections fill up to ``max_slots`` slots in page order; the rest are PAD. Boxes become
  normalised (cx, cy, w, h) on the padded canvas, so a predicted box maps back to the page
  with :func:`boxes_to_pixels`. A section without a box keeps its token but has
  ``box_mask`` False, which takes it out of every box loss and box metric.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import cv2
import numpy as np
import torch

from .vocab import PAD, Vocab

# ImageNet statistics: torchvision backbones are trained with them, and the patch encoder
# does not care which constants it gets.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return image[:, :, :3]
    return image


def letterbox_geometry(w: int, h: int, size: int) -> tuple[float, tuple[int, int], tuple[int, int]]:
    """Where a w x h image lands on the S x S canvas: ``(scale, (pad_x, pad_y), (new_w, new_h))``."""
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    return scale, ((size - new_w) // 2, (size - new_h) // 2), (new_w, new_h)


def letterbox(image: np.ndarray, size: int) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """Scale ``image`` so its long side is ``size``, centre it on a ``size`` x ``size``
    canvas and normalise. Returns ``(tensor 3xSxS float32, scale, (pad_x, pad_y))`` where a
    pixel (x, y) of the input lands at (x * scale + pad_x, y * scale + pad_y)."""
    image = _as_rgb(np.asarray(image))
    h, w = image.shape[:2]
    scale, (pad_x, pad_y), (new_w, new_h) = letterbox_geometry(w, h, size)
    # INTER_AREA averages the pixels a target pixel covers: no aliasing of thin text lines.
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[...] = np.round(np.array(MEAN) * 255).astype(np.uint8)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    tensor = torch.from_numpy(canvas).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (tensor - mean) / std, scale, (pad_x, pad_y)


def boxes_to_canvas(
    boxes_xywh: np.ndarray, scale: float, pad: tuple[int, int], size: int
) -> np.ndarray:
    """Pixel (x, y, w, h) boxes of the source image -> normalised (cx, cy, w, h) on the
    letterboxed canvas, clipped to the canvas."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    x0 = np.clip(b[:, 0] * scale + pad[0], 0, size)
    y0 = np.clip(b[:, 1] * scale + pad[1], 0, size)
    x1 = np.clip((b[:, 0] + b[:, 2]) * scale + pad[0], 0, size)
    y1 = np.clip((b[:, 1] + b[:, 3]) * scale + pad[1], 0, size)
    out = np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1) / size
    return out.astype(np.float32)


def boxes_to_pixels(
    boxes_cxcywh: torch.Tensor, scale: float, pad: Sequence[float], size: int
) -> torch.Tensor:
    """Inverse of :func:`boxes_to_canvas`: normalised canvas (cx, cy, w, h) -> source-image
    pixel (x, y, w, h)."""
    b = boxes_cxcywh * size
    x = (b[..., 0] - b[..., 2] / 2 - pad[0]) / scale
    y = (b[..., 1] - b[..., 3] / 2 - pad[1]) / scale
    return torch.stack([x, y, b[..., 2] / scale, b[..., 3] / scale], dim=-1)


def _section_boxes(sections: Sequence[Mapping[str, Any]], sx: float, sy: float):
    boxes = np.zeros((len(sections), 4), dtype=np.float64)
    located = np.zeros(len(sections), dtype=bool)
    for i, sec in enumerate(sections):
        box = sec.get("box")
        if box is None or box[2] <= 0 or box[3] <= 0:
            continue
        boxes[i] = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
        located[i] = True
    return boxes, located


def encode_target(meta: Mapping[str, Any], image_wh: tuple[int, int], vocab: Vocab, image_size: int,
                  max_slots: int) -> dict[str, torch.Tensor]:
    """The target half of :func:`encode_sample`, from the metadata and the image's (w, h)
    alone: what needs no pixels (evaluation baselines read it without decoding images)."""
    w, h = image_wh
    scale, pad, _ = letterbox_geometry(w, h, image_size)
    sections = list(meta.get("sections", []))
    # Boxes are in image pixels; if the meta was measured on another size, rescale to this one.
    mw, mh = meta.get("size", [w, h])
    sx, sy = (w / mw if mw else 1.0), (h / mh if mh else 1.0)
    kept = sections[:max_slots]
    n = len(kept)
    tokens = torch.full((max_slots,), PAD, dtype=torch.long)
    tokens[:n] = torch.tensor(vocab.encode(s["token"] for s in kept), dtype=torch.long)
    boxes = torch.zeros(max_slots, 4)
    box_mask = torch.zeros(max_slots, dtype=torch.bool)
    if n:
        px, located = _section_boxes(kept, sx, sy)
        canvas = boxes_to_canvas(px, scale, pad, image_size)
        located &= (canvas[:, 2] > 0) & (canvas[:, 3] > 0)  # clipped to nothing: unlocated
        boxes[:n] = torch.from_numpy(canvas) * torch.from_numpy(located[:, None])
        box_mask[:n] = torch.from_numpy(located)
    return {
        "tokens": tokens,
        "boxes": boxes,
        "slot_mask": tokens != PAD,
        "box_mask": box_mask,
        "scale": torch.tensor(scale, dtype=torch.float32),
        "pad": torch.tensor(pad, dtype=torch.float32),
        "num_sections": torch.tensor(len(sections), dtype=torch.long),
    }


def encode_sample(
    image: np.ndarray,
    meta: Mapping[str, Any],
    vocab: Vocab,
    image_size: int,
    max_slots: int,
) -> dict[str, torch.Tensor]:
    """One decoded sample -> model tensors.

    Returns ``image`` [3,S,S] float, ``tokens`` [N] long (PAD past the last section),
    ``boxes`` [N,4] normalised cxcywh on the canvas (0 where unknown), ``slot_mask`` [N]
    bool (a section is there), ``box_mask`` [N] bool (its box is known and non-empty),
    ``scale`` [] and ``pad`` [2] (to map boxes back) and ``num_sections`` [] (before
    truncation to ``max_slots``: sections beyond it are dropped, the bottom of the page).
    """
    image = _as_rgb(np.asarray(image))
    h, w = image.shape[:2]
    tensor, _, _ = letterbox(image, image_size)
    return {"image": tensor, **encode_target(meta, (w, h), vocab, image_size, max_slots)}


def collate(samples: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack encoded samples into a batch (every field gains a leading batch dimension)."""
    if not samples:
        raise ValueError("cannot collate an empty list")
    return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device | str) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

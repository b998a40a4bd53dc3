"""From a decoded sample to model tensors: THE encoding shared by training, evaluation and
prediction.

A decoded sample is ``(image, meta)``: an RGB uint8 array H x W x 3 and its schema-v2
metadata (``size`` [w, h] and ``sections``: ``type``, ``children``, ``raw_token``, ``box``
[x, y, w, h] in image pixels, top to bottom).

**The aspect-true canvas.** The screenshot is scaled so its width is the canvas width W and
placed at the top left of a canvas W wide and ``max_aspect`` * W tall; a tall page stays tall
(a 1280 x 3000 page becomes 128 x 300 at W = 128, where the square letterbox of earlier
versions left it 55 pixels wide and sections a few pixels tall). A page taller than the
canvas (more than ``max_aspect`` times its width: 1280 x 5120 and beyond) is scaled to the
canvas height instead, so its width shrinks: all of the page is kept, at a smaller scale.
The image tensor holds only the page's rows, rounded up to 16; :func:`collate` pads a batch
to its tallest page with the normalisation mean and the encoder masks the padding out.

Boxes are normalised (cx, cy, w, h) by the *page*: x by its width, y by its height, so
[0, 1] x [0, 1] is the page whatever its aspect, and a prediction maps back to page pixels
with :func:`boxes_to_pixels`. (Normalised by the canvas instead, a section of a short page
is a few hundredths of the unit tall, below the box noise of even the first diffusion
steps: proposals given near-true boxes came back at IoU 0.57.) The model learns the page's
extent on the canvas from the ``extent`` field. Only sections with a box on the page are
targets; the first ``max_sections`` (page order) are kept.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import cv2
import numpy as np
import torch

from shards.schema import sample_group

from .vocab import IGNORE, Factors

ROW_MULTIPLE = 16  # the encoders' coarsest stride
PAD_COLOUR = (124, 116, 104)  # the normalisation mean in uint8: zero after normalising


def _as_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        return image[:, :, :3]
    return image


def canvas_geometry(w: int, h: int, width: int, height: int) -> tuple[float, int, int]:
    """(scale, new_w, new_h) of a w x h page on a ``width`` x ``height`` canvas."""
    scale = width / w
    if h * scale > height:
        scale = height / h
    return scale, min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))


def to_canvas(image: np.ndarray, width: int, height: int) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """``(uint8 tensor [3, rows rounded up to 16, width], scale, (cols, rows))``: the page
    scaled onto the canvas (top left, ``cols`` x ``rows`` pixels), the rest padded with the
    mean colour."""
    image = _as_rgb(np.asarray(image))
    h, w = image.shape[:2]
    scale, new_w, new_h = canvas_geometry(w, h, width, height)
    # INTER_AREA averages the pixels a target pixel covers: no aliasing of thin text lines.
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    rows = -(-new_h // ROW_MULTIPLE) * ROW_MULTIPLE
    canvas = np.empty((rows, width, 3), dtype=np.uint8)
    canvas[...] = PAD_COLOUR
    canvas[:new_h, :new_w] = resized
    return torch.from_numpy(canvas).permute(2, 0, 1).contiguous(), scale, (new_w, new_h)


def boxes_to_unit(boxes_xywh: np.ndarray, page_wh: tuple[float, float]) -> np.ndarray:
    """Pixel (x, y, w, h) boxes -> (cx, cy, w, h) normalised by the page, clipped to it."""
    b = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    pw, ph = float(page_wh[0]), float(page_wh[1])
    x0, x1 = np.clip(b[:, 0], 0, pw) / pw, np.clip(b[:, 0] + b[:, 2], 0, pw) / pw
    y0, y1 = np.clip(b[:, 1], 0, ph) / ph, np.clip(b[:, 1] + b[:, 3], 0, ph) / ph
    return np.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=1).astype(np.float32)


def boxes_to_pixels(boxes: torch.Tensor, page_wh: tuple[float, float]) -> torch.Tensor:
    """Inverse of :func:`boxes_to_unit`: page-normalised cxcywh -> page pixel (x, y, w, h)."""
    w, h = float(page_wh[0]), float(page_wh[1])
    cx, cy, bw, bh = (boxes.float() * torch.tensor([w, h, w, h])).unbind(-1)
    return torch.stack([cx - bw / 2, cy - bh / 2, bw, bh], dim=-1)


def encode_target(meta: Mapping[str, Any], image_wh: tuple[int, int], factors: Factors, width: int,
                  height: int, max_sections: int) -> dict[str, torch.Tensor]:
    """The target half of :func:`encode_sample`, from the metadata and the image's (w, h)
    alone (the layout prior reads it without decoding images)."""
    w, h = image_wh
    scale, cols, rows = canvas_geometry(w, h, width, height)
    mw, mh = meta.get("size", [w, h])  # boxes measured on another size are rescaled to this one
    sx, sy = (w / mw if mw else 1.0), (h / mh if mh else 1.0)
    kept = []
    for s in meta.get("sections", []):
        box = s.get("box")
        if box is not None and box[2] > 0 and box[3] > 0:
            kept.append((s, [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]))
    boxes = boxes_to_unit(np.array([b for _, b in kept]).reshape(-1, 4), (w, h))
    on_page = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)  # clipped to nothing: not a target
    kept = [k for k, ok in zip(kept, on_page) if ok][:max_sections]
    boxes = boxes[on_page][:max_sections]
    n, K = len(kept), factors.max_children
    out = {
        "boxes": torch.zeros(max_sections, 4), "mask": torch.zeros(max_sections, dtype=torch.bool),
        "types": torch.zeros(max_sections, dtype=torch.long),
        "regions": torch.zeros(max_sections, dtype=torch.long),  # the type of each section's region
        "children": torch.full((max_sections, K), IGNORE, dtype=torch.long),
        "raw": torch.zeros(max_sections, dtype=torch.long),
        # the page's true regions (issue 35's coarse level), for scoring: boxes as the sections', types
        "region_boxes": torch.zeros(max_sections, 4), "region_mask": torch.zeros(max_sections, dtype=torch.bool),
        "region_types": torch.zeros(max_sections, dtype=torch.long),
        "scale": torch.tensor(scale, dtype=torch.float32),
        "extent": torch.tensor([cols, rows], dtype=torch.long),  # the page on the canvas, pixels
        "num_sections": torch.tensor(n, dtype=torch.long),
    }
    if n:
        out["boxes"][:n] = torch.from_numpy(boxes)
        out["mask"][:n] = True
        out["types"][:n] = torch.tensor([factors.type_id(s["type"]) for s, _ in kept])
        out["regions"][:n] = torch.tensor([factors.region_id(_region_type(meta, s)) for s, _ in kept])
        out["children"][:n] = torch.tensor([factors.children_ids(s["children"]) for s, _ in kept])
        out["raw"][:n] = torch.tensor([factors.raw_id(s["raw_token"]) for s, _ in kept])
    regions = [(r, [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]) for r in meta.get("regions") or []
               for b in (r.get("box"),) if b is not None and b[2] > 0 and b[3] > 0][:max_sections]
    if regions:
        unit = boxes_to_unit(np.array([b for _, b in regions]).reshape(-1, 4), (w, h))
        on = (unit[:, 2] > 0) & (unit[:, 3] > 0)
        k = int(on.sum())
        out["region_boxes"][:k] = torch.from_numpy(unit[on])
        out["region_mask"][:k] = True
        out["region_types"][:k] = torch.tensor([factors.region_id(r["type"]) for (r, _), ok in zip(regions, on)
                                                if ok], dtype=torch.long)
    return out


def _region_type(meta: Mapping[str, Any], section: Mapping[str, Any]) -> str:
    """The type of a section's region (`main` where the metadata has none)."""
    regions, i = meta.get("regions") or [], section.get("region")
    return regions[i]["type"] if isinstance(i, int) and 0 <= i < len(regions) else "main"


def encode_sample(image: np.ndarray, meta: Mapping[str, Any], factors: Factors, width: int, height: int,
                  max_sections: int) -> dict[str, Any]:
    """One decoded sample -> model tensors: ``image`` uint8 [3, rows, W] and the targets of
    :func:`encode_target` (``boxes`` [M,4], ``mask`` [M], ``types`` [M], ``children`` [M,K],
    ``raw`` [M], ``scale``, ``extent``, ``num_sections``), plus its ``key``, ``source`` and
    ``group`` (few-shot context is drawn from the group)."""
    image = _as_rgb(np.asarray(image))
    h, w = image.shape[:2]
    tensor, _, _ = to_canvas(image, width, height)
    item: dict[str, Any] = {"image": tensor, **encode_target(meta, (w, h), factors, width, height, max_sections)}
    item["key"] = key = meta.get("__key__", "")
    item["source"] = meta.get("source") or key.rsplit("_v", 1)[0]
    item["group"] = sample_group({"source": item["source"], **meta})  # no group: a group of its own
    return item


def collate(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Stack encoded samples into a batch: images padded below to the tallest with the mean
    colour, strings as lists, every other field stacked. Few-shot ``context`` lists become one
    batch of all the context pages (``context``) and the sample each belongs to
    (``context_owner``); both are absent when no sample has context."""
    if not samples:
        raise ValueError("cannot collate an empty list")
    out: dict[str, Any] = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        if key == "context":
            flat = [c for v in values for c in v]
            if flat:
                out["context"] = collate(flat)
                out["context_owner"] = torch.tensor([i for i, v in enumerate(values) for _ in v], dtype=torch.long)
        elif key == "image":
            rows = max(v.shape[1] for v in values)
            batch = torch.empty((len(values), 3, rows, values[0].shape[2]), dtype=torch.uint8)
            batch[:] = torch.tensor(PAD_COLOUR, dtype=torch.uint8).view(1, 3, 1, 1)
            for i, v in enumerate(values):
                batch[i, :, : v.shape[1]] = v
            out[key] = batch
        elif isinstance(values[0], torch.Tensor):
            out[key] = torch.stack(values)
        else:
            out[key] = list(values)
    return out


def to_device(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """A batch with its tensors on ``device`` (a nested context batch too; strings stay)."""
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else to_device(v, device) if isinstance(v, dict) else v)
            for k, v in batch.items()}


class InputSpec:
    """What a model needs its samples encoded to: factor ids, canvas size, section count.
    Picklable, so DataLoader workers carry it."""

    def __init__(self, factors: Factors, width: int, height: int, max_sections: int) -> None:
        self.factors, self.width, self.height, self.max_sections = factors, width, height, max_sections

    @classmethod
    def of(cls, model_cfg: Any, factors: Factors) -> "InputSpec":
        return cls(factors, model_cfg.canvas_width, model_cfg.canvas_height, model_cfg.proposals)

    def encode(self, image: np.ndarray, meta: Mapping[str, Any]) -> dict[str, Any]:
        return encode_sample(image, meta, self.factors, self.width, self.height, self.max_sections)

    def target(self, meta: Mapping[str, Any], image_wh: tuple[int, int]) -> dict[str, torch.Tensor]:
        return encode_target(meta, image_wh, self.factors, self.width, self.height, self.max_sections)

"""`train show`: held-out pages with the model's sections beside the true ones, as one PNG.

Each row is one held-out page (variant 00), drawn twice at ``width`` pixels: on the left the
sections the model predicts, on the right the true ones, each section outlined in a colour
with its number on a filled tag, and under each page a legend giving every number its
canonical token (a predicted one ticked when a true section of IoU >= 0.5 has the same
token). What the model learned, at a glance.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from shards.views.show import PALETTE

from ..geometry import iou_matrix

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _draw(page: np.ndarray, boxes: Sequence[Sequence[float]], width: int) -> tuple[np.ndarray, float]:
    scale = width / page.shape[1]
    img = cv2.resize(page, (width, max(1, round(page.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    img = np.ascontiguousarray(img)
    for i, (x, y, w, h) in enumerate(boxes):
        colour = PALETTE[i % len(PALETTE)]
        p0 = (int(round(x * scale)), int(round(y * scale)))
        p1 = (int(round((x + w) * scale)) - 1, int(round((y + h) * scale)) - 1)
        cv2.rectangle(img, p0, p1, colour, 2)
        label = str(i + 1)
        (tw, th), _ = cv2.getTextSize(label, FONT, 0.5, 1)
        cv2.rectangle(img, (p0[0] + 2, p0[1] + 2), (p0[0] + tw + 8, p0[1] + th + 8), colour, -1)
        cv2.putText(img, label, (p0[0] + 5, p0[1] + th + 5), FONT, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return img, scale


def _legend(lines: Sequence[tuple[str, tuple[int, int, int]]], width: int) -> np.ndarray:
    height = 22 * len(lines) + 10
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    for i, (text, colour) in enumerate(lines):
        cv2.putText(img, text, (6, 20 + 22 * i), FONT, 0.5, colour, 1, cv2.LINE_AA)
    return img


def _column(page: np.ndarray, title: str, sections: Sequence[dict[str, Any]], width: int,
            ticks: Sequence[bool] | None = None) -> np.ndarray:
    img, _ = _draw(page, [s["box"] for s in sections], width)
    lines = [(title, (0, 0, 0))]
    for i, s in enumerate(sections):
        mark = "" if ticks is None else ("  ok" if ticks[i] else "  x")
        lines.append((f"{i + 1}. {s['token']}{mark}", PALETTE[i % len(PALETTE)]))
    return np.vstack([img, _legend(lines, width)])


def side_by_side(page: np.ndarray, predicted: Sequence[dict[str, Any]], true: Sequence[dict[str, Any]],
                 width: int = 480) -> np.ndarray:
    """One row: the page with its predicted sections (left) and its true ones (right)."""
    import torch

    def unit(secs: Sequence[dict[str, Any]]) -> torch.Tensor:
        h, w = page.shape[:2]
        b = torch.tensor([s["box"] for s in secs], dtype=torch.float32).reshape(-1, 4)
        return torch.stack([(b[:, 0] + b[:, 2] / 2) / w, (b[:, 1] + b[:, 3] / 2) / h, b[:, 2] / w, b[:, 3] / h], 1)

    iou = iou_matrix(unit(predicted), unit(true))
    ticks = [bool(any(iou[i, j] >= 0.5 and predicted[i]["token"] == t["token"] for j, t in enumerate(true)))
             for i in range(len(predicted))]
    left = _column(page, f"model: {len(predicted)} sections", predicted, width, ticks)
    right = _column(page, f"true: {len(true)} sections", true, width)
    h = max(left.shape[0], right.shape[0])
    pad = lambda a: np.vstack([a, np.full((h - a.shape[0], width, 3), 255, np.uint8)])  # noqa: E731
    return np.hstack([pad(left), np.full((h, 12, 3), 255, np.uint8), pad(right)])


def sheet(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Rows one under the other, separated by a grey rule."""
    width = max(r.shape[1] for r in rows)
    out = []
    for r in rows:
        out.append(np.hstack([r, np.full((r.shape[0], width - r.shape[1], 3), 255, np.uint8)]))
        out.append(np.full((6, width, 3), 200, np.uint8))
    return np.vstack(out[:-1])


def show_held_out(checkpoint: str | Path, shards: str | Path, out: str | Path, *, split: str = "val", n: int = 4,
                  width: int = 480) -> Path:
    """Write `n` held-out pages (variant 00, by key) with predicted and true sections to `out`."""
    from shards.storage import atomic
    from shards.storage.reader import make_pipeline
    from shards.schema import parse_key

    from ..inference import load_model

    predictor = load_model(checkpoint)
    rows = []
    for image, meta in make_pipeline(shards, split, shuffle_buffer=0, split_nodes=False,
                                     select=lambda m: parse_key(m["__key__"])[1] == 0):
        true = [{"token": s["token"], "box": s["box"]} for s in meta["sections"] if s.get("box")]
        predicted = [{"token": s.token, "box": list(s.box)} for s in predictor.predict(image)]
        rows.append(side_by_side(image, predicted, true, width))
        if len(rows) >= n:
            break
    if not rows:
        raise FileNotFoundError(f"{shards}: no held-out page (variant 00) in split {split!r} to show")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet(rows), cv2.COLOR_RGB2BGR))
    atomic.write_bytes(out, buf.tobytes())
    return Path(out)

"""The regions a model's sections make: issue 35's coarse level, scored beside the sections.

The reader gives each predicted section the type of the region it lies in (`Sections.regions`).
Sections tile their region (`shards.tokens.levels`), so a predicted region is a group of
predicted sections of one region type that touch (boxes within `TOUCH` of the page of each
other, joined transitively), and its box their union. The layout prior's sections carry the
most frequent region type of their slot, and make regions the same way.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .metrics import page_stats

# what the region level reports (children and raw tokens mean nothing there)
REGION_METRICS = ("count", "miou", "type", "precision", "recall", "f1", "bcubed_f1")
TOUCH = 0.01  # share of the page's width (x) and height (y): a gap this small is no gap between sections


def group_regions(boxes: torch.Tensor, region_types: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """(region boxes [r, 4] cxcywh normalised by the page, region type ids) from sections' boxes
    [n, 4] and region types, regions top to bottom."""
    n = len(boxes)
    if n == 0:
        return boxes.new_zeros((0, 4)), []
    b = boxes.float()
    x0, y0 = b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2
    x1, y1 = b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            if int(region_types[i]) != int(region_types[j]):
                continue
            if (x0[j] <= x1[i] + TOUCH and x0[i] <= x1[j] + TOUCH
                    and y0[j] <= y1[i] + TOUCH and y0[i] <= y1[j] + TOUCH):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        m = torch.tensor(members)
        gx0, gy0, gx1, gy1 = x0[m].min(), y0[m].min(), x1[m].max(), y1[m].max()
        out.append((float(gy0), float(gx0), torch.stack([(gx0 + gx1) / 2, (gy0 + gy1) / 2, gx1 - gx0, gy1 - gy0]),
                    int(region_types[members[0]])))
    out.sort(key=lambda t: (t[0], t[1]))
    return torch.stack([t[2] for t in out]), [t[3] for t in out]


def region_stats(boxes: torch.Tensor, region_ids: list[int], item: dict[str, Any]) -> dict[str, tuple[float, int]]:
    """The region-level metrics of one page: the regions `boxes`' sections make against its true ones."""
    pred_boxes, pred_types = group_regions(boxes, region_ids)
    m = item["region_mask"]
    true_boxes, true_types = item["region_boxes"][m], item["region_types"][m].tolist()
    return page_stats(pred_boxes, pred_types, [()] * len(pred_types), [0] * len(pred_types),
                      true_boxes, true_types, [()] * len(true_types), [0] * len(true_types))

"""The trainer's encoding of a sample: factor vocabularies, the aspect-true canvas, targets, batches."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from shards.tokens import MAX_CHILDREN, ROLES, SECTION_TYPES
from train.data.inputs import (PAD_COLOUR, InputSpec, boxes_to_pixels, boxes_to_unit, canvas_geometry, collate,
                               encode_sample, to_canvas)
from train.data.vocab import IGNORE, UNK_RAW, Factors


def factors() -> Factors:
    return Factors.build({"section.hero@h1": 5, "footer@p": 5, "div.rare": 1}, min_count=2)


def test_factors_use_the_closed_sets_and_rank_raw_tokens_by_count():
    f = factors()
    assert f.types == SECTION_TYPES and f.roles == ROLES and f.max_children == MAX_CHILDREN
    assert f.raw == (UNK_RAW, "footer@p", "section.hero@h1")  # count, then name; rare ones -> UNK
    assert f.raw_id("div.rare") == 0 and f.raw_id("footer@p") == 1
    assert f.type_id("not-a-type") == SECTION_TYPES.index("other")
    assert Factors.from_dict(f.to_dict()) == f


def test_children_are_role_ids_then_the_end_marker_then_ignored():
    f = factors()
    ids = f.children_ids(["heading", "text"])
    assert ids == [ROLES.index("heading"), ROLES.index("text"), f.end, IGNORE]
    assert f.decode_children(ids) == ("heading", "text")
    full = f.children_ids(list(ROLES[:4]))  # four children: no room and no need for an end marker
    assert full == [0, 1, 2, 3] and f.decode_children(full) == ROLES[:4]
    assert f.token(SECTION_TYPES.index("hero"), ids) == "hero@heading@text"


def test_the_canvas_keeps_the_aspect_and_a_too_tall_page_shrinks_to_fit():
    assert canvas_geometry(1280, 3000, 128, 512) == (0.1, 128, 300)  # width fills the canvas, tall stays tall
    scale, w, h = canvas_geometry(1000, 8000, 128, 512)  # 8x taller than wide: the height cap rules
    assert (w, h) == (64, 512) and scale == pytest.approx(512 / 8000)
    img = np.full((300, 100, 3), 200, dtype=np.uint8)
    tensor, scale, extent = to_canvas(img, 64, 256)
    assert tensor.dtype == torch.uint8 and extent == (64, 192) and tensor.shape == (3, 192, 64)
    assert int(tensor[0, 100, 10]) == 200


def test_rows_are_rounded_up_to_16_and_padded_with_the_mean_colour():
    tensor, _, extent = to_canvas(np.zeros((100, 100, 3), dtype=np.uint8), 64, 256)
    assert extent == (64, 64) and tensor.shape[1] == 64
    tensor, _, extent = to_canvas(np.zeros((110, 100, 3), dtype=np.uint8), 64, 256)
    assert extent == (64, 70) and tensor.shape[1] == 80
    assert tensor[:, 75, 0].tolist() == list(PAD_COLOUR)


def test_boxes_are_normalised_by_the_page_and_map_back_to_pixels():
    unit = boxes_to_unit(np.array([[0, 100, 1280, 300], [-10, 2900, 50, 500]]), (1280, 3000))
    assert unit[0].tolist() == pytest.approx([0.5, 250 / 3000, 1.0, 300 / 3000])
    assert unit[1].tolist() == pytest.approx([20 / 1280, 2950 / 3000, 40 / 1280, 100 / 3000])  # clipped to the page
    back = boxes_to_pixels(torch.tensor(unit[:1]), (1280, 3000))
    assert back[0].tolist() == pytest.approx([0, 100, 1280, 300], abs=1e-3)


def test_only_sections_with_a_box_on_the_page_are_targets():
    f = factors()
    img = np.zeros((400, 200, 3), dtype=np.uint8)
    secs = [{"type": "navbar", "children": ["link"], "raw_token": "nav@a", "box": [0, 0, 200, 40]},
            {"type": "hero", "children": ["heading", "btn"], "raw_token": "section.hero@h1", "box": None},
            {"type": "footer", "children": [], "raw_token": "footer@p", "box": [0, 500, 200, 50]},  # below the page
            {"type": "pricing", "children": ["table"], "raw_token": "x", "box": [0, 200, 200, 100]}]
    item = encode_sample(img, {"size": [200, 400], "sections": secs, "__key__": "p_v00"}, f, 64, 256, 5)
    assert item["mask"].tolist() == [True, True, False, False, False]
    assert [SECTION_TYPES[i] for i in item["types"][:2]] == ["navbar", "pricing"]
    assert item["boxes"][1].tolist() == pytest.approx([0.5, 0.625, 1.0, 0.25])
    assert item["raw"][:2].tolist() == [0, 0]  # "nav@a" and "x" are not in the raw vocabulary
    assert item["extent"].tolist() == [64, 128] and item["key"] == "p_v00"
    assert int(item["num_sections"]) == 2


def test_boxes_measured_on_another_size_are_rescaled():
    f = factors()
    meta = {"size": [400, 800],
            "sections": [{"type": "hero", "children": [], "raw_token": "x", "box": [0, 0, 400, 400]}]}
    item = encode_sample(np.zeros((400, 200, 3), dtype=np.uint8), meta, f, 64, 256, 3)
    assert item["boxes"][0].tolist() == pytest.approx([0.5, 0.25, 1.0, 0.5])


def test_collate_pads_to_the_tallest_page_and_lists_keys():
    spec = InputSpec(factors(), 64, 256, 3)
    a = spec.encode(np.zeros((100, 100, 3), dtype=np.uint8), {"size": [100, 100], "sections": [], "__key__": "a_v00"})
    b = spec.encode(np.zeros((300, 100, 3), dtype=np.uint8), {"size": [100, 300], "sections": [], "__key__": "b_v00"})
    batch = collate([a, b])
    assert batch["image"].shape == (2, 3, 192, 64) and batch["key"] == ["a_v00", "b_v00"]
    assert batch["image"][0, :, 100, 0].tolist() == list(PAD_COLOUR)
    assert batch["extent"].tolist() == [[64, 64], [64, 192]]
    with pytest.raises(ValueError):
        collate([])

"""The region reader: crops at the slots' boxes (its use inside the model: tests/test_model.py)."""
from __future__ import annotations

import pytest
import torch

from train.regions import RegionReader, crop_regions


def test_crops_read_the_pixels_inside_the_box():
    image = torch.zeros(1, 3, 32, 32)
    image[0, 0, 4:12, 8:24] = 1.0  # a red band: x 8..24, y 4..12
    boxes = torch.tensor([[[16 / 32, 8 / 32, 16 / 32, 8 / 32],   # exactly the band
                           [16 / 32, 24 / 32, 16 / 32, 8 / 32]]])  # background below it
    crops = crop_regions(image, boxes, 4)
    assert crops.shape == (2, 3, 4, 4)
    assert torch.allclose(crops[0, 0], torch.ones(4, 4)) and crops[0, 1:].abs().max() == 0
    assert crops[1].abs().max() == 0


def test_reader_shapes_and_null_for_dropped_condition():
    reader = RegionReader(d_model=16, size=8, vocab_size=7)
    images = torch.randn(2, 3, 32, 32)
    boxes = torch.rand(2, 5, 4) * 0.5 + 0.25
    with torch.no_grad():
        reader.null.fill_(0.5)
    out = reader(images, boxes, drop_cond=torch.tensor([True, False]))
    assert out.shape == (2, 5, 7)
    assert torch.all(out[0] == 0.5) and not torch.all(out[1] == 0.5)
    with pytest.raises(ValueError, match="region_size must be at least 4 pixels.*found 2"):
        RegionReader(d_model=16, size=2, vocab_size=7)

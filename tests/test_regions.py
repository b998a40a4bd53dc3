"""The region reader: crops at the slots' predicted boxes feed the token head."""
from __future__ import annotations

import pytest
import torch

from train.model import build_model
from train.regions import RegionReader, crop_regions


def _tiny(**kw):
    base = dict(image_size=32, patch_size=8, max_slots=3, d_model=32, encoder_layers=1,
                denoiser_layers=1, proj_dim=16, stem_channels=8, dropout=0.0)
    return build_model("micro", 10, **{**base, **kw}).eval()


def _inputs(model, b=2):
    g = torch.Generator().manual_seed(0)
    s, n = model.cfg.image_size, model.cfg.max_slots
    return (torch.randn(b, 3, s, s, generator=g), torch.randint(0, 10, (b, n), generator=g),
            torch.randn(b, n, 4, generator=g), torch.randint(1, 101, (b,), generator=g))


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


def test_token_logits_read_the_region_and_leave_the_box_head_alone():
    model = _tiny(region_size=8)
    images, tokens, boxes, t = _inputs(model)
    out = model(images, tokens, boxes, t)
    out.logits.sum().backward()
    assert model.regions.cnn[0].weight.grad.abs().sum() > 0
    # boxes reach the reader detached: the token head cannot move the box head
    assert model.box_head.weight.grad is None


def test_denoise_needs_the_images_only_with_a_region_reader():
    images, tokens, boxes, t = _inputs(_tiny())
    model = _tiny(region_size=8)
    memory = model.encode_image(images)
    with pytest.raises(ValueError, match="region_size=8.*denoise needs the images"):
        model.denoise(memory, tokens, boxes, t)
    plain = _tiny(region_size=0)
    assert plain.regions is None
    assert plain.denoise(plain.encode_image(images), tokens, boxes, t).logits.shape == (2, 3, 10)


def test_reader_alone_names_sections_unless_asked_to_share():
    images, tokens, boxes, t = _inputs(_tiny())
    alone, both = _tiny(region_size=8), _tiny(region_size=8, token_from="both")
    assert alone.token_head.out_features == 1 and both.token_head.out_features == 10
    region_boxes = boxes.sigmoid()
    assert alone.read_regions(images, region_boxes).shape == (2, 3, 10)
    assert both.read_regions(images, region_boxes) is None
    # with the reader alone, the denoiser moves only the empty-slot (PAD) logit
    out = alone(images, tokens, boxes, t)
    with torch.no_grad():
        read = alone.regions(images, out.boxes)
    assert torch.allclose(out.logits[..., 1:], read[..., 1:], atol=1e-6)
    with pytest.raises(ValueError, match="unknown token_from 'pixels'"):
        _tiny(token_from="pixels")

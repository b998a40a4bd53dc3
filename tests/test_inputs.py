"""Tokenization shared with evaluation: vocabulary, letterbox, sample encoding, collation."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from train.inputs import MEAN, STD, boxes_to_pixels, collate, encode_sample, letterbox
from train.vocab import MASK, PAD, UNK, Vocab


def test_vocab_from_counts_orders_by_count_then_token_and_maps_rare_to_unk():
    v = Vocab.from_counts({"b": 5, "a": 5, "c": 9, "rare": 1}, min_count=2)
    assert v.tokens == ["<pad>", "<mask>", "<unk>", "c", "a", "b"]
    assert v.encode(["a", "rare", "c"]) == [4, UNK, 3]
    assert (PAD, MASK, UNK) == (0, 1, 2)
    assert v.decode([3, PAD, UNK, MASK]) == ["c", "<unk>"]
    assert v.decode([3, PAD], strip_special=False) == ["c", "<pad>"]
    capped = Vocab.from_counts({"b": 5, "a": 5, "c": 9}, min_count=1, max_size=2)
    assert capped.tokens[3:] == ["c", "a"]
    assert Vocab.from_dict(v.to_dict()) == v


def test_letterbox_tall_image_is_centred_and_padding_is_zero_after_normalising():
    img = np.random.default_rng(0).integers(0, 255, (200, 100, 3), dtype=np.uint8)
    t, scale, pad = letterbox(img, 50)
    assert t.shape == (3, 50, 50) and t.dtype == torch.float32
    assert scale == 0.25 and pad == (12, 0)
    assert torch.allclose(t[:, :, :12], torch.zeros(3, 50, 12), atol=0.01)  # left pad
    assert torch.allclose(t[:, :, 37:], torch.zeros(3, 50, 13), atol=0.01)  # right pad
    expected = cv2.resize(img, (25, 50), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    expected = (expected - np.array(MEAN)) / np.array(STD)
    assert np.allclose(t[:, :, 12:37].permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_encode_sample_boxes_tokens_and_masks():
    img = np.zeros((200, 100, 3), dtype=np.uint8)  # h=200, w=100 -> scale 0.25, pad (12, 0)
    vocab = Vocab.from_counts({"hero": 3, "nav": 3})
    meta = {"size": [100, 200], "sections": [
        {"token": "hero", "box": [0, 0, 100, 100]},
        {"token": "unseen", "box": None},
        {"token": "nav", "box": [0, 100, 100, 100]},
        {"token": "nav", "box": [0, 0, 10, 10]},  # truncated: max_slots=3
    ]}
    s = encode_sample(img, meta, vocab, image_size=50, max_slots=3)
    assert s["tokens"].tolist() == [vocab.id_of("hero"), UNK, vocab.id_of("nav")]
    assert s["slot_mask"].tolist() == [True, True, True]
    assert s["box_mask"].tolist() == [True, False, True]
    # hero: x 0..100 -> 12..37, y 0..100 -> 0..25 on a 50 canvas
    assert torch.allclose(s["boxes"][0], torch.tensor([24.5 / 50, 12.5 / 50, 0.5, 0.5]))
    assert torch.allclose(s["boxes"][1], torch.zeros(4))
    assert torch.allclose(s["boxes"][2], torch.tensor([24.5 / 50, 37.5 / 50, 0.5, 0.5]))
    assert int(s["num_sections"]) == 4
    back = boxes_to_pixels(s["boxes"][0], float(s["scale"]), s["pad"].tolist(), 50)
    assert torch.allclose(back, torch.tensor([0.0, 0.0, 100.0, 100.0]), atol=1e-4)


def test_encode_sample_pads_empty_slots_and_rescales_boxes_of_another_size():
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    vocab = Vocab.from_counts({"hero": 3})
    # boxes measured on a 200x200 rendering of the same page: halved onto this image
    meta = {"size": [200, 200], "sections": [{"token": "hero", "box": [0, 0, 200, 100]}]}
    s = encode_sample(img, meta, vocab, image_size=100, max_slots=4)
    assert s["tokens"].tolist() == [vocab.id_of("hero"), PAD, PAD, PAD]
    assert s["slot_mask"].tolist() == [True, False, False, False]
    assert torch.allclose(s["boxes"][0], torch.tensor([0.5, 0.25, 1.0, 0.5]))


def test_encode_sample_box_outside_canvas_becomes_unlocated():
    img = np.zeros((100, 100, 3), dtype=np.uint8)
    vocab = Vocab.from_counts({"hero": 3})
    meta = {"size": [100, 100], "sections": [{"token": "hero", "box": [150, 0, 20, 20]}]}
    s = encode_sample(img, meta, vocab, image_size=32, max_slots=2)
    assert s["box_mask"].tolist() == [False, False] and s["slot_mask"].tolist() == [True, False]


def test_collate_stacks_every_field():
    vocab = Vocab.from_counts({"hero": 3})
    samples = [encode_sample(np.zeros((h, 40, 3), np.uint8), {"size": [40, h], "sections": []},
                             vocab, 32, 5) for h in (30, 90)]
    b = collate(samples)
    assert b["image"].shape == (2, 3, 32, 32) and b["tokens"].shape == (2, 5)
    assert b["boxes"].shape == (2, 5, 4) and b["pad"].shape == (2, 2)
    with pytest.raises(ValueError):
        collate([])


def test_grayscale_and_rgba_inputs_are_accepted():
    vocab = Vocab.from_counts({"hero": 3})
    meta = {"size": [20, 10], "sections": []}
    gray = encode_sample(np.zeros((10, 20), np.uint8), meta, vocab, 16, 2)
    rgba = encode_sample(np.zeros((10, 20, 4), np.uint8), meta, vocab, 16, 2)
    assert torch.equal(gray["image"], rgba["image"])

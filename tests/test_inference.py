"""Using a trained model from Python: load_model(...).predict(...) on paths, PIL images and arrays;
safetensors export that predicts the same with no pickle."""
from __future__ import annotations

import stat

import numpy as np
import pytest
from PIL import Image

import train
from model_helpers import TINY_MODEL, striped_page
from shards.storage import atomic
from shards.tokens import REGION_TYPES
from train.checkpoint import CheckpointError
from train.config import resolve
from train.inference import EXPORT_WEIGHTS, Section, export, load_model
from train.phases import phase_defaults
from train.trainer import fit

TINY = dict(model=TINY_MODEL, batch_size=4, max_steps=2, eval_every=100, num_workers=0, shuffle_buffer=8,
            checkpoint_every=2, warmup_steps=1, sampling=dict(steps=2, threshold=0.2))


@pytest.fixture(scope="module")
def checkpoint(shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    fit(shards, run, resolve(phase_defaults(1), TINY, {}), progress=False)
    return run / "last.pt"


def test_predict_takes_a_path_a_pil_image_or_an_array(checkpoint, tmp_path):
    img, _ = striped_page(np.random.default_rng(3))
    path = tmp_path / "page.png"
    Image.fromarray(img).save(path)
    model = train.load_model(checkpoint)  # the one-line API of the package
    by_path, by_pil, by_array = model.predict(path), model.predict(Image.open(path)), model.predict(img)
    assert by_path == by_pil == by_array
    for s in by_path:
        assert isinstance(s, Section) and s.token.startswith(s.type)
        x, y, w, h = s.box
        assert -1 <= x and x + w <= img.shape[1] + 1 and 0 <= s.score <= 1  # page pixels
        assert set(s.to_dict()) == {"type", "children", "token", "raw_token", "box", "score", "region"}
        assert s.region in REGION_TYPES  # the type of the region the section lies in (issue 35)
    with pytest.raises(ValueError, match="RGB uint8"):
        model.predict(np.zeros((10, 10, 3), dtype=np.float32))


def test_an_export_predicts_the_same_with_no_pickle(checkpoint, tmp_path):
    out = export(checkpoint, tmp_path / "exported")
    assert (out / EXPORT_WEIGHTS).exists() and (out / "config.json").exists()
    assert not list(out.glob("*.pt"))
    want = 0o666 & ~atomic.current_umask()  # what an ordinary open() gives: readable on a shared filesystem
    assert [stat.S_IMODE((out / n).stat().st_mode) for n in (EXPORT_WEIGHTS, "config.json")] == [want, want]
    img, _ = striped_page(np.random.default_rng(4))
    assert load_model(out).predict(img) == load_model(checkpoint).predict(img)
    (out / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not a model exported"):
        load_model(out)

"""The trainer under failure: SIGKILL mid-run and mid-checkpoint, corrupt shards, bad checkpoints and
inputs, every known failure an `error:` line naming the file or setting (no traceback)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.synth import write_synth
from shards.storage.reader import ShardReadError
from train import checkpoint as ckpt
from train.config import resolve
from train.phases import phase_defaults
from train.trainer import fit

from model_helpers import TINY_MODEL

TINY = dict(model=TINY_MODEL, batch_size=4, max_steps=12, eval_every=100, eval_sources=2, eval_variants=0,
            num_workers=0, shuffle_buffer=8, checkpoint_every=2, warmup_steps=1, sampling=dict(steps=2))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("shards")
    write_synth(src, 6, seed=4, progress=False)
    run_job(src, out, load_config(None, factor=3, val_fraction=0.2, samples_per_shard=6,
                                  sets=[{"ops": {"spatial": {"width": [256, 384]}}}]), RunOptions(progress=False))
    return out


def _cmd(shards: Path, run: Path, cfg: Path, resume: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "train", "fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg)]
    return cmd + (["--resume"] if resume else [])


@pytest.mark.slow
def test_sigkill_during_training_then_resume_finishes_the_same_run(shards, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(TINY))
    fit(shards, tmp_path / "ref", resolve(phase_defaults(1), TINY, {}), progress=False)
    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(shards, run, cfg), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (run / ckpt.LAST).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = ckpt.load(run / ckpt.LAST)["step"]  # a complete checkpoint, never a torn one
    assert killed_at < 12
    done = subprocess.run(_cmd(shards, run, cfg, resume=True), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = ckpt.load(tmp_path / "ref" / ckpt.LAST), ckpt.load(run / ckpt.LAST)
    assert b["step"] == 12
    for k, v in a["objective"].items():
        assert torch.allclose(v.float(), b["objective"][k].float(), atol=1e-6), k


def test_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    path = tmp_path / ckpt.LAST
    ckpt.save(path, {"objective": {"w": torch.zeros(3)}, "step": 2})  # a minimal one: loaded with strict=False
    code = (
        "import os, torch, shards.storage.atomic as a\n"
        "real = a.atomic_open\n"
        "def dying(path, mode='wb'):\n"
        "    cm = real(path, mode)\n"
        "    fh = cm.__enter__()\n"
        "    fh.write(b'PK partial')\n"
        "    fh.flush()\n"
        "    os.kill(os.getpid(), 9)\n"
        "a.atomic_open = dying\n"
        "from train import checkpoint as c\n"
        f"c.save({str(path)!r}, {{'objective': {{'w': torch.ones(3)}}, 'step': 4}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    state = ckpt.load(path, strict=False)
    assert state["step"] == 2 and torch.equal(state["objective"]["w"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]  # the torn temp, never loaded


def _truncate_one(shards: Path, tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / "shards"
    shutil.copytree(shards, copy)
    victim = sorted(copy.glob("train-*.tar"))[0]
    victim.write_bytes(victim.read_bytes()[:3000])
    return victim


def test_corrupt_shard_stops_training_naming_it(shards, tmp_path):
    victim = _truncate_one(shards, tmp_path)
    with pytest.raises(ShardReadError, match=victim.name):
        fit(victim.parent, tmp_path / "run", resolve(phase_defaults(1), {**TINY, "max_steps": 4}, {}), progress=False)


def test_skip_mode_trains_past_a_corrupt_shard_and_reports_it(shards, tmp_path, caplog):
    victim = _truncate_one(shards, tmp_path)
    cfg = resolve(phase_defaults(1), {**TINY, "max_steps": 4, "on_error": "skip"}, {})
    with caplog.at_level("WARNING", logger="shards.storage.reader"):
        result = fit(victim.parent, tmp_path / "run", cfg, progress=False)
    assert result["step"] == 4
    assert any(victim.name in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def _py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train", *args], capture_output=True, text=True, timeout=300)


def test_known_failures_are_one_error_line_naming_the_file(shards, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({**TINY, "max_steps": 2}))
    victim = _truncate_one(shards, tmp_path)
    bad = _py("fit", "--shards", str(victim.parent), "--run", str(tmp_path / "r1"), "--config", str(cfg))
    assert bad.returncode == 2 and victim.name in bad.stderr and "Traceback" not in bad.stderr
    run = tmp_path / "run"
    assert _py("fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg)).returncode == 0
    no_split = _py("evaluate", "--checkpoint", str(run / ckpt.LAST), "--shards", str(shards), "--split", "test")
    assert no_split.returncode == 2 and "split 'test'" in no_split.stderr and "Traceback" not in no_split.stderr
    # resuming with another model than the checkpoint's: the message says which and what to do
    changed = _py("fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg), "--resume",
                  "--set", "model.d_model=48")
    assert changed.returncode == 2 and "the checkpoint and the config disagree" in changed.stderr
    assert "Traceback" not in changed.stderr
    # a checkpoint without the fields a model needs
    partial = tmp_path / "partial.pt"
    ckpt.save(partial, {"objective": {}, "step": 1})
    for args in (["predict", "--checkpoint", str(partial), str(next(shards.parent.glob("src*/page-00000.png")))],
                 ["evaluate", "--checkpoint", str(partial), "--shards", str(shards)]):
        out = _py(*args)
        assert out.returncode == 2 and "'config' missing" in out.stderr and "Traceback" not in out.stderr


def test_predict_checks_its_inputs_before_any_work(shards, tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    fit(shards, run, resolve(phase_defaults(1), {**TINY, "max_steps": 1}, {}), progress=False)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(bomb)  # a few kB on disk, 100 megapixels decoded
    big = _py("predict", "--checkpoint", str(run / ckpt.LAST), str(bomb))
    assert big.returncode == 2 and "above the limit" in big.stderr and "Traceback" not in big.stderr
    page = str(next(shards.parent.glob("src*/page-00000.png")))
    for out, words in ((tmp_path / "missing" / "o.png", "does not exist"), (tmp_path / "overlay", ".png")):
        res = _py("predict", "--checkpoint", str(run / ckpt.LAST), page, "--out", str(out))
        assert res.returncode == 2 and words in res.stderr and not Path(out).exists()


def test_a_checkpoint_that_would_expand_past_the_limit_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "big.pt"
    ckpt.save(path, {"objective": {"w": torch.zeros(1000)}, "step": 1})
    monkeypatch.setattr(ckpt, "MAX_EXPANDED_BYTES", 1000)
    with pytest.raises(ckpt.CheckpointError, match="would expand to"):
        ckpt.load(path)

"""The trainer: every phase end to end on tiny shards, phase choice, checkpoints, resume."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from train import checkpoint as ckpt
from train.config import TrainConfigError, resolve
from train.phases import PHASES, phase_defaults, pick_phase
from train.runlog import read_log
from train.trainer import fit

TINY = dict(preset="micro", image_size=32, batch_size=4, max_steps=4, eval_every=2, eval_samples=4,
            num_workers=0, sample_steps=3, shuffle_buffer=8, checkpoint_every=2, warmup_steps=1,
            encoder="patch", weights_path=None)


def tiny(phase: int, **kw):
    return resolve(phase_defaults(phase), {**TINY, **kw}, {})


def test_phase_is_picked_from_the_number_of_sources():
    assert [pick_phase(n)[0] for n in (0, 2_499, 2_500, 24_999, 25_000, 99_999, 100_000)] == [1, 1, 2, 2, 3, 3, 4]
    assert "2,500 <= n < 25,000 -> phase 2 (small)" in pick_phase(3000)[1]


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_every_phase_trains_end_to_end(phase, shards, tmp_path):
    result = fit(shards, tmp_path, tiny(phase), progress=False)
    assert result["step"] == 4
    assert (tmp_path / ckpt.LAST).exists() and (tmp_path / "config.json").exists()
    log = read_log(tmp_path)
    assert [r["step"] for r in log if r["kind"] == "train"] == [4]
    val = [r for r in log if r["kind"] == "val"]
    assert [r["step"] for r in val] == [2, 4] and all(0 <= r["token_accuracy"] <= 1 for r in val)
    assert all(0 <= r["baseline"]["token_accuracy"] <= 1 for r in val)  # the prior, same samples
    given = [r["given_boxes"] for r in val]  # tokens generated on the true sections and boxes
    assert all(0 <= g["token_accuracy"] <= 1 and 0 <= g["baseline"]["token_accuracy"] <= 1 for g in given)
    state = ckpt.load(tmp_path / ckpt.LAST)
    assert state["step"] == 4 and state["config"]["phase"] == phase


def test_phase_features_are_switched_on(shards, tmp_path):
    state_2 = ckpt.load(Path(fit(shards, tmp_path / "p2", tiny(2, tdc_start=0.5), progress=False)["run_dir"]) / ckpt.LAST)
    assert state_2["tdc"] is True  # stage 2 of divide-and-conquer started at step 2
    assert any(k.startswith("weighting.") for k in state_2["objective"])  # modality weights learned
    state_4 = ckpt.load(Path(fit(shards, tmp_path / "p4", tiny(4), progress=False)["run_dir"]) / ckpt.LAST)
    assert state_4["ema"] is not None and any(k.startswith("weighting.dwa") or k.startswith("weighting.")
                                             for k in state_4["objective"])


def test_resume_reaches_the_same_weights(shards, tmp_path):
    cfg = tiny(1, max_steps=6, checkpoint_every=3, eval_every=100)
    fit(shards, tmp_path / "full", cfg, progress=False)
    from train.trainer import Trainer

    Trainer(shards, tmp_path / "half", tiny(1, max_steps=6, checkpoint_every=3, eval_every=100),
            progress=False).fit(until=3)
    assert ckpt.load(tmp_path / "half" / ckpt.LAST)["step"] == 3
    fit(shards, tmp_path / "half", cfg, resume=True, progress=False)
    a = ckpt.load(tmp_path / "full" / ckpt.LAST)["objective"]
    b = ckpt.load(tmp_path / "half" / ckpt.LAST)["objective"]
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-6), k
    la = [r for r in read_log(tmp_path / "full") if r["kind"] == "train"]
    lb = [r for r in read_log(tmp_path / "half") if r["kind"] == "train"]
    assert la == lb


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"objective": {}, "step": 1, "payload": Path("/etc/passwd")}, path)
    with pytest.raises(ckpt.CheckpointError, match="weights_only"):
        ckpt.load(path)


def test_truncated_checkpoint_is_reported(tmp_path):
    path = tmp_path / "last.pt"
    ckpt.save(path, {"objective": {"w": torch.ones(1000)}, "step": 3})
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ckpt.CheckpointError, match="unreadable or truncated"):
        ckpt.load(path)


def test_config_errors_name_the_setting():
    with pytest.raises(TrainConfigError, match="'grad_accum' must be at least 1, found 0"):
        resolve(phase_defaults(1), {"grad_accum": 0}, {})
    with pytest.raises(TrainConfigError, match="unknown settings \\['wobble'\\]"):
        resolve(phase_defaults(1), {"wobble": 1}, {})
    with pytest.raises(TrainConfigError, match="'sample_temperature' must be at least 0"):
        resolve(phase_defaults(1), {"sample_temperature": -1.0}, {})


def test_cli_fit_evaluate_predict_report(shards, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    py = [sys.executable, "-m", "train"]
    fitted = subprocess.run(py + ["fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg)],
                            capture_output=True, text=True)
    assert fitted.returncode == 0, fitted.stderr
    assert "phase 1: 8 source pairs: 0 <= n < 2,500 -> phase 1 (micro)" in fitted.stderr
    ev = subprocess.run(py + ["evaluate", "--checkpoint", str(run / "last.pt"), "--shards", str(shards)],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["samples"] > 0
    image = next(Path(shards).parent.glob("src*/page-00000.png"), None) or sorted(Path("/").glob("nonexistent"))
    pr = subprocess.run(py + ["predict", "--checkpoint", str(run / "last.pt"), str(image), "--out",
                              str(tmp_path / "overlay.png")], capture_output=True, text=True)
    assert pr.returncode == 0, pr.stderr
    assert (tmp_path / "overlay.png").exists()
    rp = subprocess.run(py + ["report", str(run)], capture_output=True, text=True)
    assert rp.returncode == 0, rp.stderr and (run / "curves.png").exists()


@pytest.mark.slow
def test_torchrun_two_ranks_phase_4_disjoint_data_equal_steps(shards, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "preset": "micro", "max_steps": 3, "eval_every": 3, "grad_accum": 1}))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "train", "fit", "--shards", str(shards), "--run-dir", str(run), "--phase", "4", "--config", str(cfg)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((run / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["step"] == ranks[1]["step"] == 3
    assert ranks[0]["shards"] and ranks[1]["shards"]
    assert not set(ranks[0]["shards"]) & set(ranks[1]["shards"])
    state = ckpt.load(run / ckpt.LAST)  # written by rank 0, loadable by a single process
    assert state["step"] == 3 and state["ema"] is not None

"""The trainer: every phase end to end on tiny shards, phase choice, settings, checkpoints, resume, CLI."""
from __future__ import annotations

import math

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model_helpers import TINY_MODEL
from train import checkpoint as ckpt
from train.config import TrainConfig, TrainConfigError, resolve
from train.phases import PHASES, phase_defaults, pick_phase
from train.runlog import read_log
from train.trainer import fit

TINY = dict(model=TINY_MODEL, batch_size=4, max_steps=4, eval_every=2, eval_sources=3, eval_variants=1,
            num_workers=0, shuffle_buffer=8, checkpoint_every=2, warmup_steps=1,
            sampling=dict(steps=2, threshold=0.3))


def tiny(phase: int, **kw) -> TrainConfig:
    table = {**TINY, **kw}
    table["model"] = {**TINY_MODEL, **kw.get("model", {})}
    return resolve(phase_defaults(phase), table, {})


def test_phase_is_picked_from_the_number_of_sources():
    assert [pick_phase(n)[0] for n in (0, 2_499, 2_500, 24_999, 25_000, 99_999, 100_000)] == [1, 1, 2, 2, 3, 3, 4]
    assert "2,500 <= n < 25,000 -> phase 2 (small)" in pick_phase(3000)[1]


@pytest.mark.parametrize("phase", sorted(PHASES))
def test_every_phase_trains_end_to_end(phase, shards, tmp_path):
    result = fit(shards, tmp_path, tiny(phase), progress=False)
    assert result["step"] == 4
    assert (tmp_path / ckpt.LAST).exists() and (tmp_path / "config.json").exists()
    log = read_log(tmp_path)
    train = [r for r in log if r["kind"] == "train"]
    assert [r["step"] for r in train] == [4] and {"loss", "element", "presence", "geometric"} <= set(train[0])
    val = [r for r in log if r["kind"] == "val"]
    assert [r["step"] for r in val] == [2, 4]
    for r in val:  # the model and the layout prior, on the same held-out pages, with intervals
        assert 0 <= r["pages"]["model"]["value"]["count"] <= 1 and r["pages"]["prior"]["value"]["miou"] is not None
    state = ckpt.load(tmp_path / ckpt.LAST)
    assert state["step"] == 4 and state["config"]["phase"] == phase and state["prior"] is not None
    # the dense decoder's scale comes from the data it trained on
    assert state["config"]["sampling"]["min_band"] == math.floor(state["prior"]["thinnest"]) >= 2


def test_phase_features_are_switched_on(shards, tmp_path):
    run_2 = fit(shards, tmp_path / "p2", tiny(2, tdc_start=0.5), progress=False)["run_dir"]
    state_2 = ckpt.load(Path(run_2) / ckpt.LAST)
    assert state_2["tdc"] is True  # stage 2 of divide-and-conquer started at step 2
    assert any(k.startswith("model.denoiser.experts.1.") for k in state_2["objective"])
    assert any(k.startswith("weighting.log_vars") for k in state_2["objective"])  # modality weights learned
    log = [r for r in read_log(tmp_path / "p2") if r["kind"] == "train"]
    assert "consistency" in log[0]  # multi-scale consistency on
    state_4 = ckpt.load(Path(fit(shards, tmp_path / "p4", tiny(4), progress=False)["run_dir"]) / ckpt.LAST)
    assert state_4["ema"] is not None and any(k.startswith("weighting.dwa") for k in state_4["objective"])
    log = [r for r in read_log(tmp_path / "p4") if r["kind"] == "train"]
    assert {"layout", "diversity"} <= set(log[0])


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


def test_a_run_directory_is_never_overwritten_without_asking(shards, tmp_path):
    fit(shards, tmp_path, tiny(1, max_steps=2, eval_every=100), progress=False)
    before = (tmp_path / ckpt.LAST).read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run .*--resume.*--overwrite"):
        fit(shards, tmp_path, tiny(1, max_steps=2, eval_every=100), progress=False)
    assert (tmp_path / ckpt.LAST).read_bytes() == before
    fit(shards, tmp_path, tiny(1, max_steps=2, eval_every=100, seed=5), overwrite=True, progress=False)
    assert ckpt.load(tmp_path / ckpt.LAST)["config"]["seed"] == 5


def test_max_variants_trains_on_the_first_variants_of_each_source(shards, tmp_path):
    result = fit(shards, tmp_path, tiny(1, max_steps=2, eval_every=100, max_variants=1), progress=False)
    assert result["step"] == 2


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


BAD_SETTINGS = [  # (table, words of the error): one row per kind of mistake, every one named
    ({"grad_accum": 0}, "'grad_accum' must be an integer >= 1, found 0"),
    ({"batch_size": "4"}, "'batch_size' must be an integer >= 1, found '4'"),
    ({"lr": -1}, "'lr' must be a number > 0"),
    ({"ema_decay": 1.0}, "'ema_decay' must be in [0, 1)"),
    ({"on_error": "ignore"}, "'on_error' must be 'raise' or 'skip'"),
    ({"tdc_groups": 2, "tdc_lrs": [1e-3]}, "'tdc_lrs' must be a list of tdc_groups learning rates"),
    ({"phase": 7}, "'phase' must be 0 (auto) or one of [1, 2, 3, 4]"),
    ({"sampling": {"steps": 0}}, "'sampling.steps' must be an integer >= 1"),
    ({"sampling": {"threshold": 1.5}}, "'sampling.threshold' must be in (0, 1)"),
    ({"sampling": {"init": "boxes"}}, "'sampling.init' must be one of ['dense', 'noise', 'proposals']"),
    ({"sampling": {"t_start": 0}}, "'sampling.t_start' must be an integer >= 1"),
    ({"loss": {"dense": -1}}, "'loss.dense' must be a number >= 0"),
    ({"loss": {"region": -1}}, "'loss.region' must be a number >= 0"),
    ({"loss": {"weighting": "max"}}, "'loss.weighting' must be one of"),
    ({"model": {"dropout": 1.5}}, "'model.dropout' must be in [0, 1)"),
    ({"model": {"canvas_width": 100}}, "'model.canvas_width' must be a multiple of 16"),
    ({"model": {"colour": 1}}, "'model.colour' is not a model setting"),
    ({"preset": "huge"}, "'preset' must be one of"),
]


@pytest.mark.parametrize("table,words", BAD_SETTINGS)
def test_every_bad_setting_is_named(table, words):
    with pytest.raises(TrainConfigError) as e:
        resolve(phase_defaults(1), table, {})
    assert words in str(e.value)


def test_every_problem_is_reported_at_once_and_unknown_settings_are_refused():
    with pytest.raises(TrainConfigError) as e:
        resolve(phase_defaults(1), {"grad_accum": 0, "lr": 0, "sampling": {"steps": 0}}, {})
    assert str(e.value).count("must be") == 3
    with pytest.raises(TrainConfigError, match=r"unknown settings \['wobble'\]"):
        resolve(phase_defaults(1), {"wobble": 1}, {})
    with pytest.raises(TrainConfigError, match=r"unknown settings \['loss.wobble'\]"):
        resolve(phase_defaults(1), {"loss": {"wobble": 1}}, {})


def test_layers_phase_file_flags_set():
    cfg = resolve(phase_defaults(3), {"lr": 0.01, "sampling": {"steps": 8}}, {"lr": 0.02},
                  assignments=[{"sampling": {"guidance_scale": 2.0}}, {"model": {"dropout": 0.25}}])
    assert cfg.lr == 0.02 and cfg.sampling.steps == 8 and cfg.sampling.guidance_scale == 2.0
    assert cfg.amp is True and cfg.loss.label_smoothing == 0.1 and cfg.model["dropout"] == 0.25
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_cli_fit_evaluate_predict_report(shards, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    py = [sys.executable, "-m", "train"]
    printed = subprocess.run(py + ["fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg),
                                   "--set", "loss.region=0.5", "--print-config"], capture_output=True, text=True)
    assert printed.returncode == 0 and json.loads(printed.stdout)["loss"]["region"] == 0.5 and not run.exists()
    fitted = subprocess.run(py + ["fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg)],
                            capture_output=True, text=True)
    assert fitted.returncode == 0, fitted.stderr
    assert "phase 1: 8 source pairs: 0 <= n < 2,500 -> phase 1 (micro)" in fitted.stderr
    again = subprocess.run(py + ["fit", "--shards", str(shards), "--run", str(run), "--config", str(cfg)],
                           capture_output=True, text=True)
    assert again.returncode == 2 and "already holds a run" in again.stderr and "Traceback" not in again.stderr
    ev = subprocess.run(py + ["evaluate", "--checkpoint", str(run / "last.pt"), "--shards", str(shards),
                              "--out", str(tmp_path / "scores.json")], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert "variant 00" in ev.stdout and json.loads((tmp_path / "scores.json").read_text())["samples"] > 0
    image = next(Path(shards).parent.glob("src*/page-00000.png"))
    pr = subprocess.run(py + ["predict", "--checkpoint", str(run / "last.pt"), str(image), "--out",
                              str(tmp_path / "overlay.png"), "--json"], capture_output=True, text=True)
    assert pr.returncode == 0, pr.stderr
    assert isinstance(json.loads(pr.stdout), list) and (tmp_path / "overlay.png").exists()
    sh = subprocess.run(py + ["show", "--checkpoint", str(run / "last.pt"), "--shards", str(shards), "--n", "2",
                              "--out", str(tmp_path / "held_out.png")], capture_output=True, text=True)
    assert sh.returncode == 0, sh.stderr
    import cv2

    sheet = cv2.imread(str(tmp_path / "held_out.png"))
    assert sheet is not None and sheet.shape[1] == 2 * 480 + 12  # predicted beside true
    rp = subprocess.run(py + ["report", str(run)], capture_output=True, text=True)
    assert rp.returncode == 0, rp.stderr
    assert (run / "curves.png").exists()


@pytest.mark.slow
def test_torchrun_two_ranks_phase_4_disjoint_data_equal_steps(shards, tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "max_steps": 3, "eval_every": 3, "grad_accum": 1}))
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

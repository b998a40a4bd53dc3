"""The augmentation job: determinism across workers, resume, splits, rejects, replay."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from augment.config import ConfigError, load_config
from augment.job import JobError, run_job
from augment.plan import assign_split
from augment.replay import replay
from augment.run_options import RunOptions, run_options
from augment.synth import write_synth
from shards import load_manifest
from shards.storage.verify import verify_dir

FAST = dict(factor=4, samples_per_shard=6, val_fraction=0.3, folds=3)
HASH_BASE, HASH_WEB = "56f8e00ba56d62e6", "31ba21b1da967f0b"
QUIET = RunOptions(progress=False)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("src")
    write_synth(d, 6, seed=5, progress=False)
    return d


def _config(**kw):
    cfg = load_config(None, **{**FAST, **kw})
    cfg.variants_per_group = 2
    return cfg


def _shard_hashes(out: Path) -> dict[str, str]:
    return {s["shard"]: s["sha256"] for s in load_manifest(out)["shards"]}


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    run_job(sources, out, _config(), RunOptions(jobs=1, progress=False))
    return out


def test_output_verifies_and_counts_add_up(reference):
    assert verify_dir(reference) == []
    m = load_manifest(reference)
    assert m["sources"]["total"] == m["sources"]["accepted"] + m["sources"]["rejected"] == 6
    assert m["totals"]["samples"] == 6 * 4
    assert len(m["shards"]) >= 4 and len(m["vocab"]["token"]) > 3 and m["config"]["preset"] == "web"
    assert set(m["vocab"]) == {"token", "type", "role", "raw_token", "tag"}


def test_jobs_1_and_2_give_identical_bytes(sources, reference, tmp_path):
    run_job(sources, tmp_path, _config(), RunOptions(jobs=2, progress=False))
    assert _shard_hashes(tmp_path) == _shard_hashes(reference)
    assert (tmp_path / "manifest.json").read_bytes() == (reference / "manifest.json").read_bytes()


def test_seed_preset_is_deterministic_and_replays(sources, tmp_path):
    """The web preset is the default (`reference`); the seed preset passes the same checks."""
    runs = [tmp_path / "j1", tmp_path / "j2"]
    for out, jobs in zip(runs, (1, 2)):
        run_job(sources, out, _config(preset="seed"), RunOptions(jobs=jobs, progress=False))
    assert _shard_hashes(runs[0]) == _shard_hashes(runs[1])
    assert (runs[0] / "manifest.json").read_bytes() == (runs[1] / "manifest.json").read_bytes()
    m = load_manifest(runs[0])
    assert m["config"]["preset"] == "seed" and m["config"]["ops"]["spatial"]["mode"] == "long_side"
    key = next(k for s in m["shards"] for k in (s["first_key"], s["last_key"]) if not k.endswith("_v00"))
    assert replay(runs[0], key).identical


def test_web_preset_keeps_pages_upright_full_width_and_tall(reference):
    from shards.storage.reader import make_pipeline

    for split in ("train", "val"):
        for _, meta in make_pipeline(reference, split, shuffle_buffer=0):
            spatial = [o for o in meta["ops"] if o["op"] == "spatial"]
            if not spatial:
                continue
            (sp,) = spatial
            assert sp["mode"] == "width" and abs(sp["angle"]) <= 1.0 and sp["scale"] == 1.0
            assert sp["perspective"] == [[0.0, 0.0]] * 4 and sp["translate"] == [0.0, 0.0]
            assert sp["crop"][0] == 0 and sp["crop"][2] == sp["source_size"][0]  # full-width window
            w, h = meta["size"]
            assert 512 <= w <= 1280 and h <= 2048
            assert h == max(1, round(sp["crop"][3] * w / sp["crop"][2]))  # the width sets the scale


def test_presets_layer_under_config_and_flags(tmp_path):
    from augment.presets import DEFAULT_PRESET, PRESETS

    assert DEFAULT_PRESET == "web" and set(PRESETS) == {"seed", "web"}
    assert load_config(None).preset == "web" and load_config(None).ops["spatial"]["rotate"] == [-1.0, 1.0]
    seed = load_config(None, preset="seed")
    assert seed.preset == "seed" and seed.ops["spatial"]["rotate"] == [-15.0, 15.0]
    cfg = tmp_path / "c.toml"
    cfg.write_text('preset = "seed"\n[ops.spatial]\nrotate = [-2.0, 2.0]\n')
    from_file = load_config(cfg, factor=3)
    assert from_file.preset == "seed" and from_file.ops["spatial"]["rotate"] == [-2.0, 2.0]  # the file wins
    assert from_file.ops["spatial"]["long_side"] == [256, 1024] and from_file.factor == 3
    assert load_config(cfg, preset="web").ops["spatial"]["mode"] == "width"  # the flag picks the preset
    with pytest.raises(ConfigError, match=r"config 'preset' must be one of \('seed', 'web'\), found 'phone'"):
        load_config(None, preset="phone")
    cfg.write_text('[ops.spatial]\nmode = "height"\n')
    msg = r"'ops.spatial.mode' must be one of \('long_side', 'width'\), found 'height'"
    with pytest.raises(ConfigError, match=msg):
        load_config(cfg)


def test_killed_run_resumes_to_the_same_bytes(sources, reference, tmp_path):
    # Build only what one worker finishes first: run, then delete all but one shard.
    run_job(sources, tmp_path, _config())
    names = sorted(p.name for p in tmp_path.glob("*.tar"))
    for name in names[1:]:
        (tmp_path / name).unlink()
        (tmp_path / f"{name}.json").unlink()
    (tmp_path / "manifest.json").unlink()
    (tmp_path / ".tmp-train-000001.tar.abcd_123.s2s").write_bytes(b"partial")  # a killed writer's leftover
    (tmp_path / ".tmp-notes.txt").write_text("mine")  # a user's file: not ours to delete
    summary = run_job(sources, tmp_path, _config())
    assert summary.kept == 1 and summary.built == len(names) - 1
    assert _shard_hashes(tmp_path) == _shard_hashes(reference)
    assert [p.name for p in tmp_path.glob(".tmp-*")] == [".tmp-notes.txt"]


def test_a_corrupted_shard_is_rebuilt(sources, reference, tmp_path):
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    victim = tmp_path / "train-000000.tar"
    victim.write_bytes(victim.read_bytes()[:-100])
    summary = run_job(sources, tmp_path, _config(), QUIET)
    assert summary.built == 1
    assert _shard_hashes(tmp_path) == _shard_hashes(reference) and verify_dir(tmp_path) == []


def test_changed_config_refuses_to_mix_unless_overwrite(sources, reference, tmp_path):
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    with pytest.raises(JobError, match="another config or input.*--overwrite"):
        run_job(sources, tmp_path, _config(seed=9), QUIET)
    run_job(sources, tmp_path, _config(seed=9), RunOptions(overwrite=True, progress=False))
    assert verify_dir(tmp_path) == [] and load_manifest(tmp_path)["config"]["seed"] == 9


def test_split_is_per_source_and_folds_partition_train(reference):
    split_of: dict[str, set] = {}
    folds: dict[str, set] = {}
    from shards.storage.reader import make_pipeline

    for _, meta in make_pipeline(reference, None, shuffle_buffer=0):
        split_of.setdefault(meta["source"], set()).add(meta["split"])
        folds.setdefault(meta["source"], set()).add(meta["fold"])
    assert all(len(s) == 1 for s in split_of.values())
    assert all(len(f) == 1 for f in folds.values())
    train = [s for s, sp in split_of.items() if sp == {"train"}]
    assert all(next(iter(folds[s])) in range(3) for s in train)


def test_split_assignment_is_stable_and_near_the_fraction():
    ids = [f"page-{i:05d}" for i in range(4000)]
    got = [assign_split(i, 0, 0.1, 5) for i in ids]
    val = sum(s == "val" for s, _ in got) / len(ids)
    assert 0.08 < val < 0.12
    fold_counts = np.bincount([f for s, f in got if s == "train"], minlength=5)
    assert fold_counts.min() > 0.8 * fold_counts.mean()
    assert got == [assign_split(i, 0, 0.1, 5) for i in ids]


def test_variants_are_spread_and_interleaved(sources, tmp_path):
    from shards.storage.reader import make_pipeline

    cfg = _config(factor=6, samples_per_shard=12)  # 2 variants per group: 3 shards per chunk
    run_job(sources, tmp_path, cfg, QUIET)
    shards_of: dict[str, set] = {}
    for shard in sorted(tmp_path.glob("*.tar")):
        keys = [m["__key__"] for _, m in make_pipeline([str(shard)], None, shuffle_buffer=0)]
        ids = [k.rsplit("_v", 1)[0] for k in keys]
        for i in ids:
            shards_of.setdefault(i, set()).add(shard.name)
        if len(set(ids)) > 1:  # variant-major: the same page never twice in a row
            assert all(a != b for a, b in zip(ids, ids[1:])), (shard.name, ids)
    assert all(len(s) == 3 for s in shards_of.values())


def test_replay_reproduces_every_member(reference):
    m = load_manifest(reference)
    key = next(k for s in m["shards"] for k in (s["first_key"], s["last_key"]) if not k.endswith("_v00"))
    result = replay(reference, key)
    assert result.identical, result.text()


def test_config_errors_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="'val_fraction' must be a number in \\[0, 1\\), found 1.5"):
        load_config(None, val_fraction=1.5)
    bad = tmp_path / "c.toml"
    bad.write_text("[ops.spatial]\nrotate = [-5, 5]\nwobble = 1\n")
    with pytest.raises(ConfigError, match=r"c.toml: \[ops.spatial\] has unknown keys \['wobble'\]"):
        load_config(bad)
    bad.write_text("jobs = 4\n")  # a run option, not an output setting
    with pytest.raises(ConfigError, match=r"c.toml: unknown setting 'jobs'.*--jobs .* flags only"):
        load_config(bad)


def test_every_invalid_setting_is_reported_at_once():
    with pytest.raises(ConfigError, match=r"'factor' must be an integer >= 1, found 0; config 'quality' must be an "
                                          r"integer in \[1, 100\], found 101; config 'ops.spatial.p' must be a "
                                          r"number in \[0, 1\], found 2"):
        load_config(None, factor=0, quality=101, ops={"spatial": {"p": 2}})
    with pytest.raises(ConfigError, match=r"'jobs' must be a non-zero integer .*, found 0; run option 'backend' must "
                                          r"be one of \['dask', 'loky', 'threading'\], found 'spark'"):
        run_options(jobs=0, backend="spark")


def test_config_hash_is_pinned():
    """A changed hash makes every resumed job rebuild its shards: pinned since schema 2
    (issue 13: the spatial op's sizing modes and the presets entered the config; issue 20:
    `split_by` entered it, as samples gained their `group`)."""
    from augment.config import AugmentConfig

    assert AugmentConfig().hash() == HASH_BASE
    assert load_config(None, factor=6, seed=0).hash() == HASH_WEB


def test_config_imports_no_execution_backend():
    code = "import augment.config, sys; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    loaded = done.stdout.split()
    assert "augment.config" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("joblib", "dask", "distributed", "torch")
            or m in ("augment.backends", "augment.run_options", "augment.job")] == []


def test_cli_run_prints_a_summary(sources, tmp_path):
    out = subprocess.run([sys.executable, "-m", "augment", "run", "--input", str(sources), "--out", str(tmp_path),
                          "--factor", "2", "--no-progress"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "sources read 6, accepted 6, rejected 0" in out.stdout and "samples 12" in out.stdout
    assert load_manifest(tmp_path)["config"]["preset"] == "web"
    again = subprocess.run([sys.executable, "-m", "augment", "run", "--input", str(sources), "--out", str(tmp_path),
                            "--factor", "2", "--no-progress", "--preset", "seed", "--overwrite"],
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert load_manifest(tmp_path)["config"]["preset"] == "seed"


def test_shipped_default_toml_equals_the_code_defaults():
    from augment.config import DEFAULT_TOML, AugmentConfig

    assert load_config(DEFAULT_TOML).job_dict() == AugmentConfig().job_dict()  # its preset is "seed"
    import tomllib

    table = tomllib.loads(DEFAULT_TOML.read_text())
    assert {k: v for k, v in table.items() if k != "ops"} == {
        k: v for k, v in AugmentConfig().job_dict().items() if k != "ops"}
    assert table["ops"] == AugmentConfig().ops


def test_contact_sheet_shows_augmented_samples_beside_their_sources(reference, tmp_path):
    import cv2

    from shards.views.show import _pick, contact_sheet, draw_cell

    samples, sources = _pick(reference, "train", 3, seed=1)
    assert len(samples) == 3 and all(m["variant"] > 0 for _, m in samples)
    assert {m["source"] for _, m in samples} <= set(sources)
    path = contact_sheet(reference, n=3, dest=tmp_path / "sheet.png", seed=1)
    sheet = cv2.imread(str(path))
    cells = [draw_cell(s, sources[s[1]["source"]]) for s in samples]
    assert sheet is not None and sheet.shape[0] == sum(c.shape[0] for c in cells)  # one row per sample

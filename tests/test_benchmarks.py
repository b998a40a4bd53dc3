"""Every benchmark runs end to end at its smallest settings and writes every JSON field.

No timing assertions: the figures depend on the machine and its load; what is checked is
that each benchmark runs, prints a table and records what a reader needs.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import __main__ as bench_all
from benchmarks import (augment_throughput, cost, label_ceiling, rerender, role_confusion, scaling, shard_io,
                        synth_browser, train_input)

pytestmark = pytest.mark.slow

COMMON = {"benchmark", "date", "quick", "machine", "versions", "settings"}
MACHINE = {"cpu_count", "usable_cpus", "cpu_model", "platform", "memory_gib", "loadavg_start", "loadavg_end", "cuda"}
VERSIONS = {"python", "torch", "albumentations", "opencv-python-headless", "numpy", "webdataset", "joblib"}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench")
    return root / "work", root / "results"


def _run(module, flags: list[str], dirs: tuple[Path, Path], capsys) -> dict:
    work, results = dirs
    assert module.main([*flags, "--work", str(work), "--results", str(results)]) == 0
    assert "|" in capsys.readouterr().out  # the table
    data = json.loads((results / f"{module.NAME}.json").read_text())
    assert COMMON <= set(data), COMMON - set(data)
    assert MACHINE <= set(data["machine"]) and VERSIONS <= set(data["versions"])
    return data


def test_augment_throughput(dirs, capsys):
    d = _run(augment_throughput, ["--sources", "2", "--factor", "2", "--repeats", "1", "--jobs", "2"], dirs, capsys)
    for key in ("ratio_vs_bare", "ratio_vs_naive", "ratio_vs_bare_cpu", "ratio_vs_naive_cpu", "parallel_efficiency",
                "samples", "seconds", "cpu_seconds", "targets"):
        assert d[key] is not None, key
    assert set(d["variants_per_s_per_core"]) == {"ours_jobs1", "ours_jobs2", "bare", "naive"}
    assert set(d["breakdown_ms_per_variant"]) == set(augment_throughput.STAGES)
    assert d["samples"] == 4


def test_label_ceiling(dirs, capsys):
    d = _run(label_ceiling, ["--pages", "40", "--augment-pages", "2", "--variants", "2"], dirs, capsys)
    for factor in label_ceiling.FACTORS:
        assert {"ceiling", "unseen_signatures", "vocabulary", "coverage_50", "coverage_80", "coverage_90",
                "heldout_unseen_labels", "confusions"} <= set(d[factor])
        assert 0.0 <= d[factor]["ceiling"] <= 1.0
    assert d["token"]["ceiling"] > d["raw_token"]["ceiling"] and d["recorded"] == 1.0
    assert set(d["augmented"]) == {"seed", "web"} and set(d["targets"]) == set(label_ceiling.TARGETS)


def test_role_confusion(dirs, capsys):
    d = _run(role_confusion, ["--pages", "12", "--per-kind", "30"], dirs, capsys)
    assert {"kinds", "pairs", "alike", "raw_kind_accuracy", "role_accuracy"} <= set(d)
    assert d["role_accuracy"] >= d["raw_kind_accuracy"]
    assert all(set(k) == {"role", "crops", "accuracy"} for k in d["kinds"].values())


def test_shard_io(dirs, capsys):
    d = _run(shard_io, ["--sources", "3", "--factor", "2", "--copies", "1", "--repeats", "1"], dirs, capsys)
    assert {"mb_per_s", "write_ratio_vs_tarfile", "write_ratio_vs_tarfile_fsync", "bytes"} <= set(d["write"])
    assert set(d["write"]["mb_per_s"]) == {"shards_writer", "tarfile", "tarfile_fsync", "tarfile_sha256_fsync"}
    read = d["read"]
    assert {"bare_decode", "shards_reader_w1", "shards_reader_w2", "loose_files_w1", "loose_files_w2"} <= set(
        read["samples_per_s"])
    assert {"read_ratio_vs_bare_decode", "read_ratio_vs_bare_decode_cpu", "read_ratio_vs_loose_files",
            "read_ratio_by_workers"} <= set(read)
    assert set(d["targets"]) == {"write_ratio_vs_tarfile", "write_ratio_vs_same_work", "read_ratio_vs_bare_decode"}


def test_train_input(dirs, capsys):
    flags = ["--sources", "3", "--factor", "2", "--phases", "1", "--batch", "2", "--batches", "1", "--steps", "1"]
    d = _run(train_input, flags, dirs, capsys)
    (row,) = d["phases"]
    for key in ("phase", "preset", "device", "canvas_width", "batch_size", "micro_batch", "peak_rss_mib",
                "input_samples_per_s", "compute_samples_per_s", "input_over_compute", "bound_by"):
        assert row[key] is not None, key
    assert row["bound_by"] in ("input", "compute") and row["batch_size"] == 2 and row["micro_batch"] == 2
    assert row["peak_rss_mib"] > 100  # a fresh process's own peak: torch alone is more
    (target,) = d["targets"].values()
    assert target["target"] == train_input.TARGET and target["met"] == (target["measured"] >= train_input.TARGET)


def test_cost(dirs, capsys):
    d = _run(cost, ["--sources", "3", "--factor", "2", "--phases", "1", "--batches", "1", "--jobs", "1"], dirs, capsys)
    assert {"augment_per_s", "write_mb_per_s", "bytes_per_sample", "read_per_s"} <= set(d["data"])
    (row,) = d["phases"]
    assert row["phase"] == 1 and row["step_per_s"] > 0 and row["flops_per_sample"] > 1e6
    (c,) = d["costs"]
    assert c["samples"] == 100_000 and c["train_pages"] == 16_000 and c["run_usd_gpu"] > 0
    assert c["gpu_figures"].startswith("measured" if row["device"] == "cuda" else "extrapolated")


def test_scaling(dirs, capsys):
    d = _run(scaling, ["--sizes", "2", "3", "--factor", "1"], dirs, capsys)
    assert [r["sources"] for r in d["rows"]] == [2, 3]
    assert all(r["peak_rss_mib"] > 0 and r["seconds"] > 0 for r in d["rows"])
    assert {"slope", "intercept", "r2"} <= set(d["time_fit_s_per_source"]) and "rss_growth" in d


def test_rerender(dirs, capsys, tmp_path):
    from augment.render import BrowserError
    from augment.render.rerender import check_browser

    try:
        check_browser()
    except BrowserError as e:
        pytest.skip(str(e))
    pages = tmp_path / "pages"  # one page of the set with its stylesheet: a browser start and ~7 renders
    (pages / "css").mkdir(parents=True)
    (pages / "css" / "blog.css").write_bytes((rerender.PAGE_SET / "css" / "blog.css").read_bytes())
    (pages / "blog-post.html").write_bytes((rerender.PAGE_SET / "blog-post.html").read_bytes())
    from augment.render.rerender import close_renderers

    try:
        d = _run(rerender, ["--pages", "1", "--html", str(pages)], dirs, capsys)
    finally:
        close_renderers()
    assert d["settings"]["pages"] == 1 and d["pages"] == ["blog-post"]
    identity = d["ops"]["identity"]
    assert identity["exact"] == 1.0 and identity["box_iou"] == 1.0 and identity["failed"] == 0
    assert {"ncc_median", "box_iou", "moved", "sections_differ", "paint_per_s", "rerender_per_s"} <= set(identity)


@pytest.mark.parametrize("module", [augment_throughput, shard_io, train_input, scaling, label_ceiling, role_confusion,
                                    cost, rerender, synth_browser, bench_all])
def test_help(module, capsys):
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])
    assert e.value.code == 0 and "--quick" in capsys.readouterr().out


def test_label_ceiling_few_shot_shows_the_gap_only_where_looks_are_shared(dirs, capsys):
    work, results = dirs
    assert label_ceiling.main(["--few-shot", "--pages", "120", "--work", str(work), "--results", str(results)]) == 0
    assert "shared looks" in capsys.readouterr().out
    rows = json.loads((results / "label_ceiling_few_shot.json").read_text())["few_shot"]
    plain, shared = rows
    assert plain["shared_looks"] == 0.0 and shared["shared_looks"] == label_ceiling.common.FEW_SHOT_LOOKS
    assert plain["type_k0"] >= 0.99 and plain["type_k4"] >= 0.99  # the page alone says it all
    # shared looks: the page alone cannot tell which look is which type; the group's pages can
    assert shared["type_k0"] < 0.7 and shared["type_k4"] > shared["type_k1"] > shared["type_k0"] + 0.05
    assert shared["found_k4"] > shared["found_k1"] > shared["found_k0"] == 0.0


def test_synth_browser(dirs, capsys, tmp_path):
    from test_render import _why_skip
    from test_synth_browser import FIXTURE, pack_fixture

    if _why_skip() is not None:
        pytest.skip(f"no browser to render with: {_why_skip()}")
    pack_fixture(tmp_path / "cache")  # a few CSS rules per framework: offline, and one page rendered three ways
    d = _run(synth_browser, ["--pages", "1", "--jobs", "1", "--width", "640", "--cache", str(tmp_path / "cache"),
                             "--manifest", str(FIXTURE / "frameworks.toml")], dirs, capsys)
    assert set(d["rows"]) == {"synth", "render_one_at_a_time", "end_to_end"}
    assert d["rows"]["synth"]["pages"] == 1 and "met" in d["targets"]["synth_pages_per_s"]

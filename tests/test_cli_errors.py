"""Issue 16, class 2: a known failure never reaches the user as a traceback.

Each case runs the `augment` or `shards` CLI in-process on a folder broken in one way and
checks the exit code, the `error: ...` / `PROBLEM ...` line naming the file, key or setting,
that no traceback is printed, and that the command changed nothing on disk.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from augment.cli import main as augment_main
from conftest import build_dir
from shards.cli import main as shards_main
from shards.storage.lock import hold

CLIS = {"augment": augment_main, "shards": shards_main}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _torn_sidecar(d: Path) -> None:
    (d / "train-000000.tar.json").write_text('{"shard": "train-000000.tar", "sam')


def _rewrite_manifest(change):
    def edit(d: Path) -> None:
        m = json.loads((d / "manifest.json").read_text())
        change(m)
        (d / "manifest.json").write_text(json.dumps(m))
    return edit


def _corrupt_shard(d: Path) -> None:
    p = d / "train-000001.tar"
    p.write_bytes(p.read_bytes()[:2000])  # cut inside the second sample


def _nothing(d: Path) -> None:
    pass


# (cli, argv with {d} for the shard folder, break the folder, exit code, expected text in stderr or stdout)
CASES = {
    "show a split that is not there": (
        "shards", ["show", "{d}", "--split", "val"], _nothing, 2,
        "error: {d}: no shards for split 'val' (its manifest has: train)"),
    "verify a torn sidecar": (
        "shards", ["verify", "{d}"], _torn_sidecar, 1,
        "PROBLEM train-000000.tar.json: sidecar does not parse (JSONDecodeError"),
    "verify a manifest row without shard": (
        "shards", ["verify", "{d}"], _rewrite_manifest(lambda m: m["shards"][0].pop("shard")), 1,
        "PROBLEM {d}/manifest.json: shards[0].shard None must be a plain '<name>.tar' file name"),
    "verify a shard name with ..": (
        "shards", ["verify", "{d}"], _rewrite_manifest(lambda m: m["shards"][0].update(shard="../x.tar")), 1,
        "shards[0].shard '../x.tar' must be a plain '<name>.tar' file name in this folder"),
    "show through a shard name with ..": (
        "shards", ["show", "{d}"], _rewrite_manifest(lambda m: m["shards"][0].update(shard="../x.tar")), 2,
        "error: {d}/manifest.json: shards[0].shard '../x.tar' must be a plain"),
    "inspect a manifest without totals": (
        "shards", ["inspect", "{d}"], _rewrite_manifest(lambda m: m.pop("totals")), 2,
        "error: {d}/manifest.json: 'totals' must be a JSON dict"),
    "inspect a folder without a manifest": (
        "shards", ["inspect", "{d}"], lambda d: (d / "manifest.json").unlink(), 2,
        "error: {d}/manifest.json: no manifest"),
    "show a corrupt shard": (
        "shards", ["show", "{d}"], _corrupt_shard, 2, "error: train-000001.tar: unreadable tar"),
    "export into the shard folder": (
        "shards", ["export", "{d}", "{d}/hf", "--to", "hf"], _nothing, 2,
        "error: {d}/hf: inside the shard directory"),
    "replay an unknown key": (
        "augment", ["replay", "{d}", "page-9-9_v01"], _nothing, 2, "error: {d}: no sample with key 'page-9-9_v01'"),
    "replay a malformed key": (
        "augment", ["replay", "{d}", "not a key"], _nothing, 2, "error: key 'not a key' is not of the form <id>_v<NN>"),
    "replay without the source folder": (
        "augment", ["replay", "{d}", "page-0-0_v01"], _nothing, 2,
        "error: {d}: the manifest records no source folder; pass --input"),
    "replay from a missing source folder": (
        "augment", ["replay", "{d}", "page-0-0_v01", "--input", "{d}/gone"], _nothing, 2,
        "error: {d}/gone: the source folder of page-0-0_v01 is not a directory"),
    "run from a missing input": (
        "augment", ["run", "--input", "{d}/missing", "--out", "{d}/o"], _nothing, 2,
        "error: --input {d}/missing: not a directory of source pairs"),
    "run from a folder without pairs": (
        "augment", ["run", "--input", "{d}", "--out", "{d}/o"], _nothing, 2,
        "error: --input {d}: no source pairs (<id>.png|jpg|webp + <id>.html) at its top level"),
    "run into a file": (
        "augment", ["run", "--input", "{d}", "--out", "{d}/manifest.json"], _nothing, 2,
        "error: --out {d}/manifest.json: exists and is not a folder"),
    "run with a config that does not parse": (
        "augment", ["run", "--input", "{d}", "--out", "{d}/o", "--config", "{d}/manifest.json"], _nothing, 2,
        "error: {d}/manifest.json: cannot read config"),
    "run with a --set that is no assignment": (
        "augment", ["run", "--input", "{d}", "--out", "{d}/o", "--set", "factor"], _nothing, 2,
        "error: --set 'factor': expected key=value"),
    "run with an unknown --set key": (
        "augment", ["run", "--print-config", "--set", "ops.spatial.wobble=1"], _nothing, 2,
        "error: --set: [ops.spatial] has unknown keys ['wobble']"),
    "synth no pages": ("augment", ["synth", "--out", "{d}/s", "--count", "0"], _nothing, 2,
                       "error: --count 0: must be at least 1"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_known_failure_is_one_error_line_and_an_exit_code(tmp_path, capsys, name):
    cli, argv, damage, code, expected = CASES[name]
    d = tmp_path / "shards"
    d.mkdir()
    build_dir(d)
    damage(d)
    before = _snapshot(d)
    rc = CLIS[cli]([a.format(d=d) for a in argv])
    out, err = capsys.readouterr()
    assert rc == code, (out, err)
    assert expected.format(d=d) in out + err
    assert "Traceback" not in out + err
    assert _snapshot(d) == before  # a refused command writes nothing


def test_a_second_job_on_a_held_out_folder_is_refused_naming_the_holder(tmp_path, capsys):
    src = tmp_path / "src"
    assert augment_main(["synth", "--out", str(src), "--count", "2", "-q"]) == 0
    out = tmp_path / "out"
    out.mkdir()
    with hold(out, "augment run") as me:
        rc = augment_main(["run", "--input", str(src), "--out", str(out), "--factor", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert (f"error: --out {out}: in use by augment run, pid {me['pid']} on {me['host']} since {me['started']}; "
            "wait for it to finish or use another folder") in err
    assert list(out.iterdir()) == []  # the lock file went with its holder; nothing else was written


def test_an_unknown_flag_prints_the_subcommands_usage(capsys):
    with pytest.raises(SystemExit) as e:
        augment_main(["run", "--fact", "3"])  # no abbreviations: --fact is not --factor
    err = capsys.readouterr().err
    assert e.value.code == 2 and "usage: s2s-augment run " in err and "unrecognized arguments: --fact 3" in err
    with pytest.raises(SystemExit):
        shards_main(["verify", "x", "--hed", "3"])
    assert "usage: s2s-shards verify " in capsys.readouterr().err


def test_run_without_input_is_a_usage_error_but_print_config_needs_none(capsys):
    with pytest.raises(SystemExit) as e:
        augment_main(["run", "--factor", "3"])
    assert e.value.code == 2 and "the following arguments are required: --input, --out" in capsys.readouterr().err
    assert augment_main(["run", "--print-config", "--factor", "3", "--set", "ops.spatial.p=0.5"]) == 0
    text = capsys.readouterr().out
    assert "factor = 3\n" in text and "[ops.spatial]\np = 0.5\n" in text


def test_a_disk_error_is_exit_1_naming_the_path(tmp_path, capsys):
    src = tmp_path / "src"
    assert augment_main(["synth", "--out", str(src), "--count", "1", "-q"]) == 0
    capsys.readouterr()
    ro = tmp_path / "ro"
    shutil.copytree(src, ro)
    rc = augment_main(["synth", "--out", str(ro / "page-00000.png" / "x"), "--count", "1", "-q"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: [Errno") and "page-00000.png" in err and "Traceback" not in err

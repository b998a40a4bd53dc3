"""Issue 24: which package versions wrote a set of shards is recorded with it, and checking or
extending it under other versions says so.

Each sidecar records the versions of the process that built its shard, the manifest gathers
them, and `shards verify` or a rerun of `augment run` that keeps shards warns, naming each
package that differs with both versions and the fix (`shards.storage.versions`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from augment.config import load_config
from augment.job import run_job
from augment.run_options import RunOptions
from augment.synth import write_synth
from shards import load_manifest
from shards.cli import main as shards_main
from shards.storage import versions
from shards.storage.verify import versions_warning


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("out")
    write_synth(src, 3, seed=1, progress=False)
    run_job(src, out, load_config(None, factor=2, samples_per_shard=2), RunOptions(progress=False))
    return src, out


def _edit_json(path: Path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_sidecars_and_manifest_record_the_versions_that_wrote_them(built):
    _, out = built
    now = versions.current()
    assert now["opencv-python-headless"] and now["numpy"] and now["python"]
    sidecars = [json.loads(p.read_text()) for p in sorted(out.glob("*.tar.json"))]
    assert len(sidecars) >= 2 and all(s["versions"] == now for s in sidecars)
    m = load_manifest(out)
    assert m["versions"] == {k: [v] for k, v in sorted(now.items())}
    assert all("versions" not in row for row in m["shards"])  # once, not per shard row
    assert versions_warning(out) is None


def test_verify_warns_naming_each_package_and_both_versions(built, tmp_path, capsys):
    out = shutil.copytree(built[1], tmp_path / "shards")
    m = json.loads((out / "manifest.json").read_text())
    here = m["versions"]["numpy"][0]
    _edit_json(out / "manifest.json", versions={**m["versions"], "numpy": ["1.26.0"],
                                                "lxml": ["5.0.0", m["versions"]["lxml"][0]]})
    assert shards_main(["verify", str(out)]) == 0  # the bytes are as written: OK, with a warning
    err = capsys.readouterr().err
    assert f"warning: {out / 'manifest.json'}: its shards were written with other package versions" in err
    assert f"numpy 1.26.0 (here {here})" in err and "lxml 5.0.0 and " in err
    assert "pip install 'numpy==1.26.0'" in err and "opencv" not in err


def test_rerun_that_keeps_shards_of_other_versions_warns(built, tmp_path):
    src, out = built[0], shutil.copytree(built[1], tmp_path / "shards")
    sidecars = sorted(out.glob("*.tar.json"))
    first = json.loads(sidecars[0].read_text())
    _edit_json(sidecars[0], versions={**first["versions"], "opencv-python-headless": "4.11.0.86"})
    summary = run_job(src, out, load_config(None, factor=2, samples_per_shard=2), RunOptions(progress=False))
    assert summary.built == 0  # every shard kept: the versions are a warning, not a rebuild
    (note,) = [n for n in summary.notes if "package versions" in n]
    here = versions.current()["opencv-python-headless"]
    assert note.startswith(f"warning: --out {out}: 1 of the {len(sidecars)} shard(s) kept from an earlier run")
    assert f"opencv-python-headless 4.11.0.86 (here {here})" in note and "new --out" in note
    assert load_manifest(out)["versions"]["opencv-python-headless"] == sorted(["4.11.0.86", here])
    assert versions_warning(out) and f"4.11.0.86 and {here}" in versions_warning(out)


def test_drift_reads_only_what_differs():
    now = {"python": "3.11.7", "numpy": "2.4.6", "lxml": "6.2.0"}
    assert versions.drift({"numpy": ["2.4.6"], "lxml": ["6.2.0"]}, now) == []
    assert versions.drift({"numpy": ["2.3.0", "2.4.6"]}, now) == [("numpy", ["2.3.0", "2.4.6"], "2.4.6")]
    assert versions.drift({"scipy": ["1.0"]}, now) == [("scipy", ["1.0"], "None")]  # not installed here
    assert versions.drift("edited by hand", now) == [] and versions.drift(None, now) == []
    assert versions.gather([{"numpy": "2.4.6"}, None, {"numpy": "2.3.0"}]) == {"numpy": ["2.3.0", "2.4.6"]}


def test_every_extra_installs_under_the_lock():
    """`make corpus`, `make test` and CI install extras with `pip -c constraints.txt`: a version an
    extra pins that the lock excludes makes that install impossible (the lock once held pygments
    2.21 while the corpus builders pin 2.18, and `make corpus` could not install)."""
    import re
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    root = Path(__file__).resolve().parent.parent
    lock = {}
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            lock[canonicalize_name(m.group(1))] = m.group(2).split("+")[0]
    extras = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    pins = [(extra, Requirement(req)) for extra, reqs in extras.items() for req in reqs]
    refused = [f"[{extra}] {req}: the lock has {lock[canonicalize_name(req.name)]}" for extra, req in pins
               if canonicalize_name(req.name) in lock
               and not req.specifier.contains(lock[canonicalize_name(req.name)], prereleases=True)]
    assert not refused, "; ".join(refused)

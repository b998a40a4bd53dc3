"""Issue 40: the shell commands of the guides run, on tiny data.

Every ```bash/sh/console block of a page in RUN_PAGES that has no `<!-- not-run: reason -->`
marker is run here, in order, by bash (`set -euo pipefail`) in a scratch folder that the page's
setup fills (what the page assumes you have: your pages, a folder of pairs, shards); `python`
on PATH is this interpreter with the project importable. The numbers that only set how much
work a command does are made tiny (TINY: `--factor 2`, `--max-steps 2`, `--count 6`); every
other word runs as written. The page's unmarked ```python blocks run after its shell blocks, in
the same folder. `tests/test_docs.py` checks that every other shell block carries a marker.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import docs_blocks
from docs_blocks import DOCS, ROOT

TINY = [(re.compile(r"--factor \d+"), "--factor 2"), (re.compile(r"--max-steps \d+"), "--max-steps 2"),
        (re.compile(r"--count \d+"), "--count 6")]


def tiny(command: str) -> str:
    for pattern, small in TINY:
        command = pattern.sub(small, command)
    return command


def _python(cwd: Path, *args: str) -> None:
    done = subprocess.run([sys.executable, *args], cwd=cwd, env=_env(cwd), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def _env(cwd: Path) -> dict[str, str]:
    bin_dir = cwd / ".bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        # a script, not a symlink: a venv's python finds its packages from the path it was started by
        (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        (bin_dir / "python").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}


def _my_pages(cwd: Path) -> None:
    shutil.copytree(ROOT / "tests" / "data" / "pages", cwd / "my_pages")


def _pairs(cwd: Path) -> None:
    _python(cwd, "-m", "augment", "synth", "--out", "PAIRS", "--count", "6", "--seed", "0", "-q")


def _shards(cwd: Path) -> None:
    _pairs(cwd)
    _python(cwd, "-m", "augment", "run", "--input", "PAIRS", "--out", "OUT", "--factor", "2", "--seed", "0", "-q")


# page -> what its commands assume is already there
RUN_PAGES: dict[str, Callable[[Path], None]] = {
    "your-pairs.md": _my_pages,
    "augmentation.md": _pairs,
    "shards.md": _shards,
}


def run_page(page: Path, cwd: Path) -> list[str]:
    """Run the page's unmarked shell blocks, then its unmarked python blocks, in `cwd`; return the commands run."""
    RUN_PAGES[page.name](cwd)
    ran = []
    for block in docs_blocks.blocks(page):
        if block.not_run is not None or block.lang not in docs_blocks.SHELL:
            continue
        script = "\n".join(tiny(c) for c in docs_blocks.commands(block.text))
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=_env(cwd),
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{block.where()}:\n{script}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        ran += docs_blocks.commands(block.text)
    for block in docs_blocks.blocks(page):
        if block.not_run is None and block.lang == "python":
            done = subprocess.run([sys.executable, "-c", block.text], cwd=cwd, env=_env(cwd), capture_output=True,
                                  text=True)
            assert done.returncode == 0, f"{block.where()}:\n{done.stderr[-3000:]}"
            ran.append(block.text)
    return ran


def test_tiny_changes_only_how_much_work():
    assert tiny("python -m augment run --input P --out O --factor 50 --seed 0") == (
        "python -m augment run --input P --out O --factor 2 --seed 0")
    assert tiny("python -m train fit --shards S --run R --max-steps 300") == (
        "python -m train fit --shards S --run R --max-steps 2")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~3 minutes on 2 quiet cores; a shared machine can take 5x that
def test_bring_your_own_pairs_from_pages_to_a_trained_model(tmp_path):
    ran = run_page(DOCS / "your-pairs.md", tmp_path)
    assert any("augment render" in c for c in ran) and any("train export" in c for c in ran)
    assert (tmp_path / "my_model" / "model.safetensors").exists()
    assert (tmp_path / "my_scores.json").exists() and (tmp_path / "my_overlay.png").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("page", ["augmentation.md", "shards.md"])
def test_the_commands_of_the_page_run(tmp_path, page):
    assert run_page(DOCS / page, tmp_path)

"""Issue 40: docs that cannot rot.

The README stays short and stands alone in a clone; the site (`mkdocs.yml` over `docs/`) builds
with `--strict`, so a broken link, a missing anchor or a page left out of the nav fails; every
shell block of the guides is run by `tests/test_docs_commands.py` or marked not run with a
reason; every flag the guides give a project CLI exists in that (sub)command's parser (read in
this process, not from `--help` output); and the evaluation page's tables are what the recorded
results give (`benchmarks/docs_tables.py`).
"""
from __future__ import annotations

import argparse
import importlib
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from unittest import mock

import pytest

import docs_blocks
from docs_blocks import DOCS, ROOT

README = ROOT / "README.md"


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config),
                           "--site-dir", str(site)], cwd=config.parent, capture_output=True, text=True)


def test_the_site_builds_strict(tmp_path):
    done = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "index.html").exists() and (tmp_path / "site" / "your-pairs.html").exists()


def test_a_broken_link_or_a_page_left_out_fails_the_build(tmp_path):
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copyfile(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    page = tmp_path / "docs" / "shards.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "no-such-page.md" in done.stderr
    page.write_text(page.read_text().replace("See [the missing page](no-such-page.md).\n", ""))
    (tmp_path / "docs" / "orphan.md").write_text("# Orphan\n")
    done = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert done.returncode != 0 and "orphan.md" in done.stderr


def test_the_readme_is_a_ten_minute_read_that_stands_alone():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make demo" in quick and "make test" in quick  # the CI hook greps for both
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links and not [link for link in links if "shared" in link.split("/")[:2] or link.startswith("..")]
    for link in links:
        if "://" in link:
            continue
        path, _, anchor = link.partition("#")
        target = (ROOT / path) if path else README
        assert target.exists(), f"README.md links to {link}, which is not in the clone"
        if anchor and target.suffix == ".md":
            assert anchor in _anchors(target), f"README.md links to {link}: no heading makes #{anchor}"
    picture = ROOT / "docs" / "overview.png"
    assert picture.exists() and picture.stat().st_size < 300_000


def _anchors(page: Path) -> set[str]:
    heads = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in heads}


def test_every_shell_block_is_run_or_says_why_not():
    from test_docs_commands import RUN_PAGES

    problems = []
    for page in docs_blocks.guides():
        for block in docs_blocks.shell_blocks(page):
            if block.not_run is None and page.name not in RUN_PAGES:
                problems.append(f"{block.where()}: not run by tests/test_docs_commands.py (RUN_PAGES) and no "
                                f"'<!-- not-run: reason -->' on the line before it")
            if block.not_run is not None and len(block.not_run) < 8:
                problems.append(f"{block.where()}: the not-run marker gives no reason ({block.not_run!r})")
    assert problems == []
    assert any(b.not_run is None for b in docs_blocks.shell_blocks(DOCS / "your-pairs.md"))


def test_the_readme_five_steps_are_the_commands_the_docs_test_runs():
    (steps,) = [b for b in docs_blocks.shell_blocks(README) if "augment render" in b.text]
    ran = {c for b in docs_blocks.shell_blocks(DOCS / "your-pairs.md") if b.not_run is None
           for c in docs_blocks.commands(b.text)}
    missing = [c for c in docs_blocks.commands(steps.text) if c not in ran]
    assert missing == [], f"README.md:{steps.line}: not among docs/your-pairs.md's commands: {missing}"


class _Parsed(Exception):
    """Raised in place of parsing: carries the parser a benchmark's main() built."""


@cache
def _parser(cli: str) -> argparse.ArgumentParser:
    if cli in ("augment", "shards", "train"):
        return importlib.import_module(f"{cli}.cli").build_parser()
    module = importlib.import_module("benchmarks.__main__" if cli == "benchmarks" else cli)

    def grab(self, *args, **kwargs):
        raise _Parsed(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", grab), \
            mock.patch.object(argparse.ArgumentParser, "parse_known_args", grab):
        try:
            module.main([])
        except _Parsed as parsed:
            return parsed.args[0]
    raise AssertionError(f"{cli}.main() built no argparse parser")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def _problems(cli: str, tokens: list[str]) -> list[str]:
    parser, path = _parser(cli), f"python -m {cli}"
    for token in tokens:
        subs = _subparsers(parser)
        if not subs or token.startswith("-"):
            break
        alternatives = token.strip("`").split("|")
        unknown = [a for a in alternatives if a not in subs]
        if unknown:
            return [f"{path}: no subcommand {' '.join(unknown)} (its subcommands: {', '.join(subs)})"]
        if len(alternatives) > 1:
            return []
        parser, path = subs[token], f"{path} {token}"
    known = {s for a in parser._actions for s in a.option_strings}
    return [f"{path}: no flag {flag} (its flags: {', '.join(sorted(k for k in known if k.startswith('--')))})"
            for flag in docs_blocks.flags(tokens) if flag not in known]


def test_every_flag_the_docs_name_exists():
    problems, checked = [], 0
    for page in docs_blocks.guides():
        for line, text in docs_blocks.code_texts(page):
            for cli, tokens in docs_blocks.cli_commands(text):
                checked += len(docs_blocks.flags(tokens))
                problems += [f"{page.relative_to(ROOT)}:{line}: `{text}`: {p}" for p in _problems(cli, tokens)]
    assert problems == []
    assert checked > 120  # the guides name about 170 flags; far fewer means the reader lost them


def test_a_renamed_flag_is_caught():
    assert _problems("train", ["fit", "--shards", "OUT", "--max-step", "3"]) == [
        p for p in _problems("train", ["fit", "--max-step"])]
    assert _problems("train", ["fit", "--max-step"])[0].startswith("python -m train fit: no flag --max-step")
    assert _problems("augment", ["corpus", "build", "--offline"]) == []
    assert _problems("shards", ["verify|inspect|show|export"]) == []
    assert _problems("benchmarks.cost", ["--from-recorded"]) == []


@pytest.mark.parametrize("page", ["evaluation.md"])
def test_the_evaluation_tables_are_what_the_recorded_results_give(tmp_path, page):
    from benchmarks import common, docs_tables

    copy = tmp_path / page
    shutil.copyfile(DOCS / page, copy)
    names = docs_tables.update_page(common.RECORD_DIR, copy)
    assert set(names) == set(docs_tables.TABLES)
    assert copy.read_text() == (DOCS / page).read_text(), (
        f"docs/{page}'s tables differ from benchmarks/results/: run `python -m benchmarks --record` "
        f"(make bench-record) or `python -c 'from benchmarks import docs_tables; docs_tables.update_page()'`")


def test_a_table_typed_over_is_put_back(tmp_path):
    from benchmarks import common, docs_tables

    copy = tmp_path / "evaluation.md"
    text = (DOCS / "evaluation.md").read_text()
    copy.write_text(text.replace("| section count ", "| section count (typed by hand) ", 1))
    docs_tables.update_page(common.RECORD_DIR, copy)
    assert copy.read_text() == text

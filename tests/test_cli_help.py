"""Issue 18, items 3 and 4: every command line explains itself, and logs like one.

One test walks every parser of the three CLIs (augment, shards, train), subcommands
included: no abbreviated flags, every subcommand has a description, every flag has help that
shows its default (or says it is required), never a bare "None"; the top level has
`--version`. The others check the shared pieces behind that: the subcommand's own usage for an
unknown flag, `-v`/`-q`, and progress bars that stay off when the output is not a terminal.
"""
from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from augment.cli import build_parser as augment_parser
from shards.cli import build_parser as shards_parser
from shards.views import cli_support

ROOT = Path(__file__).resolve().parents[1]


def _train_parser() -> argparse.ArgumentParser:
    from train.cli import build_parser

    return build_parser()


PARSERS = {"augment": augment_parser, "shards": shards_parser, "train": _train_parser}


def _walk(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _walk(sub, f"{path} {name}")
    return found


def _problems(parser: argparse.ArgumentParser, path: str, top: bool) -> list[str]:
    out = []
    if parser.allow_abbrev:
        out.append(f"{path}: allows abbreviated flags")
    if not top and not (parser.description or "").strip():
        out.append(f"{path}: no description")
    if top and not any(isinstance(a, argparse._VersionAction) for a in parser._actions):
        out.append(f"{path}: no --version")
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        flag = "/".join(action.option_strings)
        if not action.help or action.help == argparse.SUPPRESS:
            out.append(f"{path} {flag}: no help")
            continue
        text = formatter._expand_help(action)
        if not ("default" in text.lower() or "required" in text.lower() or action.required):
            out.append(f"{path} {flag}: help shows no default ({text!r})")
        if "default: None" in text:
            out.append(f"{path} {flag}: the default reads None; say what leaving it out means ({text!r})")
    return out


@pytest.mark.parametrize("cli", ["augment", "shards", "train"])
def test_every_flag_of_every_subcommand_has_help_and_shows_its_default(cli):
    problems = []
    for path, parser in _walk(PARSERS[cli](), cli):
        problems += _problems(parser, path, top=path == cli)
    assert problems == []


@pytest.mark.parametrize("module", ["augment", "shards", "train"])
def test_version_and_help_from_the_command_line(module):
    for flag in ("--version", "--help"):
        done = subprocess.run([sys.executable, "-m", module, flag], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: s2s-")


def test_the_formatter_shows_defaults_once_and_never_none():
    p = argparse.ArgumentParser(formatter_class=cli_support.HelpFormatter)
    p.add_argument("--a", type=int, default=3, help="a count")
    p.add_argument("--b", help="a file")
    p.add_argument("--c", default=1, help="says its own default (default: one)")
    p.add_argument("--d", required=True, help="needed")
    text = p.format_help()
    assert "a count (default: 3)" in text and "a file (default: not set)" in text
    assert "(default: one)" in text and "default: 1" not in text and "needed\n" in text


def test_set_assignments_become_nested_tables():
    assert cli_support.parse_assignment("ops.spatial.p=0.5") == {"ops": {"spatial": {"p": 0.5}}}
    assert cli_support.parse_assignment("image_format = webp") == {"image_format": "webp"}
    assert cli_support.parse_assignment("long_side=[1024, 256]") == {"long_side": [1024, 256]}
    for bad in ("factor", "=3", "ops..p=1"):
        with pytest.raises(ValueError, match="expected key=value"):
            cli_support.parse_assignment(bad)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_and_never_quiet():
    cli_support.setup_logging()
    assert cli_support.progress_enabled(True, _Tty())
    assert not cli_support.progress_enabled(True, io.StringIO())  # a log file: no \r frames
    assert not cli_support.progress_enabled(False, _Tty())
    cli_support.setup_logging(quiet=True)
    assert not cli_support.progress_enabled(True, _Tty())
    assert logging.getLogger("augment").getEffectiveLevel() == logging.WARNING
    cli_support.setup_logging(verbose=1)
    assert logging.getLogger("shards.storage.lock").getEffectiveLevel() == logging.DEBUG


def test_a_log_file_gets_lines_not_progress_frames(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "augment", *a], cwd=ROOT, env=env,  # noqa: E731
                                    capture_output=True, text=True)
    synth = run("synth", "--out", str(tmp_path / "src"), "--count", "3")
    job = run("run", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--factor", "2")
    for done in (synth, job):
        assert done.returncode == 0, done.stderr
        assert "\r" not in done.stderr + done.stdout
        assert done.stdout.endswith("\n")
    assert "sources read 3, accepted 3, rejected 0" in job.stdout
    quiet = run("run", "--input", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--factor", "2", "-q")
    assert quiet.returncode == 0 and quiet.stderr == "" and "0 built, " in quiet.stdout

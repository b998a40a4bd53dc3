"""What every command line of the project shares: parsers, logging, progress, exit codes.

The three CLIs (`augment`, `shards`, `train`) are thin argparse layers over library
functions; this module gives them one behaviour:

- **Parsers** (`new_parser`, `add_command`): every flag's help shows its default
  (`HelpFormatter`), no abbreviated flags (`--fact` is not `--factor`), `--version`, and
  `-v`/`-q` on every subcommand. `parse` makes an unknown flag print the *subcommand's*
  usage, not the top-level one.
- **Logging** (`setup_logging`): stdlib logging, configured once per command from `-v`/`-q`,
  to stderr. Progress bars (`progress_enabled`) show only on a terminal and never under
  `-q`: a log file would get a `\\r` frame per update otherwise. Summaries stay plain
  `print`s on stdout, each line ending in `\\n`.
- **Exit codes** (`run_command`): the project's known failures print `error: ...` (the
  message names the file, key or setting) and exit with a documented code, never a
  traceback; Ctrl-C exits 130 and SIGTERM 143, both after the command's own cleanup ran
  (SIGTERM is turned into an exception, so `finally` blocks and joblib's worker shutdown run).
- **Settings** (`parse_assignment`): `--set key=value` as a nested table.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
import tomllib
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

EXIT_OK = 0
EXIT_PROBLEMS = 1  # the command ran and found problems (verify, replay), or the OS failed it (disk full)
EXIT_ERROR = 2  # bad input, setting or usage, or the output folder is held by another job; nothing was done
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
EXIT_TERMINATED = 143  # SIGTERM (128 + SIGTERM)
EXIT_CODES = {EXIT_OK: "success", EXIT_PROBLEMS: "problems found, or an OS error such as a full disk",
              EXIT_ERROR: "error in the input, a setting or the command line; nothing was done",
              EXIT_INTERRUPTED: "interrupted (Ctrl-C)", EXIT_TERMINATED: "terminated (SIGTERM)"}

PACKAGE = "screen2section"
log = logging.getLogger("screen2section")


def version() -> str:
    """The installed version of the project (`0+unknown` in a source tree never installed)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "0+unknown"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default; a help text that already says its default (or that the
    option is required) keeps it as it is, and an unset default reads "not set", not "None".
    Descriptions are wrapped paragraph by paragraph (blank lines and `- ` items are kept)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or "required" in text.lower() or action.default is argparse.SUPPRESS
                or not action.option_strings or action.required):
            return text
        if action.default is None:
            return f"{text} (default: not set)"
        return f"{text} (default: %(default)s)"

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks, out = re.split(r"\n\s*\n", text.strip("\n")), []
        for block in blocks:
            items = re.split(r"\n(?=\s*- )", block)  # a list item starts a new paragraph
            out.append("\n".join(super(HelpFormatter, self)._fill_text(item, width, indent) for item in items))
        return "\n\n".join(out)


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (-vv: debug)")
    g.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no progress bar")


def new_parser(prog: str, description: str | None) -> tuple[argparse.ArgumentParser, Any]:
    """A top-level parser with `--version` and its subparsers action (a command is required)."""
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"%(prog)s ({PACKAGE}) {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    return p, sub


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help: str,
                description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand running `func(args)`, with the shared formatter, `-v`/`-q` and no abbreviations."""
    p = sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                       formatter_class=HelpFormatter, allow_abbrev=False)
    _add_verbosity(p)
    p.set_defaults(func=func, parser=p)
    return p


def parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv`; an unknown argument is reported with the subcommand's usage (exit 2)."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    return args


_HANDLER: logging.Handler | None = None  # the one handler setup_logging installed


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Configure stdlib logging for a command: WARNING with -q, INFO by default, DEBUG with -v
    for the project's loggers (-vv: every library's too), to the current stderr. Calling it
    again replaces its own handler and leaves any other (a test runner's) alone."""
    global _HANDLER
    level = logging.WARNING if quiet else logging.INFO if verbose == 0 else logging.DEBUG
    root = logging.getLogger()
    if _HANDLER is not None:
        root.removeHandler(_HANDLER)
    _HANDLER = logging.StreamHandler(sys.stderr)
    _HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbose
                                            else "%(levelname)s: %(message)s"))
    root.addHandler(_HANDLER)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    for name in ("screen2section", "augment", "shards", "train", "benchmarks"):
        logging.getLogger(name).setLevel(level)


def progress_enabled(requested: bool = True, stream: Any = None) -> bool:
    """Whether to draw a progress bar: asked for, on a terminal, and not under -q."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(requested and isatty is not None and isatty() and log.getEffectiveLevel() <= logging.INFO)


def parse_assignment(text: str, flag: str = "--set") -> dict[str, Any]:
    """``key=value`` as a nested table: ``ops.spatial.p=0.5`` -> {"ops": {"spatial": {"p": 0.5}}}.
    The value is read as TOML (numbers, booleans, strings, lists); a bare word is a string."""
    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not eq or not key or not all(key.split(".")):
        raise ValueError(f"{flag} {text!r}: expected key=value, e.g. {flag} ops.spatial.p=0.5")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    table: dict[str, Any] = {}
    node = table
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return table


def merge_tables(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` merged into a copy of `base`, nested tables key by key (later `--set`s win)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge_tables(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup runs as for Ctrl-C (a subclass of
    KeyboardInterrupt, which joblib and asyncio already treat as "stop everything now")."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_exception() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread (then restores the handler)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_command(args: argparse.Namespace, errors: dict[type[BaseException], int]) -> int:
    """Run `args.func(args)` with logging set up; map `errors` (class -> exit code) and stops
    to exit codes, printing `error: <message>` instead of a traceback."""
    setup_logging(getattr(args, "verbose", 0), getattr(args, "quiet", False))
    try:
        with sigterm_as_exception():
            return args.func(args)
    except Terminated:
        print("terminated (SIGTERM): stopped the workers; finished outputs are kept, rerun the same command "
              "to complete", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("interrupted: stopped the workers; finished outputs are kept, rerun the same command to complete",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except tuple(errors) as e:
        print(f"error: {e}", file=sys.stderr)
        return next(code for cls, code in errors.items() if isinstance(e, cls))

"""What the documentation checks read: the guides' fenced blocks, their not-run markers and the CLI commands they name.

The guides are README.md, benchmarks/README.md and every page of docs/. A shell block (```bash, ```sh, ```console) is
either run by `tests/test_docs_commands.py` or preceded by a marker saying why it is not:

    <!-- not-run: installs packages -->
    ```bash
    pip install ...
    ```

The marker sits on the line before the block (blank lines between are allowed) and must give a
reason. `commands()` turns a block into its command lines; `cli_commands()` finds every use of
the project's CLIs (`python -m augment|shards|train|benchmarks[.NAME]`, `torchrun ... -m train`,
and inline code that starts with `augment run`, `train fit`, ...) in a page's code, fenced or
inline, so that `tests/test_docs.py` can check each flag against the parsers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SHELL = {"bash", "sh", "console"}
NOT_RUN = re.compile(r"^<!--\s*not-run:(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^```(?P<lang>[A-Za-z0-9_+-]*)\s*$")
INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
# `python -m augment ...`, `torchrun ... -m train fit ...`, `python -m benchmarks.cost ...`
MODULE = re.compile(r"(?:^|\s)-m\s+(?P<cli>augment|shards|train|benchmarks(?:\.[a-z_]+)?)(?=\s|$)")
# inline code such as `train fit --init-from X` or `benchmarks.label_ceiling --few-shot`
BARE = re.compile(r"^(?P<cli>augment|shards|train)\s+(?=[a-z])|^(?P<bench>benchmarks\.[a-z_]+)(?=\s|$)")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    not_run: str | None  # the marker's reason; None when unmarked (the block must be run by a test)

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def guides() -> list[Path]:
    return [ROOT / "README.md", ROOT / "benchmarks" / "README.md", *sorted(DOCS.glob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """Every fenced block of `page`, with the not-run marker before it, if any."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        marker = NOT_RUN.match(lines[k]) if k >= 0 else None
        out.append(Block(page, i + 1, m["lang"].lower(), "\n".join(lines[i + 1:j]),
                         marker["reason"].strip() if marker else None))
        i = j + 1
    return out


def shell_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in SHELL]


def commands(text: str) -> list[str]:
    """The command lines of a shell block: continuation lines joined, comments and `$ ` prompts dropped."""
    out, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not current and (not line or line.startswith("#")):
            continue
        line = re.sub(r"\s+#\s.*$", "", line) if "#" in line else line
        if raw[:1].isspace() and out and not current:  # a synopsis's wrapped line: part of the command above
            out[-1] += " " + line
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append((current + line).strip())
        current = ""
    if current.strip():
        out.append(current.strip())
    return out


def code_texts(page: Path) -> list[tuple[int, str]]:
    """(line, text) of every command-like piece of code: each command of each fenced block, and each inline span."""
    out = []
    for b in blocks(page):
        out += [(b.line, c) for c in commands(b.text)]
    fenced = False
    for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            out += [(n, span.replace("\\|", "|")) for span in INLINE.findall(line)]
    return out


def cli_commands(text: str) -> list[tuple[str, list[str]]]:
    """Each use of a project CLI in `text`: (module, the tokens after it up to the end of that command)."""
    found = []
    for piece in re.split(r"\s*(?:&&|;|\|\s)\s*", text):
        m = MODULE.search(piece)
        if m:
            found.append((m["cli"], piece[m.end():].split()))
            continue
        m = BARE.match(piece)
        if m:
            found.append((m["cli"] or m["bench"], piece[m.end():].split()))
    return found


def flags(tokens: list[str]) -> list[str]:
    """The long flags among `tokens` (synopsis brackets and `=value` stripped)."""
    out = []
    for token in tokens:
        token = token.strip("[](){},'\"")
        m = re.match(r"^(--[a-z][a-z0-9-]*)(?:=.*)?$", token)
        if m:
            out.append(m[1])
    return out

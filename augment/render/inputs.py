"""What `augment render` renders: the HTML files of a folder or the URLs of a list, with ids.

`--html DIR`: every `*.html` / `*.htm` directly in DIR (stylesheets, images and scripts
may sit in subfolders), loaded as a file: URL so relative links resolve. `--urls FILE`:
one URL per line (http, https or file); blank lines and lines starting with `#` are
skipped. Ids follow `augment.sources.source_id_for`, so a rendered pair has the id
`augment run` gives it; two inputs with one id are rejected (`duplicate_id`).

Groups (`augment.groups`): a URL's group is its host name (`shop.example.com`; a file: URL
has none). An HTML folder's `groups.json`, when it has one, gives its pages' groups (keys:
file stem or id, checked as `augment run` checks one). The job writes the groups it knows
into `PAIRS/groups.json`; pages with none are grouped at `augment run` by their id.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..groups import GROUPS_NAME, read_groups
from ..sources import source_id_for

URL_SCHEMES = ("http", "https", "file")


class RenderError(RuntimeError):
    """The render job cannot start; the message says what to change."""


@dataclass(frozen=True)
class RenderInput:
    """One page to render: its id, the URL the browser loads, and what the user gave."""

    source_id: str
    url: str
    given: str
    group: str | None = None  # None: grouped by `augment run`'s rule (id prefix, else the id)


@dataclass(frozen=True)
class InputReject:
    """An input refused before rendering (same fields as a render reject)."""

    source_id: str
    given: str
    reason: str
    message: str


def _dedupe(items: list[RenderInput]) -> tuple[list[RenderInput], list[InputReject]]:
    seen: dict[str, RenderInput] = {}
    rejects = []
    for it in items:
        if it.source_id in seen:
            rejects.append(InputReject(it.source_id, it.given, "duplicate_id",
                                       f"{it.given}: id {it.source_id} already used by {seen[it.source_id].given}"))
        else:
            seen[it.source_id] = it
    return list(seen.values()), rejects


def from_html_dir(html_dir: str | Path) -> tuple[list[RenderInput], list[InputReject]]:
    """The pages of `--html DIR`, sorted by file name."""
    d = Path(html_dir)
    if not d.is_dir():
        raise RenderError(f"--html {d}: not a directory of HTML files")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in (".html", ".htm"))
    if not files:
        raise RenderError(f"--html {d}: no *.html or *.htm files in it")
    table = read_groups(d / GROUPS_NAME) if (d / GROUPS_NAME).is_file() else {}
    return _dedupe([RenderInput(sid, p.resolve().as_uri(), str(p), table.get(p.stem, table.get(sid)))
                    for p in files for sid in (source_id_for(p.stem),)])


def url_id(url: str) -> str:
    """The id of a URL: host, path and query made key-safe, with a short hash of them all."""
    parts = urlsplit(url)
    stem = (parts.netloc + parts.path).strip("/") + (f"?{parts.query}" if parts.query else "")
    return source_id_for(stem or url)


def from_url_file(url_file: str | Path, allow_network: bool) -> tuple[list[RenderInput], list[InputReject]]:
    """The pages of `--urls FILE`, in file order."""
    f = Path(url_file)
    try:
        lines = f.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise RenderError(f"--urls {f}: unreadable ({e})") from None
    items, rejects, remote = [], [], []
    for n, line in enumerate(lines, 1):
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        scheme = urlsplit(url).scheme.lower()
        if scheme not in URL_SCHEMES:
            rejects.append(InputReject(url_id(url), url, "bad_url",
                                       f"{f}:{n}: {url!r} is not an {'/'.join(URL_SCHEMES)} URL"))
            continue
        if scheme != "file":
            remote.append(f"{f}:{n}")
        items.append(RenderInput(url_id(url), url, url, urlsplit(url).hostname or None))
    if remote and not allow_network:
        raise RenderError(f"--urls {f}: {len(remote)} http(s) URL(s) (line {', '.join(remote[:5])}"
                          f"{'...' if len(remote) > 5 else ''}) but rendering is offline; "
                          "pass --allow-network to fetch them")
    if not items and not rejects:
        raise RenderError(f"--urls {f}: no URLs in it (one per line; # starts a comment)")
    kept, dupes = _dedupe(items)
    return kept, rejects + dupes

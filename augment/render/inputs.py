"""What `augment render` renders: the HTML files of a folder or the URLs of a list, with ids.

`--html DIR`: every `*.html` / `*.htm` directly in DIR (stylesheets, images and scripts
may sit in subfolders), loaded as a file: URL so relative links resolve; a symbolic link
out of DIR is refused (`symlink_outside`, the rule `augment run` applies to its input,
`shards.pairs.folder.link_outside`) unless `--follow-symlinks`. `--urls FILE`: one URL per line
(http, https or file); blank lines and lines starting with `#` are skipped, and a file:
URL outside the asset root is refused (`outside_asset_root`). Ids follow
`augment.sources.source_id_for`, so a rendered pair has the id `augment run` gives it; two
inputs with one id are rejected (`duplicate_id`).

The asset root (`guard.py`, what a page's file: requests must stay under) is `--asset-root`
when given, else the `--html` folder, else the `--urls` list's own folder.

Groups (`augment.groups`): a URL's group is its host name (`shop.example.com`; a file: URL
has none). An HTML folder's `groups.json`, when it has one, gives its pages' groups (keys:
file stem or id, checked as `augment run` checks one). The job writes the groups it knows
into `PAIRS/groups.json`; pages with none are grouped at `augment run` by their id.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shards.pairs.folder import link_outside, symlink_outside

from ..groups import GROUPS_NAME, read_groups
from ..sources import source_id_for
from .guard import NOT_A_FILE, AssetRoot

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


def asset_root(html_dir: str | Path | None, urls: str | Path | None, given: str | Path | None,
               follow_symlinks: bool = False, allow_network: bool = False) -> AssetRoot:
    """The asset root of a job (see the module docstring); RenderError when `--asset-root` is no
    folder or does not hold the `--html` folder."""
    if given is not None:
        root = Path(given).resolve()
        if not root.is_dir():
            raise RenderError(f"--asset-root {given}: not a directory")
        if html_dir is not None and not Path(html_dir).resolve().is_relative_to(root):
            raise RenderError(f"--asset-root {given}: does not hold --html {html_dir}, so no page could load; "
                              "give a folder that holds the pages and their assets")
    else:
        root = Path(html_dir if html_dir is not None else Path(urls).parent).resolve()
    return AssetRoot(root, follow_symlinks, allow_network)


def from_html_dir(html_dir: str | Path, follow_symlinks: bool = False) -> tuple[list[RenderInput], list[InputReject]]:
    """The pages of `--html DIR`, sorted by file name."""
    d = Path(html_dir)
    if not d.is_dir():
        raise RenderError(f"--html {d}: not a directory of HTML files")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in (".html", ".htm"))
    if not files:
        raise RenderError(f"--html {d}: no *.html or *.htm files in it")
    table = read_groups(d / GROUPS_NAME) if (d / GROUPS_NAME).is_file() else {}
    folder, items, refused = d.resolve(), [], []
    for p in files:
        sid = source_id_for(p.stem)
        target = None if follow_symlinks else link_outside(p, folder)
        if target is not None:
            why = symlink_outside(p, target)
            refused.append(InputReject(sid, str(p), why.reason, str(why)))
            continue
        # the URL is the file's place in the folder, not its target's: a followed link's page loads from here
        items.append(RenderInput(sid, (folder / p.name).as_uri(), str(p), table.get(p.stem, table.get(sid))))
    kept, dupes = _dedupe(items)
    return kept, refused + dupes


def url_id(url: str) -> str:
    """The id of a URL: host, path and query made key-safe, with a short hash of them all."""
    parts = urlsplit(url)
    stem = (parts.netloc + parts.path).strip("/") + (f"?{parts.query}" if parts.query else "")
    return source_id_for(stem or url)


def from_url_file(url_file: str | Path, allow_network: bool = False,
                  guard: AssetRoot | None = None) -> tuple[list[RenderInput], list[InputReject]]:
    """The pages of `--urls FILE`, in file order; `guard` (default: the list's folder as the asset
    root) says which file: pages may load, and whether http(s) may (its `allow_network` wins)."""
    f = Path(url_file)
    guard = guard or asset_root(None, f, None, allow_network=allow_network)
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
        elif why := guard.refuses(url):
            rejects.append(InputReject(url_id(url), url, why, f"{f}:{n}: {url} " + (
                "is not a regular file" if why == NOT_A_FILE else f"is not under the asset root {guard.root} "
                "(the list's folder unless --asset-root); pass --asset-root DIR to widen it")))
            continue
        items.append(RenderInput(url_id(url), url, url, urlsplit(url).hostname or None))
    if remote and not guard.allow_network:
        raise RenderError(f"--urls {f}: {len(remote)} http(s) URL(s) (line {', '.join(remote[:5])}"
                          f"{'...' if len(remote) > 5 else ''}) but rendering is offline; "
                          "pass --allow-network to fetch them")
    if not items and not rejects:
        raise RenderError(f"--urls {f}: no URLs in it (one per line; # starts a comment)")
    kept, dupes = _dedupe(items)
    return kept, rejects + dupes

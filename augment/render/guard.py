"""What a rendered page may load: the asset root, the one rule every request is checked by.

`augment render` runs pages downloaded from anywhere, and what they show ends up in shards
and published data sets, so the browser must not read a file the user did not hand over.
Chromium itself lets a `file:` page load any `file:` image, stylesheet, font, iframe,
object or embed (measured: `<iframe src="file:///etc/passwd">` put that file into the
screenshot). What it refuses itself are the loads that need the same origin, since each
file: URL is an origin of its own (and --allow-file-access-from-files is never passed):
fetch/XHR, workers, SVG `<use>` and filter references, text tracks, XSLT; those never
reach the router.

Every other request of every frame and pop-up goes through Playwright's context-level
route (measured on Chromium 156: documents, iframes, objects, embeds, images, srcset,
posters, SVG `<image>`/`<feImage>`, CSS `url()` in backgrounds, borders, masks, cursors,
list markers, `content`, `image-set()`, `@import`, fonts, media, module scripts,
modulepreload, prefetch, preload, icons) and is decided here:

- `file:` is allowed only for a path under the asset root (`--asset-root`, default the
  `--html` folder or the `--urls` list's folder), compared after `os.path.realpath`, so a
  symbolic link (an asset, or a folder on the way) that leads out of the root is refused
  too; with `--follow-symlinks` the path as the URL spells it (normalised) may also be under
  the root, so links inside it are followed wherever they point. A `file:` URL with a host
  is refused, and so is anything under the root that is not a regular file or a folder (a
  FIFO would block a browser thread on open() for ever, a device would never end).
- `data:` and `blob:` are the page's own bytes; `http(s)` only with `--allow-network`;
  every other scheme is refused.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

INLINE_SCHEMES = ("data", "blob")
NETWORK_SCHEMES = ("http", "https")

# Why a request was refused (the render record counts file: refusals apart from network ones).
NETWORK, OUTSIDE, NOT_A_FILE = "network", "outside_asset_root", "not_a_file"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class AssetRoot:
    """The folder a page's `file:` requests must stay in, and whether the network is open."""

    root: Path
    follow_symlinks: bool = False
    allow_network: bool = False

    @property
    def real(self) -> str:
        return os.path.realpath(self.root)

    def holds(self, path: str) -> bool:
        """Whether the file `path` (absolute) is under the root by the rule above."""
        if _under(os.path.realpath(path), self.real):
            return True
        if not self.follow_symlinks:
            return False
        written = os.path.normpath(path)
        return _under(written, self.real) or _under(written, os.path.normpath(os.path.abspath(self.root)))

    def refuses(self, url: str) -> str | None:
        """None when `url` may load; else why not (NETWORK, OUTSIDE or NOT_A_FILE)."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in INLINE_SCHEMES:
            return None
        if scheme in NETWORK_SCHEMES:
            return None if self.allow_network else NETWORK
        if scheme != "file":
            return NETWORK  # chrome:, view-source:, filesystem:, ws: ...: nothing a page needs
        if parts.netloc not in ("", "localhost"):
            return OUTSIDE  # file://host/share: another machine's files
        path = url2pathname(parts.path)
        if "\0" in path or not os.path.isabs(path) or not self.holds(path):
            return OUTSIDE
        try:
            mode = os.stat(path).st_mode
        except OSError:
            return None  # not there (or unreadable): the browser's own error, no byte of it read
        return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else NOT_A_FILE

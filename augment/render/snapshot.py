"""Self-contained page snapshots: `<id>.mhtml` beside a rendered pair, to render the page again offline.

`augment render` saves, for every page it writes, an MHTML archive (RFC 2557, the format of
Chromium's "save as single file"): Chromium's own snapshot of the loaded page
(`Page.captureSnapshot` over CDP: the DOM, its stylesheets as the browser holds them, images,
frames) plus the files the page loaded that Chromium leaves out of it (measured: web fonts
of an mkdocs page, `fa-solid-900.woff2`; scripts are not kept, a re-render runs none). Those
are read only where the asset root (`guard.py`) let the page load them, so a snapshot holds
nothing the page itself could not read. `augment run --rerender` (`rerender.py`) serves a
page's edited HTML and every resource from this archive alone.

Chromium's snapshot differs on every call (a random MIME boundary, the date, random frame
Content-IDs), so it is rewritten here in one canonical form: the boundary a hash of the
parts, the render stage's fixed date, frame ids numbered in order, text parts
quoted-printable and the others base64, parts sorted (the document first). The same page
gives the same bytes. The archive also records the window it was rendered in
(`X-S2S-Window`), which a re-render must reuse (`100vh`, the capture height).

Reading (`read_snapshot`) is bounded (`MAX_SNAPSHOT_BYTES`) and every problem is a
`SnapshotError` naming the file, which `augment run` records as a reject (`bad_snapshot`).
"""
from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import mimetypes
import os
import quopri
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urlsplit
from urllib.request import url2pathname

SNAPSHOT_SUFFIX = ".mhtml"
MAX_SNAPSHOT_BYTES = 64_000_000  # a page whose archive is larger is written without one (counted)
MAX_RESOURCE_BYTES = 16_000_000  # one collected file; a larger one is left out (the re-render misses it)
DATE = "Mon, 01 Jan 2024 00:00:00 GMT"  # environment.FIXED_TIME, the render's fixed clock
# What a re-render needs of the files a page loaded: scripts never run there, so they are not kept.
KEPT_TYPES = frozenset({"document", "stylesheet", "image", "font", "media", "texttrack"})
# Chromium's random part ids: frames (`frame-<hex>`) and the stylesheets of its own error pages (`css-<uuid>`)
_PART_ID = re.compile(rb"[a-z]+-[0-9A-Fa-f][0-9A-Fa-f-]{7,}@mhtml\.blink")
_FILE_URL = re.compile(rb"file://[^\s\"'<>()]*")
_WINDOW = re.compile(r"^(\d+)x(\d+); max-height=(\d+)$")
_TEXTUAL = ("text/", "image/svg+xml", "application/xml", "application/xhtml+xml")


class SnapshotError(ValueError):
    """A snapshot that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Snapshot:
    """One archive, read: the page's URL, the window it was rendered in and its resources by URL."""

    path: Path
    url: str
    width: int
    height: int
    max_height: int
    resources: dict[str, tuple[str, bytes]]  # URL without fragment -> (content type, bytes)
    digest: str  # sha256 of the file, first 16 hex digits (recorded with every re-rendered variant)

    def lookup(self, url: str) -> tuple[str, bytes] | None:
        return self.resources.get(urldefrag(url)[0])


def snapshot_path(html: Path) -> Path:
    """Where the snapshot of the pair whose HTML is `html` lies (`<id>.mhtml` beside it)."""
    return html.with_suffix(SNAPSHOT_SUFFIX)


def _parts(message: Any) -> list[tuple[str, str, str | None, bytes]]:
    """(location, content type, content id, decoded bytes) of every leaf part."""
    out = []
    for part in message.walk():
        if part.is_multipart():
            continue
        location = part.get("Content-Location")
        if not location:
            continue
        body = part.get_payload(decode=True) or b""
        cid = (part.get("Content-ID") or "").strip("<> ") or None
        ctype = part.get_content_type()
        charset = part.get_content_charset()
        out.append((str(location), ctype + (f"; charset={charset}" if charset else ""), cid, body))
    return out


def _encode(ctype: str, body: bytes) -> tuple[str, bytes]:
    if ctype.startswith(_TEXTUAL):
        return "quoted-printable", quopri.encodestring(body).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return "base64", base64.encodebytes(body).replace(b"\n", b"\r\n")


def canonical(mhtml: bytes, window: tuple[int, int, int], extra: list[tuple[str, str, bytes]] = ()) -> bytes:
    """Chromium's MHTML `mhtml` in the canonical form above, with `extra` (url, content type,
    bytes) added where the archive has no part for the URL; `window` is (width, height, max height)."""
    message = email.message_from_bytes(mhtml, policy=email.policy.compat32)
    url = message.get("Snapshot-Content-Location")
    if not url or not message.is_multipart():
        raise SnapshotError("the browser's snapshot is not a multipart MHTML archive with a page location")
    parts = _parts(message)
    ids: dict[bytes, bytes] = {}  # random part ids, numbered in the archive's order: frame-0 is the page itself
    # then the ids only a document names: a frame the archive holds no part for (an iframe whose
    # page was refused) still gets a random id in its parent's src (soft-ui's index: 1 page of 565
    # differed between two corpus builds by that id alone), numbered in order of appearance
    named = [f"{cid or ''} {loc}".encode() for loc, _, cid, _ in parts]
    named += [body for _, ctype, _, body in parts if ctype.startswith(_TEXTUAL)]
    for text in named:
        for found in _PART_ID.findall(text):
            kind = found.split(b"-", 1)[0].decode()
            ids.setdefault(found, f"{kind}-{sum(k.startswith(kind.encode()) for k in ids)}@mhtml.blink".encode())
    renamed = lambda b: _PART_ID.sub(lambda m: ids.get(m.group(0), m.group(0)), b)  # noqa: E731
    have = {loc for loc, *_ in parts}
    rows = []
    for loc, ctype, cid, body in parts + [(u, t, None, b) for u, t, b in extra if u not in have]:
        if ctype.startswith(_TEXTUAL):
            body = renamed(body)
        rows.append((renamed(loc.encode()).decode(), ctype, renamed(cid.encode()).decode() if cid else None, body))
    return _write(url, " ".join((message.get("Subject") or "").split()), window, rows)


def _write(url: str, subject: str, window: tuple[int, int, int], parts: list[tuple[str, str, str | None, bytes]]
           ) -> bytes:
    """The archive's bytes: (location, content type, content id, bytes) parts, the document first."""
    rows = sorted(parts, key=lambda r: (r[0] != url, r[0]))
    blob = hashlib.sha256(b"".join(r[3] for r in rows)).hexdigest()
    boundary = f"----MultipartBoundary--s2s{blob[:40]}----"
    head = ["From: <Saved by Blink>", f"Snapshot-Content-Location: {url}", f"Subject: {subject}", f"Date: {DATE}",
            "MIME-Version: 1.0", f"X-S2S-Window: {window[0]}x{window[1]}; max-height={window[2]}",
            f'Content-Type: multipart/related;\r\n\ttype="text/html";\r\n\tboundary="{boundary}"', "", ""]
    out = ["\r\n".join(head).encode()]
    for loc, ctype, cid, body in rows:
        cte, data = _encode(ctype, body)
        if boundary.encode() in data:  # a hash of every part inside one of them: not seen, but never silent
            raise SnapshotError("a part of the snapshot contains its MIME boundary")
        fields = [f"--{boundary}", f"Content-Type: {ctype}"] + ([f"Content-ID: <{cid}>"] if cid else [])
        fields += [f"Content-Transfer-Encoding: {cte}", f"Content-Location: {loc}", "", ""]
        out += ["\r\n".join(fields).encode(), data, b"\r\n"]
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def relocate(mhtml: bytes, old: str, new: str, foreign: str | None = None) -> bytes:
    """A canonical archive with the URL prefix `old` replaced by `new` in every location and
    every textual part (the corpus names a site's folder `corpus://SITE`, not the build path);
    with `foreign`, every other `file:` URL left in a textual part (Chromium writes links
    absolute, `../index.html` too; outside the asset root, nothing was loaded from them) too."""
    message = email.message_from_bytes(mhtml, policy=email.policy.compat32)
    window = _WINDOW.match(message.get("X-S2S-Window") or "")
    if window is None or not message.get("Snapshot-Content-Location"):
        raise SnapshotError("not a snapshot written by `augment render` (no X-S2S-Window or page location)")

    def text(body: bytes) -> bytes:
        body = body.replace(old.encode(), new.encode())
        return body if foreign is None else _FILE_URL.sub(foreign.encode(), body)

    parts = [(loc.replace(old, new), ctype, cid, text(body) if ctype.startswith(_TEXTUAL) else body)
             for loc, ctype, cid, body in _parts(message)]
    return _write(message["Snapshot-Content-Location"].replace(old, new),
                  (message.get("Subject") or "").replace(old, new), tuple(int(v) for v in window.groups()), parts)


def collected_files(loaded: list[tuple[str, str]], guard: Any) -> list[tuple[str, str, bytes]]:
    """(url, content type, bytes) of the file: resources in `loaded` ((url, resource type) the
    router let through) that a re-render needs, each read only where `guard` allows it."""
    out, seen = [], set()
    for url, kind in sorted(set(loaded)):
        url = urldefrag(url)[0]
        if kind not in KEPT_TYPES or url in seen or urlsplit(url).scheme != "file" or guard.refuses(url):
            continue
        seen.add(url)
        path = url2pathname(urlsplit(url).path)
        try:
            if not os.path.isfile(path) or os.path.getsize(path) > MAX_RESOURCE_BYTES:
                continue
            with open(path, "rb") as fh:
                data = fh.read(MAX_RESOURCE_BYTES + 1)
        except OSError:
            continue
        out.append((url, mimetypes.guess_type(path)[0] or "application/octet-stream", data))
    return out


async def capture(page: Any, loaded: list[tuple[str, str]], guard: Any, window: tuple[int, int, int]) -> bytes:
    """The canonical snapshot of `page` (Playwright), with the files Chromium's archive lacks."""
    session = await page.context.new_cdp_session(page)
    try:
        data = (await session.send("Page.captureSnapshot", {"format": "mhtml"}))["data"]
    finally:
        await session.detach()
    return canonical(data.encode("utf-8", "surrogateescape"), window, collected_files(loaded, guard))


def read_snapshot(path: str | Path) -> Snapshot:
    """The snapshot at `path`, checked; SnapshotError names the file and the problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"{path}: {size} bytes, above the limit of {MAX_SNAPSHOT_BYTES}")
        raw = path.read_bytes()
    except OSError as e:
        raise SnapshotError(f"{path}: unreadable ({e.strerror or e})") from None
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        url, window = message.get("Snapshot-Content-Location"), _WINDOW.match(message.get("X-S2S-Window") or "")
        parts = _parts(message) if message.is_multipart() else []
    except Exception as e:  # noqa: BLE001 - the email parser raises many kinds on a mangled file
        raise SnapshotError(f"{path}: not an MHTML archive ({type(e).__name__}: {e})") from None
    defects = sorted({type(d).__name__ for part in message.walk() for d in part.defects})
    problems = [f"damaged ({', '.join(defects)}: cut short or edited?)"] if defects else []
    if not url:
        problems.append("no Snapshot-Content-Location header (not an MHTML archive)")
    if window is None:
        problems.append("no X-S2S-Window header (not written by `augment render`)")
    resources = {urldefrag(loc)[0]: (ctype, body) for loc, ctype, _, body in parts}
    if url and urldefrag(url)[0] not in resources:
        problems.append(f"no part for the page itself ({url})")
    if problems:
        raise SnapshotError(f"{path}: {'; '.join(problems)}; render the page again with `augment render`")
    w, h, m = (int(v) for v in window.groups())
    return Snapshot(path, url, w, h, m, resources, hashlib.sha256(raw).hexdigest()[:16])

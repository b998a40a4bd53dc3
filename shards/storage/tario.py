"""Reading samples out of a tar stream, refusing anything outside the contract.

webdataset's own tar iterator silently skips odd members and regroups by name; a shard is
a contract, so this reader (hand-written: no library checks these) names the shard and the
member for every violation: absolute paths, `..`, links, devices, member names without a
`<key>.<ext>` form, and members of one key that are not contiguous.

Plain members (the only kind `shards.storage.writer` writes) are read directly: `tarfile` parses
each 512-byte header (`TarInfo.frombuf`, the same checks), the data is one read. Going
through `tarfile`'s stream mode for them cost ~1 ms a sample in 10 kB reads and copies
(benchmarks/shard_io). From the first member of any other kind (pax or GNU extended
headers, links, ...) on, the rest of the stream goes through `tarfile`'s stream mode as
before; the two paths accept, refuse and report the same archives alike
(tests/test_hostile.py).
"""
from __future__ import annotations

import tarfile
from typing import IO, Any, Iterator

from ..schema import KEY_RE


class ShardFormatError(ValueError):
    """A shard whose tar layout breaks the contract; the message names shard and member."""


def split_member(name: str) -> tuple[str, str]:
    """`page-1_v03.png` -> (`page-1_v03`, `png`). Keys never contain a dot."""
    key, dot, ext = name.partition(".")
    return key, ext if dot else ""


def check_member(shard: str, ti: tarfile.TarInfo) -> None:
    """Raise ShardFormatError if `ti` is not a plain, relative, well-named file."""
    name = ti.name
    if not ti.isreg():
        kind = "link" if (ti.issym() or ti.islnk()) else "device" if (ti.ischr() or ti.isblk()) else "non-file"
        raise ShardFormatError(f"{shard}: member {name!r} is a {kind}; shards hold regular files only")
    if name.startswith("/") or ".." in name.split("/") or "/" in name:
        raise ShardFormatError(f"{shard}: member {name!r} has a path; members are flat '<key>.<ext>' names")
    key, ext = split_member(name)
    if not ext or not KEY_RE.match(key):
        raise ShardFormatError(f"{shard}: member {name!r} is not '<id>_v<NN>.<ext>'")


_PLAIN = (tarfile.REGTYPE, tarfile.AREGTYPE)
_CHUNK = 1 << 24  # data is read in pieces of at most this: a hostile size field allocates nothing


class _TailReader:
    """Remembers the last bytes read, so the end-of-archive block can be checked.

    tarfile's stream mode treats a header cut short as a normal end of archive, so a
    shard truncated at a header boundary would read as shorter but "valid". The tail is
    kept as the last chunks read, joined only when asked (re-slicing one buffer on every
    10 kB read copied ~90 kB a read).
    """

    KEEP = 4 * tarfile.RECORDSIZE

    def __init__(self, fh: IO[bytes]):
        self.fh, self.total = fh, 0
        self.chunks: list[bytes] = []
        self.kept = 0  # bytes in self.chunks

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.total += len(data)
        if data:
            self.chunks.append(data)
            self.kept += len(data)
            while self.kept - len(self.chunks[0]) >= self.KEEP:  # the rest still holds KEEP bytes
                self.kept -= len(self.chunks.pop(0))
        return data

    def block_at(self, offset: int) -> bytes:
        tail = b"".join(self.chunks)[-self.KEEP:]
        start = offset - (self.total - len(tail))
        return tail[start:start + tarfile.BLOCKSIZE] if start >= 0 else b""


class _Prefixed:
    """`prefix` (bytes already read), then the rest of `fh`: hands a stream to tarfile mid-way."""

    def __init__(self, prefix: bytes, fh: IO[bytes]):
        self.prefix, self.fh = prefix, fh

    def read(self, n: int = -1) -> bytes:
        if not self.prefix:
            return self.fh.read(n)
        if n is None or n < 0:
            out, self.prefix = self.prefix + self.fh.read(), b""
        else:
            out, self.prefix = self.prefix[:n], self.prefix[n:]
        return out


def _read(fh: IO[bytes], n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end of the stream), in pieces of at most _CHUNK."""
    parts, left = [], n
    while left > 0:
        part = fh.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _no_end(shard: str, offset: int) -> ShardFormatError:
    return ShardFormatError(f"{shard}: unreadable tar (no end-of-archive block at byte {offset}: truncated)")


def _check_end(shard: str, reader: _TailReader, end_offset: int, base: int = 0) -> None:
    block = reader.block_at(end_offset)
    if len(block) != tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
        raise _no_end(shard, base + end_offset)


class _Grouping:
    """Members -> samples: one key's members must be contiguous, each extension once."""

    def __init__(self, shard: str):
        self.shard, self.done, self.key = shard, set(), None
        self.members: dict[str, bytes] = {}

    def add(self, ti: tarfile.TarInfo, read: Any) -> Iterator[tuple[str, dict[str, bytes]]]:
        """Check `ti`, yield the sample it ends (if any), then store its data from `read()`."""
        check_member(self.shard, ti)
        k, ext = split_member(ti.name)
        if k != self.key:
            if self.key is not None:
                self.done.add(self.key)
                yield self.key, self.members
            if k in self.done:
                raise ShardFormatError(f"{self.shard}: members of key {k!r} are not grouped together")
            self.key, self.members = k, {}
        if ext in self.members:
            raise ShardFormatError(f"{self.shard}: member {ti.name!r} appears twice")
        data = read()
        if len(data) != ti.size:
            raise ShardFormatError(f"{self.shard}: unreadable tar (member {ti.name!r} truncated: "
                                   f"{len(data)} of {ti.size} bytes)")
        self.members[ext] = data


def _plain_members(fh: IO[bytes], group: _Grouping) -> Iterator[Any]:
    """Read plain members straight from `fh`, as `tarfile.TarFile.next` would (its errors and
    its end of archive); on the first header of another kind, stop and return (header, offset)
    for `tarfile` to go on from there (None: the archive ended)."""
    offset = 0
    while True:
        header = _read(fh, tarfile.BLOCKSIZE)
        try:
            ti = tarfile.TarInfo.frombuf(header, tarfile.ENCODING, "surrogateescape")
        except tarfile.EOFHeaderError:
            return None  # a zero block: the end, and the end check passes on it
        except tarfile.EmptyHeaderError:
            if offset == 0:
                raise tarfile.ReadError("empty file") from None
            raise _no_end(group.shard, offset) from None
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as e:
            if offset == 0:
                raise tarfile.ReadError(str(e)) from None
            raise _no_end(group.shard, offset) from None  # tarfile ends here; no end block follows
        if ti.type not in _PLAIN:
            return header, offset
        yield from group.add(ti, lambda size=ti.size: _data(fh, size))
        offset += tarfile.BLOCKSIZE + -(-ti.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE


def _data(fh: IO[bytes], size: int) -> bytes:
    """A member's data and its padding to a whole block (short: the archive was cut)."""
    data = _read(fh, size)
    pad = -size % tarfile.BLOCKSIZE
    if len(data) != size or (pad and len(_read(fh, pad)) != pad):
        raise tarfile.ReadError("unexpected end of data")
    return data


def _tarfile_members(stream: Any, base: int, group: _Grouping) -> Iterator[tuple[str, dict[str, bytes]]]:
    """The rest of the archive through `tarfile`'s stream mode (`base`: its offset in the shard)."""
    reader = _TailReader(stream)
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for ti in tar:
            def read(ti: tarfile.TarInfo = ti) -> bytes:
                fh = tar.extractfile(ti)
                return fh.read() if fh is not None else b""
            yield from group.add(ti, read)
        _check_end(group.shard, reader, tar.offset, base)


def iter_tar_samples(fileobj: IO[bytes], shard: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield (key, {ext: bytes}) per sample, in tar order, checking every member."""
    group = _Grouping(shard)
    try:
        rest = yield from _plain_members(fileobj, group)
        if rest is not None:
            header, offset = rest
            yield from _tarfile_members(_Prefixed(header, fileobj), offset, group)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ShardFormatError(f"{shard}: unreadable tar ({e})") from e
    if group.key is not None:
        yield group.key, group.members

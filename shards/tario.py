"""Reading samples out of a tar stream, refusing anything outside the contract.

webdataset's own tar iterator silently skips odd members and regroups by name; a shard is
a contract, so this reader (hand-written: no library checks these) names the shard and the
member for every violation: absolute paths, `..`, links, devices, member names without a
`<key>.<ext>` form, and members of one key that are not contiguous.
"""
from __future__ import annotations

import tarfile
from typing import IO, Iterator

from .schema import KEY_RE


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


class _TailReader:
    """Remembers the last bytes read, so the end-of-archive block can be checked.

    tarfile's stream mode treats a header cut short as a normal end of archive, so a
    shard truncated at a header boundary would read as shorter but "valid".
    """

    KEEP = 4 * tarfile.RECORDSIZE

    def __init__(self, fh: IO[bytes]):
        self.fh, self.total, self.tail = fh, 0, b""

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.total += len(data)
        self.tail = (self.tail + data)[-self.KEEP:]
        return data

    def block_at(self, offset: int) -> bytes:
        start = offset - (self.total - len(self.tail))
        return self.tail[start:start + tarfile.BLOCKSIZE] if start >= 0 else b""


def _check_end(shard: str, reader: _TailReader, end_offset: int) -> None:
    block = reader.block_at(end_offset)
    if len(block) != tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
        raise ShardFormatError(f"{shard}: unreadable tar (no end-of-archive block at byte {end_offset}: truncated)")


def iter_tar_samples(fileobj: IO[bytes], shard: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Yield (key, {ext: bytes}) per sample, in tar order, checking every member."""
    done: set[str] = set()
    key: str | None = None
    members: dict[str, bytes] = {}
    reader = _TailReader(fileobj)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for ti in tar:
                check_member(shard, ti)
                k, ext = split_member(ti.name)
                if k != key:
                    if key is not None:
                        done.add(key)
                        yield key, members
                    if k in done:
                        raise ShardFormatError(f"{shard}: members of key {k!r} are not grouped together")
                    key, members = k, {}
                if ext in members:
                    raise ShardFormatError(f"{shard}: member {ti.name!r} appears twice")
                fh = tar.extractfile(ti)
                data = fh.read() if fh is not None else b""
                if len(data) != ti.size:
                    raise ShardFormatError(f"{shard}: unreadable tar (member {ti.name!r} truncated: "
                                           f"{len(data)} of {ti.size} bytes)")
                members[ext] = data
            _check_end(shard, reader, tar.offset)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ShardFormatError(f"{shard}: unreadable tar ({e})") from e
    if key is not None:
        yield key, members
